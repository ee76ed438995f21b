"""Sockets living in the router namespace, driven with raw option bytes through libc.

``setsockopt``/``getsockopt`` go through ctypes on the fd rather than Python's socket methods so
the optlen is exactly the buffer given (including 0 and negative lengths) and the buffer can be
read back after the call. Errors are ``OSError(errno)`` exactly as the kernel returned them.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import itertools
import os
import socket
from typing import cast

from conformance.targets.base import SocketHandle
from conformance.targets.linux.netns import NetNamespace
from conformance.targets.linux.settle import Activity, read_until_quiet

SO_RCVBUFFORCE = 33
ROUTING_RCVBUF = 8 << 20
MAX_DATAGRAM = 65536

_libc = ctypes.CDLL(None, use_errno=True)
_libc.setsockopt.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32]
_libc.getsockopt.argtypes = [
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_int),
]


def _raise_errno(call: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{call}: {os.strerror(err)}")


def is_routing_socket(family: int, type_: int, proto: int) -> bool:
    """A socket that can become the multicast router: raw IGMP (IPv4) or raw ICMPv6 (IPv6)."""
    return type_ == socket.SOCK_RAW and (family, proto) in {
        (socket.AF_INET, socket.IPPROTO_IGMP),
        (socket.AF_INET6, socket.IPPROTO_ICMPV6),
    }


class RouterSockets:
    """Every socket a test opened on the router; closing them all is most of ``reset()``."""

    def __init__(self, router: NetNamespace, activity: Activity) -> None:
        self._router = router
        self._activity = activity
        self._open: dict[int, socket.socket] = {}
        self._ids = itertools.count(1)

    def open(self, family: int, type_: int, proto: int) -> SocketHandle:
        """socket(2) inside the router namespace; routing sockets get a large receive buffer."""
        s = self._router.socket(family, type_, proto)
        if is_routing_socket(family, type_, proto):
            # bursts of upcalls must not overflow unless a test shrinks SO_RCVBUF on purpose
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, ROUTING_RCVBUF)
        ident = next(self._ids)
        self._open[ident] = s
        return SocketHandle(ident=ident, family=family, type=type_, proto=proto)

    def _get(self, handle: SocketHandle) -> socket.socket:
        s = self._open.get(handle.ident) if isinstance(handle.ident, int) else None
        if s is None or handle.closed:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return s

    def setsockopt(self, handle: SocketHandle, level: int, optname: int, value: bytes) -> bytes:
        """setsockopt(2) with optlen = len(value); returns the buffer after the call."""
        fd = self._get(handle).fileno()
        buf = ctypes.create_string_buffer(bytes(value), max(1, len(value)))
        try:
            if _libc.setsockopt(fd, level, optname, buf, len(value)) != 0:
                _raise_errno("setsockopt")
        finally:
            self._activity.touch()
        return buf.raw[: len(value)]

    def getsockopt(self, handle: SocketHandle, level: int, optname: int, buflen: int) -> bytes:
        """getsockopt(2) with a ``buflen``-byte buffer (a negative buflen is passed as is)."""
        fd = self._get(handle).fileno()
        buf = ctypes.create_string_buffer(max(1, buflen))
        optlen = ctypes.c_int(buflen)
        if _libc.getsockopt(fd, level, optname, buf, ctypes.byref(optlen)) != 0:
            _raise_errno("getsockopt")
        return buf.raw[: max(0, min(optlen.value, max(0, buflen)))]

    def ioctl(self, handle: SocketHandle, request: int, arg: bytes) -> bytes:
        """ioctl(2) with an in/out buffer; returns it as the kernel left it."""
        fd = self._get(handle).fileno()
        buf = bytearray(arg)
        fcntl.ioctl(fd, request, buf, True)
        return bytes(buf)

    def close(self, handle: SocketHandle) -> None:
        """close(2); a second close raises EBADF as the real call would."""
        s = self._get(handle)
        self._open.pop(cast(int, handle.ident))
        handle.closed = True
        s.close()

    def recv_all(self, handle: SocketHandle, first: float, gap: float) -> list[bytes]:
        """Every datagram readable now or within ``first`` s of the last stimulus, oldest first."""
        s = self._get(handle)
        got: list[bytes] = []

        def read(_fd: int) -> int:
            n = 0
            while True:
                try:
                    got.append(s.recv(MAX_DATAGRAM, socket.MSG_DONTWAIT))
                except BlockingIOError:
                    return n
                n += 1

        read_until_quiet([s.fileno()], read, self._activity.last, first, gap)
        return got

    def close_all(self) -> int:
        """Close every socket still open (this performs MRT_DONE / MRT6_DONE); returns how many."""
        socks = list(self._open.values())
        self._open.clear()
        for s in socks:
            s.close()
        return len(socks)
