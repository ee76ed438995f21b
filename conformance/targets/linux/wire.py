"""The wires: inject frames on tester ends and capture what the router emits, via AF_PACKET.

Capture filter (``is_test_frame``): the router also talks on its own (MLD/IGMP reports, ND, ARP),
so a captured frame counts only if it is
  * IPv4 to 232.0.0.0/8, or IPv6 to ff3e::/16 (the suite's groups: SSM, global scope), or
  * IPv4 or IPv6 PIM (protocol / next header 103), whatever the destination, or
  * IPv4 or IPv6 unicast to one of the tester-side peer addresses.
Everything else (ARP, ff02::/16, 224.0.0.0/24, ...) is dropped as noise. Our own injections show
up on the capture socket as PACKET_OUTGOING and are dropped too.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from collections.abc import Iterator

from conformance.targets.linux.settle import Activity, read_until_quiet
from conformance.targets.linux.topology import Topology
from mroute_spec.constants import ETH_P_IP, ETH_P_IPV6, IPPROTO_PIM

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET, PACKET_STATISTICS = 263, 6
SO_RCVBUFFORCE, SO_SNDBUFFORCE = 33, 32
CAPTURE_RCVBUF = 32 << 20
GROUP4_FIRST_OCTET = 232  # 232.0.0.0/8
GROUP6_PREFIX = b"\xff\x3e"  # ff3e::/16
MAX_FRAME = 65536


def is_test_frame(frame: bytes, peers4: frozenset[bytes], peers6: frozenset[bytes]) -> bool:
    """True for frames the suite cares about (see the module docstring); False for noise."""
    if len(frame) < 14:
        return False
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if ethertype == ETH_P_IP and len(frame) >= 34:
        dst = frame[30:34]
        return dst[0] == GROUP4_FIRST_OCTET or frame[23] == IPPROTO_PIM or dst in peers4
    if ethertype == ETH_P_IPV6 and len(frame) >= 54:
        dst = frame[38:54]
        return dst[:2] == GROUP6_PREFIX or frame[20] == IPPROTO_PIM or dst in peers6
    return False


class Wires:
    """One injector and one capture socket per tester end, all created in the tester namespace."""

    def __init__(self, topo: Topology, activity: Activity) -> None:
        self._activity = activity
        self._peers4 = frozenset(ipaddress.IPv4Address(p.peer_ipv4).packed for p in topo.ports)
        self._peers6 = frozenset(ipaddress.IPv6Address(p.peer_ipv6).packed for p in topo.ports)
        self._inject: list[socket.socket] = []
        self._capture: list[socket.socket] = []
        try:
            with topo.tester.entered():
                for dev in topo.tester_ifnames:
                    self._capture.append(self._open_capture(dev))
                    self._inject.append(self._open_injector(dev))
        except BaseException:
            self.close()
            raise
        self._topo = topo
        self._gone: set[int] = set()  # ports whose veth pair was deleted (remove_interface)
        self._port_of_fd = {s.fileno(): i for i, s in enumerate(self._capture)}
        self.dropped = 0

    def detach(self, port: int) -> None:
        """Close port ``port``'s sockets before its veth goes: sends to it are dropped from now on and
        ``collect`` shows nothing on it, like a wire that is no more."""
        self._gone.add(port)
        self._port_of_fd = {fd: i for fd, i in self._port_of_fd.items() if i != port}
        self._capture[port].close()
        self._inject[port].close()

    def attach(self, port: int) -> None:
        """Open port ``port``'s sockets again, on its re-created tester end."""
        with self._topo.tester.entered():
            self._capture[port] = self._open_capture(f"t{port}")
            self._inject[port] = self._open_injector(f"t{port}")
        self._port_of_fd[self._capture[port].fileno()] = port
        self._gone.discard(port)

    @property
    def gone(self) -> frozenset[int]:
        """Ports detached and not attached again."""
        return frozenset(self._gone)

    @staticmethod
    def _open_capture(dev: str) -> socket.socket:
        # protocol 0 until bind: bind((dev, ETH_P_ALL)) sets device and protocol at once, so
        # the socket never sees another interface's traffic
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, CAPTURE_RCVBUF)
        s.bind((dev, ETH_P_ALL))
        s.setblocking(False)
        return s

    @staticmethod
    def _open_injector(dev: str) -> socket.socket:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: never receives
        s.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, CAPTURE_RCVBUF)
        s.bind((dev, 0))
        return s

    def send(self, port: int, frame: bytes) -> None:
        """Inject ``frame`` on tester end t{port}; the router receives it on r{port}."""
        if not 0 <= port < len(self._inject):
            raise ValueError(f"no port {port}; ports are 0..{len(self._inject) - 1}")
        if port in self._gone:  # the wire is gone: the frame goes nowhere
            return
        try:
            self._inject[port].send(frame)
        finally:
            self._activity.touch()

    def collect(self, quiet: float) -> dict[int, list[bytes]]:
        """Router-emitted test frames per port since the last call, after ``quiet`` s of silence.

        Silence is counted from the later of the last stimulus (send/setsockopt) and the last
        test frame captured; if both are older than ``quiet`` this is one non-blocking poll.
        """
        out = self._gather(quiet)
        self._check_drops()
        return out

    def drain(self, quiet: float) -> None:
        """Let in-flight frames land, discard everything, and reset the drop counters."""
        self._gather(quiet)
        self._check_drops(raise_on_drop=False)

    def _gather(self, quiet: float) -> dict[int, list[bytes]]:
        out: dict[int, list[bytes]] = {i: [] for i in range(len(self._capture))}

        def read(fd: int) -> int:
            port = self._port_of_fd[fd]
            kept = 0
            for frame in self._drain_one(self._capture[port]):
                if is_test_frame(frame, self._peers4, self._peers6):
                    out[port].append(frame)
                    kept += 1
            return kept

        read_until_quiet(list(self._port_of_fd), read, self._activity.last, quiet, quiet)
        return out

    @staticmethod
    def _drain_one(s: socket.socket) -> Iterator[bytes]:
        while True:
            try:
                frame, addr = s.recvfrom(MAX_FRAME)
            except BlockingIOError:
                return
            if addr[2] != PACKET_OUTGOING:
                yield frame

    def _check_drops(self, raise_on_drop: bool = True) -> None:
        """Read (and so reset) each capture socket's kernel drop count; a drop loses evidence."""
        lost = {}
        for i, s in enumerate(self._capture):
            if i in self._gone:
                continue
            _packets, drops = struct.unpack("=II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
            if drops:
                lost[i] = drops
        if lost:
            self.dropped += sum(lost.values())
            if raise_on_drop:
                raise OSError(errno.ENOBUFS, f"capture overflow, frames lost per port: {lost}")

    def close(self) -> None:
        """Close every AF_PACKET socket."""
        for s in self._capture + self._inject:
            s.close()
        self._capture, self._inject = [], []
