"""Ways to reach an agent: a child process's stdin/stdout, a unix socket, a TCP connection, a serial device.

Each returns an ``AgentConnection``; opening failures raise ``AgentError`` with one line. A spawned
agent lives in its own process group and is stopped (end of input, then SIGTERM, then SIGKILL to
the group) when its connection closes, and at interpreter exit at the latest.
"""

from __future__ import annotations

import atexit
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import termios
import tty
from collections.abc import Callable
from typing import IO, Any

from conformance.agent.client import AgentConnection, AgentError
from conformance.agent.protocol import one_line

EXIT_GRACE = 5.0  # seconds a cleanly ended agent gets to shut its target down and exit
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL

_live: set[subprocess.Popen[bytes]] = set()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:  # the leader is not reaped yet, so its group id is still ours
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_process(proc: subprocess.Popen[bytes], grace: float = EXIT_GRACE) -> int | None:
    """Wait ``grace`` s for ``proc`` to exit, then SIGTERM its group, then SIGKILL; its exit status."""
    try:
        if grace > 0:
            try:
                return proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(proc, signal.SIGTERM)
        try:
            return proc.wait(KILL_GRACE)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            return proc.wait()
    finally:
        _live.discard(proc)


@atexit.register
def _reap_all() -> None:
    for proc in list(_live):
        stop_process(proc, grace=0)


def _tail(stream: IO[bytes], limit: int = 4096) -> str:
    """The last non-empty line of a captured stderr file."""
    try:
        size = stream.seek(0, os.SEEK_END)
        stream.seek(max(0, size - limit))
        lines = [ln.strip() for ln in stream.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except (OSError, ValueError):
        return ""
    return one_line(lines[-1]) if lines else ""


def spawn_stdio(
    argv: list[str], *, timeout: float = 30.0, describe: str | None = None
) -> tuple[AgentConnection, subprocess.Popen[bytes]]:
    """Start ``argv`` and speak the protocol on its stdin/stdout; its stderr is kept for error messages.

    The process is stopped when the connection closes: after a clean ``bye`` it gets ``EXIT_GRACE``
    seconds to exit on its own, after a failure it is sent SIGTERM at once.
    """
    if not argv:
        raise AgentError("stdio agent: empty command")
    describe = describe or f"agent {shlex.join(argv)!r}"
    errfile = tempfile.TemporaryFile(prefix="mroute-agent-")
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errfile, start_new_session=True, bufsize=0
        )
    except OSError as exc:
        errfile.close()
        raise AgentError(f"{describe}: cannot run {argv[0]!r}: {exc.strerror or exc}") from None
    _live.add(proc)
    assert proc.stdout is not None and proc.stdin is not None
    connection: AgentConnection

    def diagnose() -> str:
        try:
            code = proc.wait(0.5)
        except subprocess.TimeoutExpired:
            code = None
        status = "still running" if code is None else f"exit status {code}"
        tail = _tail(errfile)
        return f"{status}; stderr: {tail}" if tail else status

    def on_close() -> None:
        try:
            stop_process(proc, grace=0 if connection.broken else EXIT_GRACE)
        finally:
            errfile.close()

    connection = AgentConnection(
        proc.stdout, proc.stdin, timeout=timeout, describe=describe, on_close=on_close, diagnose=diagnose
    )
    return connection, proc


def _connect(sock: socket.socket, address: str | tuple[Any, ...], describe: str, timeout: float, **hooks: Any) -> AgentConnection:
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError as exc:
        sock.close()
        reason = "timed out" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc))
        raise AgentError(f"{describe}: cannot connect: {reason}") from None
    return AgentConnection(sock, sock, timeout=timeout, describe=describe, **hooks)


def connect_unix(
    path: str,
    *,
    timeout: float = 30.0,
    describe: str | None = None,
    on_close: Callable[[], None] | None = None,
    diagnose: Callable[[], str] | None = None,
) -> AgentConnection:
    """A connection to an agent behind unix socket ``path`` (a listening agent, or qemu's chardev).

    ``on_close``/``diagnose`` are passed to the connection (e.g. stop a VM, quote its console).
    """
    return _connect(
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), path, describe or f"agent unix:{path}", timeout,
        on_close=on_close, diagnose=diagnose,
    )


def connect_tcp(
    host: str,
    port: int,
    *,
    timeout: float = 30.0,
    describe: str | None = None,
    on_close: Callable[[], None] | None = None,
    diagnose: Callable[[], str] | None = None,
) -> AgentConnection:
    """A connection to an agent listening on ``host``:``port`` (IPv4 or IPv6)."""
    describe = describe or f"agent tcp:{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AgentError(f"{describe}: cannot resolve {host!r}: {exc.strerror or exc}") from None
    family, type_, proto, _, address = infos[0]
    return _connect(
        socket.socket(family, type_, proto), address, describe, timeout, on_close=on_close, diagnose=diagnose
    )


def connect_device(
    path: str, baud: int = 115200, *, timeout: float = 30.0, describe: str | None = None
) -> AgentConnection:
    """A connection over character device ``path`` (a serial line, a pty): opened read-write; a
    tty is put in raw mode at ``baud`` so the line discipline neither echoes nor rewrites bytes."""
    describe = describe or f"agent serial:{path}"
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    except OSError as exc:
        raise AgentError(f"{describe}: cannot open {path!r}: {exc.strerror or exc}") from None
    try:
        if os.isatty(fd):
            tty.setraw(fd)
            speed = getattr(termios, f"B{baud}", None)
            if speed is None:
                raise AgentError(f"{describe}: unsupported baud rate {baud}")
            attrs = termios.tcgetattr(fd)
            attrs[4] = attrs[5] = speed
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        stream = os.fdopen(fd, "r+b", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    return AgentConnection(stream, stream, timeout=timeout, describe=describe, on_close=stream.close)
