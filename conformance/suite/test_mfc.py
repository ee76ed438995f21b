"""mfc.* and mfc6.*: what MRT_ADD_MFC and MRT_DEL_MFC make the router do with packets.

Each test installs forwarding state through the harness, sends marked packets on a port, and
checks, port by port, which packets left: presence on the outgoing vifs and absence everywhere
else. Packets are named by their marker (``#n``) in failure messages. Vif i sits on port i unless
a test says otherwise.
"""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6

from conformance.harness.packets import Frame

ALL_VIFS = (0, 1, 2, 3)
BOTH_FAMILIES = pytest.mark.parametrize("v", [4, 6])


# -- helpers ---------------------------------------------------------------------------------
def expect_no_nocache(r, why: str) -> None:
    """No NOCACHE upcall. WRONGVIF upcalls are not judged here: asserts belong to wrongvif.*, and
    Linux keeps MRT_ASSERT across MRT_DONE, so a test cannot assume a fresh router has it off."""
    got = [u.describe() for u in r.upcalls() if u.kind == "NOCACHE"]
    assert not got, f"expected no NOCACHE upcall ({why}), got {got}"


def forwarded_ttls(frames: list[Frame]) -> list[int]:
    return [f.ttl for f in frames]


def ip_packet_of(frame: Frame) -> bytes:
    """The IP packet inside a captured frame, without Ethernet padding."""
    ip = frame.raw[14:]
    if frame.version == 4:
        return ip[: int.from_bytes(ip[2:4], "big")]
    return ip[: 40 + int.from_bytes(ip[4:6], "big")]


def header_diff(v: int, want: bytes, got: bytes) -> str:
    """Decoded IP header fields (and the payload) that differ between two packets."""
    layer = IP if v == 4 else IPv6
    a, b = layer(want), layer(got)
    lines = [f"  {name}: expected {a.getfieldval(name)!r}, got {b.getfieldval(name)!r}"
             for name in (f.name for f in layer.fields_desc)
             if name != "options" and a.getfieldval(name) != b.getfieldval(name)]
    if bytes(a.payload) != bytes(b.payload):
        lines.append(f"  payload: {len(bytes(a.payload))} bytes sent, {len(bytes(b.payload))} bytes forwarded, "
                     "contents differ")
    return "\n".join(lines) or "  (bytes differ outside the decoded fields)"


def mapped_mac(group: str) -> str:
    """RFC 1112 / RFC 2464 destination MAC of a group."""
    addr = ipaddress.ip_address(group)
    raw = (b"\x01\x00\x5e" + (int(addr) & 0x7FFFFF).to_bytes(3, "big") if addr.version == 4
           else b"\x33\x33" + addr.packed[-4:])
    return ":".join(f"{x:02x}" for x in raw)


def del_absent_path(v: int) -> str:
    return "mfc.del_absent" if v == 4 else "mfc6.del_absent"


# -- mfc.add-forward -------------------------------------------------------------------------
@BOTH_FAMILIES
@pytest.mark.parametrize(("parent", "oifs"), [(0, {1, 3}), (2, {0, 1, 3})], ids=["parent0", "parent2"])
@pytest.mark.clause("mfc.add-forward")
def test_installed_entry_forwards_arrivals_on_its_parent_to_every_outgoing_vif(h, v, parent, oifs):
    r = h.router(v, vifs=ALL_VIFS)
    s, g = h.src(v, parent), h.group(v)
    r.add_mfc(s, g, parent, ttls=dict.fromkeys(oifs, 1))

    sent = h.send_marked(parent, v, s, g, n=3)

    h.expect_copies(sent, on=oifs,
                  context=f"(S,G) installed with parent vif {parent} and outgoing vifs {sorted(oifs)}")
    h.expect_no_upcall(r, "the (S,G) has a cache entry, so no NOCACHE")


