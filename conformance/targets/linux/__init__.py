"""The ``linux`` target: the running kernel's ipmr/ip6mr in private network namespaces.

``LinuxTarget()`` raises ``TargetUnavailable(reason)`` when the host cannot run it (not root, no
CONFIG_IP_MROUTE, no iproute2, namespaces or veths refused); the plugin reports that as a skip.

Timing contract (the part a test author must know):
* ``collect()`` returns the test frames the router emitted since the previous call (or reset), per
  port, after ``quiet`` (30 ms) without a new test frame, counted from the last stimulus (``send``
  or ``setsockopt``). With no stimulus in the last 30 ms it is a single non-blocking poll (~5 us).
  Only frames to 232/8, ff3e::/16, PIM, or unicast to a peer address count (see ``wire``).
* ``recv_all()`` waits up to 50 ms after the last stimulus for a first datagram, then 5 ms gaps.
* ``advance()`` really sleeps. Windows can be widened with MROUTE_LINUX_QUIET_S and
  MROUTE_LINUX_RECV_FIRST_S; ``python -m conformance.targets.linux.calibrate`` measures a host.
"""

from conformance.targets.linux.errors import TargetUnavailable
from conformance.targets.linux.target import LinuxTarget

__all__ = ["LinuxTarget", "TargetUnavailable"]
