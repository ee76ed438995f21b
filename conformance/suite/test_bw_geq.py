"""bw.geq-*: ``>=`` meters, clocked by packets.

The spec: "The first packet marks the start of a measurement interval. During an interval we count
packets and bytes, and when we pass the threshold we deliver an upcall and we are done. The first
packet after the end of the interval resets the count and restarts the measurement." When the
first interval starts (first packet, or install time as FreeBSD does) is the profile's
``bw_first_interval``. Each test steps the clock to just before and just after the boundaries it
is about; the property test compares any schedule with the rule computed here from the text.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.harness import Harness
from conformance.suite.bw_support import (
    BYTES,
    GEQ,
    PKTS,
    US,
    Due,
    Rig,
    compare_records,
    first_interval_start,
    geq_due,
    show_all,
    tv_us,
)
from mroute_spec.constants import MRT_MFC_BW_UPCALL

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def us(t: float) -> int:
    return round(t * US)


def run_schedule(rig: Rig, schedule: list[tuple[float, int]]) -> list[tuple[float, dict]]:
    """Send (time, size) packets in order; return every record with the time it was seen."""
    seen = []
    for t, size in schedule:
        rig.at(t)
        seen += [(rig.t, r) for r in rig.records()]
        rig.send(1, size)
    rig.at(rig.t + 1 + rig.eps)
    seen += [(rig.t, r) for r in rig.records()]
    return seen


# -- bw.geq-fires --------------------------------------------------------------------------------
@pytest.mark.clause("bw.geq-fires")
@pytest.mark.parametrize("threshold", [1, 2, 5, 20])
def test_geq_fires_once_when_packets_reach_threshold(h, threshold):
    rig = Rig(h)
    plen = rig.plen()
    # The first packet comes at the install time, so the interval starts there under either
    # first-interval rule (that conflict is bw.geq-first-interval's, not this clause's).
    start = 0.0 if threshold > 1 else 1.5
    rig.at(start)
    rig.add(PKTS | GEQ, time=(10, 0), packets=threshold)
    if threshold > 1:
        rig.send(threshold - 1)
        rig.at(1 + rig.eps)
        got = rig.records()
        assert not got, f"{threshold - 1} packets reported against a threshold of {threshold}:\n{show_all(got)}"
    rig.at(1.5)
    rig.send(1)
    rig.at(2.5 + rig.eps)
    compare_records(f"the packet that makes {threshold}", rig.records(),
                    [Due(us(1.5), us(1.5 - start), threshold, threshold * plen)], rig.slack_us,
                    "one record as soon as the count reaches the threshold")
    for t in (3.0, 6.0, 8.75):  # the same interval (it ends at 10 s at the earliest): no more
        rig.at(t)
        rig.send(threshold * 3)
    rig.at(8.75 + 1 + rig.eps)
    got = rig.records()
    assert not got, f"a >= meter reported again in the interval it already reported in:\n{show_all(got)}"


@pytest.mark.clause("bw.geq-fires")
@pytest.mark.parametrize("delta", [-1, 0, 1], ids=["3pkt-1B", "3pkt", "3pkt+1B"])
def test_geq_fires_when_bytes_reach_threshold(h, delta):
    rig = Rig(h)
    plen = rig.plen(200)
    threshold = 3 * plen + delta
    n_fire = -(-threshold // plen)  # the packet whose bytes reach the threshold
    rig.add(BYTES | GEQ, time=(10, 0), bytes_=threshold)
    times = [0.25 * i for i in range(n_fire)]  # the first at the install time
    for i, t in enumerate(times[:n_fire], start=1):
        rig.at(t)
        got = rig.records()
        assert not got, f"reported at {(i - 1) * plen} bytes, threshold {threshold}:\n{show_all(got)}"
        rig.send(1, 200)
    fire_at = times[n_fire - 1]
    rig.at(fire_at + 1 + rig.eps)
    compare_records(f"byte threshold {threshold} with {plen}-byte packets", rig.records(),
                    [Due(us(fire_at), us(fire_at), n_fire, n_fire * plen)], rig.slack_us)
    rig.send(3, 200)  # more in the same interval (10 s)
    rig.at(rig.t + 1 + rig.eps)
    got = rig.records()
    assert not got, f"a >= byte meter reported twice in one interval:\n{show_all(got)}"


# -- bw.geq-restart ------------------------------------------------------------------------------
@pytest.mark.clause("bw.geq-restart")
@pytest.mark.parametrize("interval", [(3, 0), (4, 500_000)], ids=["3s", "4.5s"])
def test_geq_restarts_at_first_packet_after_interval(h, interval):
    rig = Rig(h)
    T, e = interval[0] + interval[1] / US, rig.eps
    rig.add(PKTS | GEQ, time=interval, packets=2)
    plen = rig.plen()
    s1 = T + e  # the first packet after the first interval [0, T] starts the second
    s2 = s1 + T + 2  # a quiet gap, then a packet starts the third (packets clock intervals)
    s3 = s2 + T + e
    schedule = [
        (0.0, 0),           # interval 1 starts (the install time and the first packet coincide)
        (0.5, 0),           # 2 packets: report
        (T - e, 0),         # still interval 1: already reported
        (s1, 0),            # interval 2 starts from zero: 1 packet, no report
        (s1 + 0.25, 0),     # 2 packets: report
        (s2, 0),            # interval 3 starts here, not at a multiple of T
        (s2 + T - e, 0),    # still interval 3 (a fixed-window kernel would have reset): report
        (s2 + T + e, 0),    # interval 4: 1 packet
        (s3 + T + e, 0),    # interval 5: 1 packet; the count of interval 4 is gone
    ]
    seen = run_schedule(rig, schedule)
    want = [Due(us(0.5), us(0.5), 2, 2 * plen), Due(us(s1 + 0.25), us(0.25), 2, 2 * plen),
            Due(us(s2 + T - e), us(T - e), 2, 2 * plen)]
    compare_records(f">= 2 packets per {T}s", [r for _, r in seen], want, rig.slack_us,
                    "restart at the first packet after each interval, counts from zero")


# -- bw.geq-first-interval -----------------------------------------------------------------------
# (first packet, second packet[, third]) after installing a ">= 2 packets per 3 s" meter at 0.
FIRST_INTERVAL_CASES = {
    "both-inside-3s": lambda T, e: (1.0, 2.0),                 # measured 1.0 s (first-packet) vs 2.0 s (install)
    "straddling-install+3s": lambda T, e: (2.0, 3.5, 3.75),    # first-packet: at 3.5; install: restart, at 3.75
    "just-before-and-after-3s": lambda T, e: (T - e, T + e, T + e + 0.25),
    "early-then-just-before-3s": lambda T, e: (0.5, T - e),    # measured T-e-0.5 vs T-e
    "first-after-install-interval": lambda T, e: (T + e, 4.0),  # both rules: the interval starts at T+e
    "too-far-apart": lambda T, e: (0.5, 0.5 + T + e),          # both rules: no report
}
DISCRIMINATING = {"both-inside-3s", "straddling-install+3s", "just-before-and-after-3s",
                  "early-then-just-before-3s"}


@pytest.mark.clause("bw.geq-first-interval")
@pytest.mark.parametrize("case", list(FIRST_INTERVAL_CASES))
def test_geq_first_interval_start(h, case):
    rig = Rig(h)
    T, e = 3.0, rig.eps
    times = list(FIRST_INTERVAL_CASES[case](T, e))
    rig.add(PKTS | GEQ, time=(3, 0), packets=2)
    plen = rig.plen()
    seen = run_schedule(rig, [(t, 0) for t in times])
    sched = [(us(t), plen) for t in times]
    rules = {rule: geq_due(sched, 3 * US, PKTS, 2, 0, us(0) if rule == "install" else None)
             for rule in ("first-packet", "install")}
    if case in DISCRIMINATING:
        assert rules["first-packet"] != rules["install"], "test design: this case must tell the rules apart"
    declared = h.profile.bw_first_interval
    want = geq_due(sched, 3 * US, PKTS, 2, 0, first_interval_start(h.profile, 0))
    got = [r for _, r in seen]
    try:
        compare_records(f"packets at {times} after install at 0", got, want, rig.slack_us,
                        f"the profile declares the first interval starts at: {declared}")
    except AssertionError as failure:
        matches = [rule for rule, due in rules.items() if rule != declared and _matches(got, due, rig)]
        hint = f"\n  the target behaves like the {matches[0]!r} rule" if matches else ""
        raise AssertionError(f"{failure}{hint}") from None


def _matches(got: list[dict], due: list[Due], rig: Rig) -> bool:
    try:
        compare_records("", got, due, rig.slack_us)
    except AssertionError:
        return False
    return True


# -- property: any schedule, any threshold -------------------------------------------------------
TICK = 125_000  # the schedule's grid (1/8 s: exact in binary floating point)


@st.composite
def geq_cases(draw):
    units = draw(st.sampled_from([PKTS, BYTES, PKTS | BYTES]))
    # intervals end off the 1/8 s grid (usec = 1 mod 250000): no packet ever lands on a boundary
    interval = (draw(st.integers(3, 6)), draw(st.sampled_from([1, 250_001, 500_001, 750_001])))
    packets = draw(st.integers(1, 6))
    bytes_ = draw(st.integers(1, 6000))
    install = draw(st.integers(0, 16))
    ticks = sorted(draw(st.lists(st.integers(0, 160), max_size=25)))
    sizes = draw(st.lists(st.sampled_from([0, 100, 600, 1400]), min_size=len(ticks), max_size=len(ticks)))
    return units, interval, packets, bytes_, install, [(install + k, s) for k, s in zip(ticks, sizes, strict=True)]


@pytest.mark.clause("bw.geq-fires", "bw.geq-restart", "bw.geq-first-interval", "bw.units-or", "bw.batch-timer")
def test_geq_property_any_schedule(h):
    """For any packet schedule and any >= threshold, the records are those of the spec's rule, each
    delivered no earlier than the packet that reached the threshold and within the batch timer."""
    h.require_api(MRT_MFC_BW_UPCALL)
    target = h.target

    @PROPERTY_SETTINGS
    @given(case=geq_cases())
    def run(case):
        units, interval, tp, tb, install, ticks = case
        target.reset()
        rig = Rig(Harness(target))
        rig.at(install * TICK / US)
        rig.add(units | GEQ, time=interval, packets=tp, bytes_=tb)
        sched = [(k * TICK, rig.plen(size)) for k, size in ticks]
        due = geq_due(sched, tv_us(interval), units, tp, tb, first_interval_start(rig.profile, install * TICK))
        flush_us = round((1 + rig.eps) * US)
        steps = sorted([(k * TICK, size) for k, size in ticks] + [(d.at_us + flush_us, None) for d in due],
                       key=lambda s: (s[0], s[1] is None))
        got: list[dict] = []
        for t_us, size in steps:
            rig.at(t_us / US)
            got += rig.records()
            at_least = sum(1 for d in due if d.at_us + flush_us <= t_us)
            at_most = sum(1 for d in due if d.at_us < t_us)
            assert at_least <= len(got) <= at_most, (
                f"at {t_us / US}s: {len(got)} records delivered; the rule allows {at_least}..{at_most}\n"
                f"  due: {[str(d) for d in due]}\n  got:\n{show_all(got)}")
            if size is not None:
                rig.send(1, size)
        compare_records(f">= meter {units=} {interval=} {tp=}p {tb=}B installed at {install * TICK / US}s",
                        got, due, rig.slack_us)
        for r in got:
            assert (r["bu_src"], r["bu_dst"], r["bu_flags"], tuple(r["bu_threshold_time"]),
                    r["bu_threshold_packets"], r["bu_threshold_bytes"]) == (
                rig.src, rig.grp, units | GEQ, interval, tp, tb), f"record fields:\n{show_all([r])}"

    run()
