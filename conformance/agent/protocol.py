"""The agent wire format (version 1): JSON lines, bytes in base64, errno and families by name.

Language-neutral on purpose: a vendor's agent in C or Rust only needs a JSON parser, base64 and a
table from these names to its own numbers (docs/agent-protocol.md). Stdlib only; both the host
(client) and the agent (server) validate everything they receive with the helpers here.
"""

from __future__ import annotations

import base64
import binascii
import errno as _errno
import json
from dataclasses import dataclass
from typing import Any, TypeGuard

PROTOCOL_VERSION = 1
MAX_LINE = 16 * 1024 * 1024  # bytes per message, newline included
# "unsupported": an optional op (remove_interface) the target cannot perform (a compatible addition:
# only answered to ops a client of this version asks for)
ERROR_TYPES = ("oserror", "unavailable", "protocol", "internal", "unsupported")

# Symbolic numbers travel by name. These are the suite's numbers (the Target contract's, which are
# Linux's); an agent maps the names to its own platform's values. A number without a name here
# travels as a JSON integer, unchanged.
FAMILIES = {"AF_UNSPEC": 0, "AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10}
SOCK_TYPES = {"SOCK_STREAM": 1, "SOCK_DGRAM": 2, "SOCK_RAW": 3}

_INT = "int"
_NUM = "number"
_B64 = "b64"
_SYM = "int-or-name"
_STRS = "list of strings"

# op -> {arg name: kind}. Every listed arg is required; args not listed are ignored (forward
# compatible within a version).
OPS: dict[str, dict[str, str]] = {
    "hello": {"version": _INT},
    "open_socket": {"family": _SYM, "type": _SYM, "proto": _INT},
    "setsockopt": {"sock": _INT, "level": _INT, "optname": _INT, "value": _B64},
    "getsockopt": {"sock": _INT, "level": _INT, "optname": _INT, "buflen": _INT},
    "ioctl": {"sock": _INT, "request": _INT, "arg": _B64},
    "close": {"sock": _INT},
    "recv_all": {"sock": _INT},
    "send": {"port": _INT, "frame": _B64},
    "collect": {},
    "advance": {"seconds": _NUM},
    "reset": {},
    "info": {},
    "remove_interface": {"port": _INT},  # optional (listed in capabilities where the agent has it)
    "routing_state": {"version": _INT, "table": _INT},  # optional, likewise
    "shutdown": {},
    "bye": {},
    # optional (advertised in capabilities by targets that can run a traced daemon: the Linux backend)
    "daemon_start": {"argv": _STRS, "config": _B64},
    "daemon_settle": {"quiet": _NUM, "limit": _NUM},
    "daemon_stop": {},
}
DAEMON_OPS = ("daemon_start", "daemon_settle", "daemon_stop")


class ProtocolError(ValueError):
    """A message that breaks the format; ``str()`` is one line. ``id`` is the request's, if known."""

    def __init__(self, message: str, id: int | None = None) -> None:
        super().__init__(one_line(message))
        self.id = id


@dataclass(frozen=True)
class Request:
    """One decoded request; ``args`` already validated against ``OPS`` (b64 args still strings)."""

    id: int
    op: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ErrorInfo:
    """The ``error`` object of a failed response."""

    type: str
    message: str
    errno: str | None = None


@dataclass(frozen=True)
class Response:
    """One decoded response: ``result`` when ``ok``, else ``error``."""

    id: int | None
    ok: bool
    result: Any = None
    error: ErrorInfo | None = None


def one_line(text: object, limit: int = 300) -> str:
    """``text`` as a single line (first non-empty line, control characters escaped), cut at ``limit``."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    line = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in line)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def is_int(value: object) -> TypeGuard[int]:
    """A JSON integer (``true``/``false`` are not integers here)."""
    return isinstance(value, int) and not isinstance(value, bool)


# -- bytes and symbols -------------------------------------------------------------------------
def b64encode(data: bytes) -> str:
    """Standard base64 with padding, as a str."""
    return base64.b64encode(bytes(data)).decode("ascii")


def b64decode(text: object, what: str = "buffer") -> bytes:
    """Strict base64 (standard alphabet, padded); ``ProtocolError`` naming ``what`` otherwise."""
    if not isinstance(text, str):
        raise ProtocolError(f"{what}: expected a base64 string, got {type(text).__name__}")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ProtocolError(f"{what}: invalid base64 ({exc})") from None


def symbol_name(value: int, table: dict[str, int]) -> str | int:
    """The name of ``value`` in ``table`` (e.g. ``"AF_INET6"``), or the number itself if unnamed."""
    for name, number in table.items():
        if number == value:
            return name
    return value


def symbol_value(value: object, table: dict[str, int], what: str) -> int:
    """The number for a name (or a plain integer) received on the wire."""
    if is_int(value):
        return value
    if isinstance(value, str) and value in table:
        return table[value]
    raise ProtocolError(f"{what}: unknown value {value!r}; valid names: {', '.join(table)}")


def errno_name(number: int | None) -> str:
    """The symbolic name of a host errno (``EADDRINUSE``); ``EIO`` stands in for an unknown one."""
    if number is None:
        return "EIO"
    return _errno.errorcode.get(number, "EIO")


def errno_number(name: str) -> int | None:
    """This host's number for an errno name, or None when the host has no such errno."""
    value = getattr(_errno, name, None) if name.startswith("E") else None
    return value if is_int(value) else None


# -- framing -----------------------------------------------------------------------------------
def _dump(message: dict[str, Any]) -> bytes:
    data = _ENCODER.encode(message).encode("utf-8")
    if len(data) + 1 > MAX_LINE:
        raise ProtocolError(f"message of {len(data) + 1} bytes exceeds the {MAX_LINE}-byte line limit")
    return data + b"\n"


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_DECODER = json.JSONDecoder(parse_constant=_no_constant)  # NaN and Infinity are not JSON


def parse_line(line: bytes) -> dict[str, Any]:
    """One ``\\n``-terminated line to a JSON object; ``ProtocolError`` for anything else."""
    if len(line) > MAX_LINE:
        raise ProtocolError(f"line of {len(line)} bytes exceeds the {MAX_LINE}-byte limit")
    if not line.endswith(b"\n"):
        raise ProtocolError(f"truncated frame: {len(line)} bytes without a terminating newline")
    try:
        message = _DECODER.decode(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"line is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except ValueError as exc:
        raise ProtocolError(f"line is not JSON ({exc})") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"message is a JSON {type(message).__name__}, expected an object")
    return message


# -- requests ----------------------------------------------------------------------------------
def encode_request(id: int, op: str, args: dict[str, Any] | None = None) -> bytes:
    """The line for request ``id``; byte values in ``args`` must already be base64 strings."""
    return _dump({"id": id, "op": op, "args": args or {}})


def _check_arg(op: str, name: str, kind: str, value: object, id: int) -> None:
    ok = {
        _INT: is_int(value),
        _NUM: is_int(value) or isinstance(value, float),
        _B64: isinstance(value, str),
        _SYM: is_int(value) or isinstance(value, str),
        _STRS: isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value),
    }[kind]
    if not ok:
        raise ProtocolError(f"op {op!r}: argument {name!r} must be {kind}, got {json.dumps(value)}", id)
    if kind == _B64:
        try:
            b64decode(value, f"op {op!r} argument {name!r}")
        except ProtocolError as exc:
            raise ProtocolError(str(exc), id) from None


