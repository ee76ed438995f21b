"""Exceptions of the Linux target."""

from __future__ import annotations


class TargetUnavailable(RuntimeError):
    """The Linux target cannot run here (not root, no CONFIG_IP_MROUTE, no iproute2...).

    The plugin turns it into a visible skip carrying ``reason``; it is never a test failure.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
