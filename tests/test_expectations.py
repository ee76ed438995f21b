"""Expectation files: reading, judging outcomes, the CLI mechanics on a fake target and suite, update."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from fakes import fake_target_source

from conformance.cli import main
from conformance.expectations import FORMAT, Entry, Expectations, ExpectationsError, load
from conformance.expectations.entries import SHIPPED_DIR, parse
from conformance.expectations.update import render_toml, toml_string
from conformance.expectations.wiring import NONE, resolve

pytest_plugins = ["pytester"]

FAKE_TARGET = fake_target_source({"build": "7"})

# The kernel deviation the file lists: which errno a delete of an absent entry gives.
SUITE = """
import os
import pytest

ERRNO = os.environ.get("FAKE_ERRNO", "EINVAL")


@pytest.mark.clause("mfc.delete-absent")
def test_delete_absent(target):
    if ERRNO != "ENOENT":
        raise AssertionError(f"mfc.del_absent: expected ENOENT per profile, got {ERRNO}")


@pytest.mark.clause("mfc.add-forward")
def test_forward(target):
    pass
"""
NODE = "fsuite/test_fake.py::test_delete_absent"


def expectations_file(path: Path, *entries: str) -> Path:
    path.write_text(f'format = "{FORMAT}"\ntarget = "fake"\n' + "".join(entries), encoding="utf-8")
    return path


def entry(subject: str, reason: str, outcome: str = "fail") -> str:
    return f'\n[[expect]]\n{subject}\noutcome = "{outcome}"\n{reason}\n'


LISTED = entry(f'test = "{NODE}"', 'reason = "expected ENOENT per profile, got EINVAL"')


@pytest.fixture
def lab(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cwd: a fake target module and a fake suite dir ``fsuite``; the kernel says EINVAL."""
    pytester.makepyfile(faketarget=FAKE_TARGET)
    (pytester.path / "fsuite").mkdir()
    (pytester.path / "fsuite" / "test_fake.py").write_text(SUITE)
    monkeypatch.setenv("FAKE_ERRNO", "EINVAL")
    return pytester.path


def run(*args: str) -> int:
    return main(["run", "--target=faketarget:FakeTarget", "--suite=fsuite", "--report-dir=out", *args])


def results(lab: Path) -> dict:
    return json.loads((lab / "out" / "results.json").read_text())


def result_of(lab: Path, nodeid: str = NODE) -> dict:
    return next(t for t in results(lab)["tests"] if t["id"] == nodeid)


# -- the file format --------------------------------------------------------------------------


def test_a_file_reads_into_entries_in_order(tmp_path: Path) -> None:
    path = expectations_file(
        tmp_path / "x.toml",
        LISTED,
        entry('clause = "nocache.expiry"', 'reason_regex = "got [0-9]+ upcalls"', "error"),
    )
    first, second = load(path)
    assert first == Entry(NODE, None, "fail", "expected ENOENT per profile, got EINVAL", None)
    assert second.clause == "nocache.expiry" and second.outcome == "error"
    assert second.matches("expected 1, got 3 upcalls") and not second.matches("got many upcalls")


