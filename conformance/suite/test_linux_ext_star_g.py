"""linuxext.star-g-* / star-star / mfc-proxy: Linux (*,G) and (*,*) entries and MRT_*_MFC_PROXY.

Written from the kernel source (docs/spec/linux.md §"Linux extensions"): ip_mr_input / ip6_mr_input
look up (S,G) first, then, when the packet arrived on a vif, ipmr_cache_find_any: a (*,G) entry
(origin 0.0.0.0 / ::) whose oif list holds the arrival vif, or whose parent's (*,*) entry does
(ipmr_base.c mr_mfc_find_any), else a (*,*) entry (origin and group unspecified) holding it
(mr_mfc_find_any_parent). ip_mr_forward then skips the arrival vif for (*,G) and sends a (*,*)
packet upstream only. On a target without these extensions every test ends ``unsupported``.
"""

from __future__ import annotations

import errno

import pytest

from conformance.suite.linux_ext import expect_errno, flush, proxy, require_proxy
from mroute_spec.constants import MRT_FLUSH_MFC

ALL_VIFS = (0, 1, 2, 3)
BOTH_FAMILIES = pytest.mark.parametrize("v", [4, 6])


def any_addr(v: int) -> str:
    return "0.0.0.0" if v == 4 else "::"


def router(h, v: int):
    r = h.router(v, vifs=ALL_VIFS)
    require_proxy(h, r)
    return r


