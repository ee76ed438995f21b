"""report.html's parts without a browser: failing clauses first, the chart's numbers, the identity
block, the diff against the previous run, the Allure link, and messages free of Python reprs."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conformance import outcomes
from conformance.harness import core, expect
from conformance.report.html import (
    PREVIOUS_NAME,
    attention,
    group_counts,
    identity_rows,
    render,
    since_previous,
    write_report,
)
from conformance.report.staging import PREVIOUS, Stage
from conformance.results import build_document
from mroute_spec.catalog import load_catalog

TARGET = {"name": "reference", "profile": "documented", "details": {"kernel": "6.12.118-amd64", "model": "x"}}


def _test(tid: str, clause: str, outcome: str, message: str = "", evidence: list[str] | None = None) -> dict:
    entry = {"id": tid, "clauses": [clause], "outcome": outcome, "message": message, "duration_s": 0.0}
    if evidence:
        entry["evidence"] = evidence
    return entry


def _document(tests: list[dict]) -> dict:
    return build_document(TARGET, "2026-12-04T10:00:00Z", "2026-12-04T10:01:40Z", tests)


def test_failing_and_unexpected_clauses_come_first_worst_first() -> None:
    ids = list(load_catalog())
    tests = [
        _test("t::known", ids[0], outcomes.EXPECTED_FAIL, "known"),
        _test("t::ok", ids[1], outcomes.PASS),
        _test("t::xpass", ids[2], outcomes.UNEXPECTED_PASS, "passed"),
        _test("t::fail", ids[3], outcomes.FAIL, "got EPERM"),
        _test("t::err", ids[4], outcomes.ERROR, "setup broke"),
        _test("t::fail2", ids[5], outcomes.FAIL, "got EINVAL"),
    ]
    doc = _document(tests)
    order = [(cid, outcome) for cid, outcome, _ in attention(doc)]
    assert order == [(ids[4], "error"), (ids[3], "fail"), (ids[5], "fail"), (ids[2], "unexpected-pass"),
                     (ids[0], "expected-fail")]
    html = render(doc)
    # in the page: the broken clauses before the known failures, and all of them before the chart
    positions = [html.index(f'class="att" data-clause="{cid}"') for cid, _ in order]
    assert positions == sorted(positions) and positions[-1] < html.index('id="chart-section"')
    assert html.index('id="attention"') < html.index('id="identity"') < html.index('id="clauses"')


def test_evidence_lines_are_shown_one_per_line_and_escaped() -> None:
    cid = next(iter(load_catalog()))
    evidence = ["AssertionError: NOCACHE upcall differs:", "  vif: expected 1, got 2", "  src: <b>&</b>"]
    html = render(_document([_test("t::f", cid, outcomes.FAIL, " | ".join(evidence), evidence)]))
    block = re.search(r'<pre class="evidence">(.*?)</pre>', html, re.S)
    assert block is not None
    assert block.group(1).count("\n") == 3 and "&lt;b&gt;&amp;&lt;/b&gt;" in block.group(1)
    assert '<span class="ev-diff">  vif: expected 1, got 2</span>' in block.group(1)


def test_a_passing_run_says_nothing_broke() -> None:
    cid = next(iter(load_catalog()))
    html = render(_document([_test("t::ok", cid, outcomes.PASS)]))
    assert "Nothing: no clause failed" in html and 'class="att"' not in html


def test_the_chart_counts_clauses_per_group() -> None:
    catalog = load_catalog()
    ids = list(catalog)
    tests = [_test("a", ids[0], outcomes.PASS), _test("b", ids[1], outcomes.FAIL, "x"),
             _test("c", ids[2], outcomes.UNSUPPORTED, "no"), _test("d", ids[3], outcomes.EXPECTED_FAIL, "k")]
    doc = _document(tests)
    counts = dict(group_counts(doc, catalog))
    assert list(counts) == list(dict.fromkeys(c.group for c in catalog.values()))
    for group, tally in counts.items():
        members = [cid for cid, c in catalog.items() if c.group == group]
        assert sum(tally.values()) == len(members), group
        for outcome in (outcomes.PASS, outcomes.FAIL, outcomes.UNSUPPORTED, outcomes.EXPECTED_FAIL):
            assert tally[outcome] == sum(doc["clauses"][cid] == outcome for cid in members), (group, outcome)
    # the SVG carries the same numbers
    html = render(doc)
    drawn = {(g, o): int(n) for g, o, n in re.findall(
        r'<rect [^>]*data-row="([^"]+)" data-outcome="([^"]+)" data-count="(\d+)"', html)}
    expected = {(g, o): n for g, tally in counts.items() for o, n in tally.items() if n}
    assert drawn == expected


def test_the_identity_block_names_command_host_target_kernel_hashes_and_seed() -> None:
    cid = next(iter(load_catalog()))
    doc = _document([_test("t::ok", cid, outcomes.PASS)])
    doc["invocation"] = {"command": "mroute-conformance run --target linux-vm --kernel debian:6.12", "cwd": "/w",
                         "host": {"hostname": "lab1", "os": "Debian GNU/Linux 12", "kernel": "Linux 6.1.0",
                                  "machine": "x86_64", "python": "3.11.7"}}
    doc["hypothesis"] = {"seed": 7, "profile": "mroute-run", "derandomize": False, "database": False}
    doc["expectations"] = {"file": "linux.toml", "sha256": "ab" * 32, "entries": 1, "applied": [], "unused": []}
    rows = dict(identity_rows(doc, "cd" * 32))
    assert "mroute-conformance run --target linux-vm --kernel debian:6.12" in rows["command"]
    assert rows["host"] == "lab1, Debian GNU/Linux 12, Linux 6.1.0, x86_64"
    assert rows["target kernel"] == "6.12.118-amd64" and rows["declared profile"].startswith("documented")
    assert "ab" * 32 in rows["expectations sha256"] and "linux.toml" in rows["expectations file"]
    assert rows["hypothesis seed"].startswith("7 ") and "cd" * 32 in rows["results.json sha256"]
    assert rows["started"] == "2026-12-04T10:00:00Z" and rows["duration"] == "100 s"
    assert doc["suite"]["version"] in rows["suite version"]
    assert "kernel <b>6.12.118-amd64</b>" in render(doc)  # the kernel under test is in the headline too


def test_an_old_results_json_says_what_is_not_recorded() -> None:
    cid = next(iter(load_catalog()))
    rows = dict(identity_rows(_document([_test("t::ok", cid, outcomes.PASS)]), None))
    assert "not recorded" in rows["command"] and "not recorded" in rows["host"]


def test_since_the_previous_run_newly_failing_and_newly_passing() -> None:
    ids = list(load_catalog())
    before = _document([_test("a", ids[0], outcomes.PASS), _test("b", ids[1], outcomes.FAIL, "x"),
                        _test("c", ids[2], outcomes.PASS), _test("d", ids[3], outcomes.UNSUPPORTED, "n")])
    now = _document([_test("a", ids[0], outcomes.FAIL, "y"), _test("b", ids[1], outcomes.PASS),
                     _test("c", ids[2], outcomes.PASS), _test("d", ids[3], outcomes.PASS)])
    diff = since_previous(now, before)
    assert diff["newly_failing"] == [ids[0]] and diff["newly_passing"] == [ids[1]]
    assert diff["changed"] == {ids[3]: ["unsupported", "pass"]}
    html = render(now, previous=before)
    assert "<b>1</b> newly failing, <b>1</b> newly passing" in html
    assert re.search(rf'id="newly-failing"><a href="#clause-{re.escape(ids[0])}">', html)
    assert 'id="since"' not in render(now)


def test_write_report_compares_with_previous_results_and_links_allure(tmp_path: Path) -> None:
    ids = list(load_catalog())
    (tmp_path / PREVIOUS_NAME).write_text(json.dumps(_document([_test("a", ids[0], outcomes.PASS)])))
    now = _document([_test("a", ids[0], outcomes.FAIL, "y")])
    html = write_report(now, tmp_path / "report.html").read_text()
    assert "<b>1</b> newly failing" in html and "allure-report/index.html" not in html
    (tmp_path / "allure-report").mkdir()
    (tmp_path / "allure-report" / "index.html").write_text("<html></html>")
    assert '<a href="allure-report/index.html">' in write_report(now, tmp_path / "report.html").read_text()


def test_publishing_keeps_the_replaced_results_as_previous(tmp_path: Path) -> None:
    report = tmp_path / "out"
    report.mkdir()
    (report / "results.json").write_text('{"run": 1}')
    stage = Stage(report)
    (stage.path / "results.json").write_text('{"run": 2}')
    stage.publish()
    assert (report / PREVIOUS).read_text() == '{"run": 1}' and (report / "results.json").read_text() == '{"run": 2}'
    Stage(report).publish()  # a run that wrote no results.json keeps both as they were
    assert (report / PREVIOUS).read_text() == '{"run": 1}'


def test_harness_messages_write_values_out_instead_of_python_reprs() -> None:
    diff = expect.fields_diff({"kind": "nocache", "raw": b"\x01\x02", "ttls": [1, 2]},
                              {"kind": "wrongvif", "raw": b"\x01\x03"})
    assert diff.splitlines() == ["  kind: expected nocache, got wrongvif", "  raw: expected 01 02, got 01 03",
                                 "  ttls: expected [1, 2], got absent"]
    assert core._upcalls([("nocache", 1, "198.18.0.10", "232.1.0.1")]) == "nocache vif 1 (198.18.0.10, 232.1.0.1)"
    assert core._upcalls([]) == "none"


def test_evidence_keeps_the_failure_lines_bounded() -> None:
    from types import SimpleNamespace

    def report(message: str, failed: bool = True) -> SimpleNamespace:
        crash = SimpleNamespace(message=message)
        return SimpleNamespace(failed=failed, longrepr=SimpleNamespace(reprcrash=crash))

    got = outcomes.evidence(report("AssertionError: differs:\n  vif: expected 1, got 2\n\n  " + "x" * 900))
    assert got[:2] == ["AssertionError: differs:", "  vif: expected 1, got 2"]
    assert len(got) == 3 and len(got[2]) == outcomes.MAX_EVIDENCE_LINE and got[2].endswith("…")
    many = outcomes.evidence(report("\n".join(f"line {i}" for i in range(200))))
    assert len(many) == outcomes.MAX_EVIDENCE_LINES and many[-1] == "… 141 more lines"
    assert outcomes.evidence(report("fine", failed=False)) == []
