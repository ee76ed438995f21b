"""Source text of the fake targets that the CLI and plugin tests write into pytester directories."""

from __future__ import annotations


def fake_target_source(details: dict | None = None, no_profile: str | None = "none") -> str:
    """A module defining ``FakeTarget``: a target that moves no bytes, for runs of fake suites."""
    return f'''
from conformance.targets.base import TargetInfo


class FakeTarget:
    name = "fake"

    def __init__(self, profile):
        self.profile = profile

    def reset(self):
        pass

    def shutdown(self):
        pass

    def info(self):
        return TargetInfo("fake", self.profile.name if self.profile else {no_profile!r}, {details or {}!r})
'''
