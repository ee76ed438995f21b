"""Turn a ``--target`` spec and ``--profile`` name into a Target.

``reference`` (the in-process model, any profile, default ``documented``), ``linux`` (the real
kernel, profile ``linux``), ``stdio:COMMAND`` / ``tcp:HOST:PORT`` / ``ssh:HOST`` / ``serial:PATH``
(an agent, see ``remote``), a name registered under the ``mroute_conformance.targets`` entry-point
group (see ``entrypoints``), or ``MODULE:CLASS`` (a ``Target`` subclass, called with the profile or
None). ``--target-opt KEY=VALUE`` settings reach the target as ``options`` (see ``check_options``).
Target modules are imported lazily: building one never imports the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from conformance.targets import entrypoints, remote
from conformance.targets.base import TargetUnavailable
from reference_impl.profile_files import ProfileFileError, is_profile_file, load_profile_file
from reference_impl.profiles import PROFILES, Profile, get_profile

if TYPE_CHECKING:
    from conformance.targets.base import Target

BUILTIN = ("reference", "linux", "linux-vm")
DEFAULT_PROFILE = {"reference": "documented", "linux": "linux", "linux-vm": "linux"}
ALLOWED_PROFILES = {"reference": tuple(PROFILES), "linux": ("linux",), "linux-vm": ("linux",)}
TARGET_CHOICES = (
    "reference, linux, or MODULE:CLASS (or an agent: stdio:COMMAND, tcp:HOST:PORT, ssh:[USER@]HOST[:PORT], "
    "serial:PATH; or a name `mroute-conformance targets` lists)"
)


class UsageError(Exception):
    """A bad target or profile; the message is one line naming the value and the valid choices."""


def parse_target_options(items: Sequence[str] | None) -> dict[str, str]:
    """``--target-opt KEY=VALUE`` items (repeatable; a later KEY wins) as a dict."""
    options: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--target-opt {item!r}: expected KEY=VALUE")
        options[key.strip()] = value
    return options


def _import_class(spec: str) -> type[Target]:
    """The Target subclass for a registered name or MODULE:CLASS; UsageError with one line."""
    entry = entrypoints.discover().get(spec)
    if entry is None and ":" not in spec:
        raise UsageError(f"unknown target {spec!r}; valid targets: {TARGET_CHOICES}")
    try:
        return entrypoints.load_class(spec, entry.value if entry else spec)
    except entrypoints.TargetLoadError as exc:
        raise UsageError(str(exc)) from None


def check_options(spec: str, options: Mapping[str, str] | None) -> None:
    """UsageError naming the key and the valid ones when ``spec``'s target does not take an option.

    Agents take the keys their transport lists (``remote.TRANSPORT_OPTIONS``); a target class takes the
    keys of its ``options`` class attribute (a dict of key -> help); builtins take none.
    """
    if not options:
        return
    if remote.is_remote(spec):
        valid: Mapping[str, str] = remote.TRANSPORT_OPTIONS.get(spec.partition(":")[0], {})
    elif spec in BUILTIN:
        valid = {}
    else:
        declared = getattr(_import_class(spec), "options", None)
        valid = declared if isinstance(declared, Mapping) else {}
    for key in options:
        if key not in valid:
            choices = ", ".join(sorted(valid)) or "none"
            raise UsageError(f"--target-opt {key}=...: target {spec!r} has no option {key!r}; valid: {choices}")


def resolve_profile(spec: str, profile: str | None, options: Mapping[str, str] | None = None) -> Profile | None:
    """Check ``spec``, ``profile`` and ``options`` without building anything; the Profile to build with."""
    check_options(spec, options)
    if remote.is_remote(spec):
        try:
            remote.check_spec(spec, options)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        name = profile
    elif spec not in BUILTIN:
        _import_class(spec)
        name = profile
    else:
        name = profile or DEFAULT_PROFILE[spec]
        if name not in ALLOWED_PROFILES[spec] and not is_profile_file(name):
            raise UsageError(
                f"invalid profile {name!r} for target {spec!r}; valid profiles: {', '.join(ALLOWED_PROFILES[spec])}"
            )
    if name is None:
        return None
    if is_profile_file(name):
        return _profile_file(spec, name)
    if name not in PROFILES:
        raise UsageError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")
    return get_profile(name)


def _profile_file(spec: str, path: str) -> Profile:
    """A profile from a data file (reference_impl/profile_files.py); a built-in kernel target takes
    only one over its own ABI."""
    try:
        prof = load_profile_file(path)
    except ProfileFileError as exc:
        raise UsageError(f"--profile {exc}") from None
    if spec in BUILTIN:
        abis = sorted({PROFILES[n].abi_name for n in ALLOWED_PROFILES[spec]})
        if prof.abi_name not in abis:
            raise UsageError(f"--profile {path}: abi_name {prof.abi_name!r} does not fit target {spec!r} "
                             f"(its ABI: {', '.join(abis)})")
    return prof


def target_name(spec: str) -> str:
    """A short display name for ``spec``: the builtin name or the adapter class's ``name``."""
    if spec in BUILTIN or remote.is_remote(spec):
        return spec
    name = getattr(_import_class(spec), "name", None)
    return name if isinstance(name, str) and name != "abstract" else spec


def build_target(spec: str, profile: str | None, options: Mapping[str, str] | None = None) -> Target:
    """Build the target named by ``spec`` with ``profile`` (None: the target's default).

    Raises UsageError for a bad spec, profile or option; ``TargetUnavailable`` when this machine
    cannot run the target; whatever a target class's constructor raises (the plugin reports it
    in one line per test).
    """
    profile_obj = resolve_profile(spec, profile, options)
    if spec == "reference":
        from conformance.targets.reference import ReferenceTarget

        return ReferenceTarget(profile_obj)
    if spec == "linux":
        from conformance.targets.linux import LinuxTarget

        return LinuxTarget()
    if spec == "linux-vm":  # a kernel under qemu: MROUTE_VM_KERNEL / MROUTE_VM_ACCEL (docs/linux-vm.md)
        from conformance.targets.vm.target import LinuxVmTarget

        return LinuxVmTarget()
    if remote.is_remote(spec):
        return remote.build_remote(spec, profile_obj, options)
    factory: Callable[..., Target] = _import_class(spec)  # options: a keyword the base contract does not name
    return factory(profile_obj, options=dict(options)) if options else factory(profile_obj)


def unavailable_reason(exc: BaseException) -> str | None:
    """The reason when ``exc`` is a ``TargetUnavailable`` (the target cannot run here), else None."""
    if isinstance(exc, TargetUnavailable):
        return str(exc) or type(exc).__name__
    return None
