"""The Linux target against the real kernel: topology, raw-byte sockets, wires, reset.

Needs root and CONFIG_IP_MROUTE; otherwise every kernel test skips with the target's reason.
One target serves the whole module (building one costs ~10-50 ms, a reset well under 1 ms).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import subprocess
import time

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw

from conformance.targets.base import port_plan
from conformance.targets.linux import LinuxTarget, TargetUnavailable
from conformance.targets.linux import target as target_module
from conformance.targets.linux.wire import is_test_frame
from reference_impl.profiles import LINUX

O4, O6 = LINUX.options4, LINUX.options6
IP4, IP6 = socket.IPPROTO_IP, socket.IPPROTO_IPV6
G4, G6 = "232.1.1.1", "ff3e::8000:1"
MARKER = b"marker"


@pytest.fixture
def lt(linux_target: LinuxTarget) -> LinuxTarget:
    """The module's target, reset to a pristine router before the test."""
    linux_target.reset()
    return linux_target


# -- helpers ----------------------------------------------------------------------------------
def int32(v: int) -> bytes:
    return struct.pack("=i", v)


def group_mac(group: str) -> str:
    """The Ethernet multicast MAC a group maps to (RFC 1112 / RFC 2464)."""
    packed = ipaddress.ip_address(group).packed
    if len(packed) == 4:
        return f"01:00:5e:{packed[1] & 0x7F:02x}:{packed[2]:02x}:{packed[3]:02x}"
    return "33:33:" + ":".join(f"{b:02x}" for b in packed[12:])


def udp4(lt: LinuxTarget, port: int, group: str = G4, ttl: int = 5, src: str | None = None) -> bytes:
    p = lt.ports[port]
    return bytes(Ether(dst=group_mac(group), src=p.peer_mac)
                 / IP(src=src or p.peer_ipv4, dst=group, ttl=ttl) / UDP() / Raw(MARKER))


def udp6(lt: LinuxTarget, port: int, group: str = G6, hlim: int = 5) -> bytes:
    p = lt.ports[port]
    return bytes(Ether(dst=group_mac(group), src=p.peer_mac)
                 / IPv6(src=p.peer_ipv6, dst=group, hlim=hlim) / UDP() / Raw(MARKER))


def mrouter4(lt: LinuxTarget, nvifs: int = 3):
    """A raw IGMP socket that did MRT_INIT and added vifs 0..nvifs-1 on ports 0..nvifs-1."""
    s = lt.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    lt.setsockopt(s, IP4, O4["MRT_INIT"], int32(1))
    for i in range(nvifs):
        lt.setsockopt(s, IP4, O4["MRT_ADD_VIF"], LINUX.struct("vifctl").pack(
            vifc_vifi=i, vifc_threshold=1, vifc_lcl_addr=lt.ports[i].ipv4))
    return s


def mrouter6(lt: LinuxTarget, nmifs: int = 3):
    """A raw ICMPv6 socket, ICMPv6 blocked, MRT6_INIT done, mifs 0..nmifs-1 on ports 0..nmifs-1."""
    s = lt.open_socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    lt.setsockopt(s, socket.IPPROTO_ICMPV6, 1, b"\xff" * 32)  # ICMP6_FILTER: block all (Linux bits)
    lt.setsockopt(s, IP6, O6["MRT6_INIT"], int32(1))
    for i in range(nmifs):
        lt.setsockopt(s, IP6, O6["MRT6_ADD_MIF"], LINUX.struct("mif6ctl").pack(
            mif6c_mifi=i, vifc_threshold=1, mif6c_pifi=lt.ports[i].ifindex))
    return s


def decoded(frames: list[bytes]) -> list[Packet]:
    return [Ether(f) for f in frames]


def in_ns(ns: str, *cmd: str) -> str:
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          check=True).stdout


