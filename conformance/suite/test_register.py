"""PIM Register: IGMPMSG_WHOLEPKT upcalls and the kernel's own Register encapsulation.

Topology: vifs 0-2 are physical (vif i on port i), vif 3 is the register vif, and the RP is the
tester host behind port 3, so kernel-built Registers leave on port 3. WHOLEPKT needs no advanced
API (it must pass on Linux too); every kernel-encapsulation test starts with ``h.require_api``.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scapy.contrib.pim import PIMv2Hdr
from scapy.layers.inet import IP, IPOption
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import checksum

import conformance.layers.pim  # noqa: F401  (binds the Register layer so frames dissect)
from conformance.harness import Harness
from conformance.harness.packets import Frame, udp
from conformance.harness.routing import RoutingSocket
from conformance.harness.upcalls import Upcall
from conformance.layers.pim import PIMv2Register, register_checksum, register_checksum_ok
from mroute_spec.constants import (
    IPPROTO_PIM,
    MRT_MFC_BW_UPCALL,
    MRT_MFC_FLAGS_BORDER_VIF,
    MRT_MFC_FLAGS_DISABLE_WRONGVIF,
    MRT_MFC_RP,
    PIM_REGISTER,
)

DISABLE, BORDER, RP, BW = (
    MRT_MFC_FLAGS_DISABLE_WRONGVIF,
    MRT_MFC_FLAGS_BORDER_VIF,
    MRT_MFC_RP,
    MRT_MFC_BW_UPCALL,
)
ALL = DISABLE | BORDER | RP
REG_VIF = 3  # the register vif
RP_PORT = 3  # the RP's link
OIF = 1  # an ordinary outgoing vif
PIM_ENCAP_TTL = 64
MAX_INNER = 65535 - 20 - 8  # the largest inner packet one Register can carry
IP_FIELDS = ("version", "ihl", "tos", "len", "id", "flags", "frag", "ttl", "proto", "chksum", "src", "dst")


# -- arrangement ------------------------------------------------------------------------------


def register_router(
    h: Harness, bits: int | None = None, *, vifs=(0, 1, 2), reg_vif: int = REG_VIF
) -> RoutingSocket:
    """An IPv4 router with ``bits`` negotiated (None: no MRT_API_CONFIG at all), vifs and a register vif."""
    r = h.router(4)
    if bits is not None:
        accepted = r.api_config(bits)
        assert accepted == bits, f"precondition: MRT_API_CONFIG({bits:#x}) enabled only {accepted:#x}"
    r.add_vifs(*vifs)
    r.add_vif(reg_vif, register=True)
    return r


def rp_of(h: Harness) -> str:
    return h.port(RP_PORT).peer_ipv4


def data_packet(
    h: Harness, n: int = 1, *, ttl: int = 64, size: int = 0, tos: int = 0, df: bool = False, parent: int = 0
) -> Packet:
    pkt = h.packet(4, h.src(4, parent), h.group(4, n), ttl=ttl, size=size)
    pkt[IP].tos = tos
    if df:
        pkt[IP].flags = "DF"
    return pkt


def after_hop(pkt: Packet | bytes) -> bytes:
    """The packet as a router passes it on: TTL - 1, header checksum recomputed, the rest untouched."""
    ip = IP(bytes(pkt))
    ip.ttl -= 1
    del ip.chksum
    return bytes(ip)


def ip_diff(expected: bytes, got: bytes) -> str:
    """Decoded IPv4 header fields that differ, and where the payloads part."""
    e, g = IP(expected), IP(got)
    lines = [
        f"  {name}: expected {e.getfieldval(name)!r}, got {g.getfieldval(name)!r}"
        for name in IP_FIELDS
        if e.getfieldval(name) != g.getfieldval(name)
    ]
    eh, gh = e.ihl * 4, g.ihl * 4
    ep, gp = expected[eh:], got[gh:]
    if ep != gp:
        at = next((i for i, (a, b) in enumerate(zip(ep, gp, strict=False)) if a != b), min(len(ep), len(gp)))
        lines.append(
            f"  payload: {len(ep)} bytes expected, {len(gp)} got; first difference at payload byte {at}"
        )
    return "\n".join(lines) or "  (same fields; bytes differ)"


def assert_ip_equal(what: str, expected: bytes, got: bytes) -> None:
    if expected != got:
        raise AssertionError(f"{what} differs from the expected packet:\n{ip_diff(expected, got)}")


# -- reading Registers ------------------------------------------------------------------------


@dataclass(repr=False)
class Register:
    """One kernel-built Register: outer IPv4, the 8-byte PIM header, the inner packet (raw)."""

    frame: Frame
    outer: IP
    pim: bytes
    inner: bytes

    @property
    def border(self) -> int:
        return self.pim[4] >> 7

    @property
    def null(self) -> int:
        return (self.pim[4] >> 6) & 1

    @property
    def pim_bytes(self) -> bytes:
        return self.pim + self.inner

    def __repr__(self) -> str:
        return f"Register({self.frame.describe()}, pim header {self.pim.hex()})"


def assert_register_checksum(reg: Register, what: str = "Register") -> None:
    """RFC 7761: the Register checksum covers the 8-byte header only, never the inner packet."""
    if register_checksum_ok(reg.pim_bytes):
        return
    ck = struct.unpack_from("!H", reg.pim, 2)[0]
    whole = checksum(reg.pim[:2] + b"\0\0" + reg.pim[4:] + reg.inner)
    hint = (
        " (that is the checksum over the whole message; RFC 7761 covers only the 8-byte header)"
        if ck == whole
        else ""
    )
    raise AssertionError(
        f"{what}: checksum {ck:#06x}, expected {register_checksum(reg.pim_bytes):#06x}{hint}"
    )


def registers(h: Harness, port: int = RP_PORT) -> list[Register]:
    """Every frame the router sent on ``port``, each required to be an IPv4 PIM Register."""
    out = []
    for f in h.frames(port):
        assert f.pkt.haslayer(IP) and f.pkt[IP].proto == IPPROTO_PIM, (
            f"port {port} carried a frame that is no PIM Register: {f.pkt.summary()}"
        )
        ip_raw = bytes(f.pkt[Ether].payload)
        hl, total = (ip_raw[0] & 0x0F) * 4, struct.unpack_from("!H", ip_raw, 2)[0]
        out.append(Register(f, f.pkt[IP], ip_raw[hl : hl + 8], ip_raw[hl + 8 : total]))
    return out


def one_register(h: Harness, what: str) -> Register:
    got = registers(h)
    assert len(got) == 1, f"{what}: expected one PIM Register on the RP's port {RP_PORT}, got {len(got)}"
    return got[0]


def assert_no_register(h: Harness, why: str) -> None:
    """No PIM Register anywhere (in particular none to 0.0.0.0), nothing on the RP's port."""
    for port, frames in h.all_frames().items():
        for f in frames:
            bad = f.pkt.haslayer(IP) and (f.pkt[IP].proto == IPPROTO_PIM or f.pkt[IP].dst == "0.0.0.0")
            assert not bad, f"{why}, yet port {port} carried {f.pkt.summary()} (dst {f.pkt[IP].dst})"
            assert port != RP_PORT, f"{why}, yet the RP's port {RP_PORT} carried {f.pkt.summary()}"


