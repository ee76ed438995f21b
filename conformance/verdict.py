"""The verdict of a run (pass, fail, untested, interrupted), its one-line reason and its exit code.

A verdict must hold on the implementation: a run whose target could not be reached, or in which
no test passed, is ``untested``, never ``pass`` (docs/results.md, "Verdict and exit codes").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from conformance import outcomes

PASS, FAIL, UNTESTED, INTERRUPTED = "pass", "fail", "untested", "interrupted"
VERDICTS = (PASS, FAIL, UNTESTED, INTERRUPTED)

# Exit codes of ``mroute-conformance run`` (2 is every command's usage error / bad input).
EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_UNTESTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES = {PASS: EXIT_PASS, FAIL: EXIT_FAIL, UNTESTED: EXIT_UNTESTED, INTERRUPTED: EXIT_INTERRUPTED}
# Plain pytest's exit status for an untested run with an explicit --mroute-target (pytest itself
# uses 0-5, so the value is distinct from all of pytest's own).
PYTEST_UNTESTED = 6

FAILING = frozenset({outcomes.FAIL, outcomes.ERROR, outcomes.UNEXPECTED_PASS})


def unavailable(target: Mapping[str, Any]) -> str | None:
    """Why the target could not be reached in this run (its ``details.unavailable``), or None."""
    reason = (target.get("details") or {}).get("unavailable")
    return str(reason) if reason else None


def decide(tests: Iterable[Mapping[str, Any]], target: Mapping[str, Any], interrupted: bool = False) -> str:
    """The verdict: interrupted, else fail if any test failed/errored/passed unexpectedly, else
    untested if the target was unavailable or no test passed, else pass."""
    seen = [t["outcome"] for t in tests]
    if interrupted:
        return INTERRUPTED
    if any(o in FAILING for o in seen):
        return FAIL
    if unavailable(target) or outcomes.PASS not in seen:
        return UNTESTED
    return PASS


def _counts(tests: list[Mapping[str, Any]]) -> str:
    counts = {o: sum(t["outcome"] == o for t in tests) for o in outcomes.OUTCOMES}
    return ", ".join(f"{n} {o}" for o, n in counts.items() if n)


def reason(document: Mapping[str, Any]) -> str:
    """One line saying why the run got its verdict (for the terminal, the report and results.json)."""
    tests = list(document["tests"])
    target = document["target"]
    verdict = document.get("verdict") or decide(tests, target)
    why = unavailable(target)
    if verdict == INTERRUPTED:
        return f"run interrupted; results are partial ({len(tests)} tests finished: {_counts(tests) or 'none'})"
    if verdict == FAIL:
        bad = [t for t in tests if t["outcome"] in FAILING]
        return f"{len(bad)} of {len(tests)} tests did not pass ({_counts(bad)}); first: {bad[0]['id']}"
    if why:
        return f"{target['name']} target unavailable: {why}"
    if verdict == UNTESTED:
        if not tests:
            return "no test ran (the selection is empty)"
        return f"nothing was tested: no test passed ({_counts(tests)})"
    return f"{len(tests)} tests, none failed ({_counts(tests)})"


def of(document: Mapping[str, Any]) -> str:
    """The document's verdict (computed for a results.json written before the field existed)."""
    return str(document.get("verdict") or decide(document["tests"], document["target"]))
