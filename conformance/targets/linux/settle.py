"""Waiting for a kernel to finish reacting, by select() on the sockets, never by blind sleeps.

The kernel reacts to our stimuli (an injected frame, a setsockopt that releases queued packets)
mostly before the call returns, but softirq work can be deferred to ksoftirqd under load. We
therefore read until a quiet window passes with nothing new, counted from the later of the last
stimulus and the last item that arrived.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Sequence


class Activity:
    """Monotonic time of the last stimulus: an operation that can make the router emit frames or
    upcalls (``send()`` and ``setsockopt()``; closing sockets and ioctls cannot)."""

    def __init__(self) -> None:
        self.last = 0.0  # no stimulus yet

    def touch(self) -> None:
        """Record a stimulus now."""
        self.last = time.monotonic()


def read_until_quiet(
    fds: Sequence[int], read: Callable[[int], int], since: float, first: float, gap: float
) -> None:
    """Call ``read(fd)`` on readable fds until nothing useful came for a while.

    ``read`` drains one fd and returns how many useful items it got (noise counts 0). Waits until
    ``since + first`` when nothing useful has come yet, then ``gap`` after the last useful item.
    Always polls at least once, so data already queued is never missed.
    """
    deadline = since + first
    while True:
        timeout = max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select(fds, [], [], timeout)
        if ready:
            if sum(read(fd) for fd in ready):
                deadline = time.monotonic() + gap
            continue
        if time.monotonic() >= deadline:
            return
