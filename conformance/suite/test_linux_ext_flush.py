"""linuxext.flush-* / static-*: MRT_FLUSH / MRT6_FLUSH and the static state MRT_DONE leaves behind.

Written from the kernel source (docs/spec/linux.md §"Linux extensions"): a vif or MFC entry is
*static* when a socket other than the table's routing socket added it (vif_add / mif6_add set
VIFF_STATIC when !mrtsock; ipmr_mfc_add / ip6mr_mfc_add set MFC_STATIC, also on an update).
mroute_clean_tables(mrt, flags) deletes the non-static vifs for MRT_FLUSH_VIFS, the static ones for
MRT_FLUSH_VIFS_STATIC, likewise the MFC entries for MRT_FLUSH_MFC / _STATIC, and the unresolved
(pending) entries with their queued packets for MRT_FLUSH_MFC. MRT_DONE and close run it with
MRT_FLUSH_VIFS | MRT_FLUSH_MFC (mrtsock_destruct, ip6mr_sk_done). A vif slot that is free again
accepts MRT_ADD_VIF; a busy one gives EADDRINUSE. On a target without MRT_FLUSH every test ends
``unsupported``.
"""

from __future__ import annotations

import errno
import struct

import pytest

from conformance.suite.linux_ext import expect_errno, flush, flush_name, require_flush
from mroute_spec.constants import MRT_FLUSH_MFC, MRT_FLUSH_MFC_STATIC, MRT_FLUSH_VIFS, MRT_FLUSH_VIFS_STATIC

BOTH_FAMILIES = pytest.mark.parametrize("v", [4, 6])


def setup(h, v: int):
    """Routing socket ``r`` with dynamic vifs 0, 1 and a second socket ``o`` with static vifs 2, 3."""
    r = h.router(v, vifs=(0, 1))
    require_flush(h, r)
    o = h.routing_socket(v)
    o.add_vifs(2, 3)
    return r, o


def vif_slots_free(r, indices, want_free: bool, context: str) -> None:
    """Re-adding vif i succeeds iff its slot is free (vif_add / mif6_add: busy -> EADDRINUSE);
    a slot found free stays re-added."""
    for i in indices:
        if want_free:
            r.add_vif(i)
        else:
            with expect_errno(errno.EADDRINUSE, f"{context}: vif {i} must still exist"):
                r.add_vif(i)


@BOTH_FAMILIES
@pytest.mark.parametrize("flags", [MRT_FLUSH_VIFS, MRT_FLUSH_VIFS_STATIC, MRT_FLUSH_VIFS | MRT_FLUSH_VIFS_STATIC],
                         ids=flush_name)
@pytest.mark.clause("linuxext.flush-vifs")
def test_flush_removes_the_vifs_its_flags_select(h, v, flags):
    r, _o = setup(h, v)
    flush(r, flags)
    context = f"after MRT_FLUSH({flush_name(flags)})"
    vif_slots_free(r, (0, 1), bool(flags & MRT_FLUSH_VIFS), context + ", dynamic vifs 0, 1")
    vif_slots_free(r, (2, 3), bool(flags & MRT_FLUSH_VIFS_STATIC), context + ", static vifs 2, 3")


@BOTH_FAMILIES
@pytest.mark.parametrize("flags", [MRT_FLUSH_MFC, MRT_FLUSH_MFC_STATIC, MRT_FLUSH_MFC | MRT_FLUSH_MFC_STATIC],
                         ids=flush_name)
@pytest.mark.clause("linuxext.flush-mfc")
def test_flush_removes_the_entries_its_flags_select(h, v, flags):
    """A dynamic entry (from the routing socket) and a static one (from the other socket): after
    the flush a removed entry's source is unresolved (NOCACHE), a kept one still forwards."""
    r, o = setup(h, v)
    g = h.group(v, 30)
    dyn, sta = h.src(v, 0, 20), h.src(v, 0, 21)
    r.add_mfc(dyn, g, 0, ttls={1: 1})
    o.add_mfc(sta, g, 0, ttls={1: 1})
    flush(r, flags)

    for s, gone, kind in ((dyn, bool(flags & MRT_FLUSH_MFC), "dynamic"),
                          (sta, bool(flags & MRT_FLUSH_MFC_STATIC), "static")):
        sent = h.send_marked(0, v, s, g)
        context = f"MRT_FLUSH({flush_name(flags)}), {kind} entry ({s}, {g})"
        h.expect_copies(sent, on=set() if gone else {1}, context=context)
        h.expect_upcalls(r, [("NOCACHE", 0, s, g)] if gone else [], context=context)


