"""Implementation-defined router state and data-path facts, each read from the profile.

MRT_ASSERT values other than 0/1 (FreeBSD ignores them, Linux stores !!v); whether MRT_DONE or
close resets assert/PIM (FreeBSD) or the table keeps them (Linux); WRONGVIF for an entry whose
parent vif does not exist; IPv4 packets from an interface with no vif (Linux never routes them,
FreeBSD counts their RPF failure); the counters of a deleted vif.
"""

from __future__ import annotations

import contextlib

import pytest
from scapy.layers.igmp import IGMP
from scapy.layers.inet import IP

from conformance.harness.routing import RoutingSocket
from conformance.suite.test_socket import IGMPV2_REPORT


def switch_off(r: RoutingSocket) -> None:
    """Linux keeps PIM and assert in the table across MRT_DONE and close: leave them off."""
    for role in ("pim", "assert"):
        with contextlib.suppress(OSError, LookupError):
            r.set_int(role, 0)


def assert_role(h, v: int) -> str:
    """The option that switches assert processing: MRT_ASSERT, or MRT6_PIM where IPv6 has no MRT6_ASSERT."""
    opts = h.profile.options4 if v == 4 else h.profile.options6
    return "assert" if ("MRT_ASSERT" if v == 4 else "MRT6_ASSERT") in opts else "pim"


@pytest.mark.parametrize("how", ["MRT_DONE", "close"])
@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("init.done")
def test_assert_after_done_or_close_is_reset_or_kept_as_the_profile_says(h, v, how, request):
    role = assert_role(h, v)
    r = h.router(v, vifs=(0,))
    request.addfinalizer(lambda: switch_off(h.router(v)))
    r.set_int(role, 1)
    assert r.get_int(role) == 1, f"{role} read back after setting 1: got {r.get_int(role)}"

    r.done() if how == "MRT_DONE" else r.close()

    r2 = h.router(v)
    want = 0 if h.profile.done_resets_assert else 1
    got = r2.get_int(role)
    r2.close()
    assert got == want, (f"{role} read by a new router after {how}: expected {want} (profile "
                         f"{h.profile.name!r} {'resets' if want == 0 else 'keeps'} it), got {got}")


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("init.pim")
def test_assert_values_other_than_0_and_1_follow_the_profile(h, v, request):
    """FreeBSD set_assert refuses them but its error is ignored (no effect); Linux stores !!v."""
    policy = h.profile.assert_value
    r = h.router(v, vifs=(0,))
    request.addfinalizer(lambda: switch_off(r))
    if assert_role(h, v) == "pim":  # FreeBSD IPv6: no MRT6_ASSERT; set_pim6 refuses values but 0 and 1
        for before in (1, 0):
            r.set_pim(before)
            with h.raises("mif6.pim_bad_value", "MRT6_PIM 2"):
                r.set_pim(2)
            assert r.get_int("pim") == before, f"MRT6_PIM read back after {before}, then a refused 2"
        return

    for before in (1, 0):
        r.set_assert(before)
        if policy == "0-1-strict":
            with h.raises("assert.bad_value", "MRT_ASSERT 2"):
                r.set_assert(2)
        else:
            r.set_assert(2)
        want = 1 if policy == "bool" else before
        got = r.get_int("assert")
        assert got == want, (f"assert read back after setting {before}, then 2: expected {want} "
                             f"(profile policy {policy!r}), got {got}")


@pytest.mark.clause("wrongvif.upcall")
def test_wrongvif_for_an_entry_whose_parent_vif_does_not_exist_follows_the_profile(h):
    """FreeBSD sends no WRONGVIF when the parent is no configured vif (§4.5 condition 3); Linux
    ip_mr_forward does not check it, so an arrival on an oif is asserted."""
    r = h.router(4, vifs=(0, 1, 2), assert_=True)
    s, g = h.src(4, 0), h.group(4)
    r.add_mfc(s, g, 3, {0: 1, 1: 1})  # parent vif 3 was never added

    sent = h.send_marked(0, 4, s, g)

    h.expect_copies(sent, on=set(), context="a packet failing RPF (the parent vif 3 does not exist)")
    if h.profile.wrongvif_requires_parent:
        h.expect_no_upcall(r, f"profile {h.profile.name!r}: no WRONGVIF when the entry's parent is no vif")
    else:
        h.expect_upcall(r, "WRONGVIF", 0, s, g)
    assert r.sg_count(s, g)["wrong_if"] == 1, f"wrong_if after one RPF failure: {r.sg_count(s, g)}"


