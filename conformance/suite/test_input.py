"""input.*: bad input must fail cleanly and leave the router exactly as it was.

"Changes nothing" is observed through behaviour, never through the failing call itself: the
router keeps a known state (vifs 0 and 1, one (S,G) forwarding from vif 0 to vif 1, asserts and
PIM off) and every buffer used here is a *valid* argument cut short or sent the wrong way, chosen
so that acting on it would be visible: add vif 2, delete vif 1, move the (S,G)'s copy to vif 2,
delete the (S,G), switch assert/PIM on, or negotiate the advanced API.

Packets are malformed by editing the bytes of a valid scapy-built packet (the one place the suite
needs bytes no packet library will build); every other argument is packed by the profile's ABI.
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from conformance.harness import Harness
from conformance.harness.packets import mac_str, marker_of
from conformance.harness.routing import RoutingSocket
from mroute_spec.constants import (
    BW_UPCALL_GEQ,
    BW_UPCALL_UNIT_PACKETS,
    ETH_P_IP,
    ETH_P_IPV6,
    IPPROTO_IP,
    IPPROTO_IPV6,
)
from mroute_spec.options import BY_NAME, Direction
from reference_impl.packets import inet_checksum, multicast_mac

ETHERTYPE = {4: ETH_P_IP, 6: ETH_P_IPV6}
VIF_RANGE = {4: "counters.vif_range", 6: "counters.mif_range"}
SWITCHES = ("assert", "pim", "api_config")  # readable on/off state a misread buffer could flip
LEVEL = {4: IPPROTO_IP, 6: IPPROTO_IPV6}
# IPv6 has no header checksum (and forwarding checks no transport checksum): no "bad-checksum" there
MALFORMATIONS = {4: ("truncated", "bad-checksum", "bad-version", "bad-length", "bad-option"),
                 6: ("truncated", "bad-version", "bad-length")}
HYPOTHESIS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def fresh(h: Harness) -> Harness:
    """A pristine target and harness (hypothesis runs many examples inside one test)."""
    h.target.reset()
    return Harness(h.target)


# -- the known state and the proof that it did not change ----------------------------------------
@dataclass
class Known:
    """A router in a known state: vifs 0-1, (src, grp) forwarding 0 -> 1, switches as read."""

    h: Harness
    r: RoutingSocket
    src: str
    grp: str
    switches: dict[str, int] = field(default_factory=dict)
    numbers: itertools.count = field(default_factory=lambda: itertools.count(100))

    @property
    def v(self) -> int:
        return self.r.version


def options(h, v: int) -> dict[str, int]:
    return h.profile.options4 if v == 4 else h.profile.options6


def known_router(h, v: int) -> Known:
    r = h.router(v, vifs=(0, 1))
    k = Known(h, r, h.src(v, 0, 1), h.group(v, 1))
    r.add_mfc(k.src, k.grp, 0, {1: 1})
    for role in SWITCHES:
        if r.family.names.get(role) not in options(h, v):
            continue
        if role != "api_config":
            r.set_int(role, 0)  # Linux keeps assert/PIM across routers: start from off
        try:
            k.switches[role] = r.get_int(role)
        except OSError:
            pass  # not readable on this target (Linux has no MRT_API_CONFIG)
    return k


def expect_unchanged(k: Known, what: str) -> None:
    """The (S,G) still goes 0 -> 1 only, the router still upcalls, no vif 2, switches as they were."""
    h, r, v = k.h, k.r, k.v
    pkt = h.packet(v, k.src, k.grp)
    n = next(k.numbers)
    probe = (h.src(v, 0, n % 200), h.group(v, n))
    h.send(0, pkt)
    h.send(0, h.packet(v, *probe))

    mark = marker_of(bytes(pkt))
    copies = {p: sum(marker_of(f.payload) == mark for f in frames) for p, frames in h.all_frames().items()}
    expected = {p: int(p == 1) for p in copies}
    assert copies == expected, f"{what}: ({k.src}, {k.grp}) copies per port expected {expected}, got {copies}"
    got = [(u.kind, u.vif, u.src, u.dst) for u in r.upcalls()]
    assert got == [("NOCACHE", 0, *probe)], (
        f"{what}: expected only the NOCACHE of the probe {probe} on vif 0, got {got}")
    with h.raises(VIF_RANGE[v], f"{what}: vif 2 must not exist"):
        r.vif_count(2)
    now = {role: r.get_int(role) for role in k.switches}
    assert now == k.switches, f"{what}: switches expected {k.switches}, got {now}"


# -- option buffers ------------------------------------------------------------------------------
def settable(h, v: int) -> dict[str, int]:
    """Every option of the profile that takes an argument struct, one name per option number."""
    out: dict[str, int] = {}
    for name, number in options(h, v).items():
        if h.profile.arg_struct(name) is not None and number not in out.values():
            out[name] = number
    return out


def role_of(r: RoutingSocket, name: str) -> str:
    return next(role for role, n in r.family.names.items() if n == name)


def full_argument(k: Known, name: str) -> bytes:
    """A valid, complete argument for ``name`` whose effect on the known state would be visible."""
    h, r = k.h, k.r
    role = role_of(r, name)
    arg = h.profile.arg_struct(name)
    assert arg is not None, f"{name} takes no argument"
    sdef = h.profile.struct(arg)
    if role == "add_vif":
        return r.vif_args(2, 2)
    if role == "del_vif":
        return sdef.pack(**{sdef.fields[0].name: 1})  # vifi_t, mifi_t or vifctl: the index comes first
    if role == "add_mfc":
        return r.mfc_args(k.src, k.grp, 0, {2: 1})
    if role == "del_mfc":
        if k.v == 4:
            return sdef.pack(mfcc_origin=k.src, mfcc_mcastgrp=k.grp)
        return sdef.pack(mf6cc_origin=k.src, mf6cc_mcastgrp=k.grp)
    if role in ("add_bw", "del_bw"):
        return sdef.pack(bu_src=k.src, bu_dst=k.grp, bu_flags=BW_UPCALL_UNIT_PACKETS | BW_UPCALL_GEQ,
                         bu_threshold_time=(3, 0), bu_threshold_packets=1)
    if role == "api_config":
        return sdef.pack(value=h.profile.api_support or 0)
    if role in ("add_mfc_proxy", "del_mfc_proxy"):  # Linux: the MFC argument, parent part of the key
        return r.mfc_args(k.src, k.grp, 0, {2: 1})
    if role == "flush":  # Linux MRT_FLUSH: every dynamic and static vif and entry
        return sdef.pack(value=15)
    if role == "table":  # Linux MRT_TABLE: another table
        return sdef.pack(value=5)
    return sdef.pack(value=1)  # MRT_INIT, MRT_ASSERT, MRT_PIM


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("input.short-optlen")
def test_every_short_length_of_every_settable_option_fails_with_einval_and_changes_nothing(h, v):
    k = known_router(h, v)

    for name, number in settable(h, v).items():
        full = full_argument(k, name)
        for length in range(len(full)):
            with h.raises("option.short", f"{name} ({number}) with optlen {length} of {len(full)}"):
                k.r.set_raw(role_of(k.r, name), full[:length])
        expect_unchanged(k, f"after every short {name}")


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("input.short-optlen")
@HYPOTHESIS
@given(data=st.data())
def test_short_raw_buffers_fail_with_einval_and_change_nothing(h, v, data):
    h = fresh(h)
    k = known_router(h, v)
    name = data.draw(st.sampled_from(sorted(settable(h, v))), label="option")
    full = full_argument(k, name)
    length = data.draw(st.integers(0, len(full) - 1), label="optlen")
    buf = data.draw(st.one_of(st.just(full[:length]), st.binary(min_size=length, max_size=length)), label="buffer")

    with h.raises("option.short", f"{name} with {length} of {len(full)} bytes: {buf.hex()}"):
        k.r.set_raw(role_of(k.r, name), buf)

    expect_unchanged(k, f"after the short {name}")


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("input.unknown-option")
def test_unknown_option_numbers_fail_and_change_nothing(h, v):
    k = known_router(h, v)
    lo, hi = h.profile.mrt_range4 if v == 4 else h.profile.mrt_range6
    unknown = {hi + 1: "option.unknown", hi + 11: "option.unknown"}
    if v == 4:  # numbers inside the routing range that name no option (FreeBSD: 108)
        # (IPv6 is left out: FreeBSD's rip6_ctloutput routes only named MRT6 options, so its
        # errno for the gaps is not the routing code's and is not established)
        unknown |= {n: "option.unknown_in_range" for n in range(lo, hi + 1) if n not in options(h, v).values()}
    one = h.profile.struct("int").pack(value=1)

    for number, path in sorted(unknown.items()):
        with h.raises(path, f"setsockopt option {number}"):
            h.target.setsockopt(k.r.sock, LEVEL[v], number, one)
        with h.raises(path, f"getsockopt option {number}"):
            h.target.getsockopt(k.r.sock, LEVEL[v], number, 4)

    expect_unchanged(k, f"after options {sorted(unknown)}")


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("input.wrong-family")
def test_the_other_familys_options_on_a_routing_socket_are_refused_and_change_nothing(h, v):
    w = 10 - v  # the other family
    k = known_router(h, v)
    other = known_router(h, w)
    foreign = {name: number for name, number in options(h, w).items()}

    for name, number in sorted(foreign.items()):
        arg = h.profile.arg_struct(name)
        buf = full_argument(other, name) if arg is not None else h.profile.struct("int").pack(value=1)
        with h.raises("option.wrong_level", f"IPv{w} option {name} ({number}) on the IPv{v} routing socket"):
            h.target.setsockopt(k.r.sock, LEVEL[w], number, buf)

    expect_unchanged(k, f"the IPv{v} router, after IPv{w} options were issued on its socket")
    expect_unchanged(other, f"the IPv{w} router, after its options were issued on the IPv{v} socket")


# -- malformed packets ---------------------------------------------------------------------------
def with_header_checksum(b: bytearray) -> bytearray:
    b[10:12] = b"\0\0"
    b[10:12] = inet_checksum(bytes(b[:20])).to_bytes(2, "big")
    return b


def malform(data, v: int, ip: bytes) -> tuple[str, bytes]:
    """One defect, drawn by hypothesis, in an otherwise valid IP packet (the IPv4 header checksum
    is recomputed unless the checksum is the defect)."""
    kind = data.draw(st.sampled_from(MALFORMATIONS[v]), label="defect")
    b = bytearray(ip)
    if kind == "truncated":  # cut short of the length the header announces
        return kind, bytes(b[: data.draw(st.integers(0, len(b) - 1), label="cut to")])
    if kind == "bad-checksum":
        b[10:12] = (int.from_bytes(b[10:12], "big") ^ data.draw(st.integers(1, 0xFFFF), label="xor")).to_bytes(2, "big")
        assume(inet_checksum(bytes(b[:20])) != 0)  # 0x0000 and 0xFFFF are the same checksum
        return kind, bytes(b)
    if kind == "bad-option":  # an option whose length byte is below 2 or runs past the header
        # (option 0x5e, as in the Register tests): after 0-3 NOPs, with a bad length or, last, none
        nops = data.draw(st.integers(0, 3), label="leading NOPs")
        length = data.draw(st.sampled_from([0, 1, 5, 9, 40]), label="option length")
        opts = (bytes([1] * nops) + bytes([0x5E, length, 0xAB, 0xCD]))[:4]
        hl = (b[0] & 0x0F) * 4
        b = bytearray(b[:hl]) + opts + b[hl:]
        b[0] = 0x40 | (hl + 4) // 4
        b[2:4] = (len(b)).to_bytes(2, "big")
        b[10:12] = b"\0\0"
        b[10:12] = inet_checksum(bytes(b[: hl + 4])).to_bytes(2, "big")  # over the whole, longer header
        return kind, bytes(b)
    if kind == "bad-version":
        b[0] = data.draw(st.integers(0, 15).filter(lambda x: x != v), label="version") << 4 | b[0] & 0x0F
    elif v == 6:  # a payload length beyond the data (a shorter one is a valid, trimmed packet)
        b[4:6] = data.draw(st.integers(len(b) - 40 + 1, 0xFFFF), label="payload length").to_bytes(2, "big")
    else:
        how = data.draw(st.sampled_from(["ihl below 5", "total below header", "total beyond data"]), label="how")
        if how == "ihl below 5":
            b[0] = 0x40 | data.draw(st.integers(0, 4), label="ihl")
        else:
            total = data.draw(st.integers(0, 19) if how == "total below header"
                              else st.integers(len(b) + 1, 0xFFFF), label="total length")
            b[2:4] = total.to_bytes(2, "big")
    return kind, bytes(with_header_checksum(b) if v == 4 else b)


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("input.malformed-packet")
@HYPOTHESIS
@given(data=st.data())
def test_malformed_packets_are_neither_forwarded_nor_upcalled_and_the_router_keeps_working(h, v, data):
    h = fresh(h)
    r = h.router(v, vifs=(0, 1, 2))
    src, grp = h.src(v, 0, 1), h.group(v, 1)
    installed = data.draw(st.booleans(), label="MFC installed")
    if installed:
        r.add_mfc(src, grp, 0, {1: 1, 2: 1})
    kind, bad = malform(data, v, bytes(h.packet(v, src, grp)))
    arrival = data.draw(st.sampled_from([0, 1]), label="arrival vif")
    frame = bytes(Ether(dst=mac_str(multicast_mac(grp)), src=h.port(arrival).peer_mac, type=ETHERTYPE[v]) / Raw(bad))
    good = h.packet(v, src, grp)
    what = f"{kind} IPv{v} packet ({len(bad)} bytes) on vif {arrival}, MFC {'installed' if installed else 'absent'}"

    h.send(arrival, frame, count=data.draw(st.integers(1, 3), label="copies"))
    h.send(0, good)

    upcalls = [(u.kind, u.vif, u.src, u.dst) for u in r.upcalls()]
    if installed:
        assert upcalls == [], f"{what}: expected no upcall, got {upcalls}"
        counts = r.sg_count(src, grp)
        assert (counts["pktcnt"], counts["wrong_if"]) == (1, 0), (
            f"{what}: (pktcnt, wrong_if) expected (1, 0) for the one valid packet, got "
            f"({counts['pktcnt']}, {counts['wrong_if']})")
    else:
        assert upcalls == [("NOCACHE", 0, src, grp)], (
            f"{what}: expected exactly the valid packet's NOCACHE on vif 0, got {upcalls}")
        r.add_mfc(src, grp, 0, {1: 1, 2: 1})
    out = {p: [marker_of(f.payload) for f in frames] for p, frames in h.all_frames().items()}
    expected = {p: [marker_of(bytes(good))] if p in (1, 2) else [] for p in out}
    assert out == expected, f"{what}: frames expected only the valid packet on vifs 1-2 {expected}, got {out}"


# -- IPv6 packets at the edges of what parses: still routed, byte for byte ----------------------
NO_NEXT_HEADER, HOP_BY_HOP = 59, 0


def edge_ipv6(src: str, grp: str, shape: str) -> bytes:
    """A valid IPv6 multicast packet: no payload at all, a hop-by-hop header and nothing after it,
    or a 24-byte payload (then sent with bytes after it in the frame)."""
    def header(plen: int, nh: int) -> bytes:
        return (bytes([0x60, 0, 0, 0]) + plen.to_bytes(2, "big") + bytes([nh, 64])
                + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(grp).packed)
    if shape == "no-payload":
        return header(0, NO_NEXT_HEADER)
    if shape == "hop-by-hop-only":  # next header "none", then a PadN option filling the 8 bytes
        return header(8, HOP_BY_HOP) + bytes([NO_NEXT_HEADER, 0, 1, 4, 0, 0, 0, 0])
    return header(24, NO_NEXT_HEADER) + bytes(range(24))  # 24 bytes that no header claims


@pytest.mark.parametrize("shape", ["no-payload", "hop-by-hop-only", "trailing-frame-bytes"])
@pytest.mark.clause("mfc6.ifset")
def test_ipv6_packets_at_the_edges_of_parsing_are_forwarded_exactly(h, shape):
    """A 40-byte packet (payload length 0), a packet ending right after its hop-by-hop header, and
    a packet followed by bytes its payload length does not cover (Ethernet padding: ip6_input
    trims the frame to 40 + payload length) are routed; each copy is the packet, hop limit - 1."""
    r = h.router(6, vifs=(0, 1, 2))
    src, grp = h.src(6, 0, 1), h.group(6, 1)
    r.add_mfc(src, grp, 0, {1: 1})
    pkt = edge_ipv6(src, grp, shape)
    extra = bytes([0xEE] * 6) if shape == "trailing-frame-bytes" else b""
    frame = bytes(Ether(dst=mac_str(multicast_mac(grp)), src=h.port(0).peer_mac, type=ETHERTYPE[6]) / Raw(pkt + extra))

    h.send(0, frame)

    want = pkt[:7] + bytes([pkt[7] - 1]) + pkt[8:]
    got = {p: [ip_of(f.raw, len(want)) for f in frames] for p, frames in h.all_frames().items()}
    assert got.get(1) == [want], f"{shape}: expected on port 1 exactly {want.hex()}, got {[g.hex() for g in got.get(1, [])]}"
    assert not got.get(2), f"{shape}: port 2 is no oif, got {len(got[2])} frame(s)"


def ip_of(frame: bytes, length: int) -> bytes:
    """The IP packet of a frame: all of it after the Ethernet header, except zero padding up to a
    60-byte minimum frame (a link may pad; it may not add anything else)."""
    ip = frame[14:]
    if len(frame) == 60 and len(ip) > length and not any(ip[length:]):
        return ip[:length]
    return ip


# -- options that only set, counter ioctls that do not exist -------------------------------------
@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("input.unknown-option")
def test_getsockopt_of_a_set_only_option_fails_and_changes_nothing(h, v):
    """Only a few options can be read (FreeBSD X_ip_mrouter_get / X_ip6_mrouter_get, Linux
    ip_mroute_getsockopt / ip6_mroute_getsockopt: MRT_VERSION, MRT_ASSERT, MRT_PIM, the API
    options); reading MRT_INIT, MRT_ADD_VIF, ... from the router itself fails with the profile's
    errno (FreeBSD IPv4 EOPNOTSUPP, NetBSD IPv4 ENOPROTOOPT and IPv6 EOPNOTSUPP, Linux ENOPROTOOPT)
    or, where the profile names none, succeeds (FreeBSD ip6_mrouter_get has no default case)."""
    k = known_router(h, v)
    set_only = {name: number for name, number in options(h, v).items()
                if name in BY_NAME and Direction.GET not in BY_NAME[name].direction}
    assert set_only, f"profile {h.profile.name}: no set-only IPv{v} option"
    path = "option.get_unsupported" if v == 4 else "option6.get_unsupported"
    for name, number in sorted(set_only.items()):
        with h.raises(path, f"getsockopt({name}) from the router"):
            got = h.target.getsockopt(k.r.sock, LEVEL[v], number, 64)
        if h.profile.errno_of(path) is None:  # answered without a copy-out: optlen stays as given
            assert len(got) == 64, f"getsockopt({name}) from the router: optlen 64 came back as {len(got)}"
    expect_unchanged(k, f"after getsockopt of {sorted(set_only)}")


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("input.unknown-option")
def test_an_unknown_counter_ioctl_fails_and_changes_nothing(h, v):
    """A request number next to the counter ioctls that no implementation defines (the vif
    counter request + 15): FreeBSD IPv4 mrt_ioctl's default (EINVAL), FreeBSD and NetBSD IPv6
    in6_control with no interface (EOPNOTSUPP), NetBSD IPv4 in_control (ENOTTY), Linux
    ipmr_ioctl's -ENOIOCTLCMD (ENOTTY from sock_do_ioctl)."""
    k = known_router(h, v)
    known = k.r.family.opt("vif_count")
    request = h.profile.ioctls[known] + 15
    assert request not in h.profile.ioctls.values()
    with h.raises("ioctl.unknown" if v == 4 else "ioctl6.unknown", f"ioctl {request:#x} on the IPv{v} routing socket"):
        h.target.ioctl(k.r.sock, request, bytes(40))
    expect_unchanged(k, f"after ioctl {request:#x}")


