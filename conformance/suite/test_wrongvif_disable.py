"""MRT_MFC_FLAGS_DISABLE_WRONGVIF: the per-vif, per-(S,G) switch that silences IGMPMSG_WRONGVIF.

Arrangement: vifs 0-3 on ports 0-3, the (S,G)'s parent is vif 0, MRT_ASSERT is on (WRONGVIF needs
it). The flag is indexed by the vif the packet *arrives* on. Every case uses a fresh (S,G), so the
per-(S,G) rate limit (one WRONGVIF per 3 s) never hides an upcall; where a case needs a second
upcall for the same (S,G) it steps the clock past the interval. Profiles on which WRONGVIF needs
the arrival vif to be an outgoing vif (``wrongvif_requires_oif``) are honoured, not assumed.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conformance.harness import Harness
from conformance.harness.routing import RoutingSocket
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
PARENT = 0
WRONG = (1, 2, 3)  # vifs that are not the parent
VIFS = (0, 1, 2, 3)
INNER_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def router(h: Harness, negotiate: int | None) -> RoutingSocket:
    """Vifs 0-3 and MRT_ASSERT on; ``negotiate`` is requested first (None: no MRT_API_CONFIG call)."""
    h.require_api(DISABLE | (negotiate or 0))
    r = h.router(4)
    if negotiate is not None:
        accepted = r.api_config(negotiate)
        assert accepted == negotiate, f"precondition: MRT_API_CONFIG({negotiate:#x}) enabled {accepted:#x}"
    r.add_vifs(*VIFS)
    r.set_assert(True)
    return r


def install(r: RoutingSocket, h: Harness, n: int, flags: dict[int, int], oifs=WRONG, src_n: int = 0):
    """(S,G) number ``n`` with parent vif 0, ``oifs`` as outgoing vifs and per-vif ``flags``."""
    src, grp = h.src(4, PARENT, src_n), h.group(4, n)
    r.add_mfc(src, grp, PARENT, {v: 1 for v in oifs}, flags=flags)
    return src, grp


def wrongvif_expected(profile, arrival: int, oifs, disabled: bool) -> bool:
    """Whether a WRONGVIF must come: not disabled, and the profile's arrival-vif rule holds."""
    return not disabled and (arrival in oifs or not profile.wrongvif_requires_oif)


def check_arrival(h: Harness, r: RoutingSocket, port: int, src: str, grp: str, want: bool, why: str) -> None:
    """Send one packet of (src, grp) on ``port``: one WRONGVIF naming that vif iff ``want``, never forwarded."""
    h.send(port, h.packet(4, src, grp))
    if want:
        h.expect_upcall(r, "WRONGVIF", port, src, grp)
    else:
        h.expect_no_upcall(r, why)
    sent = {p: f for p, f in h.all_frames().items() if f}
    assert not sent, f"a packet that arrived on the wrong vif {port} was forwarded on ports {sorted(sent)}"


def describe(flags: dict[int, int]) -> str:
    return (
        "{" + ", ".join(f"vif {v}: {b:#04x}" for v, b in sorted(flags.items()) if b) + "}"
        if any(flags.values())
        else "no flags"
    )


# -- wrongvif.disable-flag --------------------------------------------------------------------


@pytest.mark.clause("wrongvif.disable-flag")
@pytest.mark.parametrize("arrival", WRONG)
@pytest.mark.parametrize("flag", [DISABLE, DISABLE | BORDER, 0xFF], ids=lambda f: f"flag{f:#04x}")
@pytest.mark.parametrize("arrival_is_oif", [True, False], ids=["arrival-oif", "arrival-not-oif"])
def test_disable_flag(h, profile, arrival, flag, arrival_is_oif):
    """DISABLE_WRONGVIF on the arrival vif silences WRONGVIF there; the same (S,G) shape without it does not."""
    r = router(h, DISABLE | BORDER)
    oifs = tuple(v for v in WRONG if v != arrival or arrival_is_oif)
    src, grp = install(r, h, 1, {arrival: flag}, oifs)
    check_arrival(
        h, r, arrival, src, grp, False, f"DISABLE_WRONGVIF ({flag:#04x}) is set on the arrival vif {arrival}"
    )
    counts = r.sg_count(src, grp)
    assert counts["wrong_if"] == 1, (
        f"wrong_if is {counts['wrong_if']}: the flag silences the upcall, the packet still arrived on the wrong vif"
    )
    # control: an (S,G) arranged the same way but without the flag does signal
    src2, grp2 = install(r, h, 2, {}, oifs)
    want = wrongvif_expected(profile, arrival, oifs, disabled=False)
    check_arrival(h, r, arrival, src2, grp2, want, "the profile needs the arrival vif to be an oif")


