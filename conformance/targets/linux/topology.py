"""The lab: a router namespace and a tester namespace joined by veth pairs.

Port i is the pair ``r{i}`` (router end, addresses from ``port_plan()``) / ``t{i}`` (tester end, no
IPv4 address, IPv6 disabled, so the tester never speaks on its own). MACs are fixed and locally
administered (``02:6d:72:00:<i>:01`` router, ``...:10`` tester) so captured frames are reproducible.
The router gets permanent neighbour entries for the peers, so unicast to them needs no ARP/ND.
"""

from __future__ import annotations

import fcntl
import ipaddress
import select
import socket
import struct
import time
from dataclasses import dataclass

import conformance.targets.linux.netns as netns
from conformance.targets.base import Port, port_plan
from conformance.targets.linux.errors import TargetUnavailable
from conformance.targets.linux.netns import NetNamespace

ROUTER_SYSCTLS_GLOBAL = {
    "net.ipv4.conf.all.rp_filter": 0,  # effective rp_filter is max(all, dev): both must be 0
    "net.ipv4.conf.default.rp_filter": 0,
    "net.ipv6.conf.all.accept_dad": 0,
    "net.ipv6.conf.default.accept_dad": 0,
    "net.ipv6.conf.default.router_solicitations": 0,
    "net.ipv6.conf.default.accept_ra": 0,
}
# Router ends get ifindexes unlike their tester peers': the kernel's linkwatch treats a carrier
# change as urgent only when ifindex != iflink, otherwise operstate lags ~1 s behind "link up".
ROUTER_IFINDEX_BASE = 10
SIOCGIFFLAGS = 0x8913
IFF_RUNNING = 0x40
RTMGRP_LINK = 0x1
LINK_UP_TIMEOUT = 5.0
TESTER_SYSCTLS_GLOBAL = {
    "net.ipv6.conf.all.disable_ipv6": 1,
    "net.ipv6.conf.default.disable_ipv6": 1,
}


def router_mac(i: int) -> str:
    """MAC of router end r{i}."""
    return f"02:6d:72:00:{i:02x}:01"


def tester_mac(i: int) -> str:
    """MAC of tester end t{i}."""
    return f"02:6d:72:00:{i:02x}:10"


def _router_port_sysctls(dev: str) -> dict[str, object]:
    return {
        f"net.ipv4.conf.{dev}.rp_filter": 0,
        f"net.ipv6.conf.{dev}.accept_dad": 0,
        f"net.ipv6.conf.{dev}.router_solicitations": 0,
        f"net.ipv6.conf.{dev}.accept_ra": 0,
    }


@dataclass
class Topology:
    """A built lab: both namespaces, the ports, and how long building took."""

    run_id: str
    router: NetNamespace
    tester: NetNamespace
    ports: list[Port]
    setup_s: float

    @property
    def tester_ifnames(self) -> list[str]:
        """Tester-side interface name of each port, by port index."""
        return [f"t{p.index}" for p in self.ports]

    @classmethod
    def build(cls, n_ports: int = 4) -> Topology:
        """Create namespaces, veths, addresses and sysctls; on any failure nothing is left behind."""
        if not 1 <= n_ports <= 32:
            raise ValueError(f"n_ports must be 1..32, not {n_ports}")
        started = time.monotonic()
        run_id = netns.new_run_id()
        names = [f"{run_id}-r", f"{run_id}-t"]
        try:
            router, tester = netns.create(names)
        except (OSError, RuntimeError) as e:
            raise TargetUnavailable(f"cannot create network namespaces: {e}") from e
        try:
            ports = _wire_up(router, tester, n_ports)
        except BaseException:
            router.close()
            tester.close()
            netns.delete(names)
            raise
        return cls(run_id, router, tester, ports, time.monotonic() - started)

    @property
    def namespace_names(self) -> list[str]:
        """Names of the router and tester namespaces."""
        return [self.router.name, self.tester.name]

    def destroy(self) -> None:
        """Delete both namespaces (the veths go with them). Idempotent."""
        self.router.close()
        self.tester.close()
        netns.delete(self.namespace_names)


def _veth_line(tester: NetNamespace, i: int) -> str:
    """The `ip -batch` line creating port i's veth pair (router end r{i} with a fixed ifindex)."""
    return (f"link add name r{i} index {ROUTER_IFINDEX_BASE + i} address {router_mac(i)}"
            f" type veth peer name t{i} address {tester_mac(i)} netns {tester.name}\n")


def _router_port_lines(i: int, a: dict) -> list[str]:
    """Port i's router-end addresses, link up and permanent neighbours, as `ip -batch` lines."""
    return [
        f"addr add {a['ipv4']}/24 dev r{i}",
        f"addr add {a['ipv6']}/64 dev r{i} nodad",
        f"link set r{i} up",
        f"neigh replace {a['peer_ipv4']} lladdr {tester_mac(i)} dev r{i} nud permanent",
        f"neigh replace {a['peer_ipv6']} lladdr {tester_mac(i)} dev r{i} nud permanent",
    ]