def wholepkt_body(profile, pkt: Packet | bytes) -> bytes:
    """The packet a WHOLEPKT carries: TTL already decremented or not, per profile."""
    return after_hop(pkt) if profile.wholepkt_ttl_decremented else bytes(pkt)


def expect_wholepkt(h: Harness, r: RoutingSocket, pkt: Packet, reg_vif: int = REG_VIF) -> Upcall:
    """Exactly one IGMPMSG_WHOLEPKT: header fields, then the whole packet, byte for byte."""
    p = pkt[IP]
    u = h.expect_upcall(r, "WHOLEPKT", reg_vif, p.src, p.dst)
    assert u.raw[9] == 0, f"WHOLEPKT im_mbz (byte 9) is {u.raw[9]}, must be 0"
    assert u.msgtype == 3
    assert_ip_equal("the packet inside IGMPMSG_WHOLEPKT", wholepkt_body(h.profile, pkt), u.body)
    assert len(u.raw) == 20 + len(bytes(pkt)), (
        f"WHOLEPKT is {len(u.raw)} bytes, expected 20 + {len(bytes(pkt))}"
    )
    return u


# -- register.wholepkt ------------------------------------------------------------------------


@pytest.mark.clause("register.wholepkt")
@pytest.mark.parametrize(("parent", "reg_vif", "oif"), [(0, 3, 1), (2, 1, 0)], ids=["reg-vif-3", "reg-vif-1"])
@pytest.mark.parametrize("count", [1, 3])
def test_wholepkt(h, profile, parent, reg_vif, oif, count):
    """Without kernel encapsulation every packet for the register vif goes up whole, with im_vif = register vif."""
    phys = tuple(v for v in (0, 1, 2, 3) if v != reg_vif)[:3]
    r = register_router(h, None, vifs=phys, reg_vif=reg_vif)
    src, grp = h.src(4, parent), h.group(4, 1)
    r.add_mfc(src, grp, parent, {oif: 1, reg_vif: 1})
    for i in range(count):
        pkt = data_packet(h, 1, ttl=64 - i, parent=parent)
        h.send(parent, pkt)
        expect_wholepkt(h, r, pkt, reg_vif)
        out = h.frames(oif)
        assert len(out) == 1, f"the ordinary oif {oif} got {len(out)} copies, expected 1"
    for port in (p for p in range(4) if p != oif):
        assert h.frames(port) == [], f"port {port} carried a frame: the register vif has no wire"


# -- register.kernel-encap --------------------------------------------------------------------


