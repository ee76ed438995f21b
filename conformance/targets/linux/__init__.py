"""The ``linux`` target: the running kernel's ipmr/ip6mr in private network namespaces.

``LinuxTarget()`` raises ``TargetUnavailable(reason)`` when the host cannot run it (not root, no
CONFIG_IP_MROUTE, no iproute2, namespaces refused); the plugin reports that as a skip.
"""

from conformance.targets.linux.errors import TargetUnavailable
from conformance.targets.linux.target import LinuxTarget

__all__ = ["LinuxTarget", "TargetUnavailable"]