# -- topology ---------------------------------------------------------------------------------
def test_ports_follow_the_port_plan(lt: LinuxTarget) -> None:
    plan = port_plan(4)
    assert [p.index for p in lt.ports] == [0, 1, 2, 3]
    for p, a in zip(lt.ports, plan, strict=True):
        assert p.name == f"r{p.index}"
        assert p.ipv4 == a["ipv4"] and p.peer_ipv4 == a["peer_ipv4"]
        assert ipaddress.ip_address(p.ipv6) == ipaddress.ip_address(a["ipv6"])
        assert ipaddress.ip_address(p.peer_ipv6) == ipaddress.ip_address(a["peer_ipv6"])
        assert p.ifindex > 0 and p.mac != p.peer_mac
    assert len({p.ifindex for p in lt.ports}) == 4


def test_router_and_tester_are_configured_quietly(lt: LinuxTarget) -> None:
    router, tester = lt.namespaces
    links = in_ns(router, "ip", "-br", "addr")
    for p in lt.ports:
        assert f"{p.ipv4}/24" in links and f"{p.ipv6}/64" in links
        assert in_ns(router, "cat", f"/proc/sys/net/ipv4/conf/{p.name}/rp_filter").strip() == "0"
        assert in_ns(tester, "cat", f"/proc/sys/net/ipv6/conf/t{p.index}/disable_ipv6").strip() == "1"
        assert in_ns(tester, "ip", "-4", "-br", "addr", "show", "dev", f"t{p.index}").strip() == ""
    for conf in ("all", "default"):
        assert in_ns(router, "cat", f"/proc/sys/net/ipv4/conf/{conf}/rp_filter").strip() == "0"


def test_info_names_the_kernel(lt: LinuxTarget) -> None:
    info = lt.info()
    assert (info.name, info.profile) == ("linux", "linux")
    assert info.details["kernel"] == os.uname().release
    assert info.details["ports"] == 4
    assert info.details["namespaces"] == lt.namespaces
    assert lt.virtual_time is False


# -- IPv4 and IPv6 minimal data paths -------------------------------------------------------
def test_ipv4_nocache_upcall_then_mfc_releases_the_packet(lt: LinuxTarget) -> None:
    s = mrouter4(lt)
    p0 = lt.ports[0]
    lt.send(0, udp4(lt, 0))
    upcalls = lt.recv_all(s)
    assert len(upcalls) == 1
    msg = LINUX.struct("igmpmsg").unpack(upcalls[0])
    assert (msg["im_msgtype"], msg["im_mbz"], msg["im_vif"]) == (1, 0, 0)  # IGMPMSG_NOCACHE
    assert (msg["im_src"], msg["im_dst"]) == (p0.peer_ipv4, G4)
    assert lt.collect() == {0: [], 1: [], 2: [], 3: []}  # unresolved: queued, not forwarded

    lt.setsockopt(s, IP4, O4["MRT_ADD_MFC"], LINUX.struct("mfcctl").pack(
        mfcc_origin=p0.peer_ipv4, mfcc_mcastgrp=G4, mfcc_parent=0, mfcc_ttls=[0, 1]))
    out = lt.collect()
    assert out[0] == [] and out[2] == [] and out[3] == []
    [fwd] = decoded(out[1])
    assert fwd[IP].ttl == 4 and fwd[IP].dst == G4 and fwd[IP].src == p0.peer_ipv4
    assert fwd[Ether].src == lt.ports[1].mac and fwd[Ether].dst == group_mac(G4)
    assert fwd[Raw].load == MARKER

    lt.reset()
    state = lt.router_state()
    assert state["ip_mr_vif"] == [] and state["ip_mr_cache"] == []
    assert state["ipv4.all.mc_forwarding"] == ["0"]


