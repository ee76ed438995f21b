"""Differential testing: the reference model (LINUX profile) against the real kernel, in lockstep.

Hypothesis draws random sequences of routing-API calls and packets (``conformance.differential``)
and applies each step to both the model and the machine's kernel; every errno, counter, frame
and upcall must agree. A disagreement is shrunk and reported as a ready-to-paste scenario.

The kernel half needs root and CONFIG_IP_MROUTE (it skips with the target's reason otherwise).
The self-check (a deliberately broken model must be caught) runs everywhere, model against model,
and also against the kernel when it is available. ``pytest -s`` prints the examples/s reached.
The VM half runs a few examples and the self-check against a Debian kernel under qemu (linux-vm,
MROUTE_VM_KERNEL, default debian:6.12), which CI always boots; the ``differential`` subcommand
runs the long version (500 examples per kernel, BENCHMARKS.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from broken_variants import TtlGe
from hypothesis import HealthCheck, Phase, settings

from conformance.differential import Disagreement
from conformance.differential.compare import diff, normalise
from conformance.differential.machine import collect, run
from conformance.differential.ops import packet
from conformance.harness.packets import frame_for
from conformance.harness.upcalls import decode_upcall
from conformance.targets.base import Target
from conformance.targets.linux import LinuxTarget
from conformance.targets.reference import ReferenceTarget
from mroute_spec.constants import IGMPMSG_NOCACHE, MRT6MSG_NOCACHE
from reference_impl import upcalls
from reference_impl.packets import parse_frame
from reference_impl.profiles import LINUX

EXAMPLES = 200
STEPS = 12
LOCKSTEP = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# the self-check: a fixed seed, so "hypothesis finds the bug" is deterministic
FIND = settings(LOCKSTEP, max_examples=300, derandomize=True, database=None)


class TtlGeModel(ReferenceTarget):
    """The model with a classic bug: forwards when TTL >= threshold instead of >."""

    name = "ttl-ge"
    router_class = TtlGe


@pytest.fixture(scope="module")
def kernel(linux_target: LinuxTarget) -> LinuxTarget:
    """The shared LinuxTarget, under the name these tests use."""
    return linux_target


def test_model_agrees_with_kernel(kernel: LinuxTarget, record_property) -> None:
    """Random operation sequences: the LINUX-profile model and the kernel agree on every step."""
    started = time.monotonic()
    stats = run(ReferenceTarget(LINUX), kernel, LOCKSTEP)
    took = time.monotonic() - started
    rate = (f"{stats.examples} examples ({stats.steps} steps) in {took:.1f} s: "
            f"{stats.examples / took:.1f} examples/s; longest example {stats.longest_s:.2f} s")
    record_property("differential", rate)
    print(rate)
    assert stats.examples >= EXAMPLES


def _scenario_namespace(scenario: str) -> dict:
    """Execute a rendered scenario up to (not including) its final ``run_both(scenario)`` line."""
    code = scenario.rstrip().removesuffix("run_both(scenario)")
    namespace: dict = {}
    exec(compile(code, "<scenario>", "exec"), namespace)
    return namespace


def test_broken_model_is_caught_against_the_model() -> None:
    """TtlGe against the correct model: found, shrunk, and printed as a scenario that reproduces it."""
    with pytest.raises(Disagreement) as info:
        run(TtlGeModel(LINUX), ReferenceTarget(LINUX), FIND)
    found = info.value
    assert any("frames" in p for p in found.problems), found
    assert len(found.ops) <= 8, f"not shrunk:\n{found.scenario}"
    ns = _scenario_namespace(found.scenario)
    got = ns["run_both"](ns["scenario"], model=TtlGeModel(LINUX), kernel=ReferenceTarget(LINUX))
    assert got["model"] != got["kernel"], found.scenario


def test_broken_model_is_caught_against_the_kernel(kernel: LinuxTarget) -> None:
    """The same broken model against the real kernel (hypothesis generates; step deletion shrinks)."""
    with pytest.raises(Disagreement) as info:
        run(TtlGeModel(LINUX), kernel, settings(FIND, phases=[Phase.generate]))
    found = info.value
    assert any("frames" in p for p in found.problems), found
    ns = _scenario_namespace(found.scenario)
    got = ns["run_both"](ns["scenario"], model=TtlGeModel(LINUX), kernel=kernel)
    assert got["model"] != got["kernel"], found.scenario


@pytest.mark.parametrize("version", [4, 6])
def test_undefined_upcall_bytes_are_never_compared_and_the_rest_always_is(version: int) -> None:
    """Bytes the profile leaves uninitialised (IPv4 igmphdr tail, IPv6 40..79) never differ; any
    other byte of an upcall does."""
    src, grp = ("198.18.0.10", "232.1.0.1") if version == 4 else ("2001:db8::10", "ff3e::1:1")
    pkt = parse_frame(frame_for(packet(version, src, grp, ttl=5), "02:00:00:00:01:01"))
    assert pkt is not None
    raw = (upcalls.igmpmsg_header(pkt, IGMPMSG_NOCACHE, 1, LINUX) if version == 4
           else upcalls.mrt6msg(pkt, MRT6MSG_NOCACHE, 1, LINUX))
    undefined = ([20 + o for o in LINUX.upcall4_trailer_undefined] if version == 4
                 else range(40, LINUX.upcall6_length))

    def seen(data: bytes):
        return normalise(({}, {version: [decode_upcall(version, data, LINUX)]}), None, (LINUX,))

    for i in range(len(raw)):
        poked = bytearray(raw)
        poked[i] ^= 0xFF
        problems = diff(seen(raw), seen(bytes(poked)))
        assert bool(problems) == (i not in undefined), (i, problems)


# -- against a Debian kernel under qemu (linux-vm) ------------------------------------------------
VM_KERNEL = os.environ.get("MROUTE_VM_KERNEL", "debian:6.12")
VM_EXAMPLES = 20  # ~10 s under TCG (2.4 examples/s, BENCHMARKS.md) after a ~20 s boot
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def vm_kernel() -> Iterator[object]:
    """One linux-vm target for the module; skips (fails under CI) where no VM can be booted."""
    from conformance.targets.base import TargetUnavailable
    from conformance.targets.vm import kernels, qemu

    if shutil.which(qemu.QEMU) is None:
        reason: str | None = f"{qemu.QEMU} not installed"
    else:
        try:
            from conformance.targets.vm.target import LinuxVmTarget

            kernels.ensure(VM_KERNEL, fetch=shutil.which("apt-get") is not None)
            target = LinuxVmTarget(VM_KERNEL, "tcg")
            reason = None
        except (TargetUnavailable, kernels.KernelError) as exc:
            reason = str(exc)
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must boot the linux-vm target: {reason}")
        pytest.skip(reason)
    yield target
    target.shutdown()


def test_model_agrees_with_a_vm_kernel(vm_kernel: Target, record_property) -> None:
    """A few random sequences against a real kernel's ipmr/ip6mr: no difference, nothing rejected as slow."""
    config = settings(LOCKSTEP, max_examples=VM_EXAMPLES, derandomize=True, database=None)
    started = time.monotonic()
    stats = collect(ReferenceTarget(LINUX), vm_kernel, config)
    took = time.monotonic() - started
    record_property("differential-vm", f"{stats.examples} examples in {took:.1f} s")
    assert not stats.found, "\n\n".join(d.scenario for d in stats.found[:3])
    assert stats.examples >= VM_EXAMPLES and stats.too_slow < stats.examples // 4, stats


