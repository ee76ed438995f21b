"""nocache.*: packets of an (S,G) the router has no forwarding state for.

The first packet of an unknown (S,G) is upcalled (IGMPMSG_NOCACHE / MRT6MSG_NOCACHE) and held,
with a few more, in a pending entry until the daemon installs the MFC entry or the pending entry
expires. Queue depth and expiry time are implementation-defined: they come from the profile.
Packets are named by their marker (``#n``) in failure messages; vif i sits on port i unless a
test says otherwise.
"""

from __future__ import annotations

import pytest

from conformance.harness.packets import tag

ALL_VIFS = (0, 1, 2, 3)
# How far before the earliest / after the latest expiry a probe is sent. On a kernel this is
# real time, so it must cover the target's own latency (sending, settling, reading).
MARGIN = 0.1
# On a virtual clock the window is checked exactly (1 ms either side), for entries going pending
# just after a tick of the expiry grid (a probe of the tick count, not only of the window's middle)
EXACT = 0.001
TICK_PHASE = 0.01


def family_params(v4_clauses: tuple[str, ...] = (), v6_clauses: tuple[str, ...] = ()):
    """``v`` = 4 and 6, each with the clause IDs that only its family covers."""
    return pytest.mark.parametrize("v", [
        pytest.param(4, id="4", marks=[pytest.mark.clause(*v4_clauses)] if v4_clauses else []),
        pytest.param(6, id="6", marks=[pytest.mark.clause(*v6_clauses)] if v6_clauses else []),
    ])


# -- helpers ---------------------------------------------------------------------------------
# -- nocache.upcall / nocache.v6-upcall ------------------------------------------------------
@family_params(v6_clauses=("nocache.v6-upcall",))
@pytest.mark.clause("nocache.upcall")
def test_first_packet_of_an_unknown_sg_yields_one_nocache_naming_s_g_and_the_arrival_vif(h, v):
    """Vifs 1 and 2 sit on ports 2 and 1, so a port number passed off as a vif index shows."""
    r = h.router(v)
    r.add_vif(0, 0)
    r.add_vif(1, 2)
    r.add_vif(2, 1)
    s, g = h.src(v, 1), h.group(v)

    sent = h.send_marked(1, v, s, g)

    h.expect_upcall(r, "NOCACHE", 2, s, g)
    h.expect_copies(sent, on=set(), context="a packet of an (S,G) with no cache entry")


@family_params(v6_clauses=("nocache.v6-upcall",))
@pytest.mark.clause("nocache.upcall")
def test_each_unknown_sg_gets_its_own_nocache(h, v):
    r = h.router(v, vifs=ALL_VIFS)
    s1, s2, g1, g2 = h.src(v, 0, 0), h.src(v, 3, 1), h.group(v, 1), h.group(v, 2)

    h.send_marked(0, v, s1, g1)
    h.send_marked(3, v, s2, g1)
    h.send_marked(3, v, s1, g2)

    h.expect_upcalls(r, [("NOCACHE", 0, s1, g1), ("NOCACHE", 3, s2, g1), ("NOCACHE", 3, s1, g2)],
                   context="three distinct (S,G)s, each first seen once")


# -- nocache.single-pending ------------------------------------------------------------------
@family_params()
@pytest.mark.clause("nocache.single-pending")
def test_further_packets_of_a_pending_sg_yield_no_further_upcall(h, v):
    r = h.router(v, vifs=ALL_VIFS)
    s, g, other = h.src(v, 0), h.group(v, 1), h.group(v, 2)

    h.send_marked(0, v, s, g)
    h.send_marked(0, v, s, g)
    h.send_marked(1, v, s, g)  # another vif: still the same pending (S,G)
    h.send_marked(0, v, s, other)
    h.send_marked(0, v, s, g)

    h.expect_upcalls(r, [("NOCACHE", 0, s, g), ("NOCACHE", 0, s, other)],
                   context=f"four packets of ({s}, {g}) and one of ({s}, {other}), none installed: "
                           "one NOCACHE per (S,G)")


# -- nocache.release-on-add ------------------------------------------------------------------
@family_params()
@pytest.mark.clause("nocache.release-on-add")
def test_packets_held_while_pending_are_forwarded_when_the_entry_is_installed(h, v):
    r = h.router(v, vifs=ALL_VIFS)
    s, g = h.src(v, 0), h.group(v)
    held = h.send_marked(0, v, s, g, n=min(2, h.queue_depth(v)))
    h.expect_upcall(r, "NOCACHE", 0, s, g)
    h.expect_copies(held, on=set(), context="packets of a pending (S,G), before MRT_ADD_MFC")

    r.add_mfc(s, g, 0, ttls={1: 1, 3: 1})

    h.expect_copies(held, on={1, 3}, context="the held packets once MRT_ADD_MFC installs outgoing vifs 1, 3")
    later = h.send_marked(0, v, s, g)
    h.expect_copies(later, on={1, 3}, context="a packet after the entry is installed")
    h.expect_no_upcall(r, "the entry is installed")


