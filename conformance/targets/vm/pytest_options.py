"""pytest options of the linux-vm target: ``--mroute-kernel`` and ``--mroute-vm-accel``.

They set MROUTE_VM_KERNEL / MROUTE_VM_ACCEL in the process (and so in xdist workers, which get
the same options), where ``LinuxVmTarget`` reads them. Registered by conformance.plugin's
``pytest_addoption``; ``-p conformance.targets.vm.pytest_options`` works too.
"""

from __future__ import annotations

import os

import pytest

from conformance.targets.vm.kernels import KERNEL_ENV, SPEC_HELP, KernelError, check_spec
from conformance.targets.vm.qemu import ACCEL_ENV, ACCELS


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the options to the ``mroute`` group."""
    add_options(parser)


def add_options(parser: pytest.Parser) -> None:
    """``--mroute-kernel SPEC`` and ``--mroute-vm-accel {auto,kvm,tcg}`` (for --mroute-target=linux-vm)."""
    group = parser.getgroup("mroute", "multicast routing conformance")
    group.addoption("--mroute-kernel", default=None, metavar="SPEC",
                    help=f"kernel the linux-vm target boots: {SPEC_HELP} (default: $MROUTE_VM_KERNEL or debian:6.12)")
    group.addoption("--mroute-vm-accel", default=None, choices=ACCELS,
                    help="qemu accelerator of the linux-vm target (default: $MROUTE_VM_ACCEL or auto)")


def pytest_configure(config: pytest.Config) -> None:
    """Check the kernel spec (a usage error, one line) and export both options to the environment."""
    apply(config)


def apply(config: pytest.Config) -> None:
    """What ``pytest_configure`` does; callable from another plugin that registered the options.

    For ``--mroute-target=linux-vm`` the settings that come from the environment are checked too,
    so a bad one is a usage error naming the variable, not an unavailable target.
    """
    kernel = config.getoption("mroute_kernel", None)
    accel = config.getoption("mroute_vm_accel", None)
    if kernel:
        _check_kernel(kernel, "--mroute-kernel")
        os.environ[KERNEL_ENV] = kernel
    if accel:
        os.environ[ACCEL_ENV] = accel
    if config.getoption("mroute_target", None) != "linux-vm":
        return
    if not kernel and os.environ.get(KERNEL_ENV):
        _check_kernel(os.environ[KERNEL_ENV], KERNEL_ENV)
    if os.environ.get(ACCEL_ENV, "auto") not in ACCELS:
        raise pytest.UsageError(f"{ACCEL_ENV}={os.environ[ACCEL_ENV]!r}: valid values: {', '.join(ACCELS)}")


def _check_kernel(spec: str, source: str) -> None:
    try:
        check_spec(spec)
    except KernelError as exc:
        raise pytest.UsageError(f"{source}: {exc}") from None
