"""The socket options of the multicast routing API: one table, read by the model and the suite.

Each ``OptionSpec`` names an option once: its family and level, its number in each ABI (an ABI
without a number lacks the option), the struct it takes (with per-ABI exceptions) and whether
setsockopt, getsockopt or both apply. The model dispatches on ``role``; the harness and the
fixtures encode through ``payload`` (docs/spec/api.md §2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Flag, StrEnum
from functools import cache
from typing import Any

from mroute_spec.abi import ABIS
from mroute_spec.constants import IPPROTO_IP, IPPROTO_IPV6, IPProto


class Role(StrEnum):
    """What an option does, whatever its name and number (IPv4 and IPv6 share roles)."""

    INIT = "init"
    DONE = "done"
    ADD_VIF = "add_vif"
    DEL_VIF = "del_vif"
    ADD_MFC = "add_mfc"
    DEL_MFC = "del_mfc"
    VERSION = "version"
    ASSERT = "assert"
    PIM = "pim"
    API_SUPPORT = "api_support"
    API_CONFIG = "api_config"
    ADD_BW = "add_bw"
    DEL_BW = "del_bw"
    TABLE = "table"
    ADD_MFC_PROXY = "add_mfc_proxy"
    DEL_MFC_PROXY = "del_mfc_proxy"
    FLUSH = "flush"


class Direction(Flag):
    """Which calls take the option."""

    SET = 1
    GET = 2
    BOTH = SET | GET


BSD, NETBSD_ABI, LINUX = "bsd-amd64", "netbsd-amd64", "linux-amd64"


@dataclass(frozen=True)
class OptionSpec:
    """One routing socket option."""

    name: str
    version: int  # 4: IPPROTO_IP level, 6: IPPROTO_IPV6 level
    role: Role
    numbers: Mapping[str, int]  # ABI name -> option number; an ABI absent here lacks the option
    payload: str | None  # the struct the option takes (None: no argument)
    direction: Direction = Direction.SET
    payload_by_abi: Mapping[str, str | None] = field(default_factory=dict)  # per-ABI exceptions

    @property
    def level(self) -> IPProto:
        return IPPROTO_IP if self.version == 4 else IPPROTO_IPV6

    def available(self, abi_name: str) -> bool:
        return abi_name in self.numbers

    def payload_for(self, abi_name: str) -> str | None:
        """The struct this option takes under ``abi_name``."""
        return self.payload_by_abi.get(abi_name, self.payload)

    def encode(self, abi_name: str, **values: Any) -> bytes:
        """The option buffer for ``values`` under ``abi_name`` (empty when the option takes none)."""
        payload = self.payload_for(abi_name)
        if payload is None:
            return b""
        return ABIS[abi_name][payload].pack(**values)


_S, _G, _B = Direction.SET, Direction.GET, Direction.BOTH


def _o(name: str, role: Role, payload: str | None, bsd: int | None, linux: int | None,
       direction: Direction = _S, linux_payload: str | None = None) -> OptionSpec:
    # NetBSD numbers every option it has as FreeBSD does (netinet/ip_mroute.h, netinet6/ip6_mroute.h)
    numbers = {abi: n for abi, n in ((BSD, bsd), (NETBSD_ABI, bsd), (LINUX, linux)) if n is not None}
    overrides = {LINUX: linux_payload} if linux_payload else {}
    return OptionSpec(name, 6 if name.startswith("MRT6_") else 4, role, numbers, payload, direction, overrides)


R = Role
OPTIONS: tuple[OptionSpec, ...] = (
    _o("MRT_INIT", R.INIT, "int", 100, 200),
    _o("MRT_DONE", R.DONE, None, 101, 201),
    _o("MRT_ADD_VIF", R.ADD_VIF, "vifctl", 102, 202),
    _o("MRT_DEL_VIF", R.DEL_VIF, "vifi", 103, 203, linux_payload="vifctl"),
    _o("MRT_ADD_MFC", R.ADD_MFC, "mfcctl", 104, 204),
    _o("MRT_DEL_MFC", R.DEL_MFC, "mfcctl", 105, 205),
    _o("MRT_VERSION", R.VERSION, None, 106, 206, _G),
    _o("MRT_ASSERT", R.ASSERT, "int", 107, 207, _B),
    _o("MRT_PIM", R.PIM, "int", 107, 208, _B),  # FreeBSD: an alias of MRT_ASSERT
    _o("MRT_API_SUPPORT", R.API_SUPPORT, None, 109, None, _G),
    _o("MRT_API_CONFIG", R.API_CONFIG, "uint32", 110, None, _B),
    _o("MRT_ADD_BW_UPCALL", R.ADD_BW, "bw_upcall", 111, None),
    _o("MRT_DEL_BW_UPCALL", R.DEL_BW, "bw_upcall", 112, None),
    _o("MRT_TABLE", R.TABLE, "uint32", None, 209),
    _o("MRT_ADD_MFC_PROXY", R.ADD_MFC_PROXY, "mfcctl", None, 210),
    _o("MRT_DEL_MFC_PROXY", R.DEL_MFC_PROXY, "mfcctl", None, 211),
    _o("MRT_FLUSH", R.FLUSH, "int", None, 212),
    _o("MRT6_INIT", R.INIT, "int", 108, 200),
    _o("MRT6_DONE", R.DONE, None, 101, 201),
    _o("MRT6_ADD_MIF", R.ADD_VIF, "mif6ctl", 102, 202),
    _o("MRT6_DEL_MIF", R.DEL_VIF, "mifi", 103, 203),
    _o("MRT6_ADD_MFC", R.ADD_MFC, "mf6cctl", 104, 204),
    _o("MRT6_DEL_MFC", R.DEL_MFC, "mf6cctl", 105, 205),
    _o("MRT6_VERSION", R.VERSION, None, None, 206, _G),
    _o("MRT6_ASSERT", R.ASSERT, "int", None, 207, _B),
    _o("MRT6_PIM", R.PIM, "int", 107, 208, _B),
    _o("MRT6_TABLE", R.TABLE, "uint32", None, 209),
    _o("MRT6_ADD_MFC_PROXY", R.ADD_MFC_PROXY, "mf6cctl", None, 210),
    _o("MRT6_DEL_MFC_PROXY", R.DEL_MFC_PROXY, "mf6cctl", None, 211),
    _o("MRT6_FLUSH", R.FLUSH, "int", None, 212),
)
BY_NAME: dict[str, OptionSpec] = {o.name: o for o in OPTIONS}


@cache
def option_numbers(abi_name: str, version: int) -> dict[str, int]:
    """Name -> number of every option ``abi_name`` has at ``version``'s routing level."""
    return {o.name: o.numbers[abi_name] for o in OPTIONS if o.version == version and o.available(abi_name)}


