"""bw.record, bw.message-format, bw.batch-max, bw.batch-timer: what a meter delivers, and how.

Records are batched (docs/spec/freebsd.md §6.4): a flush sends every pending record as one
IGMPMSG_BW_UPCALL message; the queue holds at most ``profile.bw_message_max`` records (more are
lost); ``profile.bw_flush_at`` pending records trigger a flush, at once or later as
``profile.bw_threshold_flush`` says (the spec: 128 and 128, at once; FreeBSD's ring holds 1023 and
a taskqueue drains it some time after more than 512 are pending); fewer are delivered by a 1 s
timer. On every target the tests assert what the design guarantees whenever its flush runs
(``check_guarantees``); the exact sizes of a deferred flush only where time is virtual. To make N
records due at one instant, N ``>= 1 packet`` meters are installed (spread over a few (S,G)
entries, told apart by their byte threshold, which their unit ignores) and one packet per entry
is sent without the clock moving.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.harness import Harness, expect
from conformance.layers import parse_ipv4_routing_read
from conformance.suite.bw_support import (
    BYTES,
    DELETE_ALL,
    GEQ,
    LEQ,
    PKTS,
    Batching,
    Rig,
    flag_names,
    leq_due_for,
    show_all,
    tv_us,
)
from mroute_spec.abi import BSD_AMD64
from mroute_spec.constants import IGMPMSG_BW_UPCALL, MRT_MFC_BW_UPCALL

PER_ENTRY = 128  # meters per (S,G) entry in a burst (keeps each entry's meter list short)
BW_UPCALL_SIZE = BSD_AMD64["bw_upcall"].size


class Burst:
    """``n`` meters, each reporting the next packet of its entry, ready to fire together."""

    def __init__(self, rig: Rig, n: int, first_group: int) -> None:
        self.rig, self.n = rig, n
        self.groups: list[str] = []
        for i in range(n):
            if i % PER_ENTRY == 0:
                g = rig.h.group(4, first_group + len(self.groups))
                rig.r.add_mfc(rig.src, g, 0, {1: 1})
                self.groups.append(g)
            rig.add(PKTS | GEQ, time=(3, 0), packets=1, bytes_=i, grp=self.groups[-1])
        self.order = [(self.groups[i // PER_ENTRY], i) for i in range(n)]  # the order records queue in
        self.ids = set(self.order)

    @property
    def entries(self) -> int:
        return len(self.groups)

    def fire(self) -> None:
        for g in self.groups:
            self.rig.send(1, grp=g)


def sizes(messages: list) -> list[int]:
    return [len(m.records) for m in messages]


def record_ids(messages: list) -> list[tuple[str, int]]:
    return [(r["bu_dst"], r["bu_threshold_bytes"]) for m in messages for r in m.records]


def check_once(delivered: list, want: set[tuple[str, int]], what: str) -> None:
    """Every record of ``want`` delivered exactly once, and nothing else."""
    ids = record_ids(delivered)
    counts = Counter(ids)
    dups = sorted(i for i, c in counts.items() if c > 1)
    lost = sorted(want - set(counts))
    extra = sorted(set(counts) - want)
    if dups or lost or extra:
        raise AssertionError(f"{what}: {len(ids)} records delivered for {len(want)} due; "
                             f"duplicated {dups[:5]}{'...' if len(dups) > 5 else ''}, "
                             f"lost {lost[:5]}{'...' if len(lost) > 5 else ''} ({len(lost)}), "
                             f"unexpected {extra[:5]}")


def check_sizes(what: str, got: list, want: list[int], profile) -> None:
    if sizes(got) != want:
        def said(ns: list[int]) -> str:
            return f"messages of {ns} records" if ns else "no message"

        raise AssertionError(
            f"{what}: expected {said(want)}, got {said(sizes(got))} (profile {profile.name!r}: "
            f"bw_flush_at={profile.bw_flush_at} pending flush {profile.bw_threshold_flush}, "
            f"every flush sends the whole queue, which holds bw_message_max={profile.bw_message_max})")


def exact_batching(h) -> bool:
    """Are message sizes exact here? Always for a flush the kernel runs in the call that queues the
    record; for a deferred (taskqueue) flush only on a virtual-time target."""
    return h.profile.bw_threshold_flush != "deferred" or h.target.virtual_time


def check_guarantees(what: str, delivered: list, order: list[tuple[str, int]], profile, lost: int | None) -> None:
    """What a design guarantees whenever its flush runs: no message above bw_message_max records,
    every record at most once and in the order queued, none lost unless more than bw_message_max
    were due at once (``lost``: the exact number lost, where known)."""
    big = [n for n in sizes(delivered) if n > profile.bw_message_max]
    assert not big, f"{what}: messages of {big} records, above bw_message_max={profile.bw_message_max}"
    ids = record_ids(delivered)
    counts = Counter(ids)
    dups = sorted(i for i, c in counts.items() if c > 1)
    extra = sorted(set(counts) - set(order))
    assert not dups and not extra, f"{what}: records duplicated {dups[:5]}, unexpected {extra[:5]}"
    rank = {rid: k for k, rid in enumerate(order)}
    out_of_order = [(a, b) for a, b in pairwise(ids) if rank[a] > rank[b]]
    assert not out_of_order, f"{what}: records out of queue order, e.g. {out_of_order[0]}"
    missing = len(order) - len(ids)
    if missing and len(order) <= profile.bw_message_max:
        raise AssertionError(f"{what}: {missing} of {len(order)} records lost, though the queue holds "
                             f"bw_message_max={profile.bw_message_max}: {sorted(set(order) - set(ids))[:5]}")
    if lost is not None and missing != lost:
        raise AssertionError(f"{what}: expected {lost} records lost to a full queue (the first "
                             f"{profile.bw_message_max} kept), {missing} were")


# -- bw.record -----------------------------------------------------------------------------------
@pytest.mark.clause("bw.record")
def test_geq_record_carries_every_field(h):
    rig = Rig(h, groups=2)
    grp = rig.groups[1]
    plen = rig.plen(300)
    rig.at(0.5)
    rig.add(PKTS | BYTES | GEQ, time=(7, 250_000), packets=3, bytes_=100_000, grp=grp)
    for t in (0.5, 1.0, 1.75):  # the first packet at the install time: both first-interval rules agree
        rig.at(t)
        rig.send(1, 300, grp=grp)
    rig.at(1.75 + 1 + rig.eps)
    got = rig.records()
    assert len(got) == 1, f"expected one record, got:\n{show_all(got)}"
    expect.assert_fields("GEQ bw_upcall record", {
        "bu_src": rig.src, "bu_dst": grp, "bu_flags": PKTS | BYTES | GEQ,
        "bu_threshold_time": (7, 250_000), "bu_threshold_packets": 3, "bu_threshold_bytes": 100_000,
        "bu_measured_time": (1, 250_000), "bu_measured_packets": 3, "bu_measured_bytes": 3 * plen,
    }, {**got[0], "bu_threshold_time": tuple(got[0]["bu_threshold_time"]),
        "bu_measured_time": tuple(got[0]["bu_measured_time"])})


@pytest.mark.clause("bw.record")
def test_leq_record_carries_every_field(h):
    rig = Rig(h, groups=2)
    grp = rig.groups[1]
    plen = rig.plen(300)
    rig.at(0.5)
    rig.add(BYTES | LEQ, time=(4, 125_000), packets=17, bytes_=10_000, grp=grp)
    rig.at(1.0)
    rig.send(2, 300, grp=grp)
    rig.at(0.5 + 4.125 + 1 + rig.eps)
    got = rig.records()
    assert len(got) == 1, f"expected one record at the interval end, got:\n{show_all(got)}"
    # the interval the record measures: b_time with one timer per meter, up to the next 1 s check on a wheel
    sent = [(1_000_000, plen)] * 2  # (time since MRT_INIT in µs, IP length)
    want_us = leq_due_for(h.profile, sent, 4_125_000, BYTES, 17, 10_000, 500_000,
                          round((0.5 + 4.125 + 1 + rig.eps) * 1_000_000))[0].time_us
    expect.assert_fields("LEQ bw_upcall record", {
        "bu_src": rig.src, "bu_dst": grp, "bu_flags": BYTES | LEQ,
        "bu_threshold_time": (4, 125_000), "bu_threshold_packets": 17, "bu_threshold_bytes": 10_000,
        "bu_measured_packets": 2, "bu_measured_bytes": 2 * plen,
    }, {**got[0], "bu_threshold_time": tuple(got[0]["bu_threshold_time"])})
    measured = tv_us(got[0]["bu_measured_time"])
    assert abs(measured - want_us) <= rig.slack_us, (
        f"LEQ bw_upcall record: bu_measured_time: expected {divmod(want_us, 1_000_000)}, the whole interval, "
        f"got {tuple(got[0]['bu_measured_time'])}")


@pytest.mark.clause("bw.record")
def test_record_flags_are_the_meters_not_delete_all(h):
    """DELETE_ALL means nothing on add; a record's bu_flags are the meter's units and operator."""
    rig = Rig(h)
    rig.add(PKTS | GEQ | DELETE_ALL, packets=1)
    rig.send(1)
    rig.at(1 + rig.eps)
    got = rig.records()
    assert [r["bu_flags"] for r in got] == [PKTS | GEQ], (
        f"expected one record with bu_flags {flag_names(PKTS | GEQ)}, got:\n{show_all(got)}")


# -- bw.message-format ---------------------------------------------------------------------------
@pytest.mark.clause("bw.message-format")
@pytest.mark.parametrize("n", [1, 3, 17])
def test_message_is_igmpmsg_header_then_records(h, n):
    rig = Rig(h)
    burst = Burst(rig, n, first_group=10)
    rig.at(0.25)
    burst.fire()
    rig.at(1.25 + rig.eps)
    msgs = rig.messages()
    assert sizes(msgs) == [n], f"{n} records due at one instant: expected one message, got {sizes(msgs)}"
    raw = msgs[0].raw
    shown = parse_ipv4_routing_read(raw, h.profile.abi_name).show(dump=True)
    assert len(raw) == 20 + BW_UPCALL_SIZE * n, (
        f"an igmpmsg (20 bytes) and {n} records of {BW_UPCALL_SIZE}: expected {20 + BW_UPCALL_SIZE * n} bytes, "
        f"got {len(raw)}\n{shown}")
    header = h.profile.struct("igmpmsg").unpack(raw[:20])
    assert (header["im_msgtype"], header["im_mbz"]) == (IGMPMSG_BW_UPCALL, 0), (
        f"igmpmsg header: expected im_msgtype {IGMPMSG_BW_UPCALL} (IGMPMSG_BW_UPCALL), im_mbz 0\n{shown}")
    stray = [i for i in range(20) if i != 8 and raw[i]]
    assert not stray, f"the BW_UPCALL header is all zero but for im_msgtype; bytes {stray} are not\n{shown}"
    recs = parse_ipv4_routing_read(raw, h.profile.abi_name).records
    assert len(recs) == n and {r.bu_dst for r in recs} == {burst.groups[0]}, f"records as dissected:\n{shown}"
    check_once(msgs, burst.ids, "one message")


# -- bw.batch-max --------------------------------------------------------------------------------
# literal counts, and counts derived from the profile's batching (flush_at F, message_max M)
DERIVED = {
    "F-1": lambda f, m: f - 1, "F": lambda f, m: f, "F+1": lambda f, m: f + 1, "2F+1": lambda f, m: 2 * f + 1,
    "M-1": lambda f, m: m - 1, "M": lambda f, m: m, "M+1": lambda f, m: m + 1,
}
N_CASES = [1, 127, 128, 129, 256, 1000, *DERIVED]


def resolve(n: int | str, profile) -> int:
    return n if isinstance(n, int) else DERIVED[n](profile.bw_flush_at, profile.bw_message_max)


@pytest.mark.clause("bw.batch-max")
@pytest.mark.parametrize("n", N_CASES, ids=str)
def test_records_due_at_once_are_batched(h, n):
    rig = Rig(h)
    p = h.profile
    count = resolve(n, p)
    burst = Burst(rig, count, first_group=10)
    oracle, exact = Batching(p), exact_batching(h)
    queued = 0.25
    rig.at(queued)
    burst.fire()
    now = rig.messages()
    want_now = oracle.queue(count)
    if exact:
        check_sizes(f"{count} records due at once, before any time passes", now, want_now, p)
    rig.at(rig.next_flush(queued) - rig.eps)
    early = rig.messages()
    want_early = oracle.step()
    if exact:
        check_sizes(f"{count} records due at once, just before the batch timer", early, want_early, p)
    rig.at(queued + 1 + rig.eps)
    later = rig.messages()
    want_later = oracle.timer()
    if exact:
        check_sizes(f"{count} records due at once, at the batch timer", later, want_later, p)
    check_guarantees(f"{count} records due at once", now + early + later, burst.order, p,
                     oracle.lost if exact else None)


# -- bw.batch-timer ------------------------------------------------------------------------------
@pytest.mark.clause("bw.batch-timer")
@pytest.mark.parametrize("phase", [0.001, 0.25, 0.5, 0.9])
def test_few_records_arrive_within_a_second(h, phase):
    """Records queued at a given phase of the free-running 1 s timer: none before it runs, and all
    together within 1 s of being queued."""
    rig = Rig(h)
    burst = Burst(rig, 3, first_group=10)
    queued = 2 + phase
    rig.at(queued)
    burst.fire()
    assert not rig.messages(), "3 records were sent at once: fewer than bw_flush_at must wait for the timer"
    rig.at(rig.next_flush(queued) - rig.eps)
    early = rig.messages()
    assert not early, f"records queued at {queued}s arrived before the 1 s timer ran:\n{sizes(early)}"
    rig.at(queued + 1 + rig.eps)
    got = rig.messages()
    assert sizes(got) == [3], (f"3 records queued at {queued}s: expected one message of 3 within 1 s, "
                               f"got {sizes(got) or 'nothing'}")
    check_once(got, burst.ids, "a partial batch")


@pytest.mark.clause("bw.batch-timer")
def test_a_steady_trickle_does_not_delay_delivery(h):
    """A record every 0.5 s: each is delivered within 1 s of being queued (a timer that restarts
    with every new record would never run)."""
    rig = Rig(h)
    bursts = [Burst(rig, 1, first_group=10 + i) for i in range(6)]
    fired = [0.25 + 0.5 * i for i in range(6)]
    checks = sorted([(t, "fire", i) for i, t in enumerate(fired)] +
                    [(t + 1 + rig.eps, "check", i) for i, t in enumerate(fired)])
    delivered: list = []
    for t, what, i in checks:
        rig.at(t)
        delivered += rig.messages()
        if what == "fire":
            bursts[i].fire()
            continue
        want = set().union(*(b.ids for b in bursts[: i + 1]))
        missing = want - set(record_ids(delivered))
        assert not missing, (f"at {t}s, the records queued at {fired[: i + 1]} must all have arrived; "
                             f"missing {sorted(missing)}")
    check_once(delivered, set().union(*(b.ids for b in bursts)), "a trickle of records")


@pytest.mark.clause("bw.batch-timer", "bw.batch-max")
def test_pending_records_at_a_leq_interval_end(h):
    """A profile that flushes at every ``<=`` interval end (``bw_flush_on_leq``) delivers what is
    pending there, even when that meter does not report; every profile delivers within 1 s."""
    rig = Rig(h, groups=2)
    geq_g, leq_g = rig.groups
    rig.add(PKTS | LEQ, time=(3, 500_000), packets=0, grp=leq_g)  # ends at 3.5 s, off the 1 s grid
    rig.add(PKTS | GEQ, packets=1, grp=geq_g)
    rig.send(1, grp=leq_g)  # above the LEQ threshold: that meter stays quiet
    rig.at(3.25)
    rig.send(1, grp=geq_g)
    rig.at(3.5 + rig.eps)
    got = rig.records()
    if h.profile.bw_flush_on_leq:
        assert [r["bu_dst"] for r in got] == [geq_g], (
            f"the profile flushes at every <= interval end: the GEQ record queued at 3.25s must be out "
            f"at 3.5s + {rig.eps}s, got:\n{show_all(got)}")
    elif h.target.virtual_time:  # exactly: nothing flushes between the 1 s timer's runs at 3 s and 4 s
        assert not got, (f"the profile does not flush at <= interval ends: nothing may arrive at 3.5s + "
                         f"{rig.eps}s, before the 1 s timer at 4s; got:\n{show_all(got)}")
    rig.at(3.25 + 1 + rig.eps)
    got += rig.records()
    if h.profile.bw_leq_timer != "per-meter":  # the wheel's restart rule makes the LEQ meter report a
        got = [r for r in got if r["bu_dst"] == geq_g]  # quiet interval at 4 s (test_bw_leq checks that)
    assert [r["bu_dst"] for r in got] == [geq_g], f"expected the GEQ record only, got:\n{show_all(got)}"


# -- property: any number of records due at once -------------------------------------------------
def plans(flush_at: int, capacity: int):
    """Windows of bursts: each window's bursts fall between two ticks of the 1 s timer."""
    size = st.one_of(st.sampled_from([1, flush_at - 1, flush_at, flush_at + 1, capacity, capacity + 1]),
                     st.integers(1, flush_at + 8))
    return st.lists(st.lists(size, min_size=1, max_size=3), min_size=1, max_size=2)


