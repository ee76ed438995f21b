"""Every byte of an upcall header that an implementation defines, not only the named fields.

test_upcall_format.py reads the fields the doc names (type, mbz, vif, src, dst). A daemon also
sees the rest, and a kernel that writes a field one byte off, or forgets to copy the header, passes
those tests. Sources: docs/spec/freebsd.md and shared freebsd-semantics §4.7 (NOCACHE/WRONGVIF:
bytes 0-7 and the options are the original header's; im_vif at byte 10), docs/spec/linux.md and
linux-semantics §4.5 (Linux: ip_len = hlen + 8 for the igmphdr that follows, byte 11 = im_vif_hi,
the igmphdr's type = the message type and code 0; im6_pad = 0). Bytes an implementation leaves
uninitialised (Linux's igmphdr checksum/group, FreeBSD's WHOLEPKT unused words) are never compared.
The profile says which layout applies: ``upcall4_trailer`` (Linux's 8-byte igmphdr) and
``upcall6_length`` (Linux's 80-byte IPv6 upcall, whose im6_pad is zeroed).
"""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, IPOption, IPOption_EOL, IPOption_NOP
from scapy.packet import Raw

from conformance.harness import Harness
from conformance.harness.upcalls import Upcall
from conformance.suite.test_register import REG_VIF, RP, register_router, registers, rp_of

ARRIVAL_VIF = 5  # the vif on port 1: neither 0 nor the port number
KIND_TYPE = {"NOCACHE": 1, "WRONGVIF": 2}


def only_upcall(r, what: str) -> Upcall:
    got = r.upcalls()
    assert len(got) == 1, f"expected one {what} upcall, got {[u.describe() for u in got]}"
    return got[0]


def byte_diffs(want: dict[int, int], raw: bytes) -> list[str]:
    return [f"byte {i}: expected {w:#04x}, got {raw[i]:#04x}" if i < len(raw) else f"byte {i}: missing"
            for i, w in sorted(want.items()) if i >= len(raw) or raw[i] != w]


def v4_header_bytes(h: Harness, sent: bytes, msgtype: int, vif: int) -> dict[int, int]:
    """Offset -> expected byte of an IPv4 NOCACHE/WRONGVIF upcall, for the profile's layout."""
    hlen = (sent[0] & 0x0F) * 4
    trailer = h.profile.upcall4_trailer
    want = dict(enumerate(sent[:hlen]))  # a copy of the IP header, options included
    want[8], want[9], want[10] = msgtype, 0, vif  # im_msgtype (ip_ttl), im_mbz (ip_p), im_vif
    if trailer:  # Linux: ip_len covers the igmphdr, byte 11 is im_vif_hi, then type and code 0
        want[2], want[3] = divmod(hlen + trailer, 256)
        want[11] = vif >> 8
        want[hlen], want[hlen + 1] = msgtype, 0
    else:  # BSD: byte 11 is the second byte of the original ip_sum (never touched)
        del want[11]
    return want


@pytest.mark.clause("upcall.v4-format")
@pytest.mark.parametrize("options", [False, True], ids=["20-byte-header", "24-byte-header"])
@pytest.mark.parametrize("kind", ["NOCACHE", "WRONGVIF"])
def test_v4_upcall_header_bytes_are_the_packet_header_with_the_igmpmsg_fields_patched(h, kind, options, request):
    r = h.router(4, vifs=(0,))
    r.add_vif(ARRIVAL_VIF, 1)
    s, g = h.src(4, 1, 1), h.group(4, 1)
    if kind == "WRONGVIF":
        r.set_assert(True)
        request.addfinalizer(lambda: r.set_assert(False))  # Linux keeps MRT_ASSERT across MRT_DONE
        r.add_mfc(s, g, 0, {ARRIVAL_VIF: 1})
    pkt = h.packet(4, s, g, ttl=37)
    pkt[IP].id, pkt[IP].tos = 0x1234, 0x28
    if options:
        pkt[IP].options = [IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()]
    sent = bytes(pkt[IP])

    h.send(1, pkt)

    u = only_upcall(r, kind)
    hlen = (sent[0] & 0x0F) * 4
    length = hlen + h.profile.upcall4_trailer
    assert len(u.raw) == length, f"{kind} is {len(u.raw)} bytes; profile {h.profile.name!r}: {length}"
    diffs = byte_diffs(v4_header_bytes(h, sent, KIND_TYPE[kind], ARRIVAL_VIF), u.raw)
    assert not diffs, f"{kind} igmpmsg of a {hlen}-byte header (profile {h.profile.name!r}):\n  " + "\n  ".join(diffs)


