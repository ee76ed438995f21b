"""The reference model's system-call surface: sockets, options, ioctls, frames and time.

Sans-I/O: every input is bytes or "the clock advanced"; every output is a return buffer, an
``OSError``, a frame queued on a port, or a datagram queued on a socket.
"""

from __future__ import annotations

import errno as E
import itertools
import os
from collections import deque
from typing import assert_never

from mroute_spec.constants import (
    IPPROTO_ICMPV6,
    IPPROTO_IGMP,
    IPPROTO_IP,
    IPPROTO_IPV6,
    MLD_TYPES,
    MRT_API_FLAGS_ALL,
    SOCK_DGRAM,
    SOCK_RAW,
    SOCK_STREAM,
)
from mroute_spec.options import Direction, OptionSpec, Role, option_by_number, socket_option_by_number
from reference_impl.clock import VirtualClock
from reference_impl.errors import Errno
from reference_impl.family import FAMILIES, V4, V6, Family
from reference_impl.ifremoval import RemovalView, remove_interface
from reference_impl.mrouter import MRouter
from reference_impl.packets import parse_frame
from reference_impl.profiles import Profile
from reference_impl.sockets import Socket
from reference_impl.vifs import Interface

# generic socket options the harness sets as a profile's required set-up (numbered per the profile's
# ABI): stored, no effect (the model has no receive-buffer limit and never loops copies back: it
# behaves as if set up)
STORED_OPTIONS = ("SO_RCVBUF", "IP_MULTICAST_LOOP", "IPV6_MULTICAST_LOOP")
# group joins a routing daemon makes (the IGMPv3 / MLDv2 report groups): stored, no effect: the model
# hands every IGMP and MLD message to the raw sockets of its family, joined or not (FreeBSD's
# ip_input delivers all IGMP to a multicast router; Linux needs the join for 224.0.0.x / ff02::x)
JOIN_OPTIONS = {"IP_ADD_MEMBERSHIP": 4, "IPV6_JOIN_GROUP": 6}


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class Kernel:
    """A model kernel with multicast routing for IPv4 and IPv6 on a set of interfaces."""

    def __init__(self, profile: Profile, interfaces: list[Interface], clock: VirtualClock | None = None,
                 router_class: type[MRouter] = MRouter) -> None:
        self.profile = profile
        self.interfaces = interfaces
        self.clock = clock or VirtualClock()
        self.sockets: dict[int, Socket] = {}
        self.output: deque[tuple[int, bytes]] = deque()
        self._ids = itertools.count(3)
        self.router_class = router_class
        # the default table's routers (RT_TABLE_DEFAULT): packets are routed by these (Linux: the
        # default mrule); MRT_TABLE adds others, reachable through the sockets that select them
        self.routers = {V4.af: router_class(self, V4), V6.af: router_class(self, V6)}
        self.tables: dict[int, dict[int, MRouter]] = {af: {self.default_table(af): r} for af, r in self.routers.items()}

    # -- helpers ---------------------------------------------------------------------------
    def default_table(self, family: int) -> int:
        """The id of the table packets are routed by (the default mrule's): per family, from the profile."""
        return self.profile.default_table4 if family == V4.af else self.profile.default_table6

    def fail(self, path: str) -> OSError:
        code = self.profile.errno_of(path)
        if code is None:
            raise AssertionError(f"profile {self.profile.name} has no errno for {path}")
        return _oserror(code)

    def interface(self, ifindex: int) -> Interface:
        for i in self.interfaces:
            if i.ifindex == ifindex:
                return i
        raise KeyError(ifindex)

    def route(self, addr: str) -> Interface | None:
        """The connected interface (a /24 per port) a unicast address is reached through."""
        prefix = addr.rsplit(".", 1)[0] + "."
        return next((i for i in self.interfaces if i.ipv4.startswith(prefix)), None)

    def emit(self, port: int, frame: bytes) -> None:
        self.output.append((port, frame))

    # -- sockets ---------------------------------------------------------------------------
    def socket(self, family: int, type_: int, proto: int) -> Socket:
        if family not in FAMILIES:
            raise _oserror(E.EAFNOSUPPORT)
        if type_ not in (SOCK_STREAM, SOCK_DGRAM, SOCK_RAW):
            raise _oserror(E.ESOCKTNOSUPPORT)
        sock = Socket(next(self._ids), family, type_, proto)
        self.sockets[sock.ident] = sock
        return sock

    def close(self, sock: Socket) -> None:
        if sock.closed:
            raise _oserror(E.EBADF)
        for router in self.tables[sock.family].values():
            if router.router is sock:
                router.done()
        sock.closed = True
        self.sockets.pop(sock.ident, None)

    def _gate(self, sock: Socket, level: int, optname: int) -> tuple[MRouter, OptionSpec]:
        """The checks every routing option passes before its handler; returns (router, option)."""
        if sock.closed:
            raise _oserror(E.EBADF)
        fam: Family = FAMILIES[sock.family]
        if level != fam.level:
            if level in (IPPROTO_IP, IPPROTO_IPV6):
                raise self.fail("option.wrong_level")
            raise _oserror(E.ENOPROTOOPT)
        lo, hi = self.profile.mrt_range4 if fam.version == 4 else self.profile.mrt_range6
        if not lo <= optname <= hi:
            raise self.fail("option.unknown")
        if sock.type != SOCK_RAW:
            raise self.fail("socket.not_raw")
        if sock.proto != fam.sock_proto:
            raise self.fail("socket.wrong_proto")
        router = self.router_of(sock)
        spec = option_by_number(self.profile.abi_name, fam.version, optname)
        if spec is None or not router.handles(spec.role):
            raise self.fail("option.unknown_in_range")
        return router, spec

    def setsockopt(self, sock: Socket, level: int, optname: int, value: bytes) -> bytes:
        """setsockopt(2): returns the option buffer as it is after the call."""
        generic = socket_option_by_number(self.profile.abi_name, level, optname)
        if generic is not None and generic.name == "ICMP6_FILTER" and sock.family == V6.af:
            return self._icmp6_filter(sock, value)
        if generic is not None and JOIN_OPTIONS.get(generic.name) == FAMILIES[sock.family].version:
            need = self.profile.struct(generic.payload).size
            if sock.closed:
                raise _oserror(E.EBADF)
            if len(value) < need:
                raise _oserror(E.EINVAL)
            sock.joined.add(bytes(value[:need]))
            return value
        if generic is not None and generic.name in STORED_OPTIONS and (
                generic.name == "SO_RCVBUF" or level == FAMILIES[sock.family].level):
            if sock.closed:
                raise _oserror(E.EBADF)
            if len(value) < 4:
                raise _oserror(E.EINVAL)
            sock.options[(level, optname)] = int.from_bytes(value[:4], "little", signed=True)
            return value
        router, spec = self._gate(sock, level, optname)
        fam = router.family
        # Options from a socket other than the router: refused where the profile names an errno
        # (FreeBSD EPERM), allowed otherwise (Linux, with CAP_NET_ADMIN: the state is "static").
        if spec.role != Role.INIT and sock is not router.router and fam.non_router in self.profile.errnos:
            raise self.fail(fam.non_router)
        if Direction.SET not in spec.direction:
            raise self.fail("option.set_readonly")
        arg = spec.payload_for(self.profile.abi_name)
        if spec.role == Role.ADD_MFC and fam.version == 4 and router.api_config & MRT_API_FLAGS_ALL:
            arg = "mfcctl2"
        if arg is not None:
            size = self.profile.struct(arg).size
            exact = {size}
            if spec.role == Role.DEL_MFC and fam.version == 4 and "mfcctl2" in self.profile.abi:
                exact.add(self.profile.struct("mfcctl2").size)  # NetBSD del_mfc tries both sizes
            if len(value) < size or (spec.name in self.profile.exact_optlen and len(value) not in exact):
                raise self.fail("option.short")
        if spec.role == Role.TABLE:
            self._set_table(sock, router, value)
            return value
        try:
            out = router.setter(spec.role)(sock, value)
        except Errno as e:
            raise self.fail(e.path) from None
        return value if out is None else out

    def router_of(self, sock: Socket) -> MRouter:
        """The router of the table ``sock`` selected (Linux `ipmr_table ? : RT_TABLE_DEFAULT`)."""
        return self.tables[sock.family][sock.table or self.default_table(sock.family)]

    def _set_table(self, sock: Socket, router: MRouter, value: bytes) -> None:
        """MRT_TABLE / MRT6_TABLE: create or select a table for this socket (ipmr_new_table)."""
        fam = router.family
        table = int.from_bytes(value[:4], "little")
        p = self.profile
        limit = p.table_id_limit4 if fam.version == 4 else p.table_id_limit6
        assert limit is not None
        for check in p.table_checks4 if fam.version == 4 else p.table_checks6:
            match check:
                case "busy":
                    if sock is router.router:
                        raise self.fail("table.busy")
                case "id":
                    if table != self.default_table(sock.family) and table >= limit:
                        raise self.fail("table.bad_id")
                case unknown:
                    assert_never(unknown)
        tables = self.tables[sock.family]
        if table not in tables:
            tables[table] = self.router_class(self, fam)
        sock.table = table

    def getsockopt(self, sock: Socket, level: int, optname: int, buflen: int) -> bytes:
        """getsockopt(2): the value truncated to ``buflen`` bytes, as the kernels copy out."""
        router, spec = self._gate(sock, level, optname)
        if buflen < 0:
            raise _oserror(E.EINVAL)
        # Gets from a socket other than the router: refused where the profile names an errno
        # (FreeBSD IPv6 EACCES; NetBSD IPv4 ENOPROTOOPT, IPv6 EACCES), answered otherwise
        if sock is not router.router and router.family.get_non_router in self.profile.errnos:
            raise self.fail(router.family.get_non_router)
        try:
            return router.get(spec.role)[:buflen]
        except Errno as e:
            if e.path == router.family.get_unsupported and self.profile.errno_of(e.path) is None:
                return bytes(buflen)  # FreeBSD ip6_mrouter_get has no default case: 0, nothing copied out
            raise self.fail(e.path) from None

    def _icmp6_filter(self, sock: Socket, value: bytes) -> bytes:
        if sock.type != SOCK_RAW or sock.proto != IPPROTO_ICMPV6:
            raise _oserror(E.ENOPROTOOPT)
        if len(value) < 32:
            raise _oserror(E.EINVAL)
        sock.icmp6_filter = bytes(value[:32])
        return value

    def ioctl(self, sock: Socket, request: int, arg: bytes) -> bytes:
        """The counter ioctls; the request number selects the call per the profile."""
        if sock.closed:
            raise _oserror(E.EBADF)
        fam = FAMILIES[sock.family]
        router = self.router_of(sock)
        ioctls = self.profile.ioctls
        try:
            if request == ioctls.get(fam.opt("sg_count")):
                need = self.profile.struct(fam.sg_struct).size
                return router.sg_count(bytes(arg[:need]).ljust(need, b"\0")) + bytes(arg[need:])
            if request == ioctls.get(fam.opt("vif_count")):
                need = self.profile.struct(fam.vif_struct).size
                return router.vif_count(bytes(arg[:need]).ljust(need, b"\0")) + bytes(arg[need:])
        except Errno as e:
            raise self.fail(e.path) from None
        raise self.fail(fam.ioctl_unknown)

    # -- wires -----------------------------------------------------------------------------
    def receive(self, port: int, frame: bytes) -> None:
        """A frame arrives on ``port``. Malformed frames are dropped, never raised."""
        iface = next((i for i in self.interfaces if i.port == port), None)
        pkt = parse_frame(frame)
        if iface is None or pkt is None:
            return
        if pkt.version == 4:
            if pkt.proto == IPPROTO_IGMP:
                self._deliver_raw(V4.af, IPPROTO_IGMP, pkt.data)
        elif pkt.proto == IPPROTO_ICMPV6 and pkt.l4_offset < pkt.length:
            body = pkt.data[pkt.l4_offset :]
            if body[0] in MLD_TYPES:
                self._deliver_raw(V6.af, IPPROTO_ICMPV6, body, icmp_type=body[0])
        router = self.routers[V4.af if pkt.version == 4 else V6.af]
        if router.family.is_multicast(pkt.dst):
            router.input(iface, pkt)

    def _deliver_raw(self, family: int, proto: int, data: bytes, icmp_type: int | None = None) -> None:
        blocks = self.profile.icmp6_filter_set_bit_blocks
        for s in self.sockets.values():
            if s.family == family and s.type == SOCK_RAW and s.proto == proto:
                if icmp_type is None or s.icmp6_passes(icmp_type, blocks):
                    s.deliver(data)

    def remove_interface(self, ifindex: int) -> Interface:
        """The network device ``ifindex`` goes away (NETDEV_UNREGISTER / ifnet departure): every table's
        vifs on it go per the profile (reference_impl/ifremoval.py); frames on its port are dropped.
        KeyError: no such interface; ifremoval.RemovalNotModelled: the profile does not say."""
        routers: list[RemovalView] = [r for tables in self.tables.values() for r in tables.values()]
        return remove_interface(self.interfaces, routers, ifindex)

    def take_output(self) -> list[tuple[int, bytes]]:
        out = list(self.output)
        self.output.clear()
        return out

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
