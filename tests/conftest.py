"""Fixtures shared by the project's own tests.

Tests that need the host kernel's multicast routing (the linux target) take ``host_mroute``:
on a host without it they skip with the kernel's own reason (the MRT_INIT probe's errno), and on
a host with it they run unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from conformance.targets.base import TargetUnavailable


@pytest.fixture(scope="session")
def host_root() -> None:
    """Skip unless this is a Linux host and we are root (what creating namespaces needs)."""
    if not hasattr(os, "geteuid") or os.uname().sysname != "Linux" or os.geteuid() != 0:
        pytest.skip("needs root on a Linux host")


@pytest.fixture(scope="session")
def host_mroute() -> None:
    """Skip, naming why, unless this host can run the linux target (root, ipmr in the kernel, ip)."""
    from conformance.targets.linux.target import check_available

    try:
        check_available()
    except TargetUnavailable as e:
        pytest.skip(f"linux target unavailable: {e.reason}")


@pytest.fixture(scope="module")
def linux_target(host_mroute: None) -> Iterator[object]:
    """One LinuxTarget for the module (tests reset it); skips where the host cannot run it."""
    from conformance.targets.linux import LinuxTarget

    target = LinuxTarget()
    yield target
    target.shutdown()
