"""init.*: MRT_INIT / MRT6_INIT take the router, MRT_PIM switches PIM, MRT_DONE or close let go.

Whether a router exists is observed the way a second daemon would: a probe socket's MRT_INIT
fails with EADDRINUSE while one does, and succeeds (then closes again) when none does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from conformance.harness.expect import errname
from conformance.harness.packets import marker_of
from conformance.harness.routing import RoutingSocket
from conformance.outcomes import unsupported
from mroute_spec.constants import BW_UPCALL_GEQ, BW_UPCALL_LEQ, BW_UPCALL_UNIT_PACKETS, MRT_MFC_BW_UPCALL

# MRT_INIT with 0, by the profile's MRT_INIT value policy: (failure path or None, router held after)
ZERO_ON_A_FRESH_SOCKET = {
    "one": ("init.bad_value", False),  # FreeBSD: only 1 is accepted
    "any": (None, True),  # Linux: the value is ignored, 0 enables too
    "zero-disables": (None, False),  # the doc: 0 disables, so nothing is enabled
}
ZERO_FROM_ANOTHER_SOCKET = {
    "one": "init.bad_value",  # FreeBSD: the value is checked before the router is
    "any": "init.in_use",  # Linux: a second MRT_INIT, whatever its value
    "zero-disables": "init.in_use",  # the doc's disable is the router's: another socket cannot switch it off
}
ZERO_ON_THE_ROUTER = {
    "one": ("init.bad_value", True),
    "any": ("init.in_use", True),  # it is just a second MRT_INIT
    "zero-disables": (None, False),  # the doc: the router is switched off
}


def bad_value_path(path: str | None, v: int) -> str | None:
    """The family's path for a refused MRT_INIT value: NetBSD gives EINVAL for IPv4 and
    ENOPROTOOPT for IPv6 (ip_mrouter_init / ip6_mrouter_init), so the two are separate facts."""
    return "init6.bad_value" if v == 6 and path == "init.bad_value" else path


@contextmanager
def outcome(h, path: str | None, what: str) -> Iterator[None]:
    """The call fails with the profile's errno for ``path``; with no path it must succeed."""
    if path is not None:
        with h.raises(path, what):
            yield
        return
    try:
        yield
    except OSError as e:
        raise AssertionError(f"{what}: expected success, got {errname(e.errno)}") from None


def router_held(h, v: int) -> bool:
    """Whether any socket holds the router, asked through a probe socket's MRT_INIT."""
    probe = h.routing_socket(v)
    try:
        probe.init()
    except OSError as e:
        want = h.profile.errno_of("init.in_use")
        assert e.errno == want, f"probe MRT_INIT: expected success or {errname(want)}, got {errname(e.errno)}"
        probe.close()
        return True
    probe.close()  # closing the router socket is MRT_DONE: the probe lets go again
    return False


def switch_off(r: RoutingSocket) -> None:
    for role in ("pim", "assert"):
        with contextlib.suppress(OSError, LookupError):
            r.set_int(role, 0)