def test_ipv6_nocache_upcall_then_mfc_releases_the_packet(lt: LinuxTarget) -> None:
    s = mrouter6(lt)
    p0 = lt.ports[0]
    lt.send(0, udp6(lt, 0))
    upcalls = lt.recv_all(s)
    assert len(upcalls) == 1
    msg = LINUX.struct("mrt6msg").unpack(upcalls[0][:40])  # bytes 40.. are uninitialised kernel memory
    assert (msg["im6_mbz"], msg["im6_msgtype"], msg["im6_mif"]) == (0, 1, 0)  # MRT6MSG_NOCACHE
    assert (msg["im6_src"], msg["im6_dst"]) == (p0.peer_ipv6, G6)

    lt.setsockopt(s, IP6, O6["MRT6_ADD_MFC"], LINUX.struct("mf6cctl").pack(
        mf6cc_origin=p0.peer_ipv6, mf6cc_mcastgrp=G6, mf6cc_parent=0, mf6cc_ifset={1}))
    out = lt.collect()
    assert out[0] == [] and out[2] == []
    [fwd] = decoded(out[1])
    assert fwd[IPv6].hlim == 4 and fwd[IPv6].dst == G6 and fwd[Raw].load == MARKER

    lt.reset()
    state = lt.router_state()
    assert state["ip6_mr_vif"] == [] and state["ip6_mr_cache"] == []


def test_forwarding_follows_the_mfc_for_later_packets(lt: LinuxTarget) -> None:
    s = mrouter4(lt)
    p0 = lt.ports[0]
    lt.setsockopt(s, IP4, O4["MRT_ADD_MFC"], LINUX.struct("mfcctl").pack(
        mfcc_origin=p0.peer_ipv4, mfcc_mcastgrp=G4, mfcc_parent=0, mfcc_ttls=[0, 1, 3]))
    for ttl in (2, 4):
        lt.send(0, udp4(lt, 0, ttl=ttl))
    out = lt.collect()
    assert [f[IP].ttl for f in decoded(out[1])] == [1, 3]
    assert [f[IP].ttl for f in decoded(out[2])] == [3]
    assert lt.recv_all(s) == []
    req = lt.ioctl(s, LINUX.ioctls["SIOCGETSGCNT"], LINUX.struct("sioc_sg_req").pack(src=p0.peer_ipv4, grp=G4))
    assert LINUX.struct("sioc_sg_req").unpack(req)["pktcnt"] == 2


# -- raw-byte socket semantics ----------------------------------------------------------------
def test_kernel_errors_surface_as_oserror_with_errno(lt: LinuxTarget) -> None:
    udp = lt.open_socket(socket.AF_INET, socket.SOCK_DGRAM, 0)
    with pytest.raises(OSError) as e:
        lt.setsockopt(udp, IP4, O4["MRT_INIT"], int32(1))
    assert e.value.errno == errno.EOPNOTSUPP
    s = lt.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    with pytest.raises(OSError) as e:  # optlen is passed exactly: 2 bytes is not an int
        lt.setsockopt(s, IP4, O4["MRT_INIT"], struct.pack("=h", 1))
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        lt.getsockopt(s, IP4, 109, 4)  # FreeBSD's MRT_API_SUPPORT
    assert e.value.errno == errno.ENOPROTOOPT
    with pytest.raises(OSError) as e:
        lt.ioctl(s, LINUX.ioctls["SIOCGETVIFCNT"], LINUX.struct("sioc_vif_req").pack(vifi=0))
    assert e.value.errno == errno.EINVAL
    lt.close(s)
    with pytest.raises(OSError) as e:
        lt.close(s)
    assert e.value.errno == errno.EBADF


def test_getsockopt_returns_what_the_kernel_filled(lt: LinuxTarget) -> None:
    s = lt.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    assert lt.getsockopt(s, IP4, O4["MRT_VERSION"], 4) == struct.pack("=i", 0x0305)
    assert lt.getsockopt(s, IP4, O4["MRT_VERSION"], 2) == bytes.fromhex("0503")
    assert lt.setsockopt(s, IP4, O4["MRT_ASSERT"], int32(1)) == int32(1)


def test_recv_all_returns_at_once_when_nothing_is_in_flight(lt: LinuxTarget) -> None:
    s = mrouter4(lt, 1)
    lt.advance(lt.recv_first)
    started = time.monotonic()
    assert lt.recv_all(s) == []
    assert time.monotonic() - started < 0.01
    lt.send(0, udp4(lt, 0, group="232.1.1.9"))
    started = time.monotonic()
    assert len(lt.recv_all(s)) == 1
    assert time.monotonic() - started < lt.recv_first + 0.05


