"""External proof that the pcaps are right: the real tshark dissects every committed pcap.

All pcaps are concatenated with ``mergecap -a`` (frame order and interfaces preserved) and read
in one tshark pass with checksum validation on. The test fails on any malformed packet, any
expert error, any bad IPv4/UDP/ICMPv6/IGMP/PIM checksum, and checks that what tshark reads back
(interface, direction flag, comment, Register Border/Null bits) is what each fixture says.
Routing-socket datagrams (LINKTYPE_USER0) are decoded by the project's own Lua dissector
(conformance/fixtures/mroute.lua): every one must be, and each upcall's fields must be what the
fixture says. Synthetic datagrams cover what the committed pcaps lack (Linux type 4, IGMP, MLD) and
malformed lengths, which must raise the dissector's expert errors.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from scapy.layers.igmp import IGMP
from scapy.layers.inet import IP, UDP, IPOption_Router_Alert
from scapy.layers.inet6 import ICMPv6MLDMultAddrRec, ICMPv6MLReport2, IPv6

from conformance.fixtures import PCAP_APPLICATION, pcapng, store
from conformance.fixtures.dissector import tshark_args
from mroute_spec.constants import IGMPMSG_WRVIFWHOLE
from reference_impl import upcalls
from reference_impl.packets import IPPacket, parse_ipv4, parse_ipv6
from reference_impl.profiles import FREEBSD, LINUX

ROOT = Path(__file__).resolve().parent.parent
TSHARK, MERGECAP = shutil.which("tshark"), shutil.which("mergecap")
pytestmark = pytest.mark.skipif(
    TSHARK is None or MERGECAP is None,
    reason="tshark/mergecap not installed (scripts/check installs them: apt-get install tshark)",
)
# bw_upcall record field (fixture JSON) -> the dissector's field; a timeval is two fields
BW_FIELDS = {"bu_src": "mroute.bw.src", "bu_dst": "mroute.bw.dst", "bu_flags": "mroute.bw.flags",
             "bu_threshold_time.sec": "mroute.bw.threshold.sec", "bu_threshold_time.usec": "mroute.bw.threshold.usec",
             "bu_threshold_packets": "mroute.bw.threshold.packets", "bu_threshold_bytes": "mroute.bw.threshold.bytes",
             "bu_measured_time.sec": "mroute.bw.measured.sec", "bu_measured_time.usec": "mroute.bw.measured.usec",
             "bu_measured_packets": "mroute.bw.measured.packets", "bu_measured_bytes": "mroute.bw.measured.bytes"}
PREFS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "pim.payload_tree:TRUE"]
FIELDS = ["frame.interface_name", "frame.packet_flags_direction", "frame.comment", "_ws.malformed",
          "_ws.expert.severity", "_ws.expert.message", "ip.checksum.status", "udp.checksum.status",
          "pim.cksum.status", "icmpv6.checksum.status", "igmp.checksum.status", "pim.register_flag.border",
          "pim.register_flag.null_register", "frame.protocols", "mroute.kind", "mroute.abi", "mroute.msgtype",
          "mroute.msgtype6", "mroute.vif", "mroute.mif", "mroute.src", "mroute.dst", "mroute.src6", "mroute.dst6",
          "mroute.bw.count", *BW_FIELDS.values()]
CHECKSUMS = FIELDS[6:11]
PI_ERROR, PI_WARN, PI_NOTE = 0x00800000, 0x00600000, 0x00400000  # expert severities
INBOUND, OUTBOUND = "0x00000001", "0x00000002"


@dataclass
class Frame:
    pcap: str
    number: int  # within its own pcap (1-based)
    fields: dict[str, str]

    def values(self, name: str) -> list[str]:
        raw = self.fields.get(name, "")
        return [v for v in raw.split("|") if v] if raw else []

    def where(self) -> str:
        return f"{self.pcap} frame {self.number}"


@functools.cache
def _tshark_has_lua() -> bool:
    assert TSHARK is not None
    return " with Lua" in subprocess.run([TSHARK, "-v"], capture_output=True, text=True, check=True).stdout


def _run_tshark(pcaps: list[Path], workdir: Path, prefs: list[str], fields: list[str]) -> list[list[str]]:
    """One row of ``fields`` per frame of ``pcaps`` (merged in order), dissected with the shipped Lua dissector."""
    assert TSHARK is not None and MERGECAP is not None
    if not _tshark_has_lua():
        pytest.fail(f"{TSHARK} was built without Lua, so it cannot load {tshark_args()[1]}")
    merged = workdir / "merged.pcapng"
    subprocess.run([MERGECAP, "-a", "-I", "none", "-w", str(merged), *map(str, pcaps)], check=True, capture_output=True)
    cmd = [TSHARK, "-n", "-r", str(merged), *tshark_args(), *prefs, "-T", "fields", "-E", "separator=/t",
           "-E", "occurrence=a", "-E", "aggregator=|", *[a for f in fields for a in ("-e", f)]]
    rows = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
    return [(r.split("\t") + [""] * len(fields))[: len(fields)] for r in rows]


def tshark_view(pcaps: list[Path], workdir: Path) -> dict[str, list[Frame]]:
    """tshark's view of ``pcaps`` (read in one pass): kit-relative pcap path -> its frames."""
    counts = [len(pcapng.read(p.read_bytes())[1]) for p in pcaps]
    rows = _run_tshark(pcaps, workdir, PREFS, FIELDS)
    assert len(rows) == sum(counts), f"tshark read {len(rows)} frames, the pcaps hold {sum(counts)}"
    out: dict[str, list[Frame]] = {}
    at = 0
    for path, n in zip(pcaps, counts, strict=True):
        rel = "/".join(path.parts[-4:])  # pcaps/<group>/<clause>/<name>.pcapng, wherever the copy lives
        out[rel] = [Frame(rel, i + 1, dict(zip(FIELDS, rows[at + i], strict=True))) for i in range(n)]
        at += n
    return out


