"""report.html: the certification report, one self-contained file rendered from results.json.

Target fingerprint, suite version and fixture hash, times, totals, the clause table grouped like
the spec (with links to the failing tests and their messages), the deviation register, and every
test case. Inline CSS with print rules; no script, no external resource.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from conformance import outcomes
from conformance import verdict as run_verdict
from conformance.catalog import Clause, load_catalog
from conformance.report.deviations import declared, deviation_clauses
from conformance.report.html_style import CSS
from conformance.results import suite_version
from reference_impl.profiles import PROFILES

SHOWN_FAILURES = (outcomes.ERROR, outcomes.FAIL, outcomes.UNEXPECTED_PASS, outcomes.EXPECTED_FAIL)


def badge(outcome: str) -> str:
    """An outcome as a coloured label (its class names the outcome)."""
    return f'<span class="badge o-{escape(outcome)}">{escape(outcome)}</span>'


def _dl(rows: Iterable[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<dl class="facts">{items}</dl>'


def _value(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"<code>{escape(json.dumps(value))}</code>"
    return escape(str(value))


def verdict(document: dict[str, Any]) -> str:
    """The run's verdict: pass, fail, untested or interrupted (results.json ``verdict``)."""
    return run_verdict.of(document)


def _duration(document: dict[str, Any]) -> str:
    try:
        start, end = (datetime.fromisoformat(document[k].replace("Z", "+00:00")) for k in ("started", "finished"))
    except (KeyError, ValueError):
        return "?"
    return f"{(end - start).total_seconds():.0f} s"


def _header(document: dict[str, Any]) -> str:
    target = document["target"]
    v = verdict(document)
    why = document.get("verdict_reason") or run_verdict.reason(document)
    checked = document.get("checked_profile")
    note = f" (deviation pass: checked against profile {escape(checked)})" if checked else ""
    return (
        f'<header><p class="headline v-{v}"><span class="badge verdict o-{v}" id="verdict">{v}</span> '
        f'<span id="verdict-reason">{escape(why)}</span></p>'
        "<h1>Multicast routing API conformance report</h1>"
        f'<p class="sub">Target <b>{escape(str(target["name"]))}</b>, declared profile '
        f"<b>{escape(str(target['profile']))}</b>{note}</p></header>"
    )


