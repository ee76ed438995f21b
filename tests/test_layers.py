"""The scapy layers: generated from the ABI structs, byte-exact against StructDef.pack and the specs' images."""

from __future__ import annotations

import ipaddress
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.contrib.pim import PIMv2Hdr, PIMv2Hello
from scapy.layers.igmp import IGMP
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6MLReport2, IPv6
from scapy.packet import Packet, Raw
from scapy.utils import checksum

from conformance.layers.fromabi import StructPacket, abi_layer, struct_packet
from conformance.layers.pim import (
    PIMv2Register,
    PIMv2RegisterHdr,
    pim_register,
    register_checksum,
    register_checksum_ok,
)
from conformance.layers.upcalls import (
    IGMPMSG_LAYERS,
    BwUpcall,
    BwUpcalls,
    IGMPMsgBSD,
    IGMPMsgLinux,
    MRT6Msg,
    parse_ipv4_routing_read,
    parse_ipv6_routing_read,
)
from mroute_spec.abi import ABIS, StructDef

ABI_STRUCTS = [(abi, name) for abi, structs in ABIS.items() for name in structs]
UPCALL_LAYERS: list[type[StructPacket]] = [IGMPMsgBSD, IGMPMsgLinux, MRT6Msg, BwUpcall]
ALL_LAYERS = [abi_layer(abi, name) for abi, name in ABI_STRUCTS] + UPCALL_LAYERS
LAYER_IDS = [f"{abi}-{name}" for abi, name in ABI_STRUCTS] + [c.__name__ for c in UPCALL_LAYERS]

_i64 = st.integers(-(2**63), 2**63 - 1)
_ip6 = st.ip_addresses(v=6).map(str)
KIND_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "u8": st.integers(0, 0xFF),
    "u16": st.integers(0, 0xFFFF),
    "u32": st.integers(0, 0xFFFFFFFF),
    "u64": st.integers(0, 2**64 - 1),
    "i64": _i64,
    "ip4": st.ip_addresses(v=4).map(str),
    "ip6": _ip6,
    "u8x32": st.lists(st.integers(0, 0xFF), min_size=0, max_size=32),
    "ifset": st.sets(st.integers(0, 255)),
    "timeval": st.tuples(_i64, _i64),
    "sin6_bsd": _ip6,
    "sin6_linux": _ip6,
}


def struct_values(sd: StructDef) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of the struct's fields, each with a value its kind allows."""
    return st.fixed_dictionaries({}, optional={f.name: KIND_VALUES[f.kind] for f in sd.fields})


# --- generated from the ABI -------------------------------------------------------------------


@pytest.mark.parametrize("layer", ALL_LAYERS, ids=LAYER_IDS)
@given(data=st.data())
def test_layer_bytes_equal_structdef_pack(layer: type[StructPacket], data: st.DataObject) -> None:
    sd = layer.struct_def
    values = data.draw(struct_values(sd))
    packed = sd.pack(**values)
    assert len(layer()) == sd.size
    assert bytes(layer.from_values(**values)) == packed
    assert layer(packed).to_values() == sd.unpack(packed)


@pytest.mark.parametrize("layer", ALL_LAYERS, ids=LAYER_IDS)
@given(data=st.data())
def test_any_bytes_survive_dissect_and_rebuild(layer: type[StructPacket], data: st.DataObject) -> None:
    raw = data.draw(st.binary(min_size=layer.struct_def.size, max_size=layer.struct_def.size))
    pkt = layer(raw)
    assert bytes(pkt) == raw
    assert pkt.to_values() == layer.struct_def.unpack(raw)


def test_padding_fields_fill_the_gaps() -> None:
    names = [f.name for f in abi_layer("bsd-amd64", "mfcctl2").fields_desc]
    assert names == [
        "mfcc_origin",
        "mfcc_mcastgrp",
        "mfcc_parent",
        "mfcc_ttls",
        "mfcc_flags",
        "pad74",
        "mfcc_rp",
    ]
    assert [f.name for f in abi_layer("bsd-amd64", "mfcctl").fields_desc][-1] == "pad42"


def test_struct_packet_rejects_unknown_overrides() -> None:
    with pytest.raises(KeyError):
        struct_packet(ABIS["bsd-amd64"]["vifctl"], overrides={"nope": []})