def assert_register_header(h: Harness, reg: Register, sent: Packet, parent: int, border: int = 0) -> None:
    """Everything about one Register carrying the whole of ``sent``."""
    o, inner = reg.outer, after_hop(sent)
    expected = {
        "version": 4,
        "ihl": 5,
        "proto": IPPROTO_PIM,
        "ttl": PIM_ENCAP_TTL,
        "src": h.port(parent).ipv4,
        "dst": rp_of(h),
        "len": len(inner) + 28,
        "frag": 0,
        "MF": 0,
        "DF": int(bool(sent[IP].flags.DF)),
        "tos": sent[IP].tos,
    }
    got = {
        "version": o.version,
        "ihl": o.ihl,
        "proto": o.proto,
        "ttl": o.ttl,
        "src": o.src,
        "dst": o.dst,
        "len": o.len,
        "frag": o.frag,
        "MF": int(bool(o.flags.MF)),
        "DF": int(bool(o.flags.DF)),
        "tos": o.tos,
    }
    diff = [f"  {k}: expected {v!r}, got {got[k]!r}" for k, v in expected.items() if got[k] != v]
    assert not diff, "outer IPv4 header of the Register differs:\n" + "\n".join(diff)
    assert reg.frame.header_checksum_ok, "the outer IPv4 header checksum is wrong"
    assert reg.pim[0] == 0x21, f"PIM version/type byte {reg.pim[0]:#04x}, expected 0x21 (PIMv2, Register)"
    assert reg.pim[1] == 0, f"PIM reserved byte {reg.pim[1]:#04x}, expected 0"
    assert_register_checksum(reg)
    flags = struct.unpack_from("!I", reg.pim, 4)[0]
    assert flags == (border << 31), (
        f"Register flags word {flags:#010x}, expected {border << 31:#010x} (Border={border}, Null=0, reserved 0)"
    )
    assert_ip_equal("the inner packet of the Register", inner, reg.inner)


@pytest.mark.clause("register.kernel-encap")
@pytest.mark.parametrize("parent", [0, 2])
@pytest.mark.parametrize(
    ("ttl", "tos", "df"),
    [(64, 0, False), (2, 0xB8, False), (33, 0x02, True)],
    ids=["ttl64", "ttl2-tos-ef", "ttl33-df"],
)
def test_kernel_encap(h, parent, ttl, tos, df):
    """With MRT_MFC_RP and mfcc_rp set, the kernel sends one Register to the RP, and no WHOLEPKT."""
    h.require_api(RP)
    r = register_router(h, RP)
    src, grp = h.src(4, parent), h.group(4, 1)
    r.add_mfc(src, grp, parent, {OIF: 1, REG_VIF: 1}, rp=rp_of(h))
    pkt = data_packet(h, 1, ttl=ttl, tos=tos, df=df, parent=parent)
    h.send(parent, pkt)
    reg = one_register(h, "kernel encapsulation")
    assert_register_header(h, reg, pkt, parent)
    h.expect_no_upcall(r, "the kernel encapsulated the packet itself")
    assert len(h.frames(OIF)) == 1, "the ordinary oif no longer got its copy"


@pytest.mark.clause("register.kernel-encap")
def test_kernel_encap_scapy_view(h):
    """The same Register as a dissector sees it: PIMv2 type 1, then the inner IPv4 with TTL - 1."""
    h.require_api(RP)
    r = register_router(h, RP)
    r.add_mfc(h.src(4, 0), h.group(4, 1), 0, {REG_VIF: 1}, rp=rp_of(h))
    pkt = data_packet(h, 1, ttl=20)
    h.send(0, pkt)
    reg = one_register(h, "kernel encapsulation")
    pim = reg.frame.pkt.getlayer(PIMv2Hdr)
    assert pim is not None and pim.version == 2 and pim.type == PIM_REGISTER, reg.frame.pkt.summary()
    inner = reg.frame.pkt[PIMv2Register].payload
    assert isinstance(inner, IP), f"the Register does not carry an IPv4 packet: {inner.summary()}"
    assert inner.ttl == 19 and bytes(inner[Raw].load) == bytes(pkt[Raw].load), "inner TTL or payload changed"


# -- register.inaddr-any-fallback -------------------------------------------------------------


def _install_fresh(h, r, src, grp, flags):
    r.add_mfc(src, grp, 0, {OIF: 1, REG_VIF: 1}, flags=flags, rp="0.0.0.0")


def _install_after_rp(h, r, src, grp, flags):
    """First with a real RP (one Register goes out), then updated to INADDR_ANY."""
    r.add_mfc(src, grp, 0, {OIF: 1, REG_VIF: 1}, flags=flags, rp=rp_of(h))
    h.send(0, data_packet(h, 1))
    assert len(registers(h)) == 1, "precondition: with an RP the kernel sent a Register"
    h.all_frames()
    r.add_mfc(src, grp, 0, {OIF: 1, REG_VIF: 1}, flags=flags, rp="0.0.0.0")


HOW = {"fresh": _install_fresh, "updated-from-rp": _install_after_rp}
FALLBACK_BITS = [RP, RP | BORDER, RP | DISABLE, ALL, ALL | BW]


