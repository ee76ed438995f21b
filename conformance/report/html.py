"""report.html: the certification report, one self-contained file rendered from results.json.

For the CI engineer first: the verdict with counts, then what broke (failing and unexpected
clauses, each with its tests' evidence) and what changed since the previous run in the same
report directory; a chart of clause outcomes per group. For the certification reviewer: the
identity block (command, host, target and kernel under test, profile, suite, hashes, seed, times),
the accepted deviations, the clause table and every test case. Inline CSS and SVG with print
rules; no script, no external resource.
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
from conformance.report.charts import stacked_bars, tally
from conformance.report.deviations import declared, deviation_clauses
from conformance.report.html_style import CSS
from conformance.results import suite_version
from mroute_spec.catalog import Clause, load_catalog
from reference_impl.profiles import PROFILES

SHOWN_FAILURES = (outcomes.ERROR, outcomes.FAIL, outcomes.UNEXPECTED_PASS, outcomes.EXPECTED_FAIL)
BROKEN = (outcomes.ERROR, outcomes.FAIL, outcomes.UNEXPECTED_PASS)  # what makes a run fail
ALLURE_INDEX = "allure-report/index.html"  # --allure-html's page, relative to report.html


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


def _header(document: dict[str, Any], previous: dict[str, Any] | None, allure: str | None) -> str:
    target = document["target"]
    v = verdict(document)
    why = document.get("verdict_reason") or run_verdict.reason(document)
    checked = document.get("checked_profile")
    note = f" (deviation pass: checked against profile {escape(checked)})" if checked else ""
    summary = document["summary"]
    counts = " &middot; ".join(
        f'<span class="count" data-count="{o}"><b>{summary.get(o, 0)}</b> {escape(o)}</span>'
        for o in outcomes.OUTCOMES if summary.get(o, 0)
    )
    clause_counts = tally(document["clauses"].values())
    clauses = " &middot; ".join(f"<b>{n}</b> {escape(o)}" for o, n in clause_counts.items() if n)
    since = ""
    if previous is not None:
        diff = since_previous(document, previous)
        since = (f'<p class="since-line">Since the previous run ({escape(str(previous.get("started", "?")))}, '
                 f'{escape(run_verdict.of(previous))}): <b>{len(diff["newly_failing"])}</b> newly failing, '
                 f'<b>{len(diff["newly_passing"])}</b> newly passing, {len(diff["changed"])} other changes '
                 '(<a href="#since">details</a>)</p>')
    link = f'<p class="links"><a href="{escape(allure)}">Allure report</a></p>' if allure else ""
    return (
        f'<header class="verdict-block v-{v}" id="headline"><p class="headline">'
        f'<span class="verdict o-{v}" id="verdict">{v}</span> '
        f'<span id="verdict-reason">{escape(why)}</span></p>'
        f'<p class="counts" id="counts">{len(document["tests"])} tests: {counts or "none"}</p>'
        f'<p class="counts">{len(document["clauses"])} clauses: {clauses}</p>{since}'
        "<h1>Multicast routing API conformance report</h1>"
        f'<p class="sub">Target <b>{escape(str(target["name"]))}</b>{_under_test(target)}, declared profile '
        f"<b>{escape(str(target['profile']))}</b>{note}</p>{link}</header>"
    )


def _under_test(target: dict[str, Any]) -> str:
    details = target.get("details") or {}
    kernel = details.get("kernel")
    return f", kernel <b>{escape(str(kernel))}</b>" if kernel else ""


def attention(document: dict[str, Any]) -> list[tuple[str, str, list[tuple[int, dict[str, Any]]]]]:
    """Clauses a reader must look at, worst first (error, fail, unexpected-pass, then expected-fail),
    catalog order within an outcome; each with its (1-based index, test) pairs that did not pass."""
    order = {cid: i for i, cid in enumerate(document["clauses"])}
    indexed = list(enumerate(document["tests"], 1))
    out = []
    for cid, outcome in document["clauses"].items():
        if outcome in SHOWN_FAILURES:
            tests = [(i, t) for i, t in indexed if cid in t["clauses"] and t["outcome"] in SHOWN_FAILURES]
            out.append((cid, outcome, tests))
    out.sort(key=lambda e: (outcomes.SEVERITY.index(e[1]), order[e[0]]))
    stray = [(i, t) for i, t in indexed if not t["clauses"] and t["outcome"] in BROKEN]  # collection errors
    if stray:
        out.insert(0, ("(no clause)", outcomes.ERROR, stray))
    return out


def _evidence(test: dict[str, Any]) -> str:
    lines = test.get("evidence") or [test["message"]]
    rows = "".join(f'<span class="{_line_class(line)}">{escape(line)}</span>\n' for line in lines)
    return f'<pre class="evidence">{rows}</pre>'


def _line_class(line: str) -> str:
    text = line.strip().lower()
    return "ev-diff" if ("expected" in text and "got" in text) or text.startswith(("+", "-")) else "ev"


def _attention_section(document: dict[str, Any], catalog: dict[str, Clause]) -> str:
    entries = attention(document)
    broken = [e for e in entries if e[1] in BROKEN]
    known = [e for e in entries if e[1] not in BROKEN]
    if not entries:
        return ('<section id="attention"><h2>What broke</h2><p class="ok">Nothing: no clause failed, '
                "errored or passed unexpectedly.</p></section>")
    parts = []
    for title, group, cls in (("What broke", broken, "broken"), ("Known failures (expected-fail)", known, "known")):
        if not group:
            continue
        items = []
        for cid, outcome, tests in group:
            clause = catalog.get(cid)
            what = f"{escape(clause.title)} <span class=\"muted\">{escape(clause.spec_ref)}</span>" if clause else ""
            shown = "".join(
                f'<li><a href="#test-{i}" class="mono">{escape(t["id"])}</a> {badge(t["outcome"])}{_evidence(t)}</li>'
                for i, t in tests[:5]
            )
            more = f'<li class="muted">{len(tests) - 5} more tests of this clause in the test list</li>' if len(tests) > 5 else ""
            items.append(
                f'<li class="att" data-clause="{escape(cid)}" data-outcome="{escape(outcome)}">{badge(outcome)} '
                f'<a href="#clause-{escape(cid)}"><code>{escape(cid)}</code></a> {what}'
                f'<ul class="att-tests">{shown}{more}</ul></li>'
            )
        parts.append(f'<h2>{escape(title)} ({len(group)} clauses)</h2><ol class="attention {cls}">{"".join(items)}</ol>')
    return f'<section id="attention">{"".join(parts)}</section>'


def since_previous(document: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """Clause changes versus the previous run: newly failing (now error/fail/unexpected-pass, before
    not), newly passing (now pass, before broken), and every other change, as {clause: [before, now]}."""
    before = previous.get("clauses") or {}
    failing, passing, changed = [], [], {}
    for cid, now in document["clauses"].items():
        was = before.get(cid, outcomes.UNTESTED)
        if now == was:
            continue
        if now in BROKEN and was not in BROKEN:
            failing.append(cid)
        elif was in BROKEN and now == outcomes.PASS:
            passing.append(cid)
        else:
            changed[cid] = [was, now]
    return {"newly_failing": failing, "newly_passing": passing, "changed": changed}


def _since_section(document: dict[str, Any], previous: dict[str, Any] | None) -> str:
    if previous is None:
        return ""
    diff = since_previous(document, previous)

    def ids(cids: list[str]) -> str:
        return ", ".join(f'<a href="#clause-{escape(c)}"><code>{escape(c)}</code></a>' for c in cids) or "none"

    other = ", ".join(f"<code>{escape(c)}</code> {escape(a)} &rarr; {escape(b)}" for c, (a, b) in diff["changed"].items())
    return (
        f'<section id="since"><h2>Since the previous run</h2><p class="muted">Compared with the results.json this '
        f"report directory held before (started {escape(str(previous.get('started', '?')))}, verdict "
        f"{escape(run_verdict.of(previous))}; kept as previous-results.json).</p>"
        f'<dl class="facts"><dt>newly failing</dt><dd id="newly-failing">{ids(diff["newly_failing"])}</dd>'
        f'<dt>newly passing</dt><dd id="newly-passing">{ids(diff["newly_passing"])}</dd>'
        f'<dt>other changes</dt><dd id="changed">{other or "none"}</dd></dl></section>'
    )


def group_counts(document: dict[str, Any], catalog: dict[str, Clause]) -> list[tuple[str, dict[str, int]]]:
    """Per clause group (catalog order): how many of its clauses took each outcome."""
    groups: dict[str, list[str]] = {}
    for cid, clause in catalog.items():
        groups.setdefault(clause.group, []).append(document["clauses"].get(cid, outcomes.UNTESTED))
    return [(group, tally(seen)) for group, seen in groups.items()]


def _chart_section(document: dict[str, Any], catalog: dict[str, Clause]) -> str:
    return ('<section id="chart-section"><h2>Clause outcomes per group</h2>'
            f'{stacked_bars(group_counts(document, catalog), "clause outcomes per clause group")}</section>')


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


def identity_rows(document: dict[str, Any], results_sha256: str | None) -> list[tuple[str, str]]:
    """The certification record: how, where and on what the run was made (label, HTML value)."""
    target, suite = document["target"], document["suite"]
    inv = document.get("invocation") or {}
    host = inv.get("host") or {}
    profile = PROFILES.get(str(target["profile"]))
    missing = '<span class="muted">not recorded</span>'
    described = f' <span class="muted">({escape(profile.description)})</span>' if profile else ""
    rows = [
        ("command", f"<code>{escape(inv['command'])}</code>" if inv.get("command") else missing),
        ("working directory", f"<code>{escape(inv['cwd'])}</code>" if inv.get("cwd") else missing),
        ("host", escape(", ".join(str(host[k]) for k in ("hostname", "os", "kernel", "machine") if host.get(k))) or missing),
        ("python", escape(str(host["python"])) if host.get("python") else missing),
        ("target", escape(str(target["name"]))),
        ("declared profile", escape(str(target["profile"])) + described),
    ]
    pfile = document.get("profile_file")
    if pfile:
        base = f", extends {escape(pfile['extends'])}" if pfile.get("extends") else ""
        rows.append(("profile file", f"<code>{escape(pfile['path'])}</code>{base}; "
                                     f"sha256 <code>{escape(pfile['sha256'])}</code>"))
    rows += [(f"target {k}", _value(v)) for k, v in (target.get("details") or {}).items()]
    rows += [
        ("suite version", escape(str(suite["version"]))),
        ("fixture manifest sha256", f"<code>{escape(str(suite['fixtures_sha256'] or 'none (no pcaps/MANIFEST)'))}</code>"),
    ]
    exp = document.get("expectations")
    if exp:
        results = {r: sum(a["result"] == r for a in exp["applied"]) for r in ("expected-fail", "unexpected-pass", "mismatch")}
        summary = ", ".join(f"{n} {r}" for r, n in results.items())
        rows.append(("expectations file", f"<code>{escape(exp['file'])}</code> ({exp['entries']} entries: {summary}; "
                                          f"{len(exp['unused'])} judged no test)"))
        rows.append(("expectations sha256", f"<code>{escape(str(exp['sha256']))}</code>"))
    else:
        rows.append(("expectations file", "none applied"))
    hyp = document.get("hypothesis")
    rows.append(("hypothesis seed", escape(f"{hyp['seed']} (settings profile {hyp['profile']})") if hyp else missing))
    rows += [
        ("started", escape(document["started"])),
        ("finished", escape(document["finished"])),
        ("duration", _duration(document)),
    ]
    if results_sha256:
        rows.append(("results.json sha256", f"<code>{results_sha256}</code>"))
    return rows


def _identity_section(document: dict[str, Any], results_sha256: str | None) -> str:
    return (f'<section id="identity"><h2>What was tested, on what</h2>{_dl(identity_rows(document, results_sha256))}'
            f"<h3>Capabilities</h3>{_capabilities(document)}</section>")


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
            mark = f" {_agreement(outcome)}" if outcome else ""
            title = f' title="{escape(why)}"' if why else ""
            cells.append(f'<td data-profile="{escape(name)}" data-outcome="{escape(outcome or "")}"{title}>{_facts(facts)}{mark}</td>')
        like = _like(entry) if entry else _agreement(document["clauses"].get(cid, outcomes.UNTESTED)) + " under the declared profile"
        rows.append(
            f'<tr class="deviation" data-clause="{escape(cid)}"><td class="id"><a href="#clause-{escape(cid)}">'
            f"<code>{escape(cid)}</code></a></td><td>{escape(catalog[cid].requirement)}</td>{''.join(cells)}<td>{like}</td></tr>"
        )
    table = (
        f'<table id="deviations"><thead><tr><th>Clause</th><th>Requirement</th>{heads}<th>Target behaves like</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    intro = (
        "<p>These are <b>accepted deviations</b>, not failures: the spec leaves each of these clauses to the "
        "implementation. Per clause, what each known profile declares and whether the target behaves like it "
        "(its tests, checked against that profile's facts over the target's own ABI: <i>agrees</i> or "
        "<i>differs</i>). The target is judged only against its declared profile; the checks that differ "
        "from other profiles are listed after the table.</p>"
    )
    if not register:
        intro = ("<p><b>Not recorded in this run</b> (run <code>mroute-conformance run --deviations</code>): the "
                 "profiles' declared facts are shown with the outcome under the target's declared profile only.</p>")
    return (f'<section id="accepted-deviations" class="deviations"><h2>Accepted deviations (implementation-defined '
            f"behaviour)</h2>{intro}{_ranking(register)}{table}{_why(register)}</section>")


def _agreement(outcome: str) -> str:
    """A profile check's outcome in neutral words: agrees (pass), differs (fail/error), else as is."""
    word = {outcomes.PASS: "agrees", outcomes.FAIL: "differs", outcomes.ERROR: "differs"}.get(outcome, outcome)
    return f'<span class="mark m-{escape(word)}" data-check="{escape(outcome)}">{escape(word)}</span>'