@BOTH_FAMILIES
@pytest.mark.parametrize("flags", [MRT_FLUSH_MFC, MRT_FLUSH_MFC_STATIC], ids=flush_name)
@pytest.mark.clause("linuxext.flush-mfc")
def test_flush_mfc_drops_the_pending_entries(h, v, flags):
    """MRT_FLUSH_MFC destroys the unresolved entries and their queued packets: a later MRT_ADD_MFC
    releases nothing. MRT_FLUSH_MFC_STATIC alone leaves them: the queued packet is released."""
    r, _o = setup(h, v)
    s, g = h.src(v, 0, 22), h.group(v, 31)
    queued = h.send_marked(0, v, s, g)
    h.expect_upcalls(r, [("NOCACHE", 0, s, g)], context=f"first packet of ({s}, {g})")
    flush(r, flags)
    r.add_mfc(s, g, 0, ttls={1: 1})
    dropped = bool(flags & MRT_FLUSH_MFC)
    h.expect_copies(queued, on=set() if dropped else {1},
                    context=f"packet queued on ({s}, {g}), MRT_FLUSH({flush_name(flags)}), then MRT_ADD_MFC")


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.static-survives-done")
def test_done_keeps_static_state_for_the_next_routing_socket(h, v):
    """MRT_DONE removes the dynamic vif 1 and entry; the static vifs 2, 3 and entry stay, and
    forward again as soon as another socket becomes the routing socket (no re-adding)."""
    r = h.router(v, vifs=(0, 1))
    require_flush(h, r)
    o = h.routing_socket(v)
    o.add_vifs(2, 3)
    g = h.group(v, 32)
    dyn, sta = h.src(v, 2, 23), h.src(v, 2, 24)
    r.add_mfc(dyn, g, 2, ttls={1: 1, 3: 1})
    o.add_mfc(sta, g, 2, ttls={3: 1})
    r.done()

    r2 = h.router(v)
    sent = h.send_marked(2, v, sta, g)
    h.expect_copies(sent, on={3}, context=f"static ({sta}, {g}) parent 2 oifs {{3}} after MRT_DONE, new router")
    h.expect_upcalls(r2, [], context="the static entry survived MRT_DONE")
    sent = h.send_marked(2, v, dyn, g)
    h.expect_copies(sent, on=set(), context=f"dynamic ({dyn}, {g}) after MRT_DONE")
    h.expect_upcalls(r2, [("NOCACHE", 2, dyn, g)], context=f"dynamic ({dyn}, {g}) is gone with MRT_DONE")
    vif_slots_free(r2, (0, 1), True, "after MRT_DONE, dynamic vifs 0, 1")
    vif_slots_free(r2, (2, 3), False, "after MRT_DONE, static vifs 2, 3")


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.static-update")
def test_an_update_from_another_socket_makes_the_entry_static(h, v):
    r, o = setup(h, v)
    s, g = h.src(v, 0, 25), h.group(v, 33)
    r.add_mfc(s, g, 0, ttls={1: 1})
    o.add_mfc(s, g, 0, ttls={2: 1})
    flush(r, MRT_FLUSH_MFC)
    sent = h.send_marked(0, v, s, g)
    h.expect_copies(sent, on={2}, context=f"({s}, {g}) updated by another socket, then MRT_FLUSH(MFC)")


@BOTH_FAMILIES
@pytest.mark.parametrize("size", [2, 8])
@pytest.mark.clause("linuxext.flush-optlen")
def test_flush_takes_exactly_an_int(h, v, size):
    r, _ = setup(h, v)
    with expect_errno(errno.EINVAL, f"MRT_FLUSH with a {size}-byte argument"):
        r.set_raw("flush", struct.pack("<i", MRT_FLUSH_VIFS | MRT_FLUSH_VIFS_STATIC).ljust(size, b"\0")[:size])
    vif_slots_free(r, (0, 2), False, f"the refused {size}-byte MRT_FLUSH flushed nothing")
