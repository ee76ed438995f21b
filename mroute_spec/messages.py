"""What a routing socket reads, decoded once for every reader.

A read is an upcall or an ordinary IGMP / ICMPv6 message. An IPv4 upcall is a ``struct igmpmsg``
overlaid on an IP header whose protocol byte (9, ``im_mbz``) is 0; an IPv6 one a ``struct
mrt6msg`` whose first byte (``im6_mbz``) is 0 (docs/spec/api.md §3). Its fields come from the
ABI's struct (mroute_spec.abi), and so does the meaning of its type: 4 is BW_UPCALL on the BSDs
and WRVIFWHOLE / WRMIFWHOLE on Linux. The harness, the fixture writer and replay, the pcap masks,
the differential comparer and the scapy layers decode through here; the model's encoder
(reference_impl/upcalls.py) writes the same layouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mroute_spec.abi import ABIS, StructDef
from mroute_spec.constants import IgmpMsgType, Mrt6MsgType

# the struct an upcall of each IP version is
UPCALL_STRUCT = {4: "igmpmsg", 6: "mrt6msg"}

# IgmpMsgType's type 4 is BW_UPCALL (its first name); Linux names it WRVIFWHOLE, and only Linux has
# MRT6MSG_WRMIFWHOLE
_IGMPMSG = {t.value: t.name.removeprefix("IGMPMSG_") for t in IgmpMsgType}
_MRT6MSG = {t.value: t.name.removeprefix("MRT6MSG_") for t in Mrt6MsgType}
_BSD_NAMES = {4: _IGMPMSG, 6: {t: n for t, n in _MRT6MSG.items() if t != Mrt6MsgType.MRT6MSG_WRMIFWHOLE}}
_LINUX_NAMES = {4: {**_IGMPMSG, IgmpMsgType.IGMPMSG_WRVIFWHOLE.value: "WRVIFWHOLE"}, 6: _MRT6MSG}
# ABI -> IP version -> message type -> name
MESSAGE_NAMES: dict[str, dict[int, dict[int, str]]] = {
    "bsd-amd64": _BSD_NAMES,
    "netbsd-amd64": _BSD_NAMES,
    "linux-amd64": _LINUX_NAMES,
}
# the kinds whose header is followed by the packet itself
WHOLE_PACKET_KINDS = frozenset({"WHOLEPKT", "WRVIFWHOLE", "WRMIFWHOLE"})
# the kinds every byte of which the kernel writes: the packet, or BW_UPCALL's zeroed header and records
FULLY_DEFINED_KINDS = WHOLE_PACKET_KINDS | {"BW_UPCALL"}


def types_of(abi_name: str, version: int, kinds: frozenset[str]) -> list[int]:
    """The message types that have one of ``kinds`` as their name in the ABI, ascending."""
    return sorted(t for t, n in MESSAGE_NAMES[abi_name][version].items() if n in kinds)


def is_upcall(version: int, data: bytes) -> bool:
    """IPv4: at least a header and ``im_mbz`` (the ip_p byte) zero; IPv6: ``im6_mbz`` (byte 0) zero."""
    if version == 4:
        return len(data) >= 20 and data[9] == 0
    return len(data) >= 40 and data[0] == 0


def trailer_offsets(data: bytes, relative: tuple[int, ...]) -> list[int]:
    """Offsets in an IPv4 NOCACHE / WRONGVIF upcall of trailer bytes ``relative``, counted from the
    end of the header copy (the copy's IHL: options move the trailer), inside ``data``."""
    hlen = (data[0] & 0x0F) * 4
    return [hlen + o for o in relative if hlen + o < len(data)]


def upcall_struct(version: int, abi_name: str) -> StructDef:
    """``struct igmpmsg`` or ``struct mrt6msg`` of the ABI."""
    return ABIS[abi_name][UPCALL_STRUCT[version]]


def msgtype_of(version: int, data: bytes) -> int:
    """``im_msgtype`` (byte 8) / ``im6_msgtype`` (byte 1) of an upcall."""
    return data[8] if version == 4 else data[1]


def kind_of(version: int, msgtype: int, abi_name: str) -> str:
    """The message type's name in the ABI (NOCACHE, WRONGVIF, ...; ``type<N>`` when it has none)."""
    return MESSAGE_NAMES[abi_name][version].get(msgtype, f"type{msgtype}")


def datagram_kind(version: int, data: bytes, abi_name: str) -> str:
    """An upcall's kind, or ``IGMP`` / ``ICMPv6`` for an ordinary message."""
    if not is_upcall(version, data):
        return "IGMP" if version == 4 else "ICMPv6"
    return kind_of(version, msgtype_of(version, data), abi_name)


@dataclass(frozen=True)
class UpcallMessage:
    """One upcall: the fields every consumer reads, the struct's fields and the raw bytes."""

    version: int
    msgtype: int
    kind: str
    vif: int
    src: str
    dst: str
    raw: bytes
    body: bytes  # the packet (WHOLEPKT, WRVIFWHOLE / WRMIFWHOLE) or the records (BW_UPCALL)
    fields: dict[str, Any]
    records: tuple[dict[str, Any], ...] = ()  # BW_UPCALL: the decoded 80-byte bw_upcall records

    @property
    def carries_packet(self) -> bool:
        return self.kind in WHOLE_PACKET_KINDS


def decode_upcall(version: int, data: bytes, abi_name: str) -> UpcallMessage:
    """Decode an upcall (``is_upcall`` true) by the ABI's struct; the vif is ``im_vif`` and, on
    Linux, ``im_vif_hi << 8``."""
    sdef = upcall_struct(version, abi_name)
    f = sdef.unpack(data)
    msgtype = msgtype_of(version, data)
    kind = kind_of(version, msgtype, abi_name)
    if version == 4:
        vif, src, dst = f["im_vif"] | (f.get("im_vif_hi", 0) << 8), f["im_src"], f["im_dst"]
    else:
        vif, src, dst = f["im6_mif"], f["im6_src"], f["im6_dst"]
    body = data[sdef.size :] if kind in WHOLE_PACKET_KINDS or kind == "BW_UPCALL" else b""
    records: tuple[dict[str, Any], ...] = ()
    if kind == "BW_UPCALL" and "bw_upcall" in ABIS[abi_name]:
        rec = ABIS[abi_name]["bw_upcall"]
        records = tuple(rec.unpack(body[i : i + rec.size]) for i in range(0, len(body) - rec.size + 1, rec.size))
    return UpcallMessage(version, msgtype, kind, vif, src, dst, bytes(data), body, f, records)
