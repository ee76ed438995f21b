"""``run --clause``: select tests by clause ID, group or glob; a pattern that names nothing is exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mroute_spec.catalog import load_catalog
from mroute_spec.catalog.select import NoSuchClause, select

ROOT = Path(__file__).resolve().parents[1]


def test_an_id_a_group_and_a_glob_each_select_their_clauses() -> None:
    catalog = load_catalog()
    assert select(["mfc.rpf"]) == {"mfc.rpf"}
    assert select(["bw"]) == {cid for cid, c in catalog.items() if c.group == "bw"}
    assert select(["bw.leq-*"]) == {"bw.leq-fires", "bw.leq-restart"}
    assert select(["mfc.rpf", "bw.leq-*"]) == {"mfc.rpf", "bw.leq-fires", "bw.leq-restart"}


@pytest.mark.parametrize("pattern", ["nope.x", "MFC.RPF", "mfc.rpf "])
def test_a_pattern_that_names_no_clause_is_refused(pattern: str) -> None:
    with pytest.raises(NoSuchClause, match="--clause"):
        select([pattern])


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False, timeout=300)


def test_run_checks_only_the_selected_clauses(tmp_path: Path) -> None:
    done = _cli("run", "--report-dir", str(tmp_path / "out"), "--clause", "mfc.rpf", "--clause", "bw.leq-*")
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    checked = {cid for test in results["tests"] for cid in test["clauses"]}
    assert {"mfc.rpf", "bw.leq-fires", "bw.leq-restart"} <= checked
    assert all({"mfc.rpf", "bw.leq-fires", "bw.leq-restart"} & set(t["clauses"]) for t in results["tests"])


def test_an_unknown_clause_is_one_line_exit_2_and_keeps_the_previous_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("previous", encoding="utf-8")
    done = _cli("run", "--report-dir", str(out), "--clause", "nope.x")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "'nope.x'" in done.stderr, done.stderr
    assert (out / "results.json").read_text(encoding="utf-8") == "previous"
