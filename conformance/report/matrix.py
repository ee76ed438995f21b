"""matrix.html: several runs (one per kernel or build) side by side, clause by clause.

The view a kernel maintainer wants: "what changed between 6.1 and 6.12". Clauses whose outcome
differs between the runs come first, then every other clause grouped like the catalog. A chart
of outcome counts per run sits on top. One self-contained file: inline CSS and SVG, no script.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from conformance import outcomes
from conformance.report.charts import stacked_bars, tally
from conformance.report.html_style import CSS
from mroute_spec.catalog import load_catalog

MATRIX_CSS = """
.mx td.o { text-align: center; } .mx td.cid { white-space: nowrap; }
tr.diff td.cid { font-weight: 600; }
.wrap { overflow-x: auto; }
"""


class MatrixError(ValueError):
    """A results file that cannot join a matrix (unreadable, not results.json); one-line message."""


@dataclass(frozen=True)
class Column:
    """One run of the matrix: its label (kernel release or target) and its results document."""

    label: str
    document: dict[str, Any]
    href: str | None = None  # the run's own report.html, relative to the matrix page

    @property
    def clauses(self) -> dict[str, str]:
        """Clause ID -> outcome; empty for a run that wrote no results (its target was unavailable)."""
        clauses = self.document.get("clauses")
        return clauses if isinstance(clauses, dict) else {}

    @property
    def verdict(self) -> str:
        """The run's verdict: results.json's own, else derived from its tests."""
        given = self.document.get("verdict")
        if isinstance(given, str):
            return given
        tests = self.document.get("tests", [])
        if not tests:
            return "untested"
        return outcomes.PASS if all(t["outcome"] in outcomes.ACCEPTABLE for t in tests) else outcomes.FAIL


def label_of(document: dict[str, Any], fallback: str) -> str:
    """A column label: the kernel release the target reported, else the target name, else ``fallback``."""
    target = document.get("target") or {}
    details = target.get("details") or {}
    kernel = details.get("kernel")
    return str(kernel) if kernel else str(target.get("name") or fallback)


def load_columns(paths: Sequence[Path]) -> list[Column]:
    """Read each results.json; labels are made unique by suffixing the file's directory name."""
    columns: list[Column] = []
    for path in paths:
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MatrixError(f"{path}: cannot read results ({type(exc).__name__}: {exc})") from None
        if not isinstance(document, dict) or not isinstance(document.get("clauses"), dict):
            raise MatrixError(f"{path}: not a results.json (no 'clauses' map)")
        columns.append(Column(label_of(document, Path(path).parent.name), document))
    seen: dict[str, int] = {}
    for c in columns:
        seen[c.label] = seen.get(c.label, 0) + 1
    return [
        Column(f"{c.label} ({Path(p).parent.name})" if seen[c.label] > 1 else c.label, c.document)
        for c, p in zip(columns, paths, strict=True)
    ]


def rows(columns: Sequence[Column]) -> tuple[list[tuple[str, list[str]]], list[tuple[str, list[str]]]]:
    """(clauses whose outcome differs between runs, all other clauses), each as (id, outcomes)."""
    ids = list(load_catalog())
    for column in columns:
        ids += [cid for cid in column.clauses if cid not in ids]
    differing: list[tuple[str, list[str]]] = []
    same: list[tuple[str, list[str]]] = []
    for cid in ids:
        cells = [str(c.clauses.get(cid, outcomes.UNTESTED)) for c in columns]
        (differing if len(set(cells)) > 1 else same).append((cid, cells))
    return differing, same


def counts(column: Column) -> dict[str, int]:
    """How many clauses of ``column`` took each outcome."""
    return tally(column.clauses.values())


def chart(columns: Sequence[Column]) -> str:
    """A horizontal stacked bar per run: clause outcomes, as inline SVG (the report's chart style)."""
    return stacked_bars([(c.label, counts(c)) for c in columns], "clause outcomes per run")


def _table(title: str, body: list[tuple[str, list[str]]], columns: Sequence[Column], cls: str) -> str:
    catalog = load_catalog()
    head = "".join(f"<th>{escape(c.label)}</th>" for c in columns)
    lines = []
    for cid, cells in body:
        clause = catalog.get(cid)
        name = escape(clause.title) if clause else "(not in this catalog)"
        tds = "".join(f'<td class="o"><span class="badge o-{escape(o)}">{escape(o)}</span></td>' for o in cells)
        lines.append(f'<tr class="{cls}"><td class="cid"><code>{escape(cid)}</code></td><td>{name}</td>{tds}</tr>')
    empty = f'<tr><td colspan="{2 + len(columns)}">none</td></tr>'
    return (f"<h2>{escape(title)} ({len(body)})</h2><div class=\"wrap\"><table class=\"mx\"><thead><tr>"
            f"<th>clause</th><th>title</th>{head}</tr></thead><tbody>{''.join(lines) or empty}</tbody></table></div>")


def _run_cell(column: Column) -> str:
    label = escape(column.label)
    return f'<a href="{escape(column.href)}">{label}</a>' if column.href else label


def _why(column: Column) -> str:
    """What a reader should know about a run beside its counts: why it tested nothing, how it ran."""
    details = (column.document.get("target") or {}).get("details") or {}
    if details.get("unavailable"):
        return f"unavailable: {details['unavailable']}"
    parts = [f"{k} {details[k]}" for k in ("kernel_source", "accel") if details.get(k)]
    if details.get("boot_s") is not None:
        parts.append(f"boot {details['boot_s']} s")
    return ", ".join(parts)


def render(columns: Sequence[Column]) -> str:
    """The whole matrix page."""
    differing, same = rows(columns)
    verdicts = "".join(
        f"<tr><td>{_run_cell(c)}</td><td><span class=\"badge o-{escape(c.verdict)}\">{escape(c.verdict)}"
        f"</span></td><td>{escape(str((c.document.get('target') or {}).get('name', '?')))}</td>"
        f"<td>{sum(1 for o in c.clauses.values() if o == outcomes.PASS)}</td>"
        f"<td>{escape(_why(c))}</td></tr>"
        for c in columns
    )
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Kernel matrix</title>"
        f"<style>{CSS}{MATRIX_CSS}</style></head><body><header><h1>Kernel matrix</h1>"
        f'<p class="sub">{len(columns)} runs &middot; clauses that differ: {len(differing)}</p></header>'
        f"<table><thead><tr><th>run</th><th>verdict</th><th>target</th><th>clauses passed</th><th>notes</th></tr></thead>"
        f"<tbody>{verdicts}</tbody></table>{chart(columns)}"
        + _table("Clauses that differ", differing, columns, "diff")
        + _table("Clauses with the same outcome everywhere", same, columns, "same")
        + "</body></html>\n"
    )


def write_matrix(paths: Sequence[Path], out: Path) -> Path:
    """Render the matrix of ``paths`` (results.json files) into ``out``; returns ``out``."""
    out.write_text(render(load_columns(paths)), encoding="utf-8")
    return out
