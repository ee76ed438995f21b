"""What the bw.* tests share: a metered router, a clock kept since MRT_INIT, and the spec's rules.

The oracles below are written from the spec's text (docs/spec/api.md §7, "bandwidth monitoring") and
from the variants the target's profile declares (``bw_first_interval``, ``bw_flush_at``,
``bw_message_max``, ``bw_flush_on_leq``); they never call the model. Time in the oracles is in
integer microseconds since MRT_INIT, so boundaries are exact.

A meter is named in messages by what it was installed with, e.g. ``GEQ|PKTS 3s/2p/0B on 232.1.0.1``,
and a record by what it measured, e.g. ``GEQ|PKTS 3s/2p/0B on 232.1.0.1: 1.500000s 2p 256B``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mroute_spec.constants import (
    BW_UPCALL_DELETE_ALL,
    BW_UPCALL_GEQ,
    BW_UPCALL_LEQ,
    BW_UPCALL_UNIT_BYTES,
    BW_UPCALL_UNIT_PACKETS,
    MRT_MFC_BW_UPCALL,
)

PKTS, BYTES = BW_UPCALL_UNIT_PACKETS, BW_UPCALL_UNIT_BYTES
GEQ, LEQ, DELETE_ALL = BW_UPCALL_GEQ, BW_UPCALL_LEQ, BW_UPCALL_DELETE_ALL
US = 1_000_000
FLUSH_PERIOD = 1.0  # "when 1 second has expired": the batch timer of the spec
_FLAG_NAMES = ((GEQ, "GEQ"), (LEQ, "LEQ"), (PKTS, "PKTS"), (BYTES, "BYTES"), (DELETE_ALL, "DELETE_ALL"))


# -- naming --------------------------------------------------------------------------------
def flag_names(flags: int) -> str:
    names = [n for bit, n in _FLAG_NAMES if flags & bit]
    rest = flags & ~sum(bit for bit, _ in _FLAG_NAMES)
    if rest:
        names.append(hex(rest))
    return "|".join(names) or "0"


def tv_us(tv: Sequence[int]) -> int:
    return int(tv[0]) * US + int(tv[1])


def fmt_us(t: int) -> str:
    return f"{t / US:.6f}s"


def meter_name(flags: int, time: tuple[int, int], packets: int, bytes_: int, grp: str = "") -> str:
    where = f" on {grp}" if grp else ""
    return f"{flag_names(flags)} {{{time[0]},{time[1]}}}/{packets}p/{bytes_}B{where}"


def show(rec: dict) -> str:
    """One decoded bw_upcall record, on one line."""
    m = meter_name(rec["bu_flags"], tuple(rec["bu_threshold_time"]), rec["bu_threshold_packets"],
                   rec["bu_threshold_bytes"], rec["bu_dst"])
    return (f"{m} from {rec['bu_src']}: measured {fmt_us(tv_us(rec['bu_measured_time']))} "
            f"{rec['bu_measured_packets']}p {rec['bu_measured_bytes']}B")


def show_all(recs: Iterable[dict]) -> str:
    lines = [f"    {show(r)}" for r in recs]
    return "\n".join(lines) if lines else "    (none)"


# -- the arrangement -------------------------------------------------------------------------
class Rig:
    """A routing socket with MRT_MFC_BW_UPCALL negotiated, vifs 0 and 1, and entries (S, G_i)
    forwarding from vif 0 to vif 1. ``t`` is the time since MRT_INIT, which the rig keeps by
    summing its own steps (a fresh target starts its clock at MRT_INIT)."""

    def __init__(self, h, groups: int = 1) -> None:
        h.require_api(MRT_MFC_BW_UPCALL)
        self.h = h
        self.profile = h.profile
        self.r = h.router(4)
        got = self.r.api_config(MRT_MFC_BW_UPCALL)
        assert got & MRT_MFC_BW_UPCALL, (
            f"MRT_API_SUPPORT offers MRT_MFC_BW_UPCALL but MRT_API_CONFIG wrote back {got:#x}")
        self.r.add_vifs(0, 1)
        self.src = h.src(4)
        self.groups = [h.group(4, 1 + i) for i in range(groups)]
        for g in self.groups:
            self.r.add_mfc(self.src, g, 0, {1: 1})
        self.now_us = 0
        virtual = h.target.virtual_time
        # "just before / just after" a boundary; measured times may lag a real kernel's tick
        self.eps = 0.001 if virtual else 0.05
        self.slack_us = 0 if virtual else 50_000
        self._pkts: dict[tuple[str, int], bytes] = {}
        self.plen_of: dict[int, int] = {}

    @property
    def grp(self) -> str:
        return self.groups[0]

    @property
    def t(self) -> float:
        return self.now_us / US

    # -- time --------------------------------------------------------------------------------
    def at(self, t: float) -> None:
        """Step the clock to ``t`` seconds after MRT_INIT (never backwards)."""
        target = round(t * US)
        if target < self.now_us:
            raise ValueError(f"test bug: clock at {self.t}s, asked for {t}s")
        if target > self.now_us:
            self.h.advance((target - self.now_us) / US)
            self.now_us = target

    def next_flush(self, after: float | None = None) -> float:
        """The first whole second after ``after`` (default now), counted from MRT_INIT."""
        base = self.t if after is None else after
        return float(int(base // FLUSH_PERIOD) + 1) * FLUSH_PERIOD

    # -- meters ------------------------------------------------------------------------------
    def add(self, flags: int, time: tuple[int, int] = (3, 0), packets: int = 0, bytes_: int = 0,
            grp: str | None = None, src: str | None = None) -> None:
        self.r.add_bw(src or self.src, grp or self.grp, flags, time=time, packets=packets, bytes_=bytes_)

    def delete(self, flags: int, time: tuple[int, int] = (3, 0), packets: int = 0, bytes_: int = 0,
               grp: str | None = None, src: str | None = None) -> None:
        self.r.del_bw(src or self.src, grp or self.grp, flags, time=time, packets=packets, bytes_=bytes_)

    def installed(self, flags: int, time: tuple[int, int] = (3, 0), packets: int = 0, bytes_: int = 0,
                  grp: str | None = None) -> bool:
        """Probe (destructively) whether exactly this meter exists: MRT_DEL_BW_UPCALL of it succeeds."""
        try:
            self.delete(flags, time, packets, bytes_, grp)
        except OSError as e:
            if e.errno == self.profile.errno_of("bw.del_nomatch"):
                return False
            raise
        return True

    # -- traffic -----------------------------------------------------------------------------
    def packet(self, size: int = 0, grp: str | None = None) -> bytes:
        key = (grp or self.grp, size)
        if key not in self._pkts:
            pkt = self.h.packet(4, self.src, key[0], ttl=64, size=size)
            self._pkts[key] = pkt
            self.plen_of[size] = self.h.counted_bytes(pkt)
        return self._pkts[key]

    def plen(self, size: int = 0) -> int:
        """What a meter counts in bytes for a packet ``send(size=size)`` sends: its total IP length,
        or the length after the IP header under a payload-counting profile (NetBSD)."""
        self.packet(size)
        return self.plen_of[size]

    def send(self, n: int = 1, size: int = 0, grp: str | None = None) -> int:
        """Send ``n`` packets of (S, grp) on vif 0, now; returns the IP length of each."""
        self.h.send(0, self.packet(size, grp), n)
        return self.plen_of[size]

    # -- what came up ------------------------------------------------------------------------
    def messages(self) -> list:
        """IGMPMSG_BW_UPCALL messages read since the last look."""
        return self.r.upcalls("BW_UPCALL")

    def records(self) -> list[dict]:
        return [rec for m in self.messages() for rec in m.records]


# -- the spec's rules, as oracles --------------------------------------------------------------
def condition(op: int, units: int, packets: int, bytes_: int, thr_packets: int, thr_bytes: int) -> bool:
    """The pseudo-code: per configured unit compare with >= or <=; units combine with OR."""
    def cmp(measured: int, threshold: int) -> bool:
        return measured >= threshold if op == GEQ else measured <= threshold

    return (bool(units & PKTS) and cmp(packets, thr_packets)) or (bool(units & BYTES) and cmp(bytes_, thr_bytes))


@dataclass(frozen=True)
class Due:
    """A record the rules say is due: queued at ``at_us``, measuring an interval of ``time_us``."""

    at_us: int
    time_us: int
    packets: int
    bytes: int

    def __str__(self) -> str:
        return f"at {fmt_us(self.at_us)}: measured {fmt_us(self.time_us)} {self.packets}p {self.bytes}B"


def geq_due(schedule: Sequence[tuple[int, int]], interval_us: int, units: int, thr_packets: int,
            thr_bytes: int, first_start_us: int | None) -> list[Due]:
    """``>=``: split the packets into measurement intervals, then report the first packet of each
    interval at which the threshold is reached.

    An interval covers the packets up to its start + b_time; the first packet after that starts
    the next one. The first interval starts at ``first_start_us`` (install time) or, when None,
    at the first packet. ``schedule`` is [(time_us, ip_length)] in time order.
    """
    intervals: list[tuple[int, list[tuple[int, int]]]] = []
    start = first_start_us
    current: list[tuple[int, int]] = []
    for t, plen in schedule:
        if start is None or t > start + interval_us:
            if current and start is not None:
                intervals.append((start, current))
            start, current = t, []
        current.append((t, plen))
    if current and start is not None:
        intervals.append((start, current))
    due = []
    for begin, pkts in intervals:
        n = total = 0
        for t, plen in pkts:
            n, total = n + 1, total + plen
            if condition(GEQ, units, n, total, thr_packets, thr_bytes):
                due.append(Due(t, t - begin, n, total))
                break
    return due


def leq_due(schedule: Sequence[tuple[int, int]], interval_us: int, units: int, thr_packets: int,
            thr_bytes: int, install_us: int, until_us: int) -> list[Due]:
    """``<=``: fixed intervals from the install time; at each end up to ``until_us`` a record if
    the interval's counts are at or below the threshold. A packet at an end belongs to the next."""
    due = []
    end = install_us + interval_us
    while end <= until_us:
        inside = [plen for t, plen in schedule if end - interval_us <= t < end]
        if condition(LEQ, units, len(inside), sum(inside), thr_packets, thr_bytes):
            due.append(Due(end, interval_us, len(inside), sum(inside)))
        end += interval_us
    return due


