"""upcall.*: the byte layout of upcalls, read at the offsets the spec fixes.

The doc: an IPv4 upcall is a ``struct igmpmsg`` that "follows the structure of struct ip with the
protocol field ip_p set to zero"; an IPv6 upcall is a ``struct mrt6msg`` with ``im6_mbz`` zero.
So the raw message is decoded here as an IP header (scapy's IP / IPv6), which puts every field at
the position a daemon reads it from: im_msgtype at ip_ttl, im_mbz at ip_p, im_vif at the first
checksum byte, im_src/im_dst at ip_src/ip_dst; im6_mbz at byte 0, im6_msgtype at byte 1, im6_mif
at bytes 2-3 (host order, through the profile's ABI), im6_src/im6_dst at ip6_src/ip6_dst.
"""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from scapy.layers.inet import IP, IPOption_EOL, IPOption_NOP
from scapy.layers.inet6 import IPv6

from conformance.harness.expect import assert_fields, errname
from conformance.harness.routing import RoutingSocket
from conformance.harness.upcalls import Upcall
from conformance.outcomes import unsupported

MSGTYPE = {"NOCACHE": 1, "wrong-iif": 2}
WRONG_IIF_KIND = {4: "WRONGVIF", 6: "WRONGMIF"}
ARRIVAL_VIF = 5  # the vif bound to port 1: not the port number, not 0


def decode_igmpmsg(raw: bytes) -> dict:
    """The igmpmsg fields read through struct ip (scapy's IP) at the positions the doc gives."""
    ip = IP(raw)
    return {"ip_v": ip.version, "ip_hl": ip.ihl, "im_msgtype (ip_ttl)": ip.ttl, "im_mbz (ip_p)": ip.proto,
            "im_vif (byte 10)": raw[10], "im_src (ip_src)": ip.src, "im_dst (ip_dst)": ip.dst,
            "length": len(raw)}


def decode_mrt6msg(h, raw: bytes) -> dict:
    """The mrt6msg fields: mbz/type by byte, the mif through the ABI, src/dst through ip6_hdr."""
    ip6 = IPv6(raw[:40])
    return {"im6_mbz (byte 0)": raw[0], "im6_msgtype (byte 1)": raw[1],
            "im6_mif (bytes 2-3)": h.profile.struct("mrt6msg").unpack(raw)["im6_mif"],
            "im6_src (ip6_src)": str(ipaddress.ip_address(ip6.src)),
            "im6_dst (ip6_dst)": str(ipaddress.ip_address(ip6.dst)), "length": len(raw)}


def expected_igmpmsg(h, msgtype: int, vif: int, src: str, grp: str, hlen: int = 20) -> dict:
    return {"ip_v": 4, "ip_hl": hlen // 4, "im_msgtype (ip_ttl)": msgtype, "im_mbz (ip_p)": 0,
            "im_vif (byte 10)": vif, "im_src (ip_src)": src, "im_dst (ip_dst)": grp,
            "length": hlen + h.profile.upcall4_trailer}


def expected_mrt6msg(h, msgtype: int, mif: int, src: str, grp: str) -> dict:
    return {"im6_mbz (byte 0)": 0, "im6_msgtype (byte 1)": msgtype, "im6_mif (bytes 2-3)": mif,
            "im6_src (ip6_src)": src, "im6_dst (ip6_dst)": grp, "length": h.profile.upcall6_length}


def only_upcall(r: RoutingSocket, what: str) -> Upcall:
    got = r.upcalls()
    assert len(got) == 1, f"expected one {what} upcall, got {[u.describe() for u in got]}"
    return got[0]


def enable_wrong_iif_upcalls(h, r: RoutingSocket, request) -> None:
    """MRT_ASSERT (IPv4) or MRT6_PIM (IPv6, where FreeBSD gates WRONGMIF on PIM and has no assert).

    Switched off again after the test: Linux keeps both across MRT_DONE and close.
    """
    role = "assert" if r.version == 4 else "pim"
    try:
        r.set_int(role, 1)
    except LookupError as e:
        unsupported(str(e))
    except OSError as e:
        if r.version == 4:
            raise
        unsupported(f"MRT6_PIM refused with {errname(e.errno)}: no WRONGMIF to look at")
    request.addfinalizer(lambda: switch_off(r, role))


def switch_off(r: RoutingSocket, role: str) -> None:
    with contextlib.suppress(OSError):
        r.set_int(role, 0)


@pytest.mark.parametrize("kind", ["NOCACHE", "wrong-iif"])
@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("upcall.v4-format")),
    pytest.param(6, marks=pytest.mark.clause("upcall.v6-format")),
])
def test_upcall_fields_sit_at_the_offsets_the_spec_gives(h, v, kind, request):
    r = h.router(v, vifs=(0,))
    r.add_vif(ARRIVAL_VIF, 1)
    src, grp = h.src(v, 1, 1), h.group(v, 1)
    if kind == "wrong-iif":
        enable_wrong_iif_upcalls(h, r, request)
        r.add_mfc(src, grp, 0, {ARRIVAL_VIF: 1})  # the arrival vif is an oif, only the parent differs

    h.send(1, h.packet(v, src, grp))

    what = kind if kind == "NOCACHE" else WRONG_IIF_KIND[v]
    u = only_upcall(r, what)
    if v == 4:
        assert_fields(f"{what} igmpmsg", expected_igmpmsg(h, MSGTYPE[kind], ARRIVAL_VIF, src, grp),
                      decode_igmpmsg(u.raw))
    else:
        assert_fields(f"{what} mrt6msg", expected_mrt6msg(h, MSGTYPE[kind], ARRIVAL_VIF, src, grp),
                      decode_mrt6msg(h, u.raw))


@pytest.mark.clause("upcall.v4-format")
def test_ipv4_upcall_of_a_packet_with_ip_options_copies_its_whole_header(h):
    r = h.router(4, vifs=(0,))
    r.add_vif(ARRIVAL_VIF, 1)
    src, grp = h.src(4, 1, 1), h.group(4, 1)
    pkt = h.packet(4, src, grp)
    pkt.options = [IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_EOL()]  # 4 bytes: ihl 6

    h.send(1, pkt)

    u = only_upcall(r, "NOCACHE")
    assert_fields("NOCACHE igmpmsg of a 24-byte header",
                  expected_igmpmsg(h, MSGTYPE["NOCACHE"], ARRIVAL_VIF, src, grp, hlen=24), decode_igmpmsg(u.raw))
