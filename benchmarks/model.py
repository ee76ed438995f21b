"""Benchmarks of the reference model: forwarding rate by table size, memory, meter timers.

Figures the issues ask for: packets/s through one (S,G) with 4 outgoing vifs at 10^2, 10^4 and
10^6 installed entries (goal >= 100,000/s, 10^6 within 1.5x of 10^2, 10^6 entries < 1 GiB), and
the cost of advancing the clock one second with 10^5 `<=` meters installed and none expiring
(goal < 5 ms), against the cost when they all expire.
"""

from __future__ import annotations

import gc
import struct
import time
from collections.abc import Callable

from mroute_spec.constants import (
    AF_INET,
    BW_UPCALL_LEQ,
    BW_UPCALL_UNIT_PACKETS,
    IPPROTO_IGMP,
    MRT_MFC_BW_UPCALL,
    SOCK_RAW,
)
from reference_impl.kernel import Kernel
from reference_impl.packets import ethernet, inet_checksum, mac_bytes, multicast_mac
from reference_impl.profiles import DOCUMENTED, Profile
from reference_impl.sockets import Socket
from reference_impl.vifs import Interface

PROFILE: Profile = DOCUMENTED
OPT = PROFILE.options4


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _router(nports: int = 5, api: int = 0) -> tuple[Kernel, Socket]:
    ifaces = [Interface(f"r{i}", i + 2, mac_bytes(f"02:00:00:00:00:{i + 1:02x}"), f"198.18.{i}.1",
                        f"2001:db8:{i}::1", i) for i in range(nports)]
    k = Kernel(PROFILE, ifaces)
    s = k.socket(AF_INET, SOCK_RAW, IPPROTO_IGMP)
    k.setsockopt(s, 0, OPT["MRT_INIT"], struct.pack("<i", 1))
    if api:
        k.setsockopt(s, 0, OPT["MRT_API_CONFIG"], struct.pack("<I", api))
    vifctl = PROFILE.struct("vifctl")
    for i in range(nports):
        k.setsockopt(s, 0, OPT["MRT_ADD_VIF"], vifctl.pack(vifc_vifi=i, vifc_threshold=1,
                                                           vifc_lcl_addr=f"198.18.{i}.1"))
    return k, s


def _fill(k: Kernel, s: Socket, n: int, api: bool = False) -> None:
    """Install n (S,G) entries through MRT_ADD_MFC, as a daemon would."""
    mfc = PROFILE.struct("mfcctl2" if api else "mfcctl")
    opt = OPT["MRT_ADD_MFC"]
    ttls = [0, 1, 1, 1, 1]
    for i in range(n):
        src = f"198.18.{(i >> 16) & 0xFF}.{(i >> 8) & 0xFF}"
        grp = f"232.{(i >> 16) & 0xFF}.{(i >> 8) & 0xFF}.{i & 0xFF}"
        k.setsockopt(s, 0, opt, mfc.pack(mfcc_origin=src, mfcc_mcastgrp=grp, mfcc_parent=0, mfcc_ttls=ttls))


def _frame(src: str, grp: str, ttl: int = 64, payload: int = 64) -> bytes:
    udp = struct.pack("!HHHH", 40000, 50000, 8 + payload, 0) + bytes(payload)
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, ttl, 17, 0,
                                bytes(map(int, src.split("."))), bytes(map(int, grp.split(".")))))
    hdr[10:12] = struct.pack("!H", inet_checksum(bytes(hdr)))
    return ethernet(multicast_mac(grp), mac_bytes("02:00:00:00:01:01"), 4, bytes(hdr) + udp)


def forwarding(entries: int, packets: int = 100_000) -> dict:
    """Packets/s through one installed (S,G) with 4 outgoing vifs among ``entries`` entries."""
    k, s = _router()
    gc.collect()
    rss0 = _rss_bytes()
    t0 = time.perf_counter()
    _fill(k, s, entries)
    fill_s = time.perf_counter() - t0
    gc.collect()
    table_bytes = _rss_bytes() - rss0
    frame = _frame("198.18.0.0", "232.0.0.1")  # entry i=1 of the fill
    out = k.output
    t0 = time.perf_counter()
    for _ in range(packets):
        k.receive(0, frame)
        out.clear()
    dt = time.perf_counter() - t0
    copies = 4
    return {"entries": entries, "packets": packets, "pps": packets / dt, "copies_per_packet": copies,
            "table_rss_bytes": table_bytes, "fill_s": fill_s}


def meters(count: int = 100_000) -> dict:
    """Clock cost with ``count`` `<=` meters: one second with none expiring, then all expiring."""
    k, s = _router(api=MRT_MFC_BW_UPCALL)
    _fill(k, s, count, api=True)
    bw = PROFILE.struct("bw_upcall")
    add = OPT["MRT_ADD_BW_UPCALL"]
    for entry in list(k.routers[AF_INET].mfc.values()):
        k.setsockopt(s, 0, add, bw.pack(bu_src=entry.source, bu_dst=entry.group,
                                        bu_flags=BW_UPCALL_LEQ | BW_UPCALL_UNIT_PACKETS,
                                        bu_threshold_time=(10, 0), bu_threshold_packets=0))
    quiet = _timed(lambda: k.advance(1.0))  # t = 1 s: no interval ends
    k.advance(8.0)  # t = 9 s
    expiring = _timed(lambda: k.advance(1.0))  # t = 10 s: every interval ends
    return {"meters": count, "advance_1s_none_expire_ms": quiet * 1000,
            "advance_1s_all_expire_ms": expiring * 1000,
            "per_expiring_meter_us": expiring / count * 1e6}


def _timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