def test_broken_model_is_caught_against_a_vm_kernel(vm_kernel: Target) -> None:
    """TtlGe against the VM's kernel: found, and its scenario reproduces it there."""
    with pytest.raises(Disagreement) as info:
        run(TtlGeModel(LINUX), vm_kernel, settings(FIND, phases=[Phase.generate]))
    found = info.value
    assert any("frames" in p for p in found.problems), found
    ns = _scenario_namespace(found.scenario)
    got = ns["run_both"](ns["scenario"], model=TtlGeModel(LINUX), kernel=vm_kernel)
    assert got["model"] != got["kernel"], found.scenario


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", "differential", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)


def test_differential_command_exit_codes(tmp_path: Path) -> None:
    """0 when the sides agree (the model against itself), 2 for bad input, 3 when the kernel cannot be had."""
    done = _cli("--target", "reference", "--examples", "20", "--seed", "3")
    assert done.returncode == 0, done.stderr
    assert "examples/s" in done.stdout and "no difference" in done.stdout and "seed 3" in done.stdout
    for bad in (["--examples", "0"], ["--target", "reference", "--kernel", "debian:6.12"], ["--seed", "x"]):
        done = _cli(*bad)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, (bad, done.stderr)
    missing = tmp_path / "no-such-bzImage"
    done = _cli("--target", "linux-vm", "--kernel", str(missing), "--examples", "1")
    assert done.returncode in (2, 3) and "Traceback" not in done.stderr, done.stderr
