"""Targets registered under the ``mroute_conformance.targets`` entry-point group, builtins included.

A third-party package adds ``[project.entry-points."mroute_conformance.targets"] NAME =
"module:Class"`` and ``--target NAME`` finds it. The builtins are registered the same way in
pyproject.toml; ``BUILTIN`` repeats them so a checkout that was not (re)installed still has them.
Loading checks that the class is a ``Target`` subclass; every failure is one line.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from importlib import metadata

from conformance.targets.base import Target

GROUP = "mroute_conformance.targets"
BUILTIN = {
    "reference": "conformance.targets.reference:ReferenceTarget",
    "linux": "conformance.targets.linux:LinuxTarget",
    "linux-vm": "conformance.targets.vm.target:LinuxVmTarget",
}
OWN_DIST = "mroute-conformance"


class TargetLoadError(Exception):
    """The target's class cannot be loaded or is not a Target; the message is one line."""


@dataclass(frozen=True)
class TargetEntry:
    """One registered target: ``--target`` name, ``module:Class`` and where it came from."""

    name: str
    value: str
    origin: str


def discover() -> dict[str, TargetEntry]:
    """Every registered target by name: the builtins first, then installed entry points.

    A third-party entry point cannot replace a builtin name (it is listed under ``dist:name``).
    """
    found = {name: TargetEntry(name, value, "builtin") for name, value in BUILTIN.items()}
    for ep in metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "unknown"
        if ep.name in BUILTIN:
            if dist == OWN_DIST:
                continue  # our own pyproject registration of a builtin
            name = f"{dist}:{ep.name}"
        else:
            name = ep.name
        version = f" {ep.dist.version}" if ep.dist is not None else ""
        found.setdefault(name, TargetEntry(name, ep.value, f"entry point of {dist}{version}"))
    return found


def load_class(spec: str, value: str) -> type[Target]:
    """Import ``value`` (``module:Class``) for target ``spec``; a Target subclass or TargetLoadError."""
    module_name, _, class_name = value.partition(":")
    if not module_name or not class_name:
        raise TargetLoadError(f"target {spec!r}: {value!r} is not MODULE:CLASS")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetLoadError(f"target {spec!r}: cannot import module {module_name!r} ({exc})") from None
    except Exception as exc:  # a module that fails while importing: one line, not its traceback
        raise TargetLoadError(f"target {spec!r}: importing it failed: {type(exc).__name__}: {_first_line(exc)}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise TargetLoadError(f"target {spec!r}: module {module_name!r} has no class {class_name!r}")
    if not (inspect.isclass(cls) and issubclass(cls, Target)):
        raise TargetLoadError(f"target {spec!r}: {cls!r} is not a subclass of conformance.targets.base.Target")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise TargetLoadError(f"target {spec!r}: class {cls.__name__} cannot be built: it does not implement {missing}")
    return cls


def describe(cls: type) -> str:
    """The first line of the class docstring (what ``targets`` shows)."""
    return _first_line(inspect.getdoc(cls) or "")


def _first_line(text: object) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[0] if lines else ""
