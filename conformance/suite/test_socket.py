"""socket.*: which socket can become the routing socket, and what the routing socket reads.

The routing socket is a raw IGMP socket (IPv4) or a raw ICMPv6 socket (IPv6). It carries the
kernel's upcalls *and* the IGMP/MLD traffic the daemon needs, told apart by the zero protocol
byte (IPv4 ``im_mbz`` at the ``ip_p`` position) or the zero first byte (IPv6 ``im6_mbz``).
"""

from __future__ import annotations

import warnings

import pytest
from scapy.layers.igmp import IGMP
from scapy.layers.inet import IP, IPOption_Router_Alert
from scapy.layers.inet6 import (
    ICMPv6MLDMultAddrRec,
    ICMPv6MLReport,
    ICMPv6MLReport2,
    IPv6,
    IPv6ExtHdrHopByHop,
    RouterAlert,
)

from conformance.harness.core import FAMILY_OF

with warnings.catch_warnings():  # scapy 2.6 flags the module deprecated but has no other IGMPv3 report layer
    warnings.simplefilter("ignore", DeprecationWarning)
    from scapy.contrib.igmpv3 import IGMPv3gr, IGMPv3mr
from conformance.harness.expect import errname
from conformance.harness.routing import RoutingSocket
from mroute_spec.constants import (
    IPPROTO_IGMP,
    IPPROTO_UDP,
    MLD_TYPES,
    SOCK_DGRAM,
    SOCK_RAW,
    SOCK_STREAM,
)

IGMPV2_REPORT = 0x16
MLD_REPORT = 131

# sockets that must not become the router: (socket type, protocol, failure path)
NOT_ROUTING_SOCKETS = {
    "udp": (SOCK_DGRAM, IPPROTO_UDP, "socket.not_raw"),
    "tcp": (SOCK_STREAM, 0, "socket.not_raw"),
    "raw-udp": (SOCK_RAW, IPPROTO_UDP, "socket.wrong_proto"),
}


def non_router_path(v: int) -> str:
    return "socket.non_router" if v == 4 else "socket6.non_router"


def take_router(h, v: int, why: str) -> RoutingSocket:
    """The proper routing socket becomes the router (vif 0 on port 0), or the test fails saying why."""
    try:
        return h.router(v, vifs=(0,))
    except OSError as e:
        raise AssertionError(f"{why}: MRT_INIT on a raw {'IGMP' if v == 4 else 'ICMPv6'} socket then "
                             f"failed with {errname(e.errno)}") from None


def expect_nocache_reaches(h, r: RoutingSocket, v: int, port: int, vif: int, n: int) -> None:
    """A packet of a fresh (S,G) arriving on ``port`` yields its NOCACHE upcall on ``r``."""
    src, grp = h.src(v, port, n), h.group(v, n)
    h.send(port, h.packet(v, src, grp))
    got = [u for u in r.upcalls("NOCACHE") if (u.src, u.dst) == (src, grp)]
    assert len(got) == 1, f"expected one NOCACHE for ({src}, {grp}) on the routing socket, got {len(got)}"
    assert got[0].vif == vif, f"NOCACHE vif: expected {vif}, got {got[0].vif}"


def mld_report(group: str) -> IPv6:
    """An MLDv1 report for ``group`` as a host sends it: link-local source, hop limit 1, Router Alert."""
    return (IPv6(src="fe80::10", dst=group, hlim=1) / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])
            / ICMPv6MLReport(mladdr=group))


def mld_reports_read(r: RoutingSocket, group: str) -> list[bytes]:
    """MLD reports for ``group`` among what the routing socket read besides upcalls."""
    return [m for m in r.others if m[:1] == bytes([MLD_REPORT]) and ICMPv6MLReport(m).mladdr == group]


def pass_only_mld(h, r: RoutingSocket) -> None:
    """ICMP6_FILTER letting only MLD through (a set bit blocks or passes, per profile)."""
    if h.profile.icmp6_filter_set_bit_blocks:
        bits = set(range(256)) - set(MLD_TYPES)
    else:
        bits = set(MLD_TYPES)
    h.target.setsockopt(r.sock, *h.profile.sockopt("ICMP6_FILTER"), h.profile.struct("icmp6_filter").pack(bits=bits))


@pytest.mark.parametrize("kind", sorted(NOT_ROUTING_SOCKETS))
@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("socket.v4-type")),
    pytest.param(6, marks=pytest.mark.clause("socket.v6-type")),
])
def test_init_is_refused_on_any_socket_but_the_raw_routing_protocol_one(h, v, kind):
    sock_type, proto, path = NOT_ROUTING_SOCKETS[kind]
    imposter = RoutingSocket(h, h.socket(FAMILY_OF[v][0], sock_type, proto))

    with h.raises(path, f"MRT{'' if v == 4 else '6'}_INIT on a {kind} socket"):
        imposter.init()

    r = take_router(h, v, f"the refused {kind} socket must not hold the router")
    expect_nocache_reaches(h, r, v, port=0, vif=0, n=1)


