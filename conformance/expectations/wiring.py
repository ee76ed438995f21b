"""Applying an expectations file to each report as pytest makes it, so every reporter agrees.

The judge is registered in every process that runs tests (and on the xdist controller). It
reshapes a report as soon as pytest has made it, before pytest's own xfail handling, Allure or
any ``pytest_runtest_logreport`` hook look at it: an expected failure becomes pytest's xfail, an
unexpected pass a strict XPASS failure, and a changed message stays a failure with the mismatch
explained. The terminal summary, junit.xml, Allure, pytest's exit status and results.json thus
tell the same story, through ``mroute-conformance run`` or plain ``pytest --mroute-target=...``.
What was applied travels to the controller as a user property (:data:`APPLIED_PROPERTY`), where
results.json's ``expectations`` section is built.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from conformance import outcomes
from conformance.expectations.apply import Expectations
from conformance.expectations.entries import default_path
from conformance.results import CLAUSE_PROPERTY

NONE = "none"  # --expectations none: apply no file, not even the target's shipped one
APPLIED_PROPERTY = "mroute_expectation"  # user property: JSON {result, message} of an applied entry
SECTION = "mroute-conformance expectations"


def resolve(option: str | None, builtin_target: str | None) -> Path | None:
    """The file to apply: the one given, else the shipped one of a builtin target, else none."""
    if option == NONE:
        return None
    if option:
        return Path(option)
    shipped_as = {"linux-vm": "linux"}.get(builtin_target or "", builtin_target)  # same kernel code, same file
    return default_path(shipped_as) if shipped_as else None


class ExpectationsJudge:
    """A pytest plugin object: judges each suite report against the file and reshapes it to match."""

    def __init__(self, expectations: Expectations) -> None:
        self.expectations = expectations

    @pytest.hookimpl(hookwrapper=True, trylast=True)  # innermost: runs before other wrappers read
    def pytest_runtest_makereport(self) -> Generator[None, Any, None]:
        report: pytest.TestReport = (yield).get_result()
        clauses = clauses_of(report)
        result = outcomes.classify(report) if clauses else None
        if result is None:
            return
        before = self.expectations.applied.get(report.nodeid)
        judged = self.expectations.judge(report.nodeid, clauses, *result)
        applied = self.expectations.applied.get(report.nodeid)
        if applied is not before and applied is not None:
            record = json.dumps({"result": applied.result, "message": applied.message})
            report.user_properties = [*report.user_properties, (APPLIED_PROPERTY, record)]
        if judged != result:
            setattr(report, outcomes.JUDGED, judged)
            show(report, *judged)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """On the controller: note what a worker (or this process) applied, for results.json."""
        for name, value in report.user_properties:
            if name == APPLIED_PROPERTY:
                entry = self.expectations.entry_for(report.nodeid, clauses_of(report))
                if entry is not None:
                    record = json.loads(str(value))
                    self.expectations.record(report.nodeid, entry, record["result"], record["message"])


def clauses_of(report: pytest.TestReport) -> list[str]:
    """The clause IDs a suite test's report carries (none for any other test)."""
    return [str(value) for name, value in report.user_properties if name == CLAUSE_PROPERTY]


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
