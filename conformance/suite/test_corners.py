"""Corners the FreeBSD source defines and no other test reached (issue 12), per profile where
implementations differ: MRT_DEL_MFC of a pending entry, IPv6 WRONGMIF from an interface that is
no mif, IPv6 getsockopt from a socket that is not the router, the hop-limit byte of the mrt6msg
pad, ttls for vifs at or above numvifs on an update, and a vif deleted below numvifs.
Sources: docs/spec/freebsd.md §3.5, §3.10, §4.3, §4.8 (and the digest lines cited there).
"""

from __future__ import annotations

import pytest
from scapy.layers.inet6 import IPv6

from mroute_spec.constants import MRT6MSG_WRONGMIF


# -- mfc.delete-absent: a pending entry ----------------------------------------------------------
@pytest.mark.clause("mfc.delete-absent")
def test_deleting_a_pending_entry_follows_the_profile(h):
    """MODERN FreeBSD deletes a pending (S,G) (returns 0, drops its queue: the next packet is a
    fresh NOCACHE and only it is released); LEGACY and Linux match complete entries only, so the
    delete fails and the queued packets are released at MRT_ADD_MFC."""
    r = h.router(4, vifs=(0, 1))
    src, grp = h.src(4), h.group(4, 3)
    queued = h.send_marked(0, 4, src, grp, n=2)
    h.expect_upcall(r, "NOCACHE", 0, src, grp)
    deletes = h.profile.mfc4_delete_pending
    if deletes:
        r.del_mfc(src, grp)
    else:
        with h.raises("mfc.del_absent", "MRT_DEL_MFC of a pending (S,G): only complete entries match"):
            r.del_mfc(src, grp)
    later = h.send_marked(0, 4, src, grp)
    if deletes:
        h.expect_upcall(r, "NOCACHE", 0, src, grp)
    else:
        h.expect_no_upcall(r, "the (S,G) is still pending: its queue takes the packet")
    r.add_mfc(src, grp, 0, {1: 1})
    h.expect_copies(later if deletes else queued + later, on={1},
                    context=f"MRT_ADD_MFC after MRT_DEL_MFC of the pending entry (profile {h.profile.name!r}: "
                            f"mfc4_delete_pending={deletes})")


# -- wrongmif.v6-upcall: arrival on an interface that is no mif ----------------------------------
@pytest.mark.clause("wrongmif.v6-upcall")
def test_wrongmif_from_an_interface_that_is_no_mif_follows_the_profile(h):
    """FreeBSD ip6_mdq: RPF fails, the parent is a configured mif and MRT6_PIM is on, so a
    WRONGMIF goes up naming mif ``nummifs``; Linux needs the arrival interface to be a mif."""
    r = h.router(6, vifs=(0, 1))
    r.set_pim(True)
    src, grp = h.src(6, 2), h.group(6, 4)
    r.add_mfc(src, grp, 0, {1: 1})
    h.send(2, h.packet(6, src, grp))  # port 2 carries no mif
    got = r.upcalls()
    if h.profile.wrongmif_from_non_mif:
        assert [(u.msgtype, u.vif, u.src, u.dst) for u in got] == [(MRT6MSG_WRONGMIF, 2, src, grp)], (
            f"expected one WRONGMIF naming mif 2 (nummifs) for arrival on a non-mif interface, got "
            f"{[u.describe() for u in got]}")
    else:
        assert not got, f"arrival on a non-mif interface: expected no upcall, got {[u.describe() for u in got]}"
    h.expect_copies([], on=set(), context="a packet failing RPF is not forwarded")


@pytest.mark.clause("wrongmif.v6-upcall")
def test_no_wrongmif_from_a_non_mif_interface_while_pim_is_off(h):
    """The same arrival with MRT6_PIM off: no upcall on any profile (FreeBSD ip6_mdq sends the
    non-mif WRONGMIF only under V_pim6; Linux not at all)."""
    r = h.router(6, vifs=(0, 1))
    src, grp = h.src(6, 2), h.group(6, 5)
    r.add_mfc(src, grp, 0, {1: 1})
    h.send(2, h.packet(6, src, grp))  # port 2 carries no mif
    got = r.upcalls()
    assert not got, f"MRT6_PIM off: expected no upcall for arrival on a non-mif interface, got {[u.describe() for u in got]}"
    h.expect_copies([], on=set(), context="a packet failing RPF is not forwarded")