# -- mfc.ttl-threshold -----------------------------------------------------------------------
@pytest.mark.parametrize("t", [1, 2, 3, 64, 128, 254])
@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["ttl=t-1", "ttl=t", "ttl=t+1"])
@pytest.mark.clause("mfc.ttl-threshold")
def test_copy_leaves_a_vif_only_when_the_packet_ttl_exceeds_its_threshold(h, t, offset):
    """vifs 1, 2, 3 hold ttls t-1, t, t+1: every packet meets one threshold exactly (strict >)."""
    ttl = t + offset
    ttls = {1: t - 1, 2: t, 3: t + 1}
    r = h.router(4, vifs=ALL_VIFS)
    s, g = h.src(4, 0), h.group(4)
    r.add_mfc(s, g, 0, ttls=ttls)

    sent = h.send_marked(0, 4, s, g, ttl=ttl)

    oifs = {i for i, threshold in ttls.items() if threshold > 0 and ttl > threshold}
    h.expect_copies(sent, on=oifs,
                  context=f"TTL {ttl} packet, mfcc_ttls {ttls}: a copy leaves vif i iff ttls[i] > 0 and "
                          f"TTL > ttls[i] (strict), so only vifs {sorted(oifs)}")


# -- mfc.ttl-zero-excluded -------------------------------------------------------------------
@pytest.mark.parametrize("zero_vif", [1, 2, 3])
@pytest.mark.parametrize("ttl", [255, 64, 2])
@pytest.mark.clause("mfc.ttl-zero-excluded")
def test_zero_ttl_keeps_its_vif_out_of_the_outgoing_set_whatever_the_packet_ttl(h, zero_vif, ttl):
    ttls = {i: 0 if i == zero_vif else 1 for i in (1, 2, 3)}
    r = h.router(4, vifs=ALL_VIFS)
    s, g = h.src(4, 0), h.group(4)
    r.add_mfc(s, g, 0, ttls=ttls)

    sent = h.send_marked(0, 4, s, g, n=2, ttl=ttl)

    oifs = set(ttls) - {zero_vif}
    h.expect_copies(sent, on=oifs,
                  context=f"TTL {ttl} packets, mfcc_ttls {ttls}: vif {zero_vif} has ttl 0 and is no "
                          f"outgoing interface; vifs {sorted(oifs)} (ttl 1) get copies")


@pytest.mark.clause("mfc.ttl-zero-excluded")
def test_entry_whose_ttls_are_all_zero_forwards_nowhere_yet_is_an_entry(h):
    r = h.router(4, vifs=ALL_VIFS)
    s, g = h.src(4, 0), h.group(4)
    r.add_mfc(s, g, 0, ttls={})

    sent = h.send_marked(0, 4, s, g, n=2, ttl=255)

    h.expect_copies(sent, on=set(), context="TTL 255 packets, every mfcc_ttls slot 0: no outgoing vif")
    h.expect_no_upcall(r, "the (S,G) is installed (with an empty outgoing set), so no NOCACHE")


# -- mfc.ttl-decrement (and mfc6.ifset's hop limit - 1) --------------------------------------
@pytest.mark.parametrize("v", [
    pytest.param(4, id="4"),
    pytest.param(6, id="6", marks=pytest.mark.clause("mfc6.ifset")),
])
@pytest.mark.parametrize("ttl", [2, 64, 255])
@pytest.mark.parametrize("size", [0, 1200])
@pytest.mark.clause("mfc.ttl-decrement")
def test_forwarded_copy_is_the_packet_with_ttl_one_lower_and_a_valid_checksum(h, v, ttl, size):
    r = h.router(v, vifs=ALL_VIFS)
    s, g = h.src(v, 0), h.group(v)
    r.add_mfc(s, g, 0, ttls={2: 1})
    pkt = h.packet(v, s, g, ttl=ttl, size=size)
    sent = bytes(pkt)
    want = pkt.copy()
    if v == 4:
        want[IP].ttl = ttl - 1
        want[IP].chksum = None  # recomputed over the new header
    else:
        want[IPv6].hlim = ttl - 1
    want_bytes = bytes(want)

    h.send(0, pkt)

    got = h.expect_copies([pkt], on={2}, context=f"TTL {ttl} packet with an outgoing set of vif 2")
    frame = got[2][0]
    what = "TTL" if v == 4 else "hop limit"
    assert frame.ttl == ttl - 1, f"forwarded copy: {what} expected {ttl - 1} (received {ttl} - 1), got {frame.ttl}"
    assert frame.header_checksum_ok, "forwarded copy: IPv4 header checksum does not verify"
    out = ip_packet_of(frame)
    assert out == want_bytes, (
        f"forwarded copy differs from the received packet with {what} - 1 "
        f"({len(sent)} bytes in, {len(out)} out):\n{header_diff(v, want_bytes, out)}")
    assert frame.eth_dst == mapped_mac(g), f"forwarded copy: Ethernet destination expected {mapped_mac(g)} " \
                                           f"(the group's mapped MAC), got {frame.eth_dst}"


