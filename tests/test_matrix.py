"""The kernel matrix page: differing clauses first, labels from the kernel release, rendered by Chromium."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.report.matrix import MatrixError, load_columns, render, rows, write_matrix
from mroute_spec.catalog import load_catalog


def _document(kernel: str, outcome: str = "pass", **changes: str) -> dict:
    clauses = dict.fromkeys(load_catalog(), outcome)
    clauses.update(changes)
    return {"target": {"name": "linux-vm", "profile": "linux", "details": {"kernel": kernel}},
            "tests": [{"id": "t", "clauses": [], "outcome": "pass", "message": ""}], "clauses": clauses}


def _write(tmp_path: Path, name: str, document: dict) -> Path:
    path = tmp_path / name / "results.json"
    path.parent.mkdir()
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_differing_clauses_come_first_and_only_they(tmp_path: Path) -> None:
    ids = list(load_catalog())
    a = _write(tmp_path, "a", _document("6.1.0-57-amd64"))
    b = _write(tmp_path, "b", _document("6.12.118-amd64", **{ids[3]: "fail", ids[7]: "unsupported"}))
    columns = load_columns([a, b])
    assert [c.label for c in columns] == ["6.1.0-57-amd64", "6.12.118-amd64"]
    differing, same = rows(columns)
    assert differing == [(ids[3], ["pass", "fail"]), (ids[7], ["pass", "unsupported"])]
    assert len(same) == len(ids) - 2 and all(len(set(cells)) == 1 for _, cells in same)
    html = render(columns)
    assert html.index(ids[3]) < html.index(ids[0]) < html.index(ids[4])


def test_equal_labels_are_told_apart_by_directory(tmp_path: Path) -> None:
    a = _write(tmp_path, "first", _document("6.1"))
    b = _write(tmp_path, "second", _document("6.1"))
    assert [c.label for c in load_columns([a, b])] == ["6.1 (first)", "6.1 (second)"]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"tests": []}', b"\xff\xfe"])
def test_a_file_that_is_not_results_json_is_one_line_naming_it(tmp_path: Path, content: str | bytes) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(MatrixError) as info:
        load_columns([path])
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_chromium_renders_the_matrix_without_console_errors(tmp_path: Path) -> None:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; scripts/check does it as root)")
    ids = list(load_catalog())
    base = _document("6.1")
    other = copy.deepcopy(base)
    other["target"]["details"]["kernel"] = "6.12"
    other["clauses"][ids[0]] = "fail"
    page = write_matrix([_write(tmp_path, "a", base), _write(tmp_path, "b", other)], tmp_path / "matrix.html")
    done = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", "--dump-dom",
         page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert "clauses that differ: 1" in done.stdout
    assert done.stdout.count('<tr class="diff">') == 1
    assert "CONSOLE" not in done.stderr, done.stderr