# -- wires --------------------------------------------------------------------------------------
def test_collect_never_reports_our_own_injections(lt: LinuxTarget) -> None:
    lt.send(0, udp4(lt, 0))  # no mrouter: the router drops it
    lt.send(1, udp6(lt, 1))
    assert lt.collect() == {0: [], 1: [], 2: [], 3: []}


def test_collect_drops_router_noise(lt: LinuxTarget) -> None:
    s = lt.open_socket(socket.AF_INET, socket.SOCK_DGRAM, 0)
    mreq = socket.inet_aton("239.7.7.7") + socket.inet_aton(lt.ports[1].ipv4)
    lt.setsockopt(s, IP4, socket.IP_ADD_MEMBERSHIP, mreq)  # the router sends an IGMPv3 report
    assert lt.collect() == {0: [], 1: [], 2: [], 3: []}


def test_collect_waits_for_a_quiet_window_only_after_a_stimulus(lt: LinuxTarget) -> None:
    lt.send(0, udp4(lt, 0))
    started = time.monotonic()
    lt.collect()
    assert time.monotonic() - started >= lt.quiet * 0.9
    started = time.monotonic()
    lt.collect()
    assert time.monotonic() - started < 0.01


def test_send_rejects_unknown_ports(lt: LinuxTarget) -> None:
    with pytest.raises(ValueError, match="no port 7"):
        lt.send(7, udp4(lt, 0))


def test_frame_filter_keeps_test_traffic_and_drops_noise() -> None:
    peers4 = frozenset({ipaddress.ip_address("198.18.1.10").packed})
    peers6 = frozenset({ipaddress.ip_address("2001:db8:1::10").packed})
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")

    def keep(pkt: Packet | bytes) -> bool:
        return is_test_frame(bytes(pkt), peers4, peers6)

    def v4(dst: str, **kw: int) -> Packet:
        return eth / IP(src="198.18.1.1", dst=dst, **kw)

    def v6(dst: str, **kw: int) -> Packet:
        return eth / IPv6(src="2001:db8:1::1", dst=dst, **kw)

    pim_hello = Raw(b"\x20\x00\x00\x00")
    assert keep(v4("232.9.9.9") / UDP())
    assert keep(v6("ff3e::1") / UDP())
    assert keep(v4("224.0.0.13", proto=103) / pim_hello)
    assert keep(v6("ff02::d", nh=103) / pim_hello)
    assert keep(v4("198.18.1.10") / UDP())
    assert keep(v6("2001:db8:1::10") / UDP())
    assert not keep(bytes(eth / ARP(psrc="198.18.1.1", pdst="198.18.1.10", hwsrc=eth.src)))
    assert not keep(v4("224.0.0.22", proto=2) / Raw(b"\x22" * 8))
    assert not keep(v6("ff02::16") / Raw(b"\x8f" * 8))
    assert not keep(v4("239.1.1.1") / UDP())
    assert not keep(v4("198.18.1.99") / UDP())
    assert not keep(b"\x00" * 10)


# -- reset --------------------------------------------------------------------------------------
def test_reset_flushes_static_entries_of_non_mrouter_sockets(lt: LinuxTarget) -> None:
    s = lt.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)  # never MRT_INIT
    lt.setsockopt(s, IP4, O4["MRT_ADD_VIF"], LINUX.struct("vifctl").pack(
        vifc_vifi=5, vifc_threshold=1, vifc_lcl_addr=lt.ports[0].ipv4))
    lt.setsockopt(s, IP4, O4["MRT_ADD_MFC"], LINUX.struct("mfcctl").pack(
        mfcc_origin=lt.ports[0].peer_ipv4, mfcc_mcastgrp=G4, mfcc_parent=5, mfcc_ttls=[]))
    s6 = lt.open_socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    lt.setsockopt(s6, IP6, O6["MRT6_ADD_MIF"], LINUX.struct("mif6ctl").pack(
        mif6c_mifi=4, mif6c_pifi=lt.ports[0].ifindex))
    state = lt.router_state()
    assert len(state["ip_mr_vif"]) == 1 and len(state["ip_mr_cache"]) == 1 and len(state["ip6_mr_vif"]) == 1
    lt.reset()
    assert all(not v or v == ["0"] for v in lt.router_state().values())


