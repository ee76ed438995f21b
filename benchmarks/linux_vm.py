"""Measure the linux-vm target: boot time, agent round trip per call, reset and shutdown cost.

``python3 -m benchmarks.linux_vm [--kernel SPEC] [--accel tcg] [-n N]`` prints JSON. Each figure
is wall time on this host, so it depends on load: run it on a quiet machine to compare kernels.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import time

from reference_impl.profiles import LINUX


def _pct(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    return {q: round(v[min(len(v) - 1, int(f * len(v)))] * 1e3, 3) for q, f in
            (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99), ("max_ms", 1.0))}


def measure(kernel: str | None, accel: str | None, n: int) -> dict:
    """Boot once, time ``n`` requests of each kind, reset and shut down."""
    from conformance.targets.vm.target import LinuxVmTarget

    started = time.monotonic()
    target = LinuxVmTarget(kernel, accel)
    res: dict = {"target_build_s": round(time.monotonic() - started, 3), "boot_s": round(target.boot_s, 3)}
    try:
        info = target.info().details
        res.update(kernel=info["kernel"], accel=info["accel"], guest_lab_setup_s=info.get("setup_s"))
        sock = target.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
        target.setsockopt(sock, socket.IPPROTO_IP, LINUX.options4["MRT_INIT"], struct.pack("=i", 1))
        calls = {
            "getsockopt": lambda: target.getsockopt(sock, socket.IPPROTO_IP, LINUX.options4["MRT_ASSERT"], 4),
            "collect_idle": target.collect,
        }
        for name, call in calls.items():
            times = []
            for _ in range(n):
                a = time.monotonic()
                call()
                times.append(time.monotonic() - a)
            res[f"rtt_{name}"] = _pct(times)
        resets = []
        for _ in range(max(1, n // 20)):
            a = time.monotonic()
            target.reset()
            resets.append(time.monotonic() - a)
        res["reset"] = _pct(resets)
    finally:
        a = time.monotonic()
        target.shutdown()
        res["shutdown_s"] = round(time.monotonic() - a, 3)
    return res


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", default=None, help="kernel spec (default: $MROUTE_VM_KERNEL or debian:6.12)")
    ap.add_argument("--accel", default=None, choices=("auto", "kvm", "tcg"))
    ap.add_argument("-n", type=int, default=500, help="requests per kind")
    args = ap.parse_args()
    print(json.dumps(measure(args.kernel, args.accel, args.n), indent=1))


if __name__ == "__main__":
    main()