def test_sockaddr_in6_shows_the_address_and_keeps_odd_bytes() -> None:
    layer = abi_layer("linux-amd64", "sioc_sg_req6")
    pkt = layer.from_values(src="2001:db8::1", grp="ff3e::1", pktcnt=7)
    assert layer(bytes(pkt)).src == "2001:db8::1"
    odd = bytearray(bytes(pkt))
    odd[2] = 0x12  # sin6_port
    again = layer(bytes(odd))
    assert bytes(again) == bytes(odd)
    assert again.to_values()["src"] == "2001:db8::1"
    assert "2001:db8::1" in again.show(dump=True)


def test_timeval_is_two_signed_fields() -> None:
    layer = abi_layer("bsd-amd64", "bw_data")
    pkt = layer(bytes(layer.from_values(b_time=(-1, 999_999))))
    assert (pkt.b_time_sec, pkt.b_time_usec) == (-1, 999_999)


# --- IPv4 upcalls -----------------------------------------------------------------------------


def test_linux_nocache_image_from_the_spec() -> None:
    # docs/spec/linux.md §4.5: 4500001c 00000000 01 00 0000 0a640002 e8010101 | 01 00 cccc gggggggg
    image = bytes.fromhex("4500001c 00000000 01 00 0000 0a640002 e8010101 0100 0000 14000100")
    msg = parse_ipv4_routing_read(image, "linux-amd64")
    assert isinstance(msg, IGMPMsgLinux)
    assert (msg.im_msgtype, msg.im_mbz, msg.vifi) == (1, 0, 0)
    assert (msg.im_src, msg.im_dst) == ("10.100.0.2", "232.1.1.1")
    assert msg.sprintf("%im_msgtype%") == "NOCACHE"
    assert msg[Raw].load == image[20:]
    assert bytes(msg) == image


def test_linux_live_upcall_image_and_vif_hi() -> None:
    # ecosystem.md §2, captured on Linux 6.18: NOCACHE vif 0 10.1.1.10 -> 239.1.2.3
    image = bytes.fromhex("4500001c 7d484000 01000000 0a01010a ef010203 0100fd01 00000000")
    msg = parse_ipv4_routing_read(image, "linux-amd64")
    assert (msg.im_src, msg.im_dst, msg.vifi) == ("10.1.1.10", "239.1.2.3", 0)
    wrongvif = IGMPMsgLinux(image[:8] + bytes([2, 0, 0x2C, 0x01]) + image[12:20])
    assert wrongvif.sprintf("%im_msgtype%") == "WRONGVIF"
    assert wrongvif.vifi == 0x012C


def test_bsd_nocache_is_the_bare_header() -> None:
    image = ABIS["bsd-amd64"]["igmpmsg"].pack(im_msgtype=1, im_vif=5, im_src="192.0.2.1", im_dst="232.1.2.3")
    msg = parse_ipv4_routing_read(image, "bsd-amd64")
    assert isinstance(msg, IGMPMsgBSD)
    assert (msg.vifi, msg.sprintf("%im_msgtype%"), len(msg.payload)) == (5, "NOCACHE", 0)


@pytest.mark.parametrize(("layer", "msgtype"), [(IGMPMsgBSD, 3), (IGMPMsgLinux, 3), (IGMPMsgLinux, 4)])
def test_wholepkt_carries_the_inner_ip_packet(layer: type[StructPacket], msgtype: int) -> None:
    inner = IP(src="192.0.2.10", dst="232.1.2.3", ttl=7) / UDP(sport=4000, dport=5000) / Raw(b"x" * 12)
    header = layer.struct_def.pack(im_msgtype=msgtype, im_vif=3, im_src="192.0.2.10", im_dst="232.1.2.3")
    abi = "bsd-amd64" if layer is IGMPMsgBSD else "linux-amd64"
    msg = parse_ipv4_routing_read(header + bytes(inner), abi)
    assert isinstance(msg, layer)
    assert msg[IP].ttl == 7
    assert msg[UDP].dport == 5000
    assert bytes(msg[IP]) == bytes(inner)


def test_stacking_ip_on_igmpmsg_sets_wholepkt() -> None:
    msg = IGMPMsgBSD(im_vif=2) / IP(dst="232.1.2.3")
    assert bytes(msg)[8] == 3


