"""One family's multicast router: its routing socket, vif table, MFC and the control options.

Option handlers receive the raw argument bytes already length-checked by the kernel's
dispatcher; they decode with the profile's ABI and fail with ``Errno(path)``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import assert_never

from mroute_spec.constants import (
    MIFF_REGISTER,
    MRT_API_FLAGS_ALL,
    MRT_FLUSH_MFC,
    MRT_FLUSH_MFC_STATIC,
    MRT_FLUSH_VIFS,
    MRT_FLUSH_VIFS_STATIC,
    MRT_MFC_FLAGS_ALL,
    MRT_MFC_RP,
    VIFF_REGISTER,
    VIFF_TUNNEL,
)
from mroute_spec.options import Role
from reference_impl import api
from reference_impl.contracts import KernelView
from reference_impl.errors import Errno
from reference_impl.family import Family
from reference_impl.forwarding import DataPath
from reference_impl.ifremoval import remove_vifs
from reference_impl.meters import Meters
from reference_impl.mfc import NO_FLAGS, MfcEntry, MfcRequest
from reference_impl.register import Register
from reference_impl.sockets import Socket
from reference_impl.vifs import Interface, Vif, VifError, VifRequest, VifTableView, validate

Setter = Callable[[Socket, bytes], "bytes | None"]
# the roles getsockopt answers (mroute_spec.options: Direction.GET)
GETTABLE = frozenset({Role.VERSION, Role.ASSERT, Role.PIM, Role.API_SUPPORT, Role.API_CONFIG})


class MRouter(DataPath):
    """The state of multicast routing for one address family."""

    meters_class: type[Meters] = Meters
    register_class: type[Register] = Register

    def __init__(self, kernel: KernelView, family: Family) -> None:
        super().__init__(kernel, family)
        self.meters = self.meters_class(self)
        self.register = self.register_class(self)
        # setsockopt handlers by role (mroute_spec.options); bound here, so subclasses' overrides apply
        self._setters: dict[Role, Setter] = {
            Role.INIT: self.opt_init, Role.DONE: self.opt_done, Role.ADD_VIF: self.opt_add_vif,
            Role.DEL_VIF: self.opt_del_vif, Role.ADD_MFC: self.opt_add_mfc, Role.DEL_MFC: self.opt_del_mfc,
            Role.ASSERT: self.opt_assert, Role.PIM: self.opt_pim, Role.API_CONFIG: self.opt_api_config,
            Role.ADD_BW: self.opt_add_bw, Role.DEL_BW: self.opt_del_bw,
            # Linux extensions (issue 13); reachable only where the ABI numbers them
            Role.ADD_MFC_PROXY: self.opt_add_mfc_proxy, Role.DEL_MFC_PROXY: self.opt_del_mfc_proxy,
            Role.FLUSH: self.opt_flush,
        }

    def handles(self, role: Role) -> bool:
        """Whether the model implements the option ``role`` at all (others: errno option.unknown_in_range)."""
        if role == Role.TABLE:  # handled by the kernel (it picks the socket's table)
            p = self.profile
            return (p.table_id_limit4 if self.family.version == 4 else p.table_id_limit6) is not None
        return role in self._setters or role in GETTABLE

    def setter(self, role: Role) -> Setter:
        """The setsockopt handler of ``role``; it returns the buffer to copy back, or None for "as given"."""
        return self._setters[role]

    # -- MRT_INIT / MRT_DONE ---------------------------------------------------------------
    def opt_init(self, sock: Socket, buf: bytes) -> None:
        value = struct.unpack_from("<i", buf)[0]
        match self.profile.init_value:
            case "one":
                if value != 1:
                    raise Errno(self.family.init_bad_value)
            case "zero-disables":  # the text's "1 to enable, or 0 to disable"; FreeBSD's v != 1 refusal otherwise
                if value not in (0, 1):
                    raise Errno(self.family.init_bad_value)
                if value == 0:
                    if sock is self.router:
                        self.done()
                    elif self.router is not None:
                        raise Errno("init.in_use")
                    return
            case "any":
                pass
            case unknown:
                assert_never(unknown)
        if self.router is not None:
            raise Errno("init.in_use")
        self.router = sock
        self.init_time = self.kernel.clock.now

    def opt_done(self, sock: Socket, buf: bytes) -> None:
        if sock is not self.router:
            raise Errno("done.non_router")
        self.done()

    def done(self) -> None:
        """MRT_DONE or close of the routing socket: everything but static state goes (Linux
        mrtsock_destruct / ip6mr_sk_done: mroute_clean_tables(MRT_FLUSH_VIFS | MRT_FLUSH_MFC))."""
        self.flush(vifs=True, static_vifs=False, mfc=True, static_mfc=False)
        self.meters.reset()
        if self.profile.done_resets_assert:
            self.assert_on = self.pim = self.wrvifwhole = False
        self.api_config = 0
        self.router = None

    # -- vifs / mifs -----------------------------------------------------------------------
    def opt_add_vif(self, sock: Socket, buf: bytes) -> None:
        p = self.profile
        if self.family.version == 4:
            a = self.decode("vifctl", buf)
            # VIFF_USE_IFINDEX (Linux): the vifc_lcl_addr union holds vifc_lcl_ifindex instead
            by_index = bool(p.vif_use_ifindex) and a["vifc_flags"] == p.vif_use_ifindex
            ifindex = struct.unpack_from("<i", buf, p.struct("vifctl").field("vifc_lcl_addr").offset)[0]
            req = VifRequest(a["vifc_vifi"], a["vifc_flags"], a["vifc_threshold"], a["vifc_rate_limit"],
                             "" if by_index else a["vifc_lcl_addr"], ifindex if by_index else 0,
                             bool(a["vifc_flags"] & VIFF_REGISTER), bool(a["vifc_flags"] & VIFF_TUNNEL))
            order, allowed = p.add_vif_checks, p.vif_flags_allowed
        else:
            a = self.decode("mif6ctl", buf)
            flags = a["mif6c_flags"]
            req = VifRequest(a["mif6c_mifi"], flags, 0, 0, "", a["mif6c_pifi"],
                             bool(flags & MIFF_REGISTER), False)
            order, allowed = p.add_mif_checks, p.mif_flags_allowed
        match p.vif_rate_limit:
            case "reject":
                reject_rate_limit = True
            case "ignore":
                reject_rate_limit = False
            case unknown:
                assert_never(unknown)
        view = VifTableView(self.vifs, self.kernel.interfaces, self.maxvifs, self.family.vif_err,
                            reject_rate_limit, allowed)
        try:
            iface = validate(view, req, order)
        except VifError as e:
            raise Errno(e.path) from None
        if req.register:
            iface = None
        self.vifs[req.index] = Vif(req.index, iface, req.flags, req.threshold, req.lcl_addr, req.register,
                                   static=sock is not self.router)
        self.vifs_changed()

    def opt_del_vif(self, sock: Socket, buf: bytes) -> None:
        index = struct.unpack_from("<H", buf)[0]  # vifi_t, mifi_t and vifctl all start with it
        match self.profile.del_vif_range:
            case "maxvifs":
                limit = self.maxvifs
            case "numvifs":
                limit = self.numvifs()
            case unknown:
                assert_never(unknown)
        if index >= limit:
            raise Errno(f"{self.family.vif_err}.del_range")
        if index >= self.numvifs() or self.vifs[index] is None:
            raise Errno(f"{self.family.vif_err}.del_absent")
        self.vifs[index] = None
        self.vifs_changed()

    def interface_removed(self, iface: Interface) -> None:
        """The device ``iface`` went away: its vifs go per the profile (reference_impl/ifremoval.py)."""
        remove_vifs(self, iface)

    # -- MRT_FLUSH (Linux) -------------------------------------------------------------------
    def opt_flush(self, sock: Socket, buf: bytes) -> None:
        """MRT_FLUSH / MRT6_FLUSH: ipmr.c / ip6mr.c mroute_clean_tables(mrt, flags); unknown bits ignored."""
        flags = struct.unpack_from("<i", buf)[0]
        self.flush(vifs=bool(flags & MRT_FLUSH_VIFS), static_vifs=bool(flags & MRT_FLUSH_VIFS_STATIC),
                   mfc=bool(flags & MRT_FLUSH_MFC), static_mfc=bool(flags & MRT_FLUSH_MFC_STATIC))

    def flush(self, *, vifs: bool, static_vifs: bool, mfc: bool, static_mfc: bool) -> None:
        """Delete the dynamic and/or static vifs and MFC entries; dynamic MFC also drops the pending
        entries with their queued packets ("static": added by a socket other than the router)."""
        if vifs or static_vifs:
            for i, v in enumerate(self.vifs):
                if v is not None and (static_vifs if v.static else vifs):
                    self.vifs[i] = None
            self.vifs_changed()
        if mfc or static_mfc:
            for entry in self.all_entries():
                if static_mfc if entry.static else mfc:
                    self.remove_entry(entry)
        if mfc:
            for pending in self.pending.values():
                if pending.timer is not None:
                    pending.timer.cancel()
            self.pending.clear()
            if self._tick_timer is not None:
                self._tick_timer.cancel()
                self._tick_timer = None

    # -- MFC -------------------------------------------------------------------------------
    def mfc_request(self, buf: bytes, adding: bool) -> MfcRequest:
        if self.family.version == 4:
            name = "mfcctl2" if adding and self.api_config & MRT_API_FLAGS_ALL else "mfcctl"
            a = self.decode(name, buf)
            return MfcRequest(a["mfcc_origin"], a["mfcc_mcastgrp"], a["mfcc_parent"], a["mfcc_ttls"],
                              a.get("mfcc_flags", [0] * 32), a.get("mfcc_rp", "0.0.0.0"))
        a = self.decode("mf6cctl", buf)
        ifset = a["mf6cc_ifset"]
        ttls = [1 if i in ifset else 0 for i in range(max(self.maxvifs, 32))]
        return MfcRequest(a["mf6cc_origin"], a["mf6cc_mcastgrp"], a["mf6cc_parent"], ttls, [0] * 32, "::")

    def kept(self, i: int) -> bool:
        """Whether MRT_ADD_MFC keeps the ttl of vif i (vifs added later are dropped)."""
        p = self.profile
        rule = p.mfc_ttls_kept_for if self.family.version == 4 else p.mfc6_ifset_kept_for
        match rule:
            case "existing":
                return self.vifs[i] is not None
            case "all":
                return True
            case "below-numvifs":
                return i < self.numvifs()
            case unknown:
                assert_never(unknown)

    def opt_add_mfc(self, sock: Socket, buf: bytes) -> None:
        self.add_mfc(sock, self.mfc_request(buf, adding=True), -1)

    def opt_add_mfc_proxy(self, sock: Socket, buf: bytes) -> None:
        """MRT_ADD_MFC_PROXY (Linux): like MRT_ADD_MFC, but an entry matches on (S,G) *and* parent."""
        req = self.mfc_request(buf, adding=True)
        self.add_mfc(sock, req, req.parent)

    def add_mfc(self, sock: Socket, req: MfcRequest, match_parent: int) -> None:
        """ipmr_mfc_add: update the entry of (S,G) [and parent] in place, or install a new one."""
        key = (req.source, req.group)
        if "mfc.parent_range" in self.profile.errnos and req.parent >= self.maxvifs:
            raise Errno("mfc.parent_range")
        entry = self.find_parent(key, match_parent)
        if ("mfc.bad_group" in self.profile.errnos and entry is None
                and not self.family.is_multicast(req.group) and not self.family.is_unspecified(req.group)):
            raise Errno("mfc.bad_group")
        ttls = bytes(req.ttls[i] if i < len(req.ttls) and self.kept(i) else 0 for i in range(self.maxvifs))
        mask = self.api_config & MRT_MFC_FLAGS_ALL
        flags = bytes(req.flags[i] & mask if i < len(req.flags) and self.kept(i) else 0
                      for i in range(self.maxvifs)) if mask and any(req.flags) else NO_FLAGS
        rp = req.rp if self.api_config & MRT_MFC_RP else "0.0.0.0"
        if entry is not None:
            entry.parent, entry.ttls, entry.flags, entry.rp = req.parent, ttls, flags, rp
            entry.static |= sock is not self.router  # Linux: `if (!mrtsock) c->mfc_flags |= MFC_STATIC`
            return
        entry = MfcEntry(req.source, req.group, req.parent, ttls, flags, rp, static=sock is not self.router)
        self.insert_entry(entry)
        pending = self.pending.pop(key, None)
        if pending is not None:
            if pending.timer is not None:
                pending.timer.cancel()
            self.release(pending, entry)

    def opt_del_mfc(self, sock: Socket, buf: bytes) -> None:
        req = self.mfc_request(buf, adding=False)
        key = (req.source, req.group)
        if self.find_parent(key, -1) is None and self.family.version == 4 and self.profile.mfc4_delete_pending:
            pending = self.pending.pop(key, None)
            if pending is not None:  # MODERN expire_mfc: the pending entry goes, its queued packets with it
                if pending.timer is not None:
                    pending.timer.cancel()
                return
        self.del_mfc(req, -1)

    def opt_del_mfc_proxy(self, sock: Socket, buf: bytes) -> None:
        """MRT_DEL_MFC_PROXY (Linux): delete the entry of (S,G) with exactly this parent."""
        req = self.mfc_request(buf, adding=False)
        self.del_mfc(req, req.parent)

    def del_mfc(self, req: MfcRequest, match_parent: int) -> None:
        entry = self.find_parent((req.source, req.group), match_parent)
        if entry is None:
            raise Errno(f"{self.family.mfc_err}.del_absent")
        self.remove_entry(entry)

    def remove_entry(self, entry: MfcEntry) -> None:
        self.unlink_entry(entry)
        self.meters.drop_entry(entry)

    # -- assert / PIM ----------------------------------------------------------------------
    def opt_assert(self, sock: Socket, buf: bytes) -> None:
        value = struct.unpack_from("<i", buf)[0]
        match self.profile.assert_value:
            case "bool":
                self.assert_on = bool(value)
            case "0-1" | "0-1-strict" as policy:
                if value in (0, 1):
                    self.assert_on = bool(value)
                elif policy == "0-1-strict":
                    raise Errno("assert.bad_value")
            case unknown:
                assert_never(unknown)

    def opt_pim(self, sock: Socket, buf: bytes) -> None:
        value = struct.unpack_from("<i", buf)[0]
        if self.family.version == 6 and "mif6.pim_bad_value" in self.profile.errnos and value not in (0, 1):
            raise Errno("mif6.pim_bad_value")
        on = bool(value)
        if on != self.pim:
            self.pim = on
            self.wrvifwhole = bool(self.profile.pim_whole_value) and value == self.profile.pim_whole_value
            if self.profile.pim_sets_assert:
                self.assert_on = on

    # -- bandwidth meters ------------------------------------------------------------------
    def opt_add_bw(self, sock: Socket, buf: bytes) -> None:
        self.meters.add(buf)

    def opt_del_bw(self, sock: Socket, buf: bytes) -> None:
        self.meters.delete(buf)

    # -- getters ---------------------------------------------------------------------------
    def opt_api_config(self, sock: Socket, buf: bytes) -> bytes:
        return api.set_config(self, buf)

    def get(self, role: Role) -> bytes:
        if role == "version":
            return struct.pack("<i", self.profile.mrt_version)
        if role == "assert":
            return struct.pack("<i", int(self.assert_on))
        if role == "pim":
            return struct.pack("<i", int(self.pim))
        if role == "api_support" and self.profile.api_support is not None:
            return struct.pack("<I", self.profile.api_support)
        if role == "api_config" and self.profile.api_support is not None:
            return struct.pack("<I", self.api_config)
        raise Errno(self.family.get_unsupported)

    # -- counters --------------------------------------------------------------------------
    def sg_count(self, arg: bytes) -> bytes:
        sdef = self.profile.struct(self.family.sg_struct)
        a = sdef.unpack(arg)
        entry = self.mfc.get((a["src"], a["grp"]))
        if entry is None:
            raise Errno(self.family.sg_absent)
        counts = sdef.pack(src=a["src"], grp=a["grp"], pktcnt=entry.pktcnt, bytecnt=entry.bytecnt,
                           wrong_if=entry.wrong_if)
        # the kernels copy the whole request back with only the counters changed, so the caller's
        # sockaddr_in6 fields (port, flowinfo, scope id) come back as given (ip6mr_ioctl)
        out = bytearray(arg[: sdef.size].ljust(sdef.size, b"\0"))
        for name in ("pktcnt", "bytecnt", "wrong_if"):
            f = sdef.field(name)
            out[f.offset : f.offset + f.size] = counts[f.offset : f.offset + f.size]
        return bytes(out)

    def vif_count(self, arg: bytes) -> bytes:
        sdef = self.profile.struct(self.family.vif_struct)
        key = "vifi" if self.family.version == 4 else "mifi"
        index = sdef.unpack(arg)[key]
        if index >= self.numvifs():
            raise Errno(self.family.vif_range)
        vif = self.vifs[index]
        if vif is None:
            match self.profile.vif_hole_counters:
                case "zeros":
                    return sdef.pack(**{key: index})
                case "errno":
                    raise Errno("counters.vif_hole")
                case unknown:
                    assert_never(unknown)
        return sdef.pack(**{key: index}, icount=vif.icount, ocount=vif.ocount, ibytes=vif.ibytes,
                         obytes=vif.obytes)
