"""The virtual clock: time only moves when the caller says so.

Timers live in a heap, so advancing the clock costs O(log n) per timer that fires and O(1) when
none is due: cost follows the timers that expire, not the timers that exist.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable


class Timer:
    """A handle to a scheduled callback; ``cancel()`` makes it a no-op."""

    __slots__ = ("at", "callback", "cancelled")

    def __init__(self, at: float, callback: Callable[[], None]) -> None:
        self.at = at
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Monotonic seconds since the model started, advanced explicitly."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()

    def call_at(self, at: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(at, callback)
        heapq.heappush(self._heap, (at, next(self._seq), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.now + delay, callback)

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every timer due on the way, in time order."""
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        self.advance_to(self.now + seconds)

    def advance_to(self, t: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= t:
            at, _, timer = heapq.heappop(heap)
            if timer.cancelled:
                continue
            self.now = max(self.now, at)
            timer.callback()
        self.now = max(self.now, t)

    def pending(self) -> int:
        """Number of live timers (for tests and benchmarks)."""
        return sum(1 for _, _, t in self._heap if not t.cancelled)
