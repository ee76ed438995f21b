#!/usr/bin/env python3
# ruff: noqa: UP006, UP022, UP021, UP031, UP035, UP045  (this file runs on Python 3.8: typing generics, %-format)
"""mroute-conformance standalone agent: one stdlib-only file, Python >= 3.8, Linux and FreeBSD.

Copy it to the machine under test (``mroute-conformance agent-script > agent.py``) and let the
suite drive it over stdin/stdout (``--target "stdio:ssh lab1 python3 agent.py"``), a TCP port
(``--listen 0.0.0.0:4711``; the suite uses ``--target tcp:HOST:4711``) or a serial/virtio device
(``--device /dev/ttyS1``). It speaks the agent protocol version 1 (docs/agent-protocol.md):
option levels, option names and ioctl numbers are passed to the kernel unchanged; errno values
and address families travel by name and are mapped to this platform's numbers here, at the edge.

Backends:
  linux    the running kernel's ipmr/ip6mr in two private network namespaces (router, tester)
           joined by veth pairs; frames are injected and captured with AF_PACKET on the tester
           ends. Needs root, iproute2 and CONFIG_IP_MROUTE; otherwise ``hello`` says why.
  freebsd  the running kernel's ip_mroute/ip6_mroute in two vnet jails joined by epair
           interfaces; frames are injected and captured with bpf(4) on the tester ends. Applies
           the freebsd profile's set-up facts on the routing socket: IP_MULTICAST_LOOP off and
           a large SO_RCVBUF. WRITTEN AGAINST THE FreeBSD HEADERS AND MAN PAGES (jail(8),
           ifconfig(8) epair, bpf(4), netinet/ip_mroute.h) AND NEVER RUN ON FreeBSD: treat its
           results as unverified until it has been run on a FreeBSD 13/14 machine.

Nothing outside the namespaces/jails this agent creates is touched; they are removed on ``bye``,
``shutdown``, end of input and SIGTERM. Addresses: 198.18.i.0/24 and 2001:db8:i::/64 per port i.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import ctypes
import ctypes.util
import errno
import fcntl
import functools
import ipaddress
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from typing import Any, BinaryIO, Callable, Dict, List, Optional, Tuple

AGENT = {"name": "mroute-conformance-standalone-agent", "version": "1.0"}
PROTOCOL_VERSION = 1
MAX_LINE = 16 * 1024 * 1024
BACKENDS = ("linux", "freebsd")

# -- the wire format (mirrors conformance/agent/protocol.py; tests/test_standalone_agent.py checks) --
# Families and socket types by name; integers on the wire are the suite's (Linux) numbers.
FAMILIES = {"AF_UNSPEC": 0, "AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10}
SOCK_TYPES = {"SOCK_STREAM": 1, "SOCK_DGRAM": 2, "SOCK_RAW": 3}
OPS = {
    "hello": {"version": "int"},
    "open_socket": {"family": "int-or-name", "type": "int-or-name", "proto": "int"},
    "setsockopt": {"sock": "int", "level": "int", "optname": "int", "value": "b64"},
    "getsockopt": {"sock": "int", "level": "int", "optname": "int", "buflen": "int"},
    "ioctl": {"sock": "int", "request": "int", "arg": "b64"},
    "close": {"sock": "int"},
    "recv_all": {"sock": "int"},
    "send": {"port": "int", "frame": "b64"},
    "collect": {},
    "advance": {"seconds": "number"},
    "reset": {},
    "info": {},
    "remove_interface": {"port": "int"},  # optional: only backends that can list it
    "routing_state": {"version": "int", "table": "int"},  # optional: only backends that can list it
    "shutdown": {},
    "bye": {},
}  # type: Dict[str, Dict[str, str]]
CAPABILITIES = [op for op in OPS if op not in ("hello", "bye")]
OPTIONAL_OPS = ("remove_interface", "routing_state")

# Numbers this file needs itself (by name, checked against mroute_spec by the project's tests).
NUM = {
    "IPPROTO_PIM": 103,
    "ETH_P_IP": 0x0800,
    "ETH_P_IPV6": 0x86DD,
    "ETH_P_ALL": 0x0003,
    "LINUX_MRT_ASSERT": 207, "LINUX_MRT_PIM": 208, "LINUX_MRT_TABLE": 209, "LINUX_MRT_FLUSH": 212,
    "LINUX_SO_RCVBUFFORCE": 33, "LINUX_SO_SNDBUFFORCE": 32,
    "LINUX_PACKET_OUTGOING": 4, "LINUX_SIOCGIFFLAGS": 0x8913, "IFF_RUNNING": 0x40,
    "BPF_D_IN": 0,
}


class ProtocolError(ValueError):
    """A malformed request; answered with a ``protocol`` error and the loop goes on."""

    def __init__(self, message: str, id: Optional[int] = None) -> None:
        super().__init__(one_line(message))
        self.id = id


class Unavailable(RuntimeError):
    """The backend cannot run on this machine; the reason is one line."""


class NotSupported(RuntimeError):
    """An optional op this backend cannot perform; answered with an ``unsupported`` error."""


def one_line(text: object, limit: int = 300) -> str:
    """``text`` as one printable line, cut at ``limit`` characters."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    line = "".join(ch if ch.isprintable() else "\\x%02x" % ord(ch) for ch in line)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def is_int(value: object) -> bool:
    """A JSON integer (booleans are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def b64decode(text: object, what: str) -> bytes:
    """Strict base64 or ``ProtocolError``."""
    if not isinstance(text, str):
        raise ProtocolError("%s: expected a base64 string" % what)
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ProtocolError("%s: invalid base64 (%s)" % (what, exc)) from None


def b64encode(data: bytes) -> str:
    """Standard padded base64."""
    return base64.b64encode(bytes(data)).decode("ascii")


def _dump(message: Dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n"


def encode_error(id: Optional[int], kind: str, message: str, errno_name: Optional[str] = None) -> bytes:
    """A failure response line."""
    error = {"type": kind, "message": one_line(message)}  # type: Dict[str, Any]
    if kind == "oserror":
        error["errno"] = errno_name or "EIO"
    return _dump({"id": id, "ok": False, "error": error})


def _no_constant(name: str) -> None:
    raise ValueError("%s is not valid JSON" % name)


def decode_request(line: bytes) -> Tuple[int, str, Dict[str, Any]]:
    """Parse and validate one request line: (id, op, args)."""
    if len(line) > MAX_LINE:
        raise ProtocolError("line of %d bytes exceeds the %d-byte limit" % (len(line), MAX_LINE))
    if not line.endswith(b"\n"):
        raise ProtocolError("truncated frame: %d bytes without a terminating newline" % len(line))
    try:
        message = json.loads(line.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise ProtocolError("line is not UTF-8 (%s)" % exc.reason) from None
    except ValueError as exc:
        raise ProtocolError("line is not JSON (%s)" % exc) from None
    if not isinstance(message, dict):
        raise ProtocolError("message is a JSON %s, expected an object" % type(message).__name__)
    id = message.get("id")
    if not is_int(id):
        raise ProtocolError("request 'id' must be an integer, got %s" % json.dumps(id))
    op = message.get("op")
    if not isinstance(op, str):
        raise ProtocolError("request 'op' must be a string", id)
    if op not in OPS:
        raise ProtocolError("unknown op %r; this agent knows: %s" % (op, ", ".join(OPS)), id)
    args = message.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError("op %r: 'args' must be an object" % op, id)
    for name, kind in OPS[op].items():
        if name not in args:
            raise ProtocolError("op %r: missing argument %r" % (op, name), id)
        value = args[name]
        ok = {
            "int": is_int(value),
            "number": is_int(value) or isinstance(value, float),
            "b64": isinstance(value, str),
            "int-or-name": is_int(value) or isinstance(value, str),
        }[kind]
        if not ok:
            raise ProtocolError("op %r: argument %r must be %s, got %s" % (op, name, kind, json.dumps(value)), id)
        if kind == "b64":
            try:
                b64decode(value, "op %r argument %r" % (op, name))
            except ProtocolError as exc:
                raise ProtocolError(str(exc), id) from None
    return int(id), op, args  # type: ignore[arg-type]


# -- the platform edge: names to this platform's numbers and back ---------------------------------
def native_symbol(value: object, table: Dict[str, int], what: str) -> int:
    """A family/type name (or the suite's Linux number) as this platform's number."""
    if isinstance(value, str):
        if value in table and hasattr(socket, value):
            return int(getattr(socket, value))
        raise ProtocolError("%s: unknown value %r; valid names: %s" % (what, value, ", ".join(table)))
    for name, number in table.items():
        if number == value and hasattr(socket, name):
            return int(getattr(socket, name))
    return int(value)  # type: ignore[call-overload]


def errno_name(number: Optional[int]) -> str:
    """The symbolic name of this platform's errno ``number`` (``EIO`` when it has none)."""
    return errno.errorcode.get(number or 0, "EIO")


def ioc(direction: str, group: str, number: int, length: int) -> int:
    """A BSD ioctl request number: _IO/_IOR/_IOW/_IOWR (sys/ioccom.h: IOC_OUT 0x40000000, IOC_IN 0x80000000)."""
    bits = {"": 0x20000000, "r": 0x40000000, "w": 0x80000000, "rw": 0xC0000000}[direction]
    return bits | ((length & 0x1FFF) << 16) | (ord(group) << 8) | number


# -- shared kernel machinery ---------------------------------------------------------------------
def port_plan(n: int) -> List[Dict[str, Any]]:
    """Port i: router 198.18.i.1 / 2001:db8:i::1, tester-side host .10 / ::10 (the suite's ranges)."""
    return [
        {
            "index": i,
            "ipv4": "198.18.%d.1" % i,
            "ipv6": str(ipaddress.IPv6Address("2001:db8:%x::1" % i)),
            "peer_ipv4": "198.18.%d.10" % i,
            "peer_ipv6": str(ipaddress.IPv6Address("2001:db8:%x::10" % i)),
            "mac": "02:6d:72:00:%02x:01" % i,
            "peer_mac": "02:6d:72:00:%02x:10" % i,
        }
        for i in range(n)
    ]


def is_test_frame(frame: bytes, peers4: frozenset, peers6: frozenset) -> bool:
    """Frames the suite cares about: to 232/8 or ff3e::/16, PIM, or unicast to a tester peer."""
    if len(frame) < 14:
        return False
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if ethertype == NUM["ETH_P_IP"] and len(frame) >= 34:
        dst = frame[30:34]
        return dst[0] == 232 or frame[23] == NUM["IPPROTO_PIM"] or dst in peers4
    if ethertype == NUM["ETH_P_IPV6"] and len(frame) >= 54:
        dst = frame[38:54]
        return dst[:2] == b"\xff\x3e" or frame[20] == NUM["IPPROTO_PIM"] or dst in peers6
    return False


def read_until_quiet(fds: List[int], read: Callable[[int], int], since: float, first: float, gap: float) -> None:
    """Read ready fds until ``first`` s after ``since`` pass with nothing useful, then ``gap`` after each item."""
    deadline = since + first
    while True:
        ready = select.select(fds, [], [], max(0.0, deadline - time.monotonic()))[0]
        if ready:
            if sum(read(fd) for fd in ready):
                deadline = time.monotonic() + gap
            continue
        if time.monotonic() >= deadline:
            return


def run(argv: List[str], stdin: Optional[str] = None, check: bool = True) -> str:
    """Run a system tool; a failure is ``RuntimeError`` with its stderr."""
    proc = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), proc.returncode, one_line(proc.stderr)))
    return proc.stdout


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _raise_errno(call: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, "%s: %s" % (call, os.strerror(err)))


