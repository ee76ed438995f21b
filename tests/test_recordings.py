"""Recorded smcroute runs (recordings/, made by ``mroute-conformance record`` in the linux-vm) replay
byte for byte into the model under the linux profile; a changed answer byte is caught and explained."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from conformance.fixtures import BadInput, pcapng
from conformance.fixtures.load import load
from conformance.fixtures.replay import FAIL, PASS, replay
from conformance.recording import DEFAULT_KIT, kit
from conformance.recording.convert import Event, convert
from conformance.recording.strace import parse
from conformance.targets.reference import ReferenceTarget
from reference_impl.profiles import LINUX

RECORDED = kit.recorded_fixtures(DEFAULT_KIT)


def test_recordings_are_shipped() -> None:
    names = {p.relative_to(DEFAULT_KIT / "fixtures").with_suffix("").as_posix() for p in RECORDED}
    assert {"smcroute/static-sg", "smcroute/star-g", "smcroute/ipv6", "smcroute/table-7", "pimd/ssm-source"} <= names


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
def test_recording_replays_on_the_model(path: Path) -> None:
    fx = load(path)
    assert fx.doc["kind"] == "recording" and fx.profile_name == "linux"
    ops = {s["op"] for s in fx.steps}
    assert {"socket", "setsockopt", "send", "collect"} <= ops  # the daemon did drive the kernel
    outcome = replay(fx, ReferenceTarget(LINUX))
    assert outcome.status == PASS, "\n".join(map(str, outcome.differences))


def _mutated_kit(tmp_path: Path) -> Path:
    shutil.copytree(DEFAULT_KIT, tmp_path / "kit")
    return tmp_path / "kit"


def test_changed_upcall_byte_fails_with_decoded_difference(tmp_path: Path) -> None:
    root = _mutated_kit(tmp_path)
    path = root / "fixtures" / "smcroute" / "star-g.json"
    doc = json.loads(path.read_text())
    step = next(s for s in doc["steps"] if s["op"] == "recv" and s["expect"][0]["kind"] == "NOCACHE")
    interfaces, packets = pcapng.read((root / doc["pcap"]["path"]).read_bytes())
    pkt = packets[step["expect"][0]["pcap_frame"] - 1]
    data = bytearray(pkt.data)
    data[15] ^= 0x01  # last byte of im_src: 198.18.0.10 -> 198.18.0.11
    packets[step["expect"][0]["pcap_frame"] - 1] = dataclasses.replace(pkt, data=bytes(data))
    kit.write(root, "smcroute/star-g", doc, pcapng.write(interfaces, packets, "test"))
    outcome = replay(load(path), ReferenceTarget(LINUX))
    assert outcome.status == FAIL
    text = "\n".join(map(str, outcome.differences))
    assert f"step {step['step']} recv" in text and "im_src" in text and "198.18.0.11" in text, text


def test_changed_setsockopt_answer_fails(tmp_path: Path) -> None:
    root = _mutated_kit(tmp_path)
    path = root / "fixtures" / "smcroute" / "static-sg.json"
    doc = json.loads(path.read_text())
    step = next(s for s in doc["steps"] if s.get("option") == "MRT_ADD_MFC")
    step["expect"]["errno"] = "EINVAL"
    pcap = (root / doc["pcap"]["path"]).read_bytes()
    kit.write(root, "smcroute/static-sg", doc, pcap)
    outcome = replay(load(path), ReferenceTarget(LINUX))
    assert outcome.status == FAIL
    assert any(d.step == step["step"] and "expected EINVAL, got success" in str(d) for d in outcome.differences)


def test_recording_kind_needs_its_metadata(tmp_path: Path) -> None:
    root = _mutated_kit(tmp_path)
    path = root / "fixtures" / "smcroute" / "ipv6.json"
    doc = json.loads(path.read_text())
    del doc["recording"]
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInput, match="recording"):
        load(path)


TRACE = """\
158   100.000001 socket(0xa, 0x3|0x80000, 0x3a) = 6
158   100.000002 socket(0x2, 0x3|0x80000, 0x2) = 5
158   100.000003 setsockopt(5, 0, 0x22, [0], 4) = 0
158   100.000004 setsockopt(5, 0, 0xc8, [1], 4) = 0
158   100.000005 setsockopt(5, 0, 0xc8, [1], 4) = -1 EADDRINUSE (Address already in use)
158   100.000006 getsockopt(5, 0, 0xce, [773], [4]) = 0
158   100.000007 read(6, "\\x8f\\x00\\xfb\\x7e\\x00\\x00\\x00\\x01\\x04\\x00\\x00\\x00\\xff\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01\\xff\\x00\\x00\\x01", 8192) = 28
158   100.000008 socket(0x1, 0x2|0x80000, 0) = 7
158   100.000009 close(7) = 0
158   101.000000 recvfrom(5, "\\x45\\x00\\x00\\x1c\\x00\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\xc6\\x12\\x00\\x0a\\xe8\\x01\\x01\\x01", 8192, 0, NULL, NULL) = 20
158   101.000001 setsockopt(5, 0, 0xc9, NULL, 0 <unfinished ...>
158   101.000002 <... setsockopt resumed>) = 0
158   101.000003 close(5) = 0
158   101.500000 +++ exited with 0 +++
"""


def test_convert_keeps_routing_socket_calls_in_clock_order() -> None:
    frame = b"\x01" * 60
    hello = bytes.fromhex("01005e00000d026d72000001" "0800" "45c0002e0000000001670000c6120001e000000d") + bytes(26)
    events = [Event(100.5, "send", port=0, frame=frame), Event(101.2, "collect", frames={0: [hello], 1: [frame]})]
    conv = convert(parse(TRACE), events, LINUX, 101.5)
    calls = [(c.op, c.args.get("optname"), c.errno) for c in conv.recording.calls]
    assert calls == [("socket", None, None), ("socket", None, None), ("setsockopt", 200, None),
                     ("setsockopt", 200, 98), ("getsockopt", 206, None), ("send", None, None),
                     ("recv", None, None), ("setsockopt", 201, None), ("close", None, None),
                     ("collect", None, None), ("close", None, None)]
    assert conv.recording.calls[4].result == (773).to_bytes(4, "little")
    assert conv.recording.calls[7].args["value"] == b""
    assert conv.recording.calls[6].result == [bytes.fromhex("4500001c0000000001000000c612000ae8010101")]
    assert conv.recording.calls[9].result == {0: [], 1: [frame]}  # the daemon's PIM Hello is not forwarding
    assert conv.excluded == {
        "close at process exit (implicit: recorded as a close step)": 1,
        "frames the daemon sent to link-local groups (its own protocol, not forwarding)": 1,
        "read: the router's own MLD/IGMP about link-local groups (not the routing API)": 1,
        "setsockopt level 0 optname 34: not a multicast routing option": 1,
    }