def test_json_files_have_the_same_shape(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"format": FORMAT, "expect": [{"clause": "vif.tunnel", "reason": "ENOBUFS"}]}))
    assert load(path) == [Entry(None, "vif.tunnel", "fail", "ENOBUFS", None)]


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ('format = "other/1"\n', "format must be"),
        (f'format = "{FORMAT}"\nexpect = 3\n', "array of tables"),
        (f'format = "{FORMAT}"\n[[expect]]\ntest = "a"\nclause = "vif.add"\nreason = "x"\n', "exactly one of 'test'"),
        (f'format = "{FORMAT}"\n[[expect]]\ntest = "a"\n', "exactly one of 'reason'"),
        (f'format = "{FORMAT}"\n[[expect]]\ntest = "a"\nreason = ""\n', "empty reason"),
        (f'format = "{FORMAT}"\n[[expect]]\ntest = "a"\nreason_regex = "("\n', "does not compile"),
        (f'format = "{FORMAT}"\n[[expect]]\ntest = "a"\nreason = "x"\noutcome = "pass"\n', "outcome 'pass'"),
        (f'format = "{FORMAT}"\n[[expect]]\nclause = "no.such"\nreason = "x"\n', "unknown clause ID"),
        (f'format = "{FORMAT}"\n[[expect]]\ntest = "a"\nreason = "x"\nwhy = "y"\n', "unknown keys ['why']"),
        (f'format = "{FORMAT}"\n' + '[[expect]]\ntest = "a"\nreason = "x"\n' * 2, "listed twice"),
        ("format = \n", "is not valid"),
    ],
)
def test_invalid_files_are_refused_with_the_entry_named(tmp_path: Path, body: str, complaint: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ExpectationsError, match=r"bad\.toml") as info:
        load(path)
    assert complaint in str(info.value)


# -- judging one test -------------------------------------------------------------------------


def judged(outcome: str, message: str, *entries: Entry, clauses: tuple[str, ...] = ()) -> tuple[str, str]:
    return Expectations(list(entries), "linux.toml").judge(NODE, list(clauses), outcome, message)


ENOENT = Entry(NODE, None, "fail", "got EINVAL", None)


def test_a_listed_failure_with_its_reason_is_expected_fail() -> None:
    assert judged("fail", "expected ENOENT, got EINVAL", ENOENT) == ("expected-fail", "expected ENOENT, got EINVAL")


def test_a_listed_failure_that_passes_is_unexpected_pass() -> None:
    outcome, message = judged("pass", "", ENOENT)
    assert outcome == "unexpected-pass"
    assert message.startswith("listed in linux.toml as fail (test " + NODE)
    assert message.endswith("but passed: remove the entry")


def test_a_listed_failure_whose_message_changed_fails_and_says_why() -> None:
    outcome, message = judged("fail", "expected ENOENT, got EPERM", ENOENT)
    assert outcome == "fail"
    assert message.startswith("expectation mismatch: listed in linux.toml as fail")
    assert "reason substring 'got EINVAL'" in message and message.endswith("expected ENOENT, got EPERM")


def test_an_error_where_a_failure_is_listed_stays_an_error_with_the_mismatch() -> None:
    outcome, message = judged("error", "fixture exploded", ENOENT)
    assert outcome == "error" and "got error: fixture exploded" in message


@pytest.mark.parametrize("outcome", ["unsupported", "skip", "expected-fail"])
def test_unsupported_skip_and_pytest_xfail_are_left_alone(outcome: str) -> None:
    assert judged(outcome, "why", ENOENT) == (outcome, "why")


def test_clause_entries_cover_every_test_of_the_clause_and_test_entries_win() -> None:
    by_clause = Entry(None, "mfc.delete-absent", "fail", None, r"got E[A-Z]+")
    assert judged("fail", "got EPERM", by_clause, clauses=("mfc.delete-absent",))[0] == "expected-fail"
    assert judged("fail", "got EPERM", by_clause, ENOENT, clauses=("mfc.delete-absent",))[0] == "fail"
    assert judged("pass", "", by_clause, clauses=("vif.add",)) == ("pass", "")


def test_the_record_keeps_the_tests_own_message_and_unused_entries() -> None:
    exp = Expectations([ENOENT, Entry("other", None, "fail", "x", None)], "linux.toml")
    exp.judge(NODE, [], "fail", "got EPERM")
    record = exp.as_json()
    assert record["applied"] == [
        {"id": NODE, "entry": ENOENT.as_json(), "result": "mismatch", "message": "got EPERM"}
    ]
    assert record["unused"] == [{"test": "other", "outcome": "fail", "reason": "x"}]


# -- where the file comes from ----------------------------------------------------------------


