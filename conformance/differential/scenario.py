"""A disagreement as a ready-to-paste scenario, and the helpers that scenario calls.

``render`` turns a step log into Python that reproduces it with the harness::

    from conformance.differential.scenario import observe, outcome, packet, run_both


    def scenario(h):
        r4 = h.router(4)
        r6 = h.router(6)
        r4.add_vif(0, 0)
        r4.add_mfc('198.18.0.10', '232.1.0.1', parent=0, ttls={1: 1})
        h.send(0, packet(4, '198.18.0.10', '232.1.0.1', ttl=2, n=1))
        return observe(h, r4, r6)
        # model:  frames {1: ['p1 198.18.0.10->232.1.0.1 ttl=1 ...']}, upcalls {}
        # kernel: frames {}, upcalls {}


    run_both(scenario)

Steps that failed on both targets with the same errno are wrapped in ``outcome(lambda: ...)`` so
the scenario runs to the end; agreed results are shown as ``# both: ...`` comments. ``run_both``
runs the scenario on the model (``ReferenceTarget`` with the LINUX profile) and on the kernel
(``LinuxTarget``), prints both results and says whether they differ.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from conformance.differential.compare import OK, Result, Seen, diff, normalise, seen
from conformance.differential.ops import Observe, Op, ifindex_addr, packet
from conformance.harness import Harness
from conformance.harness.routing import RoutingSocket

if TYPE_CHECKING:
    from conformance.targets.base import Target

__all__ = ["ifindex_addr", "observe", "outcome", "packet", "render", "run_both"]

COMMENT_WIDTH = 160


# -- helpers the scenario calls -------------------------------------------------------------
def observe(h: Harness, *routers: RoutingSocket) -> Seen:
    """Frames the router sent (per port) and upcalls read on ``routers`` since the last look."""
    upcalls = {r.version: r.upcalls() for r in routers if not r.sock.closed}
    return seen((h.all_frames(), upcalls), (h.profile,))


def outcome(call: Callable[[], object]) -> Result:
    """``ok`` (with the call's value) or the errno name it failed with."""
    try:
        value = call()
    except OSError as e:
        return normalise(None, e, ())
    if isinstance(value, dict):  # counter reads: only the counts
        value = {k: v for k, v in value.items() if k not in ("src", "grp", "vifi", "mifi")}
    return Result(OK, value)


def _as_result(value: object) -> Result:
    return value if isinstance(value, Result) else Result(OK, value)


def run_both(scenario: Callable[[Harness], object], model: Target | None = None,
             kernel: Target | None = None) -> dict[str, Result]:
    """Run ``scenario`` on the model (linux profile) and on the real kernel; print both.

    Either target may be given (e.g. a broken model variant); a kernel target made here is
    shut down afterwards.
    """
    from conformance.targets.reference import ReferenceTarget
    from reference_impl.profiles import LINUX

    model = model or ReferenceTarget(LINUX)
    own = kernel is None
    if kernel is None:
        from conformance.targets.linux import LinuxTarget

        kernel = LinuxTarget()
    try:
        got = {}
        for name, target in (("model", model), ("kernel", kernel)):
            target.reset()
            got[name] = _as_result(scenario(Harness(target)))
            print(f"{name:7}: {got[name]}")
        lines = diff(got["model"], got["kernel"])
        print("DISAGREE:\n  " + "\n  ".join(lines) if lines else "agree")
        return got
    finally:
        if own:
            kernel.shutdown()


# -- rendering ------------------------------------------------------------------------------
def _comment(prefix: str, text: str, indent: str = "    ") -> list[str]:
    text = " ".join(text.split())
    if len(text) <= COMMENT_WIDTH:
        return [f"{indent}# {prefix}{text}"]
    return [f"{indent}# {line}" for line in textwrap.wrap(prefix + text, COMMENT_WIDTH,
                                                          subsequent_indent=" " * len(prefix))]


def _short(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _agreed(op: Op, result: Result) -> list[str]:
    code = op.code()
    if result.outcome != OK:
        return [f"    outcome(lambda: {code})  # both: {result.outcome}"]
    if op.statement:
        return [f"    {part.strip()}" for part in code.split(";")]
    value = result.value
    if value is None or (isinstance(value, Seen) and not value.frames and not value.upcalls):
        return [f"    {code}"]
    return [f"    {code}  # both: {_short(str(result.value))}"]


def _failing(op: Op, model: Result, kernel: Result) -> list[str]:
    if isinstance(op, Observe):
        lines = [f"    return {op.code()}"]
    elif op.statement:
        lines = [f"    {part.strip()}" for part in op.code().split(";")] + ["    return None"]
    else:
        lines = [f"    return outcome(lambda: {op.code()})"]
    return lines + _comment("model:  ", str(model)) + _comment("kernel: ", str(kernel))


def render(steps: Sequence[tuple[Op, Result, Result]], problems: Sequence[str],
           model_name: str = "model", kernel_name: str = "kernel") -> str:
    """The scenario reproducing ``steps`` (the last one disagreeing, with ``problems``)."""
    head = [
        f"# Differential repro: {model_name} vs {kernel_name}. {len(steps)} steps; they disagree "
        "at the last one:",
        *[f"#   {p}" for p in problems],
    ]
    body: list[str] = []
    for i, (op, m, k) in enumerate(steps):
        body += _failing(op, m, k) if i == len(steps) - 1 else _agreed(op, m)
    helpers = ["observe", "outcome", "packet", "run_both"]
    if any("ifindex_addr(" in line for line in body):
        helpers.insert(0, "ifindex_addr")
    head += [f"from conformance.differential.scenario import {', '.join(helpers)}", "", "", "def scenario(h):"]
    return "\n".join([*head, *body, "", "", "run_both(scenario)", ""])
