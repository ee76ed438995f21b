"""Advanced API negotiation: MRT_API_SUPPORT, MRT_API_CONFIG, struct mfcctl2 and the per-vif flag mask.

Every test but the ``api.absent`` ones starts with ``h.require_api``: on a target without the
advanced API (Linux) they end ``unsupported``, never ``fail``.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import conformance.layers.pim  # noqa: F401  (binds the Register layer so frames dissect)
from conformance.harness import Harness
from conformance.layers.pim import PIMv2Register
from conformance.outcomes import UNSUPPORTED_PREFIX
from mroute_spec.constants import (
    MRT_MFC_BW_UPCALL,
    MRT_MFC_FLAGS_BORDER_VIF,
    MRT_MFC_FLAGS_DISABLE_WRONGVIF,
    MRT_MFC_RP,
)

DISABLE, BORDER, RP, BW = (
    MRT_MFC_FLAGS_DISABLE_WRONGVIF,
    MRT_MFC_FLAGS_BORDER_VIF,
    MRT_MFC_RP,
    MRT_MFC_BW_UPCALL,
)
DEFINED = DISABLE | BORDER | RP | BW  # the feature bits the spec defines
# Bits no implementation of the spec knows: reserved per-vif flag bits 2-7, and 10-31.
UNKNOWN = ~DEFINED & 0xFFFFFFFF
INNER_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def feature_names(bits: int) -> str:
    names = {DISABLE: "DISABLE_WRONGVIF", BORDER: "BORDER_VIF", RP: "MRT_MFC_RP", BW: "MRT_MFC_BW_UPCALL"}
    parts = [n for b, n in names.items() if bits & b]
    if bits & UNKNOWN:
        parts.append(f"unknown {bits & UNKNOWN:#x}")
    return f"{bits:#x} ({' | '.join(parts) or 'none'})"


def expect_forwarded(h: Harness, port: int, what: str) -> None:
    got = h.frames(port)
    assert len(got) == 1, f"{what}: expected one forwarded copy on port {port}, got {len(got)}"


# -- api.support-read / api.support-readonly --------------------------------------------------


@pytest.mark.clause("api.support-read")
@pytest.mark.parametrize("where", ["fresh socket", "router socket"])
def test_support_read(h, profile, where):
    """getsockopt(MRT_API_SUPPORT) reports exactly the profile's feature set, router or not."""
    probed = h.require_api()
    r = h.router(4, vifs=(0, 1)) if where == "router socket" else h.routing_socket(4)
    if where == "fresh socket" and profile.errno_of("socket.get_non_router") is not None:
        with h.raises("socket.get_non_router", "getsockopt(MRT_API_SUPPORT) on a socket that is not the router"):
            r.get_int("api_support")  # NetBSD ip_mrouter_get answers the router only
        return
    got = r.get_int("api_support")
    assert got == profile.api_support, (
        f"MRT_API_SUPPORT on a {where}: expected {feature_names(profile.api_support)} per profile "
        f"{profile.name!r}, got {feature_names(got)}"
    )
    assert got == probed, f"MRT_API_SUPPORT changed between reads: {probed:#x} then {got:#x}"


@pytest.mark.clause("api.support-readonly")
@pytest.mark.parametrize("value", [0, DEFINED, 0xFFFFFFFF])
def test_support_readonly(h, profile, value):
    """setsockopt(MRT_API_SUPPORT) fails, and neither the support nor the config moves."""
    h.require_api()
    r = h.router(4)
    with h.raises("option.set_readonly", f"setsockopt(MRT_API_SUPPORT, {value:#x})"):
        r.set_raw("api_support", value.to_bytes(4, "little"))
    assert r.get_int("api_support") == profile.api_support, "MRT_API_SUPPORT changed after a refused write"
    assert r.get_int("api_config") == 0, (
        "MRT_API_CONFIG changed after a refused setsockopt(MRT_API_SUPPORT): the write was applied somewhere"
    )


# -- api.config-subset / api.config-read ------------------------------------------------------

