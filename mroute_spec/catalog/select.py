"""Clause selection for ``run --clause``: an exact clause ID, a group name, or a shell glob.

A pattern that names no clause is a usage error (a typo must not select nothing and pass).
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from mroute_spec.catalog import Clause, load_catalog


class NoSuchClause(ValueError):
    """A ``--clause`` pattern that matches no clause of the catalog."""


def matches(pattern: str, clause: Clause) -> bool:
    """True if ``pattern`` is the clause's ID or its group, or a glob over its ID."""
    return pattern in (clause.id, clause.group) or fnmatchcase(clause.id, pattern)


def select(patterns: Iterable[str]) -> set[str]:
    """The IDs of every clause some pattern matches; raises NoSuchClause for one that matches none."""
    catalog = load_catalog().values()
    chosen: set[str] = set()
    for pattern in patterns:
        hits = {c.id for c in catalog if matches(pattern, c)}
        if not hits:
            raise NoSuchClause(f"--clause {pattern!r}: no clause ID, group or glob matches it "
                               "(`mroute-conformance clauses` lists them)")
        chosen |= hits
    return chosen
