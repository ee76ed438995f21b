"""The router's multicast routing state as the kernel shows it, and how to wipe it.

Closing the mroute socket (MRT_DONE) removes only *non-static* vifs and MFC entries. Entries made
by a privileged socket that was not the mrouter are static and survive it (linux-semantics.md
§3.1), so a reset verifies the tables and, if needed, flushes with every MRT_FLUSH bit from a
fresh raw socket, per table the tests selected with MRT_TABLE. The MRT_ASSERT / MRT_PIM switches
belong to the *table*, not the socket: they survive MRT_DONE and the next MRT_INIT, so a reset
always turns them off again.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

from conformance.targets.linux.netns import NetNamespace
from reference_impl.profiles import LINUX
from reference_impl.snapshot import MfcState, TableState, VifState, canonical, normalised

# MRT_FLUSH / MRT6_FLUSH flag bits (uapi mroute.h / mroute6.h): MFC, MFC_STATIC, VIFS, VIFS_STATIC
FLUSH_EVERYTHING = 0x1 | 0x2 | 0x4 | 0x8
# each family's default table (ipmr.c RT_TABLE_DEFAULT, ip6mr.c RT6_TABLE_DFLT): a socket without
# MRT_TABLE uses it, and /proc shows only it
DEFAULT_TABLES: dict[int, int] = {socket.AF_INET: LINUX.default_table4, socket.AF_INET6: LINUX.default_table6}
PROC_TABLES = ("ip_mr_vif", "ip_mr_cache", "ip6_mr_vif", "ip6_mr_cache")
MC_FORWARDING = {
    "ipv4.all.mc_forwarding": "/proc/sys/net/ipv4/conf/all/mc_forwarding",
    "ipv6.all.mc_forwarding": "/proc/sys/net/ipv6/conf/all/mc_forwarding",
}


@dataclass(frozen=True)
class _Family:
    family: int
    proto: int
    level: int
    table_opt: int
    flush_opt: int
    switches: tuple[int, ...]  # PIM first: setting it also sets ASSERT, so ASSERT=0 must come last


_V4 = _Family(
    socket.AF_INET,
    socket.IPPROTO_IGMP,
    socket.IPPROTO_IP,
    LINUX.options4["MRT_TABLE"],
    LINUX.options4["MRT_FLUSH"],
    (LINUX.options4["MRT_PIM"], LINUX.options4["MRT_ASSERT"]),
)
_V6 = _Family(
    socket.AF_INET6,
    socket.IPPROTO_ICMPV6,
    socket.IPPROTO_IPV6,
    LINUX.options6["MRT6_TABLE"],
    LINUX.options6["MRT6_FLUSH"],
    (LINUX.options6["MRT6_PIM"], LINUX.options6["MRT6_ASSERT"]),
)
FAMILIES: dict[int, _Family] = {int(socket.AF_INET): _V4, int(socket.AF_INET6): _V6}


def table_option(family: int, level: int, optname: int) -> bool:
    """True if (level, optname) is MRT_TABLE / MRT6_TABLE for sockets of ``family``."""
    fam = FAMILIES.get(family)
    return fam is not None and (level, optname) == (fam.level, fam.table_opt)


def snapshot(router: NetNamespace) -> dict[str, list[str]]:
    """Non-header lines of the default table's /proc views, plus the all.mc_forwarding sysctls.

    A pristine router gives empty lists and ``["0"]`` for each mc_forwarding.
    """
    out: dict[str, list[str]] = {}
    with router.entered():
        for name in PROC_TABLES:
            try:
                with open(f"/proc/thread-self/net/{name}") as f:
                    out[name] = f.read().splitlines()[1:]
            except FileNotFoundError:  # kernel without IPv6 multicast routing
                out[name] = []
        for key, path in MC_FORWARDING.items():
            try:
                with open(path) as f:
                    out[key] = [f.read().strip()]
            except FileNotFoundError:
                out[key] = ["0"]
    return out


def leftovers(snap: dict[str, list[str]]) -> dict[str, list[str]]:
    """The parts of a snapshot that are not pristine."""
    return {k: v for k, v in snap.items() if (v != ["0"] if k in MC_FORWARDING else v)}


def restore(router: NetNamespace, tables: dict[int, set[int]], flush: bool) -> None:
    """Turn PIM/ASSERT off and, if ``flush``, MRT_FLUSH everything (static too), in the default
    table and in ``tables``; done from a fresh privileged raw socket that is not the mrouter."""
    for family, fam in FAMILIES.items():
        for table in sorted({DEFAULT_TABLES[family]} | tables.get(family, set())):
            try:
                s = router.socket(family, socket.SOCK_RAW, fam.proto)
            except OSError:  # no IPv6 in the router: nothing to restore there
                continue
            with s:
                try:
                    if table != DEFAULT_TABLES[family]:
                        s.setsockopt(fam.level, fam.table_opt, struct.pack("=I", table))
                    if flush:
                        s.setsockopt(fam.level, fam.flush_opt, struct.pack("=i", FLUSH_EVERYTHING))
                except OSError as e:  # ENOPROTOOPT: no MRT_FLUSH / tables on this kernel
                    if table == DEFAULT_TABLES[family]:
                        raise RuntimeError(f"cannot flush multicast routes (family {family}): {e}") from e
                    continue
                for opt in fam.switches:
                    try:
                        s.setsockopt(fam.level, opt, struct.pack("=i", 0))
                    except OSError:  # ENOPROTOOPT: kernel without PIM support
                        pass


# -- reading the tables back, normalised (reference_impl/snapshot.py) ---------------------------
def _be32(word: str) -> str:
    """A /proc %08X of a __be32 (printed as a host-order u32) as the dotted quad it holds."""
    return str(ipaddress.IPv4Address(struct.pack("=I", int(word, 16))))


def parse_vifs(lines: list[str], version: int, port_of: dict[str, int]) -> list[VifState]:
    """ip_mr_vif / ip6_mr_vif lines (header dropped): "idx name bytes_in pkts_in bytes_out pkts_out
    flags [local remote]" (ipmr_vif_seq_show / ip6mr_vif_seq_show)."""
    out = []
    for line in lines:
        f = line.split()
        local = _be32(f[7]) if version == 4 else ""
        out.append(VifState(int(f[0]), port_of.get(f[1]), int(f[6], 16), local,
                            icount=int(f[3]), ocount=int(f[5]), ibytes=int(f[2]), obytes=int(f[4])))
    return out


