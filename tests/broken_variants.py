"""Deliberately broken variants of the reference model, to prove the suite can fail.

Each variant changes one behaviour the way a real implementation could get it wrong, and names
the clauses whose tests must catch it. ``tests/test_broken_variants.py`` runs those tests against
each variant (as target ``broken_variants:<name>``, with tests/ on the path) and requires a failure.
They subclass model internals, so they live with the project's tests, not in the suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from conformance.targets.reference import ReferenceTarget
from mroute_spec.constants import BW_UPCALL_LEQ, MRT_MFC_FLAGS_DISABLE_WRONGVIF, MRT_MFC_RP
from reference_impl.meters import Meter, Meters
from reference_impl.mfc import MfcEntry, Pending
from reference_impl.mrouter import MRouter
from reference_impl.packets import IPPacket, with_ttl
from reference_impl.register import Register
from reference_impl.vifs import Interface, Vif


@contextmanager
def _profile(owner: Any, **changes: Any) -> Iterator[None]:
    """Run with the router's profile changed: how a variant gets a constant wrong."""
    router = owner if isinstance(owner, MRouter) else owner.router
    saved = router.profile
    router.profile = replace(saved, **changes)
    try:
        yield
    finally:
        router.profile = saved


# -- basic API ------------------------------------------------------------------------------
class TtlGe(MRouter):
    """Forwards when TTL >= ttls[i] instead of TTL > ttls[i]."""

    def oifs(self, entry: MfcEntry, pkt: IPPacket) -> list[Vif]:
        return super().oifs(entry, replace(pkt, ttl=pkt.ttl + 1))


class TtlZeroAsOne(MRouter):
    """Treats a ttl of 0 as 1, so a vif meant to be excluded gets copies."""

    def oifs(self, entry: MfcEntry, pkt: IPPacket) -> list[Vif]:
        return super().oifs(replace(entry, ttls=[t or 1 for t in entry.ttls]), pkt)


class NoTtlDecrement(MRouter):
    """Sends forwarded copies with the TTL they arrived with."""

    def transmit(self, vif: Vif, pkt: IPPacket) -> None:
        bumped = with_ttl(pkt, min(pkt.ttl + 1, 255))
        return super().transmit(vif, replace(pkt, ttl=pkt.ttl + 1, data=bumped))


class NoRpf(MRouter):
    """Forwards packets whatever vif they arrive on."""

    def mdq(self, entry: MfcEntry, pkt: IPPacket, iface: Interface, arrival: int | None) -> None:
        saved = entry.parent
        if arrival is not None:
            entry.parent = arrival
        try:
            super().mdq(entry, pkt, iface, arrival)
        finally:
            entry.parent = saved


class NocacheEveryPacket(MRouter):
    """Sends a NOCACHE for every packet of a pending (S,G), not only the first."""

    def input(self, iface: Interface, pkt: IPPacket) -> None:
        pending = self.pending.pop((pkt.src, pkt.dst), None)
        if pending is not None and pending.timer is not None:
            pending.timer.cancel()
        super().input(iface, pkt)


class WrongvifWithoutAssert(MRouter):
    """Sends WRONGVIF even when MRT_ASSERT is off."""

    def maybe_wrongvif(self, entry: MfcEntry, pkt: IPPacket, arrival: int | None) -> None:
        saved, self.assert_on = self.assert_on, True
        try:
            super().maybe_wrongvif(entry, pkt, arrival)
        finally:
            self.assert_on = saved


class DropQueueOnAdd(MRouter):
    """Drops the packets queued while pending instead of forwarding them on MRT_ADD_MFC."""

    def release(self, pending: Pending, entry: MfcEntry) -> None:
        return


class WrongImVif(MRouter):
    """Reports the wrong arrival vif in NOCACHE upcalls."""

    def nocache_message(self, pkt: IPPacket, vif_no: int) -> bytes:
        return super().nocache_message(pkt, vif_no + 1)


class QueueDepthPlusOne(MRouter):
    """Queues one packet more than the profile's depth while pending."""

    def queue_depth(self) -> int:
        return super().queue_depth() + 1


class NoAssertRateLimit(MRouter):
    """Sends a WRONGVIF for every wrong-vif packet (no 3 s rate limit)."""

    def maybe_wrongvif(self, entry: MfcEntry, pkt: IPPacket, arrival: int | None) -> None:
        entry.last_assert = None
        super().maybe_wrongvif(entry, pkt, arrival)


