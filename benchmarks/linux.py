"""Benchmarks of the Linux target: topology set-up, per-test reset, lock-step round trips."""

from __future__ import annotations

import statistics
import time

from conformance.harness import Harness
from reference_impl.profiles import LINUX


def target_costs(round_trips: int = 50) -> dict:
    """Set-up, reset and send-and-collect costs of the real-kernel target (needs root)."""
    from conformance.targets.linux import LinuxTarget

    t0 = time.perf_counter()
    target = LinuxTarget()
    setup = time.perf_counter() - t0
    try:
        resets = []
        for _ in range(20):
            t0 = time.perf_counter()
            target.reset()
            resets.append(time.perf_counter() - t0)
        h = Harness(target)
        r = h.router(4, vifs=(0, 1))
        src, grp = h.src(4, 0), h.group(4, 1)
        r.add_mfc(src, grp, parent=0, ttls={1: 1})
        pkt = h.packet(4, src, grp, ttl=8)
        t0 = time.perf_counter()
        got = 0
        for _ in range(round_trips):
            h.send(0, pkt)
            got += len(h.frames(1))
        rtt = (time.perf_counter() - t0) / round_trips
    finally:
        target.shutdown()
    return {"profile": LINUX.name, "setup_s": setup, "reset_p50_ms": statistics.median(resets) * 1000,
            "reset_max_ms": max(resets) * 1000, "send_collect_round_trip_ms": rtt * 1000,
            "round_trips": round_trips, "frames_seen": got}
