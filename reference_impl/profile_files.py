"""A profile as a data file: an implementation described in TOML, checked like a built-in one.

A vendor whose stack behaves like FreeBSD except in a few facts writes those facts, each with its
source, and runs the suite with ``--profile FILE.toml``; no module changes. The file::

    name = "myrtos"                       # not a built-in profile's name
    description = "MyRTOS 4.2 mroute, arm64"
    extends = "freebsd"                   # optional: start from this profile's values and citations
    nocache_queue_depth = 4               # any Profile field (reference_impl/profiles.py)
    [errnos]                              # merged over the base's; "succeeds" removes a path
    "vif.in_use" = "EBUSY"
    [sources]                             # a citation for every value set above
    nocache_queue_depth = "myrtos net/mroute.c add_pending: MAX_PENDING 4"
    "errnos.vif.in_use" = "myrtos net/mroute.c vif_add"

Without ``extends`` every field the dataclass does not default must be given, and every fact
cited. Lists become the field's tuple or frozenset; ``"none"`` is None where a field allows it.
Any problem is a ``ProfileFileError`` naming the file and the key.
"""

from __future__ import annotations

import difflib
import errno as E
import hashlib
import tomllib
import types
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from mroute_spec.abi import ABIS
from reference_impl.profiles import PROFILES, Profile, SetupStep, cited_keys, missing_errnos

SUFFIX = ".toml"
REMOVE = "succeeds"  # an [errnos] value that removes the path: the call succeeds
_SPECIAL = ("name", "description", "extends", "errnos", "sources", "required_setup")


class ProfileFileError(ValueError):
    """A profile file that cannot be used; the message is one line: the path, the key, the problem."""


def is_profile_file(name: str) -> bool:
    """Whether a ``--profile`` value names a file rather than a built-in profile."""
    return name.endswith(SUFFIX)


def load_profile_file(path: str | Path) -> Profile:
    """The profile ``path`` describes, or ``ProfileFileError``."""
    where = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileFileError(f"{where}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileFileError(f"{where}: not TOML: {exc}") from None
    return profile_from_data(data, where)


def profile_file_record(path: str | Path) -> dict[str, Any]:
    """What results.json records of a profile file: where it was, its sha256, the profile it extends."""
    raw = Path(path).read_bytes()
    extends = tomllib.loads(raw.decode("utf-8")).get("extends")
    return {"path": str(Path(path).resolve()), "sha256": hashlib.sha256(raw).hexdigest(),
            "extends": extends if isinstance(extends, str) else None}


def profile_from_data(data: dict[str, Any], where: str) -> Profile:
    """Build and check a profile from a file's parsed TOML (``where`` names it in errors)."""
    hints = get_type_hints(Profile)
    known = {f.name for f in fields(Profile)} | {"extends"}
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ProfileFileError(f"{where}: unknown profile field {key!r}{hint}")
    name, description = _text(data, "name", where), _text(data, "description", where)
    if name in PROFILES:
        raise ProfileFileError(f"{where}: name {name!r} is a built-in profile's; choose another")
    base = _base(data, where)
    values = {k: _value(k, v, hints[k], where) for k, v in data.items() if k not in _SPECIAL}
    if "abi_name" in values and values["abi_name"] not in ABIS:
        raise ProfileFileError(f"{where}: abi_name {values['abi_name']!r} is not one of {', '.join(ABIS)}")
    errnos = _errnos(data.get("errnos", {}), base, where)
    setup = _setup(data["required_setup"], where) if "required_setup" in data else None
    sources = data.get("sources", {})
    if not isinstance(sources, dict) or not all(isinstance(v, str) and v.strip() for v in sources.values()):
        raise ProfileFileError(f"{where}: [sources] must map each cited key to a non-empty string")
    given = {**values, "errnos": errnos, **({"required_setup": setup} if setup is not None else {})}
    try:
        if base is None:
            missing = [f.name for f in fields(Profile) if f.default is MISSING and f.default_factory is MISSING
                       and f.name not in given and f.name not in ("name", "description")]
            if missing:
                raise ProfileFileError(f"{where}: without 'extends', {', '.join(missing)} must be given")
            profile = Profile(name=name, description=description, sources=dict(sources), **given)
        else:
            profile = replace(base, name=name, description=description,
                              sources={**base.sources, **sources}, **given)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, ProfileFileError):
            raise
        raise ProfileFileError(f"{where}: {exc}") from None
    _check_citations(profile, base, values, data.get("errnos", {}), sources, where)
    missing = missing_errnos(profile)
    if missing:
        raise ProfileFileError(f"{where}: [errnos] names no errno for {', '.join(missing)}, which the profile's "
                               "checks (add_vif_checks, add_mif_checks, table_checks) can fail with")
    keep = cited_keys(profile)  # a removed errno path takes its base citation with it
    return replace(profile, sources={k: v for k, v in profile.sources.items() if k in keep})


