"""Inline SVG stacked bars of outcome counts, shared by report.html (per clause group) and
matrix.html (per kernel or run): same colours, same order, same legend."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from conformance import outcomes

CHART_OUTCOMES = (outcomes.PASS, outcomes.FAIL, outcomes.ERROR, outcomes.UNEXPECTED_PASS,
                  outcomes.EXPECTED_FAIL, outcomes.UNSUPPORTED, outcomes.SKIP, outcomes.UNTESTED)
COLOURS = {outcomes.PASS: "#1a7f37", outcomes.FAIL: "#cf222e", outcomes.ERROR: "#82071e",
           outcomes.UNEXPECTED_PASS: "#bc4c00", outcomes.EXPECTED_FAIL: "#9a6700",
           outcomes.UNSUPPORTED: "#0969da", outcomes.SKIP: "#54aeff", outcomes.UNTESTED: "#8c959f"}


def tally(clause_outcomes: Iterable[str]) -> dict[str, int]:
    """How many clauses took each chart outcome (anything unknown counts as untested)."""
    counts = dict.fromkeys(CHART_OUTCOMES, 0)
    for outcome in clause_outcomes:
        counts[outcome if outcome in counts else outcomes.UNTESTED] += 1
    return counts


def stacked_bars(rows: Sequence[tuple[str, dict[str, int]]], label: str) -> str:
    """One horizontal bar per (name, counts) row, segments in CHART_OUTCOMES order, with a legend.

    Each segment carries ``data-row``/``data-outcome``/``data-count`` so tests can read the numbers.
    """
    width, bar, gap, left = 1000, 20, 8, 260
    height = len(rows) * (bar + gap) + gap
    parts = [f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}">']
    for i, (name, counts) in enumerate(rows):
        total = sum(counts.values())
        y = gap + i * (bar + gap)
        parts.append(f'<text x="0" y="{y + 14}">{escape(name[:36])}</text>')
        parts.append(f'<text x="{width - 4}" y="{y + 14}" text-anchor="end">{total}</text>')
        x = float(left)
        for outcome in CHART_OUTCOMES:
            n = counts.get(outcome, 0)
            if not n:
                continue
            w = (width - left - 50) * n / (total or 1)
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{COLOURS[outcome]}" '
                         f'data-row="{escape(name)}" data-outcome="{outcome}" data-count="{n}">'
                         f"<title>{escape(name)}: {n} {escape(outcome)}</title></rect>")
            x += w
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{COLOURS[o]}"></i>{escape(o)}</span>' for o in CHART_OUTCOMES)
    return '<div class="chart">' + "".join(parts) + f'<p class="legend">{legend}</p></div>'
