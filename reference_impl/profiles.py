"""Profiles: every fact that differs between implementations, as data.

The model and the suite read these; no code branches on a profile's name. ``documented`` follows
the spec text (docs/spec/api.md) and FreeBSD's code where the text is silent; ``freebsd`` is the
modern FreeBSD code; ``linux`` is Linux ipmr/ip6mr as observed on a real kernel.
"""

from __future__ import annotations

import errno as E
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cache
from typing import Literal, get_args, get_origin, get_type_hints

from mroute_spec.abi import ABIS, IOCTLS, StructDef
from mroute_spec.constants import AF_INET

# Transition re-exports (imports, not definitions): these constants moved to mroute_spec.constants;
# import them from there. The coordinator removes this block once no branch imports them from here.
from mroute_spec.constants import AF_INET6 as AF_INET6
from mroute_spec.constants import IPPROTO_ICMPV6 as IPPROTO_ICMPV6
from mroute_spec.constants import IPPROTO_IGMP as IPPROTO_IGMP
from mroute_spec.constants import IPPROTO_IP as IPPROTO_IP
from mroute_spec.constants import IPPROTO_IPV6 as IPPROTO_IPV6
from mroute_spec.constants import IPPROTO_UDP as IPPROTO_UDP
from mroute_spec.constants import SOCK_DGRAM as SOCK_DGRAM
from mroute_spec.constants import SOCK_RAW as SOCK_RAW
from mroute_spec.constants import SOCK_STREAM as SOCK_STREAM
from mroute_spec.options import BY_NAME, option_by_number, option_numbers, socket_option
from reference_impl import profile_sources

# The closed sets of values a policy field may take: the model `match`es on them with
# `assert_never`, so a new value no handler knows is a type error (and Profile rejects it at runtime).
InitValue = Literal["one", "any", "zero-disables"]
AssertValue = Literal["0-1", "bool", "0-1-strict"]
RateLimitPolicy = Literal["reject", "ignore"]
FirstInterval = Literal["first-packet", "install"]
BorderBitFrom = Literal["register-vif", "parent-vif"]
DelVifRange = Literal["numvifs", "maxvifs"]
VifLookup = Literal["lowest", "highest"]
KeptFor = Literal["below-numvifs", "existing", "all"]
VifHoleCounters = Literal["zeros", "errno"]
MfcLookup = Literal["exact", "star-g"]  # Linux extensions (issue 13)
# what a device going away does to the vifs on it and the MFC (reference_impl/ifremoval.py)
IfRemoval = Literal["delete-vifs", "delete-vifs-expire-parent", "not-modelled"]
BwThresholdFlush = Literal["after-queue", "before-queue", "deferred"]
SetupKind = Literal["sockopt", "sysctl", "condition"]
BwLeqTimer = Literal["per-meter", "wheel"]
ByteCount = Literal["ip-length", "payload"]
# the checks MRT_ADD_VIF / MRT6_ADD_MIF can run, in a profile's order (reference_impl/vifs.py CHECKS)
VifCheck = Literal["index_range", "in_use", "rate_limit", "address", "null_address", "tunnel", "srcrt_tunnel",
                   "register_unique", "flags"]
TableCheck = Literal["busy", "id"]  # MRT_TABLE's checks (reference_impl/kernel.py _set_table)


@dataclass(frozen=True)
class SetupStep:
    """A set-up step a target needs before the suite's verdicts hold on it, with why and the source.

    ``sockopt``: the harness sets ``name`` (SO_RCVBUF, IP_MULTICAST_LOOP, IPV6_MULTICAST_LOOP:
    mroute_spec.constants.SockOpt) to ``value`` on every routing socket of the IP ``versions`` it
    opens; ``sysctl``: a system setting the target's operator applies; ``condition``: a state the
    operator keeps (results.json lists every step).
    """

    kind: SetupKind
    name: str
    value: int
    reason: str
    source: str
    versions: tuple[int, ...] = (4, 6)

    def describe(self) -> dict[str, object]:
        """The step as results.json's target section lists it."""
        return {"kind": self.kind, "name": self.name, "value": self.value, "versions": list(self.versions),
                "reason": self.reason, "source": self.source}


@dataclass(frozen=True, kw_only=True)
class Identity:
    """Which implementation a profile describes."""

    name: str
    description: str


