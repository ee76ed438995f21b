"""The one upcall codec (mroute_spec.messages): type names per ABI, and every reader agreeing with it.

The harness, the fixture writer, the differential comparer and the scapy layers all decode through
``mroute_spec.messages``; these tests pin its ABI facts and check that the model's encoder and the
scapy layers round-trip through it.
"""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.fixtures.frames import datagram_kind, datagram_masks
from conformance.harness.upcalls import decode_upcall as harness_decode
from conformance.layers.upcalls import IGMPMSG_LAYERS, parse_ipv4_routing_read, parse_ipv6_routing_read
from mroute_spec.constants import IgmpMsgType, Mrt6MsgType
from mroute_spec.messages import (
    FULLY_DEFINED_KINDS,
    MESSAGE_NAMES,
    WHOLE_PACKET_KINDS,
    decode_upcall,
    is_upcall,
    kind_of,
    types_of,
)
from reference_impl.packets import IPPacket, inet_checksum, parse_ipv4, parse_ipv6
from reference_impl.profiles import PROFILES
from reference_impl.upcalls import bw_message, igmpmsg_header, igmpmsg_wholepkt, mrt6msg

ABI_NAMES = sorted(MESSAGE_NAMES)


def ipv4(src: str = "192.0.2.1", dst: str = "232.1.1.1", ttl: int = 5) -> IPPacket:
    body = b"\x11" * 8
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0, ttl, 17, 0,
                                ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed))
    hdr[10:12] = struct.pack("!H", inet_checksum(bytes(hdr)))
    pkt = parse_ipv4(bytes(hdr) + body)
    assert pkt is not None
    return pkt


def ipv6(src: str = "2001:db8::1", dst: str = "ff3e::1:1") -> IPPacket:
    body = b"\x11" * 8
    hdr = struct.pack("!IHBB16s16s", 6 << 28, len(body), 17, 5,
                      ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed)
    pkt = parse_ipv6(hdr + body)
    assert pkt is not None
    return pkt


def test_type_four_belongs_to_the_abi() -> None:
    """IPv4 type 4 is BW_UPCALL on the BSDs and WRVIFWHOLE on Linux; only Linux has MRT6MSG type 4."""
    assert kind_of(4, 4, "bsd-amd64") == kind_of(4, 4, "netbsd-amd64") == "BW_UPCALL"
    assert kind_of(4, 4, "linux-amd64") == "WRVIFWHOLE"
    assert kind_of(6, 4, "linux-amd64") == "WRMIFWHOLE"
    assert kind_of(6, 4, "bsd-amd64") == "type4"
    assert types_of("linux-amd64", 4, WHOLE_PACKET_KINDS) == [3, 4]
    assert types_of("bsd-amd64", 4, WHOLE_PACKET_KINDS) == [3]
    assert WHOLE_PACKET_KINDS < FULLY_DEFINED_KINDS


@pytest.mark.parametrize("abi", ABI_NAMES)
def test_every_enum_type_is_named_in_every_abi(abi: str) -> None:
    assert set(MESSAGE_NAMES[abi][4]) == {int(t) for t in IgmpMsgType}
    assert set(MESSAGE_NAMES[abi][6]) <= {int(t) for t in Mrt6MsgType}
    assert {1, 2, 3} <= set(MESSAGE_NAMES[abi][6])


