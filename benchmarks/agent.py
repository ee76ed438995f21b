"""Benchmarks of the agent protocol: cost per call, and the whole suite in process vs through stdio.

``python3 -m benchmarks.agent [--suite]``. ``call_costs`` takes any ``AgentTarget`` factory, so
another transport (a VM's virtio-serial port) is measured the same way as the stdio pipe.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from conformance.targets.base import Target
from conformance.targets.reference import ReferenceTarget

STDIO_SPEC = "stdio:python3 -m conformance.agent --backend reference"


def _per_call_us(fn: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples) * 1e6


def call_costs(target: Target, n: int = 500) -> dict[str, float]:
    """Median microseconds per ``collect``, ``reset`` and a 4-byte ``getsockopt`` on ``target``."""
    from reference_impl.profiles import AF_INET, IPPROTO_IGMP, SOCK_RAW

    sock = target.open_socket(AF_INET, SOCK_RAW, IPPROTO_IGMP)
    version = target.profile.options4["MRT_VERSION"]

    def getsockopt() -> object:
        try:
            return target.getsockopt(sock, 0, version, 4)
        except OSError:
            return None

    costs = {"collect_us": _per_call_us(target.collect, n), "getsockopt_us": _per_call_us(getsockopt, n)}
    costs["reset_us"] = _per_call_us(target.reset, n // 5)
    return costs


def stdio_vs_in_process(n: int = 500) -> dict[str, dict[str, float]]:
    """``call_costs`` for the in-process reference and for the same model behind a stdio agent."""
    from conformance.agent.client import AgentTarget
    from conformance.agent.transport import spawn_stdio

    connection, _ = spawn_stdio([sys.executable, "-m", "conformance.agent", "--backend", "reference"])
    agent = AgentTarget(connection)
    try:
        return {"in_process": call_costs(ReferenceTarget(), n), "stdio_agent": call_costs(agent, n)}
    finally:
        agent.shutdown()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def suite_wall_times(workers: str | None = None) -> dict[str, float]:
    """Wall and CPU seconds (all processes of the run) of ``run`` in process and through the stdio agent.

    CPU time is the steadier figure on a shared machine; wall time is what a user waits.
    """
    out = {}
    for label, spec in (("in_process", "reference"), ("stdio_agent", STDIO_SPEC)):
        with tempfile.TemporaryDirectory(prefix="mroute-bench-") as tmp:
            cmd = [sys.executable, "-m", "conformance.cli", "run", "--target", spec, f"--report-dir={tmp}"]
            if workers:
                cmd += ["-n", workers]
            t0, c0 = time.perf_counter(), _children_cpu()
            subprocess.run(cmd, capture_output=True, check=True, env=os.environ.copy())
            out[f"{label}_s"] = time.perf_counter() - t0
            out[f"{label}_cpu_s"] = _children_cpu() - c0
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the per-call costs, and with ``--suite`` the whole-suite wall times and their ratio."""
    parser = argparse.ArgumentParser(prog="python3 -m benchmarks.agent", description=__doc__)
    parser.add_argument("--suite", action="store_true", help="also time the whole suite both ways (~15 s)")
    parser.add_argument("-n", dest="workers", default=None, help="xdist workers for --suite")
    args = parser.parse_args(argv)
    for label, costs in stdio_vs_in_process().items():
        print(f"{label:>12}: " + ", ".join(f"{k} {v:8.1f}" for k, v in costs.items()))
    if args.suite:
        walls = suite_wall_times(args.workers)
        ratio = walls["stdio_agent_s"] / walls["in_process_s"]
        cpu = walls["stdio_agent_cpu_s"] / walls["in_process_cpu_s"]
        print(f"suite wall: in process {walls['in_process_s']:.1f} s, stdio agent {walls['stdio_agent_s']:.1f} s, "
              f"ratio {ratio:.2f} (issue 15 goal < 2)")
        print(f"suite cpu:  in process {walls['in_process_cpu_s']:.1f} s, stdio agent "
              f"{walls['stdio_agent_cpu_s']:.1f} s, ratio {cpu:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