def parse_mfc(lines: list[str], version: int) -> list[MfcState]:
    """ip_mr_cache / ip6_mr_cache lines: "group origin iif pkts bytes wrong [vif:ttl ...]"; an
    unresolved entry has iif -1 and zero counters (ipmr_mfc_seq_show / ipmr_cache_unresolved)."""
    out = []
    for line in lines:
        f = line.split()
        group, origin = (_be32(f[0]), _be32(f[1])) if version == 4 else (canonical(f[0]), canonical(f[1]))
        parent = int(f[2])
        oifs = tuple((int(a), int(b)) for a, b in (t.split(":") for t in f[6:]))
        out.append(MfcState(origin, group, parent, oifs, int(f[3]), int(f[4]), int(f[5]), pending=parent == -1))
    return out


def table_state(router: NetNamespace, version: int, port_of: dict[str, int]) -> TableState:
    """The default table of ``version`` as /proc shows it in the router namespace."""
    prefix = "ip_mr" if version == 4 else "ip6_mr"
    with router.entered():
        text = {}
        for name in ("vif", "cache"):
            with open(f"/proc/thread-self/net/{prefix}_{name}") as f:
                text[name] = f.read().splitlines()[1:]
    return normalised(parse_vifs(text["vif"], version, port_of), parse_mfc(text["cache"], version))
