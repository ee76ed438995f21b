"""The deviation register: profile variants, the deviation pass, the register and profile-match."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest
from fakes import fake_target_source

from conformance.cli import main
from conformance.report.deviations import (
    CLAUSE_FACTS,
    build_register,
    declared,
    deviation_clauses,
    ranking,
    unadjusted,
)
from conformance.report.variants import ABI_FIELDS, ProfileView, fact_fields, facts_of, variant
from mroute_spec.catalog import load_catalog
from reference_impl.profiles import DOCUMENTED, FREEBSD, LINUX, PROFILES, Profile

pytest_plugins = ["pytester"]

# Real suite tests of four implementation-defined/conflict clauses (vif.threshold,
# mfc.delete-absent, nocache.queue-depth, init.disable-value) and of nothing slow.
REFERENCE_SUBSET = "vif_threshold or not_installed or queue_depth or init_with_0 or (a_pending_entry and not expires_too)"
# On the kernel: mfc.delete-absent, vif.rate-limit and vif.tunnel (each well under a second).
LINUX_SUBSET = "not_installed or rate_limit or tunnel"


# -- variants ---------------------------------------------------------------------------------


def test_every_abi_field_is_a_profile_field_and_the_rest_are_facts() -> None:
    names = {f.name for f in fields(Profile)}
    assert names >= ABI_FIELDS
    assert set(fact_fields()) == names - ABI_FIELDS
    assert {"errnos", "nocache_queue_depth", "border_bit_from", "init_value"} <= set(fact_fields())


def test_a_variant_keeps_the_targets_abi_and_takes_the_other_profiles_facts() -> None:
    freebsd_on_linux = variant(LINUX, FREEBSD)
    assert freebsd_on_linux.name == "freebsd"
    for name in ABI_FIELDS - {"name", "description", "sources"}:
        assert getattr(freebsd_on_linux, name) == getattr(LINUX, name), name
    # each value keeps the citation of the profile it came from
    assert freebsd_on_linux.sources["upcall6_length"] == LINUX.sources["upcall6_length"]
    assert freebsd_on_linux.sources["nocache_queue_depth"] == FREEBSD.sources["nocache_queue_depth"]
    assert freebsd_on_linux.sources["errnos.vif.in_use"] == FREEBSD.sources["errnos.vif.in_use"]
    assert facts_of(freebsd_on_linux) == facts_of(FREEBSD)
    assert freebsd_on_linux.options4["MRT_INIT"] == 200 and freebsd_on_linux.nocache_queue_depth == 3
    assert variant(None, FREEBSD) is FREEBSD


def test_a_profile_view_shows_the_tests_another_profile_and_leaves_the_target_alone() -> None:
    class Target:
        profile = DOCUMENTED
        virtual_time = True

        def reset(self) -> str:
            return "reset"

    inner = Target()
    view = ProfileView(inner, variant(DOCUMENTED, LINUX))
    assert view.profile.nocache_expiry == LINUX.nocache_expiry and inner.profile is DOCUMENTED
    assert view.reset() == "reset" and view.virtual_time is True


# -- the register -----------------------------------------------------------------------------


def test_every_implementation_defined_or_conflict_clause_names_its_facts() -> None:
    assert set(CLAUSE_FACTS) == set(deviation_clauses())
    errno_paths = {path for p in PROFILES.values() for path in p.errnos}
    for cid, facts in CLAUSE_FACTS.items():
        for fact in facts:
            if fact.startswith("errnos."):
                assert fact.removeprefix("errnos.") in errno_paths, (cid, fact)
            else:
                assert fact in fact_fields(), (cid, fact)


def test_declared_facts_read_like_the_profiles() -> None:
    assert declared(LINUX, "mfc.delete-absent") == {"mfc.del_absent": "ENOENT", "mfc6.del_absent": "ENOENT",
                                                    "mfc4_delete_pending": False}
    assert declared(FREEBSD, "nocache.queue-depth") == {"nocache_queue_depth": 3, "nocache6_queue_depth": 5}
    assert declared(LINUX, "vif.rate-limit") == {"vif_rate_limit": "ignore", "vif.rate_limit": "succeeds"}
    assert declared(DOCUMENTED, "nocache.expiry") == {"nocache_expiry": [1.25, 1.5]}


def run_doc(outcomes_by_clause: dict[str, str], message: str = "why") -> dict:
    tests = [
        {"id": f"t::{cid}", "clauses": [cid], "outcome": o, "message": "" if o == "pass" else message, "duration_s": 0}
        for cid, o in outcomes_by_clause.items()
    ]
    return {"tests": tests, "clauses": dict(outcomes_by_clause)}


def test_the_register_says_which_profiles_a_clause_matched_and_ranks_them() -> None:
    per_profile = {
        "documented": run_doc({"vif.tunnel": "fail", "mfc.delete-absent": "fail", "bw.batch-max": "unsupported"}),
        "freebsd": run_doc({"vif.tunnel": "fail", "mfc.delete-absent": "error"}),
        "linux": run_doc({"vif.tunnel": "pass", "mfc.delete-absent": "pass", "bw.batch-max": "unsupported"}),
    }
    register = build_register(per_profile, "linux", "linux")
    tunnel = register["clauses"]["vif.tunnel"]
    assert tunnel["matches"] == ["linux"] and tunnel["outcomes"]["documented"] == "fail"
    assert tunnel["messages"] == {"documented": "why", "freebsd": "why"}
    assert tunnel["declared"]["linux"] == {"vif.tunnel": "ENOBUFS"}
    assert register["clauses"]["init.pim"]["outcomes"] == dict.fromkeys(per_profile, "untested")
    assert [(r["profile"], r["agree"], r["disagree"]) for r in register["ranking"]] == [
        ("linux", 2, 0), ("documented", 0, 2), ("freebsd", 0, 2),
    ]
    assert register["ranking"][1]["differs"] == ["vif.tunnel", "mfc.delete-absent"]


def test_ties_rank_by_fewer_failures_then_catalog_order() -> None:
    clauses = {
        "a.x": {"outcomes": {"documented": "pass", "freebsd": "pass", "linux": "pass"}},
        "a.y": {"outcomes": {"documented": "fail", "freebsd": "unsupported", "linux": "fail"}},
    }
    assert [r["profile"] for r in ranking(clauses, ["documented", "freebsd", "linux"])] == ["freebsd", "documented", "linux"]


def test_the_main_run_stands_in_with_its_expectations_undone() -> None:
    doc = run_doc({"vif.tunnel": "expected-fail", "mfc.delete-absent": "unexpected-pass", "vif.rate-limit": "fail"})
    doc["expectations"] = {"applied": [
        {"id": "t::vif.tunnel", "entry": {"test": "t::vif.tunnel", "outcome": "fail", "reason": "x"},
         "result": "expected-fail", "message": "x happened"},
        {"id": "t::mfc.delete-absent", "entry": {"clause": "mfc.delete-absent", "outcome": "fail", "reason": "x"},
         "result": "unexpected-pass", "message": ""},
        {"id": "t::vif.rate-limit", "entry": {"test": "t::vif.rate-limit", "outcome": "fail", "reason": "x"},
         "result": "mismatch", "message": "y happened"},
    ]}
    raw = unadjusted(doc)
    assert [(t["outcome"], t["message"]) for t in raw["tests"]] == [
        ("fail", "x happened"), ("pass", ""), ("fail", "y happened"),
    ]
    assert raw["clauses"]["vif.tunnel"] == "fail" and raw["clauses"]["init.pim"] == "untested"


# -- the deviation pass in pytest (fake target) ------------------------------------------------

FAKE_TARGET = fake_target_source()

FAKE_SUITE = """
import json
import pytest


