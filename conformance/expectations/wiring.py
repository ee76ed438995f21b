"""Attaching an expectations file to the results writer (on the controller, xdist or not)."""

from __future__ import annotations

from pathlib import Path

from conformance.expectations.apply import Expectations
from conformance.expectations.entries import default_path
from conformance.results import ResultsCollector

NONE = "none"  # --expectations none: apply no file, not even the target's shipped one


def resolve(option: str | None, builtin_target: str | None) -> Path | None:
    """The file to apply: the one given, else the shipped one of a builtin target, else none."""
    if option == NONE:
        return None
    if option:
        return Path(option)
    return default_path(builtin_target) if builtin_target else None


def install(collector: ResultsCollector, option: str | None, builtin_target: str | None) -> Expectations | None:
    """Load the file (``ExpectationsError`` if invalid) and wire it through ``collector.adjust``."""
    path = resolve(option, builtin_target)
    if path is None:
        return None
    expectations = Expectations.from_file(path)

    def clauses_of(nodeid: str) -> list[str]:
        record = collector.records.get(nodeid)
        return record.clauses if record is not None else []

    collector.adjust = expectations.adjuster(clauses_of)
    collector.extras.append(lambda: {"expectations": expectations.as_json()})
    return expectations
