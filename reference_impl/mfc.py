"""The multicast forwarding cache: complete (S,G) entries and pending (NOCACHE) ones.

Both are dicts keyed by the exact (source, group) pair, so lookup is O(1) at any table size and
there is no wildcard matching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reference_impl.clock import Timer
from reference_impl.packets import IPPacket

NOT_OIF = 0  # a ttl of 0 keeps a vif out of the outgoing set


NO_FLAGS = bytes(64)


@dataclass(slots=True)
class MfcEntry:
    """A complete forwarding entry (compact: a million of them must fit well under 1 GiB)."""

    source: str
    group: str
    parent: int
    ttls: bytes  # per vif index; 0 = not an outgoing interface
    flags: bytes = NO_FLAGS  # MRT_MFC_FLAGS_* per vif
    rp: str = "0.0.0.0"
    static: bool = False
    pktcnt: int = 0
    bytecnt: int = 0
    wrong_if: int = 0
    last_assert: float | None = None
    # the entry's meters.Meter objects (typed loosely: reference_impl.meters imports this module)
    meters: list[Any] = field(default_factory=list)


@dataclass
class Pending:
    """An (S,G) waiting for the daemon after a NOCACHE upcall, with its queued packets."""

    source: str
    group: str
    queue: list[tuple[IPPacket, int]] = field(default_factory=list)  # (packet, arrival port)
    expire_ticks: int = 0
    timer: Timer | None = None


@dataclass
class MfcRequest:
    """A decoded MRT_ADD_MFC / MRT_DEL_MFC argument, common to IPv4 and IPv6."""

    source: str
    group: str
    parent: int
    ttls: list[int]
    flags: list[int]
    rp: str
