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

from conformance.harness import Harness
from conformance.harness.routing import RoutingSocket
from conformance.suite.bw_support import FLUSH_PERIOD, GEQ, PKTS, Rig
from mroute_spec.constants import MRT_MFC_BW_UPCALL

US = 1e-6  # one unit of a virtual clock: the model keeps time in microseconds
REAL_TOLERANCE = 0.1  # seconds either side of a boundary on a real kernel (its own latency)
WRONG = {4: "WRONGVIF", 6: "WRONGMIF"}


def unit(h: Harness) -> float:
    """The step either side of a boundary: 1 µs on virtual time, the stated tolerance otherwise."""
    return US if h.target.virtual_time else REAL_TOLERANCE


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
    limited = v == 4 or p.wrongmif_rate_limited
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
