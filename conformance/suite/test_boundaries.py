"""Behaviour exactly at a boundary, and one unit either side: what a kernel's off-by-one gets wrong.

The existing tests probe each threshold with a comfortable margin; these put the probe on it. On a
virtual-time target the unit is 1 µs and the boundary itself is probed exactly. On a real kernel
the clock cannot be placed on an instant, so the probes sit ``REAL_TOLERANCE`` either side and the
equality case is skipped (it is not a pass: the report shows it as skipped, with the reason).
Sources: docs/spec/freebsd.md (ratecheck: ``now - last >= 3 s``), docs/spec/linux.md
(``time_after(jiffies, last + MFC_ASSERT_THRESH)``: strictly more), docs/spec/api.md.
"""

from __future__ import annotations

import contextlib

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6

from conformance.harness import Harness
from conformance.harness.routing import RoutingSocket
from conformance.outcomes import unsupported
from conformance.suite.bw_support import FLUSH_PERIOD, GEQ, LEQ, PKTS, US, Rig, show_all, tv_us
from mroute_spec.constants import MRT_MFC_BW_UPCALL

UNIT = 1e-6  # one unit of a virtual clock: the model keeps time in microseconds
REAL_TOLERANCE = 0.1  # seconds either side of a boundary on a real kernel (its own latency)
WRONG = {4: "WRONGVIF", 6: "WRONGMIF"}


def unit(h: Harness) -> float:
    """The step either side of a boundary: 1 µs on virtual time, the stated tolerance otherwise."""
    return UNIT if h.target.virtual_time else REAL_TOLERANCE


def exact_only(h: Harness, offset: int) -> None:
    """Skip the equality probe on a real-time target: nothing can send at an exact instant."""
    if offset == 0 and not h.target.virtual_time:
        pytest.skip("the exact boundary needs a virtual-time target; the ±tolerance probes still run")


def switch_off(r: RoutingSocket, role: str) -> None:
    with contextlib.suppress(OSError):
        r.set_int(role, 0)


# -- wrongvif.rate-limit: the 3 s interval, at the boundary ------------------------------------
@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["interval-1us", "interval", "interval+1us"])
@pytest.mark.parametrize(("v", "switch"), [
    pytest.param(4, "assert", id="4", marks=pytest.mark.clause("wrongvif.rate-limit")),
    pytest.param(6, "pim", id="6", marks=pytest.mark.clause("wrongmif.v6-upcall")),
])
def test_second_wrong_vif_upcall_exactly_at_the_rate_limit_interval(h, v, switch, offset, request):
    """FreeBSD's ratecheck() passes at ``now - last >= interval``; Linux's time_after() needs
    strictly more. One unit before the interval: no upcall; one unit after: an upcall; at the
    interval: the profile's ``wrongvif_interval_strict`` decides. IPv6 only where rate-limited."""
    exact_only(h, offset)
    p = h.profile
    limited = p.wrongvif_rate_limited if v == 4 else p.wrongmif_rate_limited
    r = h.router(v, vifs=(0, 1))
    r.set_int(switch, 1)  # MRT_ASSERT for IPv4; MRT6_PIM for IPv6 (FreeBSD has no MRT6_ASSERT)
    request.addfinalizer(lambda: switch_off(r, switch))  # Linux keeps it across MRT_DONE and close
    s, g = h.src(v, 0), h.group(v, 1)
    r.add_mfc(s, g, 0, ttls={1: 1})
    clock = h.stopwatch()
    h.send_marked(1, v, s, g)
    h.expect_upcall(r, WRONG[v], 1, s, g)

    at = p.wrongvif_interval + offset * unit(h)
    clock.advance_to(at, before=None if offset else at + unit(h))
    h.send_marked(1, v, s, g)

    fires = not limited or offset > 0 or (offset == 0 and not p.wrongvif_interval_strict)
    rule = "strictly more than" if p.wrongvif_interval_strict else "at least"
    context = (f"second wrong-vif packet of ({s}, {g}) {at:.6f} s after the first {WRONG[v]}: profile "
               f"{p.name!r} allows the next upcall {rule} {p.wrongvif_interval} s later"
               + ("" if limited else " (no IPv6 rate limit)"))
    if fires:
        h.expect_upcall(r, WRONG[v], 1, s, g)
    else:
        h.expect_no_upcall(r, context)