@pytest.mark.clause("register.inaddr-any-fallback")
@pytest.mark.parametrize("how", list(HOW))
@pytest.mark.parametrize("bits", FALLBACK_BITS, ids=lambda b: f"api{b:#x}")
@pytest.mark.parametrize("flags", [0, BORDER | DISABLE], ids=["no-flags", "border+disable"])
def test_inaddr_any_fallback(h, how, bits, flags):
    """MRT_MFC_RP negotiated but mfcc_rp = INADDR_ANY: IGMPMSG_WHOLEPKT, and no Register (none to 0.0.0.0)."""
    h.require_api(bits)
    r = register_router(h, bits)
    src, grp = h.src(4, 0), h.group(4, 1)
    HOW[how](h, r, src, grp, {v: flags for v in range(4)})
    pkt = data_packet(h, 1, ttl=17)
    h.send(0, pkt)
    expect_wholepkt(h, r, pkt)
    assert len(h.frames(OIF)) == 1, "the ordinary oif no longer got its copy"
    assert_no_register(h, "mfcc_rp is INADDR_ANY")


@pytest.mark.clause("register.inaddr-any-fallback")
@pytest.mark.parametrize("bits", [RP, ALL], ids=lambda b: f"api{b:#x}")
def test_inaddr_any_fallback_pending(h, bits):
    """Packets queued while pending, released by an entry with mfcc_rp = INADDR_ANY, go up as WHOLEPKT."""
    h.require_api(bits)
    r = register_router(h, bits)
    src, grp = h.src(4, 0), h.group(4, 1)
    pkt = data_packet(h, 1, ttl=30)
    h.send(0, pkt)
    h.expect_upcall(r, "NOCACHE", 0, src, grp)
    r.add_mfc(src, grp, 0, {REG_VIF: 1}, rp="0.0.0.0")
    expect_wholepkt(h, r, pkt)
    assert_no_register(h, "mfcc_rp is INADDR_ANY")


@pytest.mark.clause("register.inaddr-any-fallback")
def test_inaddr_any_fallback_per_entry(h):
    """INADDR_ANY on one (S,G) does not stop another (S,G) with an RP from being encapsulated, and vice versa."""
    h.require_api(RP)
    r = register_router(h, RP)
    src = h.src(4, 0)
    r.add_mfc(src, h.group(4, 1), 0, {REG_VIF: 1}, rp="0.0.0.0")
    r.add_mfc(src, h.group(4, 2), 0, {REG_VIF: 1}, rp=rp_of(h))
    with_rp, without = data_packet(h, 2), data_packet(h, 1)
    h.send(0, with_rp)
    assert_register_header(h, one_register(h, "the (S,G) with an RP"), with_rp, 0)
    h.expect_no_upcall(r, "that (S,G) has an RP")
    h.send(0, without)
    expect_wholepkt(h, r, without)
    assert_no_register(h, "mfcc_rp is INADDR_ANY")


# -- register.rp-needs-api --------------------------------------------------------------------


@pytest.mark.clause("register.rp-needs-api")
@pytest.mark.parametrize(
    "bits", [None, 0, DISABLE, BORDER | DISABLE, BW], ids=lambda b: "no-config" if b is None else f"api{b:#x}"
)
def test_rp_needs_api(h, profile, bits):
    """An mfcc_rp given without MRT_MFC_RP negotiated is ignored: WHOLEPKT, never a Register."""
    h.require_api(RP | (bits or 0))
    r = register_router(h, bits)
    src, grp = h.src(4, 0), h.group(4, 1)
    # nothing negotiated: the mfcctl2 is sent anyway (a daemon that skipped the negotiation) and only
    # its mfcctl part is read; a profile taking exact lengths accepts only the mfcctl there
    v2 = bool(bits) or "MRT_ADD_MFC" not in profile.exact_optlen
    r.add_mfc(src, grp, 0, {OIF: 1, REG_VIF: 1}, flags={v: BORDER for v in range(4)}, rp=rp_of(h), v2=v2)
    pkt = data_packet(h, 1)
    h.send(0, pkt)
    expect_wholepkt(h, r, pkt)
    assert len(h.frames(OIF)) == 1, "the ordinary oif no longer got its copy"
    assert_no_register(h, "MRT_MFC_RP was not negotiated")


# -- register.border-bit / register.border-bit-clear ------------------------------------------

CARRIERS = ["register-vif", "parent-vif", "other-oif", "other-vif", "none", "every-vif"]


def carrier_vifs(carrier: str, parent: int) -> set[int]:
    other = next(v for v in (0, 2) if v != parent)
    return {
        "register-vif": {REG_VIF},
        "parent-vif": {parent},
        "other-oif": {OIF},
        "other-vif": {other},
        "none": set(),
        "every-vif": {0, 1, 2, REG_VIF},
    }[carrier]


def border_source(profile, parent: int) -> int:
    """The vif whose BORDER_VIF flag the profile reads: the register vif (spec) or the parent (FreeBSD)."""
    return REG_VIF if profile.border_bit_from == "register-vif" else parent


