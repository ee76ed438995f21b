"""Time as a test sees it: virtual steps on the model, wall time on a kernel."""

from __future__ import annotations

import time

import pytest

from conformance.targets.base import Target


class Stopwatch:
    """Time since ``start()``: the sum of ``advance`` steps on a virtual clock, wall time on a kernel.

    ``advance_to(t)`` lets time pass until ``t`` seconds after the start, so the latency of the
    target's own calls never pushes a probe past the instant it is meant to precede.
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self.start()

    def start(self) -> None:
        self._wall = time.monotonic()
        self._virtual = 0.0

    @property
    def elapsed(self) -> float:
        return self._virtual if self.target.virtual_time else time.monotonic() - self._wall

    def advance_to(self, t: float, *, before: float | None = None) -> None:
        """Let time pass to ``t``; with ``before``, the target must not already be past that instant."""
        step = t - self.elapsed
        if step > 0:
            self.target.advance(step)
            self._virtual += step
        if before is not None and self.elapsed >= before:
            pytest.skip(f"the target took {self.elapsed:.3f} s to get here, past the {before:.3f} s "
                        "this probe must precede; cannot judge (a slow environment, not a verdict)")