def fixture_docs(group: str | None = None, profile: str | None = None) -> list[dict]:
    """Every committed profile's fixture (base + overlay) of ``group``/``profile`` (default: all)."""
    out = []
    for path in sorted((ROOT / "fixtures" / (group or "")).rglob("*.json")):
        out += [doc for name, doc in store.unpack(json.loads(path.read_text())).items() if profile in (None, name)]
    return out


@pytest.fixture(scope="module")
def dissected(tmp_path_factory) -> dict[str, list[Frame]]:
    """tshark's view of every committed pcap: pcap path -> its frames."""
    pcaps = sorted(ROOT.glob("pcaps/*/*/*.pcapng"))
    assert len(pcaps) == len(list((ROOT / "pcaps").rglob("*.pcapng"))), "a pcap outside pcaps/<group>/<clause>/"
    assert pcaps, "no committed pcaps"
    return tshark_view(pcaps, tmp_path_factory.mktemp("tshark"))


def _all(dissected: dict[str, list[Frame]]) -> list[Frame]:
    return [f for frames in dissected.values() for f in frames]


def test_no_malformed_packet_and_no_expert_error(dissected):
    bad = [f"{f.where()}: {f.fields['_ws.expert.message'] or 'malformed'}" for f in _all(dissected)
           if f.fields["_ws.malformed"] or any(int(s) >= PI_ERROR for s in f.values("_ws.expert.severity"))]
    assert not bad, f"{len(bad)} frame(s) tshark finds malformed or in error:\n" + "\n".join(bad[:10])


def test_no_bad_checksum(dissected):
    # an ICMPv6 message read from a raw socket has no IPv6 header, so no pseudo-header to verify it with
    bad = [f"{f.where()}: {name} = {f.fields[name]}" for f in _all(dissected) for name in CHECKSUMS
           if "0" in f.values(name) and not (name == "icmpv6.checksum.status" and f.fields["mroute.kind"] == "ICMPv6")]
    assert not bad, f"{len(bad)} bad checksum(s) (status 0):\n" + "\n".join(bad[:10])
    checked = sum(1 for f in _all(dissected) if f.values("ip.checksum.status"))
    assert checked > 1000, f"only {checked} frames had their IPv4 checksum verified"