# -- mfc.rpf / mfc6.rpf ----------------------------------------------------------------------
@pytest.mark.parametrize("v", [
    pytest.param(4, id="4"),
    pytest.param(6, id="6", marks=pytest.mark.clause("mfc6.rpf")),
])
@pytest.mark.clause("mfc.rpf")
def test_arrival_on_a_vif_other_than_the_parent_is_not_forwarded_and_counts_as_wrong_if(h, v):
    r = h.router(v, vifs=ALL_VIFS)
    s, g = h.src(v, 0), h.group(v)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})

    on_oif = h.send_marked(1, v, s, g, n=2)  # vif 1 is an outgoing vif of the entry, not its parent
    on_other = h.send_marked(3, v, s, g)  # vif 3 is neither

    h.expect_copies(on_oif + on_other, on=set(),
                  context="packets of (S,G) arriving on vifs 1 and 3 while its parent is vif 0")
    wrong = r.sg_count(s, g)["wrong_if"]
    assert wrong == 3, f"SIOCGETSGCNT wrong_if after 3 arrivals on non-parent vifs: expected 3, got {wrong}"
    expect_no_nocache(r, "the (S,G) is installed")

    right = h.send_marked(0, v, s, g)
    h.expect_copies(right, on={1, 2}, context="the same (S,G) arriving on its parent vif 0")


# -- mfc.update ------------------------------------------------------------------------------
@BOTH_FAMILIES
@pytest.mark.clause("mfc.update")
def test_installing_an_existing_sg_again_replaces_its_parent_and_outgoing_set(h, v):
    r = h.router(v, vifs=ALL_VIFS)
    s, g = h.src(v, 0), h.group(v)
    r.add_mfc(s, g, 0, ttls={1: 1})
    before = h.send_marked(0, v, s, g)
    h.expect_copies(before, on={1}, context="first entry: parent vif 0, outgoing vif 1")

    r.add_mfc(s, g, 1, ttls={2: 1, 3: 1})

    on_old_parent = h.send_marked(0, v, s, g)
    h.expect_copies(on_old_parent, on=set(),
                  context="after re-adding (S,G) with parent vif 1: arrival on the old parent vif 0 "
                          "(an implementation keyed by (S,G,parent) would still forward it to vif 1)")
    on_new_parent = h.send_marked(1, v, s, g)
    h.expect_copies(on_new_parent, on={2, 3},
                  context="after re-adding (S,G) with parent vif 1 and outgoing vifs 2, 3: arrival on vif 1")
    expect_no_nocache(r, "the (S,G) stayed installed across the update")


@BOTH_FAMILIES
@pytest.mark.clause("mfc.update")
def test_installing_an_existing_sg_again_replaces_its_outgoing_set(h, v):
    r = h.router(v, vifs=ALL_VIFS)
    s, g = h.src(v, 0), h.group(v)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})

    r.add_mfc(s, g, 0, ttls={2: 1, 3: 1})

    sent = h.send_marked(0, v, s, g, n=2)
    h.expect_copies(sent, on={2, 3},
                  context="(S,G) re-added with outgoing vifs {2, 3} instead of {1, 2}: vif 1 must drop out")