SUBSET_REQUESTS = [
    0,
    DISABLE,
    BORDER,
    RP,
    BW,
    DISABLE | BORDER,
    RP | BW,
    DEFINED,
    0xFFFFFFFF,  # everything
    0xFC,  # reserved per-vif flag bits only
    1 << 10,
    1 << 31,
    0xFFFFFCFC,  # unknown feature bits only
    DEFINED | 1 << 10 | 0x80,  # known and unknown mixed
]


@pytest.mark.clause("api.config-subset")
@pytest.mark.parametrize("requested", SUBSET_REQUESTS, ids=lambda b: f"{b:#x}")
def test_config_subset(h, profile, requested):
    """The value written back is requested & supported: unknown bits are dropped, never echoed."""
    support = h.require_api()
    r = h.router(4)
    accepted = r.api_config(requested)
    want = requested & profile.api_support
    assert accepted == want, (
        f"MRT_API_CONFIG({feature_names(requested)}) wrote back {feature_names(accepted)}; expected the "
        f"subset the target supports ({feature_names(support)}): {feature_names(want)}"
    )
    assert accepted == requested & support


@pytest.mark.clause("api.config-subset")
def test_config_with_a_longer_buffer_writes_back_the_first_four_bytes_only(h, profile):
    """FreeBSD reads and writes back exactly a uint32_t (sooptcopyin(sopt, &i, sizeof i, sizeof i),
    then sooptcopyout of the same 4 bytes): the rest of a longer buffer comes back as written.
    Where the option's length must be exact (NetBSD sockopt_get) the longer buffer is refused."""
    support = h.require_api()
    r = h.router(4)
    tail = bytes([0xA5, 0x5A, 0xC3, 0x3C])

    if "MRT_API_CONFIG" in profile.exact_optlen:
        with h.raises("option.short", "MRT_API_CONFIG with an 8-byte buffer"):
            r.set_raw("api_config", (0xFFFFFFFF).to_bytes(4, "little") + tail)
        return
    out = r.set_raw("api_config", (0xFFFFFFFF).to_bytes(4, "little") + tail)
    assert out == support.to_bytes(4, "little") + tail, (
        f"MRT_API_CONFIG(0xffffffff + 4 more bytes) left the buffer as {out.hex()}; expected the accepted "
        f"flags {support:#x} then the caller's {tail.hex()} unchanged")


@pytest.mark.clause("api.config-subset", "api.config-read")
def test_config_subset_property(h, profile):
    """For any 32-bit request: write-back == request & support, and a later read agrees."""
    support = h.require_api()
    r = h.router(4)  # no vif, no entry, asserts off: MRT_API_CONFIG may be repeated freely

    @INNER_SETTINGS
    @given(requested=st.integers(0, 0xFFFFFFFF))
    @example(requested=0xFFFFFFFF)
    @example(requested=UNKNOWN)
    def check(requested):
        accepted = r.api_config(requested)
        assert accepted == requested & support, (
            f"MRT_API_CONFIG({feature_names(requested)}) wrote back {feature_names(accepted)}, "
            f"expected {feature_names(requested & support)}"
        )
        assert r.get_int("api_config") == accepted, "getsockopt(MRT_API_CONFIG) disagrees with the write-back"

    check()


@pytest.mark.clause("api.config-read")
@pytest.mark.parametrize("bits", [RP, DISABLE | BW, DEFINED], ids=lambda b: f"{b:#x}")
def test_config_read(h, bits):
    """The enabled set reads back later, after vifs and entries, and from any socket (it is global)."""
    h.require_api(bits)
    r = h.router(4)
    assert r.get_int("api_config") == 0, "MRT_API_CONFIG is not 0 right after MRT_INIT"
    accepted = r.api_config(bits)
    assert accepted == bits
    assert r.get_int("api_config") == bits
    r.add_vifs(0, 1)
    r.add_mfc(h.src(4, 0), h.group(4), 0, {1: 1})
    assert r.get_int("api_config") == bits, "MRT_API_CONFIG changed when vifs and an MFC entry were added"
    other = h.routing_socket(4)
    if h.profile.errno_of("socket.get_non_router") is not None:
        with h.raises("socket.get_non_router", "getsockopt(MRT_API_CONFIG) on a socket that is not the router"):
            other.get_int("api_config")  # NetBSD ip_mrouter_get answers the router only
        return
    got = other.get_int("api_config")
    assert got == bits, (
        f"MRT_API_CONFIG read on another socket: expected the router's {feature_names(bits)}, "
        f"got {feature_names(got)} (the enabled set is global)"
    )


