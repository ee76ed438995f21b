"""Allure 3's single-file report: rendered from a real run's results, grouped by clause group; one-line errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.report.allure_html import ENV, AllureError, embedded_tree, find_allure, render
from mroute_spec.catalog import load_catalog


def _allure() -> str:
    try:
        return find_allure()
    except AllureError as exc:
        if os.environ.get("CI"):
            raise  # scripts/check installs Allure 3: in CI a missing one is a failure, not a skip
        pytest.skip(str(exc))


def test_renders_one_html_file_grouped_by_clause_group(tmp_path: Path) -> None:
    _allure()
    out = tmp_path / "run"
    subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--report-dir", str(out), "-k", "vif_threshold or queue_depth"],
        check=True, capture_output=True, text=True,
    )
    history = tmp_path / "history.jsonl"
    index = render(out / "allure-results", tmp_path / "allure", name="mroute", history=history)
    html = index.read_text(encoding="utf-8")
    assert "<script src=" not in html.replace("<script src=\"data:", "")  # single file: no external scripts
    tree = embedded_tree(index)  # clause groups at the top, clause IDs under each
    catalog = load_catalog()
    assert tree and set(tree) <= {c.group for c in catalog.values()}, tree
    for group, clauses in tree.items():
        assert clauses and all(catalog[cid].group == group for cid in clauses), (group, clauses)
    assert history.is_file() and history.stat().st_size > 0  # trends survive to the next run


def test_no_results_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(AllureError, match="no Allure results") as info:
        render(tmp_path / "empty", tmp_path / "out", name="x")
    assert "\n" not in str(info.value)


def test_a_missing_or_wrong_allure_is_one_line_with_the_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path / "nope"))
    with pytest.raises(AllureError, match="npm install -g allure@3") as info:
        find_allure()
    assert "\n" not in str(info.value)
    fake = tmp_path / "allure"
    fake.write_text("#!/bin/sh\necho 2.30.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv(ENV, str(fake))
    with pytest.raises(AllureError, match="not Allure 3"):
        find_allure()
    assert shutil.which("sh")


def test_run_allure_html_is_linked_from_report_html(tmp_path: Path) -> None:
    _allure()
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--report-dir", str(out), "--allure-html", "-k", "queue_depth"],
        check=False, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (out / "allure-report" / "index.html").is_file()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<a href="allure-report/index.html">Allure report</a>' in html
    tree = embedded_tree(out / "allure-report" / "index.html")  # grouped by clause group, then clause
    assert tree == {"nocache": ["nocache.queue-depth"]}, tree
