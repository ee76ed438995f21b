"""vif.* / mif.*: the implementation-defined parts of MRT_ADD_VIF / MRT6_ADD_MIF, read from the profile.

The order of the add checks (a request failing two checks gets the first one's errno), which
flag values are accepted, VIFF_USE_IFINDEX (Linux), and which vif a packet's interface maps to
when two vifs share it (FreeBSD: the lowest index; Linux ipmr_find_vif: the highest).
"""

from __future__ import annotations

import socket
import struct

import pytest

from mroute_spec.constants import MIFF_REGISTER

# A request failing each check, per family: the error path it gives
FAILING = {
    4: {"index_range": "vif.index_range", "in_use": "vif.in_use", "address": "vif.bad_address"},
    6: {"index_range": "mif.index_range", "in_use": "mif.in_use", "address": "mif.bad_pifi"},
}


def expect_arrival_vif(h, r, v: int, port: int, vif: int, n: int) -> None:
    """A packet of a fresh (S,G) arriving on ``port`` is upcalled as arriving on ``vif``."""
    src, grp = h.src(v, port, n), h.group(v, n)
    h.send(port, h.packet(v, src, grp))
    h.expect_upcall(r, "NOCACHE", vif, src, grp)


def first_failing(h, v: int, failing: tuple[str, str]) -> str:
    """The error path of whichever of ``failing`` the profile's add checks run first."""
    order = h.profile.add_vif_checks if v == 4 else h.profile.add_mif_checks
    return FAILING[v][next(c for c in order if c in failing)]


def bad_address(v: int) -> dict[str, object]:
    """Add-vif arguments naming no interface: an unowned address (IPv4), an unknown ifindex (IPv6)."""
    return {"lcl_addr": "192.0.2.99"} if v == 4 else {"pifi": 0xFFFE}


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("vif.unique-index")),
    pytest.param(6, marks=pytest.mark.clause("mif.unique-index")),
])
def test_an_add_failing_two_checks_gets_the_errno_of_the_first_in_the_profiles_order(h, v):
    r = h.router(v, vifs=(0,))
    top = h.profile.maxvifs if v == 4 else h.profile.maxmifs

    busy = first_failing(h, v, ("in_use", "address"))
    with h.raises(busy, f"index 0 (in use) naming no interface: the profile checks {busy} first"):
        r.add_vif(0, 1, **bad_address(v))
    past = first_failing(h, v, ("index_range", "address"))
    with h.raises(past, f"index {top} (past the limit) naming no interface: the profile checks {past} first"):
        r.add_vif(top, 1, **bad_address(v))

    r.add_vif(1)  # the refusals left the table as it was
    expect_arrival_vif(h, r, v, port=0, vif=0, n=1)
    expect_arrival_vif(h, r, v, port=1, vif=1, n=2)


@pytest.mark.parametrize(("v", "flags"), [
    pytest.param(4, 0x2, marks=pytest.mark.clause("vif.add")),
    pytest.param(4, 0x10, marks=pytest.mark.clause("vif.add")),
    pytest.param(6, 0x2, marks=pytest.mark.clause("mif.add")),
    pytest.param(6, 0x10, marks=pytest.mark.clause("mif.add")),
    pytest.param(6, MIFF_REGISTER, marks=pytest.mark.clause("mif.add")),
])
def test_flag_values_are_accepted_or_refused_as_the_profile_says(h, v, flags):
    """FreeBSD ignores flag bits it does not know; Linux vif_add / mif6_add switch on the exact value."""
    allowed = h.profile.vif_flags_allowed if v == 4 else h.profile.mif_flags_allowed
    kind = "vif" if v == 4 else "mif"
    r = h.router(v, vifs=(0,))

    if allowed is not None and flags not in allowed:
        with h.raises(f"{kind}.bad_flags", f"{kind} flags {flags:#x} (accepted: {sorted(allowed)})"):
            r.add_vif(1, flags=flags)
        r.add_vif(1)  # the refusal left the slot free
        expect_arrival_vif(h, r, v, port=1, vif=1, n=1)
        return
    r.add_vif(1, flags=flags)  # accepted: the slot is now taken
    with h.raises(f"{kind}.in_use", f"index 1 again after adding it with flags {flags:#x}"):
        r.add_vif(1)
    if not flags & MIFF_REGISTER:
        expect_arrival_vif(h, r, v, port=1, vif=1, n=1)


def as_addr(ifindex: int) -> str:
    """An interface index written through vifc_lcl_addr (the vifc_lcl_ifindex union member's bytes)."""
    return socket.inet_ntoa(struct.pack("<i", ifindex))


