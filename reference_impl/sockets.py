"""Sockets of the model: what they are and what they have queued to read."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(eq=False)
class Socket:
    """An open socket; ``rcvq`` holds datagrams (upcalls, IGMP, MLD) in arrival order."""

    ident: int
    family: int
    type: int
    proto: int
    rcvq: deque[bytes] = field(default_factory=deque)
    icmp6_filter: bytes | None = None  # raw 32-byte ICMP6_FILTER as set, None = pass all
    options: dict[tuple[int, int], int] = field(default_factory=dict)  # generic (level, name) -> value
    joined: set[bytes] = field(default_factory=set)  # IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP requests made
    closed: bool = False
    table: int = 0  # MRT_TABLE / MRT6_TABLE (Linux raw_sk(sk)->ipmr_table; 0: RT_TABLE_DEFAULT)

    def deliver(self, data: bytes) -> None:
        self.rcvq.append(data)

    def icmp6_passes(self, icmp_type: int, set_bit_blocks: bool) -> bool:
        """Whether the ICMP6_FILTER lets ``icmp_type`` through (bit meaning is per profile)."""
        if self.icmp6_filter is None:
            return True
        bit = self.icmp6_filter[icmp_type >> 3] >> (icmp_type & 7) & 1
        return not bit if set_bit_blocks else bool(bit)