@dataclass(frozen=True, kw_only=True)
class Abi:
    """Binary facts: the ABI (layouts, option and ioctl numbers) and the byte images of messages.

    A deviation run keeps these from the target: another profile's facts are checked over the
    target's own ABI (conformance/report/variants.py)."""

    abi_name: str
    # options (by name) whose optlen must equal the struct size; others accept longer buffers
    exact_optlen: frozenset[str] = frozenset()
    # the range of option numbers the routing code claims (others fall to the generic IP code)
    mrt_range4: tuple[int, int] = (100, 112)
    mrt_range6: tuple[int, int] = (100, 108)
    mrt_version: int = 0x0305
    # upcall images: extra bytes after the IPv4 igmpmsg header copy, total IPv6 upcall length
    upcall4_trailer: int = 0
    upcall6_length: int = 40
    # bytes of the IPv4 trailer a test must never compare, counted from the end of the header copy
    # (its IHL: a packet with options moves the trailer), e.g. Linux's igmphdr csum and group
    upcall4_trailer_undefined: tuple[int, ...] = ()
    # ICMP6_FILTER: a set bit means "block" (Linux) or "pass" (BSD)
    icmp6_filter_set_bit_blocks: bool = False

    @property
    def abi(self) -> dict[str, StructDef]:
        return ABIS[self.abi_name]

    @property
    def options4(self) -> dict[str, int]:
        """IPv4 routing option numbers of this profile's ABI (mroute_spec.options)."""
        return option_numbers(self.abi_name, 4)

    @property
    def options6(self) -> dict[str, int]:
        """IPv6 routing option numbers of this profile's ABI (mroute_spec.options)."""
        return option_numbers(self.abi_name, 6)

    @property
    def ioctls(self) -> dict[str, int]:
        """Counter ioctl request numbers of this profile's ABI."""
        return IOCTLS[self.abi_name]

    def struct(self, name: str) -> StructDef:
        return self.abi[name]

    def sockopt(self, name: str) -> tuple[int, int]:
        """(level, number) of a socket option outside the routing tables (SO_RCVBUF, ICMP6_FILTER...)
        in this profile's ABI (mroute_spec.options.SOCKET_OPTIONS)."""
        return socket_option(self.abi_name, name)

    def arg_struct(self, option: str) -> str | None:
        """The struct an option takes under this profile (None: no argument, or no such option)."""
        spec = BY_NAME.get(option)
        return None if spec is None else spec.payload_for(self.abi_name)

    def option_name(self, family: int, number: int) -> str | None:
        """The name of routing option ``number`` in ``family`` (an AF_*), None if the ABI has none."""
        spec = option_by_number(self.abi_name, 4 if family == AF_INET else 6, number)
        return None if spec is None else spec.name


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What exists: a feature a profile lacks makes its clauses unsupported, never failed."""

    # advanced API (None: MRT_API_SUPPORT fails, advanced clauses are unsupported)
    api_support: int | None = 0x303


@dataclass(frozen=True, kw_only=True)
class Setup:
    """What the harness must set on a target before the suite's verdicts hold there."""

    # set-up the target needs (receive buffer, multicast loopback): the harness applies the socket
    # options, the report lists every step. The model behaves as if all were applied.
    required_setup: tuple[SetupStep, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Facts:
    """Implementation-defined behaviour: each fact belongs to clauses (mroute_spec/catalog/facts.py)
    and names its source (``Profile.sources``); the errno of every failure path is one."""

    # errno name for every failure path; a path absent here means "the call succeeds".
    errnos: dict[str, str]
    maxvifs: int = 32
    maxmifs: int = 64
    # MRT_DONE / close turns MRT_ASSERT and MRT_PIM off (Linux keeps them: they belong to the table)
    done_resets_assert: bool = True
    # MRT_INIT value: "one" (1 required, else errno init.bad_value), "any" (value ignored),
    # "zero-disables" (1 enables, 0 disables like MRT_DONE, others errno init.bad_value)
    init_value: InitValue = "one"
    # MRT_ASSERT value: "0-1" (others succeed without effect), "bool" (stored as !!v),
    # "0-1-strict" (others fail with errno assert.bad_value)
    assert_value: AssertValue = "0-1"
    # MRT_PIM sets MRT_ASSERT as well (Linux) / is an alias of it (FreeBSD, same number)
    pim_sets_assert: bool = True
    # the MRT_PIM value that also sends the whole packet after each WRONGVIF/WRONGMIF, as upcall
    # type 4 (Linux IGMPMSG_WRVIFWHOLE / MRT6MSG_WRMIFWHOLE; taken only when MRT_PIM changes); 0: none
    pim_whole_value: int = 0
    # vifc_threshold applies on the forwarding path in addition to mfcc_ttls (the doc says so)
    vif_threshold_applies: bool = False
    # non-zero vifc_rate_limit: "reject" (errno vif.rate_limit) or "ignore"
    vif_rate_limit: RateLimitPolicy = "reject"
    # pending (NOCACHE) entries
    nocache_queue_depth: int = 3
    nocache_expiry: tuple[float, float] = (1.25, 1.5)  # earliest and latest expiry after the upcall
    # expiry mechanism: a periodic tick (phase set by MRT_INIT) counting down, or None for a
    # one-shot timer at nocache_expiry[0]
    nocache_expiry_tick: float | None = 0.25
    nocache_expiry_ticks: int = 6
    nocache_ttl_le_1_upcall: bool = False  # TTL <= 1 packets of an unknown (S,G) are upcalled
    nocache6_queue_depth: int = 5
    # IPv6 unresolved entries only for arrival on a mif: no NOCACHE, and (Linux ip6_mr_input)
    # no queueing on a pending entry either for a packet from an interface without one
    nocache6_requires_mif: bool = False
    # WRONGVIF
    wrongvif_requires_oif: bool = False  # Linux: arrival vif must be an oif unless MRT_PIM
    wrongvif_requires_parent: bool = True  # the entry's parent vif must exist (Linux: not checked)
    wrongvif_interval: float = 3.0  # per (S,G) rate limit in seconds (strictly more on Linux)
    wrongvif_interval_strict: bool = False  # next upcall needs > interval (Linux) vs >= (FreeBSD)
    wrongmif_rate_limited: bool = False
    counters_include_wrong_if: bool = False  # Linux counts wrong-iif packets in pktcnt/bytecnt
    bw_upcalls_max: int = 128  # the header constant
    bw_message_max: int = 128  # records one IGMPMSG_BW_UPCALL may carry
    bw_flush_at: int = 128  # pending records that make the kernel send at once
    bw_flush_on_leq: bool = False  # a `<=` interval end flushes at once (modern FreeBSD)
    bw_first_interval: FirstInterval = "first-packet"
    border_bit_from: BorderBitFrom = "register-vif"
    tmin: tuple[int, int] = (3, 0)
    # checks of MRT_ADD_VIF / MRT6_ADD_MIF in the order the implementation runs them
    # (FreeBSD MODERN add_vif, docs/spec/freebsd.md §3.3: a null address is refused for every vif,
    # the register vif included; then the address lookup, which the register vif skips)
    add_vif_checks: tuple[VifCheck, ...] = ("index_range", "rate_limit", "null_address", "address", "tunnel", "in_use")
    add_mif_checks: tuple[VifCheck, ...] = ("index_range", "in_use", "address")
    vif_flags_allowed: frozenset[int] | None = None  # None: any flag bits accepted
    # the vifc_flags value that makes vifc_lcl_addr an interface index (Linux VIFF_USE_IFINDEX);
    # 0: none. An unknown index fails with errno vif.bad_pifi
    vif_use_ifindex: int = 0
    mif_flags_allowed: frozenset[int] | None = None
    # MRT_DEL_VIF index bound that gives errno vif.del_range: "numvifs" or "maxvifs"
    del_vif_range: DelVifRange = "numvifs"
    # which vif a packet's arrival interface maps to when several share it
    vif_lookup: VifLookup = "lowest"
    # IPv4 packets arriving on an interface with no vif are not multicast-routed at all
    v4_arrival_needs_vif: bool = False
    # IPv4 packets from 0.0.0.0/8 to a routable group (not 224.0.0.x, not IGMP) are martians the
    # input route drops before multicast routing sees them (Linux: net/ipv4/route.c
    # ip_mc_validate_source, "if (ipv4_is_zeronet(saddr)) { if (!ipv4_is_local_multicast(daddr) &&
    # ip_hdr(skb)->protocol != IPPROTO_IGMP) return -EINVAL;"): a (*,G) entry never counts them
    v4_zeronet_source_dropped: bool = False
    # IGMP (IPv4) and MLD (IPv6) go to the routing socket only and are never multicast-routed
    # (Linux: ip_mr_input hands IGMP to the mroute socket, MLD with Router Alert is delivered locally)
    group_management_not_routed: bool = False
    # ttls kept at MRT_ADD_MFC: for indices "below-numvifs" or only for "existing" vifs
    mfc_ttls_kept_for: KeptFor = "below-numvifs"
    # IPv6: the mf6cc_ifset bits kept at MRT6_ADD_MFC: "all" (FreeBSD stores the whole set and
    # only mifs below nummifs matter when forwarding) or only "existing" mifs (Linux)
    mfc6_ifset_kept_for: KeptFor = "all"
    # IGMPMSG_WHOLEPKT carries the packet with TTL already decremented
    wholepkt_ttl_decremented: bool = True
    # MRT6MSG_WHOLEPKT carries the packet with the hop limit already decremented (FreeBSD
    # decrements it in place before the lookup: docs/spec/freebsd.md §4.8, inferred)
    wholepkt6_hlim_decremented: bool = True
    # counters ioctl on a deleted vif hole: "zeros" or errno counters.vif_hole
    vif_hole_counters: VifHoleCounters = "zeros"
    # --- Linux extensions (issue 13) ---
    # MFC lookup: "exact" (S,G) only, or "star-g" (Linux): an entry with origin 0.0.0.0 / :: is a
    # (*,G) entry and one with origin and group unspecified a (*,*) entry, found after the exact
    # lookup through the arrival vif (ipmr.c ip_mr_input -> ipmr_cache_find_any; ipmr_base.c
    # mr_mfc_find_any / mr_mfc_find_any_parent) and forwarded by ip_mr_forward's (*,G) rules.
    # MRT_ADD_MFC_PROXY / MRT_DEL_MFC_PROXY and MRT_FLUSH exist where the ABI numbers them.
    mfc_lookup: MfcLookup = "exact"
    # MRT_TABLE / MRT6_TABLE (CONFIG_IP_MROUTE_MULTIPLE_TABLES): the bound a table id other than
    # RT_TABLE_DEFAULT (254) must stay below, per family (errno table.bad_id), or None: no multiple
    # tables (errno option.unknown_in_range). ipmr.c ipmr_new_table: 1e9; ip6mr.c: 1e8
    table_id_limit4: int | None = None
    table_id_limit6: int | None = None
    # the id of the default table, the one the default mrule routes packets by and the one exempt
    # from the id limit: IPv4 RT_TABLE_DEFAULT (253: ipmr_rules_init, fib_default_rule_add(ops,
    # 0x7fff, RT_TABLE_DEFAULT)), IPv6 RT6_TABLE_DFLT = RT_TABLE_MAIN (254). MRT_TABLE 254 on IPv4
    # creates the separate table 254, which no rule selects (linux-vm 6.1 and 6.12: nothing forwarded)
    default_table4: int = 253
    default_table6: int = 254
    # the order of MRT_TABLE's checks: "busy" (the socket is its table's routing socket: errno
    # table.busy) and "id" (errno table.bad_id); IPv4 checks busy first, ip6mr the id first
    table_checks4: tuple[TableCheck, ...] = ("busy", "id")
    table_checks6: tuple[TableCheck, ...] = ("id", "busy")
    # a network device with vifs on it goes away (reference_impl/ifremoval.py), per family:
    # "delete-vifs" (Linux ipmr_device_event / ip6mr_device_event: vif_delete, MFC untouched),
    # "delete-vifs-expire-parent" (FreeBSD ip_mroute.c if_detached_event: entries whose parent is
    # the vif expire first), "not-modelled" (the profile does not say)
    interface_removal4: IfRemoval = "not-modelled"
    interface_removal6: IfRemoval = "not-modelled"
    # --- FreeBSD designs (issue 12) ---
    # What bw_flush_at pending records make the kernel do (docs/spec/freebsd.md §6.4). Every flush
    # drains the whole queue into one message, and a record that finds bw_message_max pending is
    # lost, so bw_message_max is both the queue's capacity and the largest message.
    #   "after-queue": the record that makes bw_flush_at pending sends them all, in that call
    #   "before-queue": a record that finds bw_flush_at pending first sends exactly those (LEGACY's
    #       static array of BW_UPCALLS_MAX), then queues itself
    #   "deferred": the record that makes bw_flush_at pending *schedules* a drain (MODERN's taskqueue);
    #       the model runs it at the next clock event (the next advance, or right after the timer
    #       callback that queued the record); a kernel runs it at some later moment
    bw_threshold_flush: BwThresholdFlush = "after-queue"
    # `<=` meters (docs/spec/freebsd.md §6.3): "per-meter": a timer per meter, fixed intervals from
    # the install time (MODERN callout); "wheel": LEGACY's 1 s time wheel: checked at every whole
    # second since MRT_INIT and at every packet, and a packet that takes every configured unit
    # above its threshold restarts the interval
    bw_leq_timer: BwLeqTimer = "per-meter"
    # IPv4 MRT_DEL_MFC of a pending (NOCACHE) entry deletes it and drops its queue (MODERN FreeBSD
    # matches any entry); otherwise only complete entries match (errno mfc.del_absent)
    mfc4_delete_pending: bool = False
    # IPv6: a packet failing RPF on an interface that is no mif still gets a WRONGMIF, with
    # im6_mif = nummifs (FreeBSD ip6_mdq, docs/spec/freebsd.md §4.8); Linux needs an arrival mif
    wrongmif_from_non_mif: bool = False
    # --- NetBSD (issue 12) ---
    # IPv4 WRONGVIF upcalls of one (S,G) are limited to one per wrongvif_interval. NetBSD's ip_mdq
    # computes the gap as last - now (TV_DELTA with its arguments swapped) into an unsigned, so
    # every later packet passes the `> 3 s` test: no limit in practice (docs/spec/netbsd.md §4.3)
    wrongvif_rate_limited: bool = True
    # the bytes IPv4 counters and bw meters add per packet: the whole "ip-length" (FreeBSD, Linux)
    # or the "payload" after the IP header (NetBSD ip_mdq: ip_len - (ip_hl << 2)); IPv6 counts
    # the whole packet everywhere
    byte_count4: ByteCount = "ip-length"

    def errno_of(self, path: str) -> int | None:
        """The errno number this profile gives for a failure path (None: succeeds)."""
        name = self.errnos.get(path)
        return None if name is None else getattr(E, name)


@dataclass(frozen=True, kw_only=True)
class Profile(Facts, Setup, Capabilities, Abi, Identity):
    """Everything implementation-defined, read by the model and by the tests: one value of each
    part (Identity, Abi, Capabilities, Setup, Facts) plus the citation of every value."""

    # where each value comes from: field name (an errno path as "errnos.<path>") -> a citation
    # (docs/spec/<impl>.md §N, or a kernel source file and function); not a fact itself.
    # tests/test_profile_sources.py requires one for every fact, ABI field and errno path.
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Refuse a policy value outside its Literal set (the type checker cannot see a typo in data),
        and in a tuple of them, each item."""
        for name, (allowed, many) in _literal_fields().items():
            value = getattr(self, name)
            for item in value if many else (value,):
                if item not in allowed:
                    what = f"{name}: {item!r}" if many else f"{name} = {item!r}"
                    raise ValueError(f"profile {self.name}: {what} is not one of {', '.join(map(repr, allowed))}")


# What each Profile field is, for the code that treats kinds differently: the deviation pass
# keeps a target's "identity", "abi", "capability" and "setup" fields and swaps its "fact"s
# (conformance/report/variants.py); the recorder records only facts and ABI reads. The kind is
# the part that declares the field, so the two cannot disagree and a new field must pick a part.
FieldKind = Literal["identity", "abi", "capability", "setup", "citation", "fact"]
PARTS: tuple[tuple[type, FieldKind], ...] = (
    (Identity, "identity"), (Abi, "abi"), (Capabilities, "capability"), (Setup, "setup"), (Facts, "fact"),
)
FIELD_KINDS: dict[str, FieldKind] = {
    **{f.name: kind for part, kind in PARTS for f in fields(part)},
    "sources": "citation",
}


def field_kind(name: str) -> FieldKind:
    """The kind of Profile field ``name`` (or of a citation key: "errnos.<path>" is ``errnos``):
    the part that declares it. KeyError: no such field."""
    return FIELD_KINDS[name.partition(".")[0]]


def cited_keys(profile: Profile) -> set[str]:
    """The keys ``profile.sources`` must have: every fact, ABI and capability field, with
    ``errnos`` spelled out as one "errnos.<path>" per path (SetupSteps carry their own source)."""
    keys = {f.name for f in fields(Profile) if field_kind(f.name) in ("abi", "capability", "fact")}
    return (keys - {"errnos"}) | {f"errnos.{path}" for path in profile.errnos}


@cache
def _literal_fields() -> dict[str, tuple[tuple[object, ...], bool]]:
    """Profile fields typed with a Literal, or a tuple of one: their allowed values, and whether a tuple."""
    out: dict[str, tuple[tuple[object, ...], bool]] = {}
    for f in fields(Profile):
        hint = get_type_hints(Profile)[f.name]
        if get_origin(hint) is Literal:
            out[f.name] = (get_args(hint), False)
        elif get_origin(hint) is tuple and get_origin(get_args(hint)[0]) is Literal:
            out[f.name] = (get_args(get_args(hint)[0]), True)
    return out


# the errno path (after "vif." / "mif.") each add-vif check fails with (reference_impl/vifs.py)
CHECK_ERRNOS: dict[str, str] = {
    "index_range": "index_range", "in_use": "in_use", "rate_limit": "rate_limit", "address": "bad_address",
    "null_address": "bad_address", "tunnel": "tunnel", "srcrt_tunnel": "srcrt_tunnel", "register_unique": "in_use",
    "flags": "bad_flags",
}


def missing_errnos(profile: Profile) -> list[str]:
    """Errno paths the profile's own checks can fail with but that it names no errno for (the model
    would have nothing to return): a profile must be complete before a run can trust it."""
    need = {f"vif.{CHECK_ERRNOS[c]}" for c in profile.add_vif_checks}
    need |= {f"mif.{'bad_pifi' if c == 'address' else CHECK_ERRNOS[c]}" for c in profile.add_mif_checks}
    if profile.vif_rate_limit != "reject":
        need.discard("vif.rate_limit")
    if profile.vif_use_ifindex:
        need.add("vif.bad_pifi")
    if profile.table_id_limit4 is not None or profile.table_id_limit6 is not None:
        need |= {f"table.{'bad_id' if c == 'id' else c}" for c in (*profile.table_checks4, *profile.table_checks6)}
    return sorted(need - set(profile.errnos))


_BSD_ERRNOS = {
    "socket.not_raw": "ENOPROTOOPT",  # MRT_* on a UDP/TCP socket: ip_ctloutput default
    "socket.wrong_proto": "EOPNOTSUPP",  # raw socket, protocol not IGMP / ICMPv6
    "socket.non_router": "EPERM",
    "socket6.non_router": "EPERM",
    "socket6.get_non_router": "EACCES",  # X_ip6_mrouter_get: so != V_ip6_mrouter (§3.10)
    "option.short": "EINVAL",
    "option.unknown_in_range": "ENOPROTOOPT",  # rip_ctloutput passes only the named MRT_* on: ip_ctloutput
    "option.unknown": "ENOPROTOOPT",
    "option.wrong_level": "EINVAL",
    "option.get_unsupported": "EOPNOTSUPP",  # getsockopt(MRT_INIT)
    # option6.get_unsupported: none. X_ip6_mrouter_get has no default case: 0, nothing copied out
    "option.set_readonly": "EOPNOTSUPP",  # setsockopt(MRT_VERSION / MRT_API_SUPPORT)
    "init.in_use": "EADDRINUSE",
    "init.bad_value": "ENOPROTOOPT",
    "init6.bad_value": "ENOPROTOOPT",  # ip6_mrouter_init: `v != 1` (§3.10)
    "vif.index_range": "EINVAL",
    "vif.rate_limit": "EINVAL",
    "vif.bad_address": "EADDRNOTAVAIL",
    "vif.tunnel": "EOPNOTSUPP",
    "vif.in_use": "EADDRINUSE",
    "vif.del_range": "EINVAL",
    "vif.del_absent": "EADDRNOTAVAIL",
    "mif.index_range": "EINVAL",
    "mif.in_use": "EADDRINUSE",
    "mif.bad_pifi": "ENXIO",
    "mif.del_range": "EINVAL",
    "mif.del_absent": "EINVAL",
    "mfc.del_absent": "EADDRNOTAVAIL",
    "mfc6.del_absent": "EADDRNOTAVAIL",
    "counters.sg_absent": "EADDRNOTAVAIL",
    "counters.sg6_absent": "ESRCH",
    "counters.vif_range": "EINVAL",
    "counters.mif_range": "EINVAL",
    "ioctl.unknown": "EINVAL",  # 'r' group: rtioctl_fib -> mrt_ioctl default
    "ioctl6.unknown": "EOPNOTSUPP",  # in6_control: not a counter ioctl, no interface
    "api.not_first": "EPERM",
    "bw.not_negotiated": "EOPNOTSUPP",
    "bw.bad_unit": "EINVAL",
    "bw.bad_operator": "EINVAL",
    "bw.tmin": "EINVAL",
    "bw.no_entry": "EADDRNOTAVAIL",
    "bw.del_nomatch": "EINVAL",
    "mif6.pim_bad_value": "EINVAL",
}

# Receive buffer for the largest bw batch: 20 + 80 * 1023 bytes, with room for other upcalls.
ROUTING_RCVBUF = 1 << 18
_BSD_SETUP = (
    SetupStep("sockopt", "SO_RCVBUF", ROUTING_RCVBUF,
              "the raw socket's default receive buffer (net.inet.raw.recvspace, 9216 bytes) is smaller "
              "than one bw batch; an upcall that does not fit is lost whole (mrts_upq_sockfull)",
              "docs/spec/freebsd.md §4.7 (digest L684-L686)"),
    SetupStep("sysctl", "net.inet.ip.mcast.loop", 0,
              "forwarded copies are looped back (send_packet sets imo_multicast_loop from this sysctl) on "
              "an outgoing interface where the router host is a member of the group, and counted as "
              "wrong-interface arrivals (wrong_if, WRONGVIF); the model assumes no loopback",
              "docs/spec/freebsd.md §4.6 (digest L628-L661, marked inferred)"),
    SetupStep("sockopt", "IP_MULTICAST_LOOP", 0,
              "packets the IPv4 routing socket itself sends are not looped back into the data path",
              "docs/spec/freebsd.md §4.1 (digest L541-L546)", (4,)),
    SetupStep("sockopt", "IPV6_MULTICAST_LOOP", 0,
              "packets the IPv6 routing socket itself sends are not looped back into the data path "
              "(ip6_output loops them through ip6_input)",
              "docs/spec/freebsd.md §4.8 (digest L693-L695)", (6,)),
)

FREEBSD = Profile(
    sources=profile_sources.FREEBSD,
    name="freebsd",
    description="Modern FreeBSD ip_mroute.c / ip6_mroute.c (after the 2021 rework), amd64",
    abi_name="bsd-amd64",
    errnos=_BSD_ERRNOS,
    maxmifs=64,
    nocache_queue_depth=3,
    bw_upcalls_max=1024,
    bw_message_max=1023,  # the buf_ring of BW_UPCALLS_MAX holds one less
    bw_flush_at=513,  # "more than BW_UPCALLS_MAX / 2"
    bw_flush_on_leq=True,
    bw_threshold_flush="deferred",  # a taskqueue drains the whole ring later (§6.4)
    bw_first_interval="install",
    border_bit_from="parent-vif",
    required_setup=_BSD_SETUP,
    mfc4_delete_pending=True,  # del_mfc looks up any entry, pending included (§3.5)
    wrongmif_from_non_mif=True,
    # ip_mroute.c if_detached_event: expire_mfc(rt) for mfc_parent == vifi, then del_vif_locked;
    # IPv6 (ip6_mroute.c) not read yet: not modelled
    interface_removal4="delete-vifs-expire-parent",
)

# The pre-2021 design (FreeBSD 8.x-13.0): docs/spec/freebsd.md §0 LEGACY; only the differences.
FREEBSD_LEGACY = replace(
    FREEBSD,
    sources=profile_sources.FREEBSD_LEGACY,
    name="freebsd-legacy",
    description="FreeBSD ip_mroute.c before the 2021 rework (8.x-13.0, LEGACY), amd64",
    nocache_queue_depth=5,  # `mfc_nstall > MAX_UPQ` (4): 5 queued (§1.7, §4.3)
    add_vif_checks=("index_range", "rate_limit", "in_use", "null_address", "address", "tunnel"),  # §3.3 LEGACY order
    mfc4_delete_pending=False,  # del_mfc uses mfc_find: complete entries only (§3.5)
    bw_upcalls_max=128,  # §1.6
    bw_message_max=128,  # a static array of 128 records
    bw_flush_at=128,
    bw_threshold_flush="before-queue",  # a record finding 128 pending sends exactly those first (§6.4)
    bw_flush_on_leq=False,  # flushes at the end of each 1 s bw_meter_process run instead (§6.3)
    bw_leq_timer="wheel",  # 1 s buckets, restart on exceeding (§6.3)
    required_setup=(
        _BSD_SETUP[0],
        SetupStep("condition", "no local membership of test groups on the router", 1,
                  "LEGACY send_packet always sets imo_multicast_loop, so a forwarded copy is looped back "
                  "(and counted as a wrong-interface arrival) wherever the router host is a member of the "
                  "group on the outgoing interface; no sysctl turns it off",
                  "docs/spec/freebsd.md §4.6 (digest L636, L641-L651, inferred)"),
        *_BSD_SETUP[2:],
    ),
)

# NetBSD (ip_mroute.c 1.154, ip6_mroute.c 1.110, raw_ip.c, raw_ip6.c, uipc_socket.c; a kernel
# built with `options MROUTING` and `options PIM`): docs/spec/netbsd.md, every fact with its §.
# The bandwidth-upcall design is FreeBSD's LEGACY one, so the profile starts from freebsd-legacy.
NETBSD = replace(
    FREEBSD_LEGACY,
    sources=profile_sources.NETBSD,
    name="netbsd",
    description="NetBSD ip_mroute.c / ip6_mroute.c (MROUTING + PIM kernel), amd64",
    abi_name="netbsd-amd64",  # FreeBSD's layouts, SIOCGETVIFCNT/SIOCGETSGCNT _IOWR('u', 51/52) (§2)
    # FreeBSD's if_detached_event hook is FreeBSD's own; NetBSD's if_detach path is not read yet
    interface_removal4="not-modelled",
    errnos={
        "socket.not_raw": "ENOPROTOOPT",  # udp_ctloutput -> ip_ctloutput default (§3.1)
        "socket.wrong_proto": "EOPNOTSUPP",  # ip_mrouter_init / ip6_mrouter_init (§3.2)
        "socket.non_router": "ENOPROTOOPT",  # ip_mrouter_set: so != ip_mrouter (§3.1)
        "socket.get_non_router": "ENOPROTOOPT",  # ip_mrouter_get: so != ip_mrouter (§3.1)
        "socket6.non_router": "EACCES",  # ip6_mrouter_set (§3.10)
        "socket6.get_non_router": "EACCES",  # ip6_mrouter_get (§3.10)
        "option.short": "EINVAL",  # sockopt_get: sopt_size != len (§3.3)
        "option.unknown_in_range": "ENOPROTOOPT",  # rip_ctloutput routes only named MRT_* (§3.1)
        "option.unknown": "ENOPROTOOPT",  # ip_ctloutput default
        "option.wrong_level": "ENOPROTOOPT",  # rip_ctloutput -> ip_ctloutput: level != IPPROTO_IP
        "option.get_unsupported": "ENOPROTOOPT",  # getsockopt(MRT_INIT): ip_ctloutput (IPv4; §3.1)
        "option6.get_unsupported": "EOPNOTSUPP",  # ip6_mrouter_get default (§3.10)
        "option.set_readonly": "ENOPROTOOPT",  # setsockopt(MRT_VERSION): ip_ctloutput (§3.1)
        "init.in_use": "EADDRINUSE",
        "init.bad_value": "EINVAL",  # ip_mrouter_init: `v != 1` (§3.2)
        "init6.bad_value": "ENOPROTOOPT",  # ip6_mrouter_init: `v != 1` (§3.10)
        "vif.index_range": "EINVAL",
        "vif.bad_address": "EADDRNOTAVAIL",
        "vif.in_use": "EADDRINUSE",
        "vif.srcrt_tunnel": "EOPNOTSUPP",  # add_vif: VIFF_TUNNEL|VIFF_SRCRT (§3.12)
        "vif.del_range": "EINVAL",
        "vif.del_absent": "EADDRNOTAVAIL",
        "mif.index_range": "EINVAL",
        "mif.in_use": "EADDRINUSE",
        "mif.bad_pifi": "ENXIO",
        "mif.del_range": "EINVAL",
        "mif.del_absent": "EINVAL",
        "mfc.del_absent": "EADDRNOTAVAIL",
        "mfc6.del_absent": "EADDRNOTAVAIL",
        "counters.sg_absent": "EADDRNOTAVAIL",
        "counters.sg6_absent": "ESRCH",
        "counters.vif_range": "EINVAL",
        "counters.mif_range": "EINVAL",
        "ioctl.unknown": "ENOTTY",  # rip_ioctl -> in_control, never mrt_ioctl (§3.8)
        "ioctl6.unknown": "EOPNOTSUPP",  # rip6_ioctl -> in6_control1: no interface (§3.8)
        "api.not_first": "EPERM",
        "bw.not_negotiated": "EOPNOTSUPP",
        "bw.bad_unit": "EINVAL",
        "bw.bad_operator": "EINVAL",
        "bw.tmin": "EINVAL",
        "bw.no_entry": "EADDRNOTAVAIL",
        "bw.del_nomatch": "EINVAL",
        "mif6.pim_bad_value": "EINVAL",
    },
    # sockopt_get / sockopt_getint require sopt_size == the struct size for every option (§3.3)
    exact_optlen=frozenset({"MRT_INIT", "MRT_ADD_VIF", "MRT_DEL_VIF", "MRT_ADD_MFC", "MRT_DEL_MFC",
                            "MRT_ASSERT", "MRT_PIM", "MRT_API_CONFIG", "MRT_ADD_BW_UPCALL",
                            "MRT_DEL_BW_UPCALL", "MRT6_INIT", "MRT6_ADD_MIF", "MRT6_DEL_MIF",
                            "MRT6_ADD_MFC", "MRT6_DEL_MFC", "MRT6_PIM"}),
    assert_value="bool",  # set_assert: pim_assert = !!i (§3.6)
    vif_rate_limit="ignore",  # accepted (and shaped by a token bucket the model omits) (§3.4)
    # add_vif: index, 0.0.0.0 address, slot in use, interface lookup; VIFF_TUNNEL is accepted, a
    # source-routed one (VIFF_TUNNEL|VIFF_SRCRT) refused after the lookup (§3.4, §3.12)
    add_vif_checks=("index_range", "null_address", "in_use", "address", "srcrt_tunnel"),
    wrongvif_rate_limited=False,  # §4.3
    byte_count4="payload",  # §4.4
    required_setup=(
        SetupStep("condition", "kernel with options MROUTING and options PIM", 1,
                  "GENERIC kernels leave multicast routing out (the MRT_* options then fall to "
                  "ip_ctloutput: ENOPROTOOPT); without PIM there is no register vif and no PIM input",
                  "docs/spec/netbsd.md §1"),
        SetupStep("sockopt", "SO_RCVBUF", ROUTING_RCVBUF,
                  "an upcall that does not fit the routing socket's receive buffer is dropped whole "
                  "(socket_send: mrts_upq_sockfull); a full bw batch is 20 + 80 * 128 bytes",
                  "docs/spec/netbsd.md §4.6"),
        SetupStep("condition", "no local membership of test groups on the router", 1,
                  "forwarded copies are looped back to the router where it is a member of the group on "
                  "the outgoing interface (phyint_send -> ip_output with IP_MULTICASTOPTS) and then "
                  "counted as wrong-interface arrivals",
                  "docs/spec/netbsd.md §4.6 (inferred)"),
        *_BSD_SETUP[2:],
    ),
)

DOCUMENTED = replace(
    FREEBSD,
    sources=profile_sources.DOCUMENTED,
    name="documented",
    description="multicast(4) as written; FreeBSD's code where the text is silent",
    init_value="zero-disables",
    vif_threshold_applies=True,
    nocache_queue_depth=4,  # MAX_UPQ, the header's stated bound
    bw_upcalls_max=128,
    bw_message_max=128,
    bw_flush_at=128,
    bw_flush_on_leq=False,
    bw_threshold_flush="after-queue",  # "delivered when there are 128 pending upcalls"
    bw_first_interval="first-packet",
    border_bit_from="register-vif",
    required_setup=(),  # the text names no set-up; FreeBSD's is the freebsd profiles'
    interface_removal4="not-modelled",  # multicast(4) says nothing about a departing interface
)

LINUX = Profile(
    sources=profile_sources.LINUX,
    name="linux",
    description="Linux ipmr / ip6mr (6.12-6.18), x86_64",
    abi_name="linux-amd64",
    errnos={
        "socket.not_raw": "EOPNOTSUPP",
        "socket.wrong_proto": "EOPNOTSUPP",
        "option.short": "EINVAL",
        "option.unknown_in_range": "ENOPROTOOPT",
        "option.unknown": "ENOPROTOOPT",
        "option.wrong_level": "ENOPROTOOPT",
        "option.get_unsupported": "ENOPROTOOPT",
        "option6.get_unsupported": "ENOPROTOOPT",
        "option.set_readonly": "ENOPROTOOPT",
        "init.in_use": "EADDRINUSE",
        "vif.index_range": "ENFILE",
        "vif.bad_address": "EADDRNOTAVAIL",
        "vif.tunnel": "ENOBUFS",
        "vif.in_use": "EADDRINUSE",
        "vif.del_range": "ENFILE",
        "vif.del_absent": "EADDRNOTAVAIL",
        "mif.index_range": "ENFILE",
        "mif.in_use": "EADDRINUSE",
        "mif.bad_pifi": "EADDRNOTAVAIL",
        "vif.bad_pifi": "EADDRNOTAVAIL",  # VIFF_USE_IFINDEX with no such interface
        "mif.del_range": "EADDRNOTAVAIL",
        "mif.del_absent": "EADDRNOTAVAIL",
        "mfc.del_absent": "ENOENT",
        "mfc6.del_absent": "ENOENT",
        "mfc.parent_range": "ENFILE",
        "mfc.bad_group": "EINVAL",
        "counters.sg_absent": "EADDRNOTAVAIL",
        "counters.sg6_absent": "EADDRNOTAVAIL",
        "counters.vif_range": "EINVAL",
        "counters.mif_range": "EINVAL",
        "counters.vif_hole": "EADDRNOTAVAIL",
        "vif.bad_flags": "EINVAL",
        "mif.bad_flags": "EINVAL",
        "done.non_router": "EACCES",
        "ioctl.unknown": "ENOTTY",
        "ioctl6.unknown": "ENOTTY",
        "table.busy": "EBUSY",  # MRT_TABLE on the routing socket of its table
        "table.bad_id": "EINVAL",
    },
    exact_optlen=frozenset({"MRT_INIT", "MRT_ADD_VIF", "MRT_DEL_VIF", "MRT_ADD_MFC", "MRT_DEL_MFC",
                            "MRT_ASSERT", "MRT_PIM", "MRT6_ASSERT", "MRT6_PIM",
                            # ip_mroute_setsockopt / ip6_mroute_setsockopt: `optlen != sizeof`
                            "MRT_ADD_MFC_PROXY", "MRT_DEL_MFC_PROXY", "MRT_FLUSH", "MRT6_FLUSH",
                            "MRT_TABLE", "MRT6_TABLE"}),
    mrt_range4=(200, 212),
    mrt_range6=(200, 212),
    maxmifs=32,
    init_value="any",
    done_resets_assert=False,
    assert_value="bool",
    pim_whole_value=4,
    vif_rate_limit="ignore",
    nocache_queue_depth=4,
    nocache_expiry=(10.0, 10.5),
    nocache_ttl_le_1_upcall=True,
    nocache6_queue_depth=4,
    nocache6_requires_mif=True,
    wrongvif_requires_oif=True,
    wrongvif_requires_parent=False,
    wrongvif_interval_strict=True,
    wrongmif_rate_limited=True,
    counters_include_wrong_if=True,
    upcall4_trailer=8,
    upcall6_length=80,
    upcall4_trailer_undefined=(2, 3, 4, 5, 6, 7),  # the igmphdr type (the msgtype) and code (0) are written
    icmp6_filter_set_bit_blocks=True,
    api_support=None,
    vif_hole_counters="errno",
    nocache_expiry_tick=None,
    # vif_add / mif6_add: busy index, then an exact switch on the flags (unknown values EINVAL,
    # REGISTER: EADDRINUSE when the table has a register vif already)
    add_vif_checks=("index_range", "in_use", "flags", "register_unique", "tunnel", "address"),
    add_mif_checks=("index_range", "in_use", "flags", "register_unique", "address"),
    vif_flags_allowed=frozenset({0, 0x1, 0x4, 0x8}),
    vif_use_ifindex=0x8,
    mif_flags_allowed=frozenset({0, 0x1}),
    del_vif_range="maxvifs",
    vif_lookup="highest",
    v4_arrival_needs_vif=True,
    v4_zeronet_source_dropped=True,
    group_management_not_routed=True,
    mfc_ttls_kept_for="existing",
    mfc6_ifset_kept_for="existing",
    wholepkt_ttl_decremented=False,
    wholepkt6_hlim_decremented=False,
    mfc_lookup="star-g",
    table_id_limit4=1_000_000_000,
    table_id_limit6=100_000_000,
    # ipmr_device_event / ip6mr_device_event (NETDEV_UNREGISTER): vif_delete / mif6_delete only
    interface_removal4="delete-vifs",
    interface_removal6="delete-vifs",
)

PROFILES: dict[str, Profile] = {p.name: p for p in (DOCUMENTED, FREEBSD, FREEBSD_LEGACY, NETBSD, LINUX)}


def get_profile(name: str) -> Profile:
    """The named profile; ``KeyError`` lists the valid names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; valid profiles: {', '.join(PROFILES)}") from None