@pytest.mark.clause("bw.batch-max", "bw.batch-timer")
def test_batching_property(h):
    """For any bursts of records due at once: no message carries more than bw_message_max, records
    arrive in the order queued, at most once, none lost below the queue's capacity, all within 1 s
    of the oldest of them; where sizes are exact, the messages are those the profile's batching
    declares, burst by burst."""
    h.require_api(MRT_MFC_BW_UPCALL)
    target, p = h.target, h.profile
    budget = max(2 * p.bw_flush_at + 2, p.bw_message_max + 2)  # meters per example: keeps the suite fast

    @settings(max_examples=8, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(plan=plans(p.bw_flush_at, p.bw_message_max))
    def run(plan):
        trimmed, total = [], 0
        for window in plan:
            keep = []
            for n in window:
                if total + n <= budget:
                    keep.append(n)
                    total += n
            if keep:
                trimmed.append(keep)
        target.reset()
        h2 = Harness(target)
        rig = Rig(h2)
        exact = exact_batching(h2)
        group = 10
        windows = []
        for window in trimmed:
            bursts = []
            for n in window:
                bursts.append(Burst(rig, n, first_group=group))
                group += bursts[-1].entries
            windows.append(bursts)
        for w, bursts in enumerate(windows):
            oracle = Batching(p)
            delivered: list = []
            base = 2 * w + 0.0625
            for j, b in enumerate(bursts):
                rig.at(base + 0.125 * j)
                moved = rig.messages()
                if exact:
                    check_sizes(f"window {w} {[b.n for b in bursts]}, the clock moved before burst {j}",
                                moved, oracle.step(), p)
                b.fire()
                now = rig.messages()
                if exact:
                    check_sizes(f"window {w} {[b.n for b in bursts]}, burst {j}", now, oracle.queue(b.n), p)
                else:
                    oracle.queue(b.n)
                delivered += moved + now
            last = base + 0.125 * (len(bursts) - 1)
            rig.at(rig.next_flush(last) - rig.eps)
            early = rig.messages()
            if exact:
                check_sizes(f"window {w}, just before the batch timer", early, oracle.step(), p)
            rig.at(base + 1 + rig.eps)  # within 1 s of the oldest pending record, all of them
            later = rig.messages()
            if exact:
                check_sizes(f"window {w}, at the batch timer, 1 s after the first burst", later, oracle.timer(), p)
            order = [rid for b in bursts for rid in b.order]
            # the capacity bounds what one window may lose only when the window's records were all pending together
            check_guarantees(f"window {w}, bursts {[b.n for b in bursts]}", delivered + early + later, order, p,
                             oracle.lost if exact else None)

    run()