def test_membership_reports_are_in_the_pcaps_and_read_cleanly(dissected):
    """IGMP and MLD membership reports (scenarios of the socket group) on the wire and on the routing socket."""
    def layers(f: Frame) -> list[str]:
        return f.fields["frame.protocols"].split(":")

    wire = [f for f in _all(dissected) if layers(f)[0] == "eth"]
    igmp = [f for f in wire if "igmp" in layers(f)]
    mld = [f for f in wire if "icmpv6" in layers(f) and "ipv6.hopopts" in layers(f)]
    assert igmp and mld, f"membership frames in the pcaps: {len(igmp)} IGMP, {len(mld)} MLD (need both)"
    assert all(f.fields["igmp.checksum.status"] == "1" for f in igmp), "an IGMP report with a bad checksum"
    assert all(f.fields["icmpv6.checksum.status"] == "1" for f in mld), "an MLD report with a bad checksum"
    read = [f for f in _all(dissected) if f.fields["mroute.kind"] in ("IGMP", "ICMPv6")]
    assert {f.fields["mroute.kind"] for f in read} == {"IGMP", "ICMPv6"}, "reports read on a routing socket"


def _references(doc: dict) -> dict[int, tuple[str, str, str]]:
    """pcap frame -> (step op, interface name, direction flags) as the fixture declares them."""
    names = [i["name"] for i in doc["pcap"]["interfaces"]]
    port_name = {p["index"]: names[p["index"]] for p in doc["ports"]}
    refs: dict[int, tuple[str, str, str]] = {}
    for step in doc["steps"]:
        n = step["op"]
        if step["op"] == "send":
            refs[step["pcap_frame"]] = (n, port_name[step["port"]], INBOUND)
        elif step["op"] == "collect":
            for entry in step["expect"]:
                for f in entry["frames"]:
                    refs[f["pcap_frame"]] = (n, port_name[entry["port"]], OUTBOUND)
        elif step["op"] == "recv":
            for d in step["expect"]:
                refs[d["pcap_frame"]] = (n, step["socket"], OUTBOUND)
    return refs


def test_interfaces_directions_and_comments_read_back_as_each_fixture_says(dissected):
    wrong = []
    for doc in fixture_docs():
        frames = dissected[doc["pcap"]["path"]]
        refs = _references(doc)
        if sorted(refs) != list(range(1, len(frames) + 1)):
            wrong.append(f"{doc['id']} [{doc['profile']['name']}]: the steps reference frames {sorted(refs)[:8]}..., the pcap has {len(frames)}")
            continue
        for number, (step, iface, direction) in refs.items():
            f = frames[number - 1]
            got = (f.fields["frame.interface_name"], f.fields["frame.packet_flags_direction"])
            if got != (iface, direction) or not f.fields["frame.comment"].startswith(f"{step}: "):
                wrong.append(f"{f.where()}: tshark reads {got} {f.fields['frame.comment']!r}; "
                             f"the fixture says step {step}, {iface}, {direction}")
    assert not wrong, f"{len(wrong)} mismatch(es):\n" + "\n".join(wrong[:10])


def test_register_border_and_null_bits_read_back_as_each_fixture_says(dissected):
    wrong, checked = [], {0: 0, 1: 0}
    for doc in fixture_docs("register"):
        frames = dissected[doc["pcap"]["path"]]
        for step in (s for s in doc["steps"] if s["op"] == "collect"):
            for f in (f for e in step["expect"] for f in e["frames"] if "register" in f):
                seen = frames[f["pcap_frame"] - 1]
                got = (seen.values("pim.register_flag.border")[:1], seen.values("pim.register_flag.null_register")[:1])
                want = ([str(f["register"]["border"])], [str(f["register"]["null"])])
                checked[f["register"]["border"]] += 1
                if got != want:
                    wrong.append(f"{seen.where()}: tshark reads Border/Null {got}, the fixture says {want}")
    assert not wrong, "\n".join(wrong[:10])
    assert checked[0] and checked[1], f"Registers checked by Border value: {checked} (need both values)"


