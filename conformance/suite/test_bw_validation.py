"""bw.* control plane: what MRT_ADD_BW_UPCALL / MRT_DEL_BW_UPCALL accept, refuse and remove.

Whether a meter exists is observed two ways: it reports (a ``>=`` meter with a 1-packet threshold
fires on the next packet), and MRT_DEL_BW_UPCALL of exactly that meter succeeds (a meter that is
not there gives the profile's errno for ``bw.del_nomatch``). A refusal must also change nothing.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conformance.suite.bw_support import (
    BYTES,
    DELETE_ALL,
    GEQ,
    LEQ,
    PKTS,
    Rig,
    meter_name,
    show_all,
)
from mroute_spec.constants import MRT_MFC_BW_UPCALL, MRT_MFC_RP


def reports(rig: Rig, grp: str | None = None) -> list[dict]:
    """Send one packet of (S, grp) now and return the records delivered within the batch timer."""
    rig.send(1, grp=grp)
    rig.at(rig.t + 1 + rig.eps)
    return rig.records()


def expect_quiet(rig: Rig, why: str) -> None:
    got = rig.records()
    if got:
        raise AssertionError(f"expected no bandwidth record ({why}), got:\n{show_all(got)}")


def expect_reports(rig: Rig, n: int, why: str, grp: str | None = None) -> list[dict]:
    got = reports(rig, grp)
    if len(got) != n:
        raise AssertionError(f"expected {n} record(s) ({why}), got {len(got)}:\n{show_all(got)}")
    return got


# -- bw.needs-api --------------------------------------------------------------------------------
@pytest.mark.clause("bw.needs-api")
@pytest.mark.parametrize("negotiated", [0, MRT_MFC_RP], ids=["nothing-negotiated", "only-MRT_MFC_RP"])
def test_meters_need_bw_upcall_negotiated(h, negotiated):
    h.require_api(MRT_MFC_BW_UPCALL | negotiated)
    r = h.router(4)
    if negotiated:
        r.api_config(negotiated)
    r.add_vifs(0, 1)
    s, g = h.src(4), h.group(4)
    r.add_mfc(s, g, 0, {1: 1})
    with h.raises("bw.not_negotiated", "MRT_ADD_BW_UPCALL without MRT_MFC_BW_UPCALL"):
        r.add_bw(s, g, PKTS | GEQ, time=(3, 0), packets=1)
    with h.raises("bw.not_negotiated", "MRT_DEL_BW_UPCALL without MRT_MFC_BW_UPCALL"):
        r.del_bw(s, g, PKTS | GEQ, time=(3, 0), packets=1)
    with h.raises("bw.not_negotiated", "MRT_DEL_BW_UPCALL DELETE_ALL without MRT_MFC_BW_UPCALL"):
        r.del_bw(s, g, DELETE_ALL)
    h.send(0, h.packet(4, s, g))
    h.advance(1.5)
    got = [rec for u in r.upcalls("BW_UPCALL") for rec in u.records]
    assert not got, f"the refused meter reports anyway:\n{show_all(got)}"


# -- bw.tmin -------------------------------------------------------------------------------------
# Thresholds relative to the profile's Tmin {s, u}; the comparison is lexicographic on
# (tv_sec, tv_usec) with no normalisation, so {s, u-1} and {0, s*10^6+u} are below Tmin
# while {s+1, u-5} and {s, u+2*10^6} are not.
BELOW = {
    "2.999999s": lambda s, u: (s - 1, u + 999_999),
    "{3,-1}": lambda s, u: (s, u - 1),
    "{0,3000000}": lambda s, u: (0, s * 1_000_000 + u),
    "{2,1000000}": lambda s, u: (s - 1, u + 1_000_000),
    "zero": lambda s, u: (0, 0),
    "1s": lambda s, u: (1, 0),
    "negative": lambda s, u: (-1, 0),
}
AT_OR_ABOVE = {
    "exactly-Tmin": lambda s, u: (s, u),
    "Tmin+1us": lambda s, u: (s, u + 1),
    "{3,999999}": lambda s, u: (s, u + 999_999),
    "{4,-5}": lambda s, u: (s + 1, u - 5),
    "{3,2000000}": lambda s, u: (s, u + 2_000_000),
    "1h": lambda s, u: (3600, 0),
}
OPS = pytest.mark.parametrize("op", [GEQ, LEQ], ids=["geq", "leq"])


@pytest.mark.clause("bw.tmin")
@OPS
@pytest.mark.parametrize("case", list(BELOW))
def test_tmin_refuses_shorter_intervals(h, op, case):
    rig = Rig(h)
    time = BELOW[case](*h.profile.tmin)
    what = f"b_time {{{time[0]},{time[1]}}} < Tmin {h.profile.tmin}"
    with h.raises("bw.tmin", what):
        rig.add(PKTS | op, time=time, packets=1)
    if op == GEQ:
        rig.send(1)
        rig.at(rig.t + 1 + rig.eps)
        expect_quiet(rig, f"the meter with {what} was refused, yet it measures")
    assert not rig.installed(PKTS | op, time=time, packets=1), (
        f"{what} was refused, yet MRT_DEL_BW_UPCALL of that meter succeeds: it was installed")


@pytest.mark.clause("bw.tmin")
@OPS
@pytest.mark.parametrize("case", list(AT_OR_ABOVE))
def test_tmin_accepts_tmin_and_longer(h, op, case):
    rig = Rig(h)
    time = AT_OR_ABOVE[case](*h.profile.tmin)
    try:
        rig.add(PKTS | op, time=time, packets=1)
    except OSError as e:
        raise AssertionError(f"b_time {{{time[0]},{time[1]}}} is not below Tmin {h.profile.tmin} "
                             f"(lexicographic compare), so it must be accepted; got errno {e.errno}") from None
    if op == GEQ:
        got = expect_reports(rig, 1, f"a GEQ meter with b_time {time} and a 1-packet threshold")
        assert tuple(got[0]["bu_threshold_time"]) == time, (
            f"the record's threshold time is {got[0]['bu_threshold_time']}, installed {time}")
    assert rig.installed(PKTS | op, time=time, packets=1), (
        f"b_time {time} was accepted but MRT_DEL_BW_UPCALL finds no such meter")


# -- bw.unit-required / bw.one-operator ----------------------------------------------------------
@pytest.mark.clause("bw.unit-required")
@pytest.mark.parametrize("flags", [GEQ, LEQ, GEQ | DELETE_ALL, LEQ | 0x20],
                         ids=["GEQ", "LEQ", "GEQ|DELETE_ALL", "LEQ|unknown-bit"])
def test_a_unit_is_required(h, flags):
    rig = Rig(h)
    with h.raises("bw.bad_unit", f"{meter_name(flags, (3, 0), 1, 1)}: neither UNIT_PACKETS nor UNIT_BYTES"):
        rig.add(flags, packets=1, bytes_=1)
    for unit in (PKTS, BYTES):
        as_unit = flags & (GEQ | LEQ) | unit
        assert not rig.installed(as_unit, packets=1, bytes_=1), (
            f"the refused unit-less meter was installed as {flag_str(as_unit)}")


@pytest.mark.clause("bw.one-operator")
@pytest.mark.parametrize("flags", [PKTS, BYTES, PKTS | BYTES, PKTS | GEQ | LEQ, BYTES | GEQ | LEQ],
                         ids=["PKTS-no-op", "BYTES-no-op", "both-units-no-op", "PKTS-GEQ+LEQ", "BYTES-GEQ+LEQ"])
def test_exactly_one_operator(h, flags):
    rig = Rig(h)
    with h.raises("bw.bad_operator", f"{meter_name(flags, (3, 0), 1, 1)}: needs exactly one of GEQ, LEQ"):
        rig.add(flags, packets=1, bytes_=1)
    # Neither half was installed: nothing reports at the next packet nor at the interval end.
    rig.send(1)
    rig.at(3 + 1 + rig.eps)
    expect_quiet(rig, f"{flag_str(flags)} was refused")
    units = flags & (PKTS | BYTES)
    for op in (GEQ, LEQ):
        assert not rig.installed(units | op, packets=1, bytes_=1), (
            f"the refused {flag_str(flags)} meter was installed as {flag_str(units | op)}")


def flag_str(flags: int) -> str:
    return meter_name(flags, (3, 0), 1, 1)


# -- bw.needs-entry ------------------------------------------------------------------------------
NO_ENTRY_CASES = ["no-entry-at-all", "other-group", "other-source", "pending-entry", "deleted-entry"]


def _no_entry_key(rig: Rig, case: str) -> tuple[str, str]:
    """An (S, G) with no complete MFC entry, arranged per ``case``."""
    h = rig.h
    other_g, other_s = h.group(4, 200), h.src(4, 0, 5)
    if case == "no-entry-at-all":
        rig.r.del_mfc(rig.src, rig.grp)
        return rig.src, rig.grp
    if case == "other-group":
        return rig.src, other_g
    if case == "other-source":
        return other_s, rig.grp
    if case == "pending-entry":  # a NOCACHE upcall is out, the entry is pending, not complete
        h.send(0, h.packet(4, rig.src, other_g))
        assert rig.r.upcalls("NOCACHE"), "test setup: the unknown (S,G) gave no NOCACHE upcall"
        return rig.src, other_g
    rig.r.add_mfc(rig.src, other_g, 0, {1: 1})
    rig.r.del_mfc(rig.src, other_g)
    return rig.src, other_g


@pytest.mark.clause("bw.needs-entry")
@pytest.mark.parametrize("case", NO_ENTRY_CASES)
def test_meter_needs_a_complete_entry(h, case):
    rig = Rig(h)
    s, g = _no_entry_key(rig, case)
    with h.raises("bw.no_entry", f"MRT_ADD_BW_UPCALL for ({s}, {g}): {case}"):
        rig.add(PKTS | GEQ, packets=1, grp=g, src=s)
    with h.raises("bw.no_entry", f"MRT_DEL_BW_UPCALL for ({s}, {g}): {case}"):
        rig.delete(PKTS | GEQ, packets=1, grp=g, src=s)
    with h.raises("bw.no_entry", f"MRT_DEL_BW_UPCALL DELETE_ALL for ({s}, {g}): {case}"):
        rig.delete(DELETE_ALL, grp=g, src=s)
    # Once the entry is complete the same meter is accepted (the refusal was about the entry).
    rig.r.add_mfc(s, g, 0, {1: 1})
    rig.add(PKTS | GEQ, packets=1, grp=g, src=s)


# -- bw.idempotent-add ---------------------------------------------------------------------------
@pytest.mark.clause("bw.idempotent-add")
def test_identical_add_keeps_one_meter_and_its_counts(h):
    rig = Rig(h)
    meter = {"flags": PKTS | GEQ, "time": (10, 0), "packets": 2}
    rig.add(**meter)
    rig.send(1)
    rig.add(**meter)  # identical: nothing added, and the running interval is not reset
    rig.send(1)
    rig.at(1 + rig.eps)
    got = rig.records()
    assert len(got) == 1, (f"two packets after an identical re-add: expected one record (one meter, "
                           f"counts kept), got {len(got)}:\n{show_all(got)}")
    assert got[0]["bu_measured_packets"] == 2, f"the re-add reset the meter's counts:\n{show_all(got)}"
    assert rig.installed(**meter), "the meter is gone after the re-add"
    assert not rig.installed(**meter), "one MRT_DEL_BW_UPCALL left a second copy of the meter"


@pytest.mark.clause("bw.idempotent-add")
def test_identical_leq_add_reports_once_per_interval(h):
    rig = Rig(h)
    for _ in range(3):
        rig.add(PKTS | LEQ, time=(3, 0), packets=5)
    rig.at(3 + 1 + rig.eps)
    got = rig.records()
    assert len(got) == 1, f"a LEQ meter added three times: expected one record at its end, got:\n{show_all(got)}"


VARIED = {
    "bytes": {"bytes_": 7},
    "time-sec": {"time": (4, 0)},
    "time-usec": {"time": (3, 1)},
    "units": {"flags": PKTS | BYTES | GEQ},
}


@pytest.mark.clause("bw.idempotent-add")
@pytest.mark.parametrize("field", list(VARIED))
def test_meters_differing_in_one_field_are_distinct(h, field):
    rig = Rig(h)
    base = {"flags": PKTS | GEQ, "time": (3, 0), "packets": 1, "bytes_": 0}
    other = {**base, **VARIED[field]}
    rig.add(**base)
    rig.add(**other)
    got = expect_reports(rig, 2, f"two meters that differ in {field} both fire on one packet")
    assert {r["bu_flags"] for r in got} == {base["flags"], other["flags"]}


# -- bw.delete -----------------------------------------------------------------------------------
@pytest.mark.clause("bw.delete")
@OPS
def test_delete_removes_the_meter(h, op):
    rig = Rig(h)
    meter = {"flags": PKTS | op, "time": (3, 0), "packets": 1}
    rig.add(**meter)
    rig.delete(**meter)
    rig.send(1)
    rig.at(3 * 3 + 1 + rig.eps)  # three LEQ interval ends and a batch timer later
    expect_quiet(rig, f"{meter_name(**{**meter, 'bytes_': 0})} was deleted")
    with h.raises("bw.del_nomatch", "deleting the same meter again"):
        rig.delete(**meter)


NO_MATCH = {
    "packets": {"packets": 2},
    "bytes": {"bytes_": 1},
    "time-sec": {"time": (4, 0)},
    "time-usec": {"time": (3, 1)},
    "units": {"flags": PKTS | BYTES | GEQ},
    "operator": {"flags": PKTS | LEQ},
    "both-operators": {"flags": PKTS | GEQ | LEQ},
    "no-operator": {"flags": PKTS},
}


@pytest.mark.clause("bw.delete")
@pytest.mark.parametrize("field", list(NO_MATCH))
def test_delete_without_a_match_fails_and_keeps_the_meter(h, field):
    rig = Rig(h)
    meter = {"flags": PKTS | GEQ, "time": (3, 0), "packets": 1, "bytes_": 0}
    rig.add(**meter)
    probe = {**meter, **NO_MATCH[field]}
    with h.raises("bw.del_nomatch", f"deleting {meter_name(**probe)} when only {meter_name(**meter)} exists"):
        rig.delete(**probe)
    expect_reports(rig, 1, f"the failed delete (different {field}) must leave the meter in place")


@pytest.mark.clause("bw.delete")
def test_delete_removes_only_that_meter(h):
    rig = Rig(h)
    keep = {"flags": PKTS | GEQ, "time": (3, 0), "packets": 1, "bytes_": 1}
    gone = {"flags": PKTS | GEQ, "time": (3, 0), "packets": 1, "bytes_": 2}
    rig.add(**keep)
    rig.add(**gone)
    rig.delete(**gone)
    got = expect_reports(rig, 1, "one of two meters deleted")
    assert got[0]["bu_threshold_bytes"] == keep["bytes_"], f"the wrong meter was deleted:\n{show_all(got)}"


@pytest.mark.clause("bw.delete")
def test_records_queued_before_a_delete_are_still_delivered(h):
    rig = Rig(h)
    rig.at(0.25)
    rig.add(PKTS | GEQ, packets=1)
    rig.send(1)  # queued now; the batch timer has not run
    rig.delete(PKTS | GEQ, packets=1)
    rig.at(0.25 + 1 + rig.eps)
    got = rig.records()
    assert len(got) == 1, f"a record queued before its meter was deleted was lost:\n{show_all(got)}"


# -- bw.delete-all -------------------------------------------------------------------------------
@pytest.mark.clause("bw.delete-all")
@pytest.mark.parametrize("flags", [DELETE_ALL, DELETE_ALL | LEQ | PKTS, DELETE_ALL | GEQ | LEQ | BYTES],
                         ids=["DELETE_ALL", "DELETE_ALL|LEQ|PKTS", "DELETE_ALL|GEQ|LEQ|BYTES"])
def test_delete_all_removes_every_meter_of_the_entry(h, flags):
    rig = Rig(h, groups=2)
    mine, other = rig.groups
    rig.add(PKTS | GEQ, packets=1, bytes_=1)
    rig.add(BYTES | GEQ, bytes_=1)
    rig.add(PKTS | LEQ, packets=100)
    rig.add(PKTS | GEQ, packets=1, grp=other)
    # Only src, dst and the flag matter: the threshold is junk, even below Tmin.
    rig.delete(flags, time=(0, 0), packets=12345, bytes_=678)
    rig.send(1, grp=mine)
    rig.send(1, grp=other)
    rig.at(2 * 3 + 1 + rig.eps)  # two LEQ interval ends and a batch timer
    got = rig.records()
    assert [r["bu_dst"] for r in got] == [other], (
        f"after DELETE_ALL on {mine} only the meter on {other} may report; got:\n{show_all(got)}")
    rig.delete(DELETE_ALL)  # nothing left: still succeeds
    for meter in ({"flags": PKTS | GEQ, "packets": 1, "bytes_": 1}, {"flags": PKTS | LEQ, "packets": 100}):
        assert not rig.installed(**meter), f"{meter_name(**{'bytes_': 0, **meter})} survived DELETE_ALL"
    assert rig.installed(PKTS | GEQ, packets=1, grp=other), f"DELETE_ALL on {mine} removed a meter of {other}"


# -- bw.mfc-delete -------------------------------------------------------------------------------
@pytest.mark.clause("bw.mfc-delete")
def test_meters_go_with_their_entry(h):
    rig = Rig(h)
    rig.at(0.25)
    rig.add(PKTS | GEQ, packets=1)
    rig.add(PKTS | LEQ, packets=100)
    rig.send(1)  # the GEQ record is queued before the entry goes
    rig.r.del_mfc(rig.src, rig.grp)
    rig.r.add_mfc(rig.src, rig.grp, 0, {1: 1})  # a new entry: no meters
    rig.at(1.25 + rig.eps)
    got = rig.records()
    assert len(got) == 1 and got[0]["bu_flags"] == PKTS | GEQ, (
        f"the record queued before MRT_DEL_MFC must still be delivered (it carries a copy), and only it:\n"
        f"{show_all(got)}")
    rig.send(1)
    rig.at(3 * 3 + 1 + rig.eps)
    expect_quiet(rig, "the entry that carried the meters was deleted and re-added")
    assert not rig.installed(PKTS | GEQ, packets=1), "a GEQ meter survived MRT_DEL_MFC of its entry"
    assert not rig.installed(PKTS | LEQ, packets=100), "a LEQ meter survived MRT_DEL_MFC of its entry"


@pytest.mark.clause("bw.mfc-delete")
def test_an_entry_update_is_not_a_delete(h):
    rig = Rig(h)
    rig.add(PKTS | GEQ, packets=1)
    rig.r.add_mfc(rig.src, rig.grp, 0, {1: 2})  # MRT_ADD_MFC on an existing (S,G): an update
    expect_reports(rig, 1, "meters survive an MRT_ADD_MFC update of their entry")


# -- bw.tmin: property --------------------------------------------------------------------------
@pytest.mark.clause("bw.tmin")
@OPS
def test_tmin_property_any_interval(h, op):
    """For any b_time {sec, usec}: refused iff it compares below Tmin, field by field (no
    normalisation), as the spec's "cannot be shorter than some Tmin" is implemented."""
    rig = Rig(h)
    tmin = tuple(h.profile.tmin)
    near = st.tuples(st.integers(tmin[0] - 2, tmin[0] + 2), st.integers(-2, 2_000_001))
    anywhere = st.tuples(st.integers(-(2**40), 2**40), st.integers(-(2**40), 2**40))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(time=near | anywhere)
    @example(time=(tmin[0], tmin[1] - 1))
    @example(time=tmin)
    def check(time: tuple[int, int]) -> None:
        what = f"b_time {{{time[0]},{time[1]}}} against Tmin {tmin}"
        if time < tmin:
            with h.raises("bw.tmin", what):
                rig.add(PKTS | op, time=time, packets=1)
            return
        try:
            rig.add(PKTS | op, time=time, packets=1)
        except OSError as e:
            raise AssertionError(f"{what}: not below Tmin, must be accepted; got errno {e.errno}") from None
        rig.delete(PKTS | op, time=time, packets=1)

    check()