def _capabilities(document: dict[str, Any]) -> str:
    reasons: dict[str, tuple[int, set[str]]] = {}
    for test in document["tests"]:
        if test["outcome"] == outcomes.UNSUPPORTED:
            count, clauses = reasons.get(test["message"], (0, set()))
            reasons[test["message"]] = (count + 1, clauses | set(test["clauses"]))
    if not reasons:
        return "<p>Every feature the suite probed was present (no test was unsupported).</p>"
    rows = "".join(
        f'<tr><td class="msg">{escape(reason)}</td><td>{count}</td><td>{len(clauses)}</td></tr>'
        for reason, (count, clauses) in sorted(reasons.items(), key=lambda kv: -kv[1][0])
    )
    return (
        "<p>Features probed absent (each makes its tests <b>unsupported</b>, not failed):</p>"
        "<table><thead><tr><th>Probe result</th><th>Tests</th><th>Clauses</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _target_section(document: dict[str, Any]) -> str:
    target = document["target"]
    profile = PROFILES.get(str(target["profile"]))
    rows = [("name", escape(str(target["name"]))), ("declared profile", escape(str(target["profile"])))]
    if profile is not None:
        rows.append(("profile description", escape(profile.description)))
    rows += [(str(k), _value(v)) for k, v in (target.get("details") or {}).items()]
    return f"<section><h2>Target fingerprint</h2>{_dl(rows)}<h3>Capabilities</h3>{_capabilities(document)}</section>"


def _run_section(document: dict[str, Any], results_sha256: str | None) -> str:
    suite = document["suite"]
    rows = [
        ("suite version", escape(str(suite["version"]))),
        ("fixture manifest sha256", f"<code>{escape(str(suite['fixtures_sha256'] or 'none (no pcaps/MANIFEST)'))}</code>"),
        ("started", escape(document["started"])),
        ("finished", escape(document["finished"])),
        ("duration", _duration(document)),
    ]
    exp = document.get("expectations")
    if exp:
        results = {r: sum(a["result"] == r for a in exp["applied"]) for r in ("expected-fail", "unexpected-pass", "mismatch")}
        summary = ", ".join(f"{n} {r}" for r, n in results.items())
        rows.append(("expectations", f"<code>{escape(exp['file'])}</code> ({exp['entries']} entries: {summary}; "
                                     f"{len(exp['unused'])} judged no test) sha256 <code>{escape(str(exp['sha256']))}</code>"))
    else:
        rows.append(("expectations", "none"))
    if results_sha256:
        rows.append(("results.json sha256", f"<code>{results_sha256}</code>"))
    return f"<section><h2>Run</h2>{_dl(rows)}</section>"


def _totals(document: dict[str, Any]) -> str:
    heads = "".join(f"<th>{badge(o)}</th>" for o in outcomes.OUTCOMES)
    tests = "".join(f'<td data-summary="{o}">{document["summary"].get(o, 0)}</td>' for o in outcomes.OUTCOMES)
    clause_counts = {o: 0 for o in (*outcomes.OUTCOMES, outcomes.UNTESTED)}
    for outcome in document["clauses"].values():
        clause_counts[outcome] = clause_counts.get(outcome, 0) + 1
    clauses = "".join(f'<td data-clause-total="{o}">{clause_counts[o]}</td>' for o in outcomes.OUTCOMES)
    return (
        "<section><h2>Totals</h2>"
        f'<table class="totals"><thead><tr><th></th>{heads}<th>{badge(outcomes.UNTESTED)}</th><th>all</th></tr></thead>'
        f'<tbody><tr><th>test cases</th>{tests}<td>&ndash;</td><td data-summary="all">{len(document["tests"])}</td></tr>'
        f"<tr><th>clauses</th>{clauses}"
        f'<td data-clause-total="{outcomes.UNTESTED}">{clause_counts[outcomes.UNTESTED]}</td>'
        f'<td data-clause-total="all">{len(document["clauses"])}</td></tr></tbody></table></section>'
    )


def _failures_cell(cid: str, tests: list[tuple[int, dict[str, Any]]]) -> str:
    items = [
        f'<li><a href="#test-{i}">{escape(t["id"])}</a> {badge(t["outcome"])}'
        f'<div class="msg">{escape(t["message"])}</div></li>'
        for i, t in tests
        if cid in t["clauses"] and t["outcome"] in SHOWN_FAILURES
    ]
    return f'<ul class="fails">{"".join(items)}</ul>' if items else ""


def _clause_table(document: dict[str, Any], catalog: dict[str, Clause]) -> str:
    indexed = list(enumerate(document["tests"], 1))
    counts: dict[str, int] = {}
    for test in document["tests"]:
        for cid in test["clauses"]:
            counts[cid] = counts.get(cid, 0) + 1
    groups: dict[str, list[Clause]] = {}
    for clause in catalog.values():
        groups.setdefault(clause.group, []).append(clause)
    bodies = []
    for group, clauses in groups.items():
        rows = [f'<tr><th class="group" colspan="6" id="group-{escape(group)}">{escape(group)}</th></tr>']
        for c in clauses:
            outcome = document["clauses"].get(c.id, outcomes.UNTESTED)
            rows.append(
                f'<tr class="clause" id="clause-{escape(c.id)}" data-clause="{escape(c.id)}" data-outcome="{escape(outcome)}">'
                f'<td class="id"><code>{escape(c.id)}</code></td><td>{escape(c.title)}<br><span class="muted">'
                f"{escape(c.spec_ref)}</span></td><td>{escape(c.requirement)}</td><td>{badge(outcome)}</td>"
                f"<td>{counts.get(c.id, 0)}</td><td>{_failures_cell(c.id, indexed)}</td></tr>"
            )
        bodies.append(f"<tbody>{''.join(rows)}</tbody>")
    head = "<tr><th>Clause</th><th>Behaviour and spec reference</th><th>Requirement</th><th>Outcome</th><th>Tests</th><th>Failing tests</th></tr>"
    return (
        f"<section><h2>Clauses ({len(catalog)})</h2>"
        f'<table id="clauses"><thead>{head}</thead>{"".join(bodies)}</table></section>'
    )


def _facts(values: dict[str, Any]) -> str:
    return "<br>".join(f"<code>{escape(k)}={escape(_fact(v))}</code>" for k, v in values.items())


def _fact(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _like(entry: dict[str, Any]) -> str:
    if entry["matches"]:
        return f'<span class="like">{escape(", ".join(entry["matches"]))}</span>'
    if any(o in (outcomes.FAIL, outcomes.ERROR) for o in entry["outcomes"].values()):
        return "<b>no known profile</b>"
    return '<span class="muted">not observed</span>'


def _deviation_section(document: dict[str, Any], catalog: dict[str, Clause]) -> str:
    register = document.get("deviations")
    names = register["profiles"] if register else list(PROFILES)
    heads = "".join(f"<th>{escape(n)}</th>" for n in names)
    rows = []
    for cid in deviation_clauses(catalog):
        entry = register["clauses"].get(cid) if register else None
        cells = []
        for name in names:
            facts = entry["declared"].get(name, {}) if entry else declared(PROFILES[name], cid)
            outcome = entry["outcomes"].get(name, outcomes.UNTESTED) if entry else None
            why = entry["messages"].get(name, "") if entry else ""
            mark = f" {badge(outcome)}" if outcome else ""
            title = f' title="{escape(why)}"' if why else ""
            cells.append(f'<td data-profile="{escape(name)}" data-outcome="{escape(outcome or "")}"{title}>{_facts(facts)}{mark}</td>')
        like = _like(entry) if entry else badge(document["clauses"].get(cid, outcomes.UNTESTED)) + " under the declared profile"
        rows.append(
            f'<tr class="deviation" data-clause="{escape(cid)}"><td class="id"><a href="#clause-{escape(cid)}">'
            f"<code>{escape(cid)}</code></a></td><td>{escape(catalog[cid].requirement)}</td>{''.join(cells)}<td>{like}</td></tr>"
        )
    table = (
        f'<table id="deviations"><thead><tr><th>Clause</th><th>Requirement</th>{heads}<th>Target behaves like</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    intro = (
        "<p>For every implementation-defined or conflict clause: what each known profile declares and, per "
        "profile, whether the clause's tests passed when checked against that profile's facts (over the "
        "target's own ABI). The messages of the failed checks follow the table.</p>"
    )
    if not register:
        intro = ("<p><b>Not recorded in this run</b> (run <code>mroute-conformance run --deviations</code>): the "
                 "profiles' declared facts are shown with the outcome under the target's declared profile only.</p>")
    return f"<section><h2>Deviation register</h2>{intro}{_ranking(register)}{table}{_why(register)}</section>"


def _why(register: dict[str, Any] | None) -> str:
    items = [
        f"<li><code>{escape(cid)}</code> under <b>{escape(name)}</b>: <span class=\"msg\">{escape(message)}</span></li>"
        for cid, entry in (register or {}).get("clauses", {}).items()
        for name, message in entry["messages"].items()
        if entry["outcomes"].get(name) in (outcomes.FAIL, outcomes.ERROR)
    ]
    return f'<h3>Why a profile\'s check failed</h3><ul class="why">{"".join(items)}</ul>' if items else ""


def _ranking(register: dict[str, Any] | None) -> str:
    if not register:
        return ""
    rows = "".join(
        f'<tr data-rank="{i}" data-profile="{escape(r["profile"])}"><td>{i}</td><td><b>{escape(r["profile"])}</b></td>'
        f"<td>{r['agree']}</td><td>{r['disagree']}</td><td>{r['undecided']}</td></tr>"
        for i, r in enumerate(register["ranking"], 1)
    )
    return (
        '<table id="ranking"><thead><tr><th>Rank</th><th>Profile</th><th>Agrees (clauses pass)</th>'
        f"<th>Differs (fail)</th><th>Not observed</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _tests_section(document: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr id="test-{i}" data-outcome="{escape(t["outcome"])}"><td>{i}</td><td class="test mono">{escape(t["id"])}</td>'
        f"<td>{escape(', '.join(t['clauses']))}</td><td>{badge(t['outcome'])}</td><td>{t['duration_s']:.3f}</td>"
        f'<td class="msg">{escape(t["message"])}</td></tr>'
        for i, t in enumerate(document["tests"], 1)
    )
    return (
        f'<section class="tests"><h2>Test cases ({len(document["tests"])})</h2>'
        '<table id="tests"><thead><tr><th>#</th><th>Test</th><th>Clauses</th><th>Outcome</th><th>s</th>'
        f"<th>Message</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def render(document: dict[str, Any], results_sha256: str | None = None) -> str:
    """The complete report for a results.json ``document``."""
    catalog = load_catalog()
    title = f"{verdict(document).upper()}: mroute-conformance report: {document['target']['name']} ({document['target']['profile']})"
    body = "".join(
        (
            _header(document),
            _target_section(document),
            _run_section(document, results_sha256),
            _totals(document),
            _clause_table(document, catalog),
            _deviation_section(document, catalog),
            _tests_section(document),
            f'<footer class="muted"><p>Written by mroute-conformance {escape(suite_version())}; '
            f"{len(deviation_clauses(catalog))} implementation-defined/conflict clauses in the register.</p></footer>",
        )
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
        f"<body>{body}</body></html>\n"
    )


def write_report(document: dict[str, Any], path: Path, results_file: Path | None = None) -> Path:
    """Render ``document`` to ``path``; the results file's sha256 goes into the report when given."""
    digest = hashlib.sha256(results_file.read_bytes()).hexdigest() if results_file and results_file.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(document, digest), encoding="utf-8")
    return path
