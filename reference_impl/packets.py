"""Just enough IPv4, IPv6 and Ethernet to forward, validate and upcall packets (stdlib only).

A malformed frame never raises out of here: ``parse_frame`` returns None and the router drops it,
as a kernel's input path does.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass
from functools import lru_cache

from mroute_spec.constants import ETH_P_IP, ETH_P_IPV6

_EXT_HEADERS = (0, 43, 60)  # hop-by-hop, routing, destination options


def inet_checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum of ``data``."""
    if len(data) % 2:
        data += b"\0"
    s: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


@dataclass
class IPPacket:
    """A validated IP packet as it arrived (``data`` trimmed to the IP length)."""

    version: int
    data: bytes
    src: str
    dst: str
    ttl: int
    hlen: int
    proto: int  # IPv4 protocol, or the upper-layer header after IPv6 extension headers
    l4_offset: int

    @property
    def length(self) -> int:
        return len(self.data)


def parse_frame(frame: bytes) -> IPPacket | None:
    """Decode an Ethernet frame carrying IPv4 or IPv6; None for anything malformed."""
    if len(frame) < 14:
        return None
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    payload = frame[14:]
    if ethertype == ETH_P_IP:
        return parse_ipv4(payload)
    if ethertype == ETH_P_IPV6:
        return parse_ipv6(payload)
    return None


def parse_ipv4(p: bytes) -> IPPacket | None:
    """Validate version, header length, total length and header checksum, as ip_input does."""
    if len(p) < 20 or p[0] >> 4 != 4:
        return None
    hlen = (p[0] & 0x0F) * 4
    total = struct.unpack_from("!H", p, 2)[0]
    if hlen < 20 or total < hlen or total > len(p) or len(p) < hlen:
        return None
    if inet_checksum(p[:hlen]) != 0 or not options_well_formed(p[20:hlen]):
        return None
    return IPPacket(4, bytes(p[:total]), socket.inet_ntoa(p[12:16]), socket.inet_ntoa(p[16:20]),
                    p[8], hlen, p[9], hlen)


def options_well_formed(opts: bytes) -> bool:
    """Every IPv4 option after a type byte other than EOL (0) and NOP (1) has a length of at least 2
    that stays inside the header: FreeBSD ip_dooptions and Linux ip_options_compile drop the packet
    otherwise, before multicast routing sees it."""
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            return True
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or not 2 <= opts[i + 1] <= len(opts) - i:
            return False
        i += opts[i + 1]
    return True


def parse_ipv6(p: bytes) -> IPPacket | None:
    """Validate version and payload length; walk extension headers to the upper layer."""
    if len(p) < 40 or p[0] >> 4 != 6:
        return None
    plen = struct.unpack_from("!H", p, 4)[0]
    if 40 + plen > len(p):
        return None
    data = bytes(p[: 40 + plen])
    nh, off = data[6], 40
    while nh in _EXT_HEADERS:
        if off + 2 > len(data):
            return None
        nh, off = data[off], off + (data[off + 1] + 1) * 8
        if off > len(data):
            return None
    return IPPacket(6, data, socket.inet_ntop(socket.AF_INET6, data[8:24]),
                    socket.inet_ntop(socket.AF_INET6, data[24:40]), data[7], 40, nh, off)


def with_ttl(pkt: IPPacket, ttl: int) -> bytes:
    """The packet with a new TTL / hop limit (IPv4 header checksum recomputed)."""
    b = bytearray(pkt.data)
    if pkt.version == 4:
        b[8] = ttl
        b[10:12] = b"\0\0"
        b[10:12] = struct.pack("!H", inet_checksum(bytes(b[: pkt.hlen])))
    else:
        b[7] = ttl
    return bytes(b)


def decremented(pkt: IPPacket) -> bytes:
    """The forwarded copy (TTL - 1), built once per packet however many vifs it goes out on."""
    cached = pkt.__dict__.get("_decremented")
    if cached is None or cached[0] != pkt.ttl:
        cached = (pkt.ttl, with_ttl(pkt, pkt.ttl - 1))
        pkt.__dict__["_decremented"] = cached
    return cached[1]


@lru_cache(maxsize=4096)
def multicast_mac(group: str) -> bytes:
    """The Ethernet address a multicast group maps to (RFC 1112 / RFC 2464)."""
    addr = ipaddress.ip_address(group)
    if addr.version == 4:
        low = int(addr) & 0x7FFFFF
        return bytes([0x01, 0x00, 0x5E, low >> 16, (low >> 8) & 0xFF, low & 0xFF])
    return b"\x33\x33" + addr.packed[-4:]


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def ethernet(dst: bytes, src: bytes, version: int, payload: bytes) -> bytes:
    return dst + src + struct.pack("!H", ETH_P_IP if version == 4 else ETH_P_IPV6) + payload