# -- advanced API ---------------------------------------------------------------------------
class DisableWrongvifIgnored(MRouter):
    """Ignores MRT_MFC_FLAGS_DISABLE_WRONGVIF."""

    def maybe_wrongvif(self, entry: MfcEntry, pkt: IPPacket, arrival: int | None) -> None:
        saved = entry.flags
        entry.flags = [f & ~MRT_MFC_FLAGS_DISABLE_WRONGVIF for f in saved]
        try:
            super().maybe_wrongvif(entry, pkt, arrival)
        finally:
            entry.flags = saved


class DisableFlagFromParent(MRouter):
    """Reads DISABLE_WRONGVIF from the parent vif instead of the arrival vif."""

    def maybe_wrongvif(self, entry: MfcEntry, pkt: IPPacket, arrival: int | None) -> None:
        saved = entry.flags
        if arrival is not None and entry.parent < len(saved):
            entry.flags = list(saved)
            entry.flags[arrival] = saved[entry.parent]
        try:
            super().maybe_wrongvif(entry, pkt, arrival)
        finally:
            entry.flags = saved


class Tmin2s(Meters):
    """Accepts measurement intervals down to 2 s."""

    def add(self, buf: bytes) -> None:
        with _profile(self, tmin=(2, 0)):
            super().add(buf)


class GeqTwicePerInterval(Meters):
    """A `>=` meter fires again on every packet once the threshold is reached."""

    def packet(self, entry: MfcEntry, plen: int) -> None:
        super().packet(entry, plen)
        for m in entry.meters:
            if not m.flags & BW_UPCALL_LEQ:
                m.delivered = False


class LeqNoRestart(Meters):
    """A `<=` meter keeps counting across intervals instead of restarting from zero."""

    def _leq_end(self, m: Meter) -> None:
        counts = (m.packets, m.bytes)
        super()._leq_end(m)
        m.packets, m.bytes = counts


class Batch127(Meters):
    """Batches 127 records per IGMPMSG_BW_UPCALL instead of BW_UPCALLS_MAX."""

    def queue(self, m: Meter, measured_us: int) -> None:
        with _profile(self, bw_flush_at=127, bw_message_max=127):
            super().queue(m, measured_us)

    def flush(self) -> None:
        with _profile(self, bw_message_max=127):
            super().flush()


class BorderNeverSet(Register):
    """Never sets the Border bit of kernel-built Registers."""

    def border_vif(self, entry: MfcEntry) -> int | None:
        return None


class InaddrAnyEncapsulated(Register):
    """Encapsulates to an RP of 0.0.0.0 instead of falling back to WHOLEPKT."""

    def encapsulate(self, entry: MfcEntry, pkt: IPPacket) -> bool:
        if self.router.api_config & MRT_MFC_RP and entry.rp == "0.0.0.0":
            return True
        return super().encapsulate(entry, pkt)


# -- Linux extensions (issue 13) ------------------------------------------------------------
class StarGIgnored(MRouter):
    """Linux profile, but an entry with an unspecified origin is never used as a (*,G) / (*,*) entry."""

    def find_any(self, group: str, vif: int) -> MfcEntry | None:
        return None


class StarGBackOnArrival(MRouter):
    """(*,G) copies also go back out on the vif the packet arrived on."""

    def wildcard_oifs(self, entry: MfcEntry, pkt: IPPacket, arrival: int | None, oifs: list[Vif]) -> list[Vif]:
        if self.family.is_unspecified(entry.group):
            return super().wildcard_oifs(entry, pkt, arrival, oifs)
        return oifs


class FlushIgnoresStatic(MRouter):
    """MRT_FLUSH treats static and dynamic state alike (any MFC or VIFS bit flushes both kinds)."""

    def flush(self, *, vifs: bool, static_vifs: bool, mfc: bool, static_mfc: bool) -> None:
        super().flush(vifs=vifs or static_vifs, static_vifs=vifs or static_vifs, mfc=mfc or static_mfc,
                      static_mfc=mfc or static_mfc)


class PimFourAlwaysWhole(MRouter):
    """MRT_PIM 4 turns WRVIFWHOLE on even when PIM was already on (Linux stores it only on a change)."""

    def opt_pim(self, sock: Any, buf: bytes) -> None:
        super().opt_pim(sock, buf)
        if int.from_bytes(buf[:4], "little", signed=True) == self.profile.pim_whole_value:
            self.wrvifwhole = True


class SgCountZeroesSockaddrs(MRouter):
    """SIOCGETSGCNT_IN6 answers with fresh sockaddrs (port, flowinfo, scope id zeroed)."""

    def sg_count(self, arg: bytes) -> bytes:
        out = super().sg_count(arg)
        sdef = self.profile.struct(self.family.sg_struct)
        a = sdef.unpack(out)
        return sdef.pack(**a)