# -- mfc.delete ------------------------------------------------------------------------------
@BOTH_FAMILIES
@pytest.mark.clause("mfc.delete")
def test_deleted_entry_stops_forwarding_and_its_next_packet_is_upcalled(h, v):
    r = h.router(v, vifs=ALL_VIFS)
    s, g, other = h.src(v, 0), h.group(v, 1), h.group(v, 2)
    r.add_mfc(s, g, 0, ttls={1: 1})
    r.add_mfc(s, other, 0, ttls={2: 1})
    h.expect_copies(h.send_marked(0, v, s, g), on={1}, context="(S,G) installed with outgoing vif 1")

    r.del_mfc(s, g)

    after = h.send_marked(0, v, s, g)
    h.expect_copies(after, on=set(), context="(S,G) after MRT_DEL_MFC")
    h.expect_upcall(r, "NOCACHE", 0, s, g)
    untouched = h.send_marked(0, v, s, other)
    h.expect_copies(untouched, on={2}, context="another group's entry, not deleted")


# -- mfc.delete-absent -----------------------------------------------------------------------
@BOTH_FAMILIES
@pytest.mark.clause("mfc.delete-absent")
def test_deleting_an_sg_that_is_not_installed_fails_and_changes_nothing(h, v):
    r = h.router(v, vifs=ALL_VIFS)
    s, g = h.src(v, 0), h.group(v, 1)
    r.add_mfc(s, g, 0, ttls={1: 1})
    path = del_absent_path(v)

    with h.raises(path, "MRT_DEL_MFC of a group never installed"):
        r.del_mfc(s, h.group(v, 2))
    with h.raises(path, "MRT_DEL_MFC of a source never installed"):
        r.del_mfc(h.src(v, 0, 1), g)

    h.expect_copies(h.send_marked(0, v, s, g), on={1}, context="(S,G) after failed deletions of other entries")
    r.del_mfc(s, g)
    with h.raises(path, "MRT_DEL_MFC of an (S,G) already deleted"):
        r.del_mfc(s, g)


# -- mfc.vif-added-later ---------------------------------------------------------------------
@pytest.mark.clause("mfc.vif-added-later")
def test_ipv6_ifset_bits_for_mifs_added_later_follow_the_profile(h):
    """Implementation-defined: FreeBSD stores the whole ifset (a later mif is used), Linux drops it."""
    r = h.router(6, vifs=(0, 1))
    s, g = h.src(6, 0), h.group(6)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})
    r.add_vif(2)

    sent = h.send_marked(0, 6, s, g)

    kept = h.profile.mfc6_ifset_kept_for == "all"
    h.expect_copies(sent, on={1, 2} if kept else {1},
                    context=f"ifset {{1, 2}} installed while only mifs 0, 1 existed, mif 2 added later: "
                            f"profile {h.profile.name!r} {'keeps' if kept else 'drops'} bit 2 "
                            f"(mfc6_ifset_kept_for={h.profile.mfc6_ifset_kept_for!r})")


@pytest.mark.clause("mfc.vif-added-later")
def test_ttls_naming_vifs_added_after_the_entry_are_dropped_until_it_is_reinstalled(h):
    r = h.router(4, vifs=(0, 1))
    s, g = h.src(4, 0), h.group(4)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1, 3: 1})
    r.add_vifs(2, 3)

    sent = h.send_marked(0, 4, s, g)
    h.expect_copies(sent, on={1},
                  context="entry installed with ttls for vifs 1, 2, 3 while only vifs 0, 1 existed; "
                          "vifs 2, 3 added afterwards")

    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1, 3: 1})
    again = h.send_marked(0, 4, s, g)
    h.expect_copies(again, on={1, 2, 3}, context="the same entry re-added after vifs 2, 3 exist")


@pytest.mark.clause("mfc.vif-added-later")
def test_ttl_naming_a_hole_in_the_vif_table_follows_the_profile(h):
    """Implementation-defined: a slot below numvifs is kept (FreeBSD) or dropped (Linux)."""
    r = h.router(4, vifs=(0, 2))
    s, g = h.src(4, 0), h.group(4)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})
    r.add_vif(1)

    sent = h.send_marked(0, 4, s, g)

    kept = h.profile.mfc_ttls_kept_for == "below-numvifs"
    h.expect_copies(sent, on={1, 2} if kept else {2},
                  context=f"ttl for vif 1 given while vif 1 was a hole below vif 2, vif 1 added later: "
                          f"profile {h.profile.name!r} {'keeps' if kept else 'drops'} it "
                          f"(mfc_ttls_kept_for={h.profile.mfc_ttls_kept_for!r})")


