"""linuxext.state-*: the routing state read back as the system shows it (Target.routing_state).

Linux shows each table through /proc/net/ip_mr_vif, ip_mr_cache, ip6_mr_vif, ip6_mr_cache
(ipmr_vif_seq_show, ipmr_mfc_seq_show and the ip6mr twins): per vif its device, counters, flags
(VIFF_STATIC added for a vif another socket made) and IPv4 local address word; per MFC entry its
parent, counters and ``vif:ttl`` for the outgoing vifs that exist; an unresolved entry with
parent -1. The expected states here are written from the calls each test makes (and checked
against the counter ioctls), never from the model. Targets that cannot read state back end these
tests ``unsupported``.
"""

from __future__ import annotations

import ipaddress

import pytest

from conformance.outcomes import unsupported
from mroute_spec.constants import MIFF_REGISTER, VIFF_REGISTER, VIFF_STATIC, VIFF_USE_IFINDEX
from reference_impl.snapshot import MfcState, TableState, VifState

BOTH_FAMILIES = pytest.mark.parametrize("v", [4, 6])


def vif(h, v: int, index: int, port: int, flags: int = 0, local: str | None = None, **counts: int) -> VifState:
    """The vif a plain add_vif(index, port) makes, as /proc shows it."""
    if local is None:
        local = h.port(port).ipv4 if v == 4 else ""
    return VifState(index, port, flags, local, **counts)


def canonical(addr: str) -> str:
    """An address as the state shows it (RFC 5952 / dotted quad), written here, not taken from the model."""
    return str(ipaddress.ip_address(addr))


def entry(src: str, grp: str, parent: int, oifs: dict[int, int], **kw) -> MfcState:
    return MfcState(canonical(src), canonical(grp), parent, tuple(sorted(oifs.items())), **kw)


def ttl(v: int, value: int) -> int:
    """IPv6 entries hold an ifset: every member has ttl 1 (ip6mr_mfc_add)."""
    return value if v == 4 else 1


def expect_state(got: TableState, vifs: list[VifState], mfc: list[MfcState], context: str) -> None:
    want = TableState(tuple(sorted(vifs)), tuple(sorted(mfc)))
    if got != want:
        lines = [f"{context}: routing state differs"]
        lines += [f"  vif  want {w}\n       got  {g}" for w, g in zip(want.vifs, got.vifs, strict=False) if w != g]
        if len(want.vifs) != len(got.vifs):
            lines.append(f"  vifs: want {[x.index for x in want.vifs]}, got {[x.index for x in got.vifs]}")
        lines.append(f"  mfc  want {list(want.mfc)}\n       got  {list(got.mfc)}")
        raise AssertionError("\n".join(lines))


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.state-vifs")
def test_state_shows_the_vifs_the_calls_made(h, v):
    """Vifs 0, 1, 2 added, 1 deleted; a vif by another socket shows VIFF_STATIC (Linux, where a
    non-routing socket may add one); IPv4 VIFF_USE_IFINDEX shows the ifindex in the local word."""
    r = h.router(v, vifs=(0, 1, 2))
    st = h.routing_state(v)
    r.del_vif(1)
    want = [vif(h, v, 0, 0), vif(h, v, 2, 2)]
    if r.family.non_router not in h.profile.errnos:  # Linux: another (privileged) socket may add vifs
        h.routing_socket(v).add_vif(3, 3)
        want.append(vif(h, v, 3, 3, flags=VIFF_STATIC))
    if v == 4 and h.profile.vif_use_ifindex:
        word = str(ipaddress.IPv4Address(h.port(1).ifindex.to_bytes(4, "little")))
        r.add_vif(1, 1, flags=VIFF_USE_IFINDEX, lcl_addr=word)
        want.append(vif(h, v, 1, 1, flags=VIFF_USE_IFINDEX, local=word))
    expect_state(h.routing_state(v), want, [], "after MRT_ADD_VIF 0, 1, 2 and MRT_DEL_VIF 1")
    assert st.vifs and not st.mfc  # the first read saw the three vifs, no entry


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.state-vifs")
def test_state_shows_a_register_vif_with_no_port(h, v):
    """The register vif's device (pimreg, pim6reg) is no port of the target; /proc shows it with
    the register flag, the local word as given (ipmr vif_add stores vifc_lcl_addr for every vif)."""
    r = h.router(v, vifs=(0,))
    r.add_vif(1, 1, register=True)
    register = VifState(1, None, VIFF_REGISTER if v == 4 else MIFF_REGISTER, h.port(1).ipv4 if v == 4 else "")
    expect_state(h.routing_state(v), [vif(h, v, 0, 0), register], [], "after MRT_ADD_VIF of a register vif")


