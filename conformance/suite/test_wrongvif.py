"""wrongvif.* (basic API) and wrongmif.v6-upcall: upcalls for packets on the wrong interface.

A packet of an installed (S,G) arriving on a vif other than its parent is not forwarded; with
asserts on (MRT_ASSERT or MRT_PIM for IPv4, MRT6_PIM for IPv6) it is reported as IGMPMSG_WRONGVIF
/ MRT6MSG_WRONGMIF naming the arrival vif, at most once per (S,G) per interval. The per-vif
disable flag needs the advanced API and is tested elsewhere.

In the arrangements here the arrival vif is also an outgoing vif of the entry, which Linux needs
for WRONGVIF under MRT_ASSERT (``wrongvif_requires_oif``); one test checks that rule itself.
"""

from __future__ import annotations

import errno

import pytest

from conformance.harness.expect import errname
from conformance.outcomes import unsupported

# How far before / after the rate-limit interval a probe is sent. On a kernel this is real time,
# so it must cover the target's own latency (sending, settling, reading).
MARGIN = 0.1
WRONG = {4: "WRONGVIF", 6: "WRONGMIF"}

# (family, switch): IPv4 with MRT_ASSERT and with MRT_PIM; IPv6 with MRT6_PIM (FreeBSD has no
# MRT6_ASSERT: WRONGMIF follows MRT6_PIM there).
SWITCHES = [
    pytest.param(4, "assert", id="4-assert", marks=pytest.mark.clause("wrongvif.upcall")),
    pytest.param(4, "pim", id="4-pim", marks=pytest.mark.clause("wrongvif.upcall")),
    pytest.param(6, "pim", id="6-pim", marks=pytest.mark.clause("wrongmif.v6-upcall")),
]


# -- helpers ---------------------------------------------------------------------------------
def start_with_asserts_off(r) -> None:
    """Turn MRT_ASSERT and MRT_PIM off (each where the family has it).

    A fresh router has them off, but Linux keeps both across MRT_DONE and close (they belong to
    the table, not the socket), so an earlier user's setting would otherwise leak in.
    """
    for role in ("assert", "pim"):
        try:
            r.number(role)
        except LookupError:
            continue
        try:
            r.set_int(role, 0)
        except OSError as e:
            if e.errno != errno.ENOPROTOOPT:
                raise


def switch_asserts(r, switch: str, on: bool) -> None:
    """Turn wrong-interface upcalls on or off with MRT_ASSERT or MRT_PIM / MRT6_PIM."""
    if switch == "assert":
        r.set_assert(on)
        return
    try:
        r.set_pim(on)
    except OSError as e:
        if e.errno == errno.ENOPROTOOPT:
            unsupported(f"MRT{'6' if r.version == 6 else ''}_PIM failed with {errname(e.errno)}: "
                        "the target has no PIM support")
        raise


def expect_nothing_forwarded(h, context: str) -> None:
    got = {port: [f.describe() for f in frames] for port, frames in h.all_frames().items() if frames}
    assert not got, f"{context}: expected no frame on any port, got {got}"


# -- wrongvif.assert-gated (IPv4) and the MRT6_PIM gate of wrongmif.v6-upcall ----------------
@pytest.mark.parametrize(("v", "switch"), [
    pytest.param(4, "assert", id="4-assert", marks=pytest.mark.clause("wrongvif.assert-gated")),
    pytest.param(4, "pim", id="4-pim", marks=pytest.mark.clause("wrongvif.assert-gated")),
    pytest.param(6, "pim", id="6-pim", marks=pytest.mark.clause("wrongmif.v6-upcall")),
])
def test_wrong_vif_arrival_is_reported_only_while_asserts_are_on(h, v, switch):
    """(S,G1) and (S,G2) never sent a WRONGVIF before each probe, so no rate limit can hide one."""
    r = h.router(v, vifs=(0, 1, 2))
    start_with_asserts_off(r)
    s, g1, g2 = h.src(v, 0), h.group(v, 1), h.group(v, 2)
    r.add_mfc(s, g1, 0, ttls={1: 1, 2: 1})
    r.add_mfc(s, g2, 0, ttls={1: 1, 2: 1})
    name = "MRT_ASSERT" if switch == "assert" else "MRT_PIM" if v == 4 else "MRT6_PIM"

    h.send_marked(1, v, s, g1)
    h.expect_no_upcall(r, f"{name} is off")

    switch_asserts(r, switch, True)
    h.send_marked(1, v, s, g1)
    h.expect_upcall(r, WRONG[v], 1, s, g1)

    switch_asserts(r, switch, False)
    h.send_marked(1, v, s, g2)
    h.expect_no_upcall(r, f"{name} turned off again")
    expect_nothing_forwarded(h, "packets arriving on vif 1 while the parent is vif 0")


