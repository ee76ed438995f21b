"""The kernel matrix: one linux-vm run per kernel, then one page of clause x kernel, differences first.

``kernels run SPEC... --report-dir DIR`` runs the suite once per kernel into ``DIR/<kernel>/``
(each with its own results.json and report.html) and writes ``DIR/matrix.json`` and
``DIR/matrix.html`` (rendered by ``conformance.report.matrix``): the view a kernel maintainer
wants ("what changed between 6.1 and 6.12").
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conformance.report.matrix import Column, render
from conformance.targets.vm.kernels import KERNEL_ENV

ORDER = ("fail", "error", "unexpected-pass", "expected-fail", "skip", "unsupported", "pass")


def slug(spec: str) -> str:
    """A directory name for a kernel spec: ``debian:6.1`` -> ``debian-6.1``, a path -> its file name."""
    name = Path(spec).name if "/" in spec else spec
    return re.sub(r"[^A-Za-z0-9._+-]", "-", name) or "kernel"


def run_one(spec: str, report_dir: Path, extra: list[str], log: Path | None = None) -> int:
    """``mroute-conformance run --target linux-vm`` for one kernel (its exit code); output to ``log`` if given.

    The child shares our terminal's process group, so Ctrl-C reaches it directly; we keep waiting
    while it writes its partial results and removes its VM, and only a second Ctrl-C stops waiting.
    """
    cmd = [sys.executable, "-m", "conformance.cli", "run", "--target", "linux-vm", "--report-dir", str(report_dir), *extra]
    env = {**os.environ, KERNEL_ENV: spec}
    (report_dir / "results.json").unlink(missing_ok=True)  # never mistake an earlier run's for this one's
    if log is None:
        return _wait(subprocess.Popen(cmd, env=env))
    report_dir.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        return _wait(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT))


def _wait(child: subprocess.Popen[bytes]) -> int:
    try:
        return child.wait()
    except KeyboardInterrupt:  # the child got the same SIGINT and is cleaning up: give it that time
        child.wait()
        raise


def plan(n_kernels: int, workers: str | None) -> tuple[int, list[str]]:
    """How ``-n`` spreads over kernels: (runs at once, each run's ``-n`` option).

    ``-n N`` with N >= 2 and several kernels runs up to N kernels at once with N // runs workers
    each (one VM per worker either way); otherwise kernels run one after the other with ``-n N``.
    """
    if workers is None:
        return 1, []
    if not workers.isdigit() or int(workers) < 2 or n_kernels < 2:
        return 1, ["-n", workers]
    at_once = min(int(workers), n_kernels)
    each = int(workers) // at_once
    return at_once, ["-n", "0" if each == 1 else str(each)]


def run_all(
    specs: list[str], base: Path, workers: str | None, extra: list[str], run_options: Sequence[str] = ()
) -> list[tuple[str, int]]:
    """Run the suite on every kernel as ``plan`` says (each ``run`` also gets ``run_options``);
    (spec, exit code) in the order given."""
    at_once, options = plan(len(specs), workers)
    options = [*run_options, *options]
    tail = ["--", *extra] if extra else []
    if at_once == 1:
        codes = []
        for spec in specs:
            print(f"== {spec} -> {base / slug(spec)}", flush=True)
            codes.append((spec, run_one(spec, base / slug(spec), [*options, *tail])))
        return codes

    def one(spec: str) -> tuple[str, int]:
        out = base / slug(spec)
        print(f"== {spec} -> {out} (log: {out / 'run.log'})", flush=True)
        rc = run_one(spec, out, [*options, *tail], log=out / "run.log")
        print(f"== {spec}: exit {rc}", flush=True)
        return spec, rc

    with ThreadPoolExecutor(max_workers=at_once) as pool:
        return list(pool.map(one, specs))


def build(runs: list[tuple[str, dict]]) -> dict:
    """The matrix of ``(spec, results.json)`` pairs: kernels, and rows of clause outcomes (differences first)."""
    kernels = []
    for spec, doc in runs:
        details = doc.get("target", {}).get("details", {})
        kernels.append({
            "spec": spec,
            "release": details.get("kernel"),
            "source": details.get("kernel_source"),
            "accel": details.get("accel"),
            "boot_s": details.get("boot_s"),
            "summary": doc.get("summary", {}),
            "unavailable": details.get("unavailable"),
        })
    clause_ids = sorted({cid for _, doc in runs for cid in doc.get("clauses", {})})
    rows = []
    for cid in clause_ids:
        outcomes = [doc.get("clauses", {}).get(cid, "absent") for _, doc in runs]
        rows.append({"clause": cid, "outcomes": outcomes, "differs": len(set(outcomes)) > 1})
    rows.sort(key=lambda r: (not r["differs"], min(_rank(o) for o in r["outcomes"]), r["clause"]))
    return {"format": "mroute-conformance/kernel-matrix/1", "kernels": kernels, "rows": rows,
            "differences": sum(r["differs"] for r in rows)}


def _rank(outcome: str) -> int:
    return ORDER.index(outcome) if outcome in ORDER else len(ORDER)


def write(report_dir: Path, runs: list[tuple[str, dict]]) -> dict:
    """Write ``matrix.json`` and ``matrix.html`` into ``report_dir``; returns the matrix."""
    matrix = build(runs)
    (report_dir / "matrix.json").write_text(json.dumps(matrix, indent=1) + "\n", encoding="utf-8")
    columns = [Column(f"{spec} ({release})" if (release := doc.get("target", {}).get("details", {}).get("kernel"))
                      else spec, doc) for spec, doc in runs]
    (report_dir / "matrix.html").write_text(render(columns), encoding="utf-8")
    return matrix


# Exit codes of the runs, most telling first: interrupted, fail, usage, untested, pass.
EXIT_PRECEDENCE = (130, 1, 2, 3, 0)


def combined_exit(codes: Sequence[int]) -> int:
    """One exit code for the matrix: the most telling of the runs' (an unknown code counts as fail)."""
    known = [c if c in EXIT_PRECEDENCE else 1 for c in codes] or [3]
    return min(known, key=EXIT_PRECEDENCE.index)


def run_matrix(specs: list[str], base: Path, workers: str | None, extra: list[str], run_options: Sequence[str] = ()) -> int:
    """Every kernel's run, then ``matrix.json``/``matrix.html`` in ``base``; the combined exit code."""
    base.mkdir(parents=True, exist_ok=True)
    try:
        codes = run_all(specs, base, workers, extra, run_options)
    except KeyboardInterrupt:
        print(f"mroute-conformance: interrupted: the kernel matrix in {base} is incomplete", file=sys.stderr)
        return 130
    runs = []
    for spec, rc in codes:
        results = base / slug(spec) / "results.json"
        doc = json.loads(results.read_text(encoding="utf-8")) if results.is_file() else {
            "target": {"details": {"unavailable": f"the run wrote no results.json (exit {rc})"}}}
        runs.append((spec, doc))
    built = write(base, runs)
    print(f"mroute-conformance: {len(runs)} kernels, {built['differences']} clauses differ: {base / 'matrix.html'}")
    return combined_exit([rc for _, rc in codes])
