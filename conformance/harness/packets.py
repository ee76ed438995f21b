"""Test traffic: build IPv4/IPv6 multicast packets with scapy and decode what comes out."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from reference_impl.packets import inet_checksum, multicast_mac

MARK = b"MRC!"
_seq = itertools.count(1)


def reset_markers() -> None:
    """Number test packets from 1 again (the fixture export does this per scenario)."""
    global _seq
    _seq = itertools.count(1)


def mac_str(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def udp(version: int, src: str, group: str, ttl: int = 64, size: int = 0, payload: bytes | None = None) -> Packet:
    """A UDP datagram to ``group`` carrying a unique marker (so frames can be matched)."""
    body = payload if payload is not None else MARK + next(_seq).to_bytes(4, "big")
    if size > len(body):
        body += bytes(size - len(body))
    l3 = IP(src=src, dst=group, ttl=ttl) if version == 4 else IPv6(src=src, dst=group, hlim=ttl)
    return l3 / UDP(sport=40000, dport=50000) / Raw(body)


def frame_for(pkt: Packet, src_mac: str) -> bytes:
    """Wrap an IP packet in Ethernet with the group's mapped destination MAC."""
    dst = pkt.dst if pkt.haslayer(IP) or pkt.haslayer(IPv6) else None
    return bytes(Ether(dst=mac_str(multicast_mac(dst)), src=src_mac) / pkt) if dst else bytes(pkt)


@dataclass
class Frame:
    """A frame the router emitted, decoded to what tests assert on."""

    raw: bytes
    pkt: Packet

    @property
    def version(self) -> int:
        return 4 if self.pkt.haslayer(IP) and not self.pkt.haslayer(IPv6) else 6

    @property
    def ip(self) -> Packet:
        return self.pkt[IP] if self.version == 4 else self.pkt[IPv6]

    @property
    def ttl(self) -> int:
        return self.ip.ttl if self.version == 4 else self.ip.hlim

    @property
    def src(self) -> str:
        return self.ip.src

    @property
    def dst(self) -> str:
        return self.ip.dst

    @property
    def payload(self) -> bytes:
        """The bytes after the IP header (transport header and data)."""
        return bytes(self.ip.payload)

    @property
    def eth_dst(self) -> str:
        return self.pkt[Ether].dst

    @property
    def header_checksum_ok(self) -> bool:
        """IPv4: the header checksum verifies; IPv6 has none."""
        if self.version == 6:
            return True
        raw_ip = bytes(self.ip)
        return inet_checksum(raw_ip[: self.ip.ihl * 4]) == 0

    def describe(self) -> str:
        return f"{self.src} -> {self.dst} ttl={self.ttl} len={len(self.raw)}"


def decode_frame(raw: bytes) -> Frame:
    return Frame(raw, Ether(raw))


def tag(data: bytes) -> str:
    """A packet's short name in messages: its marker's sequence number (``#n``)."""
    m = marker_of(data)
    return f"#{int.from_bytes(m[4:], 'big')}" if m else "<unmarked>"


def marker_of(data: bytes) -> bytes | None:
    """The unique test marker inside a packet's bytes, if any."""
    i = data.find(MARK)
    return data[i : i + 8] if i >= 0 else None