def test_the_linux_target_uses_its_shipped_file_unless_told_otherwise(tmp_path: Path) -> None:
    assert resolve(None, "linux") == SHIPPED_DIR / "linux.toml"
    assert resolve(NONE, "linux") is None
    assert resolve(str(tmp_path / "mine.toml"), "linux") == tmp_path / "mine.toml"
    assert resolve(None, "reference") is None and resolve(None, None) is None


def test_the_shipped_linux_file_is_valid_and_names_real_suite_tests_with_reasons() -> None:
    """Every entry pins an existing suite test (file and function) to a reason it must fail for."""
    suite_root = SHIPPED_DIR.parents[2]  # the directory holding conformance/
    for entry in load(SHIPPED_DIR / "linux.toml"):
        assert entry.reason or entry.reason_regex, entry
        if entry.test:
            path, _, name = entry.test.partition("::")
            function = name.split("[", 1)[0]
            source = (suite_root / path).read_text()
            assert f"def {function}(" in source, f"{entry.test}: no such suite test"


# -- the run, end to end (CLI on the fake target) ---------------------------------------------


def test_cli_expected_fail_lets_the_run_pass(lab: Path) -> None:
    listed = expectations_file(lab / "fake.toml", LISTED)
    assert run() == 1  # without the file the deviation fails the run
    assert run("--expectations", str(listed)) == 0
    test = result_of(lab)
    assert test["outcome"] == "expected-fail" and test["message"].endswith("got EINVAL")
    doc = results(lab)
    assert doc["summary"]["expected-fail"] == 1 and doc["clauses"]["mfc.delete-absent"] == "expected-fail"
    assert doc["expectations"]["file"] == str(listed) and doc["expectations"]["applied"][0]["result"] == "expected-fail"


def test_cli_unexpected_pass_fails_the_run(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = expectations_file(lab / "fake.toml", LISTED)
    monkeypatch.setenv("FAKE_ERRNO", "ENOENT")  # the kernel was fixed
    assert run("--expectations", str(listed)) == 1
    assert result_of(lab)["outcome"] == "unexpected-pass"
    assert "but passed: remove the entry" in result_of(lab)["message"]


def test_cli_changed_message_fails_the_run(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = expectations_file(lab / "fake.toml", LISTED)
    monkeypatch.setenv("FAKE_ERRNO", "EPERM")  # still failing, for another reason
    assert run("--expectations", str(listed)) == 1
    test = result_of(lab)
    assert test["outcome"] == "fail"
    assert test["message"].startswith("expectation mismatch:") and test["message"].endswith("got EPERM")


def test_cli_applies_expectations_on_the_xdist_controller(lab: Path) -> None:
    listed = expectations_file(lab / "fake.toml", LISTED)
    assert run("-n", "2", "--expectations", str(listed)) == 0
    assert result_of(lab)["outcome"] == "expected-fail"
    (applied,) = results(lab)["expectations"]["applied"]  # judged on a worker, recorded on the controller
    assert applied["id"] == NODE and applied["result"] == "expected-fail" and applied["message"].endswith("got EINVAL")
    assert results(lab)["expectations"]["unused"] == []


def test_cli_bad_expectations_file_is_a_usage_error(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (lab / "bad.toml").write_text('format = "nope"\n')
    assert run("--expectations", "bad.toml") == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "bad.toml" in err and "format must be" in err


def test_plugin_option_applies_the_file(lab: Path, pytester: pytest.Pytester) -> None:
    listed = expectations_file(lab / "fake.toml", LISTED)
    out = lab / "direct.json"
    pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:benchmark", "fsuite", "--mroute-target=faketarget:FakeTarget",
        f"--mroute-results={out}", f"--mroute-expectations={listed}",
    )
    doc = json.loads(out.read_text())
    assert {t["id"]: t["outcome"] for t in doc["tests"]}[NODE] == "expected-fail"


def plain_pytest(pytester: pytest.Pytester, listed: Path, *args: str) -> pytest.RunResult:
    """The fake suite under plain pytest (no results.json), the expectations file given."""
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:benchmark", "fsuite", "--mroute-target=faketarget:FakeTarget",
        f"--mroute-expectations={listed}", "--junitxml=junit.xml", *args,
    )


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_plain_pytest_shows_an_expected_fail_as_xfail_and_exits_0(
    lab: Path, pytester: pytest.Pytester, workers: tuple[str, ...]
) -> None:
    listed = expectations_file(lab / "fake.toml", LISTED)
    result = plain_pytest(pytester, listed, "-rx", "--alluredir=allure", *workers)
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=1, xfailed=1)
    result.stdout.fnmatch_lines(["XFAIL*test_delete_absent*got EINVAL*"])
    junit = (lab / "junit.xml").read_text()  # a CI reading junit.xml sees no failure either
    assert 'failures="0"' in junit and 'type="pytest.xfail"' in junit and "<failure" not in junit
    allure = [json.loads(p.read_text()) for p in (lab / "allure").glob("*-result.json")]
    assert {r["name"]: r["status"] for r in allure} == {"test_delete_absent": "skipped", "test_forward": "passed"}
    assert "XFAIL" in next(r for r in allure if r["name"] == "test_delete_absent")["statusDetails"]["message"]