# -- bw.batch-timer: the 1 s timer counts from MRT_INIT, not from the clock's origin --------------
@pytest.mark.clause("bw.batch-timer")
@pytest.mark.parametrize("before_init", [0.3, 0.75])
def test_batch_timer_delivers_within_a_second_when_mrt_init_came_late(h, before_init):
    """The other batch-timer tests start the router at the target's time zero; here MRT_INIT comes
    ``before_init`` s after it, so a timer that measures from the wrong origin shows: one record
    queued 1.5 s after MRT_INIT is delivered, alone, within 1 s of being queued (not before the
    next whole second after MRT_INIT)."""
    h.require_api(MRT_MFC_BW_UPCALL)
    h.advance(before_init)
    rig = Rig(h)
    rig.add(PKTS | GEQ, time=(3, 0), packets=1)
    queued = 1.5
    rig.at(queued)
    rig.send()
    assert not rig.messages(), "one record was sent at once: fewer than bw_flush_at must wait for the timer"
    rig.at(rig.next_flush(queued) - rig.eps)
    assert not rig.messages(), f"the record queued at {queued} s arrived before the 1 s timer ran"
    rig.at(queued + FLUSH_PERIOD + rig.eps)
    got = [len(m.records) for m in rig.messages()]
    assert got == [1], (f"MRT_INIT {before_init} s after the target's start, a record queued {queued} s "
                        f"after MRT_INIT: expected one message of 1 record within {FLUSH_PERIOD} s, got "
                        f"{got or 'nothing'}")


# -- bw.geq-restart: a packet exactly at start + b_time still belongs to the interval ----------
@pytest.mark.clause("bw.geq-restart")
@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["interval-1us", "interval", "interval+1us"])
def test_geq_packet_at_the_end_of_the_interval_counts_in_it(h, offset):
    """docs/spec/api.md §7: the measurement restarts with "the first packet after the interval
    ends"; FreeBSD compares the elapsed time with ``>`` (bw_meter_geq_receive_packet). A ``>= 2
    packets`` meter installed with its first packet at t = 0: a second packet at b_time - 1 us or
    exactly at b_time completes the count; 1 us later it starts a new interval and nothing fires."""
    exact_only(h, offset)
    rig = Rig(h)
    rig.add(PKTS | GEQ, time=(3, 0), packets=2)
    rig.send()  # at install time: the first interval starts here under either first-interval rule
    at = 3.0 + offset * unit(h)
    rig.at(at)
    rig.send()
    rig.at(at + FLUSH_PERIOD + rig.eps)
    got = rig.records()
    context = f"'>= 2 packets in 3 s' meter, packets at 0 s and {at:.6f} s (profile {h.profile.name!r})"
    if offset > 0:
        assert not got, f"{context}: the second packet starts a new interval, expected no record, got:\n{show_all(got)}"
        return
    assert [r["bu_measured_packets"] for r in got] == [2], f"{context}: expected one record of 2 packets, got:\n{show_all(got)}"
    if h.target.virtual_time:
        assert tv_us(got[0]["bu_measured_time"]) == round(at * US), (
            f"{context}: the record measures the time from the interval start to the second packet:\n{show_all(got)}")


# -- bw.geq-fires: every meter of an entry sees every packet, whatever the others are ----------
@pytest.mark.clause("bw.geq-fires")
@pytest.mark.parametrize("first", ["leq-first", "geq-first"])
def test_a_geq_meter_counts_packets_next_to_a_leq_meter_of_the_same_entry(h, first):
    """Meters are independent (docs/spec/api.md §7: each MRT_ADD_BW_UPCALL adds one): a ``>=``
    meter on an (S,G) that also has a ``<=`` meter fires as if it were alone, in either install order."""
    rig = Rig(h)
    meters = [(PKTS | LEQ, 1000), (PKTS | GEQ, 2)]
    for flags, packets in (meters if first == "leq-first" else meters[::-1]):
        rig.add(flags, time=(3, 0), packets=packets)
    rig.send(2)
    rig.at(1 + rig.eps)
    got = [r for r in rig.records() if r["bu_flags"] & GEQ]
    assert [r["bu_measured_packets"] for r in got] == [2], (
        f"'>= 2 packets' meter next to a '<= 1000 packets' meter ({first}), 2 packets sent: expected one "
        f"'>=' record of 2 packets within 1 s, got:\n{show_all(got)}")