# -- the routing-socket channel, decoded by the shipped Lua dissector ---------------------------
def _socket_frames(dissected: dict[str, list[Frame]]) -> list[Frame]:
    """Every frame of a LINKTYPE_USER0 (routing socket) interface in the committed pcaps."""
    out = []
    for rel, frames in dissected.items():
        interfaces, packets = pcapng.read((ROOT / rel).read_bytes())
        out += [frames[i] for i, p in enumerate(packets) if interfaces[p.interface].linktype == pcapng.LINKTYPE_USER0]
    return out


def test_every_routing_socket_frame_is_decoded_by_the_dissector(dissected):
    frames = _socket_frames(dissected)
    undecoded = [f"{f.where()}: {f.fields['frame.protocols']}" for f in frames
                 if not f.fields["frame.protocols"].startswith("mroute") or not f.values("mroute.kind")]
    assert not undecoded, f"{len(undecoded)} routing-socket frame(s) not decoded:\n" + "\n".join(undecoded[:10])
    assert len(frames) > 400, f"only {len(frames)} routing-socket frames in the committed pcaps"


def _record_values(record: dict) -> dict[str, str]:
    out = {}
    for name, value in record.items():
        if isinstance(value, list):  # a timeval: [sec, usec]
            out[f"{name}.sec"], out[f"{name}.usec"] = str(value[0]), str(value[1])
        else:
            out[name] = f"0x{value:08x}" if name == "bu_flags" else str(value)
    return out


def _upcall_read(version: int, f: Frame) -> dict[str, object]:
    """What tshark decoded from one routing-socket frame, in the fixture's terms."""
    v6 = version == 6
    got: dict[str, object] = {
        "kind": f.fields["mroute.kind"],
        "msgtype": f.fields["mroute.msgtype6" if v6 else "mroute.msgtype"],
        "vif": f.fields["mroute.mif" if v6 else "mroute.vif"],
        "src": f.fields["mroute.src6" if v6 else "mroute.src"],
        "dst": f.fields["mroute.dst6" if v6 else "mroute.dst"],
    }
    if f.fields["mroute.bw.count"]:
        got["records"] = int(f.fields["mroute.bw.count"])
        got["record fields"] = [dict(zip(BW_FIELDS, vals, strict=True))
                                for vals in zip(*(f.values(BW_FIELDS[k]) for k in BW_FIELDS), strict=True)]
    return got


def _upcall_wanted(doc: dict, version: int, entry: dict) -> dict[str, object]:
    """The same view, from the fixture's decoded ``fields`` and ``records`` for a recv entry."""
    fields = entry["fields"]
    if version == 6:
        msgtype, vif, src, dst = fields["im6_msgtype"], fields["im6_mif"], fields["im6_src"], fields["im6_dst"]
    else:
        msgtype, src, dst = fields["im_msgtype"], fields["im_src"], fields["im_dst"]
        vif = fields["im_vif"] | fields.get("im_vif_hi", 0) << 8
    want: dict[str, object] = {"kind": entry["kind"], "msgtype": str(msgtype), "vif": str(vif), "src": src, "dst": dst}
    if "records" in entry:
        want["records"] = len(entry["records"])
        want["record fields"] = [_record_values(r) for r in entry["records"]]
    return want