@given(records=st.lists(st.data(), min_size=1, max_size=12))
def test_bw_upcall_message_has_n_records(records: list[st.DataObject]) -> None:
    sd = ABIS["bsd-amd64"]["bw_upcall"]
    values = [r.draw(struct_values(sd)) for r in records]
    image = ABIS["bsd-amd64"]["igmpmsg"].pack(im_msgtype=4) + b"".join(sd.pack(**v) for v in values)
    msg = parse_ipv4_routing_read(image, "bsd-amd64")
    got = msg[BwUpcalls].records
    assert len(got) == len(values)
    assert [r.to_values() for r in got] == [sd.unpack(sd.pack(**v)) for v in values]
    assert bytes(msg) == image


def test_bw_upcall_flags_are_named_and_build_the_message_type() -> None:
    rec = BwUpcall(bu_src="192.0.2.1", bu_dst="232.1.1.1", bu_flags="UNIT_PACKETS+GEQ")
    assert rec.bu_flags == 0x05
    assert (
        BwUpcall(bytes(BwUpcall(bu_flags=0x1F))).sprintf("%bu_flags%")
        == "UNIT_PACKETS+UNIT_BYTES+GEQ+LEQ+DELETE_ALL"
    )
    msg = IGMPMsgBSD() / BwUpcalls(records=[rec, rec])
    image = bytes(msg)
    assert (len(image), image[8]) == (20 + 2 * 80, 4)
    assert image[20:100] == ABIS["bsd-amd64"]["bw_upcall"].pack(
        bu_src="192.0.2.1", bu_dst="232.1.1.1", bu_flags=5
    )


def test_real_igmp_is_dissected_as_ip() -> None:
    report = IP(src="192.0.2.5", dst="232.1.1.1") / IGMP(type=0x16, gaddr="232.1.1.1")
    for abi in ABIS:
        pkt = parse_ipv4_routing_read(bytes(report), abi)
        assert type(pkt) is IP
        assert pkt[IGMP].gaddr == "232.1.1.1"
    assert type(parse_ipv4_routing_read(bytes(12), "linux-amd64")) is Raw  # too short for either


def test_every_abi_has_an_igmpmsg_layer_and_one_mrt6msg() -> None:
    assert set(IGMPMSG_LAYERS) == set(ABIS)
    assert ABIS["bsd-amd64"]["mrt6msg"] == ABIS["linux-amd64"]["mrt6msg"] == MRT6Msg.struct_def
    with pytest.raises(KeyError):
        parse_ipv4_routing_read(bytes(20), "vax")
    with pytest.raises(KeyError):
        parse_ipv6_routing_read(bytes(40), "vax")


# --- IPv6 upcalls -----------------------------------------------------------------------------


def test_mrt6msg_wholepkt_carries_ipv6() -> None:
    inner = IPv6(src="2001:db8::10", dst="ff3e::8000:1", hlim=5) / UDP(dport=5000) / Raw(b"y" * 20)
    msg = MRT6Msg(im6_mif=3, im6_src="2001:db8::10", im6_dst="ff3e::8000:1") / inner
    image = bytes(msg)
    assert image[:4] == bytes([0, 3, 3, 0])
    got = parse_ipv6_routing_read(image, "linux-amd64")
    assert isinstance(got, MRT6Msg)
    assert (got.im6_mif, got[IPv6].hlim, got[UDP].dport) == (3, 5, 5000)
    assert got.sprintf("%im6_msgtype%") == "WHOLEPKT"


def test_linux_mrt6_nocache_ignores_the_uninitialised_tail() -> None:
    header = MRT6Msg.struct_def.pack(im6_msgtype=1, im6_mif=1, im6_src="2001:db8::1", im6_dst="ff3e::1")
    got = parse_ipv6_routing_read(header + b"MRPROTO!" * 5, "linux-amd64")
    assert (got.sprintf("%im6_msgtype%"), got.im6_src, got.im6_dst) == ("NOCACHE", "2001:db8::1", "ff3e::1")
    assert got[Raw].load == b"MRPROTO!" * 5


@pytest.mark.parametrize("message", [ICMPv6EchoRequest(id=7), ICMPv6MLReport2()])
def test_icmpv6_read_is_dissected_from_the_icmpv6_header(message: Packet) -> None:
    got = parse_ipv6_routing_read(bytes(message), "bsd-amd64")
    assert type(got) is type(message)


# --- PIM Register -----------------------------------------------------------------------------