@pytest.mark.clause("api.config-read")
def test_config_renegotiation_replaces(h):
    """A second MRT_API_CONFIG before any vif replaces the set (it does not OR into it); 0 clears it."""
    h.require_api(RP | BORDER)
    r = h.router(4)
    assert r.api_config(RP) == RP
    assert r.api_config(BORDER) == BORDER
    assert r.get_int("api_config") == BORDER, "MRT_API_CONFIG accumulated instead of replacing"
    assert r.api_config(0) == 0
    assert r.get_int("api_config") == 0, "MRT_API_CONFIG(0) did not clear the enabled set"


# -- api.config-reset -------------------------------------------------------------------------


@pytest.mark.clause("api.config-reset")
@pytest.mark.parametrize("how", ["MRT_DONE", "close"])
def test_config_reset(h, how):
    """After MRT_DONE (or closing the router) the set is 0: the basic API is back and may be renegotiated."""
    support = h.require_api(RP | DISABLE)
    r = h.router(4)
    assert r.api_config(support) == support
    r.add_vifs(0, 1)
    r.add_mfc(h.src(4, 0), h.group(4, 1), 0, {1: 1})
    if how == "MRT_DONE":
        r.done()
    else:
        r.close()
        r = h.routing_socket(4)
    r.init()
    got = r.get_int("api_config")
    assert got == 0, f"after {how} and a new MRT_INIT, MRT_API_CONFIG is {feature_names(got)}, expected 0"
    r.add_vifs(0, 1)
    # the basic 44-byte struct mfcctl is accepted again, and read as one
    r.add_mfc(h.src(4, 0), h.group(4, 2), 0, {1: 1}, v2=False)
    h.send(0, h.packet(4, h.src(4, 0), h.group(4, 2)))
    expect_forwarded(h, 1, f"basic mfcctl after {how}")
    # and negotiation is allowed again right after this MRT_INIT
    r.done()
    r.init()
    assert r.api_config(RP) == RP, f"MRT_API_CONFIG refused right after MRT_INIT following {how}"


# -- api.config-first -------------------------------------------------------------------------


def _after_vif(h, r):
    r.add_vif(0)


def _after_register_vif(h, r):
    r.add_vif(3, register=True)


def _after_mfc(h, r):
    r.add_mfc(h.src(4, 0), h.group(4, 7), 0, {1: 1})  # no vif exists: the entry alone


def _after_pending(h, r):
    """A pending (NOCACHE) entry only: the vif that took the packet is deleted again."""
    r.add_vif(0)
    h.send(0, h.packet(4, h.src(4, 0), h.group(4, 8)))
    assert [u.kind for u in r.upcalls()] == ["NOCACHE"], "precondition: the packet made a pending entry"
    r.del_vif(0)


def _after_assert(h, r):
    r.set_assert(True)


AFTER = {
    "vif": _after_vif,
    "register-vif": _after_register_vif,
    "mfc-entry": _after_mfc,
    "pending-entry": _after_pending,
    "MRT_ASSERT": _after_assert,
}


