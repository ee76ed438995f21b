"""Exceptions of the Linux target (the general one lives with the target contract)."""

from __future__ import annotations

from conformance.targets.base import TargetUnavailable

__all__ = ["TargetUnavailable"]
