"""The state of one family's multicast router and the helpers every part of it reads.

``RouterState`` holds the routing socket, the vif table, the MFC and the pending entries; the
data path (``forwarding.DataPath``) and the control options (``mrouter.MRouter``) build on it.
"""

from __future__ import annotations

from typing import Any, assert_never

from reference_impl.clock import Timer
from reference_impl.contracts import KernelView
from reference_impl.family import Family
from reference_impl.meters import Meters
from reference_impl.mfc import MfcEntry, Pending
from reference_impl.register import Register
from reference_impl.sockets import Socket
from reference_impl.vifs import Interface, Vif, numvifs


class RouterState:
    """Multicast routing state for one address family (meters and register are set by MRouter)."""

    meters: Meters
    register: Register

    def __init__(self, kernel: KernelView, family: Family) -> None:
        self.kernel = kernel
        self.family = family
        self.profile = kernel.profile
        self.maxvifs = self.profile.maxvifs if family.version == 4 else self.profile.maxmifs
        self.router: Socket | None = None
        self.vifs: list[Vif | None] = [None] * self.maxvifs
        self._numvifs: int | None = None
        self._vif_of: dict[int, int | None] = {}
        self.mfc: dict[tuple[str, str], MfcEntry] = {}
        # Linux MRT_ADD_MFC_PROXY can add more entries with the same (S,G) and other parents: the
        # newest is in ``mfc`` (the head of the kernel's rhltable chain), older ones here, newest first
        self.mfc_more: dict[tuple[str, str], list[MfcEntry]] = {}
        self.pending: dict[tuple[str, str], Pending] = {}
        self.assert_on = False
        self.pim = False
        self.wrvifwhole = False  # WRONGVIF is followed by the whole packet (MRT_PIM=pim_whole_value)
        self.api_config = 0
        self.init_time = 0.0
        self._tick_timer: Timer | None = None

    # -- helpers ---------------------------------------------------------------------------
    def numvifs(self) -> int:
        if self._numvifs is None:
            self._numvifs = numvifs(self.vifs)
        return self._numvifs

    def vifs_changed(self) -> None:
        """Forget what is derived from the vif table (call after every change to it)."""
        self._numvifs = None
        self._vif_of = {}

    def vif(self, index: int) -> Vif | None:
        return self.vifs[index] if 0 <= index < self.numvifs() else None

    def vif_of(self, iface: Interface) -> int | None:
        """The vif index bound to an interface (lowest or highest, per profile)."""
        key = id(iface)
        if key not in self._vif_of:
            found = [i for i, v in enumerate(self.vifs) if v is not None and v.iface is iface]
            pick: int | None = None
            if found:
                match self.profile.vif_lookup:
                    case "lowest":
                        pick = found[0]
                    case "highest":
                        pick = found[-1]
                    case unknown:
                        assert_never(unknown)
            self._vif_of[key] = pick
        return self._vif_of[key]

    # -- MFC entries sharing an (S,G) (Linux proxy entries) --------------------------------
    def entries(self, key: tuple[str, str]) -> list[MfcEntry]:
        """Every entry of ``key``, in the kernel's lookup order (newest first)."""
        head = self.mfc.get(key)
        return [] if head is None else [head, *self.mfc_more.get(key, ())]

    def all_entries(self) -> list[MfcEntry]:
        return [e for key in list(self.mfc) for e in self.entries(key)]

    def find_parent(self, key: tuple[str, str], parent: int) -> MfcEntry | None:
        """ipmr_base.c mr_mfc_find_parent: the first entry of ``key`` whose parent is ``parent``
        (-1: any parent, what MRT_ADD_MFC / MRT_DEL_MFC use)."""
        return next((e for e in self.entries(key) if parent == -1 or e.parent == parent), None)

    def insert_entry(self, entry: MfcEntry) -> None:
        """Add ``entry`` in front of any other entry of its (S,G) (rhltable insertion)."""
        key = (entry.source, entry.group)
        old = self.mfc.get(key)
        if old is not None:
            self.mfc_more.setdefault(key, []).insert(0, old)
        self.mfc[key] = entry

    def unlink_entry(self, entry: MfcEntry) -> None:
        """Take ``entry`` out of the MFC (the next entry of its (S,G), if any, becomes the head)."""
        key = (entry.source, entry.group)
        more = self.mfc_more.get(key, [])
        if self.mfc.get(key) is entry:
            if more:
                self.mfc[key] = more.pop(0)
            else:
                del self.mfc[key]
        else:
            more.remove(entry)
        if not more:
            self.mfc_more.pop(key, None)

    def queue_depth(self) -> int:
        p = self.profile
        return p.nocache_queue_depth if self.family.version == 4 else p.nocache6_queue_depth

    def upcall(self, message: bytes) -> None:
        if self.router is not None:
            self.router.deliver(message)

    def decode(self, struct_name: str, buf: bytes) -> dict[str, Any]:
        return self.profile.struct(struct_name).unpack(buf)

    # -- pending entries and their expiry --------------------------------------------------
    def add_pending(self, pending: Pending) -> None:
        self.pending[(pending.source, pending.group)] = pending
        p = self.profile
        if p.nocache_expiry_tick is None:
            key = (pending.source, pending.group)
            pending.timer = self.kernel.clock.call_later(p.nocache_expiry[0], lambda: self.expire(key))
            return
        pending.expire_ticks = p.nocache_expiry_ticks
        if self._tick_timer is None:
            self._arm_tick()

    def _arm_tick(self) -> None:
        """Schedule the next expiry tick on the grid that MRT_INIT started."""
        tick = self.profile.nocache_expiry_tick
        assert tick is not None
        now = self.kernel.clock.now
        n = int((now - self.init_time) / tick) + 1
        self._tick_timer = self.kernel.clock.call_at(self.init_time + n * tick, self._on_tick)

    def _on_tick(self) -> None:
        self._tick_timer = None
        for key, pending in list(self.pending.items()):
            pending.expire_ticks -= 1
            if pending.expire_ticks <= 0:
                del self.pending[key]
        if self.pending:
            self._arm_tick()

    def expire(self, key: tuple[str, str]) -> None:
        self.pending.pop(key, None)