class RemovalClearsTtls(MRouter):
    """When a device goes away, the MFC entries also lose their ttl for its vif index (Linux keeps it,
    so a vif added again at that index is an outgoing interface again)."""

    def interface_removed(self, iface: Interface) -> None:
        gone = [i for i, v in enumerate(self.vifs) if v is not None and v.iface is iface]
        super().interface_removed(iface)
        for entry in self.all_entries():
            entry.ttls = bytes(0 if i in gone else t for i, t in enumerate(entry.ttls))


class RemovalLeavesVifs(MRouter):
    """A device going away leaves its vifs in the table (bound to an interface that is no more)."""

    def interface_removed(self, iface: Interface) -> None:
        pass


@dataclass(frozen=True)
class Variant:
    """A broken variant, the part of the model it replaces, and the clauses that must catch it."""

    name: str
    broken: type
    catches: tuple[str, ...]
    profile: str = "documented"

    @property
    def doc(self) -> str:
        return (self.broken.__doc__ or "").strip()

    def router_class(self) -> type[MRouter]:
        if issubclass(self.broken, MRouter):
            return self.broken
        slot = "meters_class" if issubclass(self.broken, Meters) else "register_class"
        return type(f"MRouter_{self.name}", (MRouter,), {slot: self.broken})


VARIANTS: tuple[Variant, ...] = (
    Variant("ttl_ge", TtlGe, ("mfc.ttl-threshold",)),
    Variant("ttl_zero_as_one", TtlZeroAsOne, ("mfc.ttl-zero-excluded",)),
    Variant("no_ttl_decrement", NoTtlDecrement, ("mfc.ttl-decrement",)),
    Variant("no_rpf", NoRpf, ("mfc.rpf",)),
    Variant("nocache_every_packet", NocacheEveryPacket, ("nocache.single-pending",)),
    Variant("wrongvif_without_assert", WrongvifWithoutAssert, ("wrongvif.assert-gated",)),
    Variant("drop_queue_on_add", DropQueueOnAdd, ("nocache.release-on-add",)),
    Variant("wrong_im_vif", WrongImVif, ("nocache.upcall",)),
    Variant("queue_depth_plus_one", QueueDepthPlusOne, ("nocache.queue-depth",)),
    Variant("no_assert_rate_limit", NoAssertRateLimit, ("wrongvif.rate-limit",)),
    Variant("disable_wrongvif_ignored", DisableWrongvifIgnored, ("wrongvif.disable-flag",)),
    Variant("disable_flag_from_parent", DisableFlagFromParent, ("wrongvif.disable-flag-scope",)),
    Variant("tmin_2s", Tmin2s, ("bw.tmin",)),
    Variant("geq_twice_per_interval", GeqTwicePerInterval, ("bw.geq-fires",)),
    Variant("leq_no_restart", LeqNoRestart, ("bw.leq-restart",)),
    Variant("batch_127", Batch127, ("bw.batch-max",)),
    Variant("border_never_set", BorderNeverSet, ("register.border-bit",)),
    Variant("inaddr_any_encapsulated", InaddrAnyEncapsulated, ("register.inaddr-any-fallback",)),
    Variant("star_g_ignored", StarGIgnored, ("linuxext.star-g-forward", "linuxext.star-star"), "linux"),
    Variant("star_g_back_on_arrival", StarGBackOnArrival, ("linuxext.star-g-forward",), "linux"),
    Variant("flush_ignores_static", FlushIgnoresStatic, ("linuxext.flush-mfc", "linuxext.flush-vifs"), "linux"),
    Variant("pim_four_always_whole", PimFourAlwaysWhole, ("linuxext.wrvifwhole",), "linux"),
    Variant("sg_count_zeroes_sockaddrs", SgCountZeroesSockaddrs, ("linuxext.sg6-request-copied",), "linux"),
    Variant("removal_clears_ttls", RemovalClearsTtls, ("linuxext.ifremove-forwarding",), "linux"),
    Variant("removal_leaves_vifs", RemovalLeavesVifs, ("linuxext.ifremove-vifs",), "linux"),
)


def _target_class(v: Variant) -> Callable[..., ReferenceTarget]:
    return type(v.name, (ReferenceTarget,), {"router_class": v.router_class(), "__doc__": v.doc})


# Importable as MODULE:CLASS target specs (with tests/ on the path), e.g. broken_variants:ttl_ge
globals().update({v.name: _target_class(v) for v in VARIANTS})
