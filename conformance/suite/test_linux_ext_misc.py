"""linuxext.wrvifwhole / linuxext.sg6-request-copied: MRT_PIM value 4, and what SIOCGETSGCNT_IN6
gives back.

Written from the kernel source (docs/spec/linux.md §11). ip_mroute_setsockopt MRT_PIM:
`do_wrvifwhole = (val == IGMPMSG_WRVIFWHOLE); val = !!val;` and only `if (val != mrt->mroute_do_pim)`
it stores do_pim, do_assert and do_wrvifwhole; ip_mr_forward then follows each WRONGVIF with
ipmr_cache_report(.., IGMPMSG_WRVIFWHOLE): a 20-byte igmpmsg (im_vif = the arrival vif) and the
whole packet as it arrived (ip6mr: MRT6MSG_WRMIFWHOLE, the mrt6msg and the packet). ip6mr_ioctl
SIOCGETSGCNT_IN6 fills the three counters into the request it copied in and copies the whole
request back (`copy_to_user(arg, &sr, sizeof(sr))`), so the caller's sockaddr_in6 fields come back
unchanged. On a target without MRT_PIM at its Linux number the WRVIFWHOLE test ends ``unsupported``.
"""

from __future__ import annotations

import pytest

from conformance.suite.linux_ext import require_get

BOTH_FAMILIES = pytest.mark.parametrize("v", [4, 6])


def ip_packet(frame_raw: bytes, v: int) -> bytes:
    ip = frame_raw[14:]
    return ip[: int.from_bytes(ip[2:4], "big")] if v == 4 else ip[: 40 + int.from_bytes(ip[4:6], "big")]


@BOTH_FAMILIES
@pytest.mark.parametrize("before", [0, 1])
@pytest.mark.clause("linuxext.wrvifwhole")
def test_pim_4_follows_wrongvif_with_the_whole_packet(h, v, before):
    """MRT_PIM 4 set from 0 adds a type-4 upcall with the packet after WRONGVIF; set from 1 it
    changes nothing (do_pim stays 1), so WRONGVIF comes alone."""
    r = h.router(v, vifs=(0, 1, 2))
    require_get(h, r, "pim")
    r.set_pim(before)
    r.set_pim(4)
    s, g = h.src(v, 1, 40), h.group(v, 50)
    r.add_mfc(s, g, 0, ttls={1: 1, 2: 1})
    r.upcalls()

    sent = h.send_marked(1, v, s, g)
    h.expect_copies(sent, on=set(), context=f"({s}, {g}) parent 0, packet in on vif 1")
    got = r.upcalls()
    kinds = [(u.kind, u.msgtype, u.vif) for u in got]
    whole = "WRVIFWHOLE" if v == 4 else "WRMIFWHOLE"
    wrong = "WRONGVIF" if v == 4 else "WRONGMIF"
    if before == 1:
        assert kinds == [(wrong, 2, 1)], f"MRT_PIM 1 then 4: expected only {wrong} on vif 1, got {kinds}"
        return
    assert kinds == [(wrong, 2, 1), (whole, 4, 1)], f"MRT_PIM 0 then 4: expected {wrong} then {whole}, got {kinds}"
    assert got[1].body == bytes(sent[0]), f"{whole} must carry the packet as it arrived ({len(got[1].body)} bytes)"


@pytest.mark.clause("linuxext.sg6-request-copied")
def test_sg6_count_copies_the_request_back(h):
    """Port, flow info and scope id of both sockaddr_in6 come back as the caller set them."""
    r = h.router(6, vifs=(0, 1))
    s, g = h.src(6, 0, 41), h.group(6, 51)
    r.add_mfc(s, g, 0, ttls={1: 1})
    h.send_marked(0, 6, s, g, n=2)
    h.all_frames()

    sdef = r.profile.struct(r.family.sg_struct)
    req = bytearray(sdef.pack(src=s, grp=g))
    for base in (sdef.field("src").offset, sdef.field("grp").offset):
        req[base + 2 : base + 4] = b"\x12\x34"  # sin6_port
        req[base + 4 : base + 8] = b"\x00\x00\x00\x07"  # sin6_flowinfo
        req[base + 24 : base + 28] = b"\x03\x00\x00\x00"  # sin6_scope_id
    request = r.profile.ioctls[r.family.opt("sg_count")]
    out = h.target.ioctl(r.sock, request, bytes(req))
    got = sdef.unpack(out)
    assert got["pktcnt"] == 2, f"SIOCGETSGCNT_IN6 ({s}, {g}): pktcnt expected 2, got {got['pktcnt']}"
    end = sdef.field("pktcnt").offset
    assert out[:end] == bytes(req[:end]), (
        f"SIOCGETSGCNT_IN6 must give the sockaddrs back as passed: sent {bytes(req[:end]).hex()}, "
        f"got {out[:end].hex()}")