def _why(register: dict[str, Any] | None) -> str:
    items = [
        f"<li><code>{escape(cid)}</code> under <b>{escape(name)}</b>: <span class=\"msg\">{escape(message)}</span></li>"
        for cid, entry in (register or {}).get("clauses", {}).items()
        for name, message in entry["messages"].items()
        if entry["outcomes"].get(name) in (outcomes.FAIL, outcomes.ERROR)
    ]
    return f'<h3>How the target differs from other profiles</h3><ul class="why">{"".join(items)}</ul>' if items else ""


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


def render(
    document: dict[str, Any],
    results_sha256: str | None = None,
    previous: dict[str, Any] | None = None,
    allure: str | None = None,
) -> str:
    """The complete report for a results.json ``document``; ``previous`` is the run before it in the
    same report directory (for "since the previous run"), ``allure`` a link to Allure's page."""
    catalog = load_catalog()
    title = f"{verdict(document).upper()}: mroute-conformance report: {document['target']['name']} ({document['target']['profile']})"
    body = "".join(
        (
            _header(document, previous, allure),
            _attention_section(document, catalog),
            _since_section(document, previous),
            _chart_section(document, catalog),
            _identity_section(document, results_sha256),
            _totals(document),
            _deviation_section(document, catalog),
            _clause_table(document, catalog),
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


PREVIOUS_NAME = "previous-results.json"  # the report directory's results.json of the run before


def write_report(
    document: dict[str, Any], path: Path, results_file: Path | None = None, previous: Path | None = None
) -> Path:
    """Render ``document`` to ``path``; the results file's sha256 goes into the report when given.

    ``previous`` (default: previous-results.json beside ``path``) is compared clause by clause; the
    Allure page is linked when allure-report/index.html exists beside ``path``.
    """
    digest = hashlib.sha256(results_file.read_bytes()).hexdigest() if results_file and results_file.exists() else None
    earlier = load_previous(previous if previous is not None else path.parent / PREVIOUS_NAME)
    allure = ALLURE_INDEX if (path.parent / ALLURE_INDEX).is_file() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(document, digest, earlier, allure), encoding="utf-8")
    return path


def load_previous(path: Path) -> dict[str, Any] | None:
    """An earlier results.json to compare with, or None if there is none readable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and isinstance(document.get("clauses"), dict) else None