@pytest.mark.clause("wrongvif.disable-flag")
def test_disable_flag_lasts(h):
    """The flag is not a one-shot: past the rate-limit interval, packets on that vif still signal nothing."""
    r = router(h, DISABLE)
    src, grp = install(r, h, 1, {2: DISABLE})
    for step in range(3):
        check_arrival(h, r, 2, src, grp, False, f"DISABLE_WRONGVIF on vif 2, packet {step + 1}")
        h.advance(3.1)
    # and the other wrong vif of that same (S,G) still signals, once the interval has passed
    check_arrival(h, r, 1, src, grp, True, "")


@pytest.mark.clause("wrongvif.disable-flag")
def test_disable_flag_removed_by_update(h):
    """MRT_ADD_MFC replacing the entry without the flag turns WRONGVIF back on for that vif."""
    r = router(h, DISABLE)
    src, grp = install(r, h, 1, {1: DISABLE})
    check_arrival(h, r, 1, src, grp, False, "DISABLE_WRONGVIF on vif 1")
    install(r, h, 1, {})
    h.advance(3.1)  # whether or not the silenced packet touched the rate limit
    check_arrival(h, r, 1, src, grp, True, "")
    install(r, h, 1, {1: DISABLE})
    h.advance(3.1)
    check_arrival(h, r, 1, src, grp, False, "DISABLE_WRONGVIF set again by an update")


# -- wrongvif.disable-flag-scope --------------------------------------------------------------


OTHER_VIF = [(f, a) for f in VIFS for a in WRONG if f != a]


@pytest.mark.clause("wrongvif.disable-flag-scope")
@pytest.mark.parametrize(
    ("flag_vif", "arrival"), OTHER_VIF, ids=[f"flag-vif{f}-arrival-vif{a}" for f, a in OTHER_VIF]
)
@pytest.mark.parametrize("flag", [DISABLE, 0xFF], ids=lambda f: f"flag{f:#04x}")
def test_disable_flag_other_vif(h, profile, flag_vif, arrival, flag):
    """The flag on one vif (the parent included) does not silence WRONGVIF for arrivals on another vif."""
    r = router(h, DISABLE | BORDER)
    src, grp = install(r, h, 1, {flag_vif: flag})
    want = wrongvif_expected(profile, arrival, WRONG, disabled=False)
    h.send(arrival, h.packet(4, src, grp))
    got = r.upcalls()
    if want and [(u.kind, u.vif) for u in got] != [("WRONGVIF", arrival)]:
        raise AssertionError(
            f"DISABLE_WRONGVIF ({flag:#04x}) on vif {flag_vif} only; a packet arriving on vif {arrival} must give "
            f"one WRONGVIF for vif {arrival}, got {[u.describe() for u in got]}"
        )
    if flag_vif == PARENT:
        # the flag on the parent changes nothing about forwarding either
        h.all_frames()
        h.send(PARENT, h.packet(4, src, grp))
        out = {p: len(f) for p, f in h.all_frames().items() if f}
        assert out == {v: 1 for v in WRONG}, f"with the flag on the parent, forwarding went to {out}"
        h.expect_no_upcall(r, "a packet on the parent")


@pytest.mark.clause("wrongvif.disable-flag-scope")
@pytest.mark.parametrize(("flagged", "other"), [(1, 2), (2, 1), (3, 1)], ids=lambda v: f"vif{v}")
def test_disable_flag_silenced_packet_does_not_mute_other_vif(h, profile, flagged, other):
    """A packet silenced on the flagged vif must not use up the (S,G)'s rate limit: the next one on another vif signals.

    Otherwise the flag on one vif would suppress WRONGVIF arriving on another vif (no clock step here).
    """
    r = router(h, DISABLE)
    src, grp = install(r, h, 1, {flagged: DISABLE})
    check_arrival(h, r, flagged, src, grp, False, f"DISABLE_WRONGVIF on vif {flagged}")
    check_arrival(
        h,
        r,
        other,
        src,
        grp,
        wrongvif_expected(profile, other, WRONG, False),
        "the profile needs the arrival vif to be an oif",
    )


OTHER_SG = {
    "other-group": (2, 0),
    "other-source": (1, 1),
    "other-source-and-group": (2, 1),
}


