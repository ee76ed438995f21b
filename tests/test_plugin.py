"""The pytest plugin on a fake target and a fake suite: results.json, clause markers, fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fakes import NO_BYTES

from conformance.results import SCHEMA
from conformance.verdict import PYTEST_UNTESTED
from mroute_spec.catalog import load_catalog

pytest_plugins = ["pytester"]

FAKE_TARGET = """
from conformance.targets.base import Target, TargetInfo
""" + NO_BYTES + """

class FakeTarget(NoBytes):
    name = "fake"

    def __init__(self, profile):
        self.profile = profile
        self.resets = 0

    def reset(self):
        self.resets += 1

    def shutdown(self):
        pass

    def info(self):
        return TargetInfo("fake", self.profile.name if self.profile else "none", {"build": "42"})


class AbsentTarget(FakeTarget):
    def __init__(self, profile):
        from conformance.targets.linux import TargetUnavailable

        raise TargetUnavailable("no lab device attached")
"""

MIXED_SUITE = """
import pytest
from conformance.outcomes import unsupported


@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")


@pytest.fixture
def no_api():
    unsupported("MRT_API_SUPPORT: ENOPROTOOPT")


@pytest.mark.clause("mfc.ttl-threshold")
@pytest.mark.parametrize("ttl", [1, 2, 3])
def test_threshold(target, ttl):
    assert ttl != 3, "copy on vif 1\\nexpected ttl 2, got 3"


@pytest.mark.clause("vif.add", "api.support-read")
def test_unsupported_in_test(target):
    unsupported("no advanced API")


@pytest.mark.clause("api.support-read")
def test_unsupported_in_fixture(target, no_api):
    pass


@pytest.mark.clause("vif.add")
def test_pass(target):
    assert target.resets >= 1


@pytest.mark.clause("init.done")
def test_skip(target):
    pytest.skip("needs root")


@pytest.mark.clause("init.done", "vif.delete")
def test_error(target, broken):
    pass


@pytest.mark.clause("vif.delete")
@pytest.mark.xfail(reason="known bug 7")
def test_xfail(target):
    assert False


@pytest.mark.clause("mfc.update")
@pytest.mark.xfail(reason="fixed since")
def test_xpass(target):
    pass
"""

CLEAN_SUITE = """
import pytest
from conformance.outcomes import unsupported

pytestmark = pytest.mark.clause("mfc.add-forward")


@pytest.mark.parametrize("n", range(6))
def test_many(target, n):
    assert n < 5


@pytest.mark.clause("bw.tmin")
def test_bw(target):
    unsupported("no meters")


class TestGroup:
    pytestmark = pytest.mark.clause("mfc.delete")

    def test_in_class(self, target, profile):
        assert profile is None
"""

BASE_ARGS = ("-p", "no:cacheprovider", "-p", "no:benchmark")  # no cache dirs, no xdist warning from benchmark
OUTCOMES = ("pass", "fail", "unsupported", "expected-fail", "unexpected-pass", "skip", "error")
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def fake(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester dir holding the fake target module (importable as faketarget)."""
    pytester.makepyfile(faketarget=FAKE_TARGET)
    pytester.syspathinsert()
    return pytester


def run_suite(
    pytester: pytest.Pytester,
    source: str,
    *args: str,
    target: str = "faketarget:FakeTarget",
    subprocess: bool = False,
):
    """Run ``source`` as the suite; return the pytest result and results.json (or None)."""
    pytester.makepyfile(test_fake_suite=source)
    out = pytester.path / "out" / "results.json"
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    result = run(*BASE_ARGS, f"--mroute-target={target}", f"--mroute-results={out}", *args)
    return result, (json.loads(out.read_text()) if out.exists() else None)


def by_name(document: dict) -> dict[str, dict]:
    return {test["id"].split("::")[-1]: test for test in document["tests"]}


def comparable(document: dict) -> dict:
    """results.json without timing fields and the command line (which names -n)."""
    stripped = {k: v for k, v in document.items() if k not in ("started", "finished", "invocation")}
    stripped["tests"] = [{k: v for k, v in t.items() if k != "duration_s"} for t in document["tests"]]
    return stripped


