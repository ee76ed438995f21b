"""Applying an expectations file as the reports arrive, so pytest itself agrees with results.json.

The judge runs on the controller (the single process, or the xdist controller) before any other
``pytest_runtest_logreport`` hook: an expected failure is turned into pytest's xfail, an
unexpected pass into a strict XPASS failure, and a changed message keeps the failure with the
mismatch explained. The terminal summary, junit.xml, pytest's exit status and results.json
therefore tell the same story, whether the suite runs through ``mroute-conformance run`` or
plain ``pytest --mroute-target=...``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance import outcomes
from conformance.expectations.apply import Expectations
from conformance.expectations.entries import default_path
from conformance.results import CLAUSE_PROPERTY

NONE = "none"  # --expectations none: apply no file, not even the target's shipped one
JUDGED = "mroute_judged"  # report attribute: (outcome, message) once the expectations decided
SECTION = "mroute-conformance expectations"


def resolve(option: str | None, builtin_target: str | None) -> Path | None:
    """The file to apply: the one given, else the shipped one of a builtin target, else none."""
    if option == NONE:
        return None
    if option:
        return Path(option)
    return default_path(builtin_target) if builtin_target else None


class ExpectationsJudge:
    """A pytest plugin object: judges each suite report against the file and reshapes it to match."""

    def __init__(self, expectations: Expectations) -> None:
        self.expectations = expectations

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        clauses = [value for name, value in report.user_properties if name == CLAUSE_PROPERTY]
        result = outcomes.classify(report) if clauses else None
        if result is None:
            return
        judged = self.expectations.judge(report.nodeid, clauses, *result)
        if judged != result:
            setattr(report, JUDGED, judged)
            show(report, *judged)


def show(report: pytest.TestReport, outcome: str, message: str) -> None:
    """Make pytest's own view of ``report`` (terminal, junit.xml, exit status) say ``outcome``."""
    if outcome == outcomes.EXPECTED_FAIL:
        report.outcome, report.wasxfail = "skipped", message  # what pytest's xfail produces
    elif outcome == outcomes.UNEXPECTED_PASS:
        report.outcome, report.longrepr = "failed", f"{outcomes.XPASS_STRICT} {message}"
    else:  # still failing, but not as listed
        report.sections.append((SECTION, message))


def install(config: pytest.Config, option: str | None, builtin_target: str | None) -> Expectations | None:
    """Load the file (``ExpectationsError`` if invalid) and register its judge with pytest."""
    path = resolve(option, builtin_target)
    if path is None:
        return None
    expectations = Expectations.from_file(path)
    config.pluginmanager.register(ExpectationsJudge(expectations), "mroute-expectations")
    return expectations
