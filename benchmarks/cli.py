"""``mroute-conformance bench``: print the performance figures the issues ask for.

The subcommand and its options are declared in ``conformance.cli``, which imports this module only
when ``bench`` runs.
"""

from __future__ import annotations

import argparse
import os
import platform

from benchmarks import linux, model

GOALS = {
    "pps": 100_000,
    "scale_ratio": 1.5,
    "table_bytes_1e6": 1 << 30,
    "quiet_advance_ms": 5.0,
}


def cmd_bench(args: argparse.Namespace, extra: list[str]) -> int:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}")
    sizes = (100, 10_000) if args.quick else (100, 10_000, 1_000_000)
    rows = [model.forwarding(n) for n in sizes]
    print("model forwarding, one (S,G) with 4 outgoing vifs:")
    for r in rows:
        mib = r["table_rss_bytes"] / 2**20
        print(f"  {r['entries']:>9,} entries: {r['pps']:>10,.0f} packets/s  table {mib:8.1f} MiB  "
              f"(filled in {r['fill_s']:.1f} s)")
    ok = all(r["pps"] >= GOALS["pps"] for r in rows)
    ratio = rows[0]["pps"] / rows[-1]["pps"]
    print(f"  slowdown {rows[0]['entries']:,} -> {rows[-1]['entries']:,}: {ratio:.2f}x "
          f"(goal <= {GOALS['scale_ratio']}x)")
    ok = ok and ratio <= GOALS["scale_ratio"]
    if not args.quick:
        ok = ok and rows[-1]["table_rss_bytes"] < GOALS["table_bytes_1e6"]
    m = model.meters()
    print(f"meters: {m['meters']:,} <= meters; advance 1 s with none expiring: "
          f"{m['advance_1s_none_expire_ms']:.3f} ms (goal < {GOALS['quiet_advance_ms']} ms); "
          f"with all expiring: {m['advance_1s_all_expire_ms']:.0f} ms ({m['per_expiring_meter_us']:.1f} us each)")
    ok = ok and m["advance_1s_none_expire_ms"] < GOALS["quiet_advance_ms"]
    if args.linux:
        try:
            lx = linux.target_costs()
        except Exception as e:
            print(f"linux target: not measured ({type(e).__name__}: {e})")
        else:
            print(f"linux target: set-up {lx['setup_s'] * 1000:.0f} ms, reset p50 {lx['reset_p50_ms']:.2f} ms "
                  f"(max {lx['reset_max_ms']:.2f} ms), send+collect round trip "
                  f"{lx['send_collect_round_trip_ms']:.1f} ms ({lx['frames_seen']}/{lx['round_trips']} frames)")
    print("all goals met" if ok else "SOME GOALS MISSED")
    return 0 if ok else 1