def test_results_json_has_the_contract_shape(fake: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)  # under CI an unseeded run derandomizes (mroute-ci): checked below
    _, doc = run_suite(fake, MIXED_SUITE)
    assert list(doc) == [
        "schema", "verdict", "verdict_reason", "suite", "target", "started", "finished", "summary", "tests", "clauses",
        "hypothesis", "invocation",
    ]
    assert doc["invocation"]["command"].startswith(("python", "pytest")) and doc["invocation"]["host"]["hostname"]
    assert doc["hypothesis"] == {"seed": None, "profile": "mroute-run", "derandomize": False, "database": False}
    assert doc["verdict"] == "fail" and doc["verdict_reason"].startswith("3 of 10 tests did not pass")
    assert doc["schema"] == SCHEMA
    monkeypatch.setenv("CI", "true")
    _, ci_doc = run_suite(fake, MIXED_SUITE)
    assert ci_doc["hypothesis"] == {"seed": None, "profile": "mroute-ci", "derandomize": True, "database": False}
    assert set(doc["suite"]) == {"version", "fixtures_sha256"} and doc["suite"]["version"]
    assert doc["suite"]["fixtures_sha256"] is None or re.fullmatch(
        r"[0-9a-f]{64}", doc["suite"]["fixtures_sha256"]
    )
    assert doc["target"] == {"name": "fake", "profile": "none", "details": {"build": "42"}}
    assert ISO_Z.match(doc["started"]) and ISO_Z.match(doc["finished"]) and doc["started"] <= doc["finished"]
    for test in doc["tests"]:
        assert list(test)[:5] == ["id", "clauses", "outcome", "message", "duration_s"]
        assert list(test)[5:] in ([], ["evidence"])  # evidence: only a failure's lines, when it has any
        assert "evidence" not in test or test["outcome"] in ("fail", "error", "unexpected-pass", "expected-fail")
        assert isinstance(test["duration_s"], float) and "\n" not in test["message"]


def test_summary_counts_every_outcome(fake: pytest.Pytester) -> None:
    _, doc = run_suite(fake, MIXED_SUITE)
    assert list(doc["summary"]) == list(OUTCOMES)
    assert doc["summary"] == {
        "pass": 3,
        "fail": 1,
        "unsupported": 2,
        "expected-fail": 1,
        "unexpected-pass": 1,
        "skip": 1,
        "error": 1,
    }
    assert sum(doc["summary"].values()) == len(doc["tests"]) == 10


def test_each_outcome_and_its_one_line_message(fake: pytest.Pytester) -> None:
    tests = by_name(run_suite(fake, MIXED_SUITE)[1])
    assert [tests[f"test_threshold[{t}]"]["outcome"] for t in (1, 2, 3)] == ["pass", "pass", "fail"]
    assert tests["test_threshold[3]"]["message"].startswith(
        "AssertionError: copy on vif 1 | expected ttl 2, got 3"
    )
    assert tests["test_pass"] == {**tests["test_pass"], "outcome": "pass", "message": ""}
    assert tests["test_skip"]["outcome"] == "skip" and tests["test_skip"]["message"] == "needs root"
    assert tests["test_error"]["outcome"] == "error" and "fixture exploded" in tests["test_error"]["message"]
    assert (
        tests["test_xfail"]["outcome"] == "expected-fail" and tests["test_xfail"]["message"] == "known bug 7"
    )
    assert tests["test_xpass"]["outcome"] == "unexpected-pass"


def test_unsupported_is_its_own_outcome_from_test_or_fixture(fake: pytest.Pytester) -> None:
    tests = by_name(run_suite(fake, MIXED_SUITE)[1])
    assert tests["test_unsupported_in_test"]["outcome"] == "unsupported"
    assert tests["test_unsupported_in_test"]["message"] == "no advanced API"
    assert tests["test_unsupported_in_fixture"]["outcome"] == "unsupported"
    assert tests["test_unsupported_in_fixture"]["message"] == "MRT_API_SUPPORT: ENOPROTOOPT"


def test_clauses_take_the_worst_outcome_and_list_every_catalog_id(fake: pytest.Pytester) -> None:
    _, doc = run_suite(fake, MIXED_SUITE)
    assert list(doc["clauses"]) == list(load_catalog())
    assert doc["clauses"]["mfc.ttl-threshold"] == "fail"  # pass, pass, fail
    assert doc["clauses"]["vif.add"] == "unsupported"  # pass, unsupported
    assert doc["clauses"]["api.support-read"] == "unsupported"
    assert doc["clauses"]["init.done"] == "error"  # skip, error
    assert doc["clauses"]["vif.delete"] == "error"  # error, expected-fail
    assert doc["clauses"]["mfc.update"] == "unexpected-pass"
    tested = {"mfc.ttl-threshold", "vif.add", "api.support-read", "init.done", "vif.delete", "mfc.update"}
    assert {cid for cid, outcome in doc["clauses"].items() if outcome != "untested"} == tested