def decode_request(line: bytes) -> Request:
    """Parse and validate one request line (known op, required args of the right JSON types)."""
    message = parse_line(line)
    raw_id = message.get("id")
    if not is_int(raw_id):
        raise ProtocolError(f"request 'id' must be an integer, got {json.dumps(raw_id)}")
    id: int = raw_id
    op = message.get("op")
    if not isinstance(op, str):
        raise ProtocolError(f"request 'op' must be a string, got {json.dumps(op)}", id)
    if op not in OPS:
        raise ProtocolError(f"unknown op {op!r}; this agent knows: {', '.join(OPS)}", id)
    args = message.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError(f"op {op!r}: 'args' must be an object", id)
    for name, kind in OPS[op].items():
        if name not in args:
            raise ProtocolError(f"op {op!r}: missing argument {name!r}", id)
        _check_arg(op, name, kind, args[name], id)
    return Request(id, op, args)


# -- responses ---------------------------------------------------------------------------------
def encode_result(id: int | None, result: Any) -> bytes:
    """A success response line."""
    return _dump({"id": id, "ok": True, "result": result})


def encode_error(id: int | None, type: str, message: str, errno: str | None = None) -> bytes:
    """A failure response line; ``errno`` (a name) only for type ``oserror``."""
    if type not in ERROR_TYPES:
        raise ValueError(f"unknown error type {type!r}")
    error: dict[str, Any] = {"type": type, "message": one_line(message)}
    if type == "oserror":
        error["errno"] = errno or "EIO"
    return _dump({"id": id, "ok": False, "error": error})


def decode_response(line: bytes) -> Response:
    """Parse and validate one response line."""
    message = parse_line(line)
    id = message.get("id")
    if id is not None and not is_int(id):
        raise ProtocolError(f"response 'id' must be an integer or null, got {json.dumps(id)}")
    ok = message.get("ok")
    if not isinstance(ok, bool):
        raise ProtocolError(f"response 'ok' must be true or false, got {json.dumps(ok)}", id)
    if ok:
        if "result" not in message:
            raise ProtocolError("response with ok=true has no 'result'", id)
        return Response(id, True, message["result"])
    error = message.get("error")
    if not isinstance(error, dict):
        raise ProtocolError("response with ok=false has no 'error' object", id)
    kind, text, name = error.get("type"), error.get("message", ""), error.get("errno")
    if kind not in ERROR_TYPES:
        raise ProtocolError(f"unknown error type {json.dumps(kind)}; valid: {', '.join(ERROR_TYPES)}", id)
    if not isinstance(text, str):
        raise ProtocolError("error 'message' must be a string", id)
    if kind == "oserror" and not (isinstance(name, str) and name):
        raise ProtocolError("oserror without an 'errno' name", id)
    return Response(id, False, error=ErrorInfo(kind, one_line(text), name if kind == "oserror" else None))
