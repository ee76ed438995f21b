"""results.json: the machine-readable outcome of a run (schema ``mroute-conformance/results/1``).

Only the controller writes it (the single process, or the xdist controller). It sees every test
through ``pytest_runtest_logreport``; clause IDs and the target's ``info()`` travel from the
workers in ``report.user_properties`` (see :data:`CLAUSE_PROPERTY`, :data:`TARGET_PROPERTY`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from conformance import outcomes, verdict
from mroute_spec.catalog import load_catalog

SCHEMA = "mroute-conformance/results/1"
DISTRIBUTION = "mroute-conformance"
CLAUSE_PROPERTY = "clause"  # one user property per clause ID of the test
TARGET_PROPERTY = "mroute_target"  # JSON of the target's info(), on a worker's first test

def utc_now() -> str:
    """The current time as ISO-8601 UTC with a ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def suite_version() -> str:
    """The installed package version of the suite."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def fixtures_sha256() -> str | None:
    """sha256 of ``pcaps/MANIFEST`` in the source tree or the package, None if there is none."""
    package = Path(__file__).resolve().parent
    for manifest in (package.parent / "pcaps" / "MANIFEST", package / "pcaps" / "MANIFEST"):
        if manifest.is_file():
            return hashlib.sha256(manifest.read_bytes()).hexdigest()
    return None


@dataclass
class CaseRecord:
    """What the controller knows about one test case (or one collection error) so far."""

    id: str
    clauses: list[str] = field(default_factory=list)
    outcome: str | None = None
    message: str = ""
    duration_s: float = 0.0
    collection_error: bool = False
    evidence: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.id,
            "clauses": self.clauses,
            "outcome": self.outcome,
            "message": self.message,
            "duration_s": round(self.duration_s, 6),
        }
        if self.evidence and self.outcome in outcomes.EVIDENCE_OUTCOMES:
            entry["evidence"] = self.evidence
        return entry


def clause_outcomes(tests: Iterable[dict[str, Any]], catalog_ids: Iterable[str]) -> dict[str, str]:
    """Every catalog ID mapped to the worst outcome of its tests (``untested`` if none)."""
    seen: dict[str, list[str]] = {}
    for test in tests:
        for cid in test["clauses"]:
            seen.setdefault(cid, []).append(test["outcome"])
    return {cid: outcomes.worst(*seen.get(cid, ())) for cid in catalog_ids}


def build_document(
    target: dict[str, Any], started: str, finished: str, tests: list[dict[str, Any]], interrupted: bool = False
) -> dict:
    """The results.json content for ``tests`` (already in report order), with its verdict."""
    summary = dict.fromkeys(outcomes.OUTCOMES, 0)
    for test in tests:
        summary[test["outcome"]] += 1
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "verdict": verdict.decide(tests, target, interrupted),
        "verdict_reason": "",
        "suite": {"version": suite_version(), "fixtures_sha256": fixtures_sha256()},
        "target": target,
        "started": started,
        "finished": finished,
        "summary": summary,
        "tests": tests,
        "clauses": clause_outcomes(tests, load_catalog()),
    }
    return set_verdict(document, document["verdict"])


def set_verdict(document: dict[str, Any], word: str) -> dict[str, Any]:
    """``document`` with ``verdict`` set to ``word`` and ``verdict_reason`` saying why."""
    document["verdict"] = word
    document["verdict_reason"] = verdict.reason(document)
    return document


class ResultsCollector:
    """A pytest plugin object, registered on the controller only: the run's verdict, and results.json
    when given a path. With ``gate`` (an explicit target), an untested run ends pytest with
    :data:`conformance.verdict.PYTEST_UNTESTED` instead of 0."""

    def __init__(self, path: Path | None, fallback_target: dict[str, Any], gate: bool = False) -> None:
        self.path = path
        self.gate = gate
        self.document: dict[str, Any] | None = None
        self.interrupted = False
        self.target: dict[str, Any] = fallback_target
        self._target_reported = False
        self.started = utc_now()
        self.records: dict[str, CaseRecord] = {}
        self.order: list[str] = []
        # Optional top-level sections (e.g. ``expectations``), computed after the tests are final.
        self.extras: list[Callable[[], dict[str, Any]]] = []

    def pytest_sessionstart(self) -> None:
        self.started = utc_now()
        if self.path is not None:  # made now: a directory removed during the run is not re-created
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if session.items:
            self.order = [item.nodeid for item in session.items]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        if not self.order:
            self.order = list(ids)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and report.nodeid not in self.records:
            message = outcomes.one_line(str(report.longrepr))
            self.records[report.nodeid] = CaseRecord(report.nodeid, [], outcomes.ERROR, message, 0.0, True)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.records and not any(
            n == CLAUSE_PROPERTY for n, _ in report.user_properties
        ):
            return  # not a suite test (suite tests always carry their clause IDs)
        record = self.records.setdefault(report.nodeid, CaseRecord(report.nodeid))
        record.duration_s += report.duration
        for name, value in report.user_properties:
            if name == CLAUSE_PROPERTY and value not in record.clauses:
                record.clauses.append(str(value))
            elif name == TARGET_PROPERTY and not self._target_reported:
                self.target, self._target_reported = json.loads(str(value)), True
        result = outcomes.classify(report)
        if result is not None and (
            record.outcome is None or outcomes.worst(result[0], record.outcome) != record.outcome
        ):
            record.outcome, record.message = result  # a phase can only make a test's outcome worse
            record.evidence = outcomes.evidence(report)

    def tests(self) -> list[dict[str, Any]]:
        """Test entries in collection order (collection errors first)."""
        rank = {nodeid: i for i, nodeid in enumerate(self.order)}
        records = sorted(
            (r for r in self.records.values() if r.outcome),
            key=lambda r: (not r.collection_error, rank.get(r.id, len(rank))),
        )
        return [record.as_json() for record in records]

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        # pytest and xdist also report collection errors and early stops (-x, a broken target) as
        # subclasses of KeyboardInterrupt: only a real one (SIGINT; run turns SIGTERM into it) counts.
        self.interrupted = type(excinfo.value) is KeyboardInterrupt

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        interrupted = self.interrupted and exitstatus == pytest.ExitCode.INTERRUPTED
        document = build_document(self.target, self.started, utc_now(), self.tests(), interrupted)
        for extra in self.extras:
            document.update(extra())
        self.document = document
        gate = self.gate and not session.config.option.collectonly
        if gate and document["verdict"] == verdict.UNTESTED and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = verdict.PYTEST_UNTESTED
        if self.path is not None and self.path.parent.is_dir():  # gone: the run's report was abandoned
            self.path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