@pytest.mark.clause("register.border-bit")
@pytest.mark.parametrize("flag", [BORDER, 0xFF], ids=["BORDER", "0xff"])
@pytest.mark.parametrize("parent", [0, 2])
@pytest.mark.parametrize("carrier", CARRIERS)
def test_border_bit(h, profile, carrier, parent, flag):
    """The Border bit is set iff the vif the profile names carries MRT_MFC_FLAGS_BORDER_VIF."""
    h.require_api(ALL)
    r = register_router(h, ALL)
    vifs = carrier_vifs(carrier, parent)
    src, grp = h.src(4, parent), h.group(4, 1)
    r.add_mfc(src, grp, parent, {OIF: 1, REG_VIF: 1}, flags={v: flag for v in vifs}, rp=rp_of(h))
    pkt = data_packet(h, 1, parent=parent)
    h.send(parent, pkt)
    reg = one_register(h, f"BORDER_VIF on {carrier}")
    want = int(border_source(profile, parent) in vifs)
    if reg.border != want:
        seen = {REG_VIF: "the register vif (the spec text)", parent: "the parent vif (the FreeBSD code)"}
        readers = [seen[v] for v in vifs if v in seen] if reg.border else []
        raise AssertionError(
            f"Border bit {reg.border} with the flag on {carrier} (vifs {sorted(vifs)}; parent {parent}, register "
            f"vif {REG_VIF}); profile {profile.name!r} reads it from the {profile.border_bit_from}, so expected "
            f"{want}" + (f"; the target seems to read {' or '.join(readers)}" if readers else "")
        )
    assert_register_header(h, reg, pkt, parent, border=want)


def _clear_no_flags(h, r, parent, profile):
    return {}


def _clear_disable_only(h, r, parent, profile):
    return {v: DISABLE for v in range(4)}


def _clear_reserved_bits(h, r, parent, profile):
    return {v: 0xFC for v in range(4)}


def _clear_other_candidate(h, r, parent, profile):
    """BORDER_VIF on the candidate the profile does not read (parent for the spec, register vif for FreeBSD)."""
    other = parent if border_source(profile, parent) == REG_VIF else REG_VIF
    return {other: BORDER, OIF: BORDER}


def _clear_removed_by_update(h, r, parent, profile):
    """The flag was set, one Register went out with it, then MRT_ADD_MFC replaced the entry without it."""
    src, grp = h.src(4, parent), h.group(4, 1)
    r.add_mfc(src, grp, parent, {OIF: 1, REG_VIF: 1}, flags={v: BORDER for v in range(4)}, rp=rp_of(h))
    h.send(parent, data_packet(h, 1, parent=parent))
    assert [g.border for g in registers(h)] == [1], "precondition: with the flag on every vif the bit was set"
    h.all_frames()
    return {}


CLEAR = {
    "no-flags": (ALL, _clear_no_flags),
    "disable-only": (ALL, _clear_disable_only),
    "reserved-bits": (ALL, _clear_reserved_bits),
    "other-candidate": (ALL, _clear_other_candidate),
    "not-negotiated": (RP | DISABLE, lambda *a: {v: BORDER for v in range(4)}),
    "removed-by-update": (ALL, _clear_removed_by_update),
}


@pytest.mark.clause("register.border-bit-clear")
@pytest.mark.parametrize("parent", [0, 2])
@pytest.mark.parametrize("case", list(CLEAR))
def test_border_bit_clear(h, profile, case, parent):
    """Without an effective BORDER_VIF on the vif the profile reads, the Border bit is clear."""
    bits, arrange = CLEAR[case]
    h.require_api(bits)
    r = register_router(h, bits)
    flags = arrange(h, r, parent, profile)
    src, grp = h.src(4, parent), h.group(4, 1)
    r.add_mfc(src, grp, parent, {OIF: 1, REG_VIF: 1}, flags=flags, rp=rp_of(h))
    pkt = data_packet(h, 1, parent=parent)
    h.send(parent, pkt)
    reg = one_register(h, case)
    assert reg.border == 0, (
        f"Border bit set ({case}: mfcc_flags {flags}, negotiated {bits:#x}, parent {parent})"
    )
    assert_register_header(h, reg, pkt, parent, border=0)


# -- register.null-bit-clear ------------------------------------------------------------------


def _bare_ip(h):
    """An IPv4 packet with no payload at all: exactly what a Null-Register would carry."""
    return IP(src=h.src(4, 0), dst=h.group(4, 1), ttl=9, proto=253)


def _empty_udp(h):
    return udp(4, h.src(4, 0), h.group(4, 1), ttl=9, payload=b"")


def _data(h):
    return data_packet(h, 1, size=1000)


def _oversize(h):
    return data_packet(h, 1, size=65535 - 28)


NULL_CASES = {"bare-ip-header": _bare_ip, "empty-udp": _empty_udp, "data": _data, "fragmented": _oversize}