def no_nocache(r, why: str) -> None:
    got = [u.describe() for u in r.upcalls() if u.kind == "NOCACHE"]
    assert not got, f"expected no NOCACHE upcall ({why}), got {got}"


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.star-g-forward")
def test_star_g_forwards_every_source_to_its_oifs_but_the_arrival_vif(h, v):
    """A (*,G) entry with parent 0 and vifs 0, 1, 2 as oifs: a packet of any source arriving on the
    parent leaves on vifs 1 and 2, never back on the arrival vif, and no NOCACHE is sent. Arriving
    on oif 1 it matches too, but fails ip_mr_forward's iif check (no (*,*) entry): not forwarded."""
    r = router(h, v)
    g = h.group(v, 20)
    r.add_mfc(any_addr(v), g, 0, ttls={0: 1, 1: 1, 2: 1})

    for n in range(2):
        sent = h.send_marked(0, v, h.src(v, 0, 3 + n), g)
        h.expect_copies(sent, on={1, 2}, context=f"(*,{g}) parent 0 oifs {{0, 1, 2}}, packet in on vif 0")
    wrong = h.send_marked(1, v, h.src(v, 1, 3), g)
    h.expect_copies(wrong, on=set(), context=f"(*,{g}) parent 0, packet in on oif 1 (wrong iif)")
    no_nocache(r, f"(*,{g}) matches every source arriving on one of its oifs")


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.star-g-arrival")
def test_star_g_does_not_match_a_packet_from_outside_its_oif_list(h, v):
    """mr_mfc_find_any matches a (*,G) entry only if the arrival vif is one of its oifs: arrival on
    its parent vif 0 (not an oif) or on vif 3 leaves the packet unresolved (NOCACHE)."""
    r = router(h, v)
    g = h.group(v, 21)
    r.add_mfc(any_addr(v), g, 0, ttls={1: 1, 2: 1})

    for port in (0, 3):
        s = h.src(v, port, 4)
        sent = h.send_marked(port, v, s, g)
        h.expect_copies(sent, on=set(), context=f"(*,{g}) oifs {{1, 2}}, packet in on vif {port}")
        h.expect_upcalls(r, [("NOCACHE", port, s, g)], context=f"({s}, {g}) in on vif {port}: no usable entry")


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.star-g-arrival")
def test_star_g_matches_arrival_in_the_static_tree_of_its_parent(h, v):
    """A (*,*) entry with the (*,G) entry's parent (vif 0) and vif 3 as oifs puts vif 3 in the
    "static tree": a packet arriving on vif 3 now uses the (*,G) entry (oifs 1, 2)."""
    r = router(h, v)
    a, g = any_addr(v), h.group(v, 22)
    r.add_mfc(a, g, 0, ttls={1: 1, 2: 1})
    proxy(r, True, a, a, 0, ttls={0: 1, 3: 1})

    sent = h.send_marked(3, v, h.src(v, 3, 5), g)
    h.expect_copies(sent, on={1, 2}, context=f"(*,{g}) oifs {{1, 2}} parent 0; (*,*) parent 0 oifs {{0, 3}}; in on 3")
    no_nocache(r, "the (*,G) entry matched through the (*,*) entry of its parent")


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.star-g-precedence")
def test_an_sg_entry_takes_precedence_over_star_g(h, v):
    r = router(h, v)
    g = h.group(v, 23)
    s = h.src(v, 0, 6)
    r.add_mfc(any_addr(v), g, 0, ttls={0: 1, 1: 1, 2: 1})
    r.add_mfc(s, g, 0, ttls={3: 1})

    sent = h.send_marked(0, v, s, g)
    h.expect_copies(sent, on={3}, context=f"({s}, {g}) oifs {{3}} and (*,{g}) oifs {{0, 1, 2}}")
    other = h.send_marked(0, v, h.src(v, 0, 7), g)
    h.expect_copies(other, on={1, 2}, context=f"another source to {g}: the (*,G) entry")


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.star-star")
def test_star_star_sends_only_upstream(h, v):
    """A (*,*) entry (parent 0, oifs 0, 1, 2): a packet for any group arriving on vif 1 goes out on
    the parent vif 0 only; one arriving on the parent is not forwarded; neither is upcalled."""
    r = router(h, v)
    a = any_addr(v)
    r.add_mfc(a, a, 0, ttls={0: 1, 1: 1, 2: 1})
    g = h.group(v, 24)

    up = h.send_marked(1, v, h.src(v, 1, 8), g)
    h.expect_copies(up, on={0}, context="(*,*) parent 0 oifs {0, 1, 2}, packet in on vif 1")
    down = h.send_marked(0, v, h.src(v, 0, 9), g)
    h.expect_copies(down, on=set(), context="(*,*) parent 0, packet in on the parent vif 0")
    no_nocache(r, "the (*,*) entry matched both packets")


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.mfc-proxy")
def test_proxy_entries_are_keyed_by_parent(h, v):
    """MRT_ADD_MFC_PROXY adds a second (S,G) entry for another parent; MRT_DEL_MFC_PROXY deletes
    only the entry of its parent (ENOENT for another: ipmr_mfc_delete / mr_mfc_find_parent)."""
    r = router(h, v)
    s, g = h.src(v, 0, 10), h.group(v, 25)
    proxy(r, True, s, g, 0, ttls={1: 1})
    proxy(r, True, s, g, 2, ttls={3: 1})
    with expect_errno(errno.ENOENT, f"MRT_DEL_MFC_PROXY ({s}, {g}) parent 1: no entry has parent 1"):
        proxy(r, False, s, g, 1)
    proxy(r, False, s, g, 2)

    sent = h.send_marked(0, v, s, g)
    h.expect_copies(sent, on={1}, context=f"({s}, {g}) parent 0 left after deleting the parent-2 entry")
    with expect_errno(errno.ENOENT, f"MRT_DEL_MFC_PROXY ({s}, {g}) parent 2 again"):
        proxy(r, False, s, g, 2)
    proxy(r, False, s, g, 0)
    with expect_errno(errno.ENOENT, f"MRT_DEL_MFC ({s}, {g}) after both proxy entries were deleted"):
        r.del_mfc(s, g)


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.mfc-proxy")
def test_proxy_entries_are_found_newest_first_and_deleted_from_anywhere_in_the_chain(h, v):
    """Entries of one (S,G) sit in one rhltable chain, newest first (rhltable_insert puts a new
    duplicate at the head); the packet path takes the first (ipmr_cache_find: mr_mfc_find_parent
    with parent -1) and forwards only if it arrived on that entry's parent. MRT_DEL_MFC_PROXY
    unlinks an entry from the middle of the chain as well as from its head."""
    r = router(h, v)
    s, g = h.src(v, 0, 11), h.group(v, 26)
    proxy(r, True, s, g, 0, ttls={3: 1})
    proxy(r, True, s, g, 1, ttls={3: 1})
    proxy(r, True, s, g, 2, ttls={3: 1})  # chain: parent 2, parent 1, parent 0

    sent = h.send_marked(2, v, s, g)
    h.expect_copies(sent, on={3}, context=f"({s}, {g}): the newest entry (parent 2) is found first")
    proxy(r, False, s, g, 2)  # the head goes: parent 1 is first now
    sent = h.send_marked(1, v, s, g)
    h.expect_copies(sent, on={3}, context=f"({s}, {g}) after deleting the parent-2 head: parent 1 is next")

    proxy(r, True, s, g, 2, ttls={3: 1})  # chain: parent 2, parent 1, parent 0
    proxy(r, False, s, g, 1)  # from the middle
    proxy(r, False, s, g, 0)  # from the end
    with expect_errno(errno.ENOENT, f"MRT_DEL_MFC_PROXY ({s}, {g}) parent 1 after deleting it"):
        proxy(r, False, s, g, 1)
    sent = h.send_marked(2, v, s, g)
    h.expect_copies(sent, on={3}, context=f"({s}, {g}): parent 2 is the one entry left")
    proxy(r, False, s, g, 2)
    with expect_errno(errno.ENOENT, f"MRT_DEL_MFC ({s}, {g}) after every proxy entry was deleted"):
        r.del_mfc(s, g)


