"""Every results.json a run writes validates against conformance/results.schema.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import fake_target_source

from conformance.cli import main
from conformance.expectations import FORMAT
from mroute_spec.catalog import load_catalog

jsonschema = pytest.importorskip("jsonschema")

pytest_plugins = ["pytester"]

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "conformance" / "results.schema.json"

FAKE_TARGET = fake_target_source({"build": "7", "caps": [1, 2]}, no_profile=None)

# Every outcome, a multi-line message, an implementation-defined clause for the deviation pass.
MIXED_SUITE = '''
import pytest
from conformance.outcomes import unsupported


@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")


@pytest.mark.clause("mfc.ttl-threshold")
@pytest.mark.parametrize("ttl", [1, 2])
def test_threshold(target, ttl):
    pass


@pytest.mark.clause("nocache.queue-depth")
def test_depth(target, profile):
    assert profile.nocache_queue_depth == 4, "queue depth\\nsecond line"


@pytest.mark.clause("vif.tunnel")
def test_listed(target):
    raise AssertionError("got ENOBUFS")


@pytest.mark.clause("vif.add")
def test_changed(target):
    raise AssertionError("got EPERM")


@pytest.mark.clause("vif.delete")
def test_fixed(target):
    pass


@pytest.mark.clause("bw.tmin")
def test_unsupported(target):
    unsupported("MRT_API_SUPPORT: ENOPROTOOPT")


@pytest.mark.clause("init.done")
def test_skip(target):
    pytest.skip("not root")


@pytest.mark.clause("init.enable")
def test_error(target, broken):
    pass


@pytest.mark.clause("init.pim")
@pytest.mark.xfail(reason="known", strict=True)
def test_xfail(target):
    assert False


@pytest.mark.clause("init.pim")
@pytest.mark.xfail(reason="known", strict=True)
def test_xpass(target):
    pass
'''

EXPECTATIONS = f'''format = "{FORMAT}"
[[expect]]
test = "fsuite/test_mixed.py::test_listed"
reason = "ENOBUFS"
[[expect]]
test = "fsuite/test_mixed.py::test_changed"
reason = "EINVAL"
[[expect]]
test = "fsuite/test_mixed.py::test_fixed"
reason_regex = "E[A-Z]+"
bug = "https://example.invalid/1"
[[expect]]
clause = "register.fragment"
reason = "never run"
'''


@pytest.fixture(scope="module")
def validator() -> object:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def assert_valid(validator: object, path: Path) -> dict:
    document = json.loads(path.read_text())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))  # type: ignore[attr-defined]
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    return document


def test_the_schema_rejects_what_the_contract_forbids(validator: object) -> None:
    document = {
        "schema": "mroute-conformance/results/1", "suite": {"version": "0", "fixtures_sha256": None},
        "target": {"name": "t", "profile": None, "details": {}}, "started": "2026-01-01T00:00:00Z",
        "finished": "2026-01-01T00:00:01Z", "summary": dict.fromkeys(
            ("pass", "fail", "unsupported", "expected-fail", "unexpected-pass", "skip", "error"), 0),
        "tests": [], "clauses": {},
    }
    assert validator.is_valid(document)  # type: ignore[attr-defined]
    for bad in (
        {**document, "tests": [{"id": "x", "clauses": [], "outcome": "passed", "message": "", "duration_s": 0}]},
        {**document, "tests": [{"id": "x", "clauses": [], "outcome": "pass", "message": "a\nb", "duration_s": 0}]},
        {**document, "clauses": {"vif.add": "untested", "Bad ID": "pass"}},
        {**document, "started": "2026-01-01 00:00:00"},
        {**document, "surprise": 1},
        {**document, "tests": [{"id": "x", "clauses": [], "outcome": "fail", "message": "", "duration_s": 0,
                                "evidence": ["a\nb"]}]},
        {**document, "invocation": {"command": "x", "cwd": "/", "host": {}}},
    ):
        assert not validator.is_valid(bad)  # type: ignore[attr-defined]


def test_a_real_reference_run_with_its_deviation_passes_validates(validator: object, tmp_path: Path) -> None:
    argv = ["run", f"--report-dir={tmp_path}", "--deviations", "-n", "2", "-k", "vif_threshold or not_installed"]
    assert main(argv) == 0
    doc = assert_valid(validator, tmp_path / "results.json")
    assert set(doc["clauses"]) == set(load_catalog()) and "deviations" in doc
    for path in (tmp_path / "deviations").glob("*.json"):
        assert assert_valid(validator, path)["checked_profile"] == path.stem
    assert_allure_matches(tmp_path / "allure-results", doc)


def assert_allure_matches(allure_dir: Path, doc: dict) -> None:
    """The run's Allure results label each test with its clauses, their groups and spec links."""
    pytest.importorskip("allure_pytest")
    catalog = load_catalog()
    by_name = {t["id"].split("::")[-1]: t for t in doc["tests"]}
    results = [json.loads(p.read_text()) for p in allure_dir.glob("*-result.json")]
    assert sorted(r["name"] for r in results) == sorted(by_name)
    for result in results:
        clauses = by_name[result["name"]]["clauses"]
        labels = {(label["name"], label["value"]) for label in result["labels"]}
        assert {("clause", c) for c in clauses} | {("feature", catalog[c].group) for c in clauses} <= labels
        assert {("story", c) for c in clauses} <= labels  # Allure's HTML groups by feature, then story
        assert {link["name"] for link in result["links"] if link["type"] == "spec"} == {
            f"{c}: {catalog[c].spec_ref}" for c in clauses
        }