@pytest.mark.clause("input.unknown-option")
def test_setsockopt_of_a_get_only_option_fails_and_changes_nothing(h):
    """MRT_VERSION (and MRT_API_SUPPORT, MRT6_VERSION where they exist) can only be read: setting one
    from the router fails with the profile's errno (FreeBSD's X_ip_mrouter_set default EOPNOTSUPP,
    Linux ENOPROTOOPT). Both families in one test: the BSDs have no get-only IPv6 option."""
    one = h.profile.struct("int").pack(value=1)
    tried = []
    for v in (4, 6):
        get_only = {name: number for name, number in options(h, v).items()
                    if name in BY_NAME and Direction.SET not in BY_NAME[name].direction}
        if not get_only:
            continue
        k = known_router(h, v)
        for name, number in sorted(get_only.items()):
            with h.raises("option.set_readonly", f"setsockopt({name}) from the router"):
                h.target.setsockopt(k.r.sock, LEVEL[v], number, one)
            tried.append(name)
        expect_unchanged(k, f"after setsockopt of {sorted(get_only)}")
    assert "MRT_VERSION" in tried, f"profile {h.profile.name}: MRT_VERSION is not a get-only option here"


def with_options(h, src: str, grp: str, opts: bytes) -> tuple[bytearray, bytes]:
    """The kit's IPv4 packet with a 4-byte option list inserted (header checksum redone), and its frame on port 0."""
    b = bytearray(bytes(h.packet(4, src, grp)))
    b = bytearray(b[:20]) + opts + b[20:]
    b[0], b[2:4], b[10:12] = 0x46, len(b).to_bytes(2, "big"), b"\0\0"
    b[10:12] = inet_checksum(bytes(b[:24])).to_bytes(2, "big")
    return b, bytes(Ether(dst=mac_str(multicast_mac(grp)), src=h.port(0).peer_mac, type=ETHERTYPE[4]) / Raw(bytes(b)))