def test_plain_pytest_fails_an_unexpected_pass_and_a_changed_message(
    lab: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = expectations_file(lab / "fake.toml", LISTED)
    monkeypatch.setenv("FAKE_ERRNO", "ENOENT")  # the kernel was fixed
    result = plain_pytest(pytester, listed)
    assert result.ret == 1
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*XPASS(strict)*listed in fake.toml*but passed: remove the entry*"])
    assert "<failure" in (lab / "junit.xml").read_text()
    monkeypatch.setenv("FAKE_ERRNO", "EPERM")  # still failing, for another reason
    result = plain_pytest(pytester, listed)
    assert result.ret == 1
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*mroute-conformance expectations*", "*message no longer matches*got EPERM*"])


def test_update_writes_a_file_that_makes_the_same_run_pass(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run() == 1
    assert main(["expectations", "--update", "out/results.json", "-o", "new.toml"]) == 0
    text = (lab / "new.toml").read_text()
    assert "# clauses: mfc.delete-absent" in text
    assert load(lab / "new.toml") == [
        Entry(NODE, None, "fail", "AssertionError: mfc.del_absent: expected ENOENT per profile, got EINVAL", None)
    ]
    assert run("--expectations", "new.toml") == 0
    capsys.readouterr()
    assert main(["expectations", "--update", "out/results.json"]) == 0  # an expected-fail keeps its entry
    assert load_text(capsys.readouterr().out) == load(lab / "new.toml")


def test_update_takes_the_tests_own_message_from_a_mismatch(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = expectations_file(lab / "fake.toml", LISTED)
    monkeypatch.setenv("FAKE_ERRNO", "EPERM")
    assert run("--expectations", str(listed)) == 1
    assert main(["expectations", "--update", "out/results.json", "-o", "new.json"]) == 0
    (renewed,) = load(lab / "new.json")
    assert renewed.reason == "AssertionError: mfc.del_absent: expected ENOENT per profile, got EPERM"


def load_text(text: str) -> list[Entry]:
    return parse(tomllib.loads(text), "<stdout>")


def test_toml_strings_survive_any_message() -> None:
    nasty = 'quote " backslash \\ tab \t newline \n del \x7f nul \x00 unicode … \u2028 ]] [[expect]]'
    text = render_toml("t", [(Entry("a::b[\"x\"]", None, "fail", nasty, None), ["vif.add"])], ["head"])
    assert tomllib.loads(text)["expect"][0]["reason"] == nasty
    assert tomllib.loads(f"v = {toml_string(nasty)}")["v"] == nasty
