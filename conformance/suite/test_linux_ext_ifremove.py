"""linuxext.ifremove-*: a router interface with vifs on it goes away (Target.remove_interface).

Written from the kernel source (docs/spec/linux.md §"Linux extensions", interface removal): on
NETDEV_UNREGISTER, ipmr_device_event / ip6mr_device_event delete every vif on the device in every
table with vif_delete / mif6_delete, as MRT_DEL_VIF does, whether the vif was added by address or
with VIFF_USE_IFINDEX; MFC entries keep their ttls / ifset (a vif added again at that index is an
outgoing interface again) and an entry whose parent was the vif stays (Linux) or is expired first
(FreeBSD IPv4 if_detached_event). The MFC policy is the profile's ``interface_removal4/6``. A
target that cannot remove an interface, or a profile that does not say, ends these tests
``unsupported``.
"""

from __future__ import annotations

import ipaddress

import pytest

from conformance.outcomes import unsupported
from conformance.suite.linux_ext import require_table, table
from mroute_spec.constants import VIFF_USE_IFINDEX

# IPv4 by address, IPv4 with VIFF_USE_IFINDEX (Linux), IPv6 (mif6c_pifi is always an ifindex)
KINDS = pytest.mark.parametrize("kind", ["v4", "v4-ifindex", "v6"])
GONE = 1  # the port whose interface goes away; vif GONE is on it
SPARE = 3  # a port with no vif until a vif is added again at index GONE on it


def version(kind: str) -> int:
    return 6 if kind == "v6" else 4


def policy(h, v: int) -> str:
    """The profile's interface-removal policy; ``unsupported`` when the profile does not say."""
    p = h.profile
    value = p.interface_removal4 if v == 4 else p.interface_removal6
    if value == "not-modelled":
        unsupported(f"profile {p.name!r} defines no IPv{v} interface removal")
    return value


def add_vif(h, r, kind: str, index: int, port: int) -> None:
    """Vif ``index`` on ``port``: by address, or (v4-ifindex) VIFF_USE_IFINDEX with its ifindex."""
    if kind != "v4-ifindex":
        r.add_vif(index, port)
        return
    if not h.profile.vif_use_ifindex:
        unsupported(f"profile {h.profile.name!r} has no VIFF_USE_IFINDEX")
    # the vifctl address field holds vifc_lcl_ifindex, a host-order int: spelled as the same 4 bytes
    ifindex = str(ipaddress.IPv4Address(h.port(port).ifindex.to_bytes(4, "little")))
    r.add_vif(index, port, flags=VIFF_USE_IFINDEX, lcl_addr=ifindex)


def setup(h, kind: str):
    """A routing socket with vifs 0, 1, 2 on ports 0, 1, 2; the policy for its family."""
    v = version(kind)
    rule = policy(h, v)
    r = h.router(v)
    for i in (0, 1, 2):
        add_vif(h, r, kind, i, i)
    return r, v, rule


@KINDS
@pytest.mark.clause("linuxext.ifremove-vifs")
def test_removed_interface_takes_its_vif_away(h, kind):
    """MRT_DEL_VIF of the vif fails as for an absent vif; re-adding it on the gone interface fails
    (the address / ifindex is no more); a vif at that index on another port works."""
    r, v, _ = setup(h, kind)
    h.remove_interface(GONE)
    fam = "vif" if v == 4 else "mif"
    with h.raises(f"{fam}.del_absent", f"MRT_DEL_VIF of vif {GONE} after its interface went away"):
        r.del_vif(GONE)
    bad = "bad_pifi" if kind != "v4" else "bad_address"
    with h.raises(f"{fam}.{bad}", f"adding vif {GONE} again on the removed interface"):
        add_vif(h, r, kind, GONE, GONE)
    add_vif(h, r, kind, GONE, SPARE)
    r.del_vif(GONE)  # it exists now


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("linuxext.ifremove-vifs")
def test_removed_interface_vif_counters(h, v):
    """SIOCGETVIFCNT: a removed vif below the highest is a hole (Linux EADDRNOTAVAIL); when it was
    the highest, the table shrinks and the index is out of range (ipmr_ioctl: vifi >= maxvif)."""
    r, v, _ = setup(h, "v4" if v == 4 else "v6")
    h.remove_interface(GONE)
    if h.profile.vif_hole_counters == "errno":
        with h.raises("counters.vif_hole", f"SIOCGETVIFCNT of vif {GONE} (removed, below vif 2)"):
            r.vif_count(GONE)
    else:
        counts = r.vif_count(GONE)
        assert [counts[k] for k in ("icount", "ocount", "ibytes", "obytes")] == [0] * 4, counts
    h.remove_interface(2)
    with h.raises("counters.vif_range" if v == 4 else "counters.mif_range",
                  "SIOCGETVIFCNT of vif 2 (removed, was the highest)"):
        r.vif_count(2)
    assert r.vif_count(0)["icount"] == 0  # vif 0 is still there