def _text(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ProfileFileError(f"{where}: {key!r} must be a non-empty string")
    return value


def _base(data: dict[str, Any], where: str) -> Profile | None:
    if "extends" not in data:
        return None
    name = data["extends"]
    if name not in PROFILES:
        raise ProfileFileError(f"{where}: extends {name!r}: not one of {', '.join(PROFILES)}")
    return PROFILES[name]


def _value(key: str, value: Any, hint: Any, where: str) -> Any:
    """``value`` as Profile field ``key`` (typed ``hint``) holds it."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType) and type(None) in args:
        if value == "none":
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _value(key, value, inner, where)
    if origin is Literal:
        return value  # Profile.__post_init__ names the allowed values
    if origin in (tuple, frozenset):
        if not isinstance(value, list):
            raise ProfileFileError(f"{where}: {key} must be a list")
        item = args[0]
        out = [_value(key, v, item, where) for v in value]
        if origin is tuple and (len(args) != 2 or args[1] is not Ellipsis) and len(out) != len(args):
            raise ProfileFileError(f"{where}: {key} must be a list of {len(args)}")
        return tuple(out) if origin is tuple else frozenset(out)
    if hint not in (bool, int, float, str):
        raise ProfileFileError(f"{where}: {key} cannot be set from a file")
    number = isinstance(value, int | float) and not isinstance(value, bool)
    ok = {bool: isinstance(value, bool), int: number and isinstance(value, int), float: number,
          str: isinstance(value, str)}[hint]
    if not ok:
        raise ProfileFileError(f"{where}: {key} must be {hint.__name__}, not {type(value).__name__} {value!r}")
    return float(value) if hint is float else value


def _errnos(table: Any, base: Profile | None, where: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ProfileFileError(f"{where}: [errnos] must be a table of path = \"ENAME\"")
    out = dict(base.errnos) if base is not None else {}
    for path, name in table.items():
        if name == REMOVE:
            out.pop(path, None)
        elif not isinstance(name, str) or not name.startswith("E") or not isinstance(getattr(E, name, None), int):
            raise ProfileFileError(f"{where}: errnos.{path} = {name!r} is not an errno name (or {REMOVE!r})")
        else:
            out[path] = name
    return out


def _setup(steps: Any, where: str) -> tuple[SetupStep, ...]:
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise ProfileFileError(f"{where}: required_setup must be an array of tables ([[required_setup]])")
    out = []
    for i, s in enumerate(steps, 1):
        try:
            step = SetupStep(**{**s, "versions": tuple(s.get("versions", (4, 6)))})
        except TypeError as exc:
            raise ProfileFileError(f"{where}: required_setup {i}: {exc}") from None
        if step.kind not in get_args(get_type_hints(SetupStep)["kind"]):
            raise ProfileFileError(f"{where}: required_setup {i}: kind {step.kind!r} is not one of "
                                   f"{', '.join(get_args(get_type_hints(SetupStep)['kind']))}")
        out.append(step)
    return tuple(out)


def _check_citations(profile: Profile, base: Profile | None, values: dict[str, Any], errnos: dict[str, Any],
                     sources: dict[str, str], where: str) -> None:
    """Every value the file sets is cited in the file; a profile from scratch cites every fact."""
    stale = [k for k in values if k in cited_keys(profile) and k not in sources]
    stale += [f"errnos.{p}" for p, n in errnos.items() if n != REMOVE and f"errnos.{p}" not in sources]
    if stale:
        raise ProfileFileError(f"{where}: [sources] does not cite {', '.join(sorted(stale))}")
    unknown = sorted(k for k in sources if k not in cited_keys(profile))
    if unknown:
        raise ProfileFileError(f"{where}: [sources] cites {', '.join(unknown)}, which the profile does not have")
    if base is None:
        missing = sorted(cited_keys(profile) - set(sources))
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise ProfileFileError(f"{where}: [sources] does not cite {', '.join(missing[:3])}{more}")
