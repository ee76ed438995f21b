"""Turn a daemon's strace and the recorder's own sends and collects into one ordered ``Recording``.

Only the daemon's multicast routing sockets count: raw IGMP (IPv4) and raw ICMPv6 (IPv6) sockets,
followed from ``socket()`` to ``close()`` (or the process's exit, which closes them). On those:
``setsockopt``/``getsockopt`` of options the profile knows by name, ``close``, and each datagram
the daemon read (``read``/``recvfrom``/``recvmsg``) become calls; everything else the daemon did
is counted in ``excluded`` with the reason, so a reader sees what the fixture leaves out.

Ordering: the recorder only sends a frame after the daemon's trace has been quiet, and stamps the
send with the guest's wall clock read then; strace stamps each call with the same clock, so
merging by time puts every call on the right side of every send and collect.
"""

from __future__ import annotations

import errno as E
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from conformance.fixtures.frames import LINK_LOCAL4, LINK_LOCAL6, own_link_local_membership
from conformance.fixtures.names import option_name
from conformance.fixtures.recorder import Call, Recording
from conformance.recording.strace import Syscall, buffer, integer, iov_bytes
from mroute_spec.options import SOCKET_OPTIONS_BY_NAME
from reference_impl.profiles import Profile

# (family, type, protocol) of the sockets a multicast routing daemon drives the kernel through
MROUTE_SOCKETS = {(2, 3, 2), (10, 3, 58)}
SOCK_TYPE_MASK = 0xF  # SOCK_CLOEXEC / SOCK_NONBLOCK are or'ed into the type
READS = ("read", "recvfrom", "recvmsg")


@dataclass
class Event:
    """Something the recorder did while the daemon ran: ``send`` a frame or ``collect`` the wires."""

    at: float  # guest wall clock
    op: str
    port: int = 0
    frame: bytes = b""
    frames: dict[int, list[bytes]] = field(default_factory=dict)


@dataclass
class Converted:
    """The recording, what was left out (reason -> count) and the daemon's pid."""

    recording: Recording
    excluded: dict[str, int]
    pid: int


def link_local_frame(frame: bytes) -> bool:
    """True for an Ethernet frame to a link-local group (224.0.0.0/24, ff02::/16): never forwarded by
    multicast routing, so it is the daemon's own protocol traffic (PIM Hello, IGMP/MLD queries)."""
    if len(frame) >= 34 and frame[12:14] == b"\x08\x00":
        return frame[30:33] == LINK_LOCAL4
    if len(frame) >= 54 and frame[12:14] == b"\x86\xdd":
        return frame[38:40] == LINK_LOCAL6
    return False


def _errno_number(name: str | None) -> int | None:
    return None if name is None else getattr(E, name, E.EIO)