def test_reset_flushes_tables_selected_with_mrt_table(lt: LinuxTarget) -> None:
    table = int32(100)
    s = lt.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    lt.setsockopt(s, IP4, O4["MRT_TABLE"], table)
    vif = LINUX.struct("vifctl").pack(vifc_vifi=0, vifc_threshold=1, vifc_lcl_addr=lt.ports[0].ipv4)
    lt.setsockopt(s, IP4, O4["MRT_ADD_VIF"], vif)  # static: survives the socket's close
    lt.reset()
    s = lt.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    lt.setsockopt(s, IP4, O4["MRT_TABLE"], table)
    lt.setsockopt(s, IP4, O4["MRT_ADD_VIF"], vif)  # EADDRINUSE if the flush had missed table 100


def test_reset_turns_off_the_tables_pim_and_assert_switches(lt: LinuxTarget) -> None:
    # they belong to the table and survive MRT_DONE: a stale MRT_PIM would change WRONGVIF rules
    s4, s6 = mrouter4(lt, 0), mrouter6(lt, 0)
    lt.setsockopt(s4, IP4, O4["MRT_PIM"], int32(1))
    lt.setsockopt(s6, IP6, O6["MRT6_ASSERT"], int32(1))
    lt.reset()
    s4 = lt.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    s6 = lt.open_socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    for sock, level, names in ((s4, IP4, ("MRT_PIM", "MRT_ASSERT")), (s6, IP6, ("MRT6_PIM", "MRT6_ASSERT"))):
        options = O4 if level == IP4 else O6
        assert [lt.getsockopt(sock, level, options[n], 4) for n in names] == [int32(0), int32(0)]


def test_reset_discards_frames_and_closes_sockets(lt: LinuxTarget) -> None:
    s = mrouter4(lt)
    lt.setsockopt(s, IP4, O4["MRT_ADD_MFC"], LINUX.struct("mfcctl").pack(
        mfcc_origin=lt.ports[0].peer_ipv4, mfcc_mcastgrp=G4, mfcc_parent=0, mfcc_ttls=[0, 1]))
    lt.send(0, udp4(lt, 0))
    lt.reset()
    assert lt.collect() == {0: [], 1: [], 2: [], 3: []}
    with pytest.raises(OSError) as e:
        lt.recv_all(s)
    assert e.value.errno == errno.EBADF
    mrouter4(lt)  # MRT_INIT works again: the old mrouter is gone


# -- availability (no root needed) ---------------------------------------------------------------
def test_not_root_is_reported_as_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(TargetUnavailable, match="root"):
        LinuxTarget()


@pytest.mark.parametrize(
    ("probe", "words"),
    [
        ("init:ENOPROTOOPT", ["no IPv4 multicast routing (MRT_INIT: ENOPROTOOPT)", "--target linux-vm"]),
        ("init:EACCES", ["MRT_INIT fails in a fresh network namespace (EACCES)"]),
        ("socket:EPROTONOSUPPORT", ["raw IGMP socket", "EPROTONOSUPPORT"]),
        ("unshare:EPERM", ["unshare(CLONE_NEWNET): EPERM"]),
    ],
)
def test_a_failed_mrt_init_probe_is_reported_with_its_errno(
    monkeypatch: pytest.MonkeyPatch, probe: str, words: list[str]
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(target_module, "probe_mrt_init", lambda: probe)
    with pytest.raises(TargetUnavailable) as e:
        LinuxTarget()
    for word in words:
        assert word in e.value.reason
    assert "\n" not in e.value.reason


def test_the_probe_agrees_with_the_kernel(host_root: None) -> None:
    """MRT_INIT succeeds in a fresh namespace exactly where the kernel has IPv4 multicast routing."""
    result = target_module.probe_mrt_init.__wrapped__()  # uncached: really ask the kernel
    has_ipmr = os.path.exists("/proc/net/ip_mr_vif")
    assert result == ("ok" if has_ipmr else "init:ENOPROTOOPT")