def upcall_mismatches(doc: dict, frames: list[Frame]) -> tuple[list[str], int]:
    """Each recv datagram of ``doc``, as tshark decoded it from ``frames``, against the fixture: (problems, checked)."""
    wrong, checked = [], 0
    for step in (s for s in doc["steps"] if s["op"] == "recv"):
        for entry in step["expect"]:
            f = frames[entry["pcap_frame"] - 1]
            checked += 1
            if "struct" not in entry:  # an ordinary IGMP packet or ICMPv6 (MLD) message
                layer = "igmp" if entry["kind"] == "IGMP" else "icmpv6"
                if f.fields["mroute.kind"] != entry["kind"] or layer not in f.fields["frame.protocols"].split(":"):
                    wrong.append(f"{f.where()}: tshark reads {f.fields['mroute.kind']!r} "
                                 f"({f.fields['frame.protocols']}), the fixture says {entry['kind']}")
                continue
            version = 6 if entry["struct"] == "mrt6msg" else 4
            got, want = _upcall_read(version, f), _upcall_wanted(doc, version, entry)
            if got != want:
                wrong.append(f"{f.where()} (step {step['step']}): tshark reads {got}, the fixture says {want}")
            abi = f.fields["mroute.abi"]
            # the dissector names upcall layouts; NetBSD's are FreeBSD's (only its ioctl numbers differ)
            layout = {"netbsd-amd64": "bsd-amd64"}.get(doc["profile"]["abi"], doc["profile"]["abi"])
            if abi not in (layout, "either"):
                wrong.append(f"{f.where()}: the dissector recognised {abi}, the fixture's profile uses "
                             f"{doc['profile']['abi']}")
    return wrong, checked


def test_every_upcall_decodes_to_what_its_fixture_says(dissected):
    wrong, checked = [], set()
    for doc in fixture_docs():  # every profile's fixture, also where profiles share a pcap
        problems, _ = upcall_mismatches(doc, dissected[doc["pcap"]["path"]])
        wrong += problems
        checked |= {(doc["pcap"]["path"], e["pcap_frame"]) for s in doc_steps(doc, "recv") for e in s["expect"]}
    assert not wrong, f"{len(wrong)} mismatch(es):\n" + "\n".join(wrong[:10])
    assert len(checked) == len(_socket_frames(dissected)), "some routing-socket frames are not a recv datagram"


def test_a_corrupted_upcall_byte_is_caught(dissected, tmp_path):
    """The comparison above can fail: one changed im_vif byte in a copy of a pcap is reported."""
    doc = next(d for d in fixture_docs("nocache", "linux")
               if any(e.get("struct") == "igmpmsg" for s in doc_steps(d, "recv") for e in s["expect"]))
    entry = next(e for s in doc_steps(doc, "recv") for e in s["expect"] if e.get("struct") == "igmpmsg")
    original = (ROOT / doc["pcap"]["path"]).read_bytes()
    interfaces, packets = pcapng.read(original)
    assert pcapng.write(interfaces, packets, PCAP_APPLICATION) == original  # the copy differs only where changed
    victim = packets[entry["pcap_frame"] - 1]
    data = bytearray(victim.data)
    data[10] ^= 0x01  # im_vif
    packets[entry["pcap_frame"] - 1] = replace(victim, data=bytes(data))
    copy = tmp_path / doc["pcap"]["path"]
    copy.parent.mkdir(parents=True)
    copy.write_bytes(pcapng.write(interfaces, packets, PCAP_APPLICATION))
    assert sum(a != b for a, b in zip(copy.read_bytes(), original, strict=True)) == 1
    problems, _ = upcall_mismatches(doc, tshark_view([copy], tmp_path)[doc["pcap"]["path"]])
    assert len(problems) == 1 and f"frame {entry['pcap_frame']} " in problems[0], problems
    assert upcall_mismatches(doc, dissected[doc["pcap"]["path"]])[0] == []


def doc_steps(doc: dict, op: str) -> list[dict]:
    return [s for s in doc["steps"] if s["op"] == op]


