"""Test outcomes of the conformance suite, and how a pytest report maps onto them.

``pass``, ``fail``, ``unsupported`` (probed absent, raised with :func:`unsupported`), ``skip``
(environment), ``error`` (setup/teardown broke), and ``expected-fail`` / ``unexpected-pass``
(from pytest xfail, or from the target's expectations file, applied as each report arrives by
:class:`conformance.expectations.wiring.ExpectationsJudge`).
"""

from __future__ import annotations

from typing import NoReturn

import pytest

PASS, FAIL, UNSUPPORTED, SKIP, ERROR = "pass", "fail", "unsupported", "skip", "error"
EXPECTED_FAIL, UNEXPECTED_PASS = "expected-fail", "unexpected-pass"
UNTESTED = "untested"

# Worst first: a clause takes the worst outcome of its tests.
SEVERITY = (ERROR, FAIL, UNEXPECTED_PASS, EXPECTED_FAIL, SKIP, UNSUPPORTED, PASS)
# Summary key order, as results.json shows it.
OUTCOMES = (PASS, FAIL, UNSUPPORTED, EXPECTED_FAIL, UNEXPECTED_PASS, SKIP, ERROR)
# Outcomes that let a run succeed.
ACCEPTABLE = frozenset({PASS, UNSUPPORTED, EXPECTED_FAIL, SKIP})

UNSUPPORTED_PREFIX = "unsupported: "
JUDGED = "mroute_judged"  # report attribute: (outcome, message) set by the expectations judge
XPASS_STRICT = "[XPASS(strict)]"
MAX_MESSAGE = 1000
MAX_EVIDENCE_LINES, MAX_EVIDENCE_LINE = 60, 500  # bounds of a test's multi-line evidence
EVIDENCE_OUTCOMES = frozenset({FAIL, ERROR, UNEXPECTED_PASS, EXPECTED_FAIL})


def unsupported(reason: str) -> NoReturn:
    """End the running test as ``unsupported``: the target lacks the feature (probed, not assumed)."""
    pytest.skip(UNSUPPORTED_PREFIX + reason)


def worst(*outcomes: str) -> str:
    """The most severe of ``outcomes`` (``untested`` when there are none)."""
    ranked = [o for o in outcomes if o in SEVERITY]
    return min(ranked, key=SEVERITY.index) if ranked else UNTESTED


def one_line(text: str) -> str:
    """Collapse a possibly multi-line message to one bounded line."""
    line = " | ".join(part.strip() for part in text.splitlines() if part.strip())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def evidence(report: pytest.TestReport) -> list[str]:
    """The failure's explanation line by line, as the assertion wrote it (expected vs observed,
    decoded errno names, upcall fields, byte diffs), bounded; empty when the phase did not fail."""
    if not (report.failed or getattr(report, "wasxfail", None) is not None):
        return []
    lines = [line.rstrip() for line in _crash_message(report).splitlines() if line.strip()]
    if len(lines) > MAX_EVIDENCE_LINES:
        lines = [*lines[: MAX_EVIDENCE_LINES - 1], f"… {len(lines) - MAX_EVIDENCE_LINES + 1} more lines"]
    return [line if len(line) <= MAX_EVIDENCE_LINE else line[: MAX_EVIDENCE_LINE - 1] + "…" for line in lines]


def _crash_message(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # skip: (path, lineno, "Skipped: why")
        return longrepr[2].removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    return str(longrepr or "")


def classify(report: pytest.TestReport) -> tuple[str, str] | None:
    """Outcome and one-line message of one test phase; None when the phase says nothing new."""
    judged = getattr(report, JUDGED, None)
    if judged is not None:
        return tuple(judged)  # a list once it has crossed from an xdist worker
    message = one_line(_crash_message(report))
    xfail = getattr(report, "wasxfail", None)
    if xfail is not None:
        if report.skipped:
            return EXPECTED_FAIL, one_line(xfail or message)
        if report.passed:
            return UNEXPECTED_PASS, one_line(xfail)
    if report.failed:
        if report.when == "call" and message.startswith(XPASS_STRICT):
            return UNEXPECTED_PASS, message.removeprefix(XPASS_STRICT).strip()
        return (FAIL if report.when == "call" else ERROR), message
    if report.skipped:
        if message.startswith(UNSUPPORTED_PREFIX):
            return UNSUPPORTED, message.removeprefix(UNSUPPORTED_PREFIX)
        return SKIP, message
    if report.when == "call":
        return PASS, ""
    return None