@pytest.mark.clause("api.config-first")
@pytest.mark.parametrize("prior", [0, RP], ids=["nothing-negotiated", "RP-negotiated"])
@pytest.mark.parametrize("after", list(AFTER))
def test_config_first(h, after, prior):
    """MRT_API_CONFIG after a vif, an MFC entry (pending too) or MRT_ASSERT fails and changes nothing."""
    h.require_api(RP | DISABLE | BORDER)
    r = h.router(4)
    if prior:
        assert r.api_config(prior) == prior
    AFTER[after](h, r)
    with h.raises("api.not_first", f"MRT_API_CONFIG after {after}"):
        r.set_raw("api_config", (DISABLE | BORDER | RP).to_bytes(4, "little"))
    got = r.get_int("api_config")
    assert got == prior, (
        f"refused MRT_API_CONFIG after {after} still changed the enabled set: {feature_names(prior)} -> "
        f"{feature_names(got)}"
    )


@pytest.mark.clause("api.config-first")
def test_config_first_allowed_right_after_init(h):
    """The control: right after MRT_INIT, and on a socket opened after another router was done."""
    h.require_api(RP)
    r = h.router(4, vifs=(0, 1), assert_=True)
    r.done()
    r.init()
    assert r.api_config(RP) == RP, (
        "MRT_API_CONFIG refused right after MRT_INIT (earlier state survived MRT_DONE?)"
    )


# -- api.default-basic ------------------------------------------------------------------------


@pytest.mark.clause("api.default-basic")
@pytest.mark.parametrize("negotiation", ["none", "unknown-bits-only", "zero"])
def test_default_basic(h, profile, negotiation):
    """With nothing enabled, MRT_ADD_MFC takes the 44-byte struct mfcctl and reads it as such."""
    h.require_api()
    r = h.router(4)
    if negotiation == "unknown-bits-only":
        assert r.api_config(UNKNOWN) == 0, "only unknown bits were requested, yet something was enabled"
    elif negotiation == "zero":
        assert r.api_config(0) == 0
    assert r.get_int("api_config") == 0
    r.add_vifs(0, 1, 2)
    arg = r.mfc_args(h.src(4, 0), h.group(4), 0, {1: 1, 2: 0}, v2=False)
    assert len(arg) == profile.struct("mfcctl").size
    r.set_raw("add_mfc", arg)
    h.send(0, h.packet(4, h.src(4, 0), h.group(4)))
    expect_forwarded(h, 1, "entry installed with struct mfcctl")
    assert h.frames(2) == [], "ttls[2] = 0 yet a copy went out on vif 2: the mfcctl was misread"
    h.expect_no_upcall(r, "the entry exists")


# -- api.mfcctl2 ------------------------------------------------------------------------------


@pytest.mark.clause("api.mfcctl2")
@pytest.mark.parametrize("bits", [DISABLE, BORDER, RP, BW, DEFINED], ids=feature_names)
def test_mfcctl2_required(h, profile, bits):
    """Once any feature is on, MRT_ADD_MFC needs the 80-byte mfcctl2; a shorter one fails and installs nothing."""
    h.require_api(bits)
    r = h.router(4)
    assert r.api_config(bits) == bits
    r.add_vifs(0, 1, 2)
    src, g_short, g_ok = h.src(4, 0), h.group(4, 1), h.group(4, 2)
    basic = r.mfc_args(src, g_short, 0, {1: 1}, v2=False)
    full = r.mfc_args(src, g_short, 0, {1: 1}, v2=True)
    assert len(full) == profile.struct("mfcctl2").size
    for arg, what in ((basic, "a 44-byte struct mfcctl"), (full[:-1], "an mfcctl2 one byte short")):
        with h.raises("option.short", f"MRT_ADD_MFC with {what} after negotiating {feature_names(bits)}"):
            r.set_raw("add_mfc", arg)
    h.send(0, h.packet(4, src, g_short))
    h.expect_upcall(r, "NOCACHE", 0, src, g_short)
    assert h.frames(1) == [], "a refused MRT_ADD_MFC still installed a forwarding entry"
    r.set_raw("add_mfc", r.mfc_args(src, g_ok, 0, {1: 1, 2: 0}, v2=True))
    h.send(0, h.packet(4, src, g_ok))
    expect_forwarded(h, 1, "entry installed with struct mfcctl2")
    assert h.frames(2) == [], "ttls[2] = 0 yet a copy went out on vif 2: the mfcctl2 was misread"
    h.expect_no_upcall(r, "the entry exists")
    r.set_raw("del_mfc", r.mfc_args(src, g_ok, v2=True))  # deleting with the same struct works too
    h.send(0, h.packet(4, src, g_ok))
    h.expect_upcall(r, "NOCACHE", 0, src, g_ok)


