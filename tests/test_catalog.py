"""The clause catalog matches the shared checklist and its own schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mroute_spec.catalog import CATALOG_PATH, REQUIREMENTS, SCHEMA_PATH, groups, load_catalog, load_raw

CHECKLIST = Path(__file__).resolve().parents[2] / "shared" / "spec" / "CLAUSES.md"
ID = re.compile(r"`([a-z0-9]+(?:\.[a-z0-9-]+)+)`")


def checklist() -> tuple[list[str], set[str]]:
    """Clause IDs of CLAUSES.md in order, and the ★ ones (parsed like tools/clause-coverage)."""
    ids: list[str] = []
    starred: set[str] = set()
    for line in CHECKLIST.read_text(encoding="utf-8").splitlines():
        if line.startswith("- "):
            head = line.split(" — ")[0]
            for cid in ID.findall(head):
                if cid not in ids:
                    ids.append(cid)
                if "★" in head:
                    starred.add(cid)
    return ids, starred


needs_checklist = pytest.mark.skipif(
    not CHECKLIST.exists(), reason=f"the shared checklist {CHECKLIST} is not present in this checkout"
)


@needs_checklist
def test_catalog_has_exactly_the_checklist_ids_in_order() -> None:
    ids, _ = checklist()
    # implementation extensions (issue 13) are not the shared checklist's seed API
    catalog = [cid for cid, c in load_catalog().items() if c.extension is None]
    assert sorted(set(ids) - set(catalog)) == [], "checklist IDs missing from the catalog"
    assert sorted(set(catalog) - set(ids)) == [], "catalog IDs not in the checklist"
    assert catalog == ids


@needs_checklist
def test_brief_flags_match_the_stars() -> None:
    _, starred = checklist()
    assert {c.id for c in load_catalog().values() if c.brief} == starred


def test_catalog_validates_against_its_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(load_raw(), schema, cls=jsonschema.Draft202012Validator)


def test_ids_are_unique() -> None:
    ids = [entry["id"] for entry in json.loads(CATALOG_PATH.read_text(encoding="utf-8"))["clauses"]]
    assert len(ids) == len(set(ids))


def test_group_is_the_id_prefix_except_wrongmif() -> None:
    for clause in load_catalog().values():
        prefix = clause.id.split(".")[0]
        assert clause.group == {"wrongmif": "wrongvif"}.get(prefix, prefix), clause.id


def test_conflicts_cite_the_doc_and_another_source() -> None:
    for clause in load_catalog().values():
        assert clause.requirement in REQUIREMENTS
        if clause.requirement == "conflict":
            assert "doc" in clause.sources and len(clause.sources) > 1, clause.id


def test_groups_partition_the_catalog_in_order() -> None:
    flat = [c.id for members in groups().values() for c in members]
    assert flat == list(load_catalog())
    assert "mfc6" in groups() and "wrongmif" not in groups()
