"""The host side: ``AgentConnection`` (requests with timeouts) and ``AgentTarget`` (a Target over it).

Reads and writes go straight to the stream's file descriptor, waiting in ``poll``, so a silent or
dead agent costs at most ``timeout`` seconds, for pipes and sockets alike. After any transport or
framing error the connection is unusable and every later call fails at once with the first reason.
"""

from __future__ import annotations

import math
import os
import select
import time
from collections.abc import Callable
from typing import Any, Protocol

from conformance.agent import protocol as P
from conformance.targets.base import Port, SocketHandle, Target, TargetInfo, TargetUnavailable, Unsupported
from reference_impl.profiles import LINUX, PROFILES, Profile, get_profile
from reference_impl.snapshot import TableState


class AgentError(RuntimeError):
    """The agent broke the protocol, failed internally, went silent or away; one-line message."""


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


class AgentConnection:
    """One request/response channel to an agent over a reader and a writer with file descriptors.

    ``reader`` and ``writer`` may be the same object (a socket). ``on_close`` runs once when the
    connection closes (e.g. reaps the agent process); ``diagnose`` adds context (exit status,
    last stderr line) to the message when the agent goes away.
    """

    def __init__(
        self,
        reader: _HasFileno,
        writer: _HasFileno,
        *,
        timeout: float = 30.0,
        describe: str = "agent",
        on_close: Callable[[], None] | None = None,
        diagnose: Callable[[], str] | None = None,
    ) -> None:
        self.reader, self.writer = reader, writer
        self.timeout, self.describe = timeout, describe
        self._on_close, self._diagnose = on_close, diagnose
        self._rfd, self._wfd = reader.fileno(), writer.fileno()
        os.set_blocking(self._rfd, False)
        os.set_blocking(self._wfd, False)
        self._rpoll, self._wpoll = select.poll(), select.poll()
        self._rpoll.register(self._rfd, select.POLLIN)
        self._wpoll.register(self._wfd, select.POLLOUT)
        self._buf = bytearray()
        self._scanned = 0
        self._next_id = 1
        self._limit = timeout  # this request's timeout, for messages
        self._broken: str | None = None
        self.closed = False

    # -- transport ---------------------------------------------------------------------------
    def _fail(self, message: str) -> AgentError:
        """Mark the connection unusable and return the error to raise."""
        extra = self._diagnose() if self._diagnose else ""
        self._broken = P.one_line(f"{self.describe}: {message}{f' ({extra})' if extra else ''}")
        return AgentError(self._broken)

    def _wait(self, poller: select.poll, deadline: float, what: str) -> None:
        """Block until ``poller``'s fd is ready (or hung up), at most until ``deadline``."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._fail(f"no answer within {self._limit:g} s {what}")
            if poller.poll(max(1, math.ceil(remaining * 1000))):
                return

    def _write(self, data: bytes, deadline: float, op: str) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._wfd, view)
            except BlockingIOError:
                self._wait(self._wpoll, deadline, f"(sending {op!r})")
                continue
            except OSError as exc:  # EPIPE, ECONNRESET: the agent is gone
                raise self._fail(f"connection lost while sending {op!r} ({exc.strerror or exc})") from None
            view = view[n:]

    def _read_line(self, deadline: float, op: str) -> bytes:
        while True:
            end = self._buf.find(b"\n", self._scanned)
            if end >= 0:
                line = bytes(self._buf[: end + 1])
                del self._buf[: end + 1]
                self._scanned = 0
                return line
            self._scanned = len(self._buf)
            if len(self._buf) > P.MAX_LINE:
                raise self._fail(f"answer to {op!r} exceeds the {P.MAX_LINE}-byte line limit")
            self._wait(self._rpoll, deadline, f"to {op!r}")  # the answer is rarely there already
            try:
                chunk = os.read(self._rfd, 1 << 16)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise self._fail(f"connection lost waiting for {op!r} ({exc.strerror or exc})") from None
            if not chunk:
                if self._buf:
                    raise self._fail(f"truncated frame: connection closed after {len(self._buf)} bytes of the answer to {op!r}")
                raise self._fail(f"connection closed before answering {op!r}")
            self._buf += chunk

    @property
    def broken(self) -> str | None:
        """Why the connection became unusable (timeout, end of stream, bad frame), or None."""
        return self._broken

    # -- requests ----------------------------------------------------------------------------
    def request(self, op: str, args: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Send one request and return its result; errors as documented on ``call``."""
        if self._broken is not None:
            raise AgentError(self._broken)
        if self.closed:
            raise AgentError(f"{self.describe}: connection is closed")
        self._limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + self._limit
        id, self._next_id = self._next_id, self._next_id + 1
        try:
            line = P.encode_request(id, op, args)
        except (P.ProtocolError, TypeError, ValueError) as exc:
            raise AgentError(f"{self.describe}: cannot encode {op!r}: {P.one_line(exc)}") from None
        self._write(line, deadline, op)
        try:
            response = P.decode_response(self._read_line(deadline, op))
        except P.ProtocolError as exc:
            raise self._fail(f"bad answer to {op!r}: {exc}") from None
        if response.id != id:
            if response.id is None and response.error is not None:
                raise self._fail(f"agent rejected {op!r}: {response.error.message}")
            raise self._fail(f"answer to request {id} ({op!r}) carries id {response.id}")
        if response.ok:
            return response.result
        if response.error is None:  # decode_response guarantees one or the other
            raise self._fail(f"answer to {op!r} is neither a result nor an error")
        return self._raise(op, response.error)

    def _raise(self, op: str, error: P.ErrorInfo) -> Any:
        if error.type == "oserror":
            number = P.errno_number(error.errno or "")
            if number is None:
                raise AgentError(f"{self.describe}: {op!r} failed with {error.errno}, an errno this host does not know: {error.message}")
            raise OSError(number, error.message or os.strerror(number))
        if error.type == "unavailable":
            raise TargetUnavailable(error.message or f"{self.describe}: target unavailable")
        if error.type == "unsupported":
            raise Unsupported(error.message or f"{self.describe}: {op!r} unsupported")
        raise AgentError(f"{self.describe}: {error.type} error on {op!r}: {error.message}")

    def call(self, op: str, **args: Any) -> Any:
        """Request ``op`` with ``args``; the result, or raises: ``OSError`` (errno mapped to this host's
        number) for ``oserror``, ``TargetUnavailable`` for ``unavailable``, ``AgentError`` for protocol
        and internal errors, a timeout, end of stream or a truncated or malformed answer."""
        return self.request(op, args)

    def close(self) -> None:
        """Close both streams and run ``on_close``; idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            for stream in {id(self.reader): self.reader, id(self.writer): self.writer}.values():
                close = getattr(stream, "close", None)
                if close is not None:
                    try:
                        close()
                    except OSError:
                        pass
        finally:
            if self._on_close is not None:
                self._on_close()


def _expect(value: Any, kind: type | tuple[type, ...], what: str, describe: str) -> Any:
    ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)))
    if not ok:
        raise AgentError(f"{describe}: {what} has the wrong type ({type(value).__name__})")
    return value


PORT_FIELDS = {"index": int, "name": str, "ifindex": int, "mac": str, "ipv4": str, "ipv6": str,
               "peer_ipv4": str, "peer_ipv6": str, "peer_mac": str}


class AgentTarget(Target):
    """A Target whose every operation is a request to an agent (``hello`` on construction).

    Raises ``TargetUnavailable`` when the agent says its target cannot run, ``AgentError`` when
    the agent does not answer ``hello`` properly; the connection is closed in both cases.
    """

    name = "agent"

    def __init__(self, connection: AgentConnection, profile: Profile | None = None, name: str | None = None) -> None:
        self.connection = connection
        self._shut = False
        try:
            self._handshake(profile, name)
        except BaseException:
            self.shutdown()
            raise

    def _handshake(self, profile: Profile | None, name: str | None) -> None:
        d = self.connection.describe
        hello = _expect(self.connection.call("hello", version=P.PROTOCOL_VERSION), dict, "hello result", d)
        if hello.get("version") != P.PROTOCOL_VERSION:
            raise AgentError(f"{d}: agent speaks protocol version {hello.get('version')!r}, this client {P.PROTOCOL_VERSION}")
        self.hello = hello
        self.agent = hello.get("agent")
        self.capabilities = list(hello.get("capabilities") or [])
        if "unavailable" in hello:
            raise TargetUnavailable(P.one_line(hello["unavailable"]) or f"{d}: target unavailable")
        pname = _expect(hello.get("profile"), str, "hello 'profile'", d)
        if profile is None:
            if pname not in PROFILES:
                raise AgentError(f"{d}: agent's profile {pname!r} is not one of {', '.join(PROFILES)}; pass --profile")
            profile = get_profile(pname)
        elif pname in PROFILES and pname != profile.name:
            raise AgentError(
                f"{d}: the agent serves profile {pname!r}, not {profile.name!r}; start it with that profile or drop --profile"
            )
        self.profile = profile
        ports = _expect(hello.get("ports"), list, "hello 'ports'", d)
        self.ports = [self._port(p, i) for i, p in enumerate(ports)]
        self._virtual = _expect(hello.get("virtual_time", False), bool, "hello 'virtual_time'", d)
        info = hello.get("info") or {}
        self.name = name or (info.get("name") if isinstance(info.get("name"), str) else None) or str(hello.get("backend") or "agent")

    def _port(self, data: Any, i: int) -> Port:
        d = self.connection.describe
        _expect(data, dict, f"hello port {i}", d)
        for key, kind in PORT_FIELDS.items():
            _expect(data.get(key), kind, f"hello port {i} field {key!r}", d)
        if data["index"] != i:
            raise AgentError(f"{d}: hello port {i} says index {data['index']}; ports must be listed in index order")
        return Port(**{key: data[key] for key in PORT_FIELDS})

    def _b64(self, value: Any, op: str) -> bytes:
        try:
            return P.b64decode(value, f"result of {op!r}")
        except P.ProtocolError as exc:
            raise AgentError(f"{self.connection.describe}: {exc}") from None

    # -- sockets ---------------------------------------------------------------------------
    def open_socket(self, family: int, type_: int, proto: int) -> SocketHandle:
        ident = self.connection.call(
            "open_socket", family=P.symbol_name(family, P.FAMILIES), type=P.symbol_name(type_, P.SOCK_TYPES), proto=proto
        )
        if not P.is_int(ident):
            raise AgentError(f"{self.connection.describe}: open_socket returned {ident!r}, not a socket id")
        return SocketHandle(ident, family, type_, proto)

    def setsockopt(self, sock: SocketHandle, level: int, optname: int, value: bytes) -> bytes:
        out = self.connection.call("setsockopt", sock=sock.ident, level=level, optname=optname, value=P.b64encode(value))
        return self._b64(out, "setsockopt")

    def getsockopt(self, sock: SocketHandle, level: int, optname: int, buflen: int) -> bytes:
        out = self.connection.call("getsockopt", sock=sock.ident, level=level, optname=optname, buflen=buflen)
        return self._b64(out, "getsockopt")

    def ioctl(self, sock: SocketHandle, request: int, arg: bytes) -> bytes:
        return self._b64(self.connection.call("ioctl", sock=sock.ident, request=request, arg=P.b64encode(arg)), "ioctl")

    def close(self, sock: SocketHandle) -> None:
        self.connection.call("close", sock=sock.ident)
        sock.closed = True

    def recv_all(self, sock: SocketHandle) -> list[bytes]:
        out = _expect(self.connection.call("recv_all", sock=sock.ident), list, "recv_all result", self.connection.describe)
        return [self._b64(d, "recv_all") for d in out]

    # -- wires ----------------------------------------------------------------------------
    def send(self, port: int, frame: bytes) -> None:
        self.connection.call("send", port=port, frame=P.b64encode(frame))

    def remove_interface(self, port: int) -> None:
        """The agent's ``remove_interface`` op; ``Unsupported`` when the agent does not list it."""
        if "remove_interface" not in self.capabilities:
            raise Unsupported(f"agent {self.connection.describe} does not offer remove_interface")
        self.connection.call("remove_interface", port=port)

    def routing_state(self, version: int, table: int | None = None) -> TableState:
        """The agent's ``routing_state`` op (table None: the family's Linux default, 253 / 254);
        ``Unsupported`` when the agent does not list it."""
        if "routing_state" not in self.capabilities:
            raise Unsupported(f"agent {self.connection.describe} does not offer routing_state")
        if table is None:
            table = LINUX.default_table4 if version == 4 else LINUX.default_table6
        data = self.connection.call("routing_state", version=version, table=table)
        try:
            return TableState.from_json(data)
        except (KeyError, TypeError, ValueError) as e:
            raise AgentError(f"{self.connection.describe}: malformed routing_state result ({e!r})") from None

    def collect(self) -> dict[int, list[bytes]]:
        d = self.connection.describe
        out = _expect(self.connection.call("collect"), dict, "collect result", d)
        frames: dict[int, list[bytes]] = {p.index: [] for p in self.ports}
        for key, values in out.items():
            if not (key.isdigit() and int(key) in frames):
                raise AgentError(f"{d}: collect result names unknown port {key!r}")
            frames[int(key)] = [self._b64(f, "collect") for f in _expect(values, list, f"collect port {key}", d)]
        return frames

    # -- time -----------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        wait = 0.0 if self._virtual else max(0.0, seconds)
        self.connection.request("advance", {"seconds": seconds}, timeout=self.connection.timeout + wait)

    @property
    def virtual_time(self) -> bool:
        return self._virtual

    # -- lifecycle ------------------------------------------------------------------------
    def reset(self) -> None:
        self.connection.call("reset")

    def info(self) -> TargetInfo:
        d = self.connection.describe
        info = _expect(self.connection.call("info"), dict, "info result", d)
        details = info.get("details") if isinstance(info.get("details"), dict) else {}
        details = {**details, "agent": self.agent, "transport": d,
                   "required_setup": [step.describe() for step in self.profile.required_setup]}
        return TargetInfo(str(info.get("name") or self.name), str(info.get("profile") or self.profile.name), details)

    def shutdown(self) -> None:
        """Ask the agent to shut its target down and end the session, then close; idempotent."""
        if self._shut:
            return
        self._shut = True
        try:
            for op in ("shutdown", "bye"):
                if self.connection.broken or self.connection.closed:
                    break
                try:
                    self.connection.call(op)
                except (AgentError, OSError, TargetUnavailable):
                    pass
        finally:
            self.connection.close()


__all__ = ["AgentConnection", "AgentError", "AgentTarget"]
