"""Exact byte images of the messages the kernel queues on the routing socket.

IPv4 messages overlay ``struct igmpmsg`` on a copy of the IP header (doc: "follows the structure
of struct ip with ip_p set to zero"); IPv6 ones are a ``struct mrt6msg``. Bytes an implementation
leaves uninitialised are zero here; the profile lists them so tests never compare them.
"""

from __future__ import annotations

import ipaddress
import struct

from mroute_spec.constants import IGMPMSG_BW_UPCALL, IGMPMSG_WHOLEPKT
from reference_impl.packets import IPPacket
from reference_impl.profiles import Profile


def igmpmsg_header(pkt: IPPacket, msgtype: int, vif: int, profile: Profile) -> bytes:
    """NOCACHE / WRONGVIF: the IP header copy with type, mbz and vif patched in."""
    b = bytearray(pkt.data[: pkt.hlen])
    b[8] = msgtype
    b[9] = 0
    b[10] = vif & 0xFF
    if profile.upcall4_trailer:
        # Linux: im_vif_hi, a fixed-up total length, and an igmphdr whose tail is uninitialised
        b[11] = vif >> 8
        b[2:4] = struct.pack("!H", pkt.hlen + profile.upcall4_trailer)
        b += bytes([msgtype]) + bytes(profile.upcall4_trailer - 1)
    return bytes(b)


def igmpmsg_wholepkt(inner: bytes, src: str, dst: str, vif: int, profile: Profile,
                     msgtype: int = IGMPMSG_WHOLEPKT) -> bytes:
    """WHOLEPKT (or WRVIFWHOLE): a 20-byte igmpmsg followed by the whole packet."""
    hdr = bytearray(20)
    if profile.upcall4_trailer:  # Linux builds it from the packet's own header
        hdr[:] = inner[:20]
        hdr[0] = 0x45
        hdr[2:4] = struct.pack("!H", len(inner) + 20)
        hdr[11] = vif >> 8
    hdr[8] = msgtype
    hdr[9] = 0
    hdr[10] = vif & 0xFF
    hdr[12:16] = ipaddress.IPv4Address(src).packed
    hdr[16:20] = ipaddress.IPv4Address(dst).packed
    return bytes(hdr) + inner


def mrt6msg(pkt: IPPacket, msgtype: int, mif: int, profile: Profile, whole: bytes | None = None) -> bytes:
    """An mrt6msg; WHOLEPKT is followed by ``whole`` (the packet), Linux pads others to 80 bytes."""
    pad = b"\0\0\0\0" if profile.upcall6_length != 40 or whole is not None else pkt.data[4:8]
    if pad[3] and whole is None and profile.wholepkt6_hlim_decremented:  # decremented in place before (§4.8)
        pad = pad[:3] + bytes([pad[3] - 1])
    hdr = bytes([0, msgtype]) + struct.pack("<H", mif) + pad + pkt.data[8:40]
    if whole is not None:
        return hdr + whole
    return hdr + bytes(profile.upcall6_length - 40)


def bw_message(records: list[bytes]) -> bytes:
    """IGMPMSG_BW_UPCALL: an all-zero igmpmsg with the type, then the 80-byte records."""
    hdr = bytearray(20)
    hdr[8] = IGMPMSG_BW_UPCALL
    return bytes(hdr) + b"".join(records)