@pytest.mark.clause("register.null-bit-clear")
@pytest.mark.parametrize("border", [0, 1], ids=["no-border", "border"])
@pytest.mark.parametrize("case", list(NULL_CASES))
def test_null_bit_clear(h, profile, case, border):
    """Kernel-built Registers are data Registers: the Null-Register bit is never set, even for an empty packet."""
    h.require_api(ALL)
    r = register_router(h, ALL)
    src, grp = h.src(4, 0), h.group(4, 1)
    flags = {border_source(profile, 0): BORDER} if border else {}
    r.add_mfc(src, grp, 0, {REG_VIF: 1}, flags=flags, rp=rp_of(h))
    h.send(0, NULL_CASES[case](h))
    got = registers(h)
    assert got, f"{case}: no Register was sent"
    for reg in got:
        assert reg.null == 0, (
            f"{case}: the kernel set the Null-Register bit (flags word {reg.pim[4:8].hex()})"
        )
        assert reg.border == border, f"{case}: Border bit {reg.border}, expected {border}"
        assert reg.frame.pkt[PIMv2Register].null_register == 0


# -- register.fragment ------------------------------------------------------------------------


def check_fragments(whole: bytes, pieces: list[bytes]) -> None:
    """Each piece is one fragment of ``whole``; together they reassemble to it, byte for byte."""
    hl = (whole[0] & 0x0F) * 4
    head, data = IP(whole), whole[hl:]
    frags = sorted((IP(p) for p in pieces), key=lambda f: f.frag)
    pos = 0
    for i, f in enumerate(frags):
        raw = bytes(f)
        what = f"fragment {i} (offset {f.frag * 8})"
        assert len(raw) <= MAX_INNER, (
            f"{what} is {len(raw)} bytes, more than the {MAX_INNER} one Register can carry"
        )
        assert f.len == len(raw), f"{what}: total length {f.len}, carried {len(raw)} bytes"
        for name in ("id", "src", "dst", "proto", "ttl", "tos", "version"):
            assert f.getfieldval(name) == head.getfieldval(name), (
                f"{what}: {name} {f.getfieldval(name)!r}, the packet's is {head.getfieldval(name)!r}"
            )
        assert checksum(raw[: f.ihl * 4]) == 0, f"{what}: bad header checksum"
        assert f.frag * 8 == pos, f"{what}: expected offset {pos}: fragments overlap or leave a hole"
        payload = raw[f.ihl * 4 :]
        last = i == len(frags) - 1
        assert bool(f.flags.MF) != last, (
            f"{what}: MF={int(bool(f.flags.MF))} but it is {'' if last else 'not '}the last"
        )
        assert last or len(payload) % 8 == 0, f"{what}: {len(payload)} payload bytes, not a multiple of 8"
        assert payload == data[pos : pos + len(payload)], (
            f"{what}: payload differs from the original at this offset"
        )
        pos += len(payload)
    assert pos == len(data), f"the fragments carry {pos} payload bytes, the packet has {len(data)}"


@pytest.mark.clause("register.fragment")
@pytest.mark.parametrize("total", [65535, 65509, 65508], ids=lambda n: f"len{n}")
def test_fragment(h, total):
    """A packet above 65507 bytes (after TTL - 1) is fragmented and each fragment encapsulated alone."""
    h.require_api(RP)
    r = register_router(h, RP)
    r.add_mfc(h.src(4, 0), h.group(4, 1), 0, {REG_VIF: 1}, rp=rp_of(h))
    pkt = data_packet(h, 1, size=total - 28)
    assert len(bytes(pkt)) == total
    h.send(0, pkt)
    regs = registers(h)
    assert len(regs) >= 2, f"a {total}-byte packet gave {len(regs)} Register(s); it cannot fit in one"
    for i, reg in enumerate(regs):
        o = reg.outer
        assert o.len == len(reg.inner) + 28 <= 65535, f"Register {i}: outer length {o.len}"
        assert (o.src, o.dst, o.ttl) == (h.port(0).ipv4, rp_of(h), PIM_ENCAP_TTL), (
            f"Register {i}: outer {o.src} -> {o.dst} TTL {o.ttl}, expected {h.port(0).ipv4} -> {rp_of(h)} TTL 64"
        )
        assert_register_checksum(reg, f"Register {i}")
        assert reg.null == 0 and reg.border == 0, f"Register {i}: flags word {reg.pim[4:8].hex()}"
    check_fragments(after_hop(pkt), [reg.inner for reg in regs])
    h.expect_no_upcall(r, "the kernel encapsulated every fragment itself")


NOP, ROUTER_ALERT, EXPERIMENT = b"\x01", b"\x94\x04\x00\x00", b"\x5e\x04\xab\xcd"  # RA copied, 0x5e not
SHORT_COPIED = b"\x9e\x02"  # a two-byte option with the copied flag (RFC 4727 experiment 30)


@pytest.mark.clause("register.fragment")
def test_fragment_ip_options(h):
    """With IP options, the first fragment keeps them all, later ones only those with the copied flag (RFC 791)."""
    h.require_api(RP)
    r = register_router(h, RP)
    r.add_mfc(h.src(4, 0), h.group(4, 1), 0, {REG_VIF: 1}, rp=rp_of(h))
    options = NOP + ROUTER_ALERT + EXPERIMENT + SHORT_COPIED + b"\0"  # 12 bytes: EOL-padded
    pkt = IP(src=h.src(4, 0), dst=h.group(4, 1), ttl=9, options=[IPOption(options)]) / Raw(bytes(65535 - 32))
    assert len(bytes(pkt)) == 65535 and pkt[IP].ihl is None and IP(bytes(pkt)).ihl == 8
    h.send(0, pkt)
    regs = registers(h)
    assert len(regs) >= 2, f"a 65535-byte packet gave {len(regs)} Register(s)"
    frags = sorted((IP(reg.inner) for reg in regs), key=lambda f: f.frag)
    for i, f in enumerate(frags):
        raw = bytes(f)
        want = options if i == 0 else NOP + ROUTER_ALERT + SHORT_COPIED + b"\0"  # only the copied ones, EOL-padded
        got = raw[20 : f.ihl * 4]
        assert got == want, (
            f"fragment {i} (offset {f.frag * 8}) carries options {got.hex()}, expected {want.hex()}"
        )
    check_fragments(after_hop(pkt), [reg.inner for reg in regs])