@family_params(v4_clauses=("mfc.rpf",), v6_clauses=("mfc6.rpf",))
@pytest.mark.clause("nocache.release-on-add")
def test_held_packets_meet_the_rpf_check_of_the_installed_entry(h, v):
    r = h.router(v, vifs=ALL_VIFS)
    s, g = h.src(v, 0), h.group(v)
    held = h.send_marked(0, v, s, g, n=min(2, h.queue_depth(v)))
    h.expect_upcall(r, "NOCACHE", 0, s, g)

    r.add_mfc(s, g, 1, ttls={2: 1, 3: 1})

    h.expect_copies(held, on=set(),
                  context="packets held after arriving on vif 0, released into an entry whose parent is vif 1")
    wrong = r.sg_count(s, g)["wrong_if"]
    assert wrong == len(held), (f"SIOCGETSGCNT wrong_if after releasing {len(held)} held packets that fail RPF: "
                                f"expected {len(held)}, got {wrong}")
    on_parent = h.send_marked(1, v, s, g)
    h.expect_copies(on_parent, on={2, 3}, context="a packet of the same (S,G) arriving on the parent vif 1")


# -- nocache.queue-depth ---------------------------------------------------------------------
@family_params()
@pytest.mark.clause("nocache.queue-depth")
def test_packets_beyond_the_queue_depth_are_dropped(h, v):
    depth = h.queue_depth(v)
    r = h.router(v, vifs=ALL_VIFS)
    s, g = h.src(v, 0), h.group(v)
    sent = h.send_marked(0, v, s, g, n=depth + 2)
    h.expect_upcall(r, "NOCACHE", 0, s, g)

    r.add_mfc(s, g, 0, ttls={2: 1})

    h.expect_copies(sent[:depth], on={2},
                  context=f"{depth + 2} packets sent while pending; profile {h.profile.name!r} holds "
                          f"{depth} (the first ones, in order), the last 2 are dropped")


# -- nocache.expiry --------------------------------------------------------------------------
@family_params()
@pytest.mark.clause("nocache.expiry")
def test_pending_entry_lives_until_the_earliest_expiry_and_is_gone_after_the_latest(h, v):
    """A and B go pending together. Just before the earliest expiry both are still pending (no
    new upcall, and installing A releases A's packets); just after the latest B is gone: its next
    packet yields a new NOCACHE, and the packets held before expiry went with it."""
    earliest, latest = h.profile.nocache_expiry
    eps = EXACT if h.target.virtual_time else MARGIN
    r = h.router(v, vifs=ALL_VIFS)
    s, a, b = h.src(v, 0), h.group(v, 1), h.group(v, 2)
    clock = h.stopwatch()  # started at MRT_INIT, the phase of a tick grid (FreeBSD's 250 ms expire_upcalls)
    clock.advance_to(TICK_PHASE)  # just after a tick: the pending entries see one tick less of life
    clock.start()
    a_held = h.send_marked(0, v, s, a)
    b_held = h.send_marked(0, v, s, b)
    h.expect_upcalls(r, [("NOCACHE", 0, s, a), ("NOCACHE", 0, s, b)], context="two unknown (S,G)s")

    clock.advance_to(earliest - eps, before=earliest - eps / 2)
    a_held += h.send_marked(0, v, s, a)
    b_held += h.send_marked(0, v, s, b)
    h.expect_no_upcall(r, f"{earliest - eps:.3f} s after the NOCACHE, before the earliest expiry "
                          f"({earliest} s per profile {h.profile.name!r}), both (S,G)s are still pending")
    r.add_mfc(s, a, 0, ttls={1: 1})
    clock.check_before(earliest, f"installing (S,G) {a}")
    h.expect_copies(a_held, on={1}, context=f"(S,G) {a} installed just before the earliest expiry: "
                                             "its held packets are released")

    clock.advance_to(latest + eps)
    fresh = h.send_marked(0, v, s, b)
    h.expect_upcall(r, "NOCACHE", 0, s, b)
    r.add_mfc(s, b, 0, ttls={1: 1})
    h.expect_copies(fresh, on={1},
                  context=f"(S,G) {b} installed after its pending entry expired (latest {latest} s per profile "
                          f"{h.profile.name!r}): only the packet sent after expiry is released, not "
                          f"{[tag(bytes(p)) for p in b_held]}")


