"""The agent side: answer protocol requests by driving a ``Target`` over any pair of byte streams.

One request at a time, one response per request, flushed at once. A bad request gets an error
reply and the loop goes on; end of input ends the session and shuts the target down.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, BinaryIO, Protocol

from conformance.agent import protocol as P
from conformance.targets.base import SocketHandle, Target, TargetUnavailable, Unsupported

AGENT = {"name": "mroute-conformance-agent", "version": "1.0"}
CAPABILITIES = [op for op in P.OPS if op not in ("hello", "bye", *P.DAEMON_OPS)]

TargetSource = Target | Callable[[], Target]


class LineReader(Protocol):
    """Where requests come from: a binary stream, or anything with its readline (the agent's
    device reader that waits for the host)."""

    def readline(self, limit: int = -1, /) -> bytes: ...


class Session:
    """The agent's state for one connection: the target (built on first need) and its sockets."""

    def __init__(self, source: TargetSource, backend: str = "custom") -> None:
        self._source = source
        self.backend = backend
        self.target: Target | None = source if isinstance(source, Target) else None
        self.unavailable: str | None = None
        self.socks: dict[int, SocketHandle] = {}
        self._next_sock = 1
        self.done = False  # set by ``bye``: the loop ends after sending its reply

    # -- target ------------------------------------------------------------------------------
    def _target(self) -> Target:
        if self.target is None and self.unavailable is None:
            try:
                source = self._source
                self.target = source if isinstance(source, Target) else source()
            except TargetUnavailable as exc:
                self.unavailable = str(exc) or type(exc).__name__
        if self.target is None:
            raise TargetUnavailable(self.unavailable or "target unavailable")
        return self.target

    def _sock(self, ident: int) -> SocketHandle:
        try:
            return self.socks[ident]
        except KeyError:
            raise OSError(9, f"no socket {ident} on this agent") from None  # EBADF

    def close_target(self) -> None:
        """Shut the target down (idempotent); later requests answer ``unavailable``."""
        target, self.target = self.target, None
        self.socks.clear()
        if target is not None:
            self.unavailable = "the target was shut down"
            target.shutdown()

    # -- ops ---------------------------------------------------------------------------------
    def op_hello(self, version: int) -> dict[str, Any]:
        if version != P.PROTOCOL_VERSION:
            raise P.ProtocolError(
                f"protocol version mismatch: the client speaks {version}, this agent speaks {P.PROTOCOL_VERSION}"
            )
        hello: dict[str, Any] = {
            "version": P.PROTOCOL_VERSION, "agent": AGENT, "backend": self.backend, "capabilities": CAPABILITIES,
        }
        try:
            target = self._target()
        except TargetUnavailable as exc:
            return {**hello, "unavailable": str(exc)}
        if getattr(target, "daemon_runner", None) is not None:
            hello["capabilities"] = [*CAPABILITIES, *P.DAEMON_OPS]
        return {
            **hello,
            "profile": target.profile.name,
            "ports": [asdict(p) for p in target.ports],
            "virtual_time": bool(target.virtual_time),
            "info": self.op_info(),
        }

    def op_open_socket(self, family: str | int, type: str | int, proto: int) -> int:
        handle = self._target().open_socket(
            P.symbol_value(family, P.FAMILIES, "family"), P.symbol_value(type, P.SOCK_TYPES, "type"), proto
        )
        ident, self._next_sock = self._next_sock, self._next_sock + 1
        self.socks[ident] = handle
        return ident

    def op_setsockopt(self, sock: int, level: int, optname: int, value: str) -> str:
        out = self._target().setsockopt(self._sock(sock), level, optname, P.b64decode(value, "value"))
        return P.b64encode(out)

    def op_getsockopt(self, sock: int, level: int, optname: int, buflen: int) -> str:
        return P.b64encode(self._target().getsockopt(self._sock(sock), level, optname, buflen))

    def op_ioctl(self, sock: int, request: int, arg: str) -> str:
        return P.b64encode(self._target().ioctl(self._sock(sock), request, P.b64decode(arg, "arg")))

    def op_close(self, sock: int) -> None:
        self._target().close(self._sock(sock))

    def op_recv_all(self, sock: int) -> list[str]:
        return [P.b64encode(d) for d in self._target().recv_all(self._sock(sock))]

    def op_send(self, port: int, frame: str) -> None:
        target = self._target()
        if not 0 <= port < len(target.ports):
            raise P.ProtocolError(f"no port {port}; this target has {len(target.ports)}")
        target.send(port, P.b64decode(frame, "frame"))

    def op_remove_interface(self, port: int) -> None:
        target = self._target()
        if not 0 <= port < len(target.ports):
            raise P.ProtocolError(f"no port {port}; this target has {len(target.ports)}")
        target.remove_interface(port)

    def op_routing_state(self, version: int, table: int) -> dict[str, Any]:
        if version not in (4, 6):
            raise P.ProtocolError(f"version must be 4 or 6, not {version}")
        return self._target().routing_state(version, table).to_json()

    def op_collect(self) -> dict[str, list[str]]:
        return {str(port): [P.b64encode(f) for f in frames] for port, frames in self._target().collect().items()}

    def op_advance(self, seconds: float) -> None:
        self._target().advance(float(seconds))

    def op_reset(self) -> None:
        self._target().reset()
        self.socks.clear()

    def op_info(self) -> dict[str, Any]:
        info = self._target().info()
        details = json.loads(json.dumps(info.details, default=str))  # anything JSON cannot say, as text
        return {"name": info.name, "profile": info.profile, "details": details}

    def _daemon(self) -> Any:
        runner = getattr(self._target(), "daemon_runner", None)
        if runner is None:
            raise P.ProtocolError("this target cannot run a traced daemon (no daemon_* capability)")
        return runner

    def op_daemon_start(self, argv: list[str], config: str) -> float:
        """Start a daemon under strace in the router namespace (conformance/targets/linux/daemon.py)."""
        from conformance.targets.linux.daemon import DaemonError

        try:
            return float(self._daemon().start(argv, P.b64decode(config, "config")))
        except DaemonError as exc:
            raise TargetUnavailable(str(exc)) from None

    def op_daemon_settle(self, quiet: float, limit: float) -> float:
        """Wait until the daemon's trace is quiet; the guest's wall-clock time then."""
        return float(self._daemon().settle(float(quiet), float(limit)))

    def op_daemon_stop(self) -> dict[str, Any]:
        """Stop the daemon; its trace and output (base64), exit status and stop time."""
        done = self._daemon().stop()
        return {"trace": P.b64encode(done["trace"]), "output": P.b64encode(done["output"]),
                "status": done["status"], "at": done["at"]}

    def op_shutdown(self) -> None:
        self.close_target()

    def op_bye(self) -> None:
        self.done = True

    # -- dispatch ----------------------------------------------------------------------------
    def handle(self, line: bytes) -> bytes:
        """The response line for one request line (never raises for a bad request)."""
        id: int | None = None
        try:
            request = P.decode_request(line)
            id = request.id
            args = {name: request.args[name] for name in P.OPS[request.op]}
            return P.encode_result(id, getattr(self, f"op_{request.op}")(**args))
        except P.ProtocolError as exc:
            return P.encode_error(exc.id if id is None else id, "protocol", str(exc))
        except TargetUnavailable as exc:
            return P.encode_error(id, "unavailable", str(exc) or type(exc).__name__)
        except Unsupported as exc:
            return P.encode_error(id, "unsupported", exc.reason)
        except OSError as exc:
            message = exc.strerror or str(exc) or P.errno_name(exc.errno)
            return P.encode_error(id, "oserror", message, P.errno_name(exc.errno))
        except Exception as exc:
            return P.encode_error(id, "internal", f"{type(exc).__name__}: {P.one_line(exc)}")


def _read_line(reader: LineReader) -> bytes:
    """The next line, at most ``MAX_LINE + 1`` bytes of it (the rest of an oversize line is skipped)."""
    line = reader.readline(P.MAX_LINE + 1)
    if len(line) > P.MAX_LINE and not line.endswith(b"\n"):
        while True:  # discard up to the end of the oversize line
            rest = reader.readline(1 << 20)
            if not rest or rest.endswith(b"\n"):
                break
    return line


def serve(source: TargetSource, reader: LineReader, writer: BinaryIO, *, backend: str = "custom") -> None:
    """Answer requests from ``reader`` on ``writer`` until ``bye`` or end of input, then shut down.

    ``source`` is a Target or a factory building one on first need (a factory raising
    ``TargetUnavailable`` makes ``hello`` report ``unavailable`` instead of failing).
    """
    session = Session(source, backend)
    try:
        while True:
            try:
                line = _read_line(reader)
            except OSError:  # the stream broke (device unplugged, connection reset): like end of input
                break
            if not line:
                break
            response = session.handle(line)
            try:
                writer.write(response)
                writer.flush()
            except (BrokenPipeError, ConnectionError):
                break
            if session.done:
                break
    finally:
        session.close_target()