# -- mfc.exact-match -------------------------------------------------------------------------
@BOTH_FAMILIES
@pytest.mark.clause("mfc.exact-match")
def test_lookup_matches_source_and_group_exactly(h, v):
    r = h.router(v, vifs=ALL_VIFS)
    s, g = h.src(v, 0, 0), h.group(v, 1)
    near_s, near_g = h.src(v, 0, 1), h.group(v, 3)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})

    near_misses = h.send_marked(0, v, near_s, g) + h.send_marked(0, v, s, near_g)

    h.expect_copies(near_misses, on=set(),
                  context=f"entry ({s}, {g}) installed; packets ({near_s}, {g}) and ({s}, {near_g})")
    got = [(u.kind, u.vif, u.src, u.dst) for u in r.upcalls()]
    want = [("NOCACHE", 0, near_s, g), ("NOCACHE", 0, s, near_g)]
    assert got == want, f"near-miss (S,G)s must each be unknown: expected upcalls {want}, got {got}"
    exact = h.send_marked(0, v, s, g)
    h.expect_copies(exact, on={1, 2}, context=f"the installed ({s}, {g}) itself")


@BOTH_FAMILIES
@pytest.mark.clause("mfc.exact-match")
def test_an_entry_for_the_unspecified_source_is_not_a_wildcard(h, v):
    """The MFC is keyed by the packet's (S,G): an entry whose origin is 0.0.0.0 / :: is just that
    origin's entry, never a (*,G) matching every source (the ttls include the arrival vif, which is
    what a (*,G) entry would need to match). Linux is the exception, as a profile fact
    (``mfc_lookup = "star-g"``): there the entry *is* a (*,G) entry (ipmr.c ipmr_cache_find_any),
    the packet arriving on its parent leaves on the other oifs with no NOCACHE; the Linux extension
    clauses linuxext.star-g-* test that in detail."""
    r = h.router(v, vifs=ALL_VIFS)
    unspecified = "0.0.0.0" if v == 4 else "::"
    s, g = h.src(v, 0), h.group(v, 7)
    r.add_mfc(unspecified, g, 0, ttls={0: 1, 1: 1, 2: 1})

    sent = h.send_marked(0, v, s, g)

    context = f"only ({unspecified}, {g}) installed; packet ({s}, {g})"
    if h.profile.mfc_lookup == "star-g":
        h.expect_copies(sent, on={1, 2}, context=f"{context}, profile {h.profile.name!r}: a (*,G) entry")
        expect_no_nocache(r, f"profile {h.profile.name!r}: ({unspecified}, {g}) is a (*,G) entry")
        return
    h.expect_copies(sent, on=set(), context=context)
    h.expect_upcalls(r, [("NOCACHE", 0, s, g)],
                     context=f"({s}, {g}) has no entry of its own: ({unspecified}, {g}) must not match it")


# -- mfc6.ifset ------------------------------------------------------------------------------
@pytest.mark.parametrize("hop_limit", [2, 3, 255])
@pytest.mark.clause("mfc6.ifset")
def test_v6_copies_leave_on_every_mif_of_the_ifset_with_hop_limit_one_lower(h, hop_limit):
    """No per-mif threshold: the lowest forwardable hop limit (2) reaches every mif of the set."""
    r = h.router(6, vifs=ALL_VIFS)
    s, g = h.src(6, 0), h.group(6)
    r.add_mfc(s, g, 0, ttls={1: 1, 3: 1})

    sent = h.send_marked(0, 6, s, g, n=2, ttl=hop_limit)

    got = h.expect_copies(sent, on={1, 3}, context=f"hop limit {hop_limit} packets, mf6cc_ifset {{1, 3}}")
    for mif in (1, 3):
        assert forwarded_ttls(got[mif]) == [hop_limit - 1] * 2, (
            f"copies on mif {mif}: hop limit expected {hop_limit - 1}, got {forwarded_ttls(got[mif])}")


