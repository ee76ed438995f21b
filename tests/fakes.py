"""Source text of the fake targets that the CLI and plugin tests write into pytester directories."""

from __future__ import annotations

# The byte-moving half of the Target contract, which the fake suites never call.
NO_BYTES = """
class NoBytes(Target):
    def open_socket(self, family, type_, proto):
        raise NotImplementedError

    def setsockopt(self, sock, level, optname, value):
        raise NotImplementedError

    def getsockopt(self, sock, level, optname, buflen):
        raise NotImplementedError

    def ioctl(self, sock, request, arg):
        raise NotImplementedError

    def close(self, sock):
        raise NotImplementedError

    def recv_all(self, sock):
        raise NotImplementedError

    def send(self, port, frame):
        raise NotImplementedError

    def collect(self):
        raise NotImplementedError

    def advance(self, seconds):
        raise NotImplementedError
"""


def fake_target_source(details: dict | None = None, no_profile: str | None = "none") -> str:
    """A module defining ``FakeTarget``: a target that moves no bytes, for runs of fake suites."""
    return f'''
from conformance.targets.base import Target, TargetInfo
{NO_BYTES}

class FakeTarget(NoBytes):
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
