"""Writing an expectations file from a run's results.json (``expectations --update``).

Every ``fail``/``error`` test becomes a test entry whose reason is its failure message (the
message before any expectation mismatch, as a ``reason_regex`` when it holds run-dependent parts
such as packet marker numbers); ``expected-fail`` tests keep the entry that matched
them; ``unexpected-pass`` tests are dropped. TOML is written by hand (the stdlib only reads it).
"""

from __future__ import annotations

import json
import re
from typing import Any

from conformance import outcomes
from conformance.expectations.entries import FORMAT, Entry, parse


def entries_from_results(document: dict[str, Any]) -> list[tuple[Entry, list[str]]]:
    """The entries a new file needs for this run, each with the clause IDs it concerns."""
    applied = {a["id"]: a for a in (document.get("expectations") or {}).get("applied", [])}
    out: list[tuple[Entry, list[str]]] = []
    kept: set[Entry] = set()
    for test in document["tests"]:
        record = applied.get(test["id"])
        if test["outcome"] == outcomes.EXPECTED_FAIL and record is not None:
            entry = parse({"format": FORMAT, "expect": [record["entry"]]}, "results.json")[0]
            if entry not in kept:
                kept.add(entry)
                out.append((entry, test["clauses"]))
        elif test["outcome"] in (outcomes.FAIL, outcomes.ERROR):
            message = record["message"] if record is not None else test["message"]
            out.append((_test_entry(test["id"], test["outcome"], message), test["clauses"]))
    return out


# Parts of a message that change from run to run (with -n, -k, or the process): a test packet's
# marker number ("#933", numbered across the whole process) and a Python object's address.
VOLATILE = re.compile(r"#\d+|\bat 0x[0-9a-fA-F]+")
VOLATILE_REGEX = {"#": r"#\d+", "a": r"at 0x[0-9a-fA-F]+"}


def _test_entry(nodeid: str, outcome: str, message: str) -> Entry:
    if not message:
        return Entry(nodeid, None, outcome, None, "^$")
    if not VOLATILE.search(message):
        return Entry(nodeid, None, outcome, message, None)
    return Entry(nodeid, None, outcome, None, stable_regex(message))


def stable_regex(message: str) -> str:
    """A ``reason_regex`` matching ``message`` with any marker number or object address."""
    parts, last = [], 0
    for m in VOLATILE.finditer(message):
        parts += [re.escape(message[last : m.start()]), VOLATILE_REGEX[m.group()[0]]]
        last = m.end()
    return "".join([*parts, re.escape(message[last:])])


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string (JSON escapes are TOML escapes; DEL must be escaped too)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def render_toml(target: str, entries: list[tuple[Entry, list[str]]], header: list[str]) -> str:
    """The text of an expectations file: header comments, format, target, one table per entry."""
    lines = [f"# {line}" if line else "#" for line in header]
    lines += [f"format = {toml_string(FORMAT)}", f"target = {toml_string(target)}"]
    for entry, clauses in entries:
        lines.append("")
        if clauses:
            lines.append(f"# clauses: {', '.join(clauses)}")
        lines.append("[[expect]]")
        lines += [f"{key} = {toml_string(value)}" for key, value in entry.as_json().items()]
    return "\n".join(lines) + "\n"


def render_json(target: str, entries: list[tuple[Entry, list[str]]]) -> str:
    """The same file as JSON."""
    document = {"format": FORMAT, "target": target, "expect": [entry.as_json() for entry, _ in entries]}
    return json.dumps(document, indent=2) + "\n"


def file_from_results(document: dict[str, Any], source: str, as_json: bool = False) -> str:
    """A complete expectations file for the run in ``document`` (read from ``source``)."""
    target = document["target"]
    entries = entries_from_results(document)
    if as_json:
        return render_json(target["name"], entries)
    details = target.get("details") or {}
    fingerprint = ", ".join(f"{k} {details[k]}" for k in ("kernel", "machine") if k in details)
    header = [
        f"Expected failures of target {target['name']} (profile {target['profile']}).",
        f"Written by 'mroute-conformance expectations --update' from {source}"
        + (f" ({fingerprint})." if fingerprint else "."),
        "Each reason is the failure message (matched as a substring; a message with packet marker numbers",
        "or object addresses becomes a reason_regex that accepts any); shorten it, or use reason_regex,",
        "so that it names the deviation and not incidental numbers. See docs/expectations.md.",
    ]
    return render_toml(target["name"], entries, header)
