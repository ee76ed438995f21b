"""vif.* and mif.*: adding, validating and deleting IPv4 vifs and IPv6 mifs.

A vif is observed through what it does: the vif number a NOCACHE upcall names for a packet
arriving on its wire, the wire a forwarded copy leaves on, and its SIOCGETVIFCNT counters.
"""

from __future__ import annotations

import pytest

from conformance.harness.packets import marker_of
from conformance.harness.routing import RoutingSocket
from mroute_spec.constants import VIFF_SRCRT, VIFF_TUNNEL
from reference_impl.profiles import Profile

ZERO_COUNTS = {"icount": 0, "ocount": 0, "ibytes": 0, "obytes": 0}


def path(v: int, what: str) -> str:
    """The profile's failure path for a vif (IPv4) or mif (IPv6) operation."""
    return f"{'vif' if v == 4 else 'mif'}.{what}"


def maxvifs(h, v: int) -> int:
    return h.profile.maxvifs if v == 4 else h.profile.maxmifs


def expect_arrival_vif(h, r: RoutingSocket, v: int, port: int, vif: int, n: int) -> None:
    """A packet of a fresh (S,G) arriving on ``port`` is upcalled as arriving on ``vif``."""
    src, grp = h.src(v, port, n), h.group(v, n)
    h.send(port, h.packet(v, src, grp))
    h.expect_upcall(r, "NOCACHE", vif, src, grp)


def forwarded_on(h, v: int, port: int, src: str, grp: str, ttl: int = 64) -> dict[int, list[bytes | None]]:
    """Send one packet on ``port``; per port, the copies of that packet the router sent."""
    pkt = h.packet(v, src, grp, ttl=ttl)
    h.send(port, pkt)
    seen = {p: [marker_of(f.payload) for f in frames] for p, frames in h.all_frames().items()}
    mark = marker_of(bytes(pkt))
    return {p: [m for m in marks if m == mark] for p, marks in seen.items()}


def expect_copies(got: dict[int, list[bytes | None]], ports: set[int], what: str) -> None:
    """Exactly one copy on each port of ``ports`` and none elsewhere."""
    on = {p for p, marks in got.items() if marks}
    dup = {p: len(m) for p, m in got.items() if len(m) > 1}
    assert on == ports and not dup, (
        f"{what}: expected one copy on ports {sorted(ports)}, got copies on {sorted(on)}"
        + (f" (duplicates: {dup})" if dup else ""))


def expect_zero_counts(r: RoutingSocket, vif: int) -> None:
    got = r.vif_count(vif)
    diff = {k: got.get(k) for k in ZERO_COUNTS if got.get(k) != 0}
    assert not diff, f"counters of the new vif {vif}: expected all 0, got {diff}"


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("vif.add")),
    pytest.param(6, marks=pytest.mark.clause("mif.add")),
])
def test_add_binds_each_index_to_its_interface_with_counters_at_zero(h, v):
    r = h.router(v)

    r.add_vif(0, 0)
    r.add_vif(1, 2)  # crossed on purpose: the index is not the port number
    r.add_vif(2, 1)

    for vif in (0, 1, 2):
        expect_zero_counts(r, vif)
    expect_arrival_vif(h, r, v, port=2, vif=1, n=1)
    src, grp = h.src(v, 2, 2), h.group(v, 2)
    r.add_mfc(src, grp, 1, {2: 1})
    expect_copies(forwarded_on(h, v, 2, src, grp), {1}, "parent vif 1 (port 2) to vif 2 (port 1)")


@pytest.mark.parametrize("threshold", [10, 200])
@pytest.mark.clause("vif.threshold")
def test_vif_threshold_applies_on_forwarding_as_the_profile_says(h, threshold):
    applies = h.profile.vif_threshold_applies
    r = h.router(4, vifs=(0,))
    r.add_vif(1, threshold=threshold)
    src, grp = h.src(4, 0, 1), h.group(4, 1)
    r.add_mfc(src, grp, 0, {1: 1})

    for ttl in (threshold - 1, threshold, threshold + 1):
        expected = {1} if not applies or ttl >= threshold else set()
        expect_copies(forwarded_on(h, 4, 0, src, grp, ttl=ttl), expected,
                      f"TTL {ttl} through a vif with threshold {threshold} (mfcc_ttls 1; profile: the vif "
                      f"threshold {'applies' if applies else 'is ignored'})")


