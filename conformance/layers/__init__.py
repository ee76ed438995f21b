"""Scapy layers for the multicast routing API: ABI structs, routing-socket upcalls, PIM Register."""

from .fromabi import AbiKindField, StructPacket, abi_layer, struct_fields, struct_packet
from .pim import PIMv2Register, PIMv2RegisterHdr, pim_register, register_checksum, register_checksum_ok
from .upcalls import (
    BwUpcall,
    BwUpcalls,
    IGMPMsgBSD,
    IGMPMsgLinux,
    MRT6Msg,
    parse_ipv4_routing_read,
    parse_ipv6_routing_read,
)

__all__ = [
    "AbiKindField",
    "BwUpcall",
    "BwUpcalls",
    "IGMPMsgBSD",
    "IGMPMsgLinux",
    "MRT6Msg",
    "PIMv2Register",
    "PIMv2RegisterHdr",
    "StructPacket",
    "abi_layer",
    "parse_ipv4_routing_read",
    "parse_ipv6_routing_read",
    "pim_register",
    "register_checksum",
    "register_checksum_ok",
    "struct_fields",
    "struct_packet",
]
