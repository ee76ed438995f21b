"""The deviation register: per implementation-defined or conflict clause, what each known profile
declares and which profiles' expectations the target met.

``run --deviations`` re-runs the tests of those clauses once per known profile, each time with
that profile's facts over the target's own ABI (see :mod:`conformance.report.variants`), and
stores the outcome per clause and profile under ``deviations`` in results.json. A profile
*agrees* on a clause when the clause's tests pass under it; :func:`ranking` orders the profiles
by agreement, which is what ``profile-match`` prints.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from conformance import outcomes
from conformance.report.variants import facts_of
from conformance.results import clause_outcomes
from mroute_spec.catalog import Clause, load_catalog
from reference_impl.profiles import PROFILES, Profile

# The profile facts each clause's outcome depends on (``errnos.<path>`` for an errno path).
CLAUSE_FACTS: dict[str, tuple[str, ...]] = {
    "socket.non-router": (
        "errnos.socket.non_router", "errnos.socket6.non_router", "errnos.done.non_router",
        "errnos.socket6.get_non_router",
    ),
    "init.disable-value": ("init_value",),
    "init.pim": ("pim_sets_assert",),
    "vif.threshold": ("vif_threshold_applies",),
    "vif.index-range": ("maxvifs", "errnos.vif.index_range"),
    "vif.tunnel": ("errnos.vif.tunnel",),
    "vif.rate-limit": ("vif_rate_limit", "errnos.vif.rate_limit"),
    "mif.index-range": ("maxmifs", "errnos.mif.index_range"),
    "nocache.queue-depth": ("nocache_queue_depth", "nocache6_queue_depth"),
    "nocache.expiry": ("nocache_expiry",),
    "nocache.ttl-le-1": ("nocache_ttl_le_1_upcall",),
    "mfc.delete-absent": ("errnos.mfc.del_absent", "errnos.mfc6.del_absent", "mfc4_delete_pending"),
    "mfc.exact-match": ("mfc_lookup",),
    "counters.sg": ("counters_include_wrong_if",),
    "register.border-bit": ("border_bit_from",),
    "bw.geq-first-interval": ("bw_first_interval",),
    "bw.batch-max": ("bw_upcalls_max", "bw_message_max", "bw_flush_at", "bw_threshold_flush"),
    "input.unknown-option": ("errnos.option.unknown", "errnos.option.unknown_in_range"),
}
SUCCEEDS = "succeeds"  # how an errno path without an errno (the call succeeds) is shown
AGREE, DISAGREE = frozenset({outcomes.PASS}), frozenset({outcomes.FAIL, outcomes.ERROR})

# (profile name, results path) -> pytest exit status: runs the deviation pass for one profile
RunVariant = Callable[[str, Path], int]


def deviation_clauses(catalog: dict[str, Clause] | None = None) -> list[str]:
    """The IDs of every implementation-defined or conflict clause of the seed API, in catalog order."""
    catalog = catalog or load_catalog()
    # extension clauses (issue 13) are not compared across profiles: absent is "unsupported"
    return [cid for cid, clause in catalog.items() if clause.requirement != "MUST" and clause.extension is None]


def _json_value(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def declared(profile: Profile, clause_id: str) -> dict[str, Any]:
    """The facts ``profile`` declares for ``clause_id`` (field or errno path -> value)."""
    out: dict[str, Any] = {}
    for fact in CLAUSE_FACTS.get(clause_id, ()):
        if fact.startswith("errnos."):
            path = fact.removeprefix("errnos.")
            out[path] = profile.errnos.get(path, SUCCEEDS)
        else:
            out[fact] = _json_value(getattr(profile, fact))
    return out


def first_messages(document: dict[str, Any], clause_ids: Iterable[str]) -> dict[str, str]:
    """The message of the worst test of each clause that did not pass (none for a pass)."""
    out: dict[str, str] = {}
    for cid in clause_ids:
        tests = [t for t in document["tests"] if cid in t["clauses"] and t["outcome"] != outcomes.PASS]
        if tests:
            worst = min(tests, key=lambda t: outcomes.SEVERITY.index(t["outcome"]))
            out[cid] = worst["message"]
    return out


def build_register(
    per_profile: dict[str, dict[str, Any]],
    base_profile: str | None,
    from_main_run: str | None = None,
    profiles: dict[str, Profile] = PROFILES,
) -> dict[str, Any]:
    """The ``deviations`` section from one deviation-pass results.json per profile name."""
    ids = deviation_clauses()
    messages = {name: first_messages(doc, ids) for name, doc in per_profile.items()}
    clauses: dict[str, Any] = {}
    for cid in ids:
        seen = {name: doc["clauses"].get(cid, outcomes.UNTESTED) for name, doc in per_profile.items()}
        clauses[cid] = {
            "requirement": load_catalog()[cid].requirement,
            "outcomes": seen,
            "matches": [name for name, outcome in seen.items() if outcome in AGREE],
            "messages": {name: messages[name][cid] for name in seen if cid in messages[name]},
            "declared": {name: declared(profiles[name], cid) for name in per_profile},
        }
    return {
        "method": "the tests of every implementation-defined and conflict clause, re-run once per known "
        "profile with that profile's facts over the target's own ABI",
        "base_profile": base_profile,
        "from_main_run": from_main_run,
        "profiles": list(per_profile),
        "clauses": clauses,
        "ranking": ranking(clauses, list(per_profile)),
    }


def ranking(clauses: dict[str, Any], profiles: list[str]) -> list[dict[str, Any]]:
    """Profiles by agreement: most clauses passed first, then fewest failed, then catalog order."""
    rows = []
    for name in profiles:
        seen = [entry["outcomes"].get(name, outcomes.UNTESTED) for entry in clauses.values()]
        agree = sum(o in AGREE for o in seen)
        disagree = sum(o in DISAGREE for o in seen)
        differs = [cid for cid, e in clauses.items() if e["outcomes"].get(name) in DISAGREE]
        rows.append({"profile": name, "agree": agree, "disagree": disagree,
                     "undecided": len(seen) - agree - disagree, "differs": differs})
    return sorted(rows, key=lambda r: (-r["agree"], r["disagree"], profiles.index(r["profile"])))


def collect(
    run_variant: RunVariant, workdir: Path, own: Profile | None, main: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Run the deviation pass for every known profile (the main run stands in for the target's own
    profile when it is one of them); the register and any problems met."""
    per_profile: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for name in PROFILES:
        if reusable(own, name):
            per_profile[name] = unadjusted(main)
            continue
        path = workdir / f"{name}.json"
        path.unlink(missing_ok=True)
        rc = run_variant(name, path)
        if not path.exists():
            problems.append(f"profile {name}: pytest exited with {rc} and wrote no results")
            continue
        per_profile[name] = json.loads(path.read_text(encoding="utf-8"))
    reused = next((name for name in per_profile if reusable(own, name)), None)
    return build_register(per_profile, own.name if own else None, reused), problems