@pytest.mark.clause("vif.threshold")
def test_a_vif_threshold_that_excludes_one_vif_leaves_the_later_vifs_alone(h):
    """Each vif is judged on its own: vif 1's threshold above the packet's TTL drops only vif 1's
    copy (where thresholds apply), never the copy for vif 2 after it."""
    applies = h.profile.vif_threshold_applies
    r = h.router(4, vifs=(0,))
    r.add_vif(1, threshold=100)
    r.add_vif(2, threshold=1)
    src, grp = h.src(4, 0, 2), h.group(4, 2)
    r.add_mfc(src, grp, 0, {1: 1, 2: 1})
    expect_copies(forwarded_on(h, 4, 0, src, grp, ttl=64), {2} if applies else {1, 2},
                  f"TTL 64 through vif 1 (threshold 100) and vif 2 (threshold 1); profile: the vif "
                  f"threshold {'applies' if applies else 'is ignored'}")


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("vif.unique-index")),
    pytest.param(6, marks=pytest.mark.clause("mif.unique-index")),
])
def test_adding_an_index_in_use_fails_and_keeps_the_first_binding(h, v):
    r = h.router(v, vifs=(0, 1))

    # port 3 is never used again: FreeBSD frees the named interface on this failure path
    with h.raises(path(v, "in_use"), "add index 1 again, bound to port 3"):
        r.add_vif(1, 3)

    expect_arrival_vif(h, r, v, port=1, vif=1, n=1)
    src, grp = h.src(v, 0, 2), h.group(v, 2)
    r.add_mfc(src, grp, 0, {1: 1})
    expect_copies(forwarded_on(h, v, 0, src, grp), {1}, "vif 1 after the refused re-add")


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("vif.index-range")),
    pytest.param(6, marks=pytest.mark.clause("mif.index-range")),
])
def test_an_index_past_maxvifs_is_refused_and_the_last_index_works(h, v):
    top = maxvifs(h, v)
    r = h.router(v)

    for index in (top, top + 1, 0xFFFF):
        with h.raises(path(v, "index_range"), f"index {index} (the limit is {top})"):
            r.add_vif(index, 1)

    r.add_vif(0, 0)  # the refused indices did not land in slot 0 (or any slot) modulo the table size
    r.add_vif(top - 1, 1)
    expect_arrival_vif(h, r, v, port=1, vif=top - 1, n=1)
    expect_arrival_vif(h, r, v, port=0, vif=0, n=2)
    src, grp = h.src(v, 0, 3), h.group(v, 3)  # the last slot forwards too (BSD's numvifs counts it)
    r.add_mfc(src, grp, 0, {top - 1: 1})
    expect_copies(forwarded_on(h, v, 0, src, grp), {1}, f"{path(v, 'index_range')[:3]} {top - 1}, the last slot")


@pytest.mark.clause("vif.tunnel")
def test_tunnel_vif_is_handled_as_the_profile_says(h):
    r = h.router(4, vifs=(0,))

    with h.raises("vif.tunnel", "VIFF_TUNNEL"):
        r.add_vif(1, flags=VIFF_TUNNEL)

    if h.profile.errno_of("vif.tunnel") is not None:
        r.add_vif(1)  # the refusal left the slot free
        expect_arrival_vif(h, r, 4, port=1, vif=1, n=1)


def srcrt_tunnel_refusal(profile: Profile) -> str | None:
    """The errno path of the first of the profile's add-vif checks that refuses VIFF_TUNNEL|VIFF_SRCRT
    on a free slot with an owned address (FreeBSD: tunnel; Linux: flags; NetBSD: srcrt_tunnel)."""
    flags = VIFF_TUNNEL | VIFF_SRCRT
    for check in profile.add_vif_checks:
        if check == "flags" and profile.vif_flags_allowed is not None and flags not in profile.vif_flags_allowed:
            return "vif.bad_flags"
        if check in ("tunnel", "srcrt_tunnel"):
            return f"vif.{check}"
    return None


@pytest.mark.clause("vif.tunnel")
def test_a_source_routed_tunnel_vif_is_refused_by_the_check_the_profile_runs_first(h):
    """Source-routed tunnels are gone everywhere; which check refuses them (and its errno) differs."""
    r = h.router(4, vifs=(0,))
    refusal = srcrt_tunnel_refusal(h.profile) or "vif.srcrt_tunnel"

    with h.raises(refusal, "VIFF_TUNNEL|VIFF_SRCRT"):
        r.add_vif(1, flags=VIFF_TUNNEL | VIFF_SRCRT)

    if h.profile.errno_of(refusal) is not None:
        r.add_vif(1)  # the refusal left the slot free
        expect_arrival_vif(h, r, 4, port=1, vif=1, n=1)


