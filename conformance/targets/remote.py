"""Targets behind an agent: ``stdio:COMMAND``, ``tcp:HOST:PORT``, ``ssh:[USER@]HOST[:PORT]``, ``serial:PATH``.

The spec is checked without connecting by ``check_spec`` (for usage errors before a run: a bad
port, an ssh host that does not resolve, a missing device); ``build_remote`` reaches the agent and
shakes hands. An agent that cannot be reached or refuses the handshake makes the target
unavailable, with one line naming the agent and why. ``ssh:`` runs the standalone agent
(``conformance/agent/standalone.py``) on the remote host without copying a file: the script
travels compressed in the remote command line, so stdin/stdout stay the protocol stream.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from conformance.agent.protocol import one_line
from conformance.targets.base import Target, TargetUnavailable
from reference_impl.profiles import Profile

PREFIXES = ("stdio:", "tcp:", "ssh:", "serial:", "device:")
TIMEOUT_ENV = "MROUTE_AGENT_TIMEOUT"
# --target-opt keys each transport takes (key -> help); other transports take none
SSH_OPTIONS = {
    "backend": "the standalone agent's backend on the remote host: linux or freebsd (default: the host's own)",
    "python": "the remote Python interpreter (default: python3; needs >= 3.8)",
    "ports": "router ports the agent wires up (default: 4)",
    "identity": "ssh private key file (ssh -i)",
    "ssh_option": "one extra ssh -o option, e.g. StrictHostKeyChecking=accept-new",
    "ssh_config": "an ssh client configuration file (ssh -F) for everything else",
}
SERIAL_OPTIONS = {"baud": "line speed of a serial port (default: 115200; ignored for non-tty devices)"}
TRANSPORT_OPTIONS: dict[str, dict[str, str]] = {"ssh": SSH_OPTIONS, "serial": SERIAL_OPTIONS, "device": SERIAL_OPTIONS}
_SSH_TARGET = re.compile(r"^(?:(?P<user>[A-Za-z0-9._][A-Za-z0-9._-]*)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>\d+))?$")


@dataclass(frozen=True)
class RemoteSpec:
    """A parsed agent spec: ``argv`` for stdio, ``host``/``port`` for tcp."""

    kind: str
    argv: tuple[str, ...] = ()
    host: str = ""
    port: int = 0
    user: str = ""
    path: str = ""


def is_remote(spec: str) -> bool:
    """True when ``spec`` names an agent transport rather than a builtin target or MODULE:CLASS."""
    return spec.startswith(PREFIXES)


def _check_ssh(spec: str, rest: str) -> RemoteSpec:
    m = _SSH_TARGET.match(rest)
    if not m or (m["port"] and not 0 < int(m["port"]) < 65536):
        raise ValueError(f"target {spec!r}: expected ssh:[USER@]HOST[:PORT] with a port from 1 to 65535")
    if shutil.which("ssh") is None:
        raise ValueError(f"target {spec!r}: the 'ssh' command is not installed")
    host = m["host"].strip("[]")
    real = ssh_hostname(host)
    try:
        socket.getaddrinfo(real, None)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise ValueError(f"target {spec!r}: host {real!r} does not resolve ({reason})") from None
    return RemoteSpec("ssh", host=host, port=int(m["port"] or 0), user=m["user"] or "")


def ssh_hostname(host: str) -> str:
    """The address ssh would connect to for ``host`` (``ssh -G`` applies ~/.ssh/config aliases)."""
    try:
        done = subprocess.run(["ssh", "-G", host], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return host
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "hostname" and value:
            return value
    return host


def _check_device(spec: str, path: str) -> RemoteSpec:
    if not path:
        raise ValueError(f"target {spec!r}: no device path after ':'")
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise ValueError(f"target {spec!r}: cannot use {path!r}: {exc.strerror}") from None
    if not (stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)):
        raise ValueError(f"target {spec!r}: {path!r} is neither a character device nor a unix socket")
    return RemoteSpec("serial", path=path)


def _check_options(spec: str, kind: str, options: Mapping[str, str]) -> None:
    if kind == "ssh" and "ports" in options and not options["ports"].isdigit():
        raise ValueError(f"--target-opt ports={options['ports']}: expected a number of ports")
    if kind == "ssh" and options.get("backend", "linux") not in ("linux", "freebsd"):
        raise ValueError(f"--target-opt backend={options['backend']}: valid backends: linux, freebsd")
    if kind in ("serial", "device") and not options.get("baud", "115200").isdigit():
        raise ValueError(f"--target-opt baud={options['baud']}: expected a number, e.g. 115200")


def check_spec(spec: str, options: Mapping[str, str] | None = None) -> RemoteSpec:
    """Parse ``spec`` (and its ``--target-opt`` values); ``ValueError`` with a one-line message."""
    kind, _, rest = spec.partition(":")
    _check_options(spec, kind, options or {})
    if kind == "ssh":
        return _check_ssh(spec, rest)
    if kind in ("serial", "device"):
        return _check_device(spec, rest)
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


def bootstrap_command(python: str, agent_args: list[str]) -> str:
    """A shell command that runs the standalone agent with ``agent_args``, the script in the command itself.

    ``python3 -`` would read the program from stdin, which is the protocol stream; instead the
    script travels zlib-compressed and base64-encoded (a charset safe in any shell quoting).
    """
    from conformance.agent.script import script_text

    blob = base64.b64encode(zlib.compress(script_text().encode("utf-8"), 9)).decode("ascii")
    code = (
        "import sys,zlib,base64;sys.argv[0]='agent.py';"
        f"exec(compile(zlib.decompress(base64.b64decode('{blob}')),'agent.py','exec'),{{'__name__':'__main__'}})"
    )
    return shlex.join([python, "-c", code, *agent_args])


def ssh_argv(parsed: RemoteSpec, options: Mapping[str, str]) -> list[str]:
    """The ssh command line for an ``ssh:`` spec: batch mode (never a password prompt), a connect timeout."""
    argv = ["ssh", "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15"]
    if parsed.port:
        argv += ["-p", str(parsed.port)]
    if options.get("ssh_config"):
        argv += ["-F", options["ssh_config"]]
    if options.get("identity"):
        argv += ["-i", options["identity"]]
    if options.get("ssh_option"):
        argv += ["-o", options["ssh_option"]]
    agent_args = []
    if options.get("backend"):
        agent_args += ["--backend", options["backend"]]
    if options.get("ports"):
        agent_args += ["--ports", options["ports"]]
    destination = f"{parsed.user}@{parsed.host}" if parsed.user else parsed.host
    return [*argv, "--", destination, bootstrap_command(options.get("python", "python3"), agent_args)]


def build_remote(spec: str, profile: Profile | None, options: Mapping[str, str] | None = None) -> Target:
    """Reach the agent named by ``spec`` and return an ``AgentTarget`` over it."""
    from conformance.agent.client import AgentError, AgentTarget
    from conformance.agent.transport import connect_device, connect_tcp, connect_unix, spawn_stdio

    options = options or {}
    try:
        parsed = check_spec(spec, options)
    except ValueError as exc:
        raise TargetUnavailable(str(exc)) from None
    timeout = agent_timeout()
    describe = f"agent {spec!r}"
    try:
        if parsed.kind == "stdio":
            connection, _ = spawn_stdio(list(parsed.argv), timeout=timeout, describe=describe)
        elif parsed.kind == "ssh":
            connection, _ = spawn_stdio(ssh_argv(parsed, options), timeout=timeout, describe=describe)
        elif parsed.kind == "serial" and stat.S_ISSOCK(os.stat(parsed.path).st_mode):
            connection = connect_unix(parsed.path, timeout=timeout, describe=describe)
        elif parsed.kind == "serial":
            connection = connect_device(parsed.path, int(options.get("baud", "115200")), timeout=timeout, describe=describe)
        else:
            connection = connect_tcp(parsed.host, parsed.port, timeout=timeout)
        return AgentTarget(connection, profile)
    except (AgentError, OSError) as exc:
        raise TargetUnavailable(one_line(f"{describe}: {exc}") if isinstance(exc, OSError) else str(exc)) from None
