"""Pytest plugin for mutation runs: every suite test runs once per profile in MUTATION_PROFILES.

Loaded only by ``scripts/mutation`` (``-p mutation_profiles``). A mutant of the model is killed
when a suite test fails under any of the profiles, so a fault that only one implementation's facts
expose still counts; test selection per mutant stays per test item.
"""

from __future__ import annotations

import os
import resource

import pytest

from reference_impl.profiles import PROFILES

DEFAULT_PROFILES = ("documented", "freebsd", "freebsd-legacy", "netbsd", "linux")
MEMORY_LIMIT = 1_500_000_000  # bytes: a mutant that grows a list forever fails fast instead of swapping


def pytest_configure(config: pytest.Config) -> None:
    """Cap this process's address space, so a runaway mutant dies of MemoryError (a kill)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft > MEMORY_LIMIT:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, hard))


def profiles_under_test() -> list[str]:
    """The profile names from env MUTATION_PROFILES (comma-separated), else every builtin profile."""
    names = [n for n in os.environ.get("MUTATION_PROFILES", "").split(",") if n] or list(DEFAULT_PROFILES)
    unknown = [n for n in names if n not in PROFILES]
    if unknown:
        raise pytest.UsageError(f"MUTATION_PROFILES: unknown profile(s) {', '.join(unknown)}")
    return names


@pytest.fixture(autouse=True, params=profiles_under_test())
def mutation_profile(request: pytest.FixtureRequest, mroute_target: object) -> str:
    """Switch the session's reference target to this item's profile; autouse, so before ``target``."""
    name: str = request.param
    mroute_target.profile = PROFILES[name]  # type: ignore[attr-defined]
    mroute_target.reset()  # type: ignore[attr-defined]
    return name