@KINDS
@pytest.mark.clause("linuxext.ifremove-forwarding")
def test_copies_stop_on_a_removed_interface_and_resume_on_a_vif_added_there_again(h, kind):
    """(S,G) from port 0 to vifs 1 and 2: after port 1 goes away copies leave on 2 only; a vif
    added again at index 1 on port 3 gets copies again (the entry kept ttls[1])."""
    r, v, _ = setup(h, kind)
    s, g = h.src(v, 0, 40), h.group(v, 40)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})
    h.expect_copies(h.send_marked(0, v, s, g), on={1, 2}, context="before the removal")
    h.remove_interface(GONE)
    h.expect_copies(h.send_marked(0, v, s, g), on={2}, context=f"after port {GONE}'s interface went away")
    add_vif(h, r, kind, GONE, SPARE)
    h.expect_copies(h.send_marked(0, v, s, g), on={2, SPARE},
                    context=f"after vif {GONE} was added again on port {SPARE}")
    h.expect_upcalls(r, [], context="an (S,G) with an entry")


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("linuxext.ifremove-forwarding")
def test_frames_on_a_removed_interface_go_nowhere(h, v):
    """No copy, no NOCACHE upcall for a packet sent on the removed port (the device is gone)."""
    r, v, _ = setup(h, "v4" if v == 4 else "v6")
    s, g = h.src(v, GONE, 41), h.group(v, 41)
    h.remove_interface(GONE)
    h.send_marked(GONE, v, s, g)
    h.expect_copies([], on=set(), context=f"a packet sent on the removed port {GONE}")
    h.expect_upcalls(r, [], context=f"a packet sent on the removed port {GONE}")


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("linuxext.ifremove-parent")
def test_entry_whose_parent_went_away(h, v):
    """(S,G) with parent 1 and oif 2; port 1 goes away. Linux: the entry stays (SIOCGETSGCNT
    answers) and a packet of (S,G) on port 0 fails the iif check (no copy, no NOCACHE); FreeBSD
    IPv4: the entry is expired (SIOCGETSGCNT fails) and the packet is a NOCACHE miss on vif 0."""
    r, v, rule = setup(h, "v4" if v == 4 else "v6")
    s, g = h.src(v, GONE, 42), h.group(v, 42)
    r.add_mfc(s, g, GONE, ttls={2: 1})
    h.remove_interface(GONE)
    expired = rule == "delete-vifs-expire-parent"
    sg_absent = "counters.sg_absent" if v == 4 else "counters.sg6_absent"
    if expired:
        with h.raises(sg_absent, f"SIOCGETSGCNT of ({s}, {g}) after its parent went away"):
            r.sg_count(s, g)
    else:
        r.sg_count(s, g)  # the entry is still there
    sent = h.send_marked(0, v, s, g)
    h.expect_copies(sent, on=set(), context=f"({s}, {g}) arriving on port 0, its parent vif {GONE} removed")
    h.expect_upcalls(r, [("NOCACHE", 0, s, g)] if expired else [],
                     context=f"({s}, {g}) arriving on port 0 (asserts off), its parent vif {GONE} removed")


@pytest.mark.parametrize("v", [4, 6])
@pytest.mark.clause("linuxext.ifremove-vifs")
def test_removal_deletes_the_vifs_in_every_table(h, v):
    """ipmr_device_event walks every table (ipmr_for_each_table): vif 1 on port 1 in table 254 and
    in table 7 both go; MRT_DEL_VIF of either fails as for an absent vif."""
    policy(h, v)
    r = h.router(v, vifs=(0, 1))
    t = h.routing_socket(v)
    require_table(h, t)
    table(t, 7)
    t.init()
    t.add_vifs(1, 2)
    h.remove_interface(GONE)
    fam = "vif" if v == 4 else "mif"
    for sock, name in ((r, "table 254"), (t, "table 7")):
        with h.raises(f"{fam}.del_absent", f"MRT_DEL_VIF of vif {GONE} in {name} after its interface went away"):
            sock.del_vif(GONE)
    t.del_vif(2)  # the other vif of table 7 is still there
