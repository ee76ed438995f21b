"""The operation vocabulary of differential runs, and how each one is applied to a Harness.

An ``Op`` is a small frozen value: ``apply(side)`` performs it on one target through the harness
(so every byte goes through the target's profile ABI, as in the suite), and ``code()`` is the
harness call that does the same thing, which is what a ready-to-paste scenario is made of
(``scenario.render``). Its ``repr`` is that code, so hypothesis prints steps readably too.

The routing socket of each family lives in the side as ``r4`` / ``r6``; the scenario code uses
the same names. Packets carry the marker ``MRC!`` + their number in the run, so frames on both
targets are matched by packet number, never by sequence counters that differ between targets.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from scapy.packet import Packet

from conformance.harness import Harness
from conformance.harness.packets import MARK, udp
from conformance.harness.routing import RoutingSocket
from conformance.targets.base import Target

FAMILIES = (4, 6)


def packet(version: int, src: str, group: str, ttl: int = 64, n: int = 1, size: int = 0) -> Packet:
    """UDP to ``group`` with TTL / hop limit ``ttl``, marked as packet number ``n`` of a run."""
    return udp(version, src, group, ttl=ttl, size=size, payload=MARK + n.to_bytes(4, "big"))


def ifindex_addr(h: Harness, port: int) -> str:
    """Port ``port``'s ifindex as the dotted quad that puts it in ``vifc_lcl_ifindex``.

    With VIFF_USE_IFINDEX the vifctl address field is a host-order int; the harness packs an
    address string, so the ifindex is spelled as the address with the same four bytes.
    """
    return str(ipaddress.IPv4Address(h.port(port).ifindex.to_bytes(4, "little")))


class Side:
    """One target driven through its own Harness, with the routing socket of each family."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.h = Harness(target)
        self.routers: dict[int, RoutingSocket] = {}

    def r(self, version: int) -> RoutingSocket:
        return self.routers[version]

    def open_routers(self) -> list[RoutingSocket]:
        return [self.routers[v] for v in FAMILIES if v in self.routers and not self.routers[v].sock.closed]


@dataclass(frozen=True)
class Op:
    """One step: apply it to a side; ``code()`` is the same step as harness code."""

    observes = False  # True: the result is what the target emitted (frames, upcalls)

    def apply(self, side: Side) -> object:
        raise NotImplementedError

    def code(self) -> str:
        raise NotImplementedError

    @property
    def statement(self) -> bool:
        """True when ``code()`` is a statement (an assignment), not an expression."""
        return False

    def __repr__(self) -> str:
        return self.code()


class _Code(str):
    """A string that reprs as itself: code inside generated code."""

    def __repr__(self) -> str:
        return str(self)


def _r(v: int) -> str:
    return f"r{v}"


def _kw(**kw: object) -> str:
    return "".join(f", {k}={v!r}" for k, v in kw.items())


# -- routing sockets ------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Router(Op):
    """Open the family's routing socket, MRT_INIT it (IPv6: filter every ICMPv6 type)."""

    v: int

    def apply(self, side: Side) -> object:
        side.routers[self.v] = side.h.router(self.v)
        return None

    def code(self) -> str:
        return f"{_r(self.v)} = h.router({self.v})"

    @property
    def statement(self) -> bool:
        return True


@dataclass(frozen=True, repr=False)
class Reopen(Op):
    """close() the routing socket (an implicit MRT_DONE) and open and MRT_INIT a new one."""

    v: int

    def apply(self, side: Side) -> object:
        side.routers[self.v].close()
        side.routers[self.v] = side.h.router(self.v)
        return None

    def code(self) -> str:
        return f"{_r(self.v)}.close(); {_r(self.v)} = h.router({self.v})"

    @property
    def statement(self) -> bool:
        return True


@dataclass(frozen=True, repr=False)
class Init(Op):
    """MRT_INIT / MRT6_INIT on the family's socket (again), with ``value`` as the int argument."""

    v: int
    value: int = 1

    def apply(self, side: Side) -> object:
        side.r(self.v).init(self.value)
        return None

    def code(self) -> str:
        return f"{_r(self.v)}.init({self.value})"


@dataclass(frozen=True, repr=False)
class Done(Op):
    """MRT_DONE / MRT6_DONE; the socket stays open (and, on Linux, may still change tables)."""

    v: int

    def apply(self, side: Side) -> object:
        side.r(self.v).done()
        return None

    def code(self) -> str:
        return f"{_r(self.v)}.done()"