@pytest.mark.clause("wrongvif.disable-flag-scope")
@pytest.mark.parametrize("arrival", WRONG)
@pytest.mark.parametrize("other", list(OTHER_SG))
@pytest.mark.parametrize("order", ["flagged-first", "flagged-last"])
def test_disable_flag_other_sg(h, profile, arrival, other, order):
    """The flag on (S1,G1) vif A does not silence WRONGVIF of another (S,G) arriving on that same vif A."""
    r = router(h, DISABLE)
    n, src_n = OTHER_SG[other]
    if order == "flagged-first":
        s1, g1 = install(r, h, 1, {arrival: DISABLE})
        s2, g2 = install(r, h, n, {}, src_n=src_n)
    else:
        s2, g2 = install(r, h, n, {}, src_n=src_n)
        s1, g1 = install(r, h, 1, {arrival: DISABLE})
    assert (s1, g1) != (s2, g2)
    check_arrival(
        h,
        r,
        arrival,
        s2,
        g2,
        wrongvif_expected(profile, arrival, WRONG, False),
        "the profile needs the arrival vif to be an oif",
    )
    check_arrival(h, r, arrival, s1, g1, False, f"DISABLE_WRONGVIF on vif {arrival} of ({s1}, {g1})")


# -- wrongvif.disable-needs-api ---------------------------------------------------------------

NOT_NEGOTIATED = {
    "no-config": None,  # mfcctl2 sent without any MRT_API_CONFIG
    "config-0": 0,
    "border-only": BORDER,
    "rp-only": RP,
    "bw-only": BW,
    "all-but-disable": BORDER | RP | BW,
}


@pytest.mark.clause("wrongvif.disable-needs-api")
@pytest.mark.parametrize("arrival", [1, 3])
@pytest.mark.parametrize("config", list(NOT_NEGOTIATED))
def test_disable_needs_api(h, profile, config, arrival):
    """Without DISABLE_WRONGVIF negotiated the flag in mfcc_flags is ignored: WRONGVIF still comes."""
    negotiate = NOT_NEGOTIATED[config]
    r = router(h, negotiate)
    src, grp = h.src(4, PARENT), h.group(4, 1)
    # nothing negotiated: an mfcctl2 is sent anyway and only its mfcctl part is read; a profile
    # taking exact lengths accepts only the mfcctl there
    v2 = bool(negotiate) or "MRT_ADD_MFC" not in profile.exact_optlen
    r.add_mfc(src, grp, PARENT, {v: 1 for v in WRONG}, flags={v: 0xFF for v in VIFS}, v2=v2)
    h.send(arrival, h.packet(4, src, grp))
    got = r.upcalls()
    if [(u.kind, u.vif) for u in got] != [("WRONGVIF", arrival)]:
        raise AssertionError(
            f"DISABLE_WRONGVIF in mfcc_flags of every vif but not negotiated ({config}): a packet on vif {arrival} "
            f"must still give one WRONGVIF, got {[u.describe() for u in got]}"
        )


# -- properties -------------------------------------------------------------------------------

flag_bytes = st.sampled_from([0, DISABLE, BORDER, DISABLE | BORDER, 0xFC, 0xFE, 0xFF]) | st.integers(0, 0xFF)


@pytest.mark.clause("wrongvif.disable-flag", "wrongvif.disable-flag-scope", "wrongvif.disable-needs-api")
@pytest.mark.parametrize(
    "negotiate", [DISABLE | BORDER, BORDER], ids=["disable-negotiated", "not-negotiated"]
)
def test_disable_property(h, profile, negotiate):
    """For any per-vif flags, arrival vif and oif set: WRONGVIF iff the arrival vif's effective flag lacks DISABLE."""
    r = router(h, negotiate)
    groups = itertools.count(10)

    @INNER_SETTINGS
    @given(
        flags=st.fixed_dictionaries({v: flag_bytes for v in VIFS}),
        arrival=st.sampled_from(WRONG),
        oifs=st.sets(st.sampled_from(WRONG)),
    )
    @example(flags={0: DISABLE, 1: 0, 2: 0, 3: 0}, arrival=1, oifs={1, 2, 3})
    @example(flags={0: 0, 1: DISABLE, 2: 0, 3: 0}, arrival=1, oifs={1})
    @example(flags={0: 0, 1: DISABLE, 2: 0, 3: 0}, arrival=2, oifs={1, 2})
    def check(flags, arrival, oifs):
        src, grp = install(r, h, next(groups), flags, tuple(sorted(oifs)))
        disabled = bool(flags[arrival] & negotiate & DISABLE)
        want = wrongvif_expected(profile, arrival, oifs, disabled)
        h.send(arrival, h.packet(4, src, grp))
        got = [(u.kind, u.vif) for u in r.upcalls()]
        assert got == ([("WRONGVIF", arrival)] if want else []), (
            f"flags {describe(flags)}, negotiated {negotiate:#x}, arrival vif {arrival}, oifs {sorted(oifs)}: "
            f"expected {'one WRONGVIF' if want else 'no upcall'}, got {got}"
        )

    check()