# -- socket.non-router: getsockopt from another socket --------------------------------------------
@pytest.mark.clause("socket.non-router")
@pytest.mark.parametrize("v", [4, 6])
def test_getsockopt_from_a_socket_that_is_not_the_router_follows_the_profile(h, v, request):
    """FreeBSD X_ip6_mrouter_get: EACCES unless the socket is the router, while its IPv4 gets need
    no ownership; NetBSD ip_mrouter_get refuses IPv4 with ENOPROTOOPT (and IPv6 with EACCES);
    Linux answers any raw socket of the family."""
    path = "socket.get_non_router" if v == 4 else "socket6.get_non_router"
    r = h.router(v)
    r.set_pim(True)
    request.addfinalizer(lambda: r.set_pim(False))  # Linux keeps PIM across MRT_DONE and close
    other = h.routing_socket(v)
    name = "MRT_ASSERT/MRT_PIM" if v == 4 else "MRT6_PIM"
    with h.raises(path, f"getsockopt({name}) from a second raw socket of IPv{v}"):
        value = other.get_int("pim")
    if h.profile.errno_of(path) is None:
        assert value == 1, f"{name} read from another socket: expected 1, got {value}"
    assert r.get_int("pim") == 1, f"the router itself reads {name}"


# -- upcall.v6-format: the pad bytes --------------------------------------------------------------
@pytest.mark.clause("upcall.v6-format")
@pytest.mark.parametrize("hlim", [2, 64, 255])
def test_nocache_mrt6msg_pad_carries_length_next_header_and_hop_limit(h, hlim):
    """Bytes 4-7 (im6_pad, over ip6_plen/ip6_nxt/ip6_hlim): FreeBSD copies the header after
    decrementing the hop limit in place, so the pad is plen, nxt and hlim - 1; Linux's 80-byte
    image zeroes it."""
    r = h.router(6, vifs=(0,))
    src, grp = h.src(6), h.group(6, 5)
    pkt = h.packet(6, src, grp)
    pkt[IPv6].hlim = hlim
    raw = bytes(pkt)
    h.send(0, pkt)
    u = h.expect_upcall(r, "NOCACHE", 0, src, grp)
    if h.profile.upcall6_length == 40:
        dec = 1 if h.profile.wholepkt6_hlim_decremented else 0
        want = raw[4:7] + bytes([hlim - dec])
    else:
        want = bytes(4)
    assert u.raw[4:8] == want, (f"mrt6msg bytes 4-7 (plen, nxt, hlim={hlim}): expected {want.hex()}, "
                                f"got {u.raw[4:8].hex()} (profile {h.profile.name!r})")


# -- mfc.vif-added-later: on an update -----------------------------------------------------------
@pytest.mark.clause("mfc.vif-added-later")
def test_an_update_drops_ttls_for_vifs_at_or_above_numvifs(h):
    """update_mfc_params writes ttls[i] only for i < numvifs: an update naming vif 2 while vif 2
    does not exist leaves the entry without it, even after vif 2 is added."""
    r = h.router(4, vifs=(0, 1))
    s, g = h.src(4, 0), h.group(4, 6)
    r.add_mfc(s, g, 0, ttls={1: 1})
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})  # an update: vif 2 is at numvifs
    r.add_vif(2)
    sent = h.send_marked(0, 4, s, g)
    h.expect_copies(sent, on={1}, context="entry updated with a ttl for vif 2 before vif 2 existed")


# -- vif.delete: a hole below numvifs ------------------------------------------------------------
@pytest.mark.clause("vif.delete")
def test_a_vif_deleted_below_numvifs_gets_no_copies_and_the_others_still_do(h):
    r = h.router(4, vifs=(0, 1, 2))
    s, g = h.src(4, 0), h.group(4, 7)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})
    r.del_vif(1)  # below numvifs: vif 2 keeps the table's size
    sent = h.send_marked(0, 4, s, g)
    h.expect_copies(sent, on={2}, context="vif 1 deleted below vif 2; the entry still names both")