@pytest.mark.parametrize(("profile", "abi"), [("documented", "bsd"), ("freebsd", "bsd"), ("linux", "linux")])
def test_forcing_the_profiles_abi_decodes_the_same_without_warnings(dissected, tmp_path, profile, abi):
    """The preference mroute.abi, set to each profile's ABI, agrees with what the dissector recognised."""
    pcaps = sorted({ROOT / d["pcap"]["path"] for d in fixture_docs(profile=profile)})
    forced = _run_tshark(pcaps, tmp_path, ["-o", f"mroute.abi:{abi}"],
                         ["mroute.kind", "mroute.vif", "mroute.mif", "mroute.abi", "_ws.expert.severity"])
    auto = [(f.fields["mroute.kind"], f.fields["mroute.vif"], f.fields["mroute.mif"])
            for p in pcaps for f in dissected["/".join(p.parts[-4:])]]
    assert [tuple(r[:3]) for r in forced] == auto
    assert {r[3] for r in forced if r[3]} == {f"{abi}-amd64"}
    # an MLD message read from a raw socket has no IPv6 header: Wireshark cannot verify its checksum
    # and warns (docs/fixtures.md; the dissector adds mroute.icmpv6_checksum_unverifiable)
    warned = [r for r in forced if r[0] != "ICMPv6" and any(int(s) >= PI_WARN for s in r[4].split("|") if s)]
    assert not warned, f"{len(warned)} frames with expert warnings when {abi} is forced: {warned[:3]}"


# -- datagrams the committed pcaps do not (yet) hold: Linux type 4, IGMP, MLD, and malformed ones ----
def _ipv4(**kw) -> IPPacket:
    pkt = parse_ipv4(bytes(IP(src="198.18.0.10", dst="232.1.0.1", ttl=5, **kw) / UDP(sport=40000, dport=50000)
                           / b"payload!"))
    assert pkt is not None
    return pkt


def _ipv6() -> IPPacket:
    pkt = parse_ipv6(bytes(IPv6(src="2001:db8::10", dst="ff3e::8000:1", hlim=5) / UDP(sport=40000, dport=50000)
                           / b"payload!"))
    assert pkt is not None
    return pkt


def _mld_report() -> bytes:
    report = IPv6(src="fe80::1", dst="ff02::16", hlim=1) / ICMPv6MLReport2(
        records=[ICMPv6MLDMultAddrRec(rtype=4, dst="ff3e::8000:1")])
    return bytes(report)[40:]  # a raw ICMPv6 socket reads no IPv6 header


@dataclass
class Case:
    """A datagram on an IPv4 or IPv6 routing socket and what tshark must make of it."""

    family: int  # 4 or 6; 0: an interface whose description does not name the family
    name: str
    data: bytes
    fields: dict[str, str]  # field -> value (frame.protocols: a prefix)
    experts: tuple[str, ...] = ()  # the dissector's expert infos, exactly
    severity: int = 0  # the highest expert severity wanted (packet comments aside)


