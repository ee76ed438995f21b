"""Targets behind an agent: ``stdio:COMMAND`` (spawned, stdin/stdout) and ``tcp:HOST:PORT``.

The spec is checked without side effects by ``check_spec`` (for usage errors before a run);
``build_remote`` reaches the agent and shakes hands. An agent that cannot be reached or refuses
the handshake makes the target unavailable, with one line naming the agent and why.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass

from conformance.targets.base import Target, TargetUnavailable
from reference_impl.profiles import Profile

PREFIXES = ("stdio:", "tcp:")
TIMEOUT_ENV = "MROUTE_AGENT_TIMEOUT"


@dataclass(frozen=True)
class RemoteSpec:
    """A parsed agent spec: ``argv`` for stdio, ``host``/``port`` for tcp."""

    kind: str
    argv: tuple[str, ...] = ()
    host: str = ""
    port: int = 0


def is_remote(spec: str) -> bool:
    """True when ``spec`` names an agent transport rather than a builtin target or MODULE:CLASS."""
    return spec.startswith(PREFIXES)


def check_spec(spec: str) -> RemoteSpec:
    """Parse ``spec``; ``ValueError`` with a one-line message naming what is wrong."""
    kind, _, rest = spec.partition(":")
    if kind == "stdio":
        try:
            argv = shlex.split(rest)
        except ValueError as exc:
            raise ValueError(f"target {spec!r}: cannot split the command ({exc})") from None
        if not argv:
            raise ValueError(f"target {spec!r}: no command after 'stdio:'")
        if shutil.which(argv[0]) is None:
            raise ValueError(f"target {spec!r}: command {argv[0]!r} not found")
        return RemoteSpec("stdio", argv=tuple(argv))
    host, sep, port = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"target {spec!r}: expected tcp:HOST:PORT with a port from 1 to 65535")
    return RemoteSpec("tcp", host=host, port=int(port))


def agent_timeout() -> float:
    """Seconds to wait for any one answer (``MROUTE_AGENT_TIMEOUT``, default 30)."""
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw else 30.0
    except ValueError:
        raise TargetUnavailable(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    return value if value > 0 else 30.0


def build_remote(spec: str, profile: Profile | None) -> Target:
    """Reach the agent named by ``spec`` and return an ``AgentTarget`` over it."""
    from conformance.agent.client import AgentError, AgentTarget
    from conformance.agent.transport import connect_tcp, spawn_stdio

    try:
        parsed = check_spec(spec)
    except ValueError as exc:
        raise TargetUnavailable(str(exc)) from None
    timeout = agent_timeout()
    try:
        if parsed.kind == "stdio":
            connection, _ = spawn_stdio(list(parsed.argv), timeout=timeout, describe=f"agent {spec!r}")
        else:
            connection = connect_tcp(parsed.host, parsed.port, timeout=timeout)
        return AgentTarget(connection, profile)
    except AgentError as exc:
        raise TargetUnavailable(str(exc)) from None