@dataclass(frozen=True, repr=False)
class SetAssert(Op):
    v: int
    value: int

    def apply(self, side: Side) -> object:
        side.r(self.v).set_assert(self.value)
        return None

    def code(self) -> str:
        return f"{_r(self.v)}.set_assert({self.value})"


@dataclass(frozen=True, repr=False)
class SetPim(Op):
    v: int
    value: int

    def apply(self, side: Side) -> object:
        side.r(self.v).set_pim(self.value)
        return None

    def code(self) -> str:
        return f"{_r(self.v)}.set_pim({self.value})"


@dataclass(frozen=True, repr=False)
class GetOpt(Op):
    """getsockopt of MRT_VERSION / MRT_ASSERT / MRT_PIM (or the MRT6_ ones) as an int."""

    v: int
    role: str

    def apply(self, side: Side) -> object:
        return side.r(self.v).get_int(self.role)

    def code(self) -> str:
        return f"{_r(self.v)}.get_int({self.role!r})"


# -- vifs / mifs ----------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class AddVif(Op):
    """MRT_ADD_VIF / MRT6_ADD_MIF of vif ``index`` on ``port`` (its address / ifindex).

    ``lcl_addr`` / ``pifi`` override the port's address (IPv4) or ifindex (IPv6), e.g. with one
    the router does not own; ``flags``, ``threshold`` and ``rate_limit`` go in as given.
    ``by_ifindex`` (IPv4): VIFF_USE_IFINDEX with the port's ifindex (each target has its own);
    ``register``: a register vif / mif (VIFF_REGISTER / MIFF_REGISTER; Linux makes pimreg).
    """

    v: int
    index: int
    port: int
    flags: int = 0
    threshold: int = 1
    rate_limit: int = 0
    lcl_addr: str | None = None
    pifi: int | None = None
    by_ifindex: bool = False
    register: bool = False

    def _kw(self, h: Harness | None = None) -> dict[str, object]:
        """Keyword arguments of ``add_vif``; without ``h`` the ifindex is left as code."""
        kw: dict[str, object] = {}
        if self.flags:
            kw["flags"] = self.flags
        if self.register:
            kw["register"] = True
        if self.v == 4 and self.by_ifindex:
            kw["lcl_addr"] = ifindex_addr(h, self.port) if h is not None else _Code(f"ifindex_addr(h, {self.port})")
        if self.v == 4:
            if self.threshold != 1:
                kw["threshold"] = self.threshold
            if self.rate_limit:
                kw["rate_limit"] = self.rate_limit
            if self.lcl_addr is not None and not self.by_ifindex:
                kw["lcl_addr"] = self.lcl_addr
        elif self.pifi is not None:
            kw["pifi"] = self.pifi
        return kw

    def apply(self, side: Side) -> object:
        side.r(self.v).add_vif(self.index, self.port, **self._kw(side.h))
        return None

    def code(self) -> str:
        return f"{_r(self.v)}.add_vif({self.index}, {self.port}{_kw(**self._kw())})"


@dataclass(frozen=True, repr=False)
class DelVif(Op):
    v: int
    index: int

    def apply(self, side: Side) -> object:
        side.r(self.v).del_vif(self.index)
        return None

    def code(self) -> str:
        return f"{_r(self.v)}.del_vif({self.index})"


# -- MFC ------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class AddMfc(Op):
    """MRT_ADD_MFC / MRT6_ADD_MFC: ``ttls`` per vif index (IPv6: the ifset of non-zero ones).

    Adding an (S,G) that exists is the update path (parent and ttls replaced, counters kept).
    """

    v: int
    src: str
    grp: str
    parent: int
    ttls: tuple[tuple[int, int], ...] = ()  # sorted (vif, ttl) pairs: hashable and printable

    def apply(self, side: Side) -> object:
        side.r(self.v).add_mfc(self.src, self.grp, parent=self.parent, ttls=dict(self.ttls))
        return None

    def code(self) -> str:
        return f"{_r(self.v)}.add_mfc({self.src!r}, {self.grp!r}, parent={self.parent}, ttls={dict(self.ttls)!r})"


@dataclass(frozen=True, repr=False)
class DelMfc(Op):
    v: int
    src: str
    grp: str

    def apply(self, side: Side) -> object:
        side.r(self.v).del_mfc(self.src, self.grp)
        return None

    def code(self) -> str:
        return f"{_r(self.v)}.del_mfc({self.src!r}, {self.grp!r})"