def _synthetic() -> list[Case]:
    v4, v6 = _ipv4(), _ipv6()
    bsd4 = upcalls.igmpmsg_header(v4, 1, 7, FREEBSD)
    bsd6 = upcalls.mrt6msg(v6, 1, 1, FREEBSD)
    igmp = IP(src="198.18.0.20", dst="232.1.1.1", ttl=1, options=[IPOption_Router_Alert()]) / IGMP(
        type=0x16, gaddr="232.1.1.1")
    return [
        Case(4, "Linux NOCACHE, vif 300", upcalls.igmpmsg_header(v4, 1, 300, LINUX),
             {"mroute.kind": "NOCACHE", "mroute.vif": "300", "mroute.abi": "linux-amd64", "mroute.igmphdr.type": "1",
              "mroute.igmphdr.code": "0"}),
        Case(4, "BSD WRONGVIF with IP options", upcalls.igmpmsg_header(_ipv4(options=[IPOption_Router_Alert()]), 2, 3,
                                                                          FREEBSD),
             {"mroute.kind": "WRONGVIF", "mroute.vif": "3", "mroute.abi": "bsd-amd64", "mroute.ip.options": "94040000"}),
        Case(4, "Linux WRVIFWHOLE", upcalls.igmpmsg_wholepkt(v4.data, v4.src, v4.dst, 2, LINUX, IGMPMSG_WRVIFWHOLE),
             {"mroute.kind": "WRVIFWHOLE", "mroute.vif": "2", "frame.protocols": "mroute:ip:udp", "ip.checksum.status": "1"}),
        Case(4, "FreeBSD WHOLEPKT, header bytes 0-7 uninitialised",
             bytes.fromhex("deadbeefcafef00d") + upcalls.igmpmsg_wholepkt(v4.data, v4.src, v4.dst, 1, FREEBSD)[8:],
             {"mroute.kind": "WHOLEPKT", "mroute.abi": "bsd-amd64", "mroute.unused1": "0xefbeadde"}),
        Case(6, "Linux WRMIFWHOLE", upcalls.mrt6msg(v6, 4, 1, LINUX, whole=v6.data),
             {"mroute.kind": "WRMIFWHOLE", "mroute.mif": "1", "frame.protocols": "mroute:ipv6:udp"}),
        Case(6, "Linux NOCACHE (80 bytes)", upcalls.mrt6msg(v6, 1, 1, LINUX),
             {"mroute.kind": "NOCACHE", "mroute.abi": "linux-amd64", "mroute.src6": "2001:db8::10"}),
        Case(6, "BSD NOCACHE (im6_pad overlays plen/nxt/hlim, hlim decremented: freebsd.md §4.8)", bsd6,
             {"mroute.kind": "NOCACHE", "mroute.abi": "bsd-amd64", "mroute.pad6.hlim": "4", "mroute.pad6.nxt": "17"}),
        Case(4, "IGMPv2 report", bytes(igmp),
             {"mroute.kind": "IGMP", "frame.protocols": "mroute:ip:igmp", "igmp.maddr": "232.1.1.1",
              "igmp.checksum.status": "1"}),
        # Wireshark's own "Bad checksum" warning: it sums a pseudo-header without addresses
        Case(6, "MLDv2 report", _mld_report(),
             {"mroute.kind": "ICMPv6", "frame.protocols": "mroute:icmpv6",
              "icmpv6.mldr.mar.multicast_address": "ff3e::8000:1"},
             ("mroute.icmpv6_checksum_unverifiable",), PI_WARN),
        Case(4, "BW_UPCALL with 81 bytes of records", upcalls.bw_message([bytes(81)]), {"mroute.bw.count": "1"},
             ("mroute.bad_length",), PI_ERROR),
        Case(4, "BW_UPCALL without records", upcalls.bw_message([]), {"mroute.bw.count": "0"}, ("mroute.short",), PI_ERROR),
        Case(4, "igmpmsg of 15 bytes", bsd4[:15], {}, ("mroute.short",), PI_ERROR),
        Case(4, "NOCACHE with 5 stray bytes", bsd4 + bytes(5), {}, ("mroute.bad_length",), PI_ERROR),
        Case(4, "WHOLEPKT with no room for a packet",
             upcalls.igmpmsg_wholepkt(b"", v4.src, v4.dst, 1, FREEBSD) + bytes(10), {}, ("mroute.short",), PI_ERROR),
        Case(6, "mrt6msg of 39 bytes", bsd6[:39], {}, ("mroute.short",), PI_ERROR),
        Case(6, "NOCACHE6 of 50 bytes", bsd6 + bytes(10), {}, ("mroute.bad_length",), PI_ERROR),
        Case(0, "igmpmsg, family unknown", bsd4, {"mroute.family": "4", "mroute.kind": "NOCACHE"},
             ("mroute.family_guessed",), PI_NOTE),
        Case(0, "mrt6msg, family unknown", bsd6, {"mroute.family": "6", "mroute.kind": "NOCACHE"},
             ("mroute.family_guessed",), PI_NOTE),
        Case(4, "igmpmsg type 9", bsd4[:8] + b"\x09" + bsd4[9:], {"mroute.kind": "type9"},
             ("mroute.unknown_msgtype",), PI_WARN),
    ]