def match_lines(document: dict[str, Any]) -> list[str]:
    """``profile-match`` output: the ranking, and the clauses each profile differs on."""
    register = document["deviations"]
    target = document["target"]
    decided = sum(
        1 for e in register["clauses"].values() if any(o in AGREE | DISAGREE for o in e["outcomes"].values())
    )
    lines = [
        f"{target['name']} (declared profile {target['profile']}): {len(register['clauses'])} "
        f"implementation-defined/conflict clauses, {decided} observed"
    ]
    width = max(len(r["profile"]) for r in register["ranking"]) if register["ranking"] else 0
    for i, row in enumerate(register["ranking"], 1):
        differs = f": {', '.join(row['differs'])}" if row["differs"] else ""
        lines.append(
            f"{i}. {row['profile']:<{width}}  agrees on {row['agree']}, differs on {row['disagree']}{differs}"
        )
    return lines


def unadjusted(document: dict[str, Any]) -> dict[str, Any]:
    """The run as it was before its expectations file: outcomes per test and per clause."""
    applied = {a["id"]: a for a in (document.get("expectations") or {}).get("applied", [])}
    tests = []
    for test in document["tests"]:
        record = applied.get(test["id"])
        if record is not None:
            outcome = {
                outcomes.EXPECTED_FAIL: record["entry"].get("outcome", outcomes.FAIL),
                outcomes.UNEXPECTED_PASS: outcomes.PASS,
            }.get(test["outcome"], test["outcome"])
            test = {**test, "outcome": outcome, "message": record["message"]}
        tests.append(test)
    return {**document, "tests": tests, "clauses": clause_outcomes(tests, load_catalog())}


def reusable(own: Profile | None, name: str) -> bool:
    """Is the main run already the deviation pass of profile ``name`` (same name, same facts)?"""
    return own is not None and own.name == name and facts_of(own) == facts_of(PROFILES[name])