def expect_routing(h, r: RoutingSocket, v: int, n: int, port: int = 0, vif: int = 0) -> None:
    """``r`` is the working router: a fresh (S,G) arriving on ``port`` is upcalled to it."""
    src, grp = h.src(v, port, n), h.group(v, n)
    h.send(port, h.packet(v, src, grp))
    h.expect_upcall(r, "NOCACHE", vif, src, grp)


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("init.enable")),
    pytest.param(6, marks=pytest.mark.clause("init.v6-enable")),
])
def test_init_with_2_is_refused_or_taken_as_the_profile_says(h, v):
    """MRT_INIT's value must be 1 on the BSDs (ip_mrouter_init / ip6_mrouter_init: `v != 1`), also
    where 0 disables (the API text); Linux never reads it. A refusal takes no router."""
    path = "init.bad_value" if v == 4 else "init6.bad_value"
    r = h.routing_socket(v)
    with h.raises(path, "MRT_INIT with the value 2"):
        r.init(2)
    if h.profile.errno_of(path) is not None:
        assert not router_held(h, v), "a refused MRT_INIT(2) took the router"
        r.init(1)
    if v == 6:
        r.block_icmp6()
    r.add_vifs(0, 1)
    src, grp = h.src(v, 0, 2), h.group(v, 2)
    h.send(0, h.packet(v, src, grp))
    h.expect_upcall(r, "NOCACHE", 0, src, grp)


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("init.enable")),
    pytest.param(6, marks=pytest.mark.clause("init.v6-enable")),
])
def test_init_with_1_takes_the_router_and_turns_forwarding_on(h, v):
    assert not router_held(h, v), "a router exists before any MRT_INIT"
    r = h.routing_socket(v)

    r.init(1)

    assert router_held(h, v), "after MRT_INIT(1) a second MRT_INIT still succeeds: no router was taken"
    if v == 6:
        r.block_icmp6()
    r.add_vifs(0, 1)
    src, grp = h.src(v, 0, 1), h.group(v, 1)
    h.send(0, h.packet(v, src, grp))
    h.expect_upcall(r, "NOCACHE", 0, src, grp)
    r.add_mfc(src, grp, 0, {1: 1})
    pkt = h.packet(v, src, grp)
    h.send(0, pkt)
    forwarded = [marker_of(f.payload) for f in h.frames(1)]
    assert marker_of(bytes(pkt)) in forwarded, (
        f"packet {marker_of(bytes(pkt))!r} not forwarded on vif 1 after MRT_INIT and MRT_ADD_MFC; "
        f"got {forwarded}")


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("init.exclusive")),
    pytest.param(6, marks=pytest.mark.clause("init.v6-exclusive")),
])
def test_a_second_init_fails_with_eaddrinuse_and_the_first_router_keeps_routing(h, v):
    r = h.router(v, vifs=(0,))
    other = h.routing_socket(v)

    with h.raises("init.in_use", "MRT_INIT again on the routing socket"):
        r.init()
    with h.raises("init.in_use", "MRT_INIT on a second raw socket"):
        other.init()

    expect_routing(h, r, v, n=1)
    h.expect_no_upcall(other, "the refused socket must not receive upcalls")


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("init.disable-value")
def test_init_with_0_on_a_fresh_socket_follows_the_profile(h, v):
    path, held = ZERO_ON_A_FRESH_SOCKET[h.profile.init_value]
    path = bad_value_path(path, v)
    r = h.routing_socket(v)

    with outcome(h, path, f"MRT_INIT(0) with no router (policy {h.profile.init_value!r})"):
        r.init(0)

    assert router_held(h, v) == held, (
        f"after MRT_INIT(0) on a fresh socket: router held expected {held}, got {not held}")
    if held:
        if v == 6:
            r.block_icmp6()
        r.add_vifs(0)
        expect_routing(h, r, v, n=1)


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("init.disable-value")
def test_init_with_0_from_another_socket_leaves_the_router_alone(h, v):
    path = bad_value_path(ZERO_FROM_ANOTHER_SOCKET[h.profile.init_value], v)
    r = h.router(v, vifs=(0, 1))
    other = h.routing_socket(v)

    with h.raises(path, f"MRT_INIT(0) from a second raw socket while a router exists (policy {h.profile.init_value!r})"):
        other.init(0)

    assert router_held(h, v), "MRT_INIT(0) from another socket switched the router off"
    expect_routing(h, r, v, n=1, port=1, vif=1)


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("init.disable-value")
def test_init_with_0_on_the_router_follows_the_profile(h, v):
    path, held = ZERO_ON_THE_ROUTER[h.profile.init_value]
    path = bad_value_path(path, v)
    r = h.router(v, vifs=(0, 1))

    with outcome(h, path, f"MRT_INIT(0) on the routing socket (policy {h.profile.init_value!r})"):
        r.init(0)

    assert router_held(h, v) == held, (
        f"after MRT_INIT(0) on the router: router held expected {held}, got {not held}")
    if held:
        expect_routing(h, r, v, n=1, port=1, vif=1)
    else:
        take_router(h, v, "MRT_INIT(0) switched the router off like MRT_DONE: its vifs must be gone too")


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("init.pim")
def test_pim_switches_on_and_off_and_reads_back(h, v, request):
    r = h.router(v, vifs=(0,))
    request.addfinalizer(lambda: switch_off(r))  # Linux keeps PIM and assert across MRT_DONE and close
    try:
        r.number("pim")
        r.set_pim(1)
    except LookupError as e:
        unsupported(str(e))
    except OSError as e:
        if e.errno != h.profile.errno_of("option.unknown_in_range"):
            raise
        unsupported(f"MRT{'' if v == 4 else '6'}_PIM refused with {errname(e.errno)}: no PIM support")
    has_assert = (r.family.opt("assert") in (h.profile.options4 if v == 4 else h.profile.options6))

    assert r.get_int("pim") == 1, f"PIM read back after switching it on: expected 1, got {r.get_int('pim')}"
    if h.profile.pim_sets_assert and has_assert:
        assert r.get_int("assert") == 1, "PIM on must switch assert processing on as well"

    r.set_pim(0)

    assert r.get_int("pim") == 0, f"PIM read back after switching it off: expected 0, got {r.get_int('pim')}"
    if h.profile.pim_sets_assert and has_assert:
        assert r.get_int("assert") == 0, "PIM off must switch assert processing off as well"


