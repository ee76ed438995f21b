"""Checking a target against another profile's implementation-defined facts (the deviation pass).

A profile mixes two kinds of data. ABI facts (option and ioctl numbers, struct layouts, upcall
images, the option-number ranges, the advanced-API capability) say how to *speak* to the target
and stay the target's own. Every other field is an implementation-defined *fact* (an errno, a
queue depth, an expiry time, a conflict rule) that the tests *check*. A variant keeps the
target's ABI and takes another profile's facts, so "does this target behave like FreeBSD here?"
becomes "do the clause's tests pass under the variant?". The target itself is never changed:
:class:`ProfileView` only shows the tests a different profile.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from mroute_spec.catalog import Clause
from reference_impl.profiles import Profile, field_kind, get_profile

# Fields that describe how to talk to the target (and its citations), never what it should do.
ABI_FIELDS = frozenset(f.name for f in fields(Profile) if field_kind(f.name) != "fact")


def fact_fields() -> list[str]:
    """The Profile fields that are implementation-defined facts (every field not in ABI_FIELDS)."""
    return [f.name for f in fields(Profile) if f.name not in ABI_FIELDS]


def facts_of(profile: Profile) -> dict[str, Any]:
    """The implementation-defined facts of ``profile``, by field name."""
    return {name: getattr(profile, name) for name in fact_fields()}


def variant(base: Profile | None, other: Profile) -> Profile:
    """``other``'s facts on ``base``'s ABI, named after ``other`` (``other`` itself without a base)."""
    if base is None:
        return other
    return replace(
        base,
        name=other.name,
        description=f"{other.name} facts on the {base.abi_name} ABI of profile {base.name}",
        **facts_of(other),
        sources={**{k: v for k, v in base.sources.items() if field_kind(k) != "fact"},
                 **{k: v for k, v in other.sources.items() if field_kind(k) == "fact"}},
    )


class ProfileView:
    """A target that shows the tests ``profile`` instead of its own; everything else is the target's.

    The model or kernel underneath keeps the profile it was built with: only the expectations
    the tests read (``target.profile``, the harness's profile) change.
    """

    def __init__(self, inner: object, profile: Profile) -> None:
        self._inner = inner
        self.profile = profile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def checks_deviation(clause_ids: list[str], catalog: dict[str, Clause]) -> bool:
    """Does a test of these clauses belong to the deviation pass (any non-MUST clause)?"""
    return any(catalog[cid].requirement != "MUST" for cid in clause_ids if cid in catalog)


def view_as(target: Any, profile_name: str) -> ProfileView:
    """``target`` shown to the tests with ``profile_name``'s facts over its own ABI."""
    return ProfileView(target, variant(getattr(target, "profile", None), get_profile(profile_name)))