@pytest.mark.clause("vif.add")
def test_viff_use_ifindex_binds_by_index_where_the_profile_has_it_else_the_field_is_an_address(h):
    """Linux VIFF_USE_IFINDEX (8): vifc_lcl_addr holds an interface index, an unknown one is refused.
    Without it (FreeBSD ignores the bit) the same bytes are an address no interface owns."""
    flag = h.profile.vif_use_ifindex or 0x8
    r = h.router(4, vifs=(0,))

    if not h.profile.vif_use_ifindex:
        allowed = h.profile.vif_flags_allowed
        refused = "vif.bad_flags" if allowed is not None and flag not in allowed else "vif.bad_address"
        with h.raises(refused, f"flags {flag:#x} with port 1's ifindex in vifc_lcl_addr ({as_addr(h.port(1).ifindex)})"):
            r.add_vif(1, flags=flag, lcl_addr=as_addr(h.port(1).ifindex))
        r.add_vif(1)  # the refusal left the slot free
        expect_arrival_vif(h, r, 4, port=1, vif=1, n=1)
        return
    with h.raises("vif.bad_pifi", "VIFF_USE_IFINDEX with ifindex 0xfffe (no such interface)"):
        r.add_vif(1, flags=flag, lcl_addr=as_addr(0xFFFE))
    r.add_vif(1, flags=flag, lcl_addr=as_addr(h.port(1).ifindex))

    expect_arrival_vif(h, r, 4, port=1, vif=1, n=1)


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("vif.add")),
    pytest.param(6, marks=pytest.mark.clause("mif.add")),
])
def test_two_vifs_on_one_interface_an_arrival_maps_to_the_one_the_profile_says(h, v):
    """FreeBSD scans the vif table upward (the lowest index); Linux ipmr_find_vif downward (the highest)."""
    r = h.router(v, vifs=(0,))
    r.add_vif(1, 1)
    r.add_vif(2, 1)
    want = 1 if h.profile.vif_lookup == "lowest" else 2

    expect_arrival_vif(h, r, v, port=1, vif=want, n=1)
    src, grp = h.src(v, 1, 2), h.group(v, 2)
    r.add_mfc(src, grp, want, {0: 1})
    sent = h.send_marked(1, v, src, grp)
    h.expect_copies(sent, on={0}, context=f"entry with parent vif {want} (the {h.profile.vif_lookup} of vifs 1, 2 "
                                          "on port 1), a packet arriving on port 1")


@pytest.mark.clause("vif.register")
def test_a_register_vif_with_a_null_local_address_is_refused_or_accepted_as_the_profile_says(h):
    """The BSDs refuse vifc_lcl_addr 0.0.0.0 for every vif, the register vif included (in_nullhost
    before the VIFF_REGISTER case: docs/spec/freebsd.md §3.3 step 5, netbsd.md); Linux vif_add's
    VIFF_REGISTER case never reads the address (docs/spec/linux.md §3.3)."""
    r = h.router(4, vifs=(0,))
    src, grp = h.src(4, 0, 1), h.group(4, 1)

    if "null_address" in h.profile.add_vif_checks:
        with h.raises("vif.bad_address", "a register vif with vifc_lcl_addr 0.0.0.0"):
            r.add_vif(1, register=True, lcl_addr="0.0.0.0")
        r.add_vif(1, register=True)  # the refusal left the slot (and the register vif) free
    else:
        r.add_vif(1, register=True, lcl_addr="0.0.0.0")

    r.add_mfc(src, grp, 0, {1: 1})
    h.send(0, h.packet(4, src, grp))
    h.expect_upcall(r, "WHOLEPKT", 1, src, grp)


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("vif.register")),
    pytest.param(6, marks=pytest.mark.clause("mif.add")),
])
def test_a_second_register_vif_is_refused_or_accepted_as_the_profile_says(h, v):
    """Linux keeps one register vif per table (vif_add / mif6_add: mroute_reg_vif_num >= 0 gives
    EADDRINUSE); FreeBSD takes another and keeps the first as the register vif (§3.3 step 8)."""
    kind = "vif" if v == 4 else "mif"
    checks = h.profile.add_vif_checks if v == 4 else h.profile.add_mif_checks
    r = h.router(v, vifs=(0,))
    r.add_vif(1, register=True)

    if "register_unique" in checks:
        with h.raises(f"{kind}.in_use", f"a second register {kind} (index 2) while {kind} 1 is one"):
            r.add_vif(2, register=True)
        r.add_vif(2)  # the refusal left slot 2 free
        expect_arrival_vif(h, r, v, port=2, vif=2, n=1)
    else:
        r.add_vif(2, register=True)
        with h.raises(f"{kind}.in_use", f"index 2 again after a second register {kind} took it"):
            r.add_vif(2)
