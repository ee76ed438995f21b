"""Virtual interfaces (vifs) and IPv6 multicast interfaces (mifs).

Validation of MRT_ADD_VIF / MRT6_ADD_MIF runs named checks in the order the profile lists, each
failing with the errno the profile names, because implementations differ in both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mroute_spec.constants import VIFF_SRCRT


@dataclass
class Interface:
    """A router network interface (a port of the model)."""

    name: str
    ifindex: int
    mac: bytes
    ipv4: str
    ipv6: str
    port: int | None  # None for pseudo interfaces (the register interface)
    neighbor_mac: bytes = b"\xff" * 6  # resolved link-layer address of the host on this link


@dataclass
class Vif:
    """An installed vif/mif and its counters."""

    index: int
    iface: Interface | None  # None: register vif (no wire)
    flags: int
    threshold: int
    lcl_addr: str
    register: bool
    static: bool = False
    icount: int = 0
    ocount: int = 0
    ibytes: int = 0
    obytes: int = 0


class VifError(Exception):
    """A validation failure: ``path`` is the profile's errno path."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


@dataclass
class VifRequest:
    """A decoded add request, common to vifctl and mif6ctl."""

    index: int
    flags: int
    threshold: int
    rate_limit: int
    lcl_addr: str  # IPv4 local address or "" for mifs
    pifi: int  # mif physical ifindex, or 0
    register: bool
    tunnel: bool


Check = Callable[["VifTableView", VifRequest], Interface | None]


class VifTableView:
    """What the checks need to see: the table, the interfaces and the profile limits."""

    def __init__(self, vifs: list[Vif | None], interfaces: list[Interface], maxvifs: int, prefix: str,
                 rate_limit_rejected: bool, allowed_flags: frozenset[int] | None) -> None:
        self.vifs = vifs
        self.allowed_flags = allowed_flags
        self.interfaces = interfaces
        self.maxvifs = maxvifs
        self.prefix = prefix
        self.rate_limit_rejected = rate_limit_rejected

    def fail(self, what: str) -> VifError:
        return VifError(f"{self.prefix}.{what}")


def _index_range(t: VifTableView, r: VifRequest) -> None:
    if r.index >= t.maxvifs:
        raise t.fail("index_range")


def _in_use(t: VifTableView, r: VifRequest) -> None:
    if r.index < len(t.vifs) and t.vifs[r.index] is not None:
        raise t.fail("in_use")


def _rate_limit(t: VifTableView, r: VifRequest) -> None:
    if r.rate_limit and t.rate_limit_rejected:
        raise t.fail("rate_limit")


def _address(t: VifTableView, r: VifRequest) -> Interface | None:
    """The interface owning the local address (vifs) or the ifindex (mifs)."""
    if r.pifi or not r.lcl_addr:
        for i in t.interfaces:
            if i.ifindex == r.pifi and r.pifi:
                return i
        raise t.fail("bad_pifi")
    if r.register:  # no interface: the address is not looked up (a null one is "null_address"'s)
        return None
    for i in t.interfaces:
        if i.ipv4 == r.lcl_addr:
            return i
    raise t.fail("bad_address")


def _null_address(t: VifTableView, r: VifRequest) -> None:
    """vifc_lcl_addr 0.0.0.0 is refused, register vifs included (the BSDs' in_nullhost test;
    Linux has none: its register vif ignores the address, others fail the lookup)."""
    if not r.pifi and r.lcl_addr == "0.0.0.0":
        raise t.fail("bad_address")


def _tunnel(t: VifTableView, r: VifRequest) -> None:
    if r.tunnel:
        raise t.fail("tunnel")


def _srcrt_tunnel(t: VifTableView, r: VifRequest) -> None:
    """A source-routed tunnel (VIFF_TUNNEL|VIFF_SRCRT) is refused where plain tunnels are not
    (NetBSD's add_vif, after the address lookup)."""
    if r.tunnel and r.flags & VIFF_SRCRT:
        raise t.fail("srcrt_tunnel")


def _register_unique(t: VifTableView, r: VifRequest) -> None:
    if r.register and any(v is not None and v.register for v in t.vifs):
        raise t.fail("in_use")


def _flags(t: VifTableView, r: VifRequest) -> None:
    if t.allowed_flags is not None and r.flags not in t.allowed_flags:
        raise t.fail("bad_flags")


CHECKS: dict[str, Check] = {
    "index_range": _index_range,
    "in_use": _in_use,
    "rate_limit": _rate_limit,
    "address": _address,
    "null_address": _null_address,
    "tunnel": _tunnel,
    "srcrt_tunnel": _srcrt_tunnel,
    "register_unique": _register_unique,
    "flags": _flags,
}


def validate(view: VifTableView, req: VifRequest, order: tuple[str, ...]) -> Interface | None:
    """Run the checks in profile order; return the interface the vif binds to."""
    iface: Interface | None = None
    for name in order:
        result = CHECKS[name](view, req)  # None, except the address check: the bound interface
        if name == "address":
            iface = result
    return iface


def numvifs(vifs: list[Vif | None]) -> int:
    """One more than the highest index in use (holes below it count), as BSD keeps it."""
    for i in range(len(vifs) - 1, -1, -1):
        if vifs[i] is not None:
            return i + 1
    return 0