def test_fake_runs_with_every_outcome_expectations_and_deviations_validate(
    validator: object, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(faketarget=FAKE_TARGET)
    (pytester.path / "fsuite").mkdir()
    (pytester.path / "fsuite" / "test_mixed.py").write_text(MIXED_SUITE)
    (pytester.path / "fsuite" / "test_broken.py").write_text("import nosuchmodule_xyz\n")
    (pytester.path / "fake.toml").write_text(EXPECTATIONS)
    base = ["run", "--target=faketarget:FakeTarget", "--suite=fsuite", "--report-dir=out"]

    assert main([*base, "--profile=documented", "--expectations=fake.toml", "--deviations", "--", "--continue-on-collection-errors"]) == 1
    doc = assert_valid(validator, pytester.path / "out" / "results.json")
    assert {o for o, n in doc["summary"].items() if n} == {
        "pass", "fail", "unsupported", "expected-fail", "unexpected-pass", "skip", "error"
    }
    assert {a["result"] for a in doc["expectations"]["applied"]} == {"expected-fail", "mismatch", "unexpected-pass"}
    assert doc["expectations"]["unused"] == [{"clause": "register.fragment", "outcome": "fail", "reason": "never run"}]
    assert doc["deviations"]["clauses"]["nocache.queue-depth"]["matches"] == ["documented", "linux"]
    assert doc["invocation"]["command"] == "mroute-conformance " + " ".join(
        [*base, "--profile=documented", "--expectations=fake.toml", "--deviations", "--", "--continue-on-collection-errors"])
    assert set(doc["invocation"]["host"]) == {"hostname", "os", "kernel", "machine", "python"}
    by_name = {t["id"].split("::")[-1]: t for t in doc["tests"]}
    assert by_name["test_changed"]["evidence"] == ["AssertionError: got EPERM"]  # the mismatch's own failure
    assert by_name["test_listed"]["evidence"] == ["AssertionError: got ENOBUFS"]  # expected-fail keeps it too
    assert "evidence" not in by_name["test_threshold[1]"] and "evidence" not in by_name["test_unsupported"]
    for path in (pytester.path / "out" / "deviations").glob("*.json"):
        assert_valid(validator, path)

    assert main(base) == 1  # no profile: the target declares none, and no expectations
    doc = assert_valid(validator, pytester.path / "out" / "results.json")
    assert doc["target"]["profile"] is None and "expectations" not in doc