def test_parametrized_cases_are_separate_entries_in_collection_order(fake: pytest.Pytester) -> None:
    _, doc = run_suite(fake, CLEAN_SUITE)
    names = [test["id"].split("::", 1)[1] for test in doc["tests"]]
    assert names == [f"test_many[{n}]" for n in range(6)] + ["test_bw", "TestGroup::test_in_class"]
    assert by_name(doc)["test_bw"]["clauses"] == ["bw.tmin", "mfc.add-forward"]  # own marker, then module's
    assert doc["clauses"]["mfc.add-forward"] == "fail" and doc["clauses"]["mfc.delete"] == "pass"


def test_xdist_gives_the_same_results(fake: pytest.Pytester) -> None:
    _, serial = run_suite(fake, CLEAN_SUITE)
    result, parallel = run_suite(
        fake, CLEAN_SUITE, "-n", "2", subprocess=True
    )  # workers need a fresh sys.path
    result.assert_outcomes(passed=6, failed=1, skipped=1)
    assert comparable(parallel) == comparable(serial)


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("", "test_fake_suite.py::test_unmarked: no @pytest.mark.clause"),
        ("@pytest.mark.clause('mfc.no-such-clause')", "unknown clause ID 'mfc.no-such-clause'"),
        ("@pytest.mark.clause('vif.add', 'bogus.id')", "unknown clause ID 'bogus.id'"),
    ],
)
def test_bad_clause_marker_is_a_collection_error(fake: pytest.Pytester, marker: str, expected: str) -> None:
    source = f"import pytest\n\n{marker}\ndef test_unmarked(target):\n    pass\n"
    result, doc = run_suite(fake, source)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting test_fake_suite.py*"])
    assert expected in result.stdout.str()
    assert doc["summary"]["error"] == 1 and doc["tests"][0]["id"] == "test_fake_suite.py"


def test_target_is_reset_before_every_test_and_built_once(fake: pytest.Pytester) -> None:
    source = """
import pytest

SEEN = []


@pytest.mark.clause("init.done")
@pytest.mark.parametrize("n", range(3))
def test_reset(target, mroute_target, n):
    SEEN.append(id(mroute_target))
    assert target is mroute_target and target.resets == n + 1 and len(set(SEEN)) == 1
"""
    result, _ = run_suite(fake, source)
    result.assert_outcomes(passed=3)


def test_profile_option_reaches_the_target(fake: pytest.Pytester) -> None:
    _, doc = run_suite(fake, CLEAN_SUITE, "--mroute-profile=freebsd")
    assert doc["target"]["profile"] == "freebsd"
    assert by_name(doc)["test_in_class"]["outcome"] == "fail"  # profile is no longer None


def test_unavailable_target_skips_every_test_visibly(fake: pytest.Pytester) -> None:
    result, doc = run_suite(fake, CLEAN_SUITE, "-rs", target="faketarget:AbsentTarget")
    result.assert_outcomes(skipped=8)
    result.stdout.fnmatch_lines(["*target unavailable: no lab device attached*"])
    assert {t["outcome"] for t in doc["tests"]} == {"skip"}
    assert {t["message"] for t in doc["tests"]} == {"target unavailable: no lab device attached"}
    assert doc["target"]["details"] == {"unavailable": "no lab device attached"}
    assert result.ret == PYTEST_UNTESTED  # not 0: nothing was tested
    assert doc["verdict"] == "untested"
    result.stdout.fnmatch_lines(["mroute verdict: untested: fake target unavailable: no lab device attached"])


def test_unavailable_target_under_xdist_is_untested_too(fake: pytest.Pytester) -> None:
    result, doc = run_suite(fake, CLEAN_SUITE, "-n", "2", target="faketarget:AbsentTarget", subprocess=True)
    assert result.ret == PYTEST_UNTESTED and doc["verdict"] == "untested"
    result.stdout.fnmatch_lines(["mroute verdict: untested: fake target unavailable: no lab device attached"])


def test_a_run_where_nothing_passed_is_untested(fake: pytest.Pytester) -> None:
    suite = CLEAN_SUITE.replace("assert n < 5", "pytest.skip('no wires')").replace("assert profile is None", "pytest.skip('x')")
    result, doc = run_suite(fake, suite)
    assert result.ret == PYTEST_UNTESTED and doc["verdict"] == "untested"
    assert doc["verdict_reason"] == "nothing was tested: no test passed (1 unsupported, 7 skip)"


