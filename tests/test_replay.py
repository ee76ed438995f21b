"""Replay of the committed fixtures: every one on the reference (under its own profile), and every
linux-profile one on the real kernel (the linux target), unless listed with a reason in
``fixtures/linux-replay-expectations.toml``. The replay engine is the ``replay`` command's, not
the pytest suite's: this proves the fixtures alone carry the scenarios.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from conformance.fixtures.load import load
from conformance.fixtures.replay import FAIL, PASS, UNJUDGED, replay
from conformance.targets.reference import ReferenceTarget
from reference_impl.profiles import PROFILES as KNOWN_PROFILES
from reference_impl.profiles import get_profile

ROOT = Path(__file__).resolve().parent.parent
PROFILES = tuple(KNOWN_PROFILES)
EXPECTATIONS = ROOT / "fixtures" / "linux-replay-expectations.toml"
# Clock steps cost real time on the kernel: the linux fixtures' clocks together stay under this
# (Linux keeps an unresolved entry 10 s, so each nocache.expiry scenario waits 10-21 s).
LINUX_CLOCK_BUDGET_S = 70.0


def fixtures_of(profile: str) -> list[Path]:
    """The store files holding a fixture for ``profile``."""
    out = []
    for path in sorted((ROOT / "fixtures").rglob("*.json")):
        if profile in json.loads(path.read_text(encoding="utf-8"))["profiles"]:
            out.append(path)
    return out


def expected_failures() -> dict[str, str]:
    """Fixture (relative to fixtures/) -> reason, from the expectations list."""
    doc = tomllib.loads(EXPECTATIONS.read_text(encoding="utf-8"))
    entries = doc.get("expected", [])
    return {e["fixture"]: e["reason"] for e in entries}


def describe(outcome) -> str:
    lines = [str(d) for d in outcome.differences[:5]]
    return "\n".join([outcome.lag_note, *lines] if outcome.lag_note else lines)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_fixture_replays_on_the_reference_under_its_profile(profile):
    paths = fixtures_of(profile)
    assert paths, f"no fixtures for profile {profile}"
    target = ReferenceTarget(get_profile(profile))
    failed = []
    for path in paths:
        outcome = replay(load(path, profile), target)
        if outcome.status != PASS:
            failed.append(f"{path.relative_to(ROOT)}:\n{describe(outcome)}")
    assert not failed, f"{len(failed)} of {len(paths)} fixtures differ on the reference:\n" + "\n".join(failed[:5])


def test_expectations_name_existing_fixtures_with_reasons():
    for fixture, reason in expected_failures().items():
        assert ROOT / "fixtures" / fixture in fixtures_of("linux"), f"{EXPECTATIONS.name}: no linux fixture {fixture}"
        assert reason.strip(), f"{EXPECTATIONS.name}: {fixture} has no reason"


def test_linux_fixtures_fit_the_real_clock_budget():
    total = 0.0
    for path in fixtures_of("linux"):
        clocks = [s["at"] for s in load(path, "linux").steps if s["op"] == "advance"]
        total += max(clocks, default=0.0)
    assert total <= LINUX_CLOCK_BUDGET_S, (
        f"the linux fixtures' clock steps add up to {total:.1f} s of real waiting on the kernel, over the "
        f"{LINUX_CLOCK_BUDGET_S:.0f} s budget of this test")


def _linux_params() -> list:
    expected = expected_failures()
    params = []
    for path in fixtures_of("linux"):
        rel = path.relative_to(ROOT / "fixtures").as_posix()
        marks = [pytest.mark.xfail(reason=expected[rel], strict=True)] if rel in expected else []
        params.append(pytest.param(path, id=rel, marks=marks))
    return params


@pytest.mark.parametrize("path", _linux_params())
def test_linux_fixture_replays_on_the_real_kernel(linux_target, path):
    outcome = replay(load(path, "linux"), linux_target)
    if outcome.status == UNJUDGED:
        pytest.skip(f"cannot judge on this host: {outcome.lag_note}")
    assert outcome.status != FAIL, f"differs on the kernel:\n{describe(outcome)}"
