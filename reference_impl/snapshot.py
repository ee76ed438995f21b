"""The routing state as a system shows it (Linux /proc/net/ip_mr_vif, ip_mr_cache, ip6_mr_*),
normalised so a kernel's view and the model's compare field by field.

Linux shows a vif's flags with VIFF_STATIC (0x8000) for one a non-routing socket added, its
``local`` as the raw vifctl address word (VIFF_USE_IFINDEX: the ifindex's bytes), and an MFC
entry's outgoing vifs as ``vif:ttl`` for the vifs that exist with a ttl below 255 (ipmr_mfc_seq_show:
``VIF_EXISTS(mrt, n) && ttls[n] < 255``); an unresolved (pending) entry has parent -1, zero
counters and no outgoing vifs.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mroute_spec.constants import VIFF_STATIC, VIFF_USE_IFINDEX

if TYPE_CHECKING:
    from reference_impl.mrouter import MRouter

MAX_TTL = 255  # a ttl of 255 is no outgoing interface on Linux (ipmr_update_thresholds)


@dataclass(frozen=True, order=True)
class VifState:
    """One vif / mif: its index, the port its interface is (None: register or no device), flags,
    IPv4 local address word ("" for mifs) and counters."""

    index: int
    port: int | None
    flags: int
    local: str
    icount: int = 0
    ocount: int = 0
    ibytes: int = 0
    obytes: int = 0


@dataclass(frozen=True, order=True)
class MfcState:
    """One MFC entry (pending: unresolved, parent -1, no counters) with its outgoing vifs and ttls."""

    source: str
    group: str
    parent: int
    oifs: tuple[tuple[int, int], ...] = ()  # (vif, ttl), by vif
    pktcnt: int = 0
    bytecnt: int = 0
    wrong_if: int = 0
    pending: bool = False


@dataclass(frozen=True)
class TableState:
    """One family's routing table: vifs by index, MFC entries sorted (kernels list them in hash order)."""

    vifs: tuple[VifState, ...] = ()
    mfc: tuple[MfcState, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (the agent protocol's ``routing_state`` result)."""
        return {"vifs": [asdict(v) for v in self.vifs],
                "mfc": [{**asdict(m), "oifs": [list(o) for o in m.oifs]} for m in self.mfc]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableState:
        """The inverse of ``to_json``; KeyError / TypeError on a malformed object."""
        vifs = tuple(VifState(**v) for v in data["vifs"])
        mfc = tuple(MfcState(**{**m, "oifs": tuple((int(i), int(t)) for i, t in m["oifs"])}) for m in data["mfc"])
        return normalised(vifs, mfc)


def normalised(vifs: tuple[VifState, ...] | list[VifState], mfc: tuple[MfcState, ...] | list[MfcState]) -> TableState:
    """A TableState with vifs by index and MFC entries in one canonical order."""
    return TableState(tuple(sorted(vifs)), tuple(sorted(mfc)))


def canonical(addr: str) -> str:
    """RFC 5952 / dotted-quad text of an address (as the harness spells them)."""
    return str(ipaddress.ip_address(addr))


def snapshot(router: MRouter) -> TableState:
    """The model router's state as Linux's /proc files would show it."""
    vifs = []
    for v in router.vifs:
        if v is None:
            continue
        flags = v.flags | (VIFF_STATIC if v.static else 0)
        local = ""
        if router.family.version == 4:
            by_index = bool(router.profile.vif_use_ifindex) and v.flags == VIFF_USE_IFINDEX and v.iface is not None
            local = str(ipaddress.IPv4Address(v.iface.ifindex.to_bytes(4, "little"))) if by_index and v.iface else v.lcl_addr
        port = v.iface.port if v.iface is not None else None
        vifs.append(VifState(v.index, port, flags, local, v.icount, v.ocount, v.ibytes, v.obytes))
    mfc = []
    for e in router.all_entries():
        oifs = tuple((i, t) for i, t in enumerate(e.ttls) if t and t < MAX_TTL and router.vif(i) is not None)
        mfc.append(MfcState(canonical(e.source), canonical(e.group), e.parent, oifs, e.pktcnt, e.bytecnt, e.wrong_if))
    mfc += [MfcState(canonical(p.source), canonical(p.group), -1, pending=True) for p in router.pending.values()]
    return normalised(vifs, mfc)