@pytest.mark.clause("register.fragment", "register.inaddr-any-fallback")
@pytest.mark.parametrize(
    ("total", "df"),
    [(65535, False), (65508, False), (65535, True)],
    ids=["len65535", "len65508", "len65535-df"],
)
def test_fragment_wholepkt(h, total, df):
    """mfcc_rp = INADDR_ANY: an oversize packet goes up as one IGMPMSG_WHOLEPKT per fragment (DF: not at all)."""
    h.require_api(RP)
    r = register_router(h, RP)
    src, grp = h.src(4, 0), h.group(4, 1)
    r.add_mfc(src, grp, 0, {REG_VIF: 1}, rp="0.0.0.0")
    pkt = data_packet(h, 1, size=total - 28, df=df)
    h.send(0, pkt)
    got = r.upcalls()
    assert all((u.kind, u.vif, u.src, u.dst) == ("WHOLEPKT", REG_VIF, src, grp) for u in got), (
        f"expected only WHOLEPKT upcalls for vif {REG_VIF}, got {[u.describe() for u in got]}"
    )
    if df:
        assert got == [], f"a {total}-byte DF packet cannot be fragmented, yet {len(got)} WHOLEPKT went up"
    else:
        assert len(got) >= 2, (
            f"a {total}-byte packet went up in {len(got)} WHOLEPKT(s), expected one per fragment"
        )
        check_fragments(wholepkt_body(h.profile, pkt), [u.body for u in got])
    assert_no_register(h, "mfcc_rp is INADDR_ANY")


@pytest.mark.clause("register.fragment")
@pytest.mark.parametrize("total", [MAX_INNER, MAX_INNER - 1, 1500], ids=lambda n: f"len{n}")
def test_fragment_not_needed(h, total):
    """At or below 65507 bytes one Register carries the whole packet, unfragmented."""
    h.require_api(RP)
    r = register_router(h, RP)
    r.add_mfc(h.src(4, 0), h.group(4, 1), 0, {REG_VIF: 1}, rp=rp_of(h))
    pkt = data_packet(h, 1, size=total - 28)
    h.send(0, pkt)
    reg = one_register(h, f"a {total}-byte packet")
    assert_register_header(h, reg, pkt, 0)


@pytest.mark.clause("register.fragment")
@pytest.mark.parametrize(
    ("total", "sent"), [(65535, 0), (65508, 0), (MAX_INNER, 1)], ids=["len65535", "len65508", "len65507-fits"]
)
def test_fragment_df(h, total, sent):
    """DF set: a packet that would need fragmenting is dropped (no Register, no upcall); one that fits goes out."""
    h.require_api(RP)
    r = register_router(h, RP)
    r.add_mfc(h.src(4, 0), h.group(4, 1), 0, {REG_VIF: 1}, rp=rp_of(h))
    pkt = data_packet(h, 1, size=total - 28, df=True)
    h.send(0, pkt)
    regs = registers(h)
    assert len(regs) == sent, f"DF set, {total} bytes: {len(regs)} Register(s), expected {sent}" + (
        " (a DF packet must not be fragmented)" if not sent else ""
    )
    for reg in regs:
        assert_register_header(h, reg, pkt, 0)
    h.expect_no_upcall(r, "a DF packet is dropped, not sent up")


# -- register.v6-wholepkt ---------------------------------------------------------------------


