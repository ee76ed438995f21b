"""PIMv2 Register (RFC 7761 §4.9.3), missing from ``scapy.contrib.pim``, with its header-only checksum.

Importing this module binds ``PIMv2Register`` under ``PIMv2Hdr`` type 1, so Registers dissect. Built
Registers (``pim_register``) use ``PIMv2RegisterHdr``, a ``PIMv2Hdr`` whose checksum covers the 8-byte
header only (scapy's own covers the whole message, which tshark reports as bad); scapy's classes
are not patched, so every other PIM message keeps scapy's behaviour.
"""

from __future__ import annotations

import ipaddress
import struct

from scapy.contrib.pim import PIMv2Hdr
from scapy.fields import BitField, XBitField
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6, _IPv6ExtHdr, in6_chksum
from scapy.packet import Packet, Raw, bind_layers
from scapy.utils import checksum

from mroute_spec.constants import IPPROTO_PIM, PIM_REGISTER

PIM_REGISTER_HDRLEN = 8  # PIM header (4) + B/N flags word (4): all the checksum covers


class PIMv2Register(Packet):
    """The Register flags word (Border, Null-Register, 30 reserved bits); the payload is the inner IP/IPv6 packet."""

    name = "PIMv2 Register"
    fields_desc = [BitField("border", 0, 1), BitField("null_register", 0, 1), XBitField("reserved", 0, 30)]

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        return _inner_class(payload)

    def mysummary(self) -> str:
        return self.sprintf("PIM Register border=%border% null=%null_register%")


def _inner_class(payload: bytes) -> type[Packet]:
    version = payload[0] >> 4 if payload else 0
    return {4: IP, 6: IPv6}.get(version, Raw)


bind_layers(PIMv2Hdr, PIMv2Register, type=PIM_REGISTER)


class PIMv2RegisterHdr(PIMv2Hdr):
    """The PIMv2 header of a Register: the checksum covers the header and flags word only (IPv6: with
    the pseudo-header), as RFC 7761 §4.9.3 says; other fields and dissection are scapy's."""

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        if self.chksum is not None or self.type != PIM_REGISTER:
            return super().post_build(pkt, pay)
        header = (pkt + pay)[:PIM_REGISTER_HDRLEN]
        if isinstance(self.underlayer, IPv6 | _IPv6ExtHdr):
            ck = in6_chksum(IPPROTO_PIM, self.underlayer, header)
        else:
            ck = checksum(header)
        return pkt[:2] + struct.pack("!H", ck) + pkt[4:] + pay


bind_layers(PIMv2RegisterHdr, PIMv2Register, type=PIM_REGISTER)


def pim_register(inner: bytes | Packet, border: bool = False, null: bool = False) -> Packet:
    """``PIMv2RegisterHdr/PIMv2Register/inner``; the header-only checksum is filled in when the packet is built."""
    if isinstance(inner, bytes | bytearray):
        inner = _inner_class(bytes(inner))(bytes(inner))
    return PIMv2RegisterHdr(type=PIM_REGISTER) / PIMv2Register(border=int(border), null_register=int(null)) / inner



def register_checksum(pim_bytes: bytes, ipv6: tuple[str, str] | None = None) -> int:
    """The RFC 7761 §4.9.3 checksum of a Register (its checksum field taken as zero); ``ipv6`` = (src, dst) adds the pseudo-header."""
    header = pim_bytes[:2] + b"\0\0" + pim_bytes[4:PIM_REGISTER_HDRLEN]
    return checksum(_pseudo(ipv6) + header)


def register_checksum_ok(pim_bytes: bytes, ipv6: tuple[str, str] | None = None) -> bool:
    """Whether the Register's checksum is right in the header-only form (IPv4; with ``ipv6`` = (src, dst), IPv6)."""
    return (
        len(pim_bytes) >= PIM_REGISTER_HDRLEN
        and checksum(_pseudo(ipv6) + pim_bytes[:PIM_REGISTER_HDRLEN]) == 0
    )


def _pseudo(ipv6: tuple[str, str] | None) -> bytes:
    if ipv6 is None:
        return b""
    src, dst = (ipaddress.IPv6Address(a).packed for a in ipv6)
    return src + dst + struct.pack("!I3xB", PIM_REGISTER_HDRLEN, IPPROTO_PIM)