def supports_bw_meters(h) -> bool:
    """Probe MRT_API_SUPPORT for bandwidth meters, without making the calling test unsupported."""
    if "MRT_API_SUPPORT" not in h.profile.options4:
        return False
    probe = h.routing_socket(4)
    try:
        return bool(probe.get_int("api_support") & MRT_MFC_BW_UPCALL)
    except OSError:
        return False
    finally:
        probe.close()


def take_router(h, v: int, why: str) -> RoutingSocket:
    """A new router with vifs 0-2, or the test fails saying why that should have worked."""
    try:
        return h.router(v, vifs=(0, 1, 2))
    except OSError as e:
        raise AssertionError(f"{why}: a new MRT_INIT and vifs 0-2 failed with {errname(e.errno)}") from None


@pytest.mark.parametrize("how", ["MRT_DONE", "close"])
@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("init.done")
def test_done_or_close_clears_vifs_entries_meters_and_pending_upcalls_and_frees_the_router(h, v, how):
    meters = v == 4 and supports_bw_meters(h)  # then the entry also carries a >= and a <= meter
    r = h.routing_socket(v)
    r.init()
    if meters:
        r.api_config(MRT_MFC_BW_UPCALL)
    if v == 6:
        r.block_icmp6()
    r.add_vifs(0, 1, 2)
    s1, g1 = h.src(v, 0, 1), h.group(v, 1)  # an installed entry
    s2, g2 = h.src(v, 0, 2), h.group(v, 2)  # a pending entry, one packet queued
    r.add_mfc(s1, g1, 0, {1: 1, 2: 1})
    if meters:
        r.add_bw(s1, g1, BW_UPCALL_UNIT_PACKETS | BW_UPCALL_GEQ, packets=1)  # fires on the next packet
        r.add_bw(s1, g1, BW_UPCALL_UNIT_PACKETS | BW_UPCALL_LEQ, packets=1000)  # fires every 3 s
        h.send(0, h.packet(v, s1, g1))
        h.all_frames()
    h.send(0, h.packet(v, s2, g2))
    h.expect_upcall(r, "NOCACHE", 0, s2, g2)

    r.done() if how == "MRT_DONE" else r.close()

    assert not router_held(h, v), f"after {how} the router is still held"
    r2 = take_router(h, v, f"after {how} the router and its vifs must be gone")
    if meters:
        h.advance(4.5)  # past a <= interval and the 1 s batch timer
        late = [u.describe() for u in r2.upcalls("BW_UPCALL") + (r.upcalls("BW_UPCALL") if how == "MRT_DONE" else [])]
        assert late == [], f"bandwidth upcalls after {how}: the meters or their pending records survived: {late}"
    with h.raises("counters.sg_absent" if v == 4 else "counters.sg6_absent", f"({s1}, {g1}) after {how}"):
        r2.sg_count(s1, g1)
    h.send(0, h.packet(v, s1, g1))
    h.expect_upcall(r2, "NOCACHE", 0, s1, g1)
    assert h.all_frames() == {p: [] for p in range(len(h.target.ports))}, (
        f"({s1}, {g1}) was still forwarded after {how}")
    fresh = h.packet(v, s2, g2)
    h.send(0, fresh)
    h.expect_upcall(r2, "NOCACHE", 0, s2, g2)
    r2.add_mfc(s2, g2, 0, {1: 1})
    released = [marker_of(f.payload) for f in h.frames(1)]
    assert released == [marker_of(bytes(fresh))], (
        f"after {how} and a new MRT_ADD_MFC for ({s2}, {g2}) expected only the new packet "
        f"{marker_of(bytes(fresh))!r} on vif 1, got {released} (a packet queued before {how} was kept)")
