"""Assertions that explain themselves: errno by failure path, decoded diffs of upcalls and frames."""

from __future__ import annotations

import errno as E
from collections.abc import Iterator
from contextlib import contextmanager

from reference_impl.profiles import Profile


def errname(code: int | None) -> str:
    return "success" if code is None else E.errorcode.get(code, str(code))


@contextmanager
def outcome(profile: Profile, path: str, what: str = "") -> Iterator[None]:
    """The call inside must fail with the errno the profile names for ``path``.

    When the profile lists no errno for the path the call must succeed: that is how
    implementation-defined outcomes (e.g. Linux accepting a non-zero rate limit) are checked.
    """
    want = profile.errno_of(path)
    got: int | None = None
    try:
        yield
    except OSError as e:
        got = e.errno
    if got != want:
        label = f" ({what})" if what else ""
        raise AssertionError(
            f"{path}{label}: expected {errname(want)} per profile {profile.name!r}, got {errname(got)}"
        )


def fields_diff(expected: dict, got: dict) -> str:
    """'field: expected X, got Y' for every differing key."""
    lines = [f"  {k}: expected {shown(expected[k])}, got {shown(got.get(k))}" for k in expected if got.get(k) != expected[k]]
    return "\n".join(lines)


def shown(value: object) -> str:
    """A field value for a message, without Python reprs: bytes as hex, a missing value as 'absent'."""
    if value is None:
        return "absent"
    if isinstance(value, bytes | bytearray):
        return value.hex(" ") or "no bytes"
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return "[" + ", ".join(shown(v) for v in items) + "]"
    return str(value)


def assert_fields(what: str, expected: dict, got: dict) -> None:
    diff = fields_diff(expected, got)
    if diff:
        raise AssertionError(f"{what} differs:\n{diff}")