@pytest.mark.parametrize("options", ["nop-overrun-by-1", "nop-nop-overrun-by-1"])
@pytest.mark.clause("input.malformed-packet")
def test_an_option_running_past_the_header_after_nops_is_dropped(h, options):
    """The length of an option after NOPs is checked against the bytes left from that option, not
    from the start of the list: a 4-byte option starting at byte 1 (or a 3-byte one at byte 2) of a
    4-byte list runs one byte past the header, and the packet is dropped (Linux ip_options_compile,
    FreeBSD ip_dooptions: optlen > bytes left is a parameter problem), while the next valid packet
    is routed. (The hypothesis test above draws such lists too; this pins them down.)"""
    r = h.router(4, vifs=(0, 1))
    src, grp = h.src(4, 0, 63), h.group(4, 63)
    r.add_mfc(src, grp, 0, {1: 1})
    opts = {"nop-overrun-by-1": b"\x01\x5e\x04\xab", "nop-nop-overrun-by-1": b"\x01\x01\x5e\x03"}[options]
    _, frame = with_options(h, src, grp, opts)
    good = h.packet(4, src, grp)

    h.send(0, frame)
    h.send(0, good)

    got = [marker_of(f.payload) for f in h.frames(1)]
    assert got == [marker_of(bytes(good))], (
        f"options {opts.hex()}: expected only the valid packet on port 1, got {len(got)} frame(s)")
    assert r.upcalls() == [], f"options {opts.hex()}: no upcall expected for an installed (S,G)"


