"""Fixtures shared by the project's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.targets.base import TargetUnavailable


@pytest.fixture(scope="module")
def linux_target() -> Iterator[object]:
    """One LinuxTarget for the module (tests reset it), or a skip naming why this host cannot run it."""
    from conformance.targets.linux import LinuxTarget

    try:
        target = LinuxTarget()
    except TargetUnavailable as e:
        pytest.skip(f"linux target unavailable: {e.reason}")
    yield target
    target.shutdown()
