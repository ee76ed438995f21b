"""Judging a test's outcome against the expectations (applied by :mod:`.wiring`).

For a test named by an entry (its own node ID first, else the first entry naming one of its
clauses):

* the listed outcome with a matching message: ``expected-fail`` (message kept);
* the listed outcome with a message the reason does not match: ``fail`` (an ``error`` stays
  ``error``), the message explains the mismatch and quotes the new message;
* another failing outcome (``fail`` listed, ``error`` got, or the reverse): kept, explained;
* ``pass``: ``unexpected-pass``;
* ``unsupported``, ``skip`` and pytest's own xfail outcomes: unchanged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance import outcomes
from conformance.expectations.entries import Entry, load

MISMATCH = "expectation mismatch"


@dataclass
class Applied:
    """What one entry did to one test: the result and the test's own message."""

    id: str
    entry: Entry
    result: str  # expected-fail, unexpected-pass or mismatch
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "entry": self.entry.as_json(), "result": self.result, "message": self.message}


@dataclass
class Expectations:
    """The entries of one file, and what they did in this run (keyed by node ID)."""

    entries: list[Entry]
    path: str = "<memory>"
    sha256: str | None = None
    applied: dict[str, Applied] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path) -> Expectations:
        """Load and check ``path``."""
        entries = load(path)
        return cls(entries, str(path), hashlib.sha256(Path(path).read_bytes()).hexdigest())

    @property
    def name(self) -> str:
        return Path(self.path).name

    def entry_for(self, nodeid: str, clauses: list[str]) -> Entry | None:
        """The entry naming ``nodeid``, else the first naming one of ``clauses``."""
        for entry in self.entries:
            if entry.test == nodeid:
                return entry
        for entry in self.entries:
            if entry.clause is not None and entry.clause in clauses:
                return entry
        return None

    def judge(self, nodeid: str, clauses: list[str], outcome: str, message: str) -> tuple[str, str]:
        """The outcome and message of one test once the expectations are applied."""
        entry = self.entry_for(nodeid, clauses)
        if entry is None or outcome not in (outcomes.PASS, outcomes.FAIL, outcomes.ERROR):
            return outcome, message
        listed = f"listed in {self.name} as {entry.outcome} ({entry.subject}, reason {entry.describe_reason()})"
        if outcome == outcomes.PASS:
            self.record(nodeid, entry, outcomes.UNEXPECTED_PASS, message)
            return outcomes.UNEXPECTED_PASS, f"{listed} but passed: remove the entry"
        self.record(nodeid, entry, "mismatch", message)
        if outcome != entry.outcome:
            return outcome, outcomes.one_line(f"{MISMATCH}: {listed}, got {outcome}: {message}")
        if not entry.matches(message):
            return outcome, outcomes.one_line(f"{MISMATCH}: {listed}, but the message no longer matches: {message}")
        self.record(nodeid, entry, outcomes.EXPECTED_FAIL, message)
        return outcomes.EXPECTED_FAIL, message

    def record(self, nodeid: str, entry: Entry, result: str, message: str) -> None:
        self.applied[nodeid] = Applied(nodeid, entry, result, message)

    def unused(self) -> list[Entry]:
        """Entries that named no test of this run."""
        used = {applied.entry for applied in self.applied.values()}
        return [entry for entry in self.entries if entry not in used]

    def as_json(self) -> dict[str, Any]:
        """The ``expectations`` section of results.json."""
        return {
            "file": self.path,
            "sha256": self.sha256,
            "entries": len(self.entries),
            "applied": [applied.as_json() for applied in self.applied.values()],
            "unused": [entry.as_json() for entry in self.unused()],
        }