class KernelBackend:
    """Sockets on the router, frames on the tester ends; subclasses build the isolation."""

    name = "kernel"
    profile = "documented"
    QUIET, RECV_FIRST, RECV_GAP = 0.03, 0.05, 0.005
    optional_ops = ()  # type: Tuple[str, ...]

    def __init__(self) -> None:
        self.plan = []  # type: List[Dict[str, Any]]
        self.ports = []  # type: List[Dict[str, Any]]
        self.socks = {}  # type: Dict[int, socket.socket]
        self.next_sock = 1
        self.last = 0.0  # monotonic time of the last stimulus (send, setsockopt)
        self.peers4 = frozenset()  # type: frozenset
        self.peers6 = frozenset()  # type: frozenset

    def _set_plan(self, plan: List[Dict[str, Any]]) -> None:
        self.plan = plan
        self.peers4 = frozenset(ipaddress.IPv4Address(p["peer_ipv4"]).packed for p in plan)
        self.peers6 = frozenset(ipaddress.IPv6Address(p["peer_ipv6"]).packed for p in plan)

    # subclass hooks
    def make_socket(self, family: int, type_: int, proto: int) -> socket.socket:
        raise NotImplementedError

    def inject(self, port: int, frame: bytes) -> None:
        raise NotImplementedError

    def capture_fds(self) -> List[int]:
        raise NotImplementedError

    def read_frames(self, fd: int) -> Tuple[int, List[bytes]]:
        raise NotImplementedError

    def clean_router(self) -> None:
        """After every socket is closed: make the router pristine (tables, switches)."""

    def remove_interface(self, port: int) -> None:
        """The router's device of ``port`` goes away (optional; reset() brings it back)."""
        raise NotSupported("the %s backend cannot remove an interface" % self.name)

    def restore_ports(self) -> None:
        """Bring back every port remove_interface took away (called by reset)."""

    def routing_state(self, version: int, table: int) -> Dict[str, Any]:
        """The table's vifs and MFC as the system shows them (optional)."""
        raise NotSupported("the %s backend cannot read the routing state back" % self.name)

    def destroy(self) -> None:
        raise NotImplementedError

    def details(self) -> Dict[str, Any]:
        return {}

    # operations
    def _sock(self, ident: int) -> socket.socket:
        if ident not in self.socks:
            raise OSError(errno.EBADF, "no socket %d on this agent" % ident)
        return self.socks[ident]

    def open_socket(self, family: int, type_: int, proto: int) -> int:
        s = self.make_socket(family, type_, proto)
        ident, self.next_sock = self.next_sock, self.next_sock + 1
        self.socks[ident] = s
        return ident

    def setsockopt(self, ident: int, level: int, optname: int, value: bytes) -> bytes:
        fd = self._sock(ident).fileno()
        buf = ctypes.create_string_buffer(bytes(value), max(1, len(value)))
        try:
            if _libc.setsockopt(fd, level, optname, buf, ctypes.c_uint32(len(value))) != 0:
                _raise_errno("setsockopt")
        finally:
            self.last = time.monotonic()
        return buf.raw[: len(value)]

    def getsockopt(self, ident: int, level: int, optname: int, buflen: int) -> bytes:
        fd = self._sock(ident).fileno()
        buf = ctypes.create_string_buffer(max(1, buflen))
        optlen = ctypes.c_uint32(buflen & 0xFFFFFFFF)
        if _libc.getsockopt(fd, level, optname, buf, ctypes.byref(optlen)) != 0:
            _raise_errno("getsockopt")
        return buf.raw[: max(0, min(optlen.value, max(0, buflen)))]

    def ioctl(self, ident: int, request: int, arg: bytes) -> bytes:
        buf = bytearray(arg)
        fcntl.ioctl(self._sock(ident).fileno(), request, buf, True)
        return bytes(buf)

    def close(self, ident: int) -> None:
        self._sock(ident).close()
        del self.socks[ident]

    def recv_all(self, ident: int) -> List[bytes]:
        s = self._sock(ident)
        got = []  # type: List[bytes]

        def read(_fd: int) -> int:
            n = 0
            while True:
                try:
                    got.append(s.recv(65536, socket.MSG_DONTWAIT))
                except BlockingIOError:
                    return n
                n += 1

        read_until_quiet([s.fileno()], read, self.last, self.RECV_FIRST, self.RECV_GAP)
        return got

    def send(self, port: int, frame: bytes) -> None:
        try:
            self.inject(port, frame)
        finally:
            self.last = time.monotonic()

    def collect(self) -> Dict[str, List[str]]:
        out = {str(i): [] for i in range(len(self.ports))}  # type: Dict[str, List[str]]

        def read(fd: int) -> int:
            port, frames = self.read_frames(fd)
            kept = [f for f in frames if is_test_frame(f, self.peers4, self.peers6)]
            out[str(port)].extend(b64encode(f) for f in kept)
            return len(kept)

        read_until_quiet(self.capture_fds(), read, self.last, self.QUIET, self.QUIET)
        return out

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)  # a kernel's timers are wall-clock

    def reset(self) -> None:
        for s in list(self.socks.values()):
            s.close()  # MRT_DONE / MRT6_DONE for a routing socket
        self.socks.clear()
        self.restore_ports()
        self.clean_router()
        self.collect()  # drain in-flight frames

    def info(self) -> Dict[str, Any]:
        uname = os.uname()
        details = {"kernel": uname.release, "system": uname.sysname, "machine": uname.machine,
                   "ports": len(self.ports), "agent": AGENT["name"], "python": sys.version.split()[0]}
        details.update(self.details())
        return {"name": self.name, "profile": self.profile, "details": details}

    def shutdown(self) -> None:
        for s in list(self.socks.values()):
            s.close()
        self.socks.clear()
        self.destroy()


