"""The mroute-conformance command on a fake target and fake suite: exit codes, outputs, usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import fake_target_source

from conformance.catalog import load_catalog
from conformance.cli import main
from reference_impl.profiles import PROFILES

pytest_plugins = ["pytester"]

FAKE_TARGET = fake_target_source()

GOOD_SUITE = """
import pytest
from conformance.outcomes import unsupported


@pytest.mark.clause("mfc.ttl-threshold")
@pytest.mark.parametrize("ttl", [1, 2, 3])
def test_threshold(target, ttl):
    pass


@pytest.mark.clause("bw.tmin")
def test_meters(target):
    unsupported("no advanced API")


@pytest.mark.clause("init.done")
def test_needs_root(target):
    pytest.skip("not root")
"""

FAILING_TEST = """

@pytest.mark.clause("vif.add")
def test_broken(target):
    assert 1 == 2
"""


@pytest.fixture
def lab(pytester: pytest.Pytester) -> Path:
    """A directory (the cwd) with the fake target module and an empty suite dir ``fsuite``."""
    pytester.makepyfile(faketarget=FAKE_TARGET)
    (pytester.path / "fsuite").mkdir()
    return pytester.path


def write_suite(lab: Path, source: str) -> None:
    (lab / "fsuite" / "test_fake.py").write_text(source)


def run(*args: str) -> int:
    return main(["run", "--target=faketarget:FakeTarget", "--suite=fsuite", "--report-dir=out", *args])


def results(lab: Path) -> dict:
    return json.loads((lab / "out" / "results.json").read_text())


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["run", "--target", "nosuch"], ["'nosuch'", "reference, linux, or MODULE:CLASS"]),
        (["run", "--profile", "bsd"], ["'bsd'", ", ".join(PROFILES)]),
        (["run", "--target", "linux", "--profile", "freebsd"], ["'freebsd'", "valid profiles: linux"]),
        (["run", "--target", "no_such_module_xyz:Lab"], ["'no_such_module_xyz'"]),
        (["clauses", "--target", "conformance.cli:NoSuchClass"], ["'NoSuchClass'"]),
        (["run", "--bogus"], ["'--bogus'", "--target, --profile, --report-dir, -k, -n"]),
        (["run", "-n", "many"], ["'many'", "auto"]),
        (["run", "-n", "-3"], ["'-3'", "auto"]),
        (["frobnicate"], ["'frobnicate'", "'run', 'clauses'"]),
        ([], ["COMMAND"]),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], names: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("mroute-conformance: error: ")
    for name in names:
        assert name in err


def test_console_entry_gives_no_traceback_on_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--target=nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "mroute-conformance: error: unknown target 'nope'; valid targets: reference, linux, or MODULE:CLASS (or an agent: stdio:COMMAND, tcp:HOST:PORT)"
    ]


def test_run_exits_0_when_everything_is_pass_unsupported_or_skip(
    lab: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    write_suite(lab, GOOD_SUITE)
    stale = lab / "out" / "allure-results" / "stale-result.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    assert run() == 0
    out = capfd.readouterr().out
    assert "5 tests on fake (profile none): pass 3, fail 0, unsupported 1, " in out
    assert "unsupported (1): bw.tmin" in out and "skip (1): init.done" in out
    assert (lab / "out" / "junit.xml").exists() and not stale.exists()
    assert any((lab / "out" / "allure-results").glob("*-result.json"))
    assert results(lab)["summary"]["pass"] == 3


def test_run_exits_1_on_a_failure(lab: Path, capfd: pytest.CaptureFixture[str]) -> None:
    write_suite(lab, GOOD_SUITE + FAILING_TEST)
    assert run() == 1
    assert "fail (1): vif.add" in capfd.readouterr().out
    assert results(lab)["clauses"]["vif.add"] == "fail"


def test_extra_pytest_args_after_double_dash_pass_through(lab: Path) -> None:
    write_suite(lab, GOOD_SUITE + FAILING_TEST)
    assert run("--", "--deselect", "fsuite/test_fake.py::test_broken") == 0
    assert "vif.add" not in {c for t in results(lab)["tests"] for c in t["clauses"]}


def test_keyword_selects_and_an_empty_selection_fails(lab: Path, capfd: pytest.CaptureFixture[str]) -> None:
    write_suite(lab, GOOD_SUITE + FAILING_TEST)
    assert run("-k", "threshold") == 0
    assert len(results(lab)["tests"]) == 3
    assert run("-k", "nothing_matches_this") == 1
    assert "no tests ran" in capfd.readouterr().err


def test_run_with_workers_writes_the_same_results(lab: Path) -> None:
    write_suite(lab, GOOD_SUITE + FAILING_TEST)

    def content() -> dict:
        doc = results(lab)
        return {
            "tests": [{k: v for k, v in t.items() if k != "duration_s"} for t in doc["tests"]],
            **{k: doc[k] for k in ("summary", "clauses", "target", "suite")},
        }

    assert run() == 1
    serial = content()
    assert run("-n", "2") == 1
    assert content() == serial


def test_clauses_lists_every_id_with_its_test_count(lab: Path, capfd: pytest.CaptureFixture[str]) -> None:
    write_suite(lab, GOOD_SUITE)
    assert main(["clauses", "--target=faketarget:FakeTarget", "--suite=fsuite"]) == 1  # most are untested
    rows = {line.split()[0]: line.split() for line in capfd.readouterr().out.splitlines()[1:-1]}
    assert list(rows) == list(load_catalog())
    assert rows["mfc.ttl-threshold"] == ["mfc.ttl-threshold", "mfc", "MUST", "3"]
    assert rows["bw.tmin"][1:] == ["bw", "MUST", "1"]
    assert rows["init.disable-value"][1:] == ["init", "conflict", "untested"]


def test_clauses_exits_0_when_every_clause_is_covered(lab: Path, capfd: pytest.CaptureFixture[str]) -> None:
    ids = ", ".join(repr(cid) for cid in load_catalog())
    write_suite(lab, f"import pytest\n\n@pytest.mark.clause({ids})\ndef test_all(target):\n    pass\n")
    assert main(["clauses", "--target=faketarget:FakeTarget", "--suite=fsuite"]) == 0
    assert (
        f"{len(load_catalog())} clauses: every one covered by at least one test" in capfd.readouterr().out
    )


def test_clauses_reports_a_broken_suite(lab: Path, capfd: pytest.CaptureFixture[str]) -> None:
    write_suite(lab, "def test_unmarked(target):\n    pass\n")
    assert main(["clauses", "--target=faketarget:FakeTarget", "--suite=fsuite"]) == 1
    err = capfd.readouterr().err
    assert "no @pytest.mark.clause" in err and "collecting the suite failed" in err
