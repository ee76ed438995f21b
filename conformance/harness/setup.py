"""A profile's required set-up on the routing sockets the harness opens (SetupStep ``sockopt``).

The option numbers are the profile ABI's (mroute_spec.options.SOCKET_OPTIONS: SOL_SOCKET is 1 on
Linux and 0xffff on the BSDs), handed to the target unchanged like the routing options; ``sysctl``
steps are the operator's, listed in results.json's target section, never applied here.
"""

from __future__ import annotations

import struct

from conformance.targets.base import SocketHandle, Target
from reference_impl.profiles import Profile, SetupStep


def socket_steps(profile: Profile, version: int) -> list[SetupStep]:
    """The profile's ``sockopt`` steps for a routing socket of IP ``version``."""
    return [s for s in profile.required_setup if s.kind == "sockopt" and version in s.versions]


def apply(target: Target, sock: SocketHandle, profile: Profile, version: int) -> None:
    """Set each of the profile's socket options on ``sock``; a refusal is a set-up failure, raised."""
    for step in socket_steps(profile, version):
        level, number = profile.sockopt(step.name)
        try:
            target.setsockopt(sock, level, number, struct.pack("<i", step.value))
        except OSError as e:
            raise RuntimeError(f"required set-up {step.name}={step.value} on the IPv{version} routing socket "
                               f"failed: {e} ({step.reason})") from e