# -- api.flags-masked -------------------------------------------------------------------------

NEGOTIATED_FLAGS = [0, DISABLE, BORDER, DISABLE | BORDER]
RP_PORT = 3  # the RP is the tester host behind port 3; vif 3 is the register vif


def _flags_router(h, negotiated):
    h.require_api(negotiated | RP)
    r = h.router(4)
    assert r.api_config(negotiated | RP) == negotiated | RP
    r.add_vifs(0, 1, 2)
    r.add_vif(3, register=True)
    r.set_assert(True)
    return r


def _check_flags_byte(h, r, negotiated, flags, n):
    """One (S,G) with ``flags`` on every vif: Border and WRONGVIF follow only the negotiated bits."""
    src, grp, rp = h.src(4, 0), h.group(4, n), h.port(RP_PORT).peer_ipv4
    r.add_mfc(src, grp, 0, {1: 1, 2: 1, 3: 1}, flags={v: flags for v in range(4)}, rp=rp)
    h.send(0, h.packet(4, src, grp))
    registers = [f for f in h.frames(RP_PORT) if f.pkt.haslayer(PIMv2Register)]
    assert len(registers) == 1, f"expected one PIM Register to {rp}, got {len(registers)}"
    border = registers[0].pkt[PIMv2Register].border
    want_border = bool(flags & negotiated & BORDER)
    assert border == want_border, (
        f"mfcc_flags {flags:#04x} on every vif, negotiated {feature_names(negotiated | RP)}: Border bit "
        f"{border}, expected {int(want_border)} (only negotiated flag bits may take effect)"
    )
    h.all_frames()
    h.send(1, h.packet(4, src, grp))
    got = r.upcalls("WRONGVIF")
    want_wrongvif = not flags & negotiated & DISABLE
    assert len(got) == int(want_wrongvif), (
        f"mfcc_flags {flags:#04x} on every vif, negotiated {feature_names(negotiated | RP)}: "
        f"{len(got)} WRONGVIF upcalls, expected {int(want_wrongvif)} (only negotiated flag bits may take effect)"
    )


@pytest.mark.clause("api.flags-masked")
@pytest.mark.parametrize("negotiated", NEGOTIATED_FLAGS, ids=feature_names)
@pytest.mark.parametrize("flags", [0x01, 0x02, 0x03, 0xFC, 0xFF], ids=lambda f: f"flags{f:#04x}")
def test_flags_masked(h, negotiated, flags):
    """mfcc_flags bits that were not negotiated (and the reserved ones) have no effect."""
    r = _flags_router(h, negotiated)
    _check_flags_byte(h, r, negotiated, flags, 1)


@pytest.mark.clause("api.flags-masked")
@pytest.mark.parametrize("negotiated", NEGOTIATED_FLAGS, ids=feature_names)
def test_flags_masked_property(h, negotiated):
    """For any flags byte: Border set iff byte & negotiated & BORDER; WRONGVIF iff not byte & negotiated & DISABLE."""
    r = _flags_router(h, negotiated)
    groups = itertools.count(100)

    @INNER_SETTINGS
    @given(flags=st.integers(0, 0xFF))
    def check(flags):
        _check_flags_byte(h, r, negotiated, flags, next(groups))

    check()


# -- api.absent -------------------------------------------------------------------------------

@pytest.mark.clause("api.absent")
def test_target_api_presence_matches_profile(h, profile):
    """On the target under test: the probe gives ``unsupported`` exactly when the profile declares no API."""
    if profile.api_support is None:
        with pytest.raises(pytest.skip.Exception) as outcome:
            h.require_api()
        assert str(outcome.value).startswith(UNSUPPORTED_PREFIX), str(outcome.value)
    else:
        assert h.require_api() == profile.api_support