ECOSYSTEM_INNER = (
    IP(src="10.1.1.10", dst="239.1.2.3", ttl=15) / UDP(sport=4000, dport=5000) / Raw(b"payload" * 4)
)


def test_register_checksum_is_the_one_tshark_accepts() -> None:
    # ecosystem.md §2/§3: B=1, tshark "Bad checksum [should be 0x5eff]" for scapy's whole-message 0x5b44
    pim = bytes(IP(src="10.1.1.1", dst="10.9.9.9") / pim_register(ECOSYSTEM_INNER, border=True))[20:]
    assert pim[:8] == bytes.fromhex("21005eff80000000")
    assert checksum(pim[:8]) == 0  # folds to 0xffff over exactly the 8 bytes
    assert register_checksum_ok(pim)
    whole = checksum(pim[:2] + b"\0\0" + pim[4:])
    assert whole == 0x5B44
    assert not register_checksum_ok(pim[:2] + struct.pack("!H", whole) + pim[4:])


def test_null_register_checksum() -> None:
    dummy = IP(src="10.1.1.10", dst="239.1.2.3", proto=17, len=20)
    pim = bytes(pim_register(dummy, border=True, null=True))
    assert pim[:8] == bytes.fromhex("21001effc0000000")
    assert register_checksum(pim) == 0x1EFF


def test_register_round_trip() -> None:
    pkt = IP(bytes(IP(src="192.0.2.1", dst="198.51.100.1") / pim_register(bytes(ECOSYSTEM_INNER), null=True)))
    reg = pkt[PIMv2Register]
    assert (pkt[PIMv2Hdr].type, reg.border, reg.null_register, reg.reserved) == (1, 0, 1, 0)
    assert bytes(reg.payload) == bytes(ECOSYSTEM_INNER)
    assert pkt[UDP].dport == 5000
    assert register_checksum_ok(bytes(pkt[PIMv2Hdr]))


def test_ipv6_register_uses_the_pseudo_header_over_8_bytes() -> None:
    src, dst = "2001:db8::1", "2001:db8::2"
    inner = IPv6(src="2001:db8::9", dst="ff3e::1") / UDP(dport=5000)
    pkt = IPv6(bytes(IPv6(src=src, dst=dst) / pim_register(inner, border=True)))
    pim = bytes(pkt[PIMv2Hdr])
    assert register_checksum_ok(pim, ipv6=(src, dst))
    assert pkt[PIMv2Register].payload.dst == "ff3e::1"
    pseudo = b"".join(ipaddress.IPv6Address(a).packed for a in (src, dst)) + struct.pack("!I3xB", 8, 103)
    assert checksum(pseudo + pim[:8]) == 0


def test_other_pim_types_keep_scapys_checksum() -> None:
    hello = bytes(IP() / PIMv2Hdr() / PIMv2Hello())[20:]
    assert checksum(hello) == 0


def test_scapys_pim_header_is_not_patched() -> None:
    """Registers are built by a subclass; importing the layers leaves scapy's PIMv2Hdr as it was."""
    assert PIMv2Hdr.post_build.__module__ == "scapy.contrib.pim"
    assert type(pim_register(ECOSYSTEM_INNER)) is PIMv2RegisterHdr


def test_register_with_unknown_inner_version_is_raw() -> None:
    assert isinstance(pim_register(b"\x00" * 20).payload.payload, Raw)


# --- presentation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pkt",
    [
        IGMPMsgBSD(im_msgtype=1),
        IGMPMsgLinux(im_msgtype=2) / Raw(bytes(8)),
        IGMPMsgBSD() / IP() / UDP(),
        IGMPMsgBSD() / BwUpcalls(records=[BwUpcall(bu_flags=3)]),
        MRT6Msg(im6_msgtype=1),
        MRT6Msg() / IPv6() / UDP(),
        IP() / pim_register(ECOSYSTEM_INNER, border=True),
        abi_layer("bsd-amd64", "mf6cctl")(mf6cc_ifset={1, 33}),
        abi_layer("linux-amd64", "mfcctl")(mfcc_ttls=[1, 2, 3]),
    ],
    ids=lambda p: p.summary(),
)
def test_show_and_summary_do_not_raise(pkt: Packet) -> None:
    again = pkt.__class__(bytes(pkt))
    for p in (pkt, again):
        assert p.show(dump=True)
        assert p.summary()
        assert repr(p)
