"""Plain-text renderings for the terminal: a run's summary and the clause coverage table."""

from __future__ import annotations

from typing import Any

from conformance import outcomes, verdict
from mroute_spec.catalog import Clause


def run_summary(results: dict[str, Any], path: str) -> list[str]:
    """The verdict and why, counts per outcome and the clauses that did not pass, from a results.json document."""
    target = results["target"]
    counts = ", ".join(f"{name} {results['summary'].get(name, 0)}" for name in outcomes.OUTCOMES)
    why = results.get("verdict_reason") or verdict.reason(results)
    lines = [
        f"verdict: {verdict.of(results).upper()}: {why}",
        f"{len(results['tests'])} tests on {target['name']} (profile {target['profile']}): {counts}",
    ]
    by_outcome: dict[str, list[str]] = {}
    for cid, outcome in results["clauses"].items():
        if outcome != outcomes.PASS:
            by_outcome.setdefault(outcome, []).append(cid)
    if by_outcome:
        lines.append("clauses not pass:")
        for outcome in (*outcomes.SEVERITY, outcomes.UNTESTED):
            if outcome in by_outcome:
                ids = by_outcome[outcome]
                lines.append(f"  {outcome} ({len(ids)}): {', '.join(ids)}")
    lines.append(f"results: {path}")
    return lines


def clause_table(catalog: dict[str, Clause], counts: dict[str, int]) -> list[str]:
    """One row per catalog clause: ID, group, requirement and the number of covering test cases."""
    width = max(len(cid) for cid in catalog)
    lines = [f"{'CLAUSE':<{width}}  {'GROUP':<9} {'REQUIREMENT':<22} TESTS"]
    for cid, clause in catalog.items():
        n = counts.get(cid, 0)
        lines.append(f"{cid:<{width}}  {clause.group:<9} {clause.requirement:<22} {n or outcomes.UNTESTED}")
    untested = sum(1 for cid in catalog if not counts.get(cid))
    if untested:
        lines.append(f"{len(catalog)} clauses: {len(catalog) - untested} covered, {untested} untested")
    else:
        lines.append(f"{len(catalog)} clauses: every one covered by at least one test")
    return lines
