"""Bandwidth meters (MRT_ADD_BW_UPCALL / MRT_DEL_BW_UPCALL) and IGMPMSG_BW_UPCALL batching.

`>=` meters are clocked by packets; `<=` meters each hold one timer on the virtual clock's heap,
so advancing time costs only for the meters whose interval ends. Records queue until
``profile.bw_flush_at`` are pending (what happens then is ``profile.bw_threshold_flush``) or the
free-running 1 s timer fires; every flush drains the whole queue into one message, and the queue
holds at most ``profile.bw_message_max`` records (docs/spec/freebsd.md §6.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, assert_never

from mroute_spec.constants import (
    BW_UPCALL_DELETE_ALL,
    BW_UPCALL_GEQ,
    BW_UPCALL_LEQ,
    BW_UPCALL_UNIT_BYTES,
    BW_UPCALL_UNIT_PACKETS,
    MRT_MFC_BW_UPCALL,
)
from reference_impl import upcalls
from reference_impl.clock import Timer, VirtualClock
from reference_impl.contracts import RouterView
from reference_impl.errors import Errno

if TYPE_CHECKING:
    from reference_impl.mfc import MfcEntry

USER_FLAGS = 0xF
FLUSH_PERIOD = 1.0
LEQ_MIN_INTERVAL_US = 1000  # one tick at hz=1000


def usec(seconds: float) -> int:
    return round(seconds * 1_000_000)


def timeval(us: int) -> tuple[int, int]:
    return divmod(us, 1_000_000)


@dataclass(eq=False)
class Meter:
    """One installed meter and its current measurement interval."""

    entry: MfcEntry
    flags: int  # units | GEQ/LEQ as installed
    b_time: tuple[int, int]
    b_packets: int
    b_bytes: int
    start_us: int | None = None  # None: the first packet has not started an interval yet
    packets: int = 0
    bytes: int = 0
    delivered: bool = False
    timer: Timer | None = field(default=None, repr=False)

    @property
    def interval_us(self) -> int:
        return self.b_time[0] * 1_000_000 + self.b_time[1]

    def same(self, other: Meter) -> bool:
        return (self.flags, self.b_time, self.b_packets, self.b_bytes) == (
            other.flags, other.b_time, other.b_packets, other.b_bytes)

    def reached(self) -> bool:
        """`>=` test over the configured units, combined with OR."""
        return bool(
            (self.flags & BW_UPCALL_UNIT_PACKETS and self.packets >= self.b_packets)
            or (self.flags & BW_UPCALL_UNIT_BYTES and self.bytes >= self.b_bytes))

    def at_or_below(self) -> bool:
        """`<=` test over the configured units, combined with OR."""
        return bool(
            (self.flags & BW_UPCALL_UNIT_PACKETS and self.packets <= self.b_packets)
            or (self.flags & BW_UPCALL_UNIT_BYTES and self.bytes <= self.b_bytes))


class Meters:
    """All meters of one router, and the records waiting to go up."""

    def __init__(self, router: RouterView) -> None:
        self.router = router
        self.records: list[bytes] = []
        self._flush_timer: Timer | None = None
        self._drain: Timer | None = None  # a scheduled "deferred" threshold flush
        self._wheel: list[Meter] = []  # LEGACY `<=` meters, checked by the 1 s wheel
        self._wheel_timer: Timer | None = None

    @property
    def clock(self) -> VirtualClock:
        return self.router.kernel.clock

    def now_us(self) -> int:
        return usec(self.clock.now)

    # -- options ---------------------------------------------------------------------------
    def parse(self, buf: bytes) -> tuple[dict[str, Any], MfcEntry | None]:
        if not self.router.api_config & MRT_MFC_BW_UPCALL:
            raise Errno("bw.not_negotiated")
        a = self.router.profile.struct("bw_upcall").unpack(buf)
        return a, self.router.mfc.get((a["bu_src"], a["bu_dst"]))

    def add(self, buf: bytes) -> None:
        """MRT_ADD_BW_UPCALL: validate in the implementation's order, then install."""
        a, entry = self.parse(buf)
        flags = a["bu_flags"]
        if not flags & (BW_UPCALL_UNIT_PACKETS | BW_UPCALL_UNIT_BYTES):
            raise Errno("bw.bad_unit")
        if bool(flags & BW_UPCALL_GEQ) == bool(flags & BW_UPCALL_LEQ):
            raise Errno("bw.bad_operator")
        if tuple(a["bu_threshold_time"]) < self.router.profile.tmin:
            raise Errno("bw.tmin")
        if entry is None:
            raise Errno("bw.no_entry")
        meter = Meter(entry, flags & USER_FLAGS, tuple(a["bu_threshold_time"]),
                      a["bu_threshold_packets"], a["bu_threshold_bytes"])
        if any(meter.same(m) for m in entry.meters):
            return
        entry.meters.append(meter)
        match self.router.profile.bw_first_interval:
            case "install":
                starts_now = True
            case "first-packet":  # `<=` meters are timed, so they start at install all the same
                starts_now = bool(flags & BW_UPCALL_LEQ)
            case unknown:
                assert_never(unknown)
        if starts_now:
            meter.start_us = self.now_us()
        if flags & BW_UPCALL_LEQ:
            match self.router.profile.bw_leq_timer:
                case "per-meter":
                    self._arm_leq(meter)
                case "wheel":
                    self._wheel.append(meter)
                    self._arm_wheel()
                case other:
                    assert_never(other)

    def delete(self, buf: bytes) -> None:
        """MRT_DEL_BW_UPCALL: DELETE_ALL for the (S,G), else the exactly matching meter."""
        a, entry = self.parse(buf)
        if entry is None:
            raise Errno("bw.no_entry")
        flags = a["bu_flags"]
        if flags & BW_UPCALL_DELETE_ALL:
            for m in entry.meters:
                self._stop(m)
            entry.meters.clear()
            return
        probe = Meter(entry, flags & USER_FLAGS, tuple(a["bu_threshold_time"]),
                      a["bu_threshold_packets"], a["bu_threshold_bytes"])
        for m in entry.meters:
            if m.same(probe):
                self._stop(m)
                entry.meters.remove(m)
                return
        raise Errno("bw.del_nomatch")

    # -- measurement -----------------------------------------------------------------------
    def packet(self, entry: MfcEntry, plen: int) -> None:
        """An RPF-passing packet: count it; `>=` meters may fire once per interval."""
        if not entry.meters:
            return
        now = self.now_us()
        for m in entry.meters:
            if m.flags & BW_UPCALL_LEQ:
                if self.router.profile.bw_leq_timer == "wheel":
                    self._wheel_packet(m, now, plen)
                    continue
                m.packets += 1
                m.bytes += plen
                continue
            if m.start_us is None or now - m.start_us > m.interval_us:
                m.start_us, m.packets, m.bytes, m.delivered = now, 0, 0, False
            m.packets += 1
            m.bytes += plen
            if not m.delivered and m.reached():
                m.delivered = True
                self.queue(m, now - m.start_us)

    def _arm_leq(self, m: Meter) -> None:
        assert m.start_us is not None
        # b_time passes Tmin lexicographically, so {5,-5000000} (0 s) is accepted; tvtohz() makes
        # any interval at least one tick, and a zero-length timer would never let the clock move.
        interval = max(m.interval_us, LEQ_MIN_INTERVAL_US)
        m.timer = self.clock.call_at((m.start_us + interval) / 1_000_000, lambda: self._leq_end(m))

    def _leq_end(self, m: Meter) -> None:
        """End of a `<=` interval: upcall if at or below, then restart, traffic or not."""
        now = self.now_us()
        assert m.start_us is not None
        if m.at_or_below():
            self.queue(m, now - m.start_us)
        if self.router.profile.bw_flush_on_leq:  # fbsd: every expiry flushes, fired or not
            self.flush()
        m.start_us, m.packets, m.bytes = now, 0, 0
        self._arm_leq(m)

    def _stop(self, m: Meter) -> None:
        if m.timer is not None:
            m.timer.cancel()
        if m in self._wheel:
            self._wheel.remove(m)

    # -- LEGACY `<=` meters: the 1 s time wheel (docs/spec/freebsd.md §6.3) ---------------------
    def _arm_wheel(self) -> None:
        """bw_meter_process: every whole second since MRT_INIT, while any `<=` meter exists."""
        if self._wheel_timer is None and self._wheel:
            n = int((self.clock.now - self.router.init_time) / FLUSH_PERIOD) + 1
            self._wheel_timer = self.clock.call_at(self.router.init_time + n * FLUSH_PERIOD, self._wheel_tick)

    def _wheel_tick(self) -> None:
        """Every meter whose interval has ended reports if at or below and restarts; then a flush."""
        self._wheel_timer = None
        now = self.now_us()
        for m in list(self._wheel):
            assert m.start_us is not None
            if m.start_us + m.interval_us <= now:
                if m.at_or_below():
                    self.queue(m, now - m.start_us)
                m.start_us, m.packets, m.bytes = now, 0, 0
        self.flush()
        self._arm_wheel()

    def _wheel_packet(self, m: Meter, now: int, plen: int) -> None:
        """A packet: an overdue interval ends first; then count; every unit above restarts it."""
        assert m.start_us is not None
        if now - m.start_us > m.interval_us:
            if m.at_or_below():
                self.queue(m, now - m.start_us)
            m.start_us, m.packets, m.bytes = now, 0, 0
        m.packets += 1
        m.bytes += plen
        over = [(BW_UPCALL_UNIT_PACKETS, m.packets > m.b_packets), (BW_UPCALL_UNIT_BYTES, m.bytes > m.b_bytes)]
        if all(above for unit, above in over if m.flags & unit):
            m.start_us, m.packets, m.bytes = now, 0, 0

    # -- records and batching --------------------------------------------------------------
    def queue(self, m: Meter, measured_us: int) -> None:
        """Queue one record; a threshold flush per the profile's design; lost when the queue is full."""
        p = self.router.profile
        rec = p.struct("bw_upcall").pack(
            bu_src=m.entry.source, bu_dst=m.entry.group, bu_flags=m.flags,
            bu_threshold_time=m.b_time, bu_threshold_packets=m.b_packets, bu_threshold_bytes=m.b_bytes,
            bu_measured_time=timeval(measured_us), bu_measured_packets=m.packets, bu_measured_bytes=m.bytes)
        match p.bw_threshold_flush:
            case "before-queue":  # LEGACY: a full static array goes out before the new record
                if len(self.records) >= p.bw_flush_at:
                    self.flush()
                self._append(rec)
            case "after-queue":
                self._append(rec)
                if len(self.records) >= p.bw_flush_at:
                    self.flush()
            case "deferred":  # MODERN: the taskqueue drains the ring later (here: the next clock event)
                self._append(rec)
                if len(self.records) >= p.bw_flush_at and self._drain is None:
                    self._drain = self.clock.call_at(self.clock.now, self._on_drain)
            case unknown:
                assert_never(unknown)
        if self.records and self._flush_timer is None:
            self._arm_flush()

    def _append(self, rec: bytes) -> None:
        """Queue ``rec`` unless the queue is full (MODERN: buf_ring_enqueue fails, the record is lost)."""
        if len(self.records) < self.router.profile.bw_message_max:
            self.records.append(rec)

    def _on_drain(self) -> None:
        self._drain = None
        self.flush()

    def _arm_flush(self) -> None:
        """The free-running 1 s flush, on the grid MRT_INIT started."""
        elapsed = self.clock.now - self.router.init_time
        n = int(elapsed / FLUSH_PERIOD) + 1
        self._flush_timer = self.clock.call_at(self.router.init_time + n * FLUSH_PERIOD, self._on_flush)

    def _on_flush(self) -> None:
        self._flush_timer = None
        self.flush()

    def flush(self) -> None:
        """Send every pending record in one message (the queue never holds more than one carries)."""
        if self.records:
            assert len(self.records) <= self.router.profile.bw_message_max
            batch, self.records = self.records, []
            self.router.upcall(upcalls.bw_message(batch))
        self._cancel_timers()

    def _cancel_timers(self) -> None:
        for timer in (self._flush_timer, self._drain):
            if timer is not None:
                timer.cancel()
        self._flush_timer = self._drain = None

    def drop_entry(self, entry: MfcEntry) -> None:
        """Meters go away with their MFC entry."""
        for m in entry.meters:
            self._stop(m)
        entry.meters.clear()

    def reset(self) -> None:
        """MRT_DONE: pending records are discarded, not delivered."""
        self.records.clear()
        self._cancel_timers()
        self._wheel.clear()
        if self._wheel_timer is not None:
            self._wheel_timer.cancel()
            self._wheel_timer = None