class _Converter:
    def __init__(self, profile: Profile, start: float) -> None:
        self.profile, self.start = profile, start
        self.calls: list[Call] = []
        self.fds: dict[int, tuple[str, int]] = {}  # fd -> (socket id, family)
        self.next_id = 1
        self.excluded: Counter[str] = Counter()

    def add(self, op: str, at: float, args: dict[str, Any], result: Any = None, errno: int | None = None) -> None:
        self.calls.append(Call(op, args, result, errno, round(max(0.0, at - self.start), 6)))

    def syscall(self, sc: Syscall) -> None:
        if sc.ret is None:
            self.excluded[f"{sc.name}: unfinished at exit"] += 1
            return
        if sc.name == "socket":
            self._socket(sc)
            return
        try:
            fd = integer(sc.args[0])
        except (IndexError, ValueError):
            return
        if fd not in self.fds:
            return  # not a routing socket
        ident, family = self.fds[fd]
        getattr(self, f"_{sc.name}", self._other)(sc, fd, ident, family)

    def _socket(self, sc: Syscall) -> None:
        family, type_, proto = (integer(a) for a in sc.args[:3])
        if sc.ret is not None and sc.ret >= 0:
            self.fds.pop(sc.ret, None)  # the number was reused by an untraced close/open
        if (family, type_ & SOCK_TYPE_MASK, proto) not in MROUTE_SOCKETS:
            return
        if sc.errno is not None:
            self.add("socket", sc.at, {"family": family, "type": type_ & SOCK_TYPE_MASK, "proto": proto},
                     None, _errno_number(sc.errno))
            return
        ident = f"s{self.next_id}"
        self.next_id += 1
        self.fds[sc.ret or 0] = (ident, family)
        self.add("socket", sc.at, {"family": family, "type": type_ & SOCK_TYPE_MASK, "proto": proto}, ident)

    def _recorded(self, level: int, optname: int) -> bool:
        """A routing option, or the routing socket's ICMPv6 filter (it decides what the daemon reads);
        the daemon's buffer sizes and loopback settings are its own business, not the API's."""
        name = option_name(self.profile, level, optname)
        return name is not None and (name not in SOCKET_OPTIONS_BY_NAME or name == "ICMP6_FILTER")

    def _setsockopt(self, sc: Syscall, fd: int, ident: str, family: int) -> None:
        level, optname, length = integer(sc.args[1]), integer(sc.args[2]), integer(sc.args[4])
        if not self._recorded(level, optname):
            self.excluded[f"setsockopt level {level} optname {optname}: not a multicast routing option"] += 1
            return
        value = buffer(sc.args[3], length)
        if value is None or len(value) != length:
            self.excluded[f"setsockopt level {level} optname {optname}: buffer not captured"] += 1
            return
        self.add("setsockopt", sc.at, {"socket": ident, "level": level, "optname": optname, "value": value},
                 value, _errno_number(sc.errno))

    def _getsockopt(self, sc: Syscall, fd: int, ident: str, family: int) -> None:
        level, optname = integer(sc.args[1]), integer(sc.args[2])
        if not self._recorded(level, optname):
            self.excluded[f"getsockopt level {level} optname {optname}: not a multicast routing option"] += 1
            return
        lens = sc.args[4].strip("[]").split("->")
        buflen, outlen = int(lens[0], 0), int(lens[-1], 0)
        value = buffer(sc.args[3], outlen) if sc.errno is None else b""
        if value is None:
            self.excluded[f"getsockopt level {level} optname {optname}: buffer not captured"] += 1
            return
        self.add("getsockopt", sc.at, {"socket": ident, "level": level, "optname": optname, "buflen": buflen},
                 value[:outlen], _errno_number(sc.errno))

    def _close(self, sc: Syscall, fd: int, ident: str, family: int) -> None:
        self.fds.pop(fd)
        self.add("close", sc.at, {"socket": ident}, None, _errno_number(sc.errno))

    def _read_data(self, sc: Syscall) -> bytes | None:
        data = iov_bytes(sc.args[1]) if sc.name == "recvmsg" else buffer(sc.args[1])
        return None if data is None or sc.ret is None or len(data) < sc.ret else data[: sc.ret]

    def _recv(self, sc: Syscall, fd: int, ident: str, family: int) -> None:
        if sc.errno is not None:
            return  # EAGAIN and the like: nothing was read
        data = self._read_data(sc)
        if data is None:
            self.excluded[f"{sc.name}: datagram not captured"] += 1
            return
        if own_link_local_membership(family, data):
            self.excluded[f"{sc.name}: the router's own MLD/IGMP about link-local groups (not the routing API)"] += 1
            return
        last = self.calls[-1] if self.calls else None
        if last is not None and last.op == "recv" and last.args["socket"] == ident:
            last.result.append(data)  # read back to back: one recv step
            return
        self.add("recv", sc.at, {"socket": ident, "family": family}, [data])

    _read = _recvfrom = _recvmsg = _recv

    def _other(self, sc: Syscall, fd: int, ident: str, family: int) -> None:
        self.excluded[f"{sc.name} on a routing socket: argument not captured by strace"] += 1

    def event(self, ev: Event) -> None:
        if ev.op == "send":
            self.add("send", ev.at, {"port": ev.port, "frame": ev.frame})
        else:
            frames: dict[int, list[bytes]] = {}
            for port, got in ev.frames.items():
                frames[port] = [f for f in got if not link_local_frame(f)]
                if len(frames[port]) != len(got):
                    self.excluded["frames the daemon sent to link-local groups (its own protocol, not forwarding)"] += (
                        len(got) - len(frames[port]))
            self.add("collect", ev.at, {}, frames)

    def exit(self, at: float) -> None:
        for _fd, (ident, _family) in sorted(self.fds.items()):
            self.add("close", at, {"socket": ident})
            self.excluded["close at process exit (implicit: recorded as a close step)"] += 1
        self.fds.clear()


def convert(calls: list[Syscall], events: list[Event], profile: Profile, exit_at: float,
            final: Event | None = None) -> Converted:
    """The daemon's routing-socket calls and the recorder's events, merged by time.

    ``exit_at``: when the daemon had exited (its still-open routing sockets close then); ``final``:
    a collect made after the exit.
    """
    pid = calls[0].pid if calls else 0
    mine = [c for c in calls if c.pid == pid]
    start = min([c.at for c in mine] + [e.at for e in events] or [exit_at])
    conv = _Converter(profile, start)
    merged: list[tuple[float, int, int, Syscall | Event]] = [(c.at, 0, c.line, c) for c in mine]
    merged += [(e.at, 1, i, e) for i, e in enumerate(events)]
    for _at, _kind, _n, item in sorted(merged, key=lambda t: (t[0], t[1], t[2])):
        if isinstance(item, Event):
            conv.event(item)
        else:
            conv.syscall(item)
    conv.exit(exit_at)
    if final is not None:
        conv.event(final)
    return Converted(Recording(conv.calls, {}), dict(sorted(conv.excluded.items())), pid)