# -- wrongvif.upcall / wrongmif.v6-upcall ----------------------------------------------------
@pytest.mark.parametrize(("v", "switch"), SWITCHES)
def test_wrong_vif_arrival_yields_one_upcall_naming_the_arrival_vif_s_and_g(h, v, switch):
    """Vifs 1 and 2 sit on ports 2 and 1, so a port number passed off as a vif index shows."""
    r = h.router(v)
    r.add_vif(0, 0)
    r.add_vif(1, 2)
    r.add_vif(2, 1)
    start_with_asserts_off(r)
    switch_asserts(r, switch, True)
    s, g = h.src(v, 0), h.group(v)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})
    h.send_marked(0, v, s, g)
    h.expect_no_upcall(r, "the packet arrived on the parent vif 0")
    got = {port: len(frames) for port, frames in h.all_frames().items() if frames}
    assert got == {1: 1, 2: 1}, (
        f"a packet arriving on the parent vif 0: expected one copy on ports 1 and 2 (vifs 2 and 1), "
        f"frames per port got {got or 'none'}")

    h.send_marked(1, v, s, g)

    h.expect_upcall(r, WRONG[v], 2, s, g)
    expect_nothing_forwarded(h, "a packet arriving on vif 2 (port 1) while the parent is vif 0")


@pytest.mark.parametrize(("v", "switch"), SWITCHES)
def test_arrival_on_a_vif_outside_the_outgoing_set_follows_the_profile(h, v, switch):
    """Implementation-defined: Linux reports it only under MRT_PIM (``wrongvif_requires_oif``)."""
    r = h.router(v, vifs=(0, 1, 2, 3))
    start_with_asserts_off(r)
    switch_asserts(r, switch, True)
    s, g = h.src(v, 0), h.group(v)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})

    h.send_marked(3, v, s, g)

    if h.profile.wrongvif_requires_oif and switch != "pim":
        h.expect_no_upcall(r, f"profile {h.profile.name!r}: under MRT_ASSERT alone the arrival vif must be "
                              "an outgoing vif of the entry, and vif 3 is not")
    else:
        h.expect_upcall(r, WRONG[v], 3, s, g)
    expect_nothing_forwarded(h, "a packet arriving on vif 3 while the parent is vif 0")


# -- wrongvif.rate-limit (IPv4) and the WRONGMIF rate of wrongmif.v6-upcall ------------------
@pytest.mark.parametrize(("v", "switch"), [
    pytest.param(4, "assert", id="4", marks=pytest.mark.clause("wrongvif.rate-limit")),
    pytest.param(6, "pim", id="6", marks=pytest.mark.clause("wrongmif.v6-upcall")),
])
def test_wrong_vif_upcalls_of_one_sg_are_limited_to_one_per_interval(h, v, switch):
    """Each family when the profile says so: FreeBSD's and Linux's IPv4, Linux's IPv6 (FreeBSD's
    WRONGMIF has no rate limit; NetBSD's IPv4 test compares last - now, so it never limits)."""
    interval = h.profile.wrongvif_interval
    limited = h.profile.wrongvif_rate_limited if v == 4 else h.profile.wrongmif_rate_limited
    r = h.router(v, vifs=(0, 1, 2))
    start_with_asserts_off(r)
    switch_asserts(r, switch, True)
    s, g, other = h.src(v, 0), h.group(v, 1), h.group(v, 2)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})
    r.add_mfc(s, other, 0, ttls={1: 1, 2: 1})
    kind = WRONG[v]

    clock = h.stopwatch()
    h.send_marked(1, v, s, g)
    h.expect_upcall(r, kind, 1, s, g)

    h.send_marked(1, v, s, g)
    h.send_marked(2, v, s, g)
    seen = [(u.kind, u.vif) for u in r.upcalls()]
    want = [] if limited else [(kind, 1), (kind, 2)]
    assert seen == want, (f"two more wrong-vif packets of ({s}, {g}) at once (on vifs 1 and 2): expected "
                          f"{want or 'no upcall'} (profile {h.profile.name!r}), got {seen or 'none'}")
    h.send_marked(2, v, s, other)
    h.expect_upcall(r, kind, 2, s, other)  # the limit is per (S,G): another group is reported

    clock.advance_to(interval - MARGIN, before=interval - MARGIN / 2)
    h.send_marked(1, v, s, g)
    if limited:
        h.expect_no_upcall(r, f"{interval - MARGIN:.2f} s after the first {kind} of ({s}, {g}), within the "
                              f"{interval} s interval of profile {h.profile.name!r}")
    else:
        h.expect_upcall(r, kind, 1, s, g)

    clock.advance_to(interval + MARGIN)
    h.send_marked(1, v, s, g)
    h.expect_upcall(r, kind, 1, s, g)
    h.send_marked(1, v, s, g)
    if limited:
        h.expect_no_upcall(r, f"a new {interval} s interval began with the last {kind}")
    else:
        h.expect_upcall(r, kind, 1, s, g)