@pytest.mark.clause("upcall.v6-format")
@pytest.mark.parametrize("kind", ["NOCACHE", "WRONGMIF"])
def test_v6_upcall_pad_bytes_follow_the_profile(h, kind, request):
    """im6_pad (bytes 4-7): Linux zeroes it; the BSD overlay keeps the packet's ip6_plen and
    ip6_nxt there (the hop-limit byte is not compared: FreeBSD decrements it first)."""
    r = h.router(6, vifs=(0,))
    r.add_vif(ARRIVAL_VIF, 1)
    s, g = h.src(6, 1, 1), h.group(6, 1)
    if kind == "WRONGMIF":
        r.set_pim(True)
        request.addfinalizer(lambda: r.set_pim(False))
        r.add_mfc(s, g, 0, {ARRIVAL_VIF: 1})
    pkt = h.packet(6, s, g, size=37)
    sent = bytes(pkt)

    h.send(1, pkt)

    u = only_upcall(r, kind)
    zeroed = h.profile.upcall6_length != 40
    want = {4: 0, 5: 0, 6: 0, 7: 0} if zeroed else {4: sent[4], 5: sent[5], 6: sent[6]}
    diffs = byte_diffs(want, u.raw)
    assert not diffs, (f"{kind} im6_pad of profile {h.profile.name!r} ("
                       + ("zeroed" if zeroed else "ip6_plen, ip6_nxt of the packet") + "):\n  " + "\n  ".join(diffs))


# -- register.fragment: which options later fragments carry, in any order ----------------------
EXPERIMENT, NOP, RECORD_ROUTE, ROUTER_ALERT = (
    b"\x5e\x04\xab\xcd",  # class 2 experimental, copied flag clear
    b"\x01",
    b"\x07\x07\x04\x00\x00\x00\x00",  # RFC 791 record route: type 7, copied flag clear (low bit set)
    b"\x94\x04\x00\x00",  # RFC 2113 router alert: copied flag set
)
SHORT_COPIED = b"\x9e\x02"  # two bytes, copied flag set (RFC 4727 experiment 30): its length byte says 2


@pytest.mark.clause("register.fragment")
@pytest.mark.parametrize(("options", "copied"), [
    (EXPERIMENT + NOP + RECORD_ROUTE + ROUTER_ALERT, NOP + ROUTER_ALERT + b"\0\0\0"),  # later ihl 7
    (EXPERIMENT + ROUTER_ALERT, ROUTER_ALERT),  # later ihl 6: an even header length
    (EXPERIMENT + SHORT_COPIED + ROUTER_ALERT + NOP + NOP, SHORT_COPIED + ROUTER_ALERT + NOP + NOP),  # 2-byte option
], ids=["exp-nop-rr-ra", "exp-ra", "exp-2byte-ra-nop-nop"])
def test_later_register_fragments_carry_exactly_the_copied_options(h, options, copied):
    """RFC 791 (ip_optcopy): every fragment after the first carries only the options whose copied
    flag (bit 0x80 of the type) is set, in their original order, EOL-padded to a 4-byte multiple.
    Here the list starts with an option that is not copied and has a NOP after it, and Record
    Route (type 7: low bit set, copied flag clear) sits between: later fragments carry NOP + RA;
    with RA alone, a later fragment's header is 24 bytes (an even ihl, 6)."""
    h.require_api(RP)
    r = register_router(h, RP)
    s, g = h.src(4, 0), h.group(4, 1)
    r.add_mfc(s, g, 0, {REG_VIF: 1}, rp=rp_of(h))
    pkt = IP(src=s, dst=g, ttl=9, options=[IPOption(options)]) / Raw(bytes(65535 - 20 - len(options)))
    assert len(bytes(pkt)) == 65535

    h.send(0, pkt)

    frags = sorted((IP(reg.inner) for reg in registers(h)), key=lambda f: f.frag)
    assert len(frags) >= 2, f"a 65535-byte packet gave {len(frags)} Register(s)"
    for i, f in enumerate(frags):
        want = options if i == 0 else copied
        got = bytes(f)[20 : f.ihl * 4]
        assert got == want, f"fragment {i} (offset {f.frag * 8}) carries options {got.hex()}, expected {want.hex()}"


