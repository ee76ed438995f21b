"""The target contract: an implementation under test, spoken to in raw bytes.

Tests never use a target directly; they go through the harness, which encodes structs with the
target's profile ABI. A target only moves bytes: socket options, ioctls, frames and upcalls.
Errors are raised as ``OSError`` with ``errno`` set, exactly as the socket API would.
"""

from __future__ import annotations

import abc
import ipaddress
from dataclasses import dataclass, field

from reference_impl.profiles import Profile
from reference_impl.snapshot import TableState


class TargetUnavailable(RuntimeError):
    """This machine cannot run the target (not root, kernel option missing, lab device down...).

    Raise it from a target's constructor: every test is then reported ``skip`` with ``reason``,
    visibly, and never as a failure.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unsupported(Exception):
    """The target cannot perform an optional operation (``remove_interface``...): the tests that need it
    end ``unsupported``, never ``pass``. ``reason`` says why, for the report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Port:
    """One router interface wired to the tester.

    ``index`` is the position in ``Target.ports`` (tests say "port 2"); ``ifindex`` is the
    router-side interface index (what ``mif6c_pifi`` names); the addresses are the router's
    own on that link, and ``peer_ipv4``/``peer_ipv6`` are host addresses on the tester side
    that test packets use as sources.
    """

    index: int
    name: str
    ifindex: int
    mac: str
    ipv4: str
    ipv6: str
    peer_ipv4: str
    peer_ipv6: str
    peer_mac: str


@dataclass
class SocketHandle:
    """An open socket on the target; ``ident`` is opaque to tests."""

    ident: object
    family: int
    type: int
    proto: int
    closed: bool = False


@dataclass
class TargetInfo:
    """What a target reports about itself for results.json and the report."""

    name: str
    profile: str
    details: dict = field(default_factory=dict)


def port_plan(n: int = 4) -> list[dict]:
    """The addressing every target uses: port i is 198.18.i.0/24 and 2001:db8:i::/64.

    Router side ends in .1 / ::1, the tester-side host in .10 / ::10. Only documentation and
    benchmarking ranges are used, as the network-safety rules require.
    """
    return [
        {
            "ipv4": f"198.18.{i}.1",
            "ipv6": str(ipaddress.IPv6Address(f"2001:db8:{i}::1")),
            "peer_ipv4": f"198.18.{i}.10",
            "peer_ipv6": str(ipaddress.IPv6Address(f"2001:db8:{i}::10")),
        }
        for i in range(n)
    ]


class Target(abc.ABC):
    """An implementation under test behind raw-byte operations.

    Lifecycle: the plugin builds one target per session (per xdist worker) and calls
    ``reset()`` before every test, which must leave no routing socket, vif, MFC entry,
    pending upcall or frame from an earlier test.
    """

    name: str = "abstract"
    profile: Profile
    ports: list[Port]

    # -- sockets ---------------------------------------------------------------------------
    @abc.abstractmethod
    def open_socket(self, family: int, type_: int, proto: int) -> SocketHandle:
        """socket(2). Raises OSError like the real call."""

    @abc.abstractmethod
    def setsockopt(self, sock: SocketHandle, level: int, optname: int, value: bytes) -> bytes:
        """setsockopt(2) with ``value`` as the option buffer (its length is optlen).

        Returns the buffer as it is after the call: MRT_API_CONFIG writes the accepted
        subset back into it.
        """

    @abc.abstractmethod
    def getsockopt(self, sock: SocketHandle, level: int, optname: int, buflen: int) -> bytes:
        """getsockopt(2) with a ``buflen``-byte buffer; returns the bytes the call filled."""

    @abc.abstractmethod
    def ioctl(self, sock: SocketHandle, request: int, arg: bytes) -> bytes:
        """ioctl(2) with an in/out argument buffer; returns the buffer after the call."""

    @abc.abstractmethod
    def close(self, sock: SocketHandle) -> None:
        """close(2)."""

    @abc.abstractmethod
    def recv_all(self, sock: SocketHandle) -> list[bytes]:
        """Every datagram now readable on ``sock`` (upcalls, IGMP, MLD), oldest first.

        A kernel target waits briefly for in-flight messages; the model returns at once.
        """

    # -- wires ----------------------------------------------------------------------------
    @abc.abstractmethod
    def send(self, port: int, frame: bytes) -> None:
        """Inject an Ethernet frame from the tester onto ``port``."""

    @abc.abstractmethod
    def collect(self) -> dict[int, list[bytes]]:
        """Ethernet frames the router emitted on each port since the last call.

        Only frames the router sent count (never the tester's own injections). A kernel
        target lets the router settle first; every port appears in the result.
        """

    # -- time -----------------------------------------------------------------------------
    @abc.abstractmethod
    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: virtual on the model, real waiting on a kernel."""

    @property
    def virtual_time(self) -> bool:
        """True when ``advance`` costs no wall time (tests may then step freely)."""
        return False

    # -- interfaces (optional) ------------------------------------------------------------
    def remove_interface(self, port: int) -> None:
        """The router's network device of ``port`` goes away (Linux NETDEV_UNREGISTER, BSD ifnet
        departure) while routing state uses it; afterwards ``send(port, ..)`` is dropped and
        ``collect()`` shows nothing on it. ``reset()`` brings the port back as it was.

        Optional: the default raises ``Unsupported``, so tests needing it end ``unsupported``."""
        raise Unsupported(f"target {self.name!r} cannot remove an interface")

    # -- reading state back (optional) ----------------------------------------------------
    def routing_state(self, version: int, table: int | None = None) -> TableState:
        """The vifs and MFC entries of one family's routing ``table`` (None: the family's default) as the system shows them
        (Linux: /proc/net/ip_mr_vif, ip_mr_cache, ip6_mr_*), normalised (reference_impl/snapshot.py).

        Optional: the default raises ``Unsupported``, so tests needing it end ``unsupported``."""
        raise Unsupported(f"target {self.name!r} cannot read its routing state back")

    # -- lifecycle ------------------------------------------------------------------------
    @abc.abstractmethod
    def reset(self) -> None:
        """Return to a pristine router: all sockets closed, tables empty, wires drained, every port
        (also one ``remove_interface`` took away) present as at the start."""

    def shutdown(self) -> None:  # noqa: B027 - optional hook: most targets hold nothing to release
        """Release everything (namespaces, sockets). Called once at session end."""

    @abc.abstractmethod
    def info(self) -> TargetInfo:
        """Name, profile and a fingerprint (kernel version, probed capabilities)."""
