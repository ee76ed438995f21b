"""PIM Register for packets forwarded to the register vif (IPv4).

With MRT_MFC_RP negotiated and a non-zero ``mfcc_rp`` the kernel encapsulates: outer IPv4 to the
RP (protocol 103, TTL 64, source = the incoming vif's address), a PIMv2 Register header whose
checksum covers only its 8 bytes, and the inner packet with TTL - 1. Otherwise (or with
INADDR_ANY) the packet goes up as IGMPMSG_WHOLEPKT. Packets too large to encapsulate are
fragmented first and each fragment is handled alone; with DF set they are dropped.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import TYPE_CHECKING, assert_never

from mroute_spec.constants import MRT_MFC_FLAGS_BORDER_VIF, MRT_MFC_RP
from reference_impl.contracts import RouterView
from reference_impl.packets import ethernet, inet_checksum, with_ttl

if TYPE_CHECKING:
    from reference_impl.mfc import MfcEntry
    from reference_impl.packets import IPPacket

PIM_ENCAP_TTL = 64
PIM_REGISTER_VT = 0x21  # version 2, type 1
PIM_BORDER_REGISTER = 0x80000000
MAX_ENCAP = 65535 - 20 - 8  # the largest inner packet one Register can carry
IP_DF, IP_MF = 0x4000, 0x2000


def fragment(packet: bytes, mtu: int = MAX_ENCAP) -> list[bytes]:
    """ip_fragment: pieces of at most ``mtu`` bytes; [] when DF forbids it."""
    if len(packet) <= mtu:
        return [packet]
    hlen = (packet[0] & 0x0F) * 4
    off_field = struct.unpack_from("!H", packet, 6)[0]
    if off_field & IP_DF:
        return []
    header, data = packet[:hlen], packet[hlen:]
    later = packet[:20] + copied_options(header)  # the header of every fragment but the first
    later = bytes([0x40 | len(later) // 4]) + later[1:]
    chunk = (mtu - hlen) & ~7
    base = off_field & 0x1FFF
    pieces = []
    for pos in range(0, len(data), chunk):
        part = data[pos : pos + chunk]
        more = pos + chunk < len(data) or bool(off_field & IP_MF)
        h = bytearray(header if pos == 0 else later)
        h[2:4] = struct.pack("!H", len(h) + len(part))
        h[6:8] = struct.pack("!H", (IP_MF if more else 0) | (base + pos // 8))
        h[10:12] = b"\0\0"
        h[10:12] = struct.pack("!H", inet_checksum(bytes(h)))
        pieces.append(bytes(h) + part)
    return pieces


def copied_options(header: bytes) -> bytes:
    """ip_optcopy: the options a later fragment carries (RFC 791: those with the copied flag), EOL-padded."""
    opts, out, i = header[20:], bytearray(), 0
    while i < len(opts) and opts[i] != 0:  # IPOPT_EOL ends the list
        if opts[i] == 1:  # IPOPT_NOP is kept
            out.append(1)
            i += 1
            continue
        optlen = min(max(opts[i + 1] if i + 1 < len(opts) else 0, 2), len(opts) - i)
        if opts[i] & 0x80:
            out += opts[i : i + optlen]
        i += optlen
    return bytes(out) + bytes(-len(out) % 4)


class Register:
    """Register encapsulation state of one router."""

    def __init__(self, router: RouterView) -> None:
        self.router = router
        self._ip_id = 0

    def fragments(self, inner: bytes) -> list[bytes]:
        return fragment(inner) if self.router.family.version == 4 else [inner]

    def border_vif(self, entry: MfcEntry) -> int | None:
        """The vif whose MRT_MFC_FLAGS_BORDER_VIF decides the Border bit, per profile."""
        match self.router.profile.border_bit_from:
            case "parent-vif":
                return entry.parent
            case "register-vif":
                return next((v.index for v in self.router.vifs if v is not None and v.register), None)
            case unknown:
                assert_never(unknown)

    def encapsulate(self, entry: MfcEntry, pkt: IPPacket) -> bool:
        """Send the packet to the RP as PIM Registers; False means "go up as WHOLEPKT"."""
        r = self.router
        if r.family.version != 4 or not r.api_config & MRT_MFC_RP or entry.rp == "0.0.0.0":
            return False
        parent = r.vif(entry.parent)
        if parent is None or not parent.lcl_addr or parent.lcl_addr == "0.0.0.0":
            return True  # FreeBSD drops it silently
        border_vif = self.border_vif(entry)
        border = border_vif is not None and bool(entry.flags[border_vif] & MRT_MFC_FLAGS_BORDER_VIF)
        for piece in self.fragments(with_ttl(pkt, pkt.ttl - 1)):
            self._send(piece, parent.lcl_addr, entry.rp, border)
        return True

    def _send(self, inner: bytes, src: str, rp: str, border: bool) -> None:
        pim = bytearray(struct.pack("!BBHI", PIM_REGISTER_VT, 0, 0, PIM_BORDER_REGISTER if border else 0))
        pim[2:4] = struct.pack("!H", inet_checksum(bytes(pim)))
        df = struct.unpack_from("!H", inner, 6)[0] & IP_DF
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        outer = bytearray(struct.pack(
            "!BBHHHBBH4s4s", 0x45, inner[1], 20 + 8 + len(inner), 0 if df else self._ip_id, df,
            PIM_ENCAP_TTL, 103, 0, ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(rp).packed))
        outer[10:12] = struct.pack("!H", inet_checksum(bytes(outer)))
        iface = self.router.kernel.route(rp)
        if iface is None or iface.port is None:
            return
        frame = ethernet(iface.neighbor_mac, iface.mac, 4, bytes(outer) + bytes(pim) + inner)
        self.router.kernel.emit(iface.port, frame)