# -- linux: network namespaces, veth, AF_PACKET ---------------------------------------------------
class LinuxBackend(KernelBackend):
    """ipmr/ip6mr in namespaces ``mrc-<pid>-agent-{r,t}`` (never the host's namespace)."""

    name = "linux"
    profile = "linux"
    CLONE_NEWNET = 0x40000000
    optional_ops = ("remove_interface", "routing_state")

    @staticmethod
    def check() -> None:
        """``Unavailable`` with the reason when this machine cannot run the backend."""
        if os.uname().sysname != "Linux":
            raise Unavailable("the linux backend needs a Linux host")
        if os.geteuid() != 0:
            raise Unavailable("the linux backend needs root (to create network namespaces)")
        if not os.path.exists("/proc/net/ip_mr_vif"):
            raise Unavailable("kernel without IPv4 multicast routing (CONFIG_IP_MROUTE): /proc/net/ip_mr_vif is missing")
        if shutil.which("ip") is None:
            raise Unavailable("iproute2 'ip' command not found")

    def __init__(self, n_ports: int = 4) -> None:
        super().__init__()
        self.check()
        self._set_plan(port_plan(n_ports))
        base = "mrc-%d-agent" % os.getpid()
        self.names = [base + "-r", base + "-t"]
        self.fds = []  # type: List[int]
        self.capture = []  # type: List[socket.socket]
        self.injectors = []  # type: List[socket.socket]
        self.tables = {socket.AF_INET: set(), socket.AF_INET6: set()}  # type: Dict[int, set]
        self.gone = set()  # type: set
        try:
            run(["ip", "-batch", "-"], stdin="".join("netns add %s\n" % n for n in self.names))
            self.fds = [os.open("/run/netns/" + n, os.O_RDONLY) for n in self.names]
            self._wire_up()
        except BaseException as exc:
            self.destroy()
            if isinstance(exc, (OSError, RuntimeError)):
                raise Unavailable("cannot build the namespaces: %s" % one_line(exc)) from None
            raise

    def _setns(self, fd: int) -> None:
        if _libc.setns(fd, self.CLONE_NEWNET) != 0:
            _raise_errno("setns")

    def _in(self, which: int, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` with this thread in namespace ``which`` (0 router, 1 tester), then come back."""
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            self._setns(self.fds[which])
            try:
                return fn()
            finally:
                self._setns(home)
        finally:
            os.close(home)

    def _sysctls(self, which: int, values: Dict[str, int]) -> None:
        def write() -> None:
            for key, value in values.items():
                with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                    f.write(str(value))
        self._in(which, write)

    def _wire_up(self) -> None:
        router, tester = self.names
        self._sysctls(0, {"net.ipv4.conf.all.rp_filter": 0, "net.ipv4.conf.default.rp_filter": 0,
                          "net.ipv6.conf.all.accept_dad": 0, "net.ipv6.conf.default.accept_dad": 0,
                          "net.ipv6.conf.default.router_solicitations": 0, "net.ipv6.conf.default.accept_ra": 0})
        self._sysctls(1, {"net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1})
        n = len(self.plan)
        run(["ip", "-n", router, "-batch", "-"], stdin="".join(self._veth_line(i) for i in range(n)))
        per_dev = {}  # type: Dict[str, int]
        for i in range(n):
            per_dev.update(self._port_sysctls(i))
        self._sysctls(0, per_dev)
        lines = ["link set lo up"]
        for i in range(n):
            lines += self._port_lines(i)
        run(["ip", "-n", router, "-batch", "-"], stdin="\n".join(lines) + "\n")
        run(["ip", "-n", tester, "-batch", "-"], stdin="link set lo up\n" + "".join("link set t%d up\n" % i for i in range(n)))
        self._await_running(0, ["r%d" % i for i in range(n)])
        self._await_running(1, ["t%d" % i for i in range(n)])
        ifindex = self._in(0, lambda: [socket.if_nametoindex("r%d" % i) for i in range(n)])
        self.ports = [{"index": i, "name": "r%d" % i, "ifindex": ifindex[i], "mac": p["mac"], "ipv4": p["ipv4"],
                       "ipv6": p["ipv6"], "peer_ipv4": p["peer_ipv4"], "peer_ipv6": p["peer_ipv6"],
                       "peer_mac": p["peer_mac"]} for i, p in enumerate(self.plan)]

        def open_wires() -> None:
            for i in range(n):
                cap, inj = self._open_wire(i)
                self.capture.append(cap)
                self.injectors.append(inj)
        self._in(1, open_wires)
        self.port_of_fd = {s.fileno(): i for i, s in enumerate(self.capture)}

    def _veth_line(self, i: int) -> str:
        p = self.plan[i]
        return ("link add name r%d index %d address %s type veth peer name t%d address %s netns %s\n"
                % (i, 10 + i, p["mac"], i, p["peer_mac"], self.names[1]))

    @staticmethod
    def _port_sysctls(i: int) -> Dict[str, int]:
        return {"net.ipv4.conf.r%d.rp_filter" % i: 0, "net.ipv6.conf.r%d.accept_dad" % i: 0}

    def _port_lines(self, i: int) -> List[str]:
        p = self.plan[i]
        return ["addr add %s/24 dev r%d" % (p["ipv4"], i), "addr add %s/64 dev r%d nodad" % (p["ipv6"], i),
                "link set r%d up" % i,
                "neigh replace %s lladdr %s dev r%d nud permanent" % (p["peer_ipv4"], p["peer_mac"], i),
                "neigh replace %s lladdr %s dev r%d nud permanent" % (p["peer_ipv6"], p["peer_mac"], i)]

    @staticmethod
    def _open_wire(i: int) -> Tuple[socket.socket, socket.socket]:
        """Capture and injector sockets on tester end t{i} (call inside the tester namespace)."""
        cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        cap.setsockopt(socket.SOL_SOCKET, NUM["LINUX_SO_RCVBUFFORCE"], 32 << 20)
        cap.bind(("t%d" % i, NUM["ETH_P_ALL"]))
        cap.setblocking(False)
        inj = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        inj.bind(("t%d" % i, 0))
        return cap, inj

    def routing_state(self, version: int, table: int) -> Dict[str, Any]:
        """/proc/net/ip_mr_vif + ip_mr_cache (ip6_mr_* for IPv6) of the router namespace, normalised as
        the protocol's routing_state result; /proc shows only the family's default table (IPv4 253, IPv6 254)."""
        default = 253 if version == 4 else 254
        if table != default:
            raise NotSupported("/proc shows only the default table %d of IPv%d, not %d" % (default, version, table))
        prefix = "ip_mr" if version == 4 else "ip6_mr"

        def read() -> Tuple[List[str], List[str]]:
            with open("/proc/thread-self/net/%s_vif" % prefix) as f:
                vifs = f.read().splitlines()[1:]
            with open("/proc/thread-self/net/%s_cache" % prefix) as f:
                return vifs, f.read().splitlines()[1:]
        try:
            vif_lines, mfc_lines = self._in(0, read)
        except FileNotFoundError as exc:
            raise NotSupported("no %s" % exc.filename) from None
        return proc_state(vif_lines, mfc_lines, version, {"r%d" % i: i for i in range(len(self.ports))})

    def remove_interface(self, port: int) -> None:
        """Delete port ``port``'s veth pair (ipmr sees NETDEV_UNREGISTER for r{port}); reset() restores it."""
        if port in self.gone:
            raise ValueError("port %d was removed already" % port)
        self.gone.add(port)
        self.port_of_fd = {fd: i for fd, i in self.port_of_fd.items() if i != port}
        self.capture[port].close()
        self.injectors[port].close()
        run(["ip", "-n", self.names[0], "link", "del", "r%d" % port])
        self.last = time.monotonic()

    def restore_ports(self) -> None:
        for i in sorted(self.gone):
            run(["ip", "-n", self.names[0], "-batch", "-"], stdin=self._veth_line(i))
            self._sysctls(0, self._port_sysctls(i))
            run(["ip", "-n", self.names[0], "-batch", "-"], stdin="\n".join(self._port_lines(i)) + "\n")
            run(["ip", "-n", self.names[1], "link", "set", "t%d" % i, "up"])
            self._await_running(0, ["r%d" % i])
            self._await_running(1, ["t%d" % i])
            self.capture[i], self.injectors[i] = self._in(1, functools.partial(self._open_wire, i))
            self.port_of_fd[self.capture[i].fileno()] = i
            self.gone.discard(i)

    def _await_running(self, which: int, ifnames: List[str], timeout: float = 5.0) -> None:
        """Wait on rtnetlink link events until every interface is IFF_RUNNING (frames are dropped before)."""
        events, ctl = self._in(which, lambda: (
            socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE),
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM)))
        with events, ctl:
            events.bind((0, 1))  # RTMGRP_LINK: subscribe first, then look
            events.setblocking(False)
            deadline = time.monotonic() + timeout
            while True:
                down = [name for name in ifnames if not struct.unpack_from("H", fcntl.ioctl(
                    ctl.fileno(), NUM["LINUX_SIOCGIFFLAGS"], struct.pack("16sH22x", name.encode(), 0)), 16)[0]
                    & NUM["IFF_RUNNING"]]
                if not down:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("links not running after %g s: %s" % (timeout, down))
                if select.select([events], [], [], left)[0]:
                    while True:
                        try:
                            events.recv(65536)
                        except BlockingIOError:
                            break

    def make_socket(self, family: int, type_: int, proto: int) -> socket.socket:
        s = self._in(0, lambda: socket.socket(family, type_, proto))  # type: socket.socket
        if type_ == socket.SOCK_RAW and (family, proto) in ((socket.AF_INET, 2), (socket.AF_INET6, 58)):
            s.setsockopt(socket.SOL_SOCKET, NUM["LINUX_SO_RCVBUFFORCE"], 8 << 20)  # bursts of upcalls
        return s

    def setsockopt(self, ident: int, level: int, optname: int, value: bytes) -> bytes:
        out = super().setsockopt(ident, level, optname, value)
        s = self.socks[ident]
        if optname == NUM["LINUX_MRT_TABLE"] and level in (0, 41) and len(value) >= 4 and s.family in self.tables:
            self.tables[s.family].add(struct.unpack_from("=I", value)[0])
        return out

    def inject(self, port: int, frame: bytes) -> None:
        if port not in self.gone:  # a removed port's wire is gone: the frame goes nowhere
            self.injectors[port].send(frame)

    def capture_fds(self) -> List[int]:
        return list(self.port_of_fd)

    def read_frames(self, fd: int) -> Tuple[int, List[bytes]]:
        port, frames = self.port_of_fd[fd], []  # type: Tuple[int, List[bytes]]
        while True:
            try:
                frame, addr = self.capture[port].recvfrom(65536)
            except BlockingIOError:
                return port, frames
            if addr[2] != NUM["LINUX_PACKET_OUTGOING"]:
                frames.append(frame)

    def clean_router(self) -> None:
        """MRT_FLUSH everything (static entries survive MRT_DONE) and PIM/ASSERT off, per used table."""
        for family, proto, level in ((socket.AF_INET, 2, 0), (socket.AF_INET6, 58, 41)):
            for table in sorted({254} | self.tables[family]):
                try:
                    s = self.make_socket(family, socket.SOCK_RAW, proto)
                except OSError:
                    continue
                with s:
                    try:
                        if table != 254:
                            s.setsockopt(level, NUM["LINUX_MRT_TABLE"], struct.pack("=I", table))
                        s.setsockopt(level, NUM["LINUX_MRT_FLUSH"], struct.pack("=i", 0xF))
                    except OSError:
                        continue
                    for opt in (NUM["LINUX_MRT_PIM"], NUM["LINUX_MRT_ASSERT"]):
                        try:
                            s.setsockopt(level, opt, struct.pack("=i", 0))
                        except OSError:
                            pass
            self.tables[family] = set()

    def destroy(self) -> None:
        for s in self.capture + self.injectors:
            s.close()
        self.capture, self.injectors = [], []
        for fd in self.fds:
            os.close(fd)
        self.fds = []
        present = [n for n in self.names if os.path.exists("/run/netns/" + n)]
        if present:
            run(["ip", "-force", "-batch", "-"], stdin="".join("netns del %s\n" % n for n in present), check=False)

    def details(self) -> Dict[str, Any]:
        return {"namespaces": self.names, "ipv6_mroute": os.path.exists("/proc/net/ip6_mr_vif")}


def _be32(word: str) -> str:
    """A /proc %08X of a __be32 (printed as a host-order u32) as the dotted quad it holds."""
    return str(ipaddress.IPv4Address(struct.pack("=I", int(word, 16))))


def proc_state(vif_lines: List[str], mfc_lines: List[str], version: int, port_of: Dict[str, int]) -> Dict[str, Any]:
    """Linux /proc vif and cache lines (headers dropped) as the routing_state result (mirrors
    conformance/targets/linux/mrstate.py; tests/test_standalone_agent.py compares them)."""
    vifs = []
    for line in vif_lines:
        f = line.split()
        vifs.append({"index": int(f[0]), "port": port_of.get(f[1]), "flags": int(f[6], 16),
                     "local": _be32(f[7]) if version == 4 else "", "icount": int(f[3]), "ocount": int(f[5]),
                     "ibytes": int(f[2]), "obytes": int(f[4])})
    mfc = []
    for line in mfc_lines:
        f = line.split()
        if version == 4:
            group, origin = _be32(f[0]), _be32(f[1])
        else:
            group, origin = str(ipaddress.ip_address(f[0])), str(ipaddress.ip_address(f[1]))
        parent = int(f[2])
        mfc.append({"source": origin, "group": group, "parent": parent,
                    "oifs": [[int(x) for x in t.split(":")] for t in f[6:]], "pktcnt": int(f[3]),
                    "bytecnt": int(f[4]), "wrong_if": int(f[5]), "pending": parent == -1})
    return {"vifs": vifs, "mfc": mfc}


# -- freebsd: vnet jails, epair, bpf(4) (NOT RUN: written against the headers) ---------------------
IFNAMSIZ = 16
BIOCGBLEN = ioc("r", "B", 102, 4)  # _IOR('B', 102, u_int)
BIOCSETIF = ioc("w", "B", 108, 32)  # _IOW('B', 108, struct ifreq): name[16] + union[16]
BIOCIMMEDIATE = ioc("w", "B", 112, 4)  # _IOW('B', 112, u_int)
BIOCSHDRCMPLT = ioc("w", "B", 117, 4)  # _IOW('B', 117, u_int): we write our own source MAC
BIOCSDIRECTION = ioc("w", "B", 119, 4)  # _IOW('B', 119, u_int): BPF_D_IN, never our own writes


def bpf_records(buf: bytes, long_size: int = 0) -> List[bytes]:
    """Split a bpf(4) read buffer into frames: each ``struct bpf_hdr`` (timeval, caplen, datalen,
    hdrlen) then the frame, the next record at BPF_WORDALIGN (``sizeof(long)``)."""
    long_size = long_size or struct.calcsize("l")
    head = struct.Struct("=%dxIIH" % (2 * long_size))  # struct timeval is two longs on FreeBSD
    frames, offset = [], 0
    while offset + head.size <= len(buf):
        caplen, _datalen, hdrlen = head.unpack_from(buf, offset)
        frames.append(bytes(buf[offset + hdrlen: offset + hdrlen + caplen]))
        offset += (hdrlen + caplen + long_size - 1) & ~(long_size - 1)
    return frames


def send_fd(sock: socket.socket, fd: int) -> None:
    """Pass ``fd`` over a unix socket (SCM_RIGHTS; socket.send_fds needs Python 3.9)."""
    sock.sendmsg([b"F"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))])


def recv_fd(sock: socket.socket) -> int:
    """The fd sent by ``send_fd``, or ``OSError`` with the errno the child reported."""
    data, ancdata, _flags, _addr = sock.recvmsg(64, socket.CMSG_SPACE(struct.calcsize("i")))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            return struct.unpack("i", payload[: struct.calcsize("i")])[0]
    if data.startswith(b"E"):
        number = int(data[1:].decode() or errno.EIO)
        raise OSError(number, os.strerror(number))
    raise RuntimeError("jail helper went away")


class FreeBSDBackend(KernelBackend):
    """ip_mroute/ip6_mroute in vnet jail ``mrc-<pid>-r``; tester ends in ``mrc-<pid>-t``.

    Sockets and bpf descriptors are created by helper processes attached to a jail (jail_attach(2)
    is one-way) and handed back over SCM_RIGHTS: a socket or bpf descriptor keeps the vnet it was
    created or bound in, so this process drives both jails without ever entering one.
    """

    name = "freebsd"
    profile = "freebsd"
    ROUTING_RCVBUF = 4 << 20  # the freebsd profile's set-up fact: daemons raise SO_RCVBUF (9216 default)

    @staticmethod
    def check() -> None:
        if os.uname().sysname != "FreeBSD":
            raise Unavailable("the freebsd backend needs a FreeBSD host")
        if os.geteuid() != 0:
            raise Unavailable("the freebsd backend needs root (to create vnet jails)")
        if run(["sysctl", "-n", "kern.features.vimage"], check=False).strip() != "1":
            raise Unavailable("kernel without VIMAGE (vnet jails): kern.features.vimage is not 1")
        if subprocess.call(["kldstat", "-q", "-m", "ip_mroute"]) != 0 and subprocess.call(["kldload", "-n", "ip_mroute"]) != 0:
            raise Unavailable("no IPv4 multicast routing: kldload ip_mroute failed (options MROUTING?)")

    def __init__(self, n_ports: int = 4) -> None:
        super().__init__()
        self.check()
        self._set_plan(port_plan(n_ports))
        base = "mrc-%d" % os.getpid()
        self.jails = [base + "-r", base + "-t"]
        self.made_jails = []  # type: List[str]
        self.epairs = []  # type: List[str]  # the "a" ends; "b" is the tester's
        self.helpers = []  # type: List[Tuple[int, socket.socket]]
        self.bpf = []  # type: List[int]
        try:
            for jail in self.jails:
                # path=/ lets jexec run this Python inside; raw sockets are what the router needs
                run(["jail", "-c", "name=" + jail, "path=/", "vnet", "persist", "children.max=0", "allow.raw_sockets"])
                self.made_jails.append(jail)
            self._wire_up()
            self.helpers = [self._spawn_helper(j) for j in self.jails]
            for i in range(n_ports):
                self.bpf.append(self._open_bpf(self.epairs[i][:-1] + "b"))
            self.port_of_fd = {fd: i for i, fd in enumerate(self.bpf)}
            self.blen = struct.unpack("I", fcntl.ioctl(self.bpf[0], BIOCGBLEN, bytes(4)))[0] if self.bpf else 4096
        except BaseException as exc:
            self.destroy()
            if isinstance(exc, (OSError, RuntimeError)):
                raise Unavailable("cannot build the jails: %s" % one_line(exc)) from None
            raise

    def _jexec(self, which: int, *argv: str) -> str:
        return run(["jexec", self.jails[which], *argv])

    def _wire_up(self) -> None:
        """epair i: ``epairNa`` (router port i) in the router jail, ``epairNb`` (tester end) in the tester's.

        The ends keep their unique epair names: when the jails go, the interfaces return to the
        host under those names and are destroyed there (an epair is destroyed from its home vnet).
        """
        router, tester = self.jails
        for jail in self.jails:
            run(["jexec", jail, "ifconfig", "lo0", "up"])
        for p in self.plan:
            a = run(["ifconfig", "epair", "create"]).strip()  # e.g. epair3a; its peer is epair3b
            b = a[:-1] + "b"
            self.epairs.append(a)
            run(["ifconfig", a, "vnet", router])
            run(["ifconfig", b, "vnet", tester])
            self._jexec(0, "ifconfig", a, "ether", p["mac"])
            self._jexec(1, "ifconfig", b, "ether", p["peer_mac"])
            self._jexec(0, "ifconfig", a, "inet6", "-ifdisabled", "no_dad", "-accept_rtadv")
            self._jexec(0, "ifconfig", a, "inet", "%s/24" % p["ipv4"], "up")
            self._jexec(0, "ifconfig", a, "inet6", "%s/64" % p["ipv6"])
            self._jexec(1, "ifconfig", b, "inet6", "ifdisabled")
            self._jexec(1, "ifconfig", b, "up")
            self._jexec(0, "arp", "-s", p["peer_ipv4"], p["peer_mac"])
            self._jexec(0, "ndp", "-s", p["peer_ipv6"], p["peer_mac"])
        names = ",".join(repr(a) for a in self.epairs)
        out = self._jexec(0, sys.executable, "-c", "import socket;print(*[socket.if_nametoindex(n) for n in (%s,)])" % names)
        indexes = [int(x) for x in out.split()]
        self.ports = [{"index": i, "name": self.epairs[i], "ifindex": indexes[i], "mac": p["mac"], "ipv4": p["ipv4"],
                       "ipv6": p["ipv6"], "peer_ipv4": p["peer_ipv4"], "peer_ipv6": p["peer_ipv6"],
                       "peer_mac": p["peer_mac"]} for i, p in enumerate(self.plan)]

    def _spawn_helper(self, jail: str) -> Tuple[int, socket.socket]:
        """A child attached to ``jail`` that creates sockets / bpf descriptors on request."""
        jid = int(run(["jls", "-j", jail, "jid"]).strip())
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:  # the helper: never returns
            parent.close()
            code = 0
            try:
                if _libc.jail_attach(jid) != 0:
                    _raise_errno("jail_attach")
                while True:
                    request = child.recv(256)
                    if not request:
                        break
                    try:
                        fd = self._helper_open(request.decode())
                    except OSError as exc:
                        child.sendall(b"E%d" % (exc.errno or errno.EIO))
                        continue
                    send_fd(child, fd)
                    os.close(fd)
            except BaseException:
                code = 1
            os._exit(code)
        child.close()
        return pid, parent

    @staticmethod
    def _helper_open(request: str) -> int:
        """In the helper: ``sock F T P`` makes a socket, ``bpf IFNAME`` a bpf fd bound to IFNAME."""
        words = request.split()
        if words[0] == "sock":
            s = socket.socket(int(words[1]), int(words[2]), int(words[3]))
            return s.detach()
        fd = os.open("/dev/bpf", os.O_RDWR)
        fcntl.ioctl(fd, BIOCSETIF, struct.pack("%ds16x" % IFNAMSIZ, words[1].encode()))
        return fd

    def _ask(self, which: int, request: str) -> int:
        _pid, sock = self.helpers[which]
        sock.sendall(request.encode())
        return recv_fd(sock)

    def _open_bpf(self, ifname: str) -> int:
        fd = self._ask(1, "bpf " + ifname)
        for request in (BIOCIMMEDIATE, BIOCSHDRCMPLT):
            fcntl.ioctl(fd, request, struct.pack("I", 1))
        fcntl.ioctl(fd, BIOCSDIRECTION, struct.pack("I", NUM["BPF_D_IN"]))
        os.set_blocking(fd, False)
        return fd

    def make_socket(self, family: int, type_: int, proto: int) -> socket.socket:
        s = socket.socket(fileno=self._ask(0, "sock %d %d %d" % (family, type_, proto)))
        if type_ == socket.SOCK_RAW and family == socket.AF_INET and proto == 2:
            # the freebsd profile's set-up facts: with the loop on, locally sent multicast is looped
            # through if_simloop before ip_mforward sees it; and upcall bursts need a large buffer
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.ROUTING_RCVBUF)
        elif type_ == socket.SOCK_RAW and family == socket.AF_INET6 and proto == 58:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.ROUTING_RCVBUF)
        return s

    def inject(self, port: int, frame: bytes) -> None:
        os.write(self.bpf[port], frame)

    def capture_fds(self) -> List[int]:
        return list(self.port_of_fd)

    def read_frames(self, fd: int) -> Tuple[int, List[bytes]]:
        frames = []  # type: List[bytes]
        while True:
            try:
                buf = os.read(fd, self.blen)
            except BlockingIOError:
                break
            if not buf:
                break
            frames.extend(bpf_records(buf))
        return self.port_of_fd[fd], frames

    def destroy(self) -> None:
        for fd in self.bpf:
            os.close(fd)
        self.bpf = []
        for pid, sock in self.helpers:
            sock.close()  # the helper reads end of input and exits
            os.waitpid(pid, 0)
        self.helpers = []
        for jail in self.made_jails:  # removing a vnet jail returns its interfaces to the host
            run(["jail", "-r", jail], check=False)
        self.made_jails = []
        for a in self.epairs:  # destroying one end of an epair destroys both
            run(["ifconfig", a, "destroy"], check=False)
        self.epairs = []

    def details(self) -> Dict[str, Any]:
        return {"jails": self.jails, "untested_backend": "written against the FreeBSD headers, not run by the project"}


# -- the session ----------------------------------------------------------------------------------
class Session:
    """One connection: the backend (built on first need) and the dispatch of requests to it."""

    def __init__(self, backend: str, n_ports: int) -> None:
        self.backend_name, self.n_ports = backend, n_ports
        self.backend = None  # type: Optional[KernelBackend]
        self.unavailable = None  # type: Optional[str]
        self.done = False

    def target(self) -> KernelBackend:
        if self.backend is None and self.unavailable is None:
            cls = LinuxBackend if self.backend_name == "linux" else FreeBSDBackend
            try:
                self.backend = cls(self.n_ports)
            except Unavailable as exc:
                self.unavailable = str(exc)
        if self.backend is None:
            raise Unavailable(self.unavailable or "backend unavailable")
        return self.backend

    def close(self) -> None:
        backend, self.backend = self.backend, None
        if backend is not None:
            self.unavailable = "the target was shut down"
            backend.shutdown()

    def call(self, op: str, a: Dict[str, Any]) -> Any:
        if op == "hello":
            if a["version"] != PROTOCOL_VERSION:
                raise ProtocolError("protocol version mismatch: the client speaks %s, this agent speaks %d"
                                    % (a["version"], PROTOCOL_VERSION))
            optional = LinuxBackend.optional_ops if self.backend_name == "linux" else FreeBSDBackend.optional_ops
            hello = {"version": PROTOCOL_VERSION, "agent": AGENT, "backend": self.backend_name,
                     "capabilities": [op for op in CAPABILITIES if op not in OPTIONAL_OPS or op in optional]
                     }  # type: Dict[str, Any]
            try:
                t = self.target()
            except Unavailable as exc:
                hello["unavailable"] = str(exc)
                return hello
            hello.update(profile=t.profile, ports=t.ports, virtual_time=False, info=t.info())
            return hello
        if op == "bye":
            self.done = True
            return None
        if op == "shutdown":
            self.close()
            return None
        t = self.target()
        if op == "open_socket":
            return t.open_socket(native_symbol(a["family"], FAMILIES, "family"),
                                 native_symbol(a["type"], SOCK_TYPES, "type"), a["proto"])
        if op == "setsockopt":
            return b64encode(t.setsockopt(a["sock"], a["level"], a["optname"], b64decode(a["value"], "value")))
        if op == "getsockopt":
            return b64encode(t.getsockopt(a["sock"], a["level"], a["optname"], a["buflen"]))
        if op == "ioctl":
            return b64encode(t.ioctl(a["sock"], a["request"], b64decode(a["arg"], "arg")))
        if op == "close":
            return t.close(a["sock"])
        if op == "recv_all":
            return [b64encode(d) for d in t.recv_all(a["sock"])]
        if op == "send":
            if not 0 <= a["port"] < len(t.ports):
                raise ProtocolError("no port %d; this target has %d" % (a["port"], len(t.ports)))
            return t.send(a["port"], b64decode(a["frame"], "frame"))
        if op == "collect":
            return t.collect()
        if op == "advance":
            return t.advance(float(a["seconds"]))
        if op == "reset":
            return t.reset()
        if op == "routing_state":
            if a["version"] not in (4, 6):
                raise ProtocolError("version must be 4 or 6, not %s" % a["version"])
            return t.routing_state(a["version"], a["table"])
        if op == "remove_interface":
            if not 0 <= a["port"] < len(t.ports):
                raise ProtocolError("no port %d; this target has %d" % (a["port"], len(t.ports)))
            return t.remove_interface(a["port"])
        return t.info()  # "info": the only op left in OPS

    def handle(self, line: bytes) -> bytes:
        """The response line for one request line; never raises for a bad request."""
        id = None  # type: Optional[int]
        try:
            id, op, args = decode_request(line)
            return _dump({"id": id, "ok": True, "result": self.call(op, args)})
        except ProtocolError as exc:
            return encode_error(exc.id if id is None else id, "protocol", str(exc))
        except Unavailable as exc:
            return encode_error(id, "unavailable", str(exc))
        except NotSupported as exc:
            return encode_error(id, "unsupported", str(exc))
        except OSError as exc:
            return encode_error(id, "oserror", exc.strerror or str(exc) or errno_name(exc.errno), errno_name(exc.errno))
        except Exception as exc:
            return encode_error(id, "internal", "%s: %s" % (type(exc).__name__, one_line(exc)))


def serve(session: Session, reader: BinaryIO, writer: BinaryIO) -> None:
    """Answer requests until ``bye`` or end of input; the backend is shut down on every exit."""
    try:
        while not session.done:
            try:
                line = reader.readline(MAX_LINE + 1)
            except OSError:
                break
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                while True:  # skip the rest of an oversize line
                    rest = reader.readline(1 << 20)
                    if not rest or rest.endswith(b"\n"):
                        break
            if not line:
                break
            try:
                writer.write(session.handle(line))
                writer.flush()
            except (BrokenPipeError, ConnectionError):
                break
    finally:
        session.close()


class AwaitHost:
    """A device reader: end of input before the first line means "host not connected yet" (retry)."""

    def __init__(self, inner: BinaryIO, wait: float) -> None:
        self.inner, self.deadline, self.started = inner, time.monotonic() + wait, False

    def readline(self, limit: int = -1) -> bytes:
        while True:
            line = self.inner.readline(limit)
            if line or self.started or time.monotonic() >= self.deadline:
                self.started = True
                return line
            time.sleep(0.02)  # a virtio-serial port gives no event when the host connects


def parse_listen(text: str) -> Tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` for ``--listen``."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("expected HOST:PORT with a port from 1 to 65535, got %r" % text)
    return host or "0.0.0.0", int(port)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="agent.py",
        description="mroute-conformance standalone agent (protocol version 1): serves the running kernel's "
        "multicast routing to the suite over stdin/stdout, a TCP port or a character device. "
        "The freebsd backend is written against the FreeBSD headers and has not been run by the project.",
    )
    parser.add_argument("--backend", choices=BACKENDS, default=("freebsd" if sys.platform.startswith("freebsd") else "linux"),
                        help="what to drive (default: this platform's)")
    parser.add_argument("--ports", type=int, default=4, help="router ports wired to the tester (1..16, default 4)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--listen", type=parse_listen, metavar="HOST:PORT",
                       help="accept one TCP connection at a time (one session each) instead of stdin/stdout")
    where.add_argument("--device", metavar="PATH", help="speak on this character device (serial, virtio-serial)")
    parser.add_argument("--wait-host", type=float, default=60.0, metavar="SECONDS",
                        help="with --device: how long to wait for the host side (default 60)")
    args = parser.parse_args(argv)
    if not 1 <= args.ports <= 16:
        parser.error("--ports must be from 1 to 16, not %d" % args.ports)
    return args


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through serve(), which shuts the backend down


