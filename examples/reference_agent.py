#!/usr/bin/env python3
"""A complete agent in one page: the protocol of docs/agent-protocol.md around an implementation.

Here the implementation is the project's reference model (so the suite must pass), but nothing
below depends on that except ``build_router()``: replace it and the ``Router`` calls with your
OS's socket calls and this is your agent. Run it the way the suite will:

    mroute-conformance run --target "stdio:python3 examples/reference_agent.py"
"""

from __future__ import annotations

import base64
import errno
import json
import socket
import sys

from conformance.targets.reference import ReferenceTarget  # <- your implementation instead
from reference_impl.profiles import get_profile

PROFILE = "documented"  # the suite profile whose facts and ABI your implementation follows


def build_router() -> ReferenceTarget:
    """Set up the router and its tester-facing ports (on a real box: interfaces, isolation)."""
    return ReferenceTarget(get_profile(PROFILE))


class Agent:
    """Maps each protocol op to the implementation; every method returns the JSON result."""

    def __init__(self) -> None:
        self.router = build_router()
        self.socks: dict[int, object] = {}  # protocol socket id -> the implementation's handle
        self.next_id = 1
        self.done = False

    def sock(self, ident: int) -> object:
        if ident not in self.socks:
            raise OSError(errno.EBADF, "no such socket")
        return self.socks[ident]

    # -- the ops ------------------------------------------------------------------------------
    def hello(self, version: int) -> dict:
        if version != 1:
            raise ValueError(f"protocol version mismatch: the client speaks {version}, this agent speaks 1")
        ports = [vars(p) for p in self.router.ports]  # index, name, ifindex, mac, ipv4, ipv6, peer_*
        return {"version": 1, "agent": {"name": "example-agent", "version": "1.0"}, "backend": "reference",
                "profile": PROFILE, "ports": ports, "virtual_time": True, "info": self.info(),
                "capabilities": ["open_socket", "setsockopt", "getsockopt", "ioctl", "close", "recv_all",
                                 "send", "collect", "advance", "reset", "info", "shutdown"]}

    def open_socket(self, family: str | int, type: str | int, proto: int) -> int:
        # names travel on the wire; map them to your platform's numbers here, at the edge
        family_no = getattr(socket, family) if isinstance(family, str) else family
        type_no = getattr(socket, type) if isinstance(type, str) else type
        self.socks[self.next_id] = self.router.open_socket(family_no, type_no, proto)
        self.next_id += 1
        return self.next_id - 1

    def setsockopt(self, sock: int, level: int, optname: int, value: str) -> str:
        out = self.router.setsockopt(self.sock(sock), level, optname, base64.b64decode(value))  # type: ignore[arg-type]
        return base64.b64encode(out).decode()

    def getsockopt(self, sock: int, level: int, optname: int, buflen: int) -> str:
        return base64.b64encode(self.router.getsockopt(self.sock(sock), level, optname, buflen)).decode()  # type: ignore[arg-type]

    def ioctl(self, sock: int, request: int, arg: str) -> str:
        return base64.b64encode(self.router.ioctl(self.sock(sock), request, base64.b64decode(arg))).decode()  # type: ignore[arg-type]

    def close(self, sock: int) -> None:
        self.router.close(self.socks.pop(sock, None) or self.sock(sock))  # type: ignore[arg-type]

    def recv_all(self, sock: int) -> list[str]:
        return [base64.b64encode(d).decode() for d in self.router.recv_all(self.sock(sock))]  # type: ignore[arg-type]

    def send(self, port: int, frame: str) -> None:
        self.router.send(port, base64.b64decode(frame))

    def collect(self) -> dict[str, list[str]]:
        return {str(p): [base64.b64encode(f).decode() for f in frames] for p, frames in self.router.collect().items()}

    def advance(self, seconds: float) -> None:
        self.router.advance(seconds)

    def reset(self) -> None:
        self.router.reset()
        self.socks.clear()

    def info(self) -> dict:
        info = self.router.info()
        return {"name": "example-agent", "profile": PROFILE, "details": {"model": info.name}}

    def shutdown(self) -> None:
        self.router.shutdown()

    def bye(self) -> None:
        self.done = True

    # -- the loop -------------------------------------------------------------------------------
    def answer(self, line: bytes) -> dict:
        """One response object for one request line; errors become ``error`` objects, never a crash."""
        try:
            request = json.loads(line)
            rid, op, args = request["id"], request["op"], request.get("args", {})
        except (ValueError, KeyError, TypeError) as exc:
            return {"id": None, "ok": False, "error": {"type": "protocol", "message": f"bad request: {exc}"}}
        if op not in OPS:
            return {"id": rid, "ok": False, "error": {"type": "protocol", "message": f"unknown op {op!r}"}}
        try:
            return {"id": rid, "ok": True, "result": getattr(self, op)(**{k: args[k] for k in OPS[op]})}
        except OSError as exc:  # the system call's failure: errno by NAME
            name = errno.errorcode.get(exc.errno or 0, "EIO")
            return {"id": rid, "ok": False, "error": {"type": "oserror", "errno": name, "message": str(exc.strerror)}}
        except (KeyError, ValueError) as exc:
            return {"id": rid, "ok": False, "error": {"type": "protocol", "message": str(exc).splitlines()[0]}}
        except Exception as exc:
            return {"id": rid, "ok": False, "error": {"type": "internal", "message": f"{type(exc).__name__}: {exc}"}}


OPS = {  # op -> the argument names it takes
    "hello": ["version"], "open_socket": ["family", "type", "proto"],
    "setsockopt": ["sock", "level", "optname", "value"], "getsockopt": ["sock", "level", "optname", "buflen"],
    "ioctl": ["sock", "request", "arg"], "close": ["sock"], "recv_all": ["sock"], "send": ["port", "frame"],
    "collect": [], "advance": ["seconds"], "reset": [], "info": [], "shutdown": [], "bye": [],
}


def main() -> int:
    agent = Agent()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries protocol lines only
    for line in stdin:
        stdout.write(json.dumps(agent.answer(line), separators=(",", ":")).encode() + b"\n")
        stdout.flush()
        if agent.done:
            break
    agent.router.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
