"""Struct layouts of the multicast routing API, defined once as data.

Each ABI (``bsd-amd64``, ``netbsd-amd64``, ``linux-amd64``) maps a struct name to a ``StructDef``: its exact size
and the offset and kind of every field. The same definition packs arguments for a target and
decodes what comes back, so the model, the harness and the fixtures cannot disagree on a byte.
Sizes and offsets are those of docs/spec/freebsd.md §2 and docs/spec/linux.md §2, checked
against a C compiler by tests/test_abi.py.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

# field kind -> (size in bytes)
_SIZES = {
    "u8": 1,
    "u16": 2,
    "u32": 4,
    "u64": 8,
    "i64": 8,
    "ip4": 4,
    "ip6": 16,
    "u8x32": 32,
    "ifset": 32,
    "timeval": 16,
    "sin6_bsd": 28,
    "sin6_linux": 28,
}
_INTS = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q", "i64": "<q"}
AF_INET6_BSD = 28
AF_INET6_LINUX = 10


@dataclass(frozen=True)
class Field:
    """One field: its name, byte offset and kind (see ``_SIZES``)."""

    name: str
    offset: int
    kind: str

    @property
    def size(self) -> int:
        return _SIZES[self.kind]


@dataclass(frozen=True)
class StructDef:
    """A C struct: exact size, fields at exact offsets; padding bytes are zero when packed."""

    name: str
    size: int
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")

    def pack(self, **values: Any) -> bytes:
        """Encode ``values`` (missing fields are zero) into exactly ``size`` bytes."""
        unknown = set(values) - {f.name for f in self.fields}
        if unknown:
            raise KeyError(f"{self.name} has no field(s) {sorted(unknown)}")
        buf = bytearray(self.size)
        for f in self.fields:
            if f.name in values:
                buf[f.offset : f.offset + f.size] = encode_kind(f.kind, values[f.name])
        return bytes(buf)

    def unpack(self, data: bytes) -> dict[str, Any]:
        """Decode every field that lies wholly inside ``data`` (a short buffer yields fewer)."""
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.offset + f.size <= len(data):
                out[f.name] = decode_kind(f.kind, data[f.offset : f.offset + f.size])
        return out


def _address(value: Any) -> str | int | bytes:
    return cast("str | int | bytes", value)


def encode_kind(kind: str, value: Any) -> bytes:
    """The bytes of one field of ``kind`` holding ``value`` (the form ``decode_kind`` returns)."""
    if kind in _INTS:
        return struct.pack(_INTS[kind], int(value))
    if kind == "ip4":
        return ipaddress.IPv4Address(_address(value)).packed
    if kind == "ip6":
        return ipaddress.IPv6Address(_address(value)).packed
    if kind == "u8x32":
        seq = list(cast("Iterable[int]", value))
        if len(seq) > 32:
            raise ValueError(f"an array of 32 bytes cannot hold {len(seq)} values")
        return bytes(seq + [0] * (32 - len(seq)))
    if kind == "ifset":
        words = [0] * 8
        for i in cast("Iterable[int]", value):
            words[i // 32] |= 1 << (i % 32)
        return struct.pack("<8I", *words)
    if kind == "timeval":
        sec, usec = value
        return struct.pack("<qq", sec, usec)
    if kind == "sin6_bsd":
        return struct.pack("<BBHI", 28, AF_INET6_BSD, 0, 0) + ipaddress.IPv6Address(_address(value)).packed + bytes(4)
    if kind == "sin6_linux":
        return struct.pack("<HHI", AF_INET6_LINUX, 0, 0) + ipaddress.IPv6Address(_address(value)).packed + bytes(4)
    raise ValueError(kind)


def decode_kind(kind: str, raw: bytes) -> Any:
    """The value of one field of ``kind`` stored in ``raw`` (exactly its size)."""
    if kind in _INTS:
        return struct.unpack(_INTS[kind], raw)[0]
    if kind == "ip4":
        return str(ipaddress.IPv4Address(raw))
    if kind == "ip6":
        return str(ipaddress.IPv6Address(raw))
    if kind == "u8x32":
        return list(raw)
    if kind == "ifset":
        words = struct.unpack("<8I", raw)
        return {w * 32 + b for w in range(8) for b in range(32) if words[w] >> b & 1}
    if kind == "timeval":
        return struct.unpack("<qq", raw)
    if kind in ("sin6_bsd", "sin6_linux"):
        return str(ipaddress.IPv6Address(raw[8:24]))
    raise ValueError(kind)


def _s(name: str, size: int, *fields: tuple[str, int, str]) -> StructDef:
    return StructDef(name, size, tuple(Field(*f) for f in fields))


_COMMON = {
    "int": _s("int", 4, ("value", 0, "u32")),
    "uint32": _s("uint32", 4, ("value", 0, "u32")),
    "vifi": _s("vifi", 2, ("vifi", 0, "u16")),
    "mifi": _s("mifi", 2, ("mifi", 0, "u16")),
    "vifctl": _s(
        "vifctl", 16,
        ("vifc_vifi", 0, "u16"), ("vifc_flags", 2, "u8"), ("vifc_threshold", 3, "u8"),
        ("vifc_rate_limit", 4, "u32"), ("vifc_lcl_addr", 8, "ip4"), ("vifc_rmt_addr", 12, "ip4"),
    ),
    "sioc_sg_req": _s(
        "sioc_sg_req", 32,
        ("src", 0, "ip4"), ("grp", 4, "ip4"), ("pktcnt", 8, "u64"), ("bytecnt", 16, "u64"),
        ("wrong_if", 24, "u64"),
    ),
    "sioc_vif_req": _s(
        "sioc_vif_req", 40,
        ("vifi", 0, "u16"), ("icount", 8, "u64"), ("ocount", 16, "u64"), ("ibytes", 24, "u64"),
        ("obytes", 32, "u64"),
    ),
    "sioc_mif_req6": _s(
        "sioc_mif_req6", 40,
        ("mifi", 0, "u16"), ("icount", 8, "u64"), ("ocount", 16, "u64"), ("ibytes", 24, "u64"),
        ("obytes", 32, "u64"),
    ),
    "igmpmsg": _s(
        "igmpmsg", 20,
        ("unused1", 0, "u32"), ("unused2", 4, "u32"), ("im_msgtype", 8, "u8"), ("im_mbz", 9, "u8"),
        ("im_vif", 10, "u8"), ("unused3", 11, "u8"), ("im_src", 12, "ip4"), ("im_dst", 16, "ip4"),
    ),
    "mrt6msg": _s(
        "mrt6msg", 40,
        ("im6_mbz", 0, "u8"), ("im6_msgtype", 1, "u8"), ("im6_mif", 2, "u16"), ("im6_pad", 4, "u32"),
        ("im6_src", 8, "ip6"), ("im6_dst", 24, "ip6"),
    ),
    "bw_data": _s("bw_data", 32, ("b_time", 0, "timeval"), ("b_packets", 16, "u64"), ("b_bytes", 24, "u64")),
    "bw_upcall": _s(
        "bw_upcall", 80,
        ("bu_src", 0, "ip4"), ("bu_dst", 4, "ip4"), ("bu_flags", 8, "u32"),
        ("bu_threshold_time", 16, "timeval"), ("bu_threshold_packets", 32, "u64"),
        ("bu_threshold_bytes", 40, "u64"),
        ("bu_measured_time", 48, "timeval"), ("bu_measured_packets", 64, "u64"),
        ("bu_measured_bytes", 72, "u64"),
    ),
    "icmp6_filter": _s("icmp6_filter", 32, ("bits", 0, "ifset")),
    # group membership requests (IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP), laid out alike everywhere
    "ip_mreq": _s("ip_mreq", 8, ("imr_multiaddr", 0, "ip4"), ("imr_interface", 4, "ip4")),
    "ipv6_mreq": _s("ipv6_mreq", 20, ("ipv6mr_multiaddr", 0, "ip6"), ("ipv6mr_interface", 16, "u32")),
}

BSD_AMD64: dict[str, StructDef] = {
    **_COMMON,
    "mfcctl": _s(
        "mfcctl", 44,
        ("mfcc_origin", 0, "ip4"), ("mfcc_mcastgrp", 4, "ip4"), ("mfcc_parent", 8, "u16"),
        ("mfcc_ttls", 10, "u8x32"),
    ),
    "mfcctl2": _s(
        "mfcctl2", 80,
        ("mfcc_origin", 0, "ip4"), ("mfcc_mcastgrp", 4, "ip4"), ("mfcc_parent", 8, "u16"),
        ("mfcc_ttls", 10, "u8x32"), ("mfcc_flags", 42, "u8x32"), ("mfcc_rp", 76, "ip4"),
    ),
    "mif6ctl": _s("mif6ctl", 6, ("mif6c_mifi", 0, "u16"), ("mif6c_flags", 2, "u8"), ("mif6c_pifi", 4, "u16")),
    "mf6cctl": _s(
        "mf6cctl", 92,
        ("mf6cc_origin", 0, "sin6_bsd"), ("mf6cc_mcastgrp", 28, "sin6_bsd"), ("mf6cc_parent", 56, "u16"),
        ("mf6cc_ifset", 60, "ifset"),
    ),
    "sioc_sg_req6": _s(
        "sioc_sg_req6", 80,
        ("src", 0, "sin6_bsd"), ("grp", 28, "sin6_bsd"), ("pktcnt", 56, "u64"), ("bytecnt", 64, "u64"),
        ("wrong_if", 72, "u64"),
    ),
}

LINUX_AMD64: dict[str, StructDef] = {
    **_COMMON,
    "mfcctl": _s(
        "mfcctl", 60,
        ("mfcc_origin", 0, "ip4"), ("mfcc_mcastgrp", 4, "ip4"), ("mfcc_parent", 8, "u16"),
        ("mfcc_ttls", 10, "u8x32"), ("mfcc_pkt_cnt", 44, "u32"), ("mfcc_byte_cnt", 48, "u32"),
        ("mfcc_wrong_if", 52, "u32"), ("mfcc_expire", 56, "u32"),
    ),
    "igmpmsg": _s(
        "igmpmsg", 20,
        ("unused1", 0, "u32"), ("unused2", 4, "u32"), ("im_msgtype", 8, "u8"), ("im_mbz", 9, "u8"),
        ("im_vif", 10, "u8"), ("im_vif_hi", 11, "u8"), ("im_src", 12, "ip4"), ("im_dst", 16, "ip4"),
    ),
    "mif6ctl": _s(
        "mif6ctl", 12,
        ("mif6c_mifi", 0, "u16"), ("mif6c_flags", 2, "u8"), ("vifc_threshold", 3, "u8"),
        ("mif6c_pifi", 4, "u16"), ("vifc_rate_limit", 8, "u32"),
    ),
    "mf6cctl": _s(
        "mf6cctl", 92,
        ("mf6cc_origin", 0, "sin6_linux"), ("mf6cc_mcastgrp", 28, "sin6_linux"),
        ("mf6cc_parent", 56, "u16"), ("mf6cc_ifset", 60, "ifset"),
    ),
    "sioc_sg_req6": _s(
        "sioc_sg_req6", 80,
        ("src", 0, "sin6_linux"), ("grp", 28, "sin6_linux"), ("pktcnt", 56, "u64"), ("bytecnt", 64, "u64"),
        ("wrong_if", 72, "u64"),
    ),
}

# NetBSD amd64 lays every struct out as FreeBSD does (the same KAME/BSD headers, u_long and
# u_quad_t both 8 bytes: docs/spec/netbsd.md §2); only its counter ioctl numbers differ (IOCTLS).
ABIS: dict[str, dict[str, StructDef]] = {"bsd-amd64": BSD_AMD64, "netbsd-amd64": BSD_AMD64,
                                         "linux-amd64": LINUX_AMD64}


def bsd_iowr(group: str, num: int, size: int) -> int:
    """FreeBSD's and NetBSD's ``_IOWR(group, num, size)`` (sys/ioccom.h: the same encoding)."""
    return 0xC0000000 | ((size & 0x1FFF) << 16) | (ord(group) << 8) | num


# The counter ioctls: request numbers per ABI (FreeBSD _IOWR encodes the argument size; Linux
# numbers them from SIOCPROTOPRIVATE, IPv4 and IPv6 sharing the numbers).
IOCTLS: dict[str, dict[str, int]] = {
    "bsd-amd64": {
        "SIOCGETVIFCNT": bsd_iowr("r", 15, BSD_AMD64["sioc_vif_req"].size),
        "SIOCGETSGCNT": bsd_iowr("r", 16, BSD_AMD64["sioc_sg_req"].size),
        "SIOCGETSGCNT_IN6": bsd_iowr("u", 106, BSD_AMD64["sioc_sg_req6"].size),
        "SIOCGETMIFCNT_IN6": bsd_iowr("u", 107, BSD_AMD64["sioc_mif_req6"].size),
    },
    # NetBSD sys/sockio.h: _IOWR('u', 51/52, ...) where FreeBSD has ('r', 15/16); the IPv6 pair
    # (netinet6/in6_var.h) is FreeBSD's ('u', 106/107)
    "netbsd-amd64": {
        "SIOCGETVIFCNT": bsd_iowr("u", 51, BSD_AMD64["sioc_vif_req"].size),
        "SIOCGETSGCNT": bsd_iowr("u", 52, BSD_AMD64["sioc_sg_req"].size),
        "SIOCGETSGCNT_IN6": bsd_iowr("u", 106, BSD_AMD64["sioc_sg_req6"].size),
        "SIOCGETMIFCNT_IN6": bsd_iowr("u", 107, BSD_AMD64["sioc_mif_req6"].size),
    },
    "linux-amd64": {
        "SIOCGETVIFCNT": 0x89E0, "SIOCGETSGCNT": 0x89E1, "SIOCGETMIFCNT_IN6": 0x89E0, "SIOCGETSGCNT_IN6": 0x89E1,
    },
}
# the struct each counter ioctl takes and returns
IOCTL_ARGS: dict[str, str] = {
    "SIOCGETSGCNT": "sioc_sg_req", "SIOCGETVIFCNT": "sioc_vif_req",
    "SIOCGETSGCNT_IN6": "sioc_sg_req6", "SIOCGETMIFCNT_IN6": "sioc_mif_req6",
}
