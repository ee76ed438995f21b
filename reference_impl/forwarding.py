"""The data path: lookup, NOCACHE and the pending queue, RPF, WRONGVIF, replication, counters.

Written once for IPv4 and IPv6 (IPv6 ifsets are held as ttls of 1, which is what the doc's
"only the set of outgoing interfaces" means: forward iff hop limit > 1).
"""

from __future__ import annotations

from typing import assert_never

from mroute_spec.constants import (
    IGMPMSG_NOCACHE,
    IGMPMSG_WRONGVIF,
    IGMPMSG_WRVIFWHOLE,
    IPPROTO_ICMPV6,
    IPPROTO_IGMP,
    MLD_TYPES,
    MRT6MSG_NOCACHE,
    MRT6MSG_WHOLEPKT,
    MRT6MSG_WRMIFWHOLE,
    MRT6MSG_WRONGMIF,
    MRT_MFC_FLAGS_DISABLE_WRONGVIF,
)
from reference_impl import upcalls
from reference_impl.mfc import MfcEntry, Pending
from reference_impl.packets import IPPacket, decremented, ethernet, multicast_mac, with_ttl
from reference_impl.state import RouterState
from reference_impl.vifs import Interface, Vif


def is_group_management(pkt: IPPacket) -> bool:
    """IGMP, or an MLD message (ICMPv6 types 130-132, 143)."""
    if pkt.version == 4:
        return pkt.proto == IPPROTO_IGMP
    return pkt.proto == IPPROTO_ICMPV6 and pkt.l4_offset < pkt.length and pkt.data[pkt.l4_offset] in MLD_TYPES


def is_zeronet(pkt: IPPacket) -> bool:
    """An IPv4 packet from 0.0.0.0/8 that is not IGMP (which the input route lets through)."""
    return pkt.src.startswith("0.") and pkt.proto != IPPROTO_IGMP