@pytest.mark.clause("vif.rate-limit")
def test_nonzero_rate_limit_is_refused_or_ignored_as_the_profile_says(h):
    r = h.router(4, vifs=(0,))
    refused = h.profile.errno_of("vif.rate_limit") is not None

    with h.raises("vif.rate_limit", "vifc_rate_limit 1000"):
        r.add_vif(1, rate_limit=1000)

    if refused:
        r.add_vif(1)  # the refusal left the slot free
    expect_arrival_vif(h, r, 4, port=1, vif=1, n=1)
    src, grp = h.src(4, 0, 2), h.group(4, 2)
    r.add_mfc(src, grp, 0, {1: 1})
    expect_copies(forwarded_on(h, 4, 0, src, grp), {1}, "through the vif (its rate limit ignored)")


@pytest.mark.parametrize("address", ["unowned", "peer", "any"])
@pytest.mark.clause("vif.unknown-address")
def test_a_local_address_no_interface_owns_is_refused(h, address):
    lcl = {"unowned": "192.0.2.99", "peer": h.port(1).peer_ipv4, "any": "0.0.0.0"}[address]
    r = h.router(4, vifs=(0,))

    with h.raises("vif.bad_address", f"vifc_lcl_addr {lcl} ({address})"):
        r.add_vif(1, lcl_addr=lcl)

    r.add_vif(1)  # the refusal left the slot free
    expect_arrival_vif(h, r, 4, port=1, vif=1, n=1)


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("vif.delete")),
    pytest.param(6, marks=pytest.mark.clause("mif.delete")),
])
def test_deleted_vif_no_longer_forwards(h, v):
    r = h.router(v, vifs=(0, 1, 2))
    src, grp = h.src(v, 0, 1), h.group(v, 1)
    r.add_mfc(src, grp, 0, {1: 1, 2: 1})
    expect_copies(forwarded_on(h, v, 0, src, grp), {1, 2}, "before the delete")

    r.del_vif(2)

    expect_copies(forwarded_on(h, v, 0, src, grp), {1}, "after deleting vif 2")


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("vif.delete")),
    pytest.param(6, marks=pytest.mark.clause("mif.delete")),
])
def test_deleting_an_absent_vif_fails_and_a_deleted_index_can_be_added_again(h, v):
    r = h.router(v, vifs=(0, 1, 2))
    r.del_vif(1)
    past_top = "del_range" if h.profile.del_vif_range == "numvifs" else "del_absent"

    with h.raises(path(v, "del_absent"), "delete vif 1 a second time"):
        r.del_vif(1)
    with h.raises(path(v, past_top), "delete index 5, above the highest vif"):
        r.del_vif(5)
    with h.raises(path(v, "del_range"), f"delete index {maxvifs(h, v)}"):
        r.del_vif(maxvifs(h, v))

    r.add_vif(1)
    expect_arrival_vif(h, r, v, port=1, vif=1, n=1)


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("vif.delete")),
    pytest.param(6, marks=pytest.mark.clause("mif.delete")),
])
def test_deleting_index_65535_fails_and_leaves_the_top_vif_alone(h, v):
    """vifi_t / mifi_t are unsigned 16-bit: 65535 is far above every limit (FreeBSD del_vif: vifi >=
    numvifs, EINVAL; Linux vif_delete: vifi >= maxvif, EADDRNOTAVAIL), never index -1 (the top slot)."""
    top = maxvifs(h, v) - 1
    r = h.router(v, vifs=(0,))
    r.add_vif(top, 1)

    with h.raises(path(v, "del_range"), "delete index 65535"):
        r.del_vif(0xFFFF)

    expect_arrival_vif(h, r, v, port=1, vif=top, n=1)


@pytest.mark.clause("vif.register")
def test_a_register_vif_can_be_added_and_receives_copies_as_wholepkt_upcalls(h):
    r = h.router(4, vifs=(0,))

    r.add_vif(3, register=True)

    expect_zero_counts(r, 3)
    src, grp = h.src(4, 0, 1), h.group(4, 1)
    r.add_mfc(src, grp, 0, {3: 1})
    expect_copies(forwarded_on(h, 4, 0, src, grp), set(), "to the register vif (no wire)")
    h.expect_upcall(r, "WHOLEPKT", 3, src, grp)
    assert r.vif_count(3)["ocount"] == 1, f"register vif ocount: expected 1, got {r.vif_count(3)['ocount']}"


@pytest.mark.parametrize("pifi", ["zero", "unknown"])
@pytest.mark.clause("mif.bad-pifi")
def test_a_mif_naming_no_interface_is_refused(h, pifi):
    ifindexes = {p.ifindex for p in h.target.ports}
    bad = 0 if pifi == "zero" else 0xFFFE
    assert bad not in ifindexes
    r = h.router(6, vifs=(0,))

    with h.raises("mif.bad_pifi", f"mif6c_pifi {bad}"):
        r.add_vif(1, pifi=bad)

    r.add_vif(1)  # the refusal left the slot free
    expect_arrival_vif(h, r, 6, port=1, vif=1, n=1)