@pytest.mark.parametrize("options", ["nop-nop-2byte", "2byte-nop-nop"])
@pytest.mark.clause("mfc.add-forward")
def test_a_packet_with_well_formed_options_is_forwarded(h, options):
    """Option lists the kernels accept (NOPs and a two-byte option, RFC 4727 experiment 30, the last
    one ending exactly at the header's end): routed like any packet (only malformed lists are
    dropped, input.malformed-packet)."""
    r = h.router(4, vifs=(0, 1))
    src, grp = h.src(4, 0, 62), h.group(4, 62)
    r.add_mfc(src, grp, 0, {1: 1})
    opts = {"nop-nop-2byte": b"\x01\x01\x9e\x02", "2byte-nop-nop": b"\x9e\x02\x01\x01"}[options]
    b, frame = with_options(h, src, grp, opts)

    h.send(0, frame)

    got = [f for f in h.frames(1)]
    assert len(got) == 1, f"options {opts.hex()}: expected one copy on port 1, got {len(got)}"
    ip = got[0].raw[14:]
    assert ip[20:24] == opts and ip[8] == b[8] - 1, (
        f"options {opts.hex()}: the copy carries options {ip[20:24].hex()} and TTL {ip[8]}, expected the same "
        f"options and TTL {b[8] - 1}")