class DataPath(RouterState):
    """The data path of a router: what happens to a multicast packet arriving on an interface."""

    def input(self, iface: Interface, pkt: IPPacket) -> None:
        """ip_mforward: called for every valid multicast packet while routing is on."""
        if self.router is None or self.family.is_local_group(pkt.dst):
            return
        if self.profile.group_management_not_routed and is_group_management(pkt):
            return
        if self.family.version == 4 and self.profile.v4_zeronet_source_dropped and is_zeronet(pkt):
            return
        arrival = self.vif_of(iface)
        if arrival is None and self.family.version == 4 and self.profile.v4_arrival_needs_vif:
            return
        if pkt.ttl <= 1 and not self.profile.nocache_ttl_le_1_upcall:
            return
        key = (pkt.src, pkt.dst)
        entry = self.mfc.get(key)
        if entry is None and arrival is not None:
            entry = self.find_any(pkt.dst, arrival)
        if entry is not None:
            self.mdq(entry, pkt, iface, arrival)
            return
        if arrival is None and self.family.version == 6 and self.profile.nocache6_requires_mif:
            return
        pending = self.pending.get(key)
        if pending is not None:
            if len(pending.queue) < self.queue_depth():
                pending.queue.append((pkt, iface.ifindex))
            return
        if arrival is None and (self.family.version == 4 or self.profile.nocache6_requires_mif):
            return
        vif_no = arrival if arrival is not None else self.numvifs()
        self.upcall(self.nocache_message(pkt, vif_no))
        self.add_pending(Pending(pkt.src, pkt.dst, [(pkt, iface.ifindex)]))

    def mdq(self, entry: MfcEntry, pkt: IPPacket, iface: Interface, arrival: int | None) -> None:
        """RPF check, accounting and replication for a packet with a complete entry."""
        plen = pkt.length
        if self.family.version == 4 and self.profile.byte_count4 == "payload":
            plen -= pkt.hlen  # NetBSD ip_mdq: ntohs(ip_len) - (ip_hl << 2)
        if self.profile.counters_include_wrong_if:
            entry.pktcnt += 1
            entry.bytecnt += plen
        parent = self.vif(entry.parent)
        wildcard = self.is_wildcard(entry)
        if not (wildcard and arrival is not None and self.in_static_tree(entry, arrival)) and (
                parent is None or parent.iface is not iface):
            entry.wrong_if += 1
            self.maybe_wrongvif(entry, pkt, arrival)
            return
        if not self.profile.counters_include_wrong_if:
            entry.pktcnt += 1
            entry.bytecnt += plen
        if parent is not None:
            parent.icount += 1
            parent.ibytes += plen
        out = self.oifs(entry, pkt)
        if wildcard:
            out = self.wildcard_oifs(entry, pkt, arrival, out)
        for vif in out:
            vif.ocount += 1
            vif.obytes += plen
            if vif.register:
                self.register_send(entry, pkt, vif)
            else:
                self.transmit(vif, pkt)
        self.meters.packet(entry, plen)

    def oifs(self, entry: MfcEntry, pkt: IPPacket) -> list[Vif]:
        """The vifs a copy goes out on: ttls[i] > 0 and TTL > ttls[i] (strict)."""
        out = []
        for i in range(self.numvifs()):
            vif = self.vifs[i]
            t = entry.ttls[i]
            if vif is None or t == 0 or pkt.ttl <= t:
                continue
            if self.profile.vif_threshold_applies and pkt.ttl < vif.threshold:
                continue
            out.append(vif)
        return out

    # -- Linux (*,G) and (*,*) entries (profile mfc_lookup "star-g") -------------------------
    def is_wildcard(self, entry: MfcEntry) -> bool:
        """A (*,G) or (*,*) entry: origin unspecified, under a profile that has them."""
        return self.profile.mfc_lookup == "star-g" and self.family.is_unspecified(entry.source)

    @staticmethod
    def is_oif(entry: MfcEntry, vif: int) -> bool:
        """ttls[vif] < 255 in the kernel's terms (it stores 255 for "not an outgoing vif")."""
        return 0 < entry.ttls[vif] < 255

    def find_any_parent(self, vif: int) -> MfcEntry | None:
        """ipmr_base.c mr_mfc_find_any_parent: the first (*,*) entry with ``vif`` in its oif list."""
        anyaddr = "0.0.0.0" if self.family.version == 4 else "::"
        return next((e for e in self.entries((anyaddr, anyaddr)) if self.is_oif(e, vif)), None)

    def find_any(self, group: str, vif: int) -> MfcEntry | None:
        """ipmr_cache_find_any: the (*,G) entry for a packet that arrived on ``vif`` (with ``vif`` an
        oif, or in the oif list of a (*,*) proxy entry whose parent is the (*,G) entry's parent),
        else a (*,*) entry (mr_mfc_find_any)."""
        match self.profile.mfc_lookup:
            case "exact":
                return None
            case "star-g":
                pass
            case unknown:
                assert_never(unknown)
        if self.family.is_unspecified(group):
            return self.find_any_parent(vif)
        anyaddr = "0.0.0.0" if self.family.version == 4 else "::"
        for entry in self.entries((anyaddr, group)):
            if self.is_oif(entry, vif):
                return entry
            proxy = self.find_any_parent(entry.parent)
            if proxy is not None and self.is_oif(proxy, vif):
                return entry
        return self.find_any_parent(vif)

    def in_static_tree(self, entry: MfcEntry, arrival: int) -> bool:
        """ip_mr_forward: a (*,G) packet passes the iif check when its arrival vif is an oif of the
        (*,*) entry found for the (*,G) entry's parent."""
        proxy = self.find_any_parent(entry.parent)
        return proxy is not None and self.is_oif(proxy, arrival)

    def wildcard_oifs(self, entry: MfcEntry, pkt: IPPacket, arrival: int | None, oifs: list[Vif]) -> list[Vif]:
        """ip_mr_forward: a (*,*) entry sends only upstream (its parent, when the packet did not come
        from there and TTL > ttls[parent]); a (*,G) entry never sends back on the arrival vif."""
        if self.family.is_unspecified(entry.group):
            up = self.vif(entry.parent)
            if (arrival is not None and arrival != entry.parent and up is not None
                    and self.is_oif(entry, entry.parent) and pkt.ttl > entry.ttls[entry.parent]):
                return [up]
            return []
        return [v for v in oifs if v.index != arrival]

    def transmit(self, vif: Vif, pkt: IPPacket) -> None:
        """Send a copy with TTL / hop limit decremented on the vif's wire."""
        assert vif.iface is not None and vif.iface.port is not None
        frame = ethernet(multicast_mac(pkt.dst), vif.iface.mac, pkt.version, decremented(pkt))
        self.kernel.emit(vif.iface.port, frame)

    def maybe_wrongvif(self, entry: MfcEntry, pkt: IPPacket, arrival: int | None) -> None:
        """WRONGVIF / WRONGMIF: asserts on, a real arrival vif, not disabled, rate-limited."""
        p = self.profile
        if arrival is None and self.family.version == 6 and p.wrongmif_from_non_mif:
            if self.assert_on and self.vif(entry.parent) is not None:  # no per-mif flags, no rate limit
                self.upcall(upcalls.mrt6msg(pkt, MRT6MSG_WRONGMIF, self.numvifs(), p))
            return
        if not self.assert_on or arrival is None or (p.wrongvif_requires_parent and self.vif(entry.parent) is None):
            return
        if p.wrongvif_requires_oif and not self.pim and not 0 < entry.ttls[arrival] < 255:
            return
        if entry.flags[arrival] & MRT_MFC_FLAGS_DISABLE_WRONGVIF:
            return
        now = self.kernel.clock.now
        if p.wrongvif_rate_limited if self.family.version == 4 else p.wrongmif_rate_limited:
            last = entry.last_assert
            if last is not None:
                gap = now - last
                if gap < p.wrongvif_interval or (p.wrongvif_interval_strict and gap == p.wrongvif_interval):
                    return
            entry.last_assert = now
        kind = IGMPMSG_WRONGVIF
        self.upcall(
            upcalls.igmpmsg_header(pkt, kind, arrival, p)
            if self.family.version == 4
            else upcalls.mrt6msg(pkt, MRT6MSG_WRONGMIF, arrival, p)
        )
        if self.wrvifwhole:  # the packet as it arrived follows (Linux MRT_PIM=4)
            self.upcall(
                upcalls.igmpmsg_wholepkt(pkt.data, pkt.src, pkt.dst, arrival, p, IGMPMSG_WRVIFWHOLE)
                if self.family.version == 4
                else upcalls.mrt6msg(pkt, MRT6MSG_WRMIFWHOLE, arrival, p, whole=pkt.data)
            )

    def nocache_message(self, pkt: IPPacket, vif_no: int) -> bytes:
        if self.family.version == 4:
            return upcalls.igmpmsg_header(pkt, IGMPMSG_NOCACHE, vif_no, self.profile)
        return upcalls.mrt6msg(pkt, MRT6MSG_NOCACHE, vif_no, self.profile)

    def register_send(self, entry: MfcEntry, pkt: IPPacket, vif: Vif) -> None:
        """A copy for the register vif: kernel encapsulation when negotiated, else WHOLEPKT."""
        if self.register.encapsulate(entry, pkt):
            return
        p = self.profile
        if self.family.version == 4:
            inner = with_ttl(pkt, pkt.ttl - 1) if p.wholepkt_ttl_decremented else pkt.data
            for piece in self.register.fragments(inner):
                self.upcall(upcalls.igmpmsg_wholepkt(piece, pkt.src, pkt.dst, vif.index, p))
        else:
            inner = with_ttl(pkt, pkt.ttl - 1) if p.wholepkt6_hlim_decremented else pkt.data
            self.upcall(upcalls.mrt6msg(pkt, MRT6MSG_WHOLEPKT, vif.index, p, whole=inner))

    def release(self, pending: Pending, entry: MfcEntry) -> None:
        """Replay a pending entry's queue, in arrival order, through the new entry."""
        for pkt, ifindex in pending.queue:
            iface = next((i for i in self.kernel.interfaces if i.ifindex == ifindex), None)
            if iface is None:  # its interface went away while queued (ifremoval.py): not replayed, untested
                continue
            self.mdq(entry, pkt, iface, self.vif_of(iface))