def test_is_upcall_needs_a_zero_mbz_and_a_whole_header() -> None:
    up = igmpmsg_header(ipv4(), 1, 0, PROFILES["freebsd"])
    assert is_upcall(4, up)
    assert not is_upcall(4, up[:19])
    assert not is_upcall(4, ipv4().data)  # ip_p 17
    up6 = mrt6msg(ipv6(), 1, 0, PROFILES["freebsd"])
    assert is_upcall(6, up6) and not is_upcall(6, up6[:39]) and not is_upcall(6, b"\x83" + up6[1:])


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("vif", [0, 7, 31])
def test_the_models_upcalls_decode_to_what_it_meant(profile: str, vif: int) -> None:
    p = PROFILES[profile]
    for msgtype, kind in ((1, "NOCACHE"), (2, "WRONGVIF")):
        m = decode_upcall(4, igmpmsg_header(ipv4(), msgtype, vif, p), p.abi_name)
        assert (m.kind, m.vif, m.src, m.dst, m.body) == (kind, vif, "192.0.2.1", "232.1.1.1", b"")
        m6 = decode_upcall(6, mrt6msg(ipv6(), msgtype, vif, p), p.abi_name)
        assert (m6.kind, m6.vif, m6.src, m6.dst) == (kind.replace("VIF", "MIF"), vif, "2001:db8::1", "ff3e::1:1")
    inner = ipv4().data
    whole = decode_upcall(4, igmpmsg_wholepkt(inner, "192.0.2.1", "232.1.1.1", vif, p), p.abi_name)
    assert (whole.kind, whole.body, whole.carries_packet) == ("WHOLEPKT", inner, True)
    w6 = decode_upcall(6, mrt6msg(ipv6(), 3, vif, p, whole=ipv6().data), p.abi_name)
    assert (w6.kind, w6.body) == ("WHOLEPKT", ipv6().data)


def test_bw_upcall_records_are_decoded_by_the_abi() -> None:
    p = PROFILES["freebsd"]
    rec = p.struct("bw_upcall")
    records = [rec.pack(bu_src="192.0.2.1", bu_dst=f"232.1.1.{i}", bu_flags=2) for i in (1, 2)]
    m = decode_upcall(4, bw_message(records), p.abi_name)
    assert m.kind == "BW_UPCALL" and not m.carries_packet
    assert [r["bu_dst"] for r in m.records] == ["232.1.1.1", "232.1.1.2"]
    assert datagram_masks(4, bw_message(records), p) == []  # every byte is written


def test_the_harness_and_the_fixtures_read_through_the_codec() -> None:
    p = PROFILES["linux"]
    data = igmpmsg_header(ipv4(), 2, 300, p)  # vif 300: im_vif_hi carries the high byte
    assert harness_decode(4, data, p).vif == decode_upcall(4, data, p.abi_name).vif == 300
    assert datagram_kind(4, data, p) == "WRONGVIF"
    assert datagram_kind(4, ipv4().data, p) == "IGMP"


upcall_bytes = st.tuples(st.sampled_from([1, 2, 3, 4]), st.integers(0, 255), st.binary(min_size=20, max_size=60))


@given(upcall_bytes, st.sampled_from(ABI_NAMES))
def test_the_scapy_layers_agree_with_the_codec_v4(case: tuple[int, int, bytes], abi: str) -> None:
    msgtype, vif, tail = case
    data = bytearray(tail)
    data[8], data[9], data[10] = msgtype, 0, vif
    m = decode_upcall(4, bytes(data), abi)
    pkt = parse_ipv4_routing_read(bytes(data), abi)
    assert isinstance(pkt, IGMPMSG_LAYERS[abi])
    assert pkt.vifi == m.vif
    assert pkt.sprintf("%im_msgtype%") == m.kind
    if m.carries_packet:  # the layers hand the same bytes on to IP
        assert bytes(pkt.payload) == m.body


@given(st.sampled_from([1, 2, 3, 4]), st.integers(0, 65535), st.binary(min_size=40, max_size=80))
def test_the_scapy_layers_agree_with_the_codec_v6(msgtype: int, mif: int, tail: bytes) -> None:
    data = bytearray(tail)
    data[0], data[1], data[2:4] = 0, msgtype, struct.pack("<H", mif)
    m = decode_upcall(6, bytes(data), "linux-amd64")
    pkt = parse_ipv6_routing_read(bytes(data), "linux-amd64")
    assert pkt.im6_mif == m.vif and pkt.sprintf("%im6_msgtype%") == m.kind