# -- register.wholepkt: the 20-byte igmpmsg in front of the whole packet -----------------------
@pytest.mark.clause("register.wholepkt")
@pytest.mark.parametrize("options", [False, True], ids=["20-byte-header", "24-byte-header"])
def test_wholepkt_igmpmsg_bytes(h, options):
    """FreeBSD builds a fresh 20-byte header and sets only im_msgtype, im_mbz, im_vif (the register
    vif), im_src and im_dst (the rest is uninitialised, not compared). Linux copies the packet's IP
    header into it and then sets ihl 5 (byte 0 = 0x45), ip_len = 20 + the packet's length,
    im_vif_hi (byte 11) and the same fields: the packet's tos, id and fragment bytes stay."""
    r = register_router(h, None)
    s, g = h.src(4, 0), h.group(4, 1)
    r.add_mfc(s, g, 0, {1: 1, REG_VIF: 1})
    pkt = h.packet(4, s, g, ttl=21)
    pkt[IP].id, pkt[IP].tos = 0x4321, 0x10
    if options:
        pkt[IP].options = [IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()]

    h.send(0, pkt)

    u = only_upcall(r, "WHOLEPKT")
    inner = u.body
    want = {8: 3, 9: 0, 10: REG_VIF, **dict(zip(range(12, 20), bytes(IP(bytes(pkt)))[12:20], strict=True))}
    if h.profile.upcall4_trailer:  # Linux: the packet's header, patched
        want.update({0: 0x45, 1: inner[1], 4: inner[4], 5: inner[5], 6: inner[6], 7: inner[7], 11: REG_VIF >> 8})
        want[2], want[3] = divmod(20 + len(inner), 256)
    diffs = byte_diffs(want, u.raw[:20])
    assert len(u.raw) == 20 + len(bytes(pkt)), f"WHOLEPKT is {len(u.raw)} bytes, expected 20 + {len(bytes(pkt))}"
    assert not diffs, f"WHOLEPKT igmpmsg (profile {h.profile.name!r}):\n  " + "\n  ".join(diffs)


# -- register.kernel-encap: the outer header's IP id, and an RP with no route ---------------------
@pytest.mark.clause("register.kernel-encap")
def test_register_outer_ip_id_follows_rfc_6864(h):
    """FreeBSD fills the outer header with ip_fillid(): in RFC 6864 mode (net.inet.ip.rfc6864,
    the default) an atomic datagram (DF set, copied from the inner packet) carries ID 0, any other
    one a fresh ID, random or sequential: two successive non-DF Registers never share one here
    (a random pair collides once in 65536 runs; the report shows the two IDs)."""
    h.require_api(RP)
    r = register_router(h, RP)
    s, g = h.src(4, 0), h.group(4, 1)
    r.add_mfc(s, g, 0, {REG_VIF: 1}, rp=rp_of(h))
    plain = [h.packet(4, s, g) for _ in range(2)]
    df = h.packet(4, s, g)
    df[IP].flags = "DF"
    for pkt in (*plain, df):
        h.send(0, pkt)
    regs = registers(h)
    assert len(regs) == 3, f"3 packets to the register vif: expected 3 Registers, got {len(regs)}"
    ids = [reg.outer.id for reg in regs]
    flags = [str(reg.outer.flags) for reg in regs]
    assert flags == ["", "", "DF"], f"outer DF must copy the inner packet's: got flags {flags}"
    assert ids[0] != ids[1], f"two non-DF Registers share IP id {ids[0]:#06x}"
    assert ids[2] == 0, f"a DF Register is atomic (RFC 6864): IP id 0 expected, got {ids[2]:#06x}"


@pytest.mark.clause("register.kernel-encap")
def test_register_to_an_rp_without_a_route_is_dropped_quietly(h):
    """An RP address no connected network reaches (203.0.113.99: none of the ports' subnets)
    gives ip_output no route: the Register is dropped, no WHOLEPKT goes up instead, nothing leaves,
    and a later packet of another (S,G) to a reachable RP is still encapsulated."""
    h.require_api(RP)
    r = register_router(h, RP)
    s, g, g2 = h.src(4, 0), h.group(4, 1), h.group(4, 2)
    r.add_mfc(s, g, 0, {REG_VIF: 1}, rp="203.0.113.99")
    r.add_mfc(s, g2, 0, {REG_VIF: 1}, rp=rp_of(h))
    h.send(0, h.packet(4, s, g))
    got = {port: len(frames) for port, frames in h.all_frames().items() if frames}
    assert not got, f"a Register to an unreachable RP: expected no frame anywhere, got {got}"
    h.expect_no_upcall(r, "the kernel owns encapsulation once MRT_MFC_RP and mfcc_rp are set")
    h.send(0, h.packet(4, s, g2))
    assert len(registers(h)) == 1, "a packet of another (S,G) to the reachable RP must still be encapsulated"