@pytest.mark.clause("register.v6-wholepkt")
@pytest.mark.parametrize("reg_mif", [3, 1])
@pytest.mark.parametrize("count", [1, 2])
def test_v6_wholepkt(h, reg_mif, count):
    """IPv6: forwarding onto a MIFF_REGISTER mif yields MRT6MSG_WHOLEPKT (im6_mif = register mif) + the packet."""
    phys = tuple(m for m in (0, 1, 2, 3) if m != reg_mif)
    oif = phys[1]
    r = h.router(6)
    r.add_vifs(*phys)
    r.add_vif(reg_mif, register=True)
    src, grp = h.src(6, 0), h.group(6, 1)
    r.add_mfc(src, grp, 0, {oif: 1, reg_mif: 1})
    for i in range(count):
        pkt = h.packet(6, src, grp, ttl=40 - i)
        h.send(0, pkt)
        got = r.upcalls()
        assert len(got) == 1, f"expected one MRT6MSG_WHOLEPKT, got {[u.describe() for u in got]}"
        u = got[0]
        fields = {"im6_mbz": u.raw[0], "kind": u.kind, "im6_msgtype": u.msgtype, "im6_mif": u.vif}
        want = {"im6_mbz": 0, "kind": "WHOLEPKT", "im6_msgtype": 3, "im6_mif": reg_mif}
        diff = [f"  {k}: expected {v!r}, got {fields[k]!r}" for k, v in want.items() if fields[k] != v]
        assert not diff, "MRT6MSG_WHOLEPKT header differs:\n" + "\n".join(diff)
        # im6_src / im6_dst are left uninitialised by FreeBSD: only the packet that follows is compared
        assert len(u.raw) == 40 + len(bytes(pkt)), (
            f"message is {len(u.raw)} bytes, expected 40 + {len(bytes(pkt))}"
        )
        expected = bytes(pkt)
        if h.profile.wholepkt6_hlim_decremented:
            expected = bytes(IPv6(expected[:7] + bytes([expected[7] - 1]) + expected[8:]))
        if u.body != expected:
            body = IPv6(u.body)
            raise AssertionError(
                f"the packet inside MRT6MSG_WHOLEPKT differs: sent {pkt[IPv6].summary()} hlim "
                f"{pkt[IPv6].hlim} (expected hlim {expected[7]} per profile {h.profile.name!r}), "
                f"got {body.summary()} hlim {body.hlim}"
            )
        assert len(h.frames(oif)) == 1, f"the ordinary oif {oif} no longer got its copy"


# -- properties -------------------------------------------------------------------------------
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.clause("register.border-bit", "register.border-bit-clear", "register.null-bit-clear")
def test_border_bit_property(h, profile):
    """For any per-vif flags bytes and parent: the Border bit is set iff the vif the profile names
    carries MRT_MFC_FLAGS_BORDER_VIF, and the Null-Register bit never is."""
    h.require_api(ALL)
    r = register_router(h, ALL)
    groups = itertools.count(40)

    @PROPERTY_SETTINGS
    @given(flags=st.fixed_dictionaries({v: st.integers(0, 0xFF) for v in (0, 1, 2, REG_VIF)}),
           parent=st.sampled_from([0, 2]))
    @example(flags={0: BORDER, 1: 0, 2: 0, REG_VIF: 0}, parent=0)
    @example(flags={0: 0, 1: 0, 2: 0, REG_VIF: BORDER}, parent=0)
    def check(flags: dict[int, int], parent: int) -> None:
        n = next(groups)
        src, grp = h.src(4, parent), h.group(4, n)
        r.add_mfc(src, grp, parent, {OIF: 1, REG_VIF: 1}, flags=flags, rp=rp_of(h))
        h.send(parent, data_packet(h, n, parent=parent))
        shown = {v: f"{b:#04x}" for v, b in flags.items()}
        reg = one_register(h, f"flags {shown}, parent {parent}")
        h.all_frames()  # the ordinary copies on the other ports
        want = int(bool(flags[border_source(profile, parent)] & BORDER))
        assert reg.border == want, (
            f"flags {shown}, parent {parent}: profile {profile.name!r} reads BORDER_VIF from the "
            f"{profile.border_bit_from} (vif {border_source(profile, parent)}), so Border {want}; got {reg.border}")
        assert reg.pim[4] & 0x40 == 0, f"flags {shown}: the kernel set the Null-Register bit"

    check()


@pytest.mark.clause("register.inaddr-any-fallback", "register.rp-needs-api")
@pytest.mark.parametrize("bits", [ALL, DISABLE | BORDER], ids=["rp-negotiated", "rp-not-negotiated"])
def test_rp_fallback_property(h, bits):
    """For any RP (0.0.0.0 or a host) and flags: a Register goes to the RP iff MRT_MFC_RP was
    negotiated and mfcc_rp is not INADDR_ANY; otherwise the packet goes up as WHOLEPKT."""
    h.require_api(bits)
    r = register_router(h, bits)
    groups = itertools.count(80)

    @PROPERTY_SETTINGS
    @given(rp=st.sampled_from(["0.0.0.0", rp_of(h)]),
           flags=st.fixed_dictionaries({v: st.integers(0, 0xFF) for v in (0, 1, 2, REG_VIF)}))
    @example(rp="0.0.0.0", flags={0: 0, 1: 0, 2: 0, REG_VIF: 0})
    def check(rp: str, flags: dict[int, int]) -> None:
        n = next(groups)
        src, grp = h.src(4, 0), h.group(4, n)
        r.add_mfc(src, grp, 0, {OIF: 1, REG_VIF: 1}, flags=flags, rp=rp)
        pkt = data_packet(h, n)
        h.send(0, pkt)
        what = f"negotiated {bits:#x}, mfcc_rp {rp}"
        if bits & RP and rp != "0.0.0.0":
            one_register(h, what)
            h.expect_no_upcall(r, f"{what}: the kernel encapsulates")
            h.all_frames()
        else:
            expect_wholepkt(h, r, pkt)
            assert_no_register(h, f"{what}: WHOLEPKT expected")

    check()
