"""``mroute-conformance profiles [NAME] [--diff OTHER] [--json]``: what each profile asserts, and why.

Without NAME: one line per profile. With NAME: every fact, ABI field and errno path of that
profile with its value and the citation it rests on (``Profile.sources``), so a reader of a
verdict can check the expectation against the implementation's code. ``--diff OTHER`` keeps only
the rows whose value differs between the two profiles.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from typing import Any

from conformance.errors import UsageError
from conformance.fixtures.names import jsonable
from reference_impl.profiles import PROFILES, Profile, cited_keys, field_kind


def _value(profile: Profile, key: str) -> Any:
    if key.startswith("errnos."):
        return profile.errnos[key.removeprefix("errnos.")]
    return jsonable(getattr(profile, key))


def rows(profile: Profile) -> list[dict[str, Any]]:
    """One row per cited key of ``profile``, in field order (errno paths where ``errnos`` is)."""
    order = [f.name for f in fields(Profile)]
    keys = sorted(cited_keys(profile), key=lambda k: (order.index(k.partition(".")[0] if k.startswith("errnos.") else k), k))
    return [{"key": k, "kind": field_kind(k.partition(".")[0] if k.startswith("errnos.") else k),
             "value": _value(profile, k), "source": profile.sources.get(k, "(no source)")} for k in keys]


def _profile(name: str, option: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"{option}: unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}") from None


def cmd_profiles(args: argparse.Namespace, extra: list[str]) -> int:
    """List the profiles, or show one profile's facts with their sources."""
    if extra:
        raise UsageError(f"profiles takes no pytest arguments (got {extra[0]!r})")
    if args.name is None:
        if args.diff:
            raise UsageError("--diff: needs a profile NAME to compare with")
        for p in PROFILES.values():
            print(f"  {p.name:<15} {p.description}")
        return 0
    profile = _profile(args.name, "NAME")
    table = rows(profile)
    if args.diff:
        other = _profile(args.diff, "--diff")
        theirs = {r["key"]: r for r in rows(other)}
        table = [dict(r, other={"value": theirs[r["key"]]["value"] if r["key"] in theirs else None,
                                "source": theirs.get(r["key"], {}).get("source")})
                 for r in table if r["key"] not in theirs or theirs[r["key"]]["value"] != r["value"]]
    if args.json:
        print(json.dumps({"profile": profile.name, "description": profile.description,
                          "compared_with": args.diff, "rows": table}, indent=1))
        return 0
    print(f"{profile.name}: {profile.description}" + (f" (rows that differ from {args.diff})" if args.diff else ""))
    for r in table:
        print(f"  {r['key']} = {json.dumps(r['value'])}  [{r['kind']}]\n      source: {r['source']}")
        if "other" in r:
            print(f"      {args.diff}: {json.dumps(r['other']['value'])}  source: {r['other']['source']}")
    return 0


def add_profiles(commands: argparse._SubParsersAction) -> None:
    """Register the ``profiles`` subcommand."""
    parser = commands.add_parser(
        "profiles", allow_abbrev=False, help="list the profiles, or one profile's facts with their sources"
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="the profile to show (default: list them)")
    parser.add_argument("--diff", metavar="OTHER", help="only the rows whose value differs in profile OTHER")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=cmd_profiles, valid_options="NAME, --diff, --json")
