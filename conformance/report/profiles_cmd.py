"""``mroute-conformance profiles [NAME|FILE.toml] [--diff OTHER] [--json|--toml]``: what each
profile asserts, and why.

Without NAME: one line per profile. With NAME: every fact, ABI field and errno path of that
profile with its value and the citation it rests on (``Profile.sources``), so a reader of a
verdict can check the expectation against the implementation's code. ``--diff OTHER`` keeps only
the rows whose value differs between the two profiles. A profile file (reference_impl/profile_files.py)
is shown like a built-in one, so its author sees every value it ends up with; ``--toml`` writes a
profile as a complete file, the starting point for describing another implementation.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from typing import Any

import tomli_w

from conformance.errors import UsageError
from conformance.fixtures.names import jsonable
from reference_impl.profile_files import ProfileFileError, is_profile_file, load_profile_file
from reference_impl.profiles import PROFILES, Profile, cited_keys, field_kind


def _value(profile: Profile, key: str) -> Any:
    if key.startswith("errnos."):
        return profile.errnos[key.removeprefix("errnos.")]
    return jsonable(getattr(profile, key))


def rows(profile: Profile) -> list[dict[str, Any]]:
    """One row per cited key of ``profile``, in field order (errno paths where ``errnos`` is)."""
    order = [f.name for f in fields(Profile)]
    keys = sorted(cited_keys(profile), key=lambda k: (order.index(k.partition(".")[0] if k.startswith("errnos.") else k), k))
    return [{"key": k, "kind": field_kind(k),
             "value": _value(profile, k), "source": profile.sources.get(k, "(no source)")} for k in keys]


def profile_toml(profile: Profile, name: str, description: str) -> str:
    """``profile`` as a complete profile file (no ``extends``) named ``name``: every field, every citation."""
    def toml_value(value: Any) -> Any:
        if value is None:
            return "none"
        if isinstance(value, frozenset):
            return sorted(value)
        return list(value) if isinstance(value, tuple) else value

    skip = ("name", "description", "errnos", "required_setup", "sources")
    data: dict[str, Any] = {"name": name, "description": description}
    data |= {f.name: toml_value(getattr(profile, f.name)) for f in fields(Profile) if f.name not in skip}
    data["errnos"] = dict(sorted(profile.errnos.items()))
    data["required_setup"] = [s.describe() for s in profile.required_setup]
    data["sources"] = dict(sorted(profile.sources.items()))
    return tomli_w.dumps(data)


def _profile(name: str, option: str) -> Profile:
    if is_profile_file(name):
        try:
            return load_profile_file(name)
        except ProfileFileError as exc:
            raise UsageError(f"{option}: {exc}") from None
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
    if args.toml:
        if args.diff or args.json:
            raise UsageError("--toml: takes neither --diff nor --json")
        print(f"# {profile.name} as a profile file: rename it, change what differs and cite the change", end="\n")
        print(profile_toml(profile, f"my-{profile.name}", f"{profile.description} (edit me)"), end="")
        return 0
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
    parser.add_argument("name", nargs="?", metavar="NAME",
                        help="the profile to show, a name or a profile file FILE.toml (default: list them)")
    parser.add_argument("--diff", metavar="OTHER", help="only the rows whose value differs in profile OTHER")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--toml", action="store_true", help="the profile as a complete profile file (--profile FILE.toml)")
    parser.set_defaults(func=cmd_profiles, valid_options="NAME, --diff, --json, --toml")