@pytest.mark.clause("linuxext.state-mfc")
def test_state_lists_no_oif_for_a_ttl_of_255(h):
    """A ttl of 255 makes no outgoing vif (ipmr_update_thresholds keeps 0 < ttl < 255), so the
    entry's oif list leaves that vif out; a ttl of 254 is an oif."""
    r = h.router(4, vifs=(0, 1, 2, 3))
    s, g = h.src(4, 0, 52), h.group(4, 52)
    r.add_mfc(s, g, 0, ttls={1: 254, 2: 255, 3: 1})
    expect_state(h.routing_state(4), [vif(h, 4, i, i) for i in range(4)], [entry(s, g, 0, {1: 254, 3: 1})],
                 "after MRT_ADD_MFC with ttls 254, 255 and 1")


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.state-mfc")
def test_state_shows_the_entries_the_calls_made(h, v):
    """Add two entries, update one (parent and oifs change), delete the other."""
    r = h.router(v, vifs=(0, 1, 2, 3))
    g = h.group(v, 50)
    s1, s2 = h.src(v, 0, 50), h.src(v, 1, 51)
    r.add_mfc(s1, g, 0, ttls={1: 1, 2: 3})
    r.add_mfc(s2, g, 1, ttls={0: 1})
    vifs = [vif(h, v, i, i) for i in range(4)]
    expect_state(h.routing_state(v), vifs,
                 [entry(s1, g, 0, {1: 1, 2: ttl(v, 3)}), entry(s2, g, 1, {0: 1})], "after two MRT_ADD_MFC")
    r.add_mfc(s1, g, 3, ttls={0: 2, 2: 1})
    r.del_mfc(s2, g)
    expect_state(h.routing_state(v), vifs, [entry(s1, g, 3, {0: ttl(v, 2), 2: 1})],
                 "after updating the first entry and deleting the second")


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.state-mfc")
def test_state_shows_a_pending_entry_until_it_is_resolved(h, v):
    """A NOCACHE miss leaves an unresolved entry (parent -1, no counters); MRT_ADD_MFC resolves it."""
    r = h.router(v, vifs=(0, 1))
    s, g = h.src(v, 0, 52), h.group(v, 52)
    h.send_marked(0, v, s, g)
    h.expect_upcalls(r, [("NOCACHE", 0, s, g)], context="a packet without an entry")
    vifs = [vif(h, v, 0, 0), vif(h, v, 1, 1)]
    expect_state(h.routing_state(v), vifs, [entry(s, g, -1, {}, pending=True)], "after the NOCACHE miss")
    r.add_mfc(s, g, 0, ttls={1: 1})
    st = h.routing_state(v)
    counts = r.sg_count(s, g)  # the queued packet went out on resolution: counted as the ioctl says
    expect_state(st, [vif(h, v, 0, 0, icount=st.vifs[0].icount, ibytes=st.vifs[0].ibytes),
                      vif(h, v, 1, 1, ocount=st.vifs[1].ocount, obytes=st.vifs[1].obytes)],
                 [entry(s, g, 0, {1: 1}, pktcnt=counts["pktcnt"], bytecnt=counts["bytecnt"],
                        wrong_if=counts["wrong_if"])], "after MRT_ADD_MFC resolved it")


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.state-counters")
def test_state_counters_after_forwarding(h, v):
    """Three packets from port 0 forwarded to vifs 1 and 2, one arriving on port 3 (wrong iif):
    the state's entry and vif counters equal SIOCGETSGCNT / SIOCGETVIFCNT and the bytes sent."""
    r = h.router(v, vifs=(0, 1, 2, 3))
    s, g = h.src(v, 0, 53), h.group(v, 53)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})
    sent = h.send_marked(0, v, s, g, n=3, size=100)
    h.expect_copies(sent, on={1, 2}, context="three packets forwarded")
    h.send_marked(3, v, s, g)
    h.all_frames()
    size = sum(h.counted_bytes(p) for p in sent)
    st = h.routing_state(v)
    sg = r.sg_count(s, g)
    got = {e.group: e for e in st.mfc}.get(canonical(g))
    assert got is not None, f"({s}, {g}) is missing from the routing state: {st.mfc}"
    assert (got.pktcnt, got.bytecnt, got.wrong_if) == (sg["pktcnt"], sg["bytecnt"], sg["wrong_if"]), (got, sg)
    assert got.wrong_if == 1 and got.pktcnt in (3, 4), got  # Linux counts the wrong-iif packet too
    by_index = {x.index: x for x in st.vifs}
    assert set(by_index) >= {0, 1, 2, 3}, f"vifs missing from the routing state: {st.vifs}"
    for i, (ic, ib, oc, ob) in {0: (3, size, 0, 0), 1: (0, 0, 3, size), 2: (0, 0, 3, size), 3: (0, 0, 0, 0)}.items():
        counts = r.vif_count(i)
        x = by_index[i]
        assert (x.icount, x.ibytes, x.ocount, x.obytes) == (counts["icount"], counts["ibytes"], counts["ocount"],
                                                             counts["obytes"]) == (ic, ib, oc, ob), (i, x, counts)


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.state-mfc")
@pytest.mark.clause("linuxext.ifremove-forwarding")
def test_state_after_an_interface_went_away(h, v):
    """Port 1 goes away: vif 1 is gone and the entry lists only vif 2 (its ttl for 1 is kept but
    shown only for vifs that exist); a vif added again at index 1 on port 3 shows as an oif again."""
    p = h.profile
    if (p.interface_removal4 if v == 4 else p.interface_removal6) == "not-modelled":
        unsupported(f"profile {p.name!r} defines no IPv{v} interface removal")
    r = h.router(v, vifs=(0, 1, 2))
    s, g = h.src(v, 0, 54), h.group(v, 54)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})
    h.remove_interface(1)
    expect_state(h.routing_state(v), [vif(h, v, 0, 0), vif(h, v, 2, 2)], [entry(s, g, 0, {2: 1})],
                 "after port 1's interface went away")
    r.add_vif(1, 3)
    expect_state(h.routing_state(v), [vif(h, v, 0, 0), vif(h, v, 1, 3), vif(h, v, 2, 2)],
                 [entry(s, g, 0, {1: 1, 2: 1})], "after vif 1 was added again on port 3")