@cache
def option_by_number(abi_name: str, version: int, number: int) -> OptionSpec | None:
    """The option ``number`` names at ``version``'s routing level under ``abi_name`` (the first
    listed when two names share a number, as FreeBSD's MRT_ASSERT and MRT_PIM do)."""
    return next((o for o in OPTIONS if o.version == version and o.numbers.get(abi_name) == number), None)


def option_names(version: int) -> dict[str, str]:
    """Role -> option name at ``version`` (the same in every ABI)."""
    return {o.role: o.name for o in OPTIONS if o.version == version}


@dataclass(frozen=True)
class SocketOption:
    """A socket option outside the routing tables that the harness sets: its (level, number) per ABI.

    The numbers differ between systems (SOL_SOCKET is 1 on Linux, 0xffff on the BSDs), so they are
    part of an ABI like the routing options: a target is handed its profile's numbers unchanged.
    """

    name: str
    numbers: Mapping[str, tuple[int, int]]  # ABI name -> (level, option number)
    payload: str  # the struct the option takes

    def number(self, abi_name: str) -> tuple[int, int]:
        return self.numbers[abi_name]


def _bsd_linux(name: str, bsd: tuple[int, int], linux: tuple[int, int], payload: str = "int") -> SocketOption:
    # NetBSD numbers these as FreeBSD does (both inherit sys/socket.h, netinet/in.h, netinet6/in6.h
    # and netinet/icmp6.h from 4.4BSD and KAME)
    return SocketOption(name, {BSD: bsd, NETBSD_ABI: bsd, LINUX: linux}, payload)