@pytest.mark.clause("mfc.rpf")
def test_a_v4_packet_from_an_interface_with_no_vif_meets_the_entry_as_the_profile_says(h):
    """Linux routes only on interfaces with a vif (mc_forwarding): the packet never reaches the
    cache; FreeBSD's ip_mforward sees it, and its RPF check fails (wrong_if counts it)."""
    r = h.router(4, vifs=(0, 1), assert_=True)
    s, g = h.src(4, 2), h.group(4)
    r.add_mfc(s, g, 0, {1: 1})

    sent = h.send_marked(2, 4, s, g)

    h.expect_copies(sent, on=set(), context="a packet arriving on port 2, which has no vif")
    h.expect_no_upcall(r, "an arrival interface with no vif gets no WRONGVIF")
    want = 0 if h.profile.v4_arrival_needs_vif else 1
    got = r.sg_count(s, g)
    assert (got["pktcnt"], got["wrong_if"]) == (0, want), (
        f"SIOCGETSGCNT after one packet from port 2 (no vif): expected pktcnt 0, wrong_if {want} (profile "
        f"{h.profile.name!r}: v4_arrival_needs_vif={h.profile.v4_arrival_needs_vif}), got {got}")


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("counters.vif")),
    pytest.param(6, marks=pytest.mark.clause("counters.v6-mif")),
])
def test_counters_of_a_deleted_vif_below_the_highest_follow_the_profile(h, v):
    """Linux: EADDRNOTAVAIL for a hole. FreeBSD returns zeros in LEGACY but MODERN locks a destroyed
    mutex there (docs/spec/freebsd.md §3.11, digest L522): the hole is asked only where the profile
    says "errno"; deleting the highest vif shrinks the range everywhere."""
    r = h.router(v, vifs=(0, 1, 2, 3))
    r.del_vif(3)  # the highest: the table shrinks, index 3 is out of range again
    r.del_vif(1)  # a hole below the highest

    with h.raises("counters.vif_range" if v == 4 else "counters.mif_range", "SIOCGETVIFCNT of deleted top vif 3"):
        r.vif_count(3)
    if h.profile.vif_hole_counters == "errno":
        with h.raises("counters.vif_hole", "SIOCGETVIFCNT of deleted vif 1 (vifs 0 and 2 remain)"):
            r.vif_count(1)
    assert r.vif_count(2)["icount"] == 0


@pytest.mark.clause("socket.igmp-io")
def test_igmp_to_a_routable_group_with_an_entry_is_forwarded_or_kept_as_the_profile_says(h):
    """Linux ip_mr_input hands IGMP without Router Alert to the routing socket and stops there;
    FreeBSD's ip_input passes every multicast packet to ip_mforward first, IGMP included."""
    r = h.router(4, vifs=(0, 1))
    host, group = h.src(4, 1, 0), h.group(4, 7)
    r.add_mfc(host, group, 1, {0: 1})

    h.send(1, IP(src=host, dst=group, ttl=64) / IGMP(type=IGMPV2_REPORT, gaddr=group))

    copies = [f for f in h.frames(0) if f.pkt.haslayer(IGMP) and f.pkt[IGMP].gaddr == group]
    routed = not h.profile.group_management_not_routed
    assert len(copies) == (1 if routed else 0), (
        f"IGMPv2 report (TTL 64, no Router Alert) from {host} to {group}, entry parent vif 1 -> vif 0: "
        f"expected {'one copy' if routed else 'no copy'} on port 0 (profile {h.profile.name!r} "
        f"{'routes' if routed else 'never routes'} group management), got {len(copies)}")
    got = r.sg_count(host, group)["pktcnt"]
    assert got == (1 if routed else 0), f"SIOCGETSGCNT pktcnt of ({host}, {group}): got {got}"


@pytest.mark.clause("mfc6.ifset")
def test_ipv6_ifset_bits_of_a_mif_hole_follow_the_profile(h):
    """Bits of mif 1 (a hole below nummifs) and mif 3 (past it) at MRT6_ADD_MFC, both added later:
    FreeBSD stores the whole ifset; Linux ip6mr_update_thresholds keeps existing mifs only."""
    r = h.router(6, vifs=(0, 2))
    s, g = h.src(6, 0), h.group(6)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1, 3: 1})
    r.add_vifs(1, 3)

    sent = h.send_marked(0, 6, s, g)

    rule = h.profile.mfc6_ifset_kept_for
    want = {2} | ({1} if rule in ("below-numvifs", "all") else set()) | ({3} if rule == "all" else set())
    h.expect_copies(sent, on=want, context=f"ifset {{1, 2, 3}} installed with mifs 0, 2; mifs 1 and 3 added "
                                           f"later (mfc6_ifset_kept_for={rule!r})")