# -- held packets released into an entry whose parent is another vif: asserts see them too ------
@pytest.mark.clause("wrongvif.upcall")
@pytest.mark.clause("nocache.release-on-add")
def test_a_held_packet_released_onto_the_wrong_vif_yields_a_wrongvif_upcall(h, request):
    """FreeBSD's add_mfc runs each held packet through ip_mdq with its arrival interface, and
    Linux's ipmr_cache_resolve through ip_mr_forward (linux-semantics §4.4: "the queued packets fail
    RPF and count as wrong_if, with a possible assert"): with MRT_ASSERT on, a packet held after
    arriving on vif 1 and released into an entry whose parent is vif 0 yields IGMPMSG_WRONGVIF
    naming vif 1, the vif it arrived on."""
    r = h.router(4, vifs=(0, 1, 2))
    r.set_assert(True)
    request.addfinalizer(lambda: switch_off(r, "assert"))
    s, g = h.src(4, 1), h.group(4, 1)
    h.send_marked(1, 4, s, g)
    h.expect_upcall(r, "NOCACHE", 1, s, g)

    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})  # vif 1 is an oif too: Linux reports only arrivals on oifs

    h.expect_upcall(r, "WRONGVIF", 1, s, g)
    h.expect_copies([], on=set(), context="a held packet that fails RPF against the installed entry")


# -- IPv6: only MLD escapes multicast routing, not every ICMPv6 nor a look-alike payload ---------
@pytest.mark.clause("mfc6.ifset")
@pytest.mark.parametrize("kind", ["icmpv6-echo", "udp-port-0x82xx"])
def test_v6_data_packets_that_are_not_mld_are_forwarded(h, kind):
    """Profiles where group management is not routed (Linux delivers MLD locally) still route every
    other ICMPv6 message (an echo request, type 128), and a UDP datagram whose first payload byte
    happens to equal an MLD type (source port 0x8200: byte 130, MLD query)."""
    r = h.router(6, vifs=(0, 1, 2))
    s, g = h.src(6, 0), h.group(6, 1)
    r.add_mfc(s, g, 0, ttls={1: 1})
    if kind == "icmpv6-echo":
        pkt = IPv6(src=s, dst=g, hlim=64) / ICMPv6EchoRequest(id=0x4D52, seq=7, data=b"MRPROTO-echo")
    else:
        pkt = IPv6(src=s, dst=g, hlim=64) / UDP(sport=0x8200, dport=50000) / b"MRPROTO-udp"
    h.send(0, pkt)
    got = {port: len(frames) for port, frames in h.all_frames().items() if frames}
    assert got == {1: 1}, (f"{kind} to ({s}, {g}) with an entry forwarding vif 0 -> 1: expected one copy on "
                           f"port 1 (profile {h.profile.name!r}: only MLD escapes routing), got {got or 'nothing'}")


@pytest.mark.clause("input.malformed-packet")
def test_v6_icmpv6_packet_with_an_empty_payload_does_not_break_the_router(h):
    """An IPv6 packet whose next header is ICMPv6 but whose payload is empty (ip6_plen 0) ends
    exactly where the ICMPv6 type byte would be: the router must not read past it. Whether the
    packet itself is forwarded is not judged; the next valid packet of the (S,G) must be."""
    r = h.router(6, vifs=(0, 1))
    s, g = h.src(6, 0), h.group(6, 1)
    r.add_mfc(s, g, 0, ttls={1: 1})
    h.send(0, IPv6(src=s, dst=g, hlim=64, nh=58, plen=0))
    h.all_frames()  # whatever the empty one did
    after = h.send_marked(0, 6, s, g)
    h.expect_copies(after, on={1}, context="a valid packet sent after an IPv6 packet with an empty ICMPv6 payload")


