"""The suite can fail: every deliberately broken variant of the model is caught by its clause.

For each variant in ``broken_variants`` (tests/broken_variants.py) the tests of the clauses it names
are run against it (target ``broken_variants:<name>``); at least one of them must fail, and
the same tests must pass against the unbroken reference, so the failure is the variant's doing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from broken_variants import VARIANTS, Variant

import conformance.suite

ROOT = Path(conformance.suite.__file__).resolve().parents[2]  # the directory holding conformance/


def _pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", f"--rootdir={ROOT}", "-q", "-p", "no:cacheprovider", *args]
    # the variants module lives next to this file: put tests/ on the child's path to load it as a target
    path = os.pathsep.join(p for p in (str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """clause ID -> node IDs of the suite tests that check it."""
    tmp = tmp_path_factory.mktemp("inventory")
    path = tmp / "inventory.json"
    proc = _pytest("--pyargs", "conformance.suite", "--collect-only", f"--mroute-inventory={path}", cwd=tmp)
    assert path.exists(), proc.stdout + proc.stderr
    data = json.loads(path.read_text())
    by_clause: dict[str, list[str]] = {}
    for test in data["tests"]:
        for cid in test["clauses"]:
            by_clause.setdefault(cid, []).append(test["id"])
    return by_clause


def _run(nodes: list[str], target: str, profile: str, tmp: Path) -> dict:
    results = tmp / f"{target.rsplit(':', 1)[-1]}.json"
    proc = _pytest(f"--mroute-target={target}", f"--mroute-profile={profile}", f"--mroute-results={results}",
                   *[str(ROOT / n) for n in nodes], cwd=tmp)
    assert results.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(results.read_text())


def test_there_are_enough_variants() -> None:
    assert len(VARIANTS) >= 8
    assert len({v.name for v in VARIANTS}) == len(VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_variant_is_caught_by_its_clause(variant: Variant, inventory: dict[str, list[str]], tmp_path: Path) -> None:
    nodes = sorted({n for cid in variant.catches for n in inventory.get(cid, [])})
    assert nodes, f"no suite test covers {variant.catches}"
    broken = _run(nodes, f"broken_variants:{variant.name}", variant.profile, tmp_path)
    caught = [c for c in variant.catches if broken["clauses"].get(c) in ("fail", "error")]
    assert caught, (
        f"variant {variant.name} ({variant.doc}) was not caught: clause outcomes "
        f"{ {c: broken['clauses'].get(c) for c in variant.catches} }")
    clean = _run(nodes, "reference", variant.profile, tmp_path)
    assert all(clean["clauses"].get(c) == "pass" for c in variant.catches), (
        f"the same tests do not all pass on the reference: { {c: clean['clauses'].get(c) for c in variant.catches} }")
