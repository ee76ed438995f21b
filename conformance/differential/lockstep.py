"""Two targets driven in lockstep: every step applied to both, every result compared at once.

``Lockstep(model, kernel)`` resets both targets, opens an initialised routing socket per family
on each (``r4``, ``r6``), and then ``step(op)`` applies ``op`` to the kernel and to the model,
normalises both results (``compare``) and raises ``Disagreement`` carrying a ready-to-paste
scenario (``scenario.render``) as soon as they differ.

Time: the kernel's clock is real, the model's virtual clock only moves when told. Before each
step every virtual-time target is advanced to the real time elapsed since the lockstep began,
so both see the same clock. Everything time-dependent on Linux is at least 3 s away (the WRONGVIF/WRONGMIF rate
limit, strictly more than 3 s; the 10 s NOCACHE expiry), so a run is kept well inside that:
a step that starts after ``budget_s`` raises ``TooSlow`` rather than compare results near a
timer boundary where a few milliseconds of skew decide the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from conformance.differential.compare import Result, diff, normalise, signature
from conformance.differential.ops import FAMILIES, Observe, Op, Router, Send, Side
from conformance.differential.scenario import render
from conformance.targets.base import Target

RATE_LIMIT_S = 3.0  # the shortest real-time behaviour of the kernel (MFC_ASSERT_THRESH)
DEFAULT_BUDGET_S = 2.5


class Disagreement(AssertionError):
    """The model and the kernel differ; ``str()`` is the diff and the repro scenario."""

    def __init__(self, scenario: str, problems: list[str], steps: list[Step] | None = None) -> None:
        super().__init__("model and kernel disagree:\n  " + "\n  ".join(problems)
                         + "\n\nReady-to-paste scenario:\n\n" + scenario)
        self.scenario = scenario
        self.problems = problems
        self.steps = steps or []

    @property
    def ops(self) -> list[Op]:
        """The operations that led to the disagreement, the disagreeing one last."""
        return [s.op for s in self.steps]


class TooSlow(Exception):
    """The run took so long that the kernel's real-time rate limits could come into play."""


@dataclass(frozen=True)
class Step:
    op: Op
    model: Result
    kernel: Result


class Lockstep:
    """The model target and the kernel target, reset and stepped together."""

    def __init__(self, model: Target, kernel: Target, *, budget_s: float = DEFAULT_BUDGET_S,
                 note: Callable[[str], None] | None = None) -> None:
        self.budget_s = budget_s
        self.note = note
        self.profiles = (model.profile, kernel.profile)
        self.names = (f"{model.name} model (profile {model.profile.name})",
                      f"{kernel.name} (profile {kernel.profile.name})")
        model.reset()
        kernel.reset()
        self.model = Side(model)
        self.kernel = Side(kernel)
        self.steps: list[Step] = []
        self.packets = 0
        self.started = time.monotonic()
        self.virtual_now = 0.0  # where the virtual clocks are
        for v in FAMILIES:
            self.step(Router(v))

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def next_packet(self) -> int:
        """The number the next sent packet carries in its marker (1, 2, ...)."""
        self.packets += 1
        return self.packets

    def send(self, v: int, port: int, src: str, grp: str, ttl: int, size: int = 0) -> Step:
        return self.step(Send(v, port, src, grp, ttl, self.next_packet(), size))

    def _sync_clock(self) -> None:
        now = self.elapsed
        if now > self.budget_s:
            raise TooSlow(f"{now:.2f} s into the run (budget {self.budget_s} s, rate limit {RATE_LIMIT_S} s)")
        if now > self.virtual_now:
            for side in (self.kernel, self.model):
                if side.target.virtual_time:
                    side.target.advance(now - self.virtual_now)
            self.virtual_now = now

    def _run(self, side: Side, op: Op) -> Result:
        try:
            value = op.apply(side)
        except OSError as e:
            return normalise(None, e, self.profiles)
        return normalise(value, None, self.profiles)

    def step(self, op: Op) -> Step:
        """Apply ``op`` to both targets; raise ``Disagreement`` if their results differ."""
        self._sync_clock()
        kernel = self._run(self.kernel, op)
        model = self._run(self.model, op)
        step = Step(op, model, kernel)
        self.steps.append(step)
        if self.note is not None:
            self.note(f"{op.code()}  # {kernel}")
        problems = diff(model, kernel)
        if problems:
            raise Disagreement(self.scenario(), problems, list(self.steps))
        return step

    def observe(self) -> Step:
        """Compare what both routers emitted since the last look (frames and upcalls)."""
        return self.step(Observe())

    def scenario(self) -> str:
        last = self.steps[-1]
        return render([(s.op, s.model, s.kernel) for s in self.steps], diff(last.model, last.kernel),
                      *self.names)


def replay(model: Target, kernel: Target, ops: list[Op], *, budget_s: float = DEFAULT_BUDGET_S) -> Disagreement | None:
    """Run ``ops`` in lockstep on freshly reset targets; the disagreement, or None if they agree.

    ``Router`` steps are skipped: the lockstep opens the routing sockets itself.
    """
    try:
        ls = Lockstep(model, kernel, budget_s=budget_s)
        for op in ops:
            if not isinstance(op, Router):
                ls.step(op)
    except Disagreement as d:
        return d
    return None


def minimise(model: Target, kernel: Target, found: Disagreement, *,
             budget_s: float = DEFAULT_BUDGET_S) -> Disagreement:
    """Drop steps from ``found`` one at a time while the same disagreement stays at the last step.

    Hypothesis shrinks the *draws*; the steps they become can still carry redundancy (aimed draws
    depend on earlier steps). This greedy pass works on the concrete steps, replaying each
    candidate in lockstep, and keeps a removal only when the replay disagrees at its final step
    in the same way (``compare.signature``: same errnos, same frames or upcalls missing or extra).
    """
    best = found
    i = 0
    while i < len(best.ops) - 1:
        candidate = best.ops[:i] + best.ops[i + 1:]
        if isinstance(best.ops[i], Router):
            i += 1
            continue
        try:
            got = replay(model, kernel, candidate, budget_s=budget_s)
        except TooSlow:
            got = None
        if got is not None and len(got.steps) == len(candidate) and _signature(got) == _signature(found):
            best = got
        else:
            i += 1
    return best


def _signature(d: Disagreement) -> tuple:
    last = d.steps[-1]
    return signature(last.model, last.kernel)