@pytest.mark.clause("linuxext.star-g-arrival")
def test_star_g_counts_a_ttl_of_254_as_an_oif_and_255_as_none(h):
    """ipmr_update_thresholds keeps 0 < ttl < 255 and stores 255 for "no oif", and mr_mfc_find_any
    matches on ttls[arrival] < 255: arrival on vif 3 (ttl 254) matches the (*,G) entry (then fails
    the iif check: no copy, no NOCACHE); arrival on vif 1 (ttl 255) does not (NOCACHE)."""
    r = router(h, 4)
    g = h.group(4, 27)
    r.add_mfc(any_addr(4), g, 0, ttls={1: 255, 2: 1, 3: 254})

    s3 = h.src(4, 3, 12)
    h.expect_copies(h.send_marked(3, 4, s3, g), on=set(), context=f"(*,{g}) ttls {{1: 255, 3: 254}}, in on vif 3")
    no_nocache(r, "vif 3 (ttl 254) is an oif of the (*,G) entry, so it matched")
    s1 = h.src(4, 1, 12)
    h.expect_copies(h.send_marked(1, 4, s1, g), on=set(), context=f"(*,{g}) ttls {{1: 255, 3: 254}}, in on vif 1")
    h.expect_upcalls(r, [("NOCACHE", 1, s1, g)], context=f"({s1}, {g}) in on vif 1 (ttl 255: no oif)")


@pytest.mark.clause("linuxext.star-star")
def test_star_star_sends_upstream_only_above_the_parents_ttl(h):
    """ip_mr_forward sends a (*,*) packet upstream only if its TTL is above ttls[parent]
    (strictly): TTL 5 through a parent ttl of 5 stays, TTL 6 goes out on the parent vif 0."""
    r = router(h, 4)
    a = any_addr(4)
    r.add_mfc(a, a, 0, ttls={0: 5, 1: 1, 2: 1})
    g = h.group(4, 28)

    at = h.send_marked(1, 4, h.src(4, 1, 13), g, ttl=5)
    h.expect_copies(at, on=set(), context="(*,*) parent 0 ttl 5, a TTL-5 packet in on vif 1")
    above = h.send_marked(1, 4, h.src(4, 1, 14), g, ttl=6)
    h.expect_copies(above, on={0}, context="(*,*) parent 0 ttl 5, a TTL-6 packet in on vif 1")
    no_nocache(r, "the (*,*) entry matched both packets")


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.mfc-proxy")
def test_a_proxy_entry_added_again_is_updated_and_the_routers_entries_are_dynamic(h, v):
    """ipmr_mfc_add finds the entry of (S,G) *and parent* and updates it in place (one entry, the
    new oifs); an entry the routing socket added is not MFC_STATIC (mrtsock is true), so
    MRT_FLUSH_MFC, which spares static entries, removes it."""
    r = router(h, v)
    s, g = h.src(v, 0, 15), h.group(v, 29)
    proxy(r, True, s, g, 0, ttls={1: 1})
    proxy(r, True, s, g, 0, ttls={2: 1})
    h.expect_copies(h.send_marked(0, v, s, g), on={2}, context=f"({s}, {g}) parent 0 added twice, oifs {{2}} last")
    proxy(r, False, s, g, 0)
    with expect_errno(errno.ENOENT, f"MRT_DEL_MFC_PROXY ({s}, {g}) parent 0 a second time: the re-add made no second entry"):
        proxy(r, False, s, g, 0)

    proxy(r, True, s, g, 0, ttls={1: 1})
    flush(r, MRT_FLUSH_MFC)
    with expect_errno(errno.ENOENT, f"MRT_DEL_MFC_PROXY ({s}, {g}) after MRT_FLUSH_MFC: the router's entry was dynamic"):
        proxy(r, False, s, g, 0)
