"""Upcall messages read from the routing socket: ``struct igmpmsg`` (IPv4) and ``struct mrt6msg`` (IPv6).

The layers are generated from each ABI's struct definition; only enums, flags and payload dispatch
are added here (docs/spec/freebsd.md §1.5, §4.7; docs/spec/linux.md §4.5, §4.8).
"""

from __future__ import annotations

from typing import Any

from scapy.fields import ByteEnumField, FlagsField, PacketListField, XLEIntField
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet, Raw, bind_bottom_up, bind_layers

from mroute_spec.abi import ABIS, BSD_AMD64, LINUX_AMD64
from mroute_spec.constants import BwFlag
from mroute_spec.messages import MESSAGE_NAMES, WHOLE_PACKET_KINDS, is_upcall, types_of

from .fromabi import StructPacket, struct_fields

# type names from the one codec (mroute_spec.messages): type 4 is BW_UPCALL on BSD, WRVIFWHOLE on Linux
IGMPMSG_TYPES_BSD = MESSAGE_NAMES["bsd-amd64"][4]
IGMPMSG_TYPES_LINUX = MESSAGE_NAMES["linux-amd64"][4]
MRT6MSG_TYPES = MESSAGE_NAMES["linux-amd64"][6]  # 4: Linux only
BW_UPCALL_FLAGS = [f.name.removeprefix("BW_UPCALL_") for f in BwFlag if f.name is not None]
BW_UPCALL_SIZE = BSD_AMD64["bw_upcall"].size


def _igmpmsg_overrides(types: dict[int, str]) -> dict[str, Any]:
    # unused1/unused2 are the original IP header's first 8 bytes (or garbage): shown in hex
    return {
        "unused1": XLEIntField("unused1", 0),
        "unused2": XLEIntField("unused2", 0),
        "im_msgtype": ByteEnumField("im_msgtype", 0, types),
    }


class _IGMPMsg(StructPacket):
    @property
    def vifi(self) -> int:
        """The vif index the message names (its encoding differs per ABI)."""
        raise NotImplementedError

    def mysummary(self) -> str:
        return self.sprintf(f"igmpmsg %im_msgtype% vif {self.vifi} %im_src% > %im_dst%")


class IGMPMsgBSD(_IGMPMsg):
    """``struct igmpmsg`` as FreeBSD delivers it (type 4 = BW_UPCALL)."""

    name = "igmpmsg (BSD)"
    struct_def = BSD_AMD64["igmpmsg"]
    fields_desc = struct_fields(struct_def, _igmpmsg_overrides(IGMPMSG_TYPES_BSD))

    @property
    def vifi(self) -> int:
        """The vif index (8 bits on BSD)."""
        return self.im_vif


class IGMPMsgLinux(_IGMPMsg):
    """``struct igmpmsg`` as Linux delivers it (type 4 = WRVIFWHOLE; ``im_vif_hi`` extends the vif)."""

    name = "igmpmsg (Linux)"
    struct_def = LINUX_AMD64["igmpmsg"]
    fields_desc = struct_fields(struct_def, _igmpmsg_overrides(IGMPMSG_TYPES_LINUX))

    @property
    def vifi(self) -> int:
        """The vif index: ``im_vif | im_vif_hi << 8``."""
        return self.im_vif | self.im_vif_hi << 8


class BwUpcall(StructPacket):
    """One 80-byte ``struct bw_upcall`` record of a BW_UPCALL message."""

    name = "bw_upcall"
    struct_def = BSD_AMD64["bw_upcall"]
    fields_desc = struct_fields(struct_def, {"bu_flags": FlagsField("bu_flags", 0, -32, BW_UPCALL_FLAGS)})

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s

    def mysummary(self) -> str:
        return self.sprintf("bw_upcall %bu_src% > %bu_dst% %bu_flags%")


class BwUpcalls(Packet):
    """The records following a BSD BW_UPCALL ``igmpmsg`` (N x 80 bytes)."""

    name = "bw_upcall records"
    fields_desc = [
        PacketListField(
            "records",
            [],
            BwUpcall,
            next_cls_cb=lambda pkt, lst, cur, remain: BwUpcall if len(remain) >= BW_UPCALL_SIZE else None,
        )
    ]

    def mysummary(self) -> str:
        return f"{len(self.records)} bw_upcall records"


class MRT6Msg(StructPacket):
    """``struct mrt6msg`` (identical on both ABIs); WHOLEPKT carries the IPv6 packet."""

    name = "mrt6msg"
    struct_def = BSD_AMD64["mrt6msg"]
    fields_desc = struct_fields(struct_def, {"im6_msgtype": ByteEnumField("im6_msgtype", 0, MRT6MSG_TYPES)})

    def mysummary(self) -> str:
        return self.sprintf("mrt6msg %im6_msgtype% mif %im6_mif% %im6_src% > %im6_dst%")


def _bind_packet(layer: type[Packet], inner: type[Packet], abi_name: str, version: int, field: str) -> None:
    """Dissect the packet after every whole-packet type of the ABI; build with the first (WHOLEPKT)."""
    first, *rest = types_of(abi_name, version, WHOLE_PACKET_KINDS)
    bind_layers(layer, inner, **{field: first})
    for t in rest:
        bind_bottom_up(layer, inner, **{field: t})


_bind_packet(IGMPMsgBSD, IP, "bsd-amd64", 4, "im_msgtype")
bind_layers(IGMPMsgBSD, BwUpcalls, im_msgtype=types_of("bsd-amd64", 4, frozenset({"BW_UPCALL"}))[0])
_bind_packet(IGMPMsgLinux, IP, "linux-amd64", 4, "im_msgtype")
_bind_packet(MRT6Msg, IPv6, "linux-amd64", 6, "im6_msgtype")

IGMPMSG_LAYERS: dict[str, type[_IGMPMsg]] = {"bsd-amd64": IGMPMsgBSD, "netbsd-amd64": IGMPMsgBSD,
                                              "linux-amd64": IGMPMsgLinux}


def parse_ipv4_routing_read(data: bytes, abi_name: str) -> Packet:
    """Dissect a read from the IPv4 routing socket: an ``igmpmsg`` upcall (byte 9, ip_p, is 0) or a real IP packet.

    Fewer than 20 bytes can be neither, and come back as ``Raw``.
    """
    cls = IGMPMSG_LAYERS[abi_name]
    if len(data) < cls.struct_def.size:
        return Raw(data)
    return cls(data) if is_upcall(4, data) else IP(data)


def parse_ipv6_routing_read(data: bytes, abi_name: str) -> Packet:
    """Dissect a read from the IPv6 routing socket: an ``mrt6msg`` (byte 0 is 0) or an ICMPv6 message (no IPv6 header)."""
    if abi_name not in ABIS:
        raise KeyError(abi_name)
    if is_upcall(6, data):
        return MRT6Msg(data)
    return IPv6(nh=58).default_payload_class(data)(data)
