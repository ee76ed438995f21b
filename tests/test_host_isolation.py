"""The Linux target never changes the host's network: links, addresses, routes, mroute tables, sysctls.

The host is snapshotted before a target exists, while it runs a multicast workload (IPv4 and
IPv6 mrouters, vifs, MFCs, forwarded traffic) and after shutdown; all three must match once
volatile fields (address lifetimes, route expiry timers, counters) are normalised away.
"""

from __future__ import annotations

import glob
import re
import socket
import struct
import subprocess

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from conformance.targets.linux import LinuxTarget, netns
from reference_impl.profiles import LINUX

SYSCTL_GLOBS = (
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/ipv4/conf/*/mc_forwarding",
    "/proc/sys/net/ipv4/conf/*/rp_filter",
    "/proc/sys/net/ipv4/conf/*/forwarding",
    "/proc/sys/net/ipv6/conf/*/mc_forwarding",
    "/proc/sys/net/ipv6/conf/*/forwarding",
    "/proc/sys/net/ipv6/conf/*/disable_ipv6",
    "/proc/sys/net/ipv6/conf/*/accept_dad",
    "/proc/sys/net/ipv6/conf/*/router_solicitations",
    "/proc/sys/net/ipv6/conf/*/accept_ra",
)
# /proc tables: keep only the identifying columns (counters move with the host's own traffic)
MROUTE_TABLES = {
    "/proc/net/ip_mr_vif": (0, 1, 6, 7, 8),  # Vif Interface ... Flags Local Remote
    "/proc/net/ip_mr_cache": (0, 1, 2, 6),  # Group Origin Iif ... Oifs
    "/proc/net/ip6_mr_vif": (0, 1, 6),
    "/proc/net/ip6_mr_cache": (0, 1, 2, 6),
}
VOLATILE = [
    (re.compile(r"valid_lft \S+ preferred_lft \S+"), "lft"),
    (re.compile(r"expires \S+"), "expires"),
]


def _run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def _normalise(text: str) -> str:
    for pattern, repl in VOLATILE:
        text = pattern.sub(repl, text)
    return text


def _table(path: str, keep: tuple[int, ...]) -> list[str]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return ["<absent>"]
    return [" ".join(c for i, c in enumerate(line.split()) if i in keep) for line in lines]


def host_snapshot() -> dict[str, object]:
    """Everything of the host's network state a multicast router could plausibly touch."""
    snap: dict[str, object] = {
        "ip -d link": _normalise(_run("ip", "-d", "link")),
        "ip addr": _normalise(_run("ip", "addr")),
        "ip route": _normalise(_run("ip", "route")),
        "ip -6 route": _normalise(_run("ip", "-6", "route")),
        "ip -4 route table all": _normalise(_run("ip", "-4", "route", "show", "table", "all")),
        "ip mroute": _run("ip", "mroute", "show", "table", "all"),
        "ip mrule": _run("ip", "mrule"),
    }
    for path, keep in MROUTE_TABLES.items():
        snap[path] = _table(path, keep)
    for pattern in SYSCTL_GLOBS:
        for path in sorted(glob.glob(pattern)):
            with open(path) as f:
                snap[path] = f.read().strip()
    return snap


def diff(before: dict[str, object], after: dict[str, object]) -> dict[str, tuple[object, object]]:
    return {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def multicast_workload(target: LinuxTarget) -> None:
    """IPv4 and IPv6 mrouters with vifs/mifs and MFCs, forwarded traffic, static entries, reset."""
    o4, o6 = LINUX.options4, LINUX.options6
    m4 = target.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    target.setsockopt(m4, socket.IPPROTO_IP, o4["MRT_INIT"], struct.pack("=i", 1))
    target.setsockopt(m4, socket.IPPROTO_IP, o4["MRT_PIM"], struct.pack("=i", 1))
    for i, p in enumerate(target.ports):
        target.setsockopt(m4, socket.IPPROTO_IP, o4["MRT_ADD_VIF"], LINUX.struct("vifctl").pack(
            vifc_vifi=i, vifc_threshold=1, vifc_lcl_addr=p.ipv4))
    target.setsockopt(m4, socket.IPPROTO_IP, o4["MRT_ADD_VIF"], LINUX.struct("vifctl").pack(
        vifc_vifi=len(target.ports), vifc_flags=0x4))  # VIFF_REGISTER: creates pimreg
    src = target.ports[0].peer_ipv4
    target.setsockopt(m4, socket.IPPROTO_IP, o4["MRT_ADD_MFC"], LINUX.struct("mfcctl").pack(
        mfcc_origin=src, mfcc_mcastgrp="232.1.1.1", mfcc_parent=0, mfcc_ttls=[0, 1, 1, 1]))
    m6 = target.open_socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    target.setsockopt(m6, socket.IPPROTO_IPV6, o6["MRT6_INIT"], struct.pack("=i", 1))
    for i, p in enumerate(target.ports):
        target.setsockopt(m6, socket.IPPROTO_IPV6, o6["MRT6_ADD_MIF"], LINUX.struct("mif6ctl").pack(
            mif6c_mifi=i, mif6c_pifi=p.ifindex))
    static = target.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    target.setsockopt(static, socket.IPPROTO_IP, o4["MRT_ADD_MFC"], LINUX.struct("mfcctl").pack(
        mfcc_origin=src, mfcc_mcastgrp="232.1.1.2", mfcc_parent=0, mfcc_ttls=[0, 1]))
    p0 = target.ports[0]
    frame = bytes(Ether(dst="01:00:5e:01:01:01", src=p0.peer_mac)
                  / IP(src=src, dst="232.1.1.1", ttl=5) / UDP() / Raw(b"isolation"))
    for _ in range(10):
        target.send(0, frame)
    forwarded = target.collect()
    assert [len(forwarded[i]) for i in range(1, 4)] == [10, 10, 10]


def test_a_linux_target_leaves_the_host_untouched(host_mroute: None) -> None:
    before = host_snapshot()
    target = LinuxTarget()
    try:
        multicast_workload(target)
        during = host_snapshot()
        target.reset()
        multicast_workload(target)
        names = target.namespaces
        assert set(names) <= set(netns.list_ours())
    finally:
        target.shutdown()
    after = host_snapshot()
    assert diff(before, during) == {}, "host changed while the target ran"
    assert diff(before, after) == {}, "host changed after shutdown"
    assert not set(names) & set(netns.list_ours()), "namespaces left behind"