def _wire_up(router: NetNamespace, tester: NetNamespace, n: int) -> list[Port]:
    plan = port_plan(n)
    # defaults first, so interfaces are born quiet (tester: no IPv6 at all; router: no DAD/RS)
    router.sysctls(ROUTER_SYSCTLS_GLOBAL)
    tester.sysctls(TESTER_SYSCTLS_GLOBAL)
    try:
        netns.run_ip(["-n", router.name, "-batch", "-"],
                     stdin="".join(_veth_line(tester, i) for i in range(n)))
    except RuntimeError as e:
        raise TargetUnavailable(f"cannot create veth pairs (CONFIG_VETH?): {e}") from e
    sysctls: dict[str, object] = {}
    for i in range(n):
        sysctls.update(_router_port_sysctls(f"r{i}"))
    router.sysctls(sysctls)  # rp_filter=0 per device BEFORE any traffic
    lines = ["link set lo up"]
    for i, a in enumerate(plan):
        lines += _router_port_lines(i, a)
    netns.run_ip(["-n", router.name, "-batch", "-"], stdin="\n".join(lines) + "\n")
    netns.run_ip(
        ["-n", tester.name, "-batch", "-"],
        stdin="link set lo up\n" + "".join(f"link set t{i} up\n" for i in range(n)),
    )
    await_running(router, [f"r{i}" for i in range(n)])
    await_running(tester, [f"t{i}" for i in range(n)])
    with router.entered():
        ifindex = [socket.if_nametoindex(f"r{i}") for i in range(n)]
    return [
        Port(
            index=i,
            name=f"r{i}",
            ifindex=ifindex[i],
            mac=router_mac(i),
            ipv4=a["ipv4"],
            ipv6=_canonical6(a["ipv6"]),
            peer_ipv4=a["peer_ipv4"],
            peer_ipv6=_canonical6(a["peer_ipv6"]),
            peer_mac=tester_mac(i),
        )
        for i, a in enumerate(plan)
    ]


def remove_port(router: NetNamespace, i: int) -> None:
    """Delete port i's veth pair (both ends go): the router sees NETDEV_UNREGISTER for r{i}."""
    netns.run_ip(["-n", router.name, "link", "del", f"r{i}"])


def restore_port(router: NetNamespace, tester: NetNamespace, port: Port) -> None:
    """Create port ``port.index``'s veth pair again exactly as ``_wire_up`` did (same ifindex, MACs,
    addresses, sysctls, neighbours) and wait until both ends run."""
    i = port.index
    netns.run_ip(["-n", router.name, "-batch", "-"], stdin=_veth_line(tester, i))
    router.sysctls(_router_port_sysctls(f"r{i}"))
    netns.run_ip(["-n", router.name, "-batch", "-"],
                 stdin="\n".join(_router_port_lines(i, port_plan(i + 1)[i])) + "\n")
    netns.run_ip(["-n", tester.name, "link", "set", f"t{i}", "up"])
    await_running(router, [f"r{i}"])
    await_running(tester, [f"t{i}"])
    with router.entered():
        if socket.if_nametoindex(f"r{i}") != port.ifindex:
            raise RuntimeError(f"port {i} came back with another ifindex")


def _canonical6(addr: str) -> str:
    """RFC 5952 text (``2001:db8::1``, not ``2001:db8:0::1``), as decoders and the kernel print it."""
    return str(ipaddress.IPv6Address(addr))


def _not_running(ctl: socket.socket, ifnames: list[str]) -> list[str]:
    down = []
    for name in ifnames:
        ifr = fcntl.ioctl(ctl.fileno(), SIOCGIFFLAGS, struct.pack("16sH22x", name.encode(), 0))
        if not struct.unpack_from("H", ifr, 16)[0] & IFF_RUNNING:
            down.append(name)
    return down


def await_running(ns: NetNamespace, ifnames: list[str], timeout: float = LINK_UP_TIMEOUT) -> None:
    """Wait (on rtnetlink link events) until every interface is IFF_RUNNING.

    Carrier-on is processed by the kernel's linkwatch worker after ``link set up`` returns; until
    then the device still has the noop qdisc and silently drops every frame sent on it.
    """
    with ns.entered():
        events = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with events, ctl:
        events.bind((0, RTMGRP_LINK))  # subscribe first, then look: no event can slip between
        events.setblocking(False)
        deadline = time.monotonic() + timeout
        while down := _not_running(ctl, ifnames):
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"links not running after {timeout} s in {ns.name}: {down}")
            if select.select([events], [], [], left)[0]:
                while True:
                    try:
                        events.recv(65536)
                    except BlockingIOError:
                        break