SYNTHETIC = _synthetic()
EXPERTS = ["mroute.short", "mroute.bad_length", "mroute.unknown_msgtype", "mroute.abi_mismatch",
           "mroute.family_guessed", "mroute.icmpv6_checksum_unverifiable"]


def _check_cases(cases: list[Case], workdir: Path, prefs: list[str]) -> list[str]:
    """Write ``cases`` to one pcap (an IPv4 and an IPv6 socket interface), dissect it, and list what differs."""
    interfaces = [pcapng.Interface(f"s{v}", pcapng.LINKTYPE_USER0, f"socket s{v} ({fam}, SOCK_RAW, {proto}): synthetic")
                  for v, fam, proto in ((4, "AF_INET", "IPPROTO_IGMP"), (6, "AF_INET6", "IPPROTO_ICMPV6"))]
    interfaces.append(pcapng.Interface("s0", pcapng.LINKTYPE_USER0))
    index = {4: 0, 6: 1, 0: 2}
    packets = [pcapng.Packet(index[c.family], i, c.data, pcapng.OUTBOUND) for i, c in enumerate(cases)]
    path = workdir / "synthetic.pcapng"
    path.write_bytes(pcapng.write(interfaces, packets, "test"))
    names = sorted({k for c in cases for k in c.fields} | {"frame.protocols"})
    extra = ["_ws.expert.severity", "_ws.malformed", *EXPERTS]
    rows = _run_tshark([path], workdir, ["-o", "ip.check_checksum:TRUE", *prefs], names + extra)
    assert len(rows) == len(cases)
    wrong = []
    for case, row in zip(cases, rows, strict=True):
        got = dict(zip(names + extra, row, strict=True))
        for key, value in case.fields.items():
            if got[key] != value and not (key == "frame.protocols" and got[key].startswith(value)):
                wrong.append(f"{case.name}: {key} = {got[key]!r}, wanted {value!r}")
        experts = tuple(e for e in EXPERTS if got[e])
        severity = max((int(s) for s in got["_ws.expert.severity"].split("|") if s), default=0)
        malformed = bool(got["_ws.malformed"])  # an expert info of group Malformed (all our errors are)
        if sorted(experts) != sorted(case.experts) or severity != case.severity or malformed != (severity == PI_ERROR):
            wrong.append(f"{case.name}: expert infos {experts} up to severity {severity:#x} (malformed: "
                         f"{malformed}), wanted {case.experts} up to {case.severity:#x}")
    return wrong


def test_linux_type_4_igmp_mld_and_malformed_datagrams(tmp_path):
    """Each case decodes as stated; every bad length gives an expert error naming the dissector's check."""
    wrong = _check_cases(SYNTHETIC, tmp_path, [])
    assert not wrong, "\n".join(wrong)


def test_forcing_the_wrong_abi_warns(tmp_path):
    """mroute.abi forces the layout; bytes that only the other ABI sends get a warning, not a silent decode."""
    v4, v6 = _ipv4(), _ipv6()
    cases = [
        Case(4, "Linux NOCACHE read as BSD", upcalls.igmpmsg_header(v4, 1, 300, LINUX),
             {"mroute.abi": "bsd-amd64", "mroute.vif": "44", "mroute.unused3": "0x01"}, ("mroute.abi_mismatch", "mroute.bad_length"),
             PI_ERROR),
        Case(6, "WRMIFWHOLE read as BSD", upcalls.mrt6msg(v6, 4, 1, LINUX, whole=v6.data), {"mroute.kind": "type4"},
             ("mroute.abi_mismatch", "mroute.unknown_msgtype"), PI_WARN),
        Case(4, "BSD NOCACHE read as BSD", upcalls.igmpmsg_header(v4, 1, 7, FREEBSD), {"mroute.vif": "7"}),
    ]
    wrong = _check_cases(cases, tmp_path, ["-o", "mroute.abi:bsd"])
    assert not wrong, "\n".join(wrong)
