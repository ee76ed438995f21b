"""Turn a ``--target`` spec and ``--profile`` name into a Target.

``reference`` (the in-process model, any profile, default ``documented``), ``linux`` (the real
kernel, profile ``linux``), ``stdio:COMMAND`` / ``tcp:HOST:PORT`` (an agent, see ``remote``), or
``MODULE:CLASS`` (a user adapter, called with the profile or None).
Target modules are imported lazily: building one never imports the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from conformance.targets import remote
from conformance.targets.base import TargetUnavailable
from reference_impl.profiles import PROFILES, Profile, get_profile

if TYPE_CHECKING:
    from conformance.targets.base import Target

BUILTIN = ("reference", "linux", "linux-vm")
DEFAULT_PROFILE = {"reference": "documented", "linux": "linux", "linux-vm": "linux"}
ALLOWED_PROFILES = {"reference": tuple(PROFILES), "linux": ("linux",), "linux-vm": ("linux",)}
TARGET_CHOICES = "reference, linux, or MODULE:CLASS (or an agent: stdio:COMMAND, tcp:HOST:PORT)"


class UsageError(Exception):
    """A bad target or profile; the message is one line naming the value and the valid choices."""


def _import_class(spec: str) -> type:
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise UsageError(f"unknown target {spec!r}; valid targets: {TARGET_CHOICES}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"target {spec!r}: cannot import module {module_name!r} ({exc})") from None
    cls = getattr(module, class_name, None)
    if not callable(cls):
        raise UsageError(f"target {spec!r}: module {module_name!r} has no class {class_name!r}")
    return cls


def resolve_profile(spec: str, profile: str | None) -> Profile | None:
    """Check ``spec`` and ``profile`` without building anything; the Profile to build with."""
    if remote.is_remote(spec):
        try:
            remote.check_spec(spec)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        name = profile
    elif spec not in BUILTIN:
        _import_class(spec)
        name = profile
    else:
        name = profile or DEFAULT_PROFILE[spec]
        if name not in ALLOWED_PROFILES[spec]:
            raise UsageError(
                f"invalid profile {name!r} for target {spec!r}; valid profiles: {', '.join(ALLOWED_PROFILES[spec])}"
            )
    if name is None:
        return None
    if name not in PROFILES:
        raise UsageError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}")
    return get_profile(name)


def target_name(spec: str) -> str:
    """A short display name for ``spec``: the builtin name or the adapter class's ``name``."""
    if spec in BUILTIN or remote.is_remote(spec):
        return spec
    name = getattr(_import_class(spec), "name", None)
    return name if isinstance(name, str) and name != "abstract" else spec


def build_target(spec: str, profile: str | None) -> Target:
    """Build the target named by ``spec`` with ``profile`` (None: the target's default).

    Raises UsageError for a bad spec or profile; the linux target may raise its
    ``TargetUnavailable`` when this machine cannot run it.
    """
    profile_obj = resolve_profile(spec, profile)
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
        return remote.build_remote(spec, profile_obj)
    return _import_class(spec)(profile_obj)


def unavailable_reason(exc: BaseException) -> str | None:
    """The reason when ``exc`` is a ``TargetUnavailable`` (the target cannot run here), else None."""
    if isinstance(exc, TargetUnavailable):
        return str(exc) or type(exc).__name__
    return None
