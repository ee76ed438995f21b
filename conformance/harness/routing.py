"""A routing socket spoken to in intent (add a vif, install an MFC), encoded by the profile ABI.

The same method runs against every target: option numbers, struct layouts and which struct an
option takes all come from the profile, never from the test.
"""

from __future__ import annotations

import struct
from typing import Any, Protocol

from conformance.harness.upcalls import Upcall, decode_upcall, is_upcall
from conformance.targets.base import Port, SocketHandle, Target
from mroute_spec.constants import MIFF_REGISTER, VIFF_REGISTER
from mroute_spec.options import BY_NAME
from reference_impl.family import FAMILIES, Family
from reference_impl.profiles import Profile


class HarnessView(Protocol):
    """What a routing socket needs of the harness (``core.Harness`` is one)."""

    target: Target
    profile: Profile
    api_negotiated: bool  # set by api_config(): later MFC entries use mfcctl2

    def port(self, index: int) -> Port: ...



class RoutingSocket:
    """A raw IGMP (IPv4) or ICMPv6 (IPv6) socket and the multicast routing API on it."""

    def __init__(self, h: HarnessView, sock: SocketHandle) -> None:
        self.h = h
        self.sock = sock
        self.family: Family = FAMILIES[sock.family]
        self.version = self.family.version
        self.others: list[bytes] = []  # non-upcall reads (IGMP, MLD)
        self._upcalls: list[Upcall] = []

    @property
    def profile(self) -> Profile:
        return self.h.profile

    # -- raw option access -----------------------------------------------------------------
    def number(self, role: str) -> int:
        name = self.family.opt(role)
        table = self.profile.options4 if self.version == 4 else self.profile.options6
        if name not in table:
            raise LookupError(f"profile {self.profile.name} has no option {name}")
        return table[name]

    def set_raw(self, role: str, value: bytes) -> bytes:
        """setsockopt of ``role``'s option; the buffer after the call (as long as the one passed)."""
        out = self.h.target.setsockopt(self.sock, self.family.level, self.number(role), value)
        if not isinstance(out, bytes | bytearray) or len(out) != len(value):
            raise AssertionError(f"setsockopt({role}) gave back {out!r} for a {len(value)}-byte buffer "
                                 "(the Target contract: the option buffer after the call, same length)")
        return bytes(out)

    def set_struct(self, role: str, struct_name: str, **fields: object) -> bytes:
        return self.set_raw(role, self.profile.struct(struct_name).pack(**fields))

    def set_int(self, role: str, value: int) -> bytes:
        return self.set_raw(role, struct.pack("<i", value))

    def get_int(self, role: str, size: int = 4) -> int:
        raw = self.h.target.getsockopt(self.sock, self.family.level, self.number(role), size)
        return int.from_bytes(raw, "little", signed=role not in ("api_support", "api_config"))

    # -- lifecycle -------------------------------------------------------------------------
    def init(self, value: int = 1) -> None:
        self.set_int("init", value)

    def done(self) -> None:
        self.set_raw("done", b"")

    def close(self) -> None:
        self.h.target.close(self.sock)

    def join(self, group: str, port: int) -> None:
        """Join ``group`` on port ``port``'s interface (IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP), as a
        routing daemon joins the IGMPv3 and MLDv2 report groups on its routing socket."""
        p = self.h.port(port)
        if self.version == 4:
            name, arg = "IP_ADD_MEMBERSHIP", self.profile.struct("ip_mreq").pack(imr_multiaddr=group,
                                                                               imr_interface=p.ipv4)
        else:
            name, arg = "IPV6_JOIN_GROUP", self.profile.struct("ipv6_mreq").pack(ipv6mr_multiaddr=group,
                                                                                ipv6mr_interface=p.ifindex)
        self.h.target.setsockopt(self.sock, *self.profile.sockopt(name), arg)

    def block_icmp6(self) -> None:
        """ICMP6_FILTER blocking every ICMPv6 type (the bit meaning is per profile)."""
        fill = b"\xff" if self.profile.icmp6_filter_set_bit_blocks else b"\x00"
        self.h.target.setsockopt(self.sock, *self.profile.sockopt("ICMP6_FILTER"), fill * 32)

    def set_assert(self, on: bool | int = True) -> None:
        self.set_int("assert", int(on))

    def set_pim(self, on: bool | int = True) -> None:
        self.set_int("pim", int(on))

    # -- vifs / mifs -----------------------------------------------------------------------
    def vif_args(self, index: int, port: int | None = None, *, threshold: int = 1, flags: int = 0,
                 rate_limit: int = 0, lcl_addr: str | None = None, pifi: int | None = None,
                 register: bool = False) -> bytes:
        """The add-vif argument: port N's address (IPv4) or ifindex (IPv6) unless overridden."""
        p = self.h.port(port if port is not None else index)
        if self.version == 4:
            if register:
                flags |= VIFF_REGISTER
            return self.profile.struct("vifctl").pack(
                vifc_vifi=index, vifc_flags=flags, vifc_threshold=threshold, vifc_rate_limit=rate_limit,
                vifc_lcl_addr=lcl_addr if lcl_addr is not None else p.ipv4)
        if register:
            flags |= MIFF_REGISTER
        return self.profile.struct("mif6ctl").pack(
            mif6c_mifi=index, mif6c_flags=flags, mif6c_pifi=pifi if pifi is not None else p.ifindex)

    def add_vif(self, index: int, port: int | None = None, **kw: Any) -> None:
        self.set_raw("add_vif", self.vif_args(index, port, **kw))

    def add_vifs(self, *indices: int) -> None:
        """vif i on port i for each index: the usual arrangement."""
        for i in indices:
            self.add_vif(i)

    def del_vif(self, index: int) -> None:
        spec = BY_NAME[self.family.opt("del_vif")]
        payload = spec.payload_for(self.profile.abi_name)  # vifctl (Linux), else vifi / mifi: one field, same name
        field = "vifc_vifi" if payload == "vifctl" else str(payload)
        self.set_raw("del_vif", spec.encode(self.profile.abi_name, **{field: index}))

    # -- MFC -------------------------------------------------------------------------------
    def mfc_args(self, src: str, grp: str, parent: int = 0, ttls: dict[int, int] | None = None,
                 flags: dict[int, int] | None = None, rp: str | None = None, v2: bool | None = None) -> bytes:
        """MRT_ADD_MFC's argument: ttls for IPv4 (mfcctl or mfcctl2), an ifset for IPv6."""
        ttls = ttls or {}
        if self.version == 6:
            return self.profile.struct("mf6cctl").pack(
                mf6cc_origin=src, mf6cc_mcastgrp=grp, mf6cc_parent=parent,
                mf6cc_ifset={i for i, t in ttls.items() if t})
        ttl_list = [ttls.get(i, 0) for i in range(32)]
        use_v2 = v2 if v2 is not None else (flags is not None or rp is not None or self.h.api_negotiated)
        if use_v2:
            flag_list = [(flags or {}).get(i, 0) for i in range(32)]
            return self.profile.struct("mfcctl2").pack(
                mfcc_origin=src, mfcc_mcastgrp=grp, mfcc_parent=parent, mfcc_ttls=ttl_list,
                mfcc_flags=flag_list, mfcc_rp=rp or "0.0.0.0")
        return self.profile.struct("mfcctl").pack(
            mfcc_origin=src, mfcc_mcastgrp=grp, mfcc_parent=parent, mfcc_ttls=ttl_list)

    def add_mfc(self, src: str, grp: str, parent: int = 0, ttls: dict[int, int] | None = None, **kw: Any) -> None:
        self.set_raw("add_mfc", self.mfc_args(src, grp, parent, ttls, **kw))

    def del_mfc(self, src: str, grp: str) -> None:
        if self.version == 6:
            self.set_raw("del_mfc", self.profile.struct("mf6cctl").pack(mf6cc_origin=src, mf6cc_mcastgrp=grp))
        else:
            self.set_raw("del_mfc", self.profile.struct("mfcctl").pack(mfcc_origin=src, mfcc_mcastgrp=grp))

    # -- advanced API ----------------------------------------------------------------------
    def api_config(self, bits: int) -> int:
        """MRT_API_CONFIG: request ``bits``; returns the subset the target wrote back."""
        out = self.set_raw("api_config", struct.pack("<I", bits))
        accepted = struct.unpack_from("<I", out)[0]
        self.h.api_negotiated = bool(accepted & 0x303)
        return accepted

    def bw_args(self, src: str, grp: str, flags: int, time: tuple[int, int] = (3, 0), packets: int = 0,
                bytes_: int = 0) -> bytes:
        return self.profile.struct("bw_upcall").pack(
            bu_src=src, bu_dst=grp, bu_flags=flags, bu_threshold_time=time,
            bu_threshold_packets=packets, bu_threshold_bytes=bytes_)

    def add_bw(self, src: str, grp: str, flags: int, **kw: Any) -> None:
        """MRT_ADD_BW_UPCALL for (src, grp) with a threshold of ``time``/``packets``/``bytes_``."""
        self.set_raw("add_bw", self.bw_args(src, grp, flags, **kw))

    def del_bw(self, src: str, grp: str, flags: int, **kw: Any) -> None:
        self.set_raw("del_bw", self.bw_args(src, grp, flags, **kw))

    # -- counters --------------------------------------------------------------------------
    def sg_count(self, src: str, grp: str) -> dict:
        sdef = self.profile.struct(self.family.sg_struct)
        request = self.profile.ioctls[self.family.opt("sg_count")]
        out = self.h.target.ioctl(self.sock, request, sdef.pack(src=src, grp=grp))
        return sdef.unpack(same_size(out, sdef.size, "SIOCGETSGCNT"))

    def vif_count(self, index: int) -> dict:
        sdef = self.profile.struct(self.family.vif_struct)
        key = "vifi" if self.version == 4 else "mifi"
        request = self.profile.ioctls[self.family.opt("vif_count")]
        out = self.h.target.ioctl(self.sock, request, sdef.pack(**{key: index}))
        return sdef.unpack(same_size(out, sdef.size, "SIOCGETVIFCNT"))

    # -- reading ---------------------------------------------------------------------------
    def read(self) -> None:
        for data in self.h.target.recv_all(self.sock):
            if is_upcall(self.version, data):
                self._upcalls.append(decode_upcall(self.version, data, self.profile))
            else:
                self.others.append(data)

    def upcalls(self, kind: str | None = None) -> list[Upcall]:
        """Upcalls read since the last call (optionally only those of one kind)."""
        self.read()
        got, self._upcalls = self._upcalls, []
        return [u for u in got if kind is None or u.kind == kind]


def same_size(out: bytes, size: int, name: str) -> bytes:
    """A counter ioctl fills the caller's struct in place (copy_to_user / the ioctl's copyout of
    sizeof the struct): the buffer comes back exactly as long as it went in."""
    if len(out) != size:
        raise AssertionError(f"{name}: the {size}-byte request came back as {len(out)} bytes")
    return out