@pytest.mark.clause("socket.igmp-io")
def test_igmp_arriving_on_a_vif_is_read_on_the_routing_socket_and_is_no_upcall(h):
    r = h.router(4, vifs=(0, 1))
    host, group = h.src(4, 1, 0), h.group(4, 7)
    report = IP(src=host, dst=group, ttl=1, options=[IPOption_Router_Alert()]) / IGMP(type=IGMPV2_REPORT,
                                                                                     gaddr=group)

    h.send(1, report)
    upcalls = r.upcalls()

    reads = [IP(m) for m in r.others]
    reports = [m for m in reads if m.src == host and m.haslayer(IGMP) and m[IGMP].gaddr == group]
    assert len(reports) == 1, (f"expected the IGMPv2 report from {host} for {group} once among the routing "
                               f"socket's non-upcall reads, got {len(reports)} (other reads: {len(reads)}; "
                               f"read as upcalls: {[u.describe() for u in upcalls]})")
    assert reports[0].proto == IPPROTO_IGMP, (
        f"protocol byte (im_mbz position): expected {IPPROTO_IGMP}, got {reports[0].proto}")
    assert reports[0][IGMP].type == IGMPV2_REPORT, (
        f"IGMP type: expected {IGMPV2_REPORT:#x}, got {reports[0][IGMP].type:#x}")
    assert upcalls == [], f"the IGMP report (TTL 1) must not also yield upcalls, got {[u.describe() for u in upcalls]}"


@pytest.mark.clause("socket.mld-io")
def test_mld_arriving_on_a_mif_is_read_on_the_ipv6_routing_socket(h):
    r = h.routing_socket(6)
    r.init()
    pass_only_mld(h, r)
    r.add_vifs(0, 1)
    group = h.group(6, 7)

    h.send(1, mld_report(group))
    upcalls = r.upcalls()

    got = mld_reports_read(r, group)
    assert len(got) == 1, (f"expected the MLD report for {group} once on the IPv6 routing socket, got "
                           f"{len(got)} (types read: {[m[0] for m in r.others]})")
    assert got[0][0] != 0, "an MLD message must not look like an upcall (im6_mbz position is 0)"
    assert upcalls == [], f"the MLD report (hop limit 1) must not also yield upcalls, got {[u.describe() for u in upcalls]}"


@pytest.mark.clause("socket.v6-filter-upcalls")
def test_icmp6_filter_blocking_all_icmpv6_still_lets_upcalls_through(h):
    r = h.router(6, vifs=(0, 1))  # the harness filters out every ICMPv6 type on the routing socket
    group = h.group(6, 7)

    h.send(1, mld_report(group))
    expect_nocache_reaches(h, r, 6, port=1, vif=1, n=2)

    assert mld_reports_read(r, group) == [], "the ICMP6_FILTER blocking every type let an MLD report through"


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("socket.non-router")
def test_vif_changes_from_a_socket_that_is_not_the_router_follow_the_profile(h, v):
    r = h.router(v, vifs=(0,))
    other = h.routing_socket(v)
    refused = h.profile.errno_of(non_router_path(v)) is not None

    with h.raises(non_router_path(v), "add vif 1 from a second raw socket"):
        other.add_vif(1)

    if refused:
        r.add_vif(1)  # the refused request left slot 1 free
    else:
        with h.raises("vif.in_use" if v == 4 else "mif.in_use", "the other socket's vif 1 was installed"):
            r.add_vif(1)
    expect_nocache_reaches(h, r, v, port=1, vif=1, n=3)


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("socket.non-router")
def test_done_from_a_socket_that_is_not_the_router_is_refused_and_routing_goes_on(h, v):
    r = h.router(v, vifs=(0, 1))
    other = h.routing_socket(v)
    path = "done.non_router" if h.profile.errno_of("done.non_router") is not None else non_router_path(v)

    with h.raises(path, "MRT_DONE from a socket that is not the router"):
        other.done()

    expect_nocache_reaches(h, r, v, port=1, vif=1, n=4)
    with h.raises("init.in_use", "the router must still be held by the first socket"):
        other.init()


@pytest.mark.parametrize("icmp6_filter", ["none", "report-type-only"])
@pytest.mark.clause("socket.mld-io")
def test_mld_reports_reach_the_ipv6_routing_socket_unless_its_filter_blocks_their_type(h, icmp6_filter):
    """No filter passes every ICMPv6 type; a filter passing only type 131 (the MLDv1 report) passes
    it, whichever way the profile's bits read (RFC 3542 §3.2: BSD set bit = pass, Linux set = block)."""
    r = h.routing_socket(6)
    r.init()
    if icmp6_filter == "report-type-only":
        bits = set(range(256)) - {MLD_REPORT} if h.profile.icmp6_filter_set_bit_blocks else {MLD_REPORT}
        h.target.setsockopt(r.sock, *h.profile.sockopt("ICMP6_FILTER"), h.profile.struct("icmp6_filter").pack(bits=bits))
    r.add_vifs(0, 1)
    group = h.group(6, 8)

    h.send(1, mld_report(group))
    upcalls = r.upcalls()  # reads the socket: upcalls apart, the rest into r.others

    assert upcalls == [], f"the MLD report (hop limit 1) must not yield upcalls, got {[u.describe() for u in upcalls]}"
    got = mld_reports_read(r, group)
    assert len(got) == 1, (f"expected the MLD report for {group} once on the IPv6 routing socket "
                           f"(filter: {icmp6_filter}), got {len(got)} (types read: {[m[0] for m in r.others]})")


