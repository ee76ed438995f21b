"""The harness tests speak to: addresses, routing sockets, traffic, time and expectations."""

from __future__ import annotations

import struct
from contextlib import AbstractContextManager

from scapy.packet import Packet

from conformance.harness import expect, setup
from conformance.harness.clock import Stopwatch
from conformance.harness.packets import Frame, decode_frame, frame_for, tag, udp
from conformance.harness.routing import RoutingSocket
from conformance.harness.upcalls import Upcall
from conformance.outcomes import unsupported
from conformance.targets.base import Port, SocketHandle, Target, Unsupported
from mroute_spec.constants import AF_INET, AF_INET6, IPPROTO_ICMPV6, IPPROTO_IGMP, SOCK_RAW
from mroute_spec.options import BSD, BY_NAME
from reference_impl.profiles import Profile
from reference_impl.snapshot import TableState

FAMILY_OF = {4: (AF_INET, IPPROTO_IGMP), 6: (AF_INET6, IPPROTO_ICMPV6)}


class Harness:
    """One test's view of a target."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.profile: Profile = target.profile
        self.api_negotiated = False
        self._frames: dict[int, list[Frame]] = {p.index: [] for p in target.ports}

    # -- addressing ------------------------------------------------------------------------
    def port(self, index: int) -> Port:
        return self.target.ports[index]

    def src(self, version: int, port: int = 0, n: int = 0) -> str:
        """A source host on the tester side of ``port`` (never a router address)."""
        p = self.port(port)
        if version == 4:
            return p.peer_ipv4.rsplit(".", 1)[0] + f".{10 + n}"
        return p.peer_ipv6.rsplit(":", 1)[0] + f":{0x10 + n:x}"

    @staticmethod
    def group(version: int, n: int = 1) -> str:
        """A routable group: 232.1.x.y (SSM range) or ff3e::1:n."""
        return f"232.1.{n // 256}.{n % 256}" if version == 4 else f"ff3e::1:{n:x}"

    # -- sockets ---------------------------------------------------------------------------
    def socket(self, family: int, type_: int, proto: int) -> SocketHandle:
        return self.target.open_socket(family, type_, proto)

    def routing_socket(self, version: int) -> RoutingSocket:
        """A raw IGMP / ICMPv6 socket with the profile's required set-up applied (SO_RCVBUF, loopback)."""
        family, proto = FAMILY_OF[version]
        sock = self.target.open_socket(family, SOCK_RAW, proto)
        setup.apply(self.target, sock, self.profile, version)
        return RoutingSocket(self, sock)

    def router(self, version: int, *, vifs: tuple[int, ...] = (), assert_: bool = False) -> RoutingSocket:
        """An initialised routing socket (IPv6 with every ICMPv6 type filtered) and vif i on port i."""
        r = self.routing_socket(version)
        r.init()
        if version == 6:
            r.block_icmp6()
        r.add_vifs(*vifs)
        if assert_:
            r.set_assert(True)
        return r

    # -- traffic ---------------------------------------------------------------------------
    def packet(self, version: int, src: str, group: str, ttl: int = 64, size: int = 0) -> Packet:
        return udp(version, src, group, ttl=ttl, size=size)

    def counted_bytes(self, pkt: Packet) -> int:
        """The bytes a counter or bw meter adds for ``pkt``: its IP length, or for IPv4 under a
        "payload" profile (NetBSD ip_mdq) the length after the IP header."""
        raw = bytes(pkt)
        if raw[0] >> 4 == 4 and self.profile.byte_count4 == "payload":
            return len(raw) - (raw[0] & 0x0F) * 4
        return len(raw)

    def send(self, port: int, pkt: Packet | bytes, count: int = 1) -> None:
        """Inject ``pkt`` from the tester on ``port`` (wrapped in Ethernet when it is IP)."""
        frame = pkt if isinstance(pkt, bytes) else frame_for(pkt, self.port(port).peer_mac)
        for _ in range(count):
            self.target.send(port, frame)

    def send_marked(self, port: int, version: int, src: str, group: str, n: int = 1, ttl: int = 64,
                    size: int = 0) -> list[Packet]:
        """Send ``n`` distinct (separately marked) packets of (src, group) on ``port``; return them."""
        pkts = [self.packet(version, src, group, ttl=ttl, size=size) for _ in range(n)]
        for p in pkts:
            self.send(port, p)
        return pkts

    def remove_interface(self, port: int) -> None:
        """The router's device of ``port`` goes away; ``unsupported`` where the target cannot do it."""
        self._collect()  # frames seen before the removal stay attributed to the port
        try:
            self.target.remove_interface(port)
        except Unsupported as e:
            unsupported(e.reason)

    def routing_state(self, version: int, table: int | None = None) -> TableState:
        """The target's routing table as the system shows it; ``unsupported`` where it cannot say."""
        try:
            return self.target.routing_state(version, table)
        except Unsupported as e:
            unsupported(e.reason)

    def _collect(self) -> None:
        for port, frames in self.target.collect().items():
            self._frames[port].extend(decode_frame(f) for f in frames)

    def frames(self, port: int) -> list[Frame]:
        """Frames the router sent on ``port`` since the last look at that port."""
        self._collect()
        got, self._frames[port] = self._frames[port], []
        return got

    def all_frames(self) -> dict[int, list[Frame]]:
        self._collect()
        got = self._frames
        self._frames = {p: [] for p in got}
        return got

    def advance(self, seconds: float) -> None:
        self.target.advance(seconds)

    def stopwatch(self) -> Stopwatch:
        """A clock for tests that probe just before and just after a deadline."""
        return Stopwatch(self.target)

    def queue_depth(self, version: int) -> int:
        """How many packets a pending (S,G) holds, per the profile."""
        p = self.profile
        return p.nocache_queue_depth if version == 4 else p.nocache6_queue_depth

    # -- expectations ----------------------------------------------------------------------
    def raises(self, path: str, what: str = "") -> AbstractContextManager[None]:
        """The call inside fails with the profile's errno for ``path`` (or succeeds if none)."""
        return expect.outcome(self.profile, path, what)

    def expect_upcall(self, r: RoutingSocket, kind: str, vif: int, src: str, dst: str) -> Upcall:
        """Exactly one upcall is waiting, and its decoded fields are these."""
        got = r.upcalls()
        if len(got) != 1:
            raise AssertionError(
                f"expected one {kind} upcall, got {len(got)}: {'; '.join(u.describe() for u in got) or 'none'}")
        u = got[0]
        expect.assert_fields(f"{kind} upcall", {"kind": kind, "vif": vif, "src": src, "dst": dst},
                             {"kind": u.kind, "vif": u.vif, "src": u.src, "dst": u.dst})
        return u

    def expect_upcalls(self, r: RoutingSocket, want: list[tuple[str, int, str, str]], context: str) -> None:
        """Exactly these upcalls, as (kind, vif, src, dst), in this order."""
        seen = [(u.kind, u.vif, u.src, u.dst) for u in r.upcalls()]
        if seen != want:
            raise AssertionError(f"{context}: expected upcalls {_upcalls(want)}, got {_upcalls(seen)}")

    def expect_copies(self, sent: list[Packet], on: set[int], context: str) -> dict[int, list[Frame]]:
        """Every packet of ``sent`` left once, in order, on each port of ``on``; nothing elsewhere."""
        want = [tag(bytes(p)) for p in sent]
        got = self.all_frames()
        diffs = []
        for port in sorted(got):
            expected = want if port in on else []
            if [tag(f.raw) for f in got[port]] != expected:
                shown = "; ".join(f"{tag(f.raw)} ({f.describe()})" for f in got[port])
                diffs.append(f"  port {port}: expected {', '.join(expected) or 'nothing'}, got {shown or 'nothing'}")
        if diffs:
            raise AssertionError(f"{context}:\n" + "\n".join(diffs))
        return got

    def expect_no_upcall(self, r: RoutingSocket, why: str = "") -> None:
        got = r.upcalls()
        if got:
            raise AssertionError(f"expected no upcall{' (' + why + ')' if why else ''}, got "
                                 f"{'; '.join(u.describe() for u in got)}")

    # -- capabilities ----------------------------------------------------------------------
    def _probe_get(self, r: RoutingSocket, number: int) -> bytes:
        """getsockopt on the probe socket; where only the router may read (NetBSD ip_mrouter_get:
        the profile's socket.get_non_router errno), the probe takes the router for the read and
        lets go when it is closed (it fails with init.in_use while another socket holds it)."""
        try:
            return self.target.getsockopt(r.sock, r.family.level, number, 4)
        except OSError as e:
            if e.errno != self.profile.errno_of(r.family.get_non_router):
                raise
        r.init()
        return self.target.getsockopt(r.sock, r.family.level, number, 4)

    def require_api(self, bits: int = 0) -> int:
        """Probe MRT_API_SUPPORT; features absent give the outcome ``unsupported``, unless the
        profile declares them: then their absence is a failure (the target is not what it claims)."""
        from conformance.outcomes import unsupported

        declared = self.profile.api_support
        # The probe uses the spec's (BSD) option number when the profile's ABI has none (Linux).
        spec = BY_NAME["MRT_API_SUPPORT"]
        number = spec.numbers.get(self.profile.abi_name, spec.numbers[BSD])
        r = self.routing_socket(4)
        try:
            raw = self._probe_get(r, number)
        except OSError as e:
            why = f"probe getsockopt(MRT_API_SUPPORT={number}) failed with {expect.errname(e.errno)}"
            if declared is not None:
                raise AssertionError(f"{why}, but profile {self.profile.name!r} declares the advanced API "
                                     f"(MRT_API_SUPPORT {declared:#x})") from None
            unsupported(why)
        finally:
            r.close()
        support = struct.unpack("<I", raw.ljust(4, b"\0"))[0]
        if bits & ~support:
            if declared is not None and bits & declared & ~support:
                raise AssertionError(f"MRT_API_SUPPORT = {support:#x} lacks {bits & declared & ~support:#x}, which "
                                     f"profile {self.profile.name!r} declares ({declared:#x})")
            unsupported(f"MRT_API_SUPPORT = {support:#x} lacks {bits & ~support:#x}")
        return support


def _upcalls(calls: list[tuple[str, int, str, str]]) -> str:
    """Upcalls as (kind, vif, src, dst) tuples, written out for a message (no Python reprs)."""
    return "; ".join(f"{kind} vif {vif} ({src}, {dst})" for kind, vif, src, dst in calls) or "none"
