"""The kernel matrix: one linux-vm run per kernel, then one page of clause x kernel, differences first.

``kernels run SPEC... --report-dir DIR`` runs the suite once per kernel into ``DIR/<kernel>/``
(each with its own results.json and report.html) and writes ``DIR/matrix.json`` and
``DIR/matrix.html``: the view a kernel maintainer wants ("what changed between 6.1 and 6.12").
The page is static HTML (no script), so it opens anywhere, headless browsers included.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conformance.targets.vm.kernels import KERNEL_ENV

ORDER = ("fail", "error", "unexpected-pass", "expected-fail", "skip", "unsupported", "pass")


def slug(spec: str) -> str:
    """A directory name for a kernel spec: ``debian:6.1`` -> ``debian-6.1``, a path -> its file name."""
    name = Path(spec).name if "/" in spec else spec
    return re.sub(r"[^A-Za-z0-9._+-]", "-", name) or "kernel"


def run_one(spec: str, report_dir: Path, extra: list[str]) -> int:
    """``mroute-conformance run --target linux-vm`` for one kernel (its exit code)."""
    cmd = [sys.executable, "-m", "conformance.cli", "run", "--target", "linux-vm", "--report-dir", str(report_dir), *extra]
    return subprocess.call(cmd, env={**os.environ, KERNEL_ENV: spec})


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


def render(matrix: dict) -> str:
    """``matrix`` as a self-contained HTML page (inline style, no script)."""
    e = html.escape
    head = "".join(
        f"<th>{e(str(k['spec']))}<br><small>{e(str(k['release'] or 'unavailable'))}<br>{e(str(k['accel'] or ''))}"
        f"{' boot ' + e(str(k['boot_s'])) + ' s' if k['boot_s'] is not None else ''}</small></th>"
        for k in matrix["kernels"]
    )
    summaries = "".join(
        "<td>" + (e(str(k["unavailable"])) if k["unavailable"] else
                  e(", ".join(f"{n} {v}" for n, v in k["summary"].items() if v))) + "</td>"
        for k in matrix["kernels"]
    )
    body = []
    for row in matrix["rows"]:
        cells = "".join(f'<td class="{e(o)}">{e(o)}</td>' for o in row["outcomes"])
        mark = ' class="differs"' if row["differs"] else ""
        body.append(f"<tr{mark}><th>{e(row['clause'])}</th>{cells}</tr>")
    n = matrix["differences"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Kernel matrix: multicast routing conformance</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }} th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
tr.differs th {{ background: #fff3c4; }}
.pass {{ background: #d9f2d9; }} .fail, .error, .unexpected-pass {{ background: #f7c6c6; }}
.expected-fail {{ background: #f3e0c0; }} .unsupported, .skip, .absent {{ background: #eee; color: #555; }}
</style></head><body>
<h1>Kernel matrix</h1>
<p>{len(matrix['kernels'])} kernels, {len(matrix['rows'])} clauses, <strong>{n} clause{'s' if n != 1 else ''} differ</strong>
(listed first).</p>
<table><thead><tr><th>clause</th>{head}</tr><tr><th>summary</th>{summaries}</tr></thead>
<tbody>{''.join(body)}</tbody></table>
</body></html>
"""


def write(report_dir: Path, runs: list[tuple[str, dict]]) -> dict:
    """Write ``matrix.json`` and ``matrix.html`` into ``report_dir``; returns the matrix."""
    matrix = build(runs)
    (report_dir / "matrix.json").write_text(json.dumps(matrix, indent=1) + "\n", encoding="utf-8")
    (report_dir / "matrix.html").write_text(render(matrix), encoding="utf-8")
    return matrix