# IGMPv3 and MLDv2 reports go to the protocols' report groups (RFC 3376 §4.2.14: 224.0.0.22;
# RFC 3810 §5.2.14: ff02::16), not to the group they are about: link-local protocol addresses on
# the kit's own links, which a routing daemon joins on its routing socket (Linux delivers a
# 224.0.0.x / ff02::x message only to a joined interface; FreeBSD's ip_input hands every IGMP
# message to a multicast router anyway). The group records name test groups (232/8, ff3e::/16).
IGMPV3_REPORT, MLDV2_REPORT = 0x22, 143
IGMPV3_REPORT_GROUP, MLDV2_REPORT_GROUP = "224.0.0.22", "ff02::16"
MODE_IS_EXCLUDE = 2  # a group record "join, any source" (RFC 3376 §4.2.12, RFC 3810 §5.2.12)


@pytest.mark.clause("socket.igmp-io")
def test_an_igmpv3_report_arriving_on_a_vif_is_read_on_the_routing_socket_and_is_no_upcall(h):
    r = h.router(4, vifs=(0, 1))
    r.join(IGMPV3_REPORT_GROUP, 1)
    host, group = h.src(4, 1, 0), h.group(4, 9)
    report = (IP(src=host, dst=IGMPV3_REPORT_GROUP, ttl=1, options=[IPOption_Router_Alert()])
              / IGMPv3mr(records=[IGMPv3gr(rtype=MODE_IS_EXCLUDE, maddr=group)]))

    h.send(1, report)
    upcalls = r.upcalls()

    reads = [IP(m) for m in r.others]
    got = [m for m in reads if m.src == host and m.haslayer(IGMPv3mr)]
    assert len(got) == 1, (f"expected the IGMPv3 report from {host} once among the routing socket's non-upcall "
                           f"reads, got {len(got)} (other reads: {len(reads)})")
    assert got[0].proto == IPPROTO_IGMP, f"protocol byte (im_mbz position): expected {IPPROTO_IGMP}, got {got[0].proto}"
    records = got[0][IGMPv3mr].records
    assert got[0][IGMPv3mr].type == IGMPV3_REPORT and [(g.rtype, g.maddr) for g in records] == [(MODE_IS_EXCLUDE, group)], (
        f"IGMPv3 report read back altered: type {got[0][IGMPv3mr].type:#x}, records "
        f"{[(g.rtype, g.maddr) for g in records]}")
    assert upcalls == [], f"the IGMPv3 report (TTL 1) must not also yield upcalls, got {[u.describe() for u in upcalls]}"


@pytest.mark.clause("socket.mld-io")
def test_an_mldv2_report_arriving_on_a_mif_is_read_on_the_ipv6_routing_socket(h):
    r = h.routing_socket(6)
    r.init()
    r.add_vifs(0, 1)
    r.join(MLDV2_REPORT_GROUP, 1)
    group = h.group(6, 9)
    report = (IPv6(src="fe80::10", dst=MLDV2_REPORT_GROUP, hlim=1)
              / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])
              / ICMPv6MLReport2(records=[ICMPv6MLDMultAddrRec(rtype=MODE_IS_EXCLUDE, dst=group)]))

    h.send(1, report)
    upcalls = r.upcalls()

    # The raw socket gives no source address, so the kit's report is told apart by its record:
    # the kernel's own MLDv2 reports (for ff02::16 after the join, for solicited-node groups) can
    # arrive at any moment on the same link and are no evidence either way.
    reports = [ICMPv6MLReport2(m) for m in r.others if m[:1] == bytes([MLDV2_REPORT])]
    got = [m for m in reports if any(rec.dst == group for rec in m.records)]
    assert len(got) == 1, (f"expected the MLDv2 report for {group} once on the IPv6 routing socket, got {len(got)} "
                           f"(types read: {[m[0] for m in r.others]}; MLDv2 records read: "
                           f"{[(rec.rtype, rec.dst) for m in reports for rec in m.records]})")
    assert [(rec.rtype, rec.dst) for rec in got[0].records] == [(MODE_IS_EXCLUDE, group)], (
        f"MLDv2 report read back altered: records {[(rec.rtype, rec.dst) for rec in got[0].records]}")
    assert upcalls == [], f"the MLDv2 report (hop limit 1) must not also yield upcalls, got {[u.describe() for u in upcalls]}"