def main(argv: Optional[List[str]] = None) -> int:
    """Serve sessions until ``bye``/end of input (stdio, device) or forever (``--listen``)."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.listen:
            host, port = args.listen
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as server:
                server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                server.bind((host, port))
                server.listen(1)
                print("agent.py: listening on %s:%d" % (host, port), file=sys.stderr, flush=True)
                while True:
                    conn, _ = server.accept()
                    with conn, conn.makefile("rb") as r, conn.makefile("wb") as w:
                        serve(Session(args.backend, args.ports), r, w)
        if args.device:
            try:
                fd = os.open(args.device, os.O_RDWR | os.O_NOCTTY)
            except OSError as exc:
                print("agent.py: cannot open --device %r: %s" % (args.device, exc.strerror or exc), file=sys.stderr)
                return 2
            reader = AwaitHost(os.fdopen(fd, "rb", buffering=1 << 16), args.wait_host)  # type: Any
            writer = os.fdopen(os.dup(fd), "wb", buffering=1 << 16)
        else:
            reader = os.fdopen(os.dup(0), "rb", buffering=1 << 16)
            writer = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
            sys.stdout.flush()
            os.dup2(2, 1)  # stray prints go to stderr, never onto the wire
            sys.stdout = sys.stderr
        serve(Session(args.backend, args.ports), reader, writer)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