# -- mfc6.hoplimit ---------------------------------------------------------------------------
@pytest.mark.parametrize("hop_limit", [0, 1])
@pytest.mark.clause("mfc6.hoplimit")
def test_v6_packet_with_hop_limit_at_most_1_is_never_forwarded(h, hop_limit):
    r = h.router(6, vifs=ALL_VIFS)
    s, g = h.src(6, 0), h.group(6)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1, 3: 1})

    sent = h.send_marked(0, 6, s, g, n=2, ttl=hop_limit)

    h.expect_copies(sent, on=set(), context=f"hop limit {hop_limit} packets of an installed (S,G)")
    h.expect_no_upcall(r, "the (S,G) is installed")
    control = h.send_marked(0, 6, s, g, ttl=2)
    h.expect_copies(control, on={1, 2, 3}, context="the same (S,G) with hop limit 2")


# -- mfc.ttl-zero-excluded / mfc.ttl-threshold: property -----------------------------------------
@pytest.mark.clause("mfc.ttl-zero-excluded", "mfc.ttl-threshold")
def test_ttl_rule_property_any_thresholds_and_ttl(h):
    """For any ttls on vifs 1-3 and any packet TTL: a copy leaves vif i iff ttls[i] > 0 and
    TTL > ttls[i] (and, where the profile applies it, TTL >= the vif's threshold of 1)."""
    r = h.router(4, vifs=ALL_VIFS)
    groups = itertools.count(100)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ttls=st.fixed_dictionaries({v: st.sampled_from([0, 1, 2, 254, 255]) | st.integers(0, 255)
                                       for v in (1, 2, 3)}),
           ttl=st.sampled_from([1, 2, 3, 255]) | st.integers(1, 255))
    @example(ttls={1: 0, 2: 1, 3: 255}, ttl=255)
    @example(ttls={1: 2, 2: 3, 3: 4}, ttl=3)
    def check(ttls: dict[int, int], ttl: int) -> None:
        s, g = h.src(4, 0), h.group(4, next(groups))
        r.add_mfc(s, g, 0, ttls=ttls)
        sent = h.send_marked(0, 4, s, g, ttl=ttl)
        on = {v for v, t in ttls.items() if t > 0 and ttl > t}
        h.expect_copies(sent, on=on, context=f"TTL {ttl} packet, mfcc_ttls {ttls}: copies only on vifs {sorted(on)}")
        h.expect_no_upcall(r, "the (S,G) is installed")

    check()


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("mfc.add-forward")
def test_an_entry_for_a_unicast_group_or_a_parent_past_maxvifs_follows_the_profile(h, v):
    """Linux ipmr_mfc_add / ip6mr_mfc_add refuse a new entry whose group is neither multicast nor
    unspecified (EINVAL) and a parent at or above MAXVIFS / MAXMIFS (ENFILE); the BSDs check
    neither (the entry is stored and never matches)."""
    r = h.router(v, vifs=(0, 1))
    src = h.src(v, 0, 60)
    unicast = "198.51.100.60" if v == 4 else "2001:db8:ffff::60"
    top = h.profile.maxvifs if v == 4 else h.profile.maxmifs
    with h.raises("mfc.bad_group", f"MRT_ADD_MFC ({src}, {unicast}): a unicast group"):
        r.add_mfc(src, unicast, 0, {1: 1})
    with h.raises("mfc.parent_range", f"MRT_ADD_MFC with parent {top} (MAXVIFS)"):
        r.add_mfc(src, h.group(v, 60), top, {1: 1})
    if h.profile.errno_of("mfc.parent_range") is None:  # stored: its packets fail RPF (ip_mdq: vifi >= numvifs)
        stray = h.send_marked(0, v, src, h.group(v, 60))
        h.expect_copies(stray, on=set(), context=f"an entry whose parent {top} is past every vif")
    grp = h.group(v, 61)
    r.add_mfc(src, grp, 0, {1: 1})  # the router is unharmed
    sent = h.send_marked(0, v, src, grp)
    h.expect_copies(sent, on={1}, context=f"({src}, {grp}) after the odd entries")
