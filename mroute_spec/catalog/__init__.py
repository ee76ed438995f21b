"""The clause catalog: every behaviour the suite checks, by stable ID (data in clauses.json).

It lives in the spec package, with the ABI and the options, because clause IDs are the API's
vocabulary: the suite marks its tests with them, profiles name the clauses each fact belongs to
(facts.py), fixtures are stored under them, and reports are grouped by them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("clauses.json")
SCHEMA_PATH = Path(__file__).with_name("clauses.schema.json")
REQUIREMENTS = ("MUST", "implementation-defined", "conflict")


@dataclass(frozen=True)
class Clause:
    """One testable behaviour: its ID, group, wording, kind of requirement and where it comes from."""

    id: str
    group: str
    title: str
    requirement: str
    sources: tuple[str, ...]
    brief: bool
    spec_ref: str
    extension: str | None = None  # e.g. "linux": not the seed API, never counted where absent


def is_extension(clause: Clause) -> bool:
    """An implementation's extension (issue 13): unsupported where absent, reported apart."""
    return clause.extension is not None


def load_raw() -> dict[str, Any]:
    """The catalog file as parsed JSON (what the schema describes)."""
    data: dict[str, Any] = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    return data


@cache
def _clauses() -> tuple[Clause, ...]:
    return tuple(Clause(**{**entry, "sources": tuple(entry["sources"])}) for entry in load_raw()["clauses"])


def load_catalog() -> dict[str, Clause]:
    """Every clause by ID, in checklist order (a fresh dict; the file is read once)."""
    return {clause.id: clause for clause in _clauses()}


def groups() -> dict[str, list[Clause]]:
    """The clauses of each group, groups and clauses in checklist order."""
    out: dict[str, list[Clause]] = {}
    for clause in load_catalog().values():
        out.setdefault(clause.group, []).append(clause)
    return out