def leq_wheel_due(schedule: Sequence[tuple[int, int]], interval_us: int, units: int, thr_packets: int,
                  thr_bytes: int, install_us: int, until_us: int) -> list[Due]:
    """``<=`` on LEGACY's 1 s time wheel (docs/spec/freebsd.md §6.3): the meter is checked at every
    whole second since MRT_INIT (an interval that has reached its end reports if at or below and
    restarts there) and at every packet (an interval more than b_time old reports and restarts
    first); a packet that takes every configured unit above its threshold restarts the interval.
    A tick and a packet at the same instant: the tick first. ``at_us`` is when the record queues."""
    due: list[Due] = []
    start, n, total = install_us, 0, 0
    ticks = [(k * US, None) for k in range(install_us // US + 1, until_us // US + 1)]
    events = sorted([*ticks, *schedule], key=lambda e: (e[0], e[1] is not None))
    for t, plen in events:
        if plen is None:
            if start + interval_us <= t:
                if condition(LEQ, units, n, total, thr_packets, thr_bytes):
                    due.append(Due(t, t - start, n, total))
                start, n, total = t, 0, 0
            continue
        if t - start > interval_us:
            if condition(LEQ, units, n, total, thr_packets, thr_bytes):
                due.append(Due(t, t - start, n, total))
            start, n, total = t, 0, 0
        n, total = n + 1, total + plen
        if all(above for unit, above in ((PKTS, n > thr_packets), (BYTES, total > thr_bytes)) if units & unit):
            start, n, total = t, 0, 0
    return due


def leq_due_for(profile, schedule: Sequence[tuple[int, int]], interval_us: int, units: int, thr_packets: int,
                thr_bytes: int, install_us: int, until_us: int) -> list[Due]:
    """The records a ``<=`` meter owes under the profile's declared timer design (``bw_leq_timer``)."""
    design = profile.bw_leq_timer
    if design == "per-meter":
        return leq_due(schedule, interval_us, units, thr_packets, thr_bytes, install_us, until_us)
    if design == "wheel":
        return leq_wheel_due(schedule, interval_us, units, thr_packets, thr_bytes, install_us, until_us)
    raise AssertionError(f"profile {profile.name!r} declares an unknown bw_leq_timer {design!r}")


class Batching:
    """The batching the profile declares (``bw_flush_at``, ``bw_message_max``,
    ``bw_threshold_flush``; docs/spec/freebsd.md §6.4), as an oracle of message sizes.

    ``queue(n)``: the messages sent while ``n`` records are queued with no time passing;
    ``step()``: those sent when the clock next moves (a "deferred" threshold flush);
    ``timer()``: those sent by the 1 s timer. Every flush sends the whole queue as one message,
    and a record that finds ``bw_message_max`` pending is lost (counted in ``lost``). The exact
    sizes of a "deferred" design hold only on a virtual-time target, where "later" is defined as
    the next clock step; a kernel's taskqueue runs whenever it runs.
    """

    def __init__(self, profile) -> None:
        self.flush_at, self.capacity = profile.bw_flush_at, profile.bw_message_max
        self.design = profile.bw_threshold_flush
        if self.design not in ("after-queue", "before-queue", "deferred"):
            raise AssertionError(f"profile {profile.name!r} declares an unknown bw_threshold_flush {self.design!r}")
        self.pending = self.lost = 0
        self.scheduled = False

    def _drain(self) -> list[int]:
        sent, self.pending, self.scheduled = ([self.pending] if self.pending else []), 0, False
        return sent

    def queue(self, n: int) -> list[int]:
        sent: list[int] = []
        for _ in range(n):
            if self.design == "before-queue" and self.pending >= self.flush_at:
                sent += self._drain()
            if self.pending < self.capacity:
                self.pending += 1
            else:
                self.lost += 1
            if self.pending >= self.flush_at:
                if self.design == "after-queue":
                    sent += self._drain()
                elif self.design == "deferred":
                    self.scheduled = True
        return sent

    def step(self) -> list[int]:
        return self._drain() if self.scheduled else []

    def timer(self) -> list[int]:
        return self._drain()


def first_interval_start(profile, install_us: int) -> int | None:
    """When a ``>=`` meter's first interval starts under the profile's declared rule."""
    rule = profile.bw_first_interval
    if rule == "install":
        return install_us
    if rule == "first-packet":
        return None
    raise AssertionError(f"profile {profile.name!r} declares an unknown bw_first_interval {rule!r}")


def measured(rec: dict) -> Due:
    """What a delivered record says it measured (its queue time is not in it: ``at_us`` is -1)."""
    return Due(-1, tv_us(rec["bu_measured_time"]), rec["bu_measured_packets"], rec["bu_measured_bytes"])


def same_measure(got: dict, want: Due, slack_us: int = 0) -> bool:
    m = measured(got)
    return (m.packets, m.bytes) == (want.packets, want.bytes) and abs(m.time_us - want.time_us) <= slack_us


def compare_records(what: str, got: list[dict], want: list[Due], slack_us: int = 0, why: str = "") -> None:
    """The delivered records equal the due ones, in order, measured field by measured field."""
    ok = len(got) == len(want) and all(same_measure(g, w, slack_us) for g, w in zip(got, want, strict=False))
    if not ok:
        wanted = "\n".join(f"    {w}" for w in want) or "    (none)"
        raise AssertionError(f"{what}: records differ from the rule{' (' + why + ')' if why else ''}\n"
                             f"  expected {len(want)}:\n{wanted}\n  got {len(got)}:\n{show_all(got)}")