# -- WRONGVIF special arrivals: an interface that is no vif; Linux's ttl-255 "not an oif" -------
@pytest.mark.clause("wrongvif.upcall")
@pytest.mark.parametrize("v", [4, 6])
def test_wrong_arrival_on_an_interface_that_is_no_vif_yields_no_wrongvif(h, v, request):
    """FreeBSD ip_mdq: an arrival interface that is no vif ends the wrong-iif path silently (there
    is no vif to name); Linux finds no vif index for it either. IPv6 follows the profile:
    FreeBSD's ip6_mdq still reports it, naming mif nummifs. With asserts on, a packet of a known
    (S,G) from port 3 (no vif) yields no upcall, and a later wrong-vif arrival is still reported."""
    role = "assert" if v == 4 else "pim"
    r = h.router(v, vifs=(0, 1, 2))
    r.set_int(role, 1)
    request.addfinalizer(lambda: switch_off(r, role))
    s, g = h.src(v, 3), h.group(v, 1)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})
    h.send_marked(3, v, s, g)
    got = [(u.kind, u.vif) for u in r.upcalls() if u.kind in ("WRONGVIF", "WRONGMIF")]
    if v == 6 and h.profile.wrongmif_from_non_mif:  # FreeBSD ip6_mdq names mif nummifs (test_corners)
        assert got == [("WRONGMIF", 3)], (
            f"a packet of ({s}, {g}) from port 3, which has no mif: expected one WRONGMIF naming mif 3 "
            f"(nummifs) under profile {h.profile.name!r}, got {got}")
    else:
        assert not got, f"a packet of ({s}, {g}) from port 3, which has no vif: expected no wrong-vif upcall, got {got}"
    h.send_marked(1, v, s, g)
    h.expect_upcall(r, WRONG[v], 1, s, g)


@pytest.mark.clause("wrongvif.upcall")
@pytest.mark.parametrize("ttl", [254, 255])
def test_wrongvif_on_an_arrival_vif_whose_mfc_ttl_is_at_the_top_of_the_range(h, ttl, request):
    """Linux (ip_mr_forward) reports a wrong arrival only on a vif that is an oif of the entry,
    ``ttls[vif] < 255`` (255 is what it stores for "not an oif"): the profile's
    ``wrongvif_requires_oif``. So with asserts on and MRT_PIM off, an arrival vif whose mfcc_ttls is
    254 is reported, 255 is not. Profiles without the rule report both."""
    r = h.router(4, vifs=(0, 1, 2))
    r.set_assert(True)
    request.addfinalizer(lambda: switch_off(r, "assert"))
    s, g = h.src(4, 1), h.group(4, 1)
    r.add_mfc(s, g, 0, ttls={1: ttl, 2: 1})
    h.send_marked(1, 4, s, g)
    if h.profile.wrongvif_requires_oif and ttl == 255:
        h.expect_no_upcall(r, f"arrival vif 1 has mfcc_ttls 255, which profile {h.profile.name!r} treats as no oif")
    else:
        h.expect_upcall(r, "WRONGVIF", 1, s, g)


# -- Linux MRT_PIM = pim_whole_value: WRONGVIF is followed by the whole packet ------------------
@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("linuxext.wrvifwhole")  # a Linux extension: never counted against a BSD profile
def test_wrong_vif_whole_packet_follows_the_wrongvif_upcall(h, v, request):
    """Linux: MRT_PIM / MRT6_PIM set to IGMPMSG_WRVIFWHOLE (4) makes every WRONGVIF (WRONGMIF)
    upcall followed by a WRVIFWHOLE (WRMIFWHOLE) one carrying the packet as it arrived, im_vif =
    the arrival vif (linux-semantics §4.5: a 20-byte igmpmsg or 40-byte mrt6msg, then the packet)."""
    value = h.profile.pim_whole_value
    if not value:
        unsupported(f"profile {h.profile.name!r} has no MRT_PIM value for whole wrong-vif packets")
    r = h.router(v, vifs=(0, 1, 2))
    r.set_pim(value)
    request.addfinalizer(lambda: switch_off(r, "pim"))
    s, g = h.src(v, 1), h.group(v, 1)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})
    pkt = h.packet(v, s, g, ttl=33)
    sent = bytes(pkt)
    h.send(1, pkt)
    ups = r.upcalls()
    whole = "WRVIFWHOLE" if v == 4 else "WRMIFWHOLE"
    assert [(u.kind, u.vif) for u in ups] == [(WRONG[v], 1), (whole, 1)], (
        f"expected {WRONG[v]} then {whole}, both naming arrival vif 1, got {[u.describe() for u in ups]}")
    u = ups[1]
    hdr = 20 if v == 4 else 40
    assert (u.src, u.dst, u.raw[hdr:]) == (s, g, sent), (
        f"{whole}: expected src {s}, dst {g} and the {len(sent)}-byte packet as it arrived after the "
        f"{hdr}-byte header; got {u.src}, {u.dst} and {len(u.raw) - hdr} bytes")