@pytest.mark.parametrize("v", [4])  # one family: on a real kernel each run waits 2 x the latest expiry
@pytest.mark.clause("nocache.expiry")
def test_a_pending_entry_made_after_every_other_expired_expires_too(h, v):
    """Expiry keeps working once nothing is pending: FreeBSD's expire_upcalls tick stops when the
    last pending entry goes and the next NOCACHE starts it again; Linux re-arms mfc_unres_timer."""
    latest = h.profile.nocache_expiry[1]
    eps = EXACT if h.target.virtual_time else MARGIN
    r = h.router(v, vifs=ALL_VIFS)
    s, a, b = h.src(v, 0), h.group(v, 1), h.group(v, 2)
    clock = h.stopwatch()
    clock.start()
    h.send_marked(0, v, s, a)
    h.expect_upcall(r, "NOCACHE", 0, s, a)
    clock.advance_to(latest + eps)  # (S,G) A has expired: nothing is pending now

    clock.start()
    h.send_marked(0, v, s, b)
    h.expect_upcall(r, "NOCACHE", 0, s, b)
    clock.advance_to(latest + eps)

    h.send_marked(0, v, s, b)
    h.expect_upcall(r, "NOCACHE", 0, s, b)  # B expired as well: its next packet is upcalled anew


# -- nocache.not-on-vif ----------------------------------------------------------------------
@pytest.mark.clause("nocache.not-on-vif")
def test_v4_packet_arriving_on_an_interface_that_is_no_vif_yields_no_upcall(h):
    r = h.router(4, vifs=(0, 1))
    s, g = h.src(4, 2), h.group(4)

    stray = h.send_marked(2, 4, s, g)

    h.expect_no_upcall(r, "the packet arrived on port 2, which has no vif")
    h.expect_copies(stray, on=set(), context="a packet arriving on port 2, which has no vif")
    h.send_marked(0, 4, s, g)
    h.expect_upcall(r, "NOCACHE", 0, s, g)  # the stray packet left no pending entry behind


@pytest.mark.clause("nocache.v6-upcall")
def test_v6_packet_arriving_on_an_interface_that_is_no_mif_follows_the_profile(h):
    """Implementation-defined: no upcall (Linux), or NOCACHE naming mif = nummifs (FreeBSD)."""
    r = h.router(6, vifs=(0, 1))
    s, g = h.src(6, 2), h.group(6)

    h.send_marked(2, 6, s, g)

    if h.profile.nocache6_requires_mif:
        h.expect_no_upcall(r, f"profile {h.profile.name!r}: IPv6 NOCACHE only for arrival on a mif")
    else:
        h.expect_upcall(r, "NOCACHE", 2, s, g)  # im6_mif = nummifs (mifs 0 and 1)


# -- nocache.local-group ---------------------------------------------------------------------
@pytest.mark.parametrize(("v", "local"), [(4, "224.0.0.100"), (4, "224.0.0.255"), (6, "ff02::db8:1")])
@pytest.mark.clause("nocache.local-group")
def test_link_local_group_is_neither_upcalled_nor_forwarded(h, v, local):
    r = h.router(v, vifs=ALL_VIFS)
    s = h.src(v, 0)

    h.send_marked(0, v, s, local)
    h.expect_no_upcall(r, f"{local} is a link-local group")

    r.add_mfc(s, local, 0, ttls={1: 1, 2: 1})
    sent = h.send_marked(0, v, s, local, n=2)
    h.expect_copies(sent, on=set(), context=f"packets to link-local group {local}, even with an MFC entry")
    h.expect_no_upcall(r, f"{local} is a link-local group")
    counts = r.sg_count(s, local)
    assert (counts["pktcnt"], counts["wrong_if"]) == (0, 0), (
        f"SIOCGETSGCNT of ({s}, {local}): the packets must never reach the cache; expected pktcnt 0, "
        f"wrong_if 0, got pktcnt {counts['pktcnt']}, wrong_if {counts['wrong_if']}")

    h.send_marked(0, v, s, h.group(v))
    h.expect_upcall(r, "NOCACHE", 0, s, h.group(v))  # the router does upcall a routable group


# -- nocache.ttl-le-1 ------------------------------------------------------------------------
@family_params()
@pytest.mark.parametrize("ttl", [0, 1])
@pytest.mark.clause("nocache.ttl-le-1")
def test_ttl_at_most_1_packet_of_an_unknown_sg_follows_the_profile(h, v, ttl):
    """Implementation-defined: upcalled and held (Linux) or ignored (FreeBSD); never forwarded."""
    r = h.router(v, vifs=ALL_VIFS)
    s, g = h.src(v, 0), h.group(v)
    upcalled = h.profile.nocache_ttl_le_1_upcall

    h.send_marked(0, v, s, g, ttl=ttl)

    if upcalled:
        h.expect_upcall(r, "NOCACHE", 0, s, g)
    else:
        h.expect_no_upcall(r, f"profile {h.profile.name!r}: TTL {ttl} packets are not upcalled")
    normal = h.send_marked(0, v, s, g, ttl=64)
    if upcalled:
        h.expect_no_upcall(r, f"the TTL {ttl} packet left ({s}, {g}) pending")
    else:
        h.expect_upcall(r, "NOCACHE", 0, s, g)  # the TTL <= 1 packet left no pending entry
    r.add_mfc(s, g, 0, ttls={1: 1})
    h.expect_copies(normal, on={1},
                  context=f"entry installed after a TTL {ttl} and a TTL 64 packet: only the TTL 64 one "
                          "is forwarded")