_SOL_SOCKET_BSD, _SOL_SOCKET_LINUX = 0xFFFF, 1
# Sources: FreeBSD sys/sys/socket.h (SOL_SOCKET 0xffff, SO_RCVBUF 0x1002), sys/netinet/in.h
# (IP_MULTICAST_LOOP 11), sys/netinet6/in6.h (IPV6_MULTICAST_LOOP 11), sys/netinet/icmp6.h
# (ICMP6_FILTER 18); Linux include/uapi/asm-generic/socket.h (SOL_SOCKET 1, SO_RCVBUF 8),
# include/uapi/linux/in.h (IP_MULTICAST_LOOP 34), include/uapi/linux/in6.h (IPV6_MULTICAST_LOOP 19),
# include/uapi/linux/icmpv6.h (ICMPV6_FILTER 1); IP_ADD_MEMBERSHIP FreeBSD 12, Linux 35 and
# IPV6_JOIN_GROUP FreeBSD 12, Linux 20 (IPV6_ADD_MEMBERSHIP) in the same in.h / in6.h headers.
SOCKET_OPTIONS: tuple[SocketOption, ...] = (
    _bsd_linux("SO_RCVBUF", (_SOL_SOCKET_BSD, 0x1002), (_SOL_SOCKET_LINUX, 8)),
    _bsd_linux("IP_MULTICAST_LOOP", (IPPROTO_IP, 11), (IPPROTO_IP, 34)),
    _bsd_linux("IPV6_MULTICAST_LOOP", (IPPROTO_IPV6, 11), (IPPROTO_IPV6, 19)),
    _bsd_linux("ICMP6_FILTER", (IPProto.IPPROTO_ICMPV6, 18), (IPProto.IPPROTO_ICMPV6, 1), "icmp6_filter"),
    # a routing daemon joins the IGMPv3 / MLDv2 report groups on its routing socket
    _bsd_linux("IP_ADD_MEMBERSHIP", (IPPROTO_IP, 12), (IPPROTO_IP, 35), "ip_mreq"),
    _bsd_linux("IPV6_JOIN_GROUP", (IPPROTO_IPV6, 12), (IPPROTO_IPV6, 20), "ipv6_mreq"),
)
SOCKET_OPTIONS_BY_NAME: dict[str, SocketOption] = {o.name: o for o in SOCKET_OPTIONS}


def socket_option(abi_name: str, name: str) -> tuple[int, int]:
    """(level, number) of socket option ``name`` under ``abi_name``."""
    return SOCKET_OPTIONS_BY_NAME[name].number(abi_name)


@cache
def socket_option_by_number(abi_name: str, level: int, number: int) -> SocketOption | None:
    """The socket option (level, ``number``) names under ``abi_name``, if it is one of the table's."""
    return next((o for o in SOCKET_OPTIONS if o.numbers.get(abi_name) == (level, number)), None)


def markdown_table() -> str:
    """The option table as Markdown (docs/spec/options.md is this, checked by tests/test_spec_constants.py)."""
    abis = sorted({abi for o in OPTIONS for abi in o.numbers})
    head = ["option", "level", "role", "set/get", "payload", *abis]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for o in OPTIONS:
        direction = {Direction.SET: "set", Direction.GET: "get", Direction.BOTH: "set, get"}[o.direction]
        payloads = {o.payload_for(abi) for abi in o.numbers} or {o.payload}
        payload = " / ".join(f"`{p}`" if p else "none" for p in sorted(payloads, key=str))
        numbers = [str(o.numbers[abi]) if abi in o.numbers else "—" for abi in abis]
        rows.append(f"| {o.name} | {o.level.name} | {o.role.value} | {direction} | {payload} | " + " | ".join(numbers) + " |")
    rows += ["", "Socket options outside the routing tables that the harness sets (a profile's required set-up,",
             "the IPv6 routing socket's ICMPv6 filter), as (level, number) per ABI:", "",
             "| option | payload | " + " | ".join(abis) + " |", "|" + "---|" * (len(abis) + 2)]
    for so in SOCKET_OPTIONS:
        cells = ["(" + ", ".join(f"{n:#x}" if n > 255 else str(n) for n in so.numbers[abi]) + ")"
                 if abi in so.numbers else "—" for abi in abis]
        rows.append(f"| {so.name} | `{so.payload}` | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