@pytest.mark.clause("nocache.queue-depth")
def test_depth(target, profile):
    print("SEEN", json.dumps([profile.name, profile.abi_name, profile.nocache_queue_depth, target.profile.name]))
    assert profile.nocache_queue_depth == 4, f"queue depth {profile.nocache_queue_depth}"


@pytest.mark.clause("mfc.add-forward")
def test_must(target):
    pass
"""


def test_the_deviation_pass_runs_only_deviation_tests_under_the_variant(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(faketarget=FAKE_TARGET, test_fake=FAKE_SUITE)
    pytester.syspathinsert()
    out = pytester.path / "freebsd.json"
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "-p", "no:benchmark", "-s", "--mroute-target=faketarget:FakeTarget", "--mroute-profile=linux",
        "--mroute-deviation-profile=freebsd", f"--mroute-results={out}",
    )
    result.assert_outcomes(failed=1, deselected=1)
    assert 'SEEN ["freebsd", "linux-amd64", 3, "freebsd"]' in result.stdout.str()
    doc = json.loads(out.read_text())
    assert doc["checked_profile"] == "freebsd" and doc["target"]["profile"] == "linux"
    assert [t["id"].split("::")[1] for t in doc["tests"]] == ["test_depth"] and "expectations" not in doc


def test_an_unknown_deviation_profile_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(faketarget=FAKE_TARGET, test_fake=FAKE_SUITE)
    pytester.syspathinsert()
    result = pytester.runpytest(
        "-p", "no:benchmark", "--mroute-target=faketarget:FakeTarget", "--mroute-deviation-profile=bsd"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*unknown deviation profile 'bsd'; valid profiles: {', '.join(PROFILES)}*"])


# -- real runs: reference and kernel ----------------------------------------------------------


def deviation_run(report_dir: Path, *args: str) -> dict:
    assert main(["run", f"--report-dir={report_dir}", "--deviations", *args]) == 0
    return json.loads((report_dir / "results.json").read_text())


def test_the_reference_run_matches_documented_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = deviation_run(tmp_path, "-k", REFERENCE_SUBSET)
    register = doc["deviations"]
    assert register["from_main_run"] == "documented" and register["base_profile"] == "documented"
    assert sorted(p.name for p in (tmp_path / "deviations").iterdir()) == sorted(
        f"{name}.json" for name in PROFILES if name != "documented")
    assert register["clauses"]["mfc.delete-absent"]["matches"] == ["documented", "freebsd"]
    assert register["clauses"]["nocache.queue-depth"]["matches"] == ["documented"]
    assert [r["profile"] for r in register["ranking"]] == ["documented", "freebsd", "freebsd-legacy", "netbsd",
                                                               "linux"]
    assert register["ranking"][2]["differs"][-1] == "mfc.delete-absent"  # LEGACY: pending entries do not match
    capsys.readouterr()
    assert main(["profile-match", str(tmp_path / "results.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "reference (declared profile documented): 18 implementation-defined/conflict clauses, 4 observed"
    assert lines[1] == "1. documented      agrees on 4, differs on 0"
    assert lines[2].startswith("2. freebsd         agrees on 1, differs on 3: init.disable-value, vif.threshold")


def test_profile_match_needs_a_register(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", f"--report-dir={tmp_path}", "-k", "not_installed"]) == 0
    capsys.readouterr()
    assert main(["profile-match", str(tmp_path / "results.json")]) == 1
    assert "no deviation register; run 'mroute-conformance run --deviations'" in capsys.readouterr().err
    assert main(["profile-match", str(tmp_path / "missing.json")]) == 2


def test_the_linux_run_matches_linux_first(tmp_path: Path, host_mroute: None) -> None:
    doc = deviation_run(tmp_path, "--target=linux", "-k", LINUX_SUBSET)
    register = doc["deviations"]
    assert register["from_main_run"] == "linux"
    for cid in ("mfc.delete-absent", "vif.rate-limit", "vif.tunnel"):
        assert register["clauses"][cid]["matches"] == ["linux"], cid
    top = register["ranking"][0]
    assert (top["profile"], top["agree"], top["disagree"]) == ("linux", 3, 0)
    assert doc["expectations"]["file"].endswith("expectations/shipped/linux.toml")  # the shipped file, by default
    assert load_catalog()["vif.tunnel"].requirement == "implementation-defined"
