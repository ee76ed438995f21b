"""Allure labels and spec links for a suite test, derived from its clause IDs."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from mroute_spec.catalog import Clause

SPEC_FILE = "docs/spec/api.md"  # the project's summary of the API text, with its line citations


def spec_url(clause: Clause) -> str:
    """A link target for the clause's place in the spec (``--allure-link-pattern=spec:...`` can prefix it)."""
    return f"{SPEC_FILE}#{quote(clause.spec_ref)}"


def add_allure_labels(item: pytest.Item, clauses: list[Clause], target_name: str) -> None:
    """Label ``item``: feature = clause groups, story = clause IDs, a ``clause`` label and a spec link each."""
    import allure

    item.add_marker(allure.parent_suite(target_name))
    item.add_marker(allure.feature(*dict.fromkeys(c.group for c in clauses)))
    item.add_marker(allure.story(*(c.id for c in clauses)))
    for clause in clauses:
        item.add_marker(allure.label("clause", clause.id))
        item.add_marker(
            allure.link(spec_url(clause), link_type="spec", name=f"{clause.id}: {clause.spec_ref}")
        )