# -- Linux extensions (issue 13) ------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Flush(Op):
    """MRT_FLUSH / MRT6_FLUSH with ``flags`` (MRT_FLUSH_MFC 1, _MFC_STATIC 2, _VIFS 4, _VIFS_STATIC 8)."""

    v: int
    flags: int

    def apply(self, side: Side) -> object:
        side.r(self.v).set_int("flush", self.flags)
        return None

    def code(self) -> str:
        return f"{_r(self.v)}.set_int('flush', {self.flags})"


@dataclass(frozen=True, repr=False)
class Table(Op):
    """MRT_TABLE / MRT6_TABLE on the routing socket (always after MRT_INIT here: EBUSY, or EINVAL
    for an id beyond the family's limit on IPv6, which checks the id first)."""

    v: int
    table: int

    def apply(self, side: Side) -> object:
        side.r(self.v).set_int("table", self.table)
        return None

    def code(self) -> str:
        return f"{_r(self.v)}.set_int('table', {self.table})"


@dataclass(frozen=True, repr=False)
class MfcProxy(Op):
    """MRT_ADD_MFC_PROXY / MRT_DEL_MFC_PROXY: the MFC call whose key includes ``parent``."""

    v: int
    add: bool
    src: str
    grp: str
    parent: int
    ttls: tuple[tuple[int, int], ...] = ()

    def apply(self, side: Side) -> object:
        r = side.r(self.v)
        r.set_raw("add_mfc_proxy" if self.add else "del_mfc_proxy",
                  r.mfc_args(self.src, self.grp, self.parent, dict(self.ttls)))
        return None

    def code(self) -> str:
        role = "add_mfc_proxy" if self.add else "del_mfc_proxy"
        return (f"{_r(self.v)}.set_raw({role!r}, {_r(self.v)}.mfc_args({self.src!r}, {self.grp!r}, "
                f"{self.parent}, {dict(self.ttls)!r}))")


# -- counters -------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class SgCount(Op):
    """SIOCGETSGCNT / SIOCGETSGCNT_IN6 on the routing socket."""

    v: int
    src: str
    grp: str

    def apply(self, side: Side) -> object:
        got = side.r(self.v).sg_count(self.src, self.grp)
        return {k: got[k] for k in ("pktcnt", "bytecnt", "wrong_if")}

    def code(self) -> str:
        return f"{_r(self.v)}.sg_count({self.src!r}, {self.grp!r})"


@dataclass(frozen=True, repr=False)
class VifCount(Op):
    """SIOCGETVIFCNT / SIOCGETMIFCNT_IN6 on the routing socket."""

    v: int
    index: int

    def apply(self, side: Side) -> object:
        got = side.r(self.v).vif_count(self.index)
        return {k: got[k] for k in ("icount", "ocount", "ibytes", "obytes")}

    def code(self) -> str:
        return f"{_r(self.v)}.vif_count({self.index})"


# -- traffic --------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Send(Op):
    """The tester sends packet number ``n`` of (src, grp) on ``port`` with TTL / hop limit ``ttl``."""

    v: int
    port: int
    src: str
    grp: str
    ttl: int
    n: int
    size: int = 0

    def apply(self, side: Side) -> object:
        side.h.send(self.port, packet(self.v, self.src, self.grp, ttl=self.ttl, n=self.n, size=self.size))
        return None

    def code(self) -> str:
        size = f", size={self.size}" if self.size else ""
        return (f"h.send({self.port}, packet({self.v}, {self.src!r}, {self.grp!r}, ttl={self.ttl}, "
                f"n={self.n}{size}))")


@dataclass(frozen=True, repr=False)
class Observe(Op):
    """What the router emitted since the last look: frames per port and upcalls per family.

    The result is raw (decoded ``Frame`` / ``Upcall`` objects); ``compare.normalise`` turns it
    into what is compared. On a kernel target this waits for the router to settle.
    """

    observes = True
    families: tuple[int, ...] = field(default=FAMILIES)

    def apply(self, side: Side) -> object:
        frames = side.h.all_frames()
        upcalls = {v: side.routers[v].upcalls() for v in self.families
                   if v in side.routers and not side.routers[v].sock.closed}
        return frames, upcalls

    def code(self) -> str:
        return "observe(h, r4, r6)"


__all__ = [
    "FAMILIES", "AddMfc", "AddVif", "DelMfc", "DelVif", "Done", "Flush", "GetOpt", "Init", "MfcProxy", "Observe",
    "Op", "Reopen", "Router", "Send", "SetAssert", "SetPim", "SgCount", "Side", "Table", "VifCount",
    "ifindex_addr", "packet",
]
