"""External proof that the pcaps are right: the real tshark dissects every committed pcap.

All pcaps are concatenated with ``mergecap -a`` (frame order and interfaces preserved) and read
in one tshark pass with checksum validation on. The test fails on any malformed packet, any
expert error, any bad IPv4/UDP/ICMPv6/IGMP/PIM checksum, and checks that what tshark reads back
(interface, direction flag, comment, Register Border/Null bits) is what each fixture says.
Routing-socket datagrams (LINKTYPE_USER0) are shown as data via the DLT_USER table.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.fixtures import pcapng

ROOT = Path(__file__).resolve().parent.parent
TSHARK, MERGECAP = shutil.which("tshark"), shutil.which("mergecap")
pytestmark = pytest.mark.skipif(
    TSHARK is None or MERGECAP is None,
    reason="tshark/mergecap not installed (scripts/check installs them: apt-get install tshark)",
)
PREFS = [
    "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "pim.payload_tree:TRUE",
    "-o", 'uat:user_dlts:"User 0 (DLT=147)","data","0","","0",""',
]
FIELDS = ["frame.interface_name", "frame.packet_flags_direction", "frame.comment", "_ws.malformed",
          "_ws.expert.severity", "_ws.expert.message", "ip.checksum.status", "udp.checksum.status",
          "pim.cksum.status", "icmpv6.checksum.status", "igmp.checksum.status", "pim.register_flag.border",
          "pim.register_flag.null_register"]
CHECKSUMS = FIELDS[6:11]
PI_ERROR = 0x00800000  # expert severity "Error"
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


@pytest.fixture(scope="module")
def dissected(tmp_path_factory) -> dict[str, list[Frame]]:
    """tshark's view of every committed pcap: pcap path -> its frames."""
    pcaps = sorted(ROOT.glob("pcaps/*/*/*.pcapng"))
    assert pcaps, "no committed pcaps"
    counts = [len(pcapng.read(p.read_bytes())[1]) for p in pcaps]
    merged = tmp_path_factory.mktemp("tshark") / "all.pcapng"
    subprocess.run([MERGECAP, "-a", "-I", "none", "-w", str(merged), *map(str, pcaps)], check=True,
                   capture_output=True)
    cmd = [TSHARK, "-n", "-r", str(merged), *PREFS, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
           "-E", "aggregator=|", *[a for f in FIELDS for a in ("-e", f)]]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = done.stdout.splitlines()
    assert len(rows) == sum(counts), f"tshark read {len(rows)} frames, the pcaps hold {sum(counts)}"
    out: dict[str, list[Frame]] = {}
    at = 0
    for path, n in zip(pcaps, counts, strict=True):
        rel = path.relative_to(ROOT).as_posix()
        out[rel] = [Frame(rel, i + 1, dict(zip(FIELDS, (rows[at + i].split("\t") + [""] * len(FIELDS)), strict=False)))
                    for i in range(n)]
        at += n
    return out


def _all(dissected: dict[str, list[Frame]]) -> list[Frame]:
    return [f for frames in dissected.values() for f in frames]


def test_no_malformed_packet_and_no_expert_error(dissected):
    bad = [f"{f.where()}: {f.fields['_ws.expert.message'] or 'malformed'}" for f in _all(dissected)
           if f.fields["_ws.malformed"] or any(int(s) >= PI_ERROR for s in f.values("_ws.expert.severity"))]
    assert not bad, f"{len(bad)} frame(s) tshark finds malformed or in error:\n" + "\n".join(bad[:10])


def test_no_bad_checksum(dissected):
    bad = [f"{f.where()}: {name} = {f.fields[name]}" for f in _all(dissected) for name in CHECKSUMS
           if "0" in f.values(name)]
    assert not bad, f"{len(bad)} bad checksum(s) (status 0):\n" + "\n".join(bad[:10])
    checked = sum(1 for f in _all(dissected) if f.values("ip.checksum.status"))
    assert checked > 1000, f"only {checked} frames had their IPv4 checksum verified"


def _references(doc: dict) -> dict[int, tuple[int, str, str]]:
    """pcap frame -> (step, interface name, direction flags) as the fixture declares them."""
    names = [i["name"] for i in doc["pcap"]["interfaces"]]
    port_name = {p["index"]: names[p["index"]] for p in doc["ports"]}
    refs: dict[int, tuple[int, str, str]] = {}
    for step in doc["steps"]:
        n = step["step"]
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
    for path in sorted(ROOT.glob("fixtures/*/*/*.json")):
        doc = json.loads(path.read_text())
        frames = dissected[doc["pcap"]["path"]]
        refs = _references(doc)
        if sorted(refs) != list(range(1, len(frames) + 1)):
            wrong.append(f"{path.name}: the steps reference frames {sorted(refs)[:8]}..., the pcap has {len(frames)}")
            continue
        for number, (step, iface, direction) in refs.items():
            f = frames[number - 1]
            got = (f.fields["frame.interface_name"], f.fields["frame.packet_flags_direction"])
            if got != (iface, direction) or not f.fields["frame.comment"].startswith(f"step {step} "):
                wrong.append(f"{f.where()}: tshark reads {got} {f.fields['frame.comment']!r}; "
                             f"the fixture says step {step}, {iface}, {direction}")
    assert not wrong, f"{len(wrong)} mismatch(es):\n" + "\n".join(wrong[:10])


def test_register_border_and_null_bits_read_back_as_each_fixture_says(dissected):
    wrong, checked = [], {0: 0, 1: 0}
    for path in sorted(ROOT.glob("fixtures/*/register/*.json")):
        doc = json.loads(path.read_text())
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