def test_a_clean_run_passes_with_exit_0(fake: pytest.Pytester) -> None:
    result, doc = run_suite(fake, CLEAN_SUITE.replace("assert n < 5", "pass"))
    assert result.ret == 0 and doc["verdict"] == "pass"
    result.stdout.fnmatch_lines(["mroute verdict: pass: 8 tests, none failed (7 pass, 1 unsupported)"])


def test_bad_target_option_is_a_usage_error(fake: pytest.Pytester) -> None:
    result, doc = run_suite(fake, CLEAN_SUITE, target="nosuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and doc is None
    result.stderr.fnmatch_lines(
        ["*unknown target 'nosuch'; valid targets: reference, linux, or MODULE:CLASS*"]
    )


def test_a_target_class_that_is_not_a_target_is_a_usage_error(fake: pytest.Pytester) -> None:
    result, doc = run_suite(fake, CLEAN_SUITE, target="faketarget:TargetInfo")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and doc is None
    result.stderr.fnmatch_lines(["*target 'faketarget:TargetInfo': * is not a subclass of conformance.targets.base.Target"])
    assert "Traceback" not in result.stderr.str()


def test_plugin_is_inert_without_target_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain(tmp_path):\n    assert tmp_path.exists()\n")
    result = pytester.runpytest(*BASE_ARGS, "--strict-markers")
    result.assert_outcomes(passed=1)
    assert "mroute target" not in result.stdout.str()


def test_junit_carries_clause_properties(fake: pytest.Pytester) -> None:
    run_suite(fake, CLEAN_SUITE, "--junitxml=out/junit.xml")
    junit = (fake.path / "out" / "junit.xml").read_text()
    assert '<property name="clause" value="bw.tmin" />' in junit


def test_allure_labels_and_spec_links(fake: pytest.Pytester) -> None:
    pytest.importorskip("allure_pytest")
    run_suite(fake, CLEAN_SUITE, "--alluredir=allure")
    results = [json.loads(p.read_text()) for p in Path(fake.path, "allure").glob("*-result.json")]
    bw = next(r for r in results if r["name"] == "test_bw")
    labels = {(label["name"], label["value"]) for label in bw["labels"]}
    assert {
        ("feature", "mfc"),
        ("feature", "bw"),
        ("story", "bw.tmin"),
        ("clause", "bw.tmin"),
        ("clause", "mfc.add-forward"),
        ("parentSuite", "fake"),
    } <= labels
    links = {link["name"]: link for link in bw["links"]}
    assert links["bw.tmin: Advanced API: bandwidth monitoring"]["type"] == "spec"


def test_hypothesis_ci_profile_loads_under_ci(fake: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    source = """
import pytest
from hypothesis import settings


@pytest.mark.clause("mfc.exact-match")
def test_profile(target):
    assert settings.get_profile("mroute-ci").derandomize
    assert settings.default.database is None and settings.default.derandomize
"""
    fake.makepyfile(test_fake_suite=source)
    monkeypatch.setenv("CI", "true")
    result = fake.runpytest_subprocess(*BASE_ARGS, "--mroute-target=faketarget:FakeTarget")
    result.assert_outcomes(passed=1)


def test_results_leave_out_tests_outside_the_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    out = pytester.path / "results.json"
    pytester.runpytest(*BASE_ARGS, f"--mroute-results={out}").assert_outcomes(passed=1)
    doc = json.loads(out.read_text())
    assert doc["tests"] == [] and set(doc["clauses"].values()) == {"untested"}
    assert doc["target"] == {"name": "reference", "profile": "documented", "details": {}}


def test_strict_xpass_is_an_unexpected_pass(fake: pytest.Pytester) -> None:
    source = """
import pytest


@pytest.mark.clause("vif.add")
@pytest.mark.xfail(reason="bug 9", strict=True)
def test_strict(target):
    pass
"""
    _, doc = run_suite(fake, source)
    assert doc["tests"][0]["outcome"] == "unexpected-pass" and doc["tests"][0]["message"] == "bug 9"


def test_worst_follows_the_severity_order() -> None:
    from conformance.outcomes import worst

    assert worst("pass", "unsupported", "skip") == "skip"
    assert worst("expected-fail", "unexpected-pass") == "unexpected-pass"
    assert worst("fail", "error") == "error"
    assert worst() == "untested"
