"""The portable fixtures: format, manifest, recording, export, and bad input that never crashes.

Bad input (a fixture failing its schema, a pcap not matching the manifest, a truncated pcap, a
step naming an unknown port, and hypothesis-mutated fixtures and pcaps) must end ``replay`` with
exit 2 and one line naming the file (and the step), never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.cli import main
from conformance.fixtures import FORMAT, MANIFEST, SCHEMA_PATH, export, ids, manifest, pcapng, store
from conformance.fixtures.frames import datagram_kind, describe_frame, frame_masks
from conformance.fixtures.jsonfmt import dumps
from conformance.fixtures.load import schema_problem
from conformance.fixtures.recorder import RecordingTarget
from conformance.harness import Harness
from conformance.results import fixtures_sha256
from reference_impl.profiles import get_profile

ROOT = Path(__file__).resolve().parent.parent


def linux_view(rel: str) -> dict:
    """The linux profile's fixture of committed store ``rel`` (base + overlay)."""
    return store.unpack(json.loads((ROOT / rel).read_text()))["linux"]


def _sample(group: str, wanted) -> str:
    """The first committed store (sorted) of ``group`` whose linux fixture satisfies ``wanted``."""
    for path in sorted((ROOT / "fixtures" / group).rglob("*.json")):
        rel = path.relative_to(ROOT).as_posix()
        if "linux" in json.loads(path.read_text())["profiles"] and wanted(linux_view(rel)):
            return rel
    raise LookupError(f"no committed {group} fixture fits this test")


def _forwarding(doc: dict) -> bool:
    ops = [s["op"] for s in doc["steps"]]
    return "send" in ops and sum(s.get("option") == "MRT_ADD_MFC" for s in doc["steps"]) == 1 and any(
        e["frames"] for s in doc["steps"] if s["op"] == "collect" for e in s["expect"])


def _v6_upcall(doc: dict) -> bool:
    return any(s.get("family") == "AF_INET6" for s in doc["steps"]) and any(
        s["op"] == "recv" and s["expect"] for s in doc["steps"])


SAMPLE = _sample("mfc", _forwarding)
SAMPLE6 = _sample("nocache", _v6_upcall)
MUTATION_SETTINGS = settings(max_examples=120, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def read_doc(path: Path) -> dict:
    """The (only) fixture of a one-profile store file: its base."""
    return json.loads(path.read_text())["base"]


def write_doc(path: Path, doc: dict) -> None:
    """Replace the base of the one-profile store file ``path`` with ``doc``."""
    whole = json.loads(path.read_text())
    whole["base"] = doc
    path.write_bytes(dumps(whole))


def copy_kit(tmp: Path, rel: str = SAMPLE, with_manifest: bool = False) -> Path:
    """The linux fixture of ``rel`` as a one-profile store, and its pcap, under ``tmp`` in the kit layout;
    optionally a manifest of the two."""
    whole = json.loads((ROOT / rel).read_text())
    doc = linux_view(rel)
    one = {**whole, "profiles": ["linux"], "base": doc, "overlays": {}}
    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp / rel).write_bytes(dumps(one))
    (tmp / doc["pcap"]["path"]).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / doc["pcap"]["path"], tmp / doc["pcap"]["path"])
    if with_manifest:
        files = {p: (tmp / p).read_bytes() for p in (rel, doc["pcap"]["path"])}
        (tmp / MANIFEST).write_bytes(manifest.render(files, {}))
    return tmp / rel


def assert_one_line_bad_input(rc: int, err: str, path: Path, *words: str) -> None:
    assert rc == 2, f"exit {rc}, expected 2 (bad input); stderr: {err!r}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    assert str(path) in lines[0] and "Traceback" not in err, lines[0]
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"


# -- the committed kit ------------------------------------------------------------------------
def test_manifest_lists_every_committed_fixture_and_pcap_with_its_sha256():
    listed = manifest.load(ROOT)
    assert listed is not None, f"{MANIFEST} is missing"
    on_disk = export.all_files(ROOT)
    assert set(listed) == on_disk, (f"only in the manifest: {sorted(set(listed) - on_disk)[:5]}; "
                                    f"only on disk: {sorted(on_disk - set(listed))[:5]}")
    wrong = [p for p, h in listed.items() if manifest.sha256((ROOT / p).read_bytes()) != h]
    assert not wrong, f"files whose sha256 differs from the manifest: {wrong[:5]}"
    doc = json.loads((ROOT / MANIFEST).read_text())
    assert doc["fixture_format"] == FORMAT and doc["count"] == len(listed)


def test_results_json_fixture_hash_is_the_manifest_hash():
    assert fixtures_sha256() == manifest.sha256((ROOT / MANIFEST).read_bytes())


def test_every_exported_group_and_profile_has_fixtures_and_every_pcap_is_used():
    groups: dict[str, set[str]] = {}
    used: set[str] = set()
    for path in sorted((ROOT / "fixtures").rglob("*.json")):
        whole = json.loads(path.read_text())
        rel = path.relative_to(ROOT).as_posix()
        assert rel == store.fixture_path(whole["group"], whole["id"]), f"{rel} is not where its ID puts it"
        for profile, doc in store.unpack(whole).items():
            groups.setdefault(profile, set()).add(whole["group"])
            assert (ROOT / doc["pcap"]["path"]).is_file(), f"{rel} [{profile}]: no pcap {doc['pcap']['path']}"
            used.add(doc["pcap"]["path"])
    pcaps = {p.relative_to(ROOT).as_posix() for p in (ROOT / "pcaps").rglob("*.pcapng")}
    assert pcaps == used, f"pcaps no fixture names: {sorted(pcaps - used)[:5]}"
    for profile in ("documented", "freebsd", "linux"):
        wanted = {"nocache", "mfc", "mfc6", "wrongvif", "register", "socket"} | ({"bw"} if profile != "linux" else set())
        assert wanted <= groups[profile], f"{profile}: no fixtures for {sorted(wanted - groups[profile])}"


def test_the_store_holds_at_most_half_the_files_of_one_copy_per_profile():
    """Stored once: base + overlays and shared pcaps, not a fixture and a pcap per profile."""
    per_profile = sum(2 * len(json.loads(p.read_text())["profiles"]) for p in (ROOT / "fixtures").rglob("*.json"))
    stored = len(export.all_files(ROOT))
    assert stored * 2 <= per_profile, f"{stored} files stored for {per_profile} per-profile files"


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


def test_reconstructed_linux_fixtures_equal_a_direct_linux_export():
    """Base + overlay gives each profile's fixture exactly (the full check is ``export --check``).

    A direct export of the linux profile alone, serialised, must equal the committed store's linux
    fixture byte for byte (``pcap.path`` aside: it names where the shared pcap is stored), and the
    pcap stored there must be the fresh pcap's bytes.
    """
    fresh = export.export_profile("linux")
    assert fresh.views, "the linux export produced nothing"
    committed = {p.relative_to(ROOT).as_posix(): json.loads(p.read_text()) for p in (ROOT / "fixtures").rglob("*.json")}
    linux = {w["id"]: store.unpack(w)["linux"] for w in committed.values() if "linux" in w["profiles"]}
    assert set(fresh.views) == set(linux), (f"only in the export: {sorted(set(fresh.views) - set(linux))[:3]}; "
                                            f"only committed: {sorted(set(linux) - set(fresh.views))[:3]}")
    differing = []
    for ident, view in fresh.views.items():
        doc = linux[ident]
        stored_pcap = (ROOT / doc["pcap"]["path"]).read_bytes()
        direct = {**view.doc, "pcap": {**view.doc["pcap"], "path": doc["pcap"]["path"]}}
        if dumps(direct) != dumps(doc) or stored_pcap != view.pcap:
            differing.append(ident)
    assert not differing, f"reconstructed linux fixtures differ from a direct export: {differing[:5]}"


def test_packing_then_unpacking_gives_every_profile_its_fixture_byte_for_byte():
    base = {"id": "x", "profile": {"name": "a", "abi": "bsd"}, "pcap": {"path": "", "sha256": "0"},
            "steps": [{"op": "socket", "expect": {"errno": None}}, {"op": "close", "expect": {"errno": "EBADF"}}]}
    other = json.loads(json.dumps(base))
    other["profile"]["name"], other["steps"][1]["expect"]["errno"] = "b", "EINVAL"
    longer = json.loads(json.dumps(other))
    longer["profile"]["name"] = "c"
    longer["steps"].append({"op": "reset"})
    views = {n: store.View("mfc", d, p) for n, d, p in (("a", base, b"1"), ("b", other, b"1"), ("c", longer, b"2"))}
    files = store.pack("mfc.x/mfc.y", views)
    wanted = {n: dumps(v.doc) for n, v in views.items()}  # pack set pcap.path to where each pcap is stored
    assert [v.doc["pcap"]["path"] for v in views.values()] == ["pcaps/mfc/mfc.x/mfc.y.pcapng"] * 2 + [
        "pcaps/mfc/mfc.x/mfc.y.c.pcapng"]
    whole = json.loads(files["fixtures/mfc/mfc.x/mfc.y.json"])
    assert whole["overlays"]["b"] == [{"op": "replace", "path": "/profile/name", "value": "b"},
                                      {"op": "replace", "path": "/steps/1/expect/errno", "value": "EINVAL"}]
    assert {n: dumps(d) for n, d in store.unpack(whole).items()} == wanted
    assert sorted(p for p in files if p.startswith("pcaps/")) == ["pcaps/mfc/mfc.x/mfc.y.c.pcapng",
                                                                   "pcaps/mfc/mfc.x/mfc.y.pcapng"]


def test_fixture_ids_keep_parametrisations_apart_that_a_sanitiser_merged():
    """ttl=t+1 and ttl=t-1 were once written to the same file; IDs encode values injectively."""
    a = ids.fixture_id("mfc.ttl-threshold", "test_mfc", "test_copy", {"offset": "t+1"})
    b = ids.fixture_id("mfc.ttl-threshold", "test_mfc", "test_copy", {"offset": "t-1"})
    assert a != b and a == "mfc.ttl-threshold/mfc.copy@offset=t%2B1"
    assert ids.parse_params(a) == {"offset": "t+1"}
    assert len({ids.fixture_id("c.x", "m", "f", {"v": v}) for v in (1, "1", 1.0, True, "true", b"\x01", "0x01")}) == 7


def test_a_fixture_id_component_over_the_file_name_limit_is_refused_not_truncated():
    """Truncating would merge two scenarios into one file; the ID is refused with a hint instead."""
    fits = ids.fixture_id("c.x", "m", "f", {"a": "x" * (ids.MAX_COMPONENT - len("m.f@a="))})
    assert len(fits.split("/")[1]) == ids.MAX_COMPONENT
    with pytest.raises(ids.UnstableParameter, match="shorten"):
        ids.fixture_id("c.x", "m", "f", {"a": "x" * (ids.MAX_COMPONENT - len("m.f@a=") + 1)})


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "ttl"]),
                                st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.none(),
                                          st.binary(max_size=4), st.sampled_from(["0x", "1", "null", "t+1", "%2B"]),
                                          st.lists(st.integers(0, 3), max_size=2).map(tuple)),
                                max_size=3), min_size=2, max_size=2))
def test_distinct_parameters_always_give_distinct_fixture_ids(pair):
    """Texts stay at 5 characters: three 4-byte ones per key, percent-encoded, fit MAX_COMPONENT."""
    first, second = pair
    same = ids.fixture_id("c.x", "m", "f", first) == ids.fixture_id("c.x", "m", "f", second)

    def canon(d):  # the parameters as values of their types
        return {k: (type(v).__name__, repr(v)) for k, v in d.items()}
    assert same == (canon(first) == canon(second))


# -- pieces -----------------------------------------------------------------------------------
def test_pcapng_round_trip_keeps_interfaces_directions_comments_and_ns_timestamps():
    ifaces = [pcapng.Interface("r0", pcapng.LINKTYPE_ETHERNET, "port 0"), pcapng.Interface("s1", 147)]
    pkts = [pcapng.Packet(0, 1_704_067_200_123_456_789, b"\x01" * 61, pcapng.INBOUND, ("step 1 send",)),
            pcapng.Packet(1, 1_704_067_201_000_000_001, b"\x02" * 28, pcapng.OUTBOUND, ("step 2", "again"))]
    data = pcapng.write(ifaces, pkts, "test")
    assert pcapng.write(ifaces, pkts, "test") == data
    assert pcapng.read(data) == (ifaces, pkts)
    for cut in (0, 5, 27, len(data) - 3, len(data) - 1):
        with pytest.raises(pcapng.PcapngError):
            pcapng.read(data[:cut])


def test_register_frames_mask_the_outer_ip_id_and_checksum_only():
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    from conformance.layers.pim import pim_register

    inner = IP(src="198.18.0.10", dst="232.1.0.1", ttl=63) / UDP(sport=1, dport=2)
    frame = bytes(Ether(src="02:00:00:00:00:04", dst="02:00:00:00:01:04")
                  / IP(src="198.18.0.1", dst="198.18.3.10", id=777, proto=103) / pim_register(inner, border=True))
    assert [m["field"] for m in frame_masks(frame)] == ["IP.id", "IP.chksum"]
    assert [(m["offset"], m["length"]) for m in frame_masks(frame)] == [(18, 2), (24, 2)]
    assert "PIM Register B=1 N=0" in describe_frame(frame)
    assert frame_masks(bytes(Ether() / inner)) == []


def test_recording_target_logs_calls_and_the_profile_facts_a_test_reads():
    target = RecordingTarget(get_profile("linux"))
    target.begin()
    h = Harness(target)
    r = h.router(4, vifs=(0, 1))
    h.profile.nocache_queue_depth  # noqa: B018  (a fact read by a test)
    with h.raises("mfc.del_absent"):
        r.del_mfc(h.src(4), h.group(4))
    rec = target.end()
    assert [c.op for c in rec.calls] == ["socket", "setsockopt", "setsockopt", "setsockopt", "setsockopt"]
    assert rec.calls[-1].errno is not None and rec.calls[0].result == "s1"
    assert rec.depends_on == {"errnos": {"mfc.del_absent": "ENOENT"}, "nocache_queue_depth": 4}


@pytest.mark.parametrize(("profile", "version", "kind"), [
    ("documented", 4, "BW_UPCALL"), ("freebsd", 4, "BW_UPCALL"), ("linux", 4, "WRVIFWHOLE"), ("linux", 6, "WRMIFWHOLE")])
def test_upcall_type_4_is_named_by_the_profile(profile, version, kind):
    """Linux has no bandwidth upcalls: its type 4 is IGMPMSG_WRVIFWHOLE / MRT6MSG_WRMIFWHOLE."""
    data = bytes(20) if version == 4 else bytes(40)
    data = data[:8] + b"\x04" + data[9:] if version == 4 else b"\x00\x04" + data[2:]
    assert datagram_kind(version, data, get_profile(profile)) == kind


def test_json_layout_is_deterministic_and_round_trips():
    doc = {"a": [1, 2, 3], "b": {"c": "x" * 200, "d": []}, "e": [{"f": 1}] * 30}
    assert dumps(doc) == dumps(json.loads(dumps(doc)))
    assert json.loads(dumps(doc)) == doc


# -- replay: differences and bad input --------------------------------------------------------
def test_replay_of_a_committed_fixture_passes_and_exits_0():
    rc, out, err = run_cli("replay", str(ROOT / SAMPLE), str(ROOT / SAMPLE6))
    assert rc == 0, out + err
    n = sum(len(json.loads((ROOT / rel).read_text())["profiles"]) for rel in (SAMPLE, SAMPLE6))
    assert n > 2 and out.splitlines()[-1].startswith(f"replay: {n} fixture(s) against reference: {n} pass")
    assert f"{ROOT / SAMPLE} [linux]" in out and f"{ROOT / SAMPLE} [documented]" in out


def test_replay_with_a_profile_replays_only_that_profiles_fixture():
    rc, out, err = run_cli("replay", "--profile", "linux", str(ROOT / SAMPLE), str(ROOT / SAMPLE6))
    assert rc == 0 and out.splitlines()[-1].startswith("replay: 2 fixture(s) against reference: 2 pass"), out + err


def test_overlay_that_does_not_apply_is_one_line_exit_2(tmp_path):
    path = copy_kit(tmp_path)
    whole = json.loads(path.read_text())
    whole["profiles"].append("freebsd")
    whole["overlays"]["freebsd"] = [{"op": "replace", "path": "/steps/999/op", "value": "close"}]
    path.write_bytes(dumps(whole))
    rc, _, err = run_cli("replay", str(path))
    assert_one_line_bad_input(rc, err, path, "overlay does not apply")


def test_replay_reports_a_difference_in_decoded_fields_and_exits_1(tmp_path):
    path = copy_kit(tmp_path)
    doc = read_doc(path)
    step = next(s for s in doc["steps"] if s["op"] == "setsockopt" and s["option"] == "MRT_ADD_MFC")
    step["expect"]["errno"] = "EEXIST"
    write_doc(path, doc)
    rc, out, err = run_cli("replay", str(path))
    assert rc == 1, out + err
    assert f"step {step['step']} setsockopt: errno: expected EEXIST, got success" in out


def test_replay_names_the_port_whose_frames_went_missing(tmp_path):
    path = copy_kit(tmp_path)
    doc = read_doc(path)
    mfc = next(s for s in doc["steps"] if s.get("option") == "MRT_ADD_MFC")
    collect = next(s for s in doc["steps"] if s["op"] == "collect" and s["step"] > mfc["step"]
                   and any(e["frames"] for e in s["expect"]))
    port, n = next((e["port"], len(e["frames"])) for e in collect["expect"] if e["frames"])
    mfc["args"]["mfcc_ttls"][port] = 0  # that vif is no longer an outgoing vif
    mfc["raw"] = get_profile("linux").struct("mfcctl").pack(**mfc["args"]).hex()
    write_doc(path, doc)
    rc, out, _ = run_cli("replay", str(path))
    assert rc == 1 and f"step {collect['step']} collect: port {port}: expected {n} frame(s), got 0" in out, out


def test_fixture_failing_its_schema_is_one_line_exit_2(tmp_path):
    path = copy_kit(tmp_path)
    doc = read_doc(path)
    doc["steps"][2]["op"] = "teleport"
    write_doc(path, doc)
    rc, _, err = run_cli("replay", str(path))
    assert_one_line_bad_input(rc, err, path, "step 3", "schema")


def test_pcap_not_matching_the_manifest_is_one_line_exit_2(tmp_path):
    path = copy_kit(tmp_path, with_manifest=True)
    doc = read_doc(path)
    pcap = tmp_path / doc["pcap"]["path"]
    data = bytearray(pcap.read_bytes())
    data[-40] ^= 0xFF  # inside the last packet's bytes or comment: still well-formed pcapng
    pcap.write_bytes(bytes(data))
    rc, _, err = run_cli("replay", str(path))
    assert_one_line_bad_input(rc, err, pcap, "pcaps/MANIFEST")


def test_truncated_pcap_is_one_line_exit_2(tmp_path):
    path = copy_kit(tmp_path)
    doc = read_doc(path)
    pcap = tmp_path / doc["pcap"]["path"]
    pcap.write_bytes(pcap.read_bytes()[:-7])
    rc, _, err = run_cli("replay", str(path))
    assert_one_line_bad_input(rc, err, path, "truncated")


def test_step_naming_an_unknown_port_is_one_line_exit_2(tmp_path):
    path = copy_kit(tmp_path)
    doc = read_doc(path)
    send = next(s for s in doc["steps"] if s["op"] == "send")
    send["port"] = 9
    write_doc(path, doc)
    rc, _, err = run_cli("replay", str(path))
    assert_one_line_bad_input(rc, err, path, f"step {send['step']}", "unknown port 9")


@pytest.mark.parametrize("name", ["\r", "a\nb", "x\x00\x1b[2J", "\u2028"])
def test_control_characters_in_a_fixture_value_stay_on_one_line(tmp_path, name):
    """Found by the mutation test in CI: a struct name of '\\r' split the error line in two."""
    path = copy_kit(tmp_path)
    doc = read_doc(path)
    step = next(s for s in doc["steps"] if s.get("struct"))
    step["struct"] = name
    write_doc(path, doc)
    rc, _, err = run_cli("replay", str(path))
    assert_one_line_bad_input(rc, err, path, f"step {step['step']}", repr(name)[1:-1])


def test_bad_input_among_good_fixtures_runs_nothing(tmp_path):
    bad = copy_kit(tmp_path / "bad")
    bad.write_text("{")
    rc, out, err = run_cli("replay", str(ROOT / SAMPLE), str(bad))
    assert_one_line_bad_input(rc, err, bad, "not a JSON document")
    assert out == "", "a fixture ran although another one was bad input"


# -- hypothesis: no mutation of a fixture or its pcap ends in a traceback -----------------------
def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12) | st.sampled_from(["s1", "s9", "MRT_INIT", "AF_INET6", "00", "abc", "EINVAL", "r0"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _mutate(doc: dict, data: st.DataObject) -> dict:
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = [p for p in _paths(doc) if p]
        path = data.draw(st.sampled_from(paths), label="path")
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key, old = path[-1], parent[path[-1]]
        how = data.draw(st.sampled_from(["replace", "delete", "nudge"]), label="how")
        if how == "delete":
            del parent[key]
        elif how == "nudge" and isinstance(old, int | float) and not isinstance(old, bool):
            parent[key] = old + data.draw(st.integers(-300, 300), label="delta")
        else:
            parent[key] = data.draw(JSON_VALUES, label="value")
    return doc


@pytest.mark.parametrize("rel", [SAMPLE, SAMPLE6])
@MUTATION_SETTINGS
@given(data=st.data())
def test_mutated_fixtures_never_crash_replay(tmp_path_factory, rel, data):
    tmp = tmp_path_factory.mktemp("mutant")
    path = copy_kit(tmp, rel)
    doc = _mutate(read_doc(path), data)
    write_doc(path, doc)
    rc, out, err = run_cli("replay", str(path))  # an exception here fails the test
    assert "Traceback" not in out + err
    if rc == 2:
        assert_one_line_bad_input(rc, err, path)
    else:
        assert rc in (0, 1) and out.splitlines()[-1].startswith("replay: 1 fixture(s)"), (rc, out, err)
        assert schema_problem(doc) is None, "a fixture failing the schema was replayed"


ERRNOS = st.sampled_from([None, "EINVAL", "ENOENT", "EADDRINUSE", "EOPNOTSUPP", "EZZZ"])


def _mutate_within_schema(doc: dict, data: st.DataObject) -> None:
    """Changes the schema allows: they reach the replay engine (and the target) instead of the loader."""
    steps = doc["steps"]
    step = data.draw(st.sampled_from(steps), label="step")
    op = step["op"]
    if op in ("setsockopt", "ioctl") and data.draw(st.booleans(), label="raw"):
        step["struct"], step["args"] = None, None  # the engine sends raw bytes: any length, any content
        step["raw"] = data.draw(st.binary(max_size=120), label="bytes").hex()
    elif "expect" in step and isinstance(step["expect"], dict):
        step["expect"]["errno"] = data.draw(ERRNOS, label="errno")
        step["expect"].pop("result", None)
    elif op == "send":
        step["port"] = data.draw(st.integers(0, len(doc["ports"]) - 1), label="port")
    elif op in ("collect", "recv") and step["expect"]:
        if op == "collect":
            entry = data.draw(st.sampled_from(step["expect"]), label="entry")
            if entry["frames"]:
                entry["frames"].pop(data.draw(st.integers(0, len(entry["frames"]) - 1), label="frame"))
        else:
            step["expect"].pop(0)
    if data.draw(st.booleans(), label="shuffle"):  # run the same steps in another order (renumbered)
        a, b = (data.draw(st.integers(0, len(steps) - 1), label=k) for k in "ab")
        steps[a], steps[b] = steps[b], steps[a]
        for n, s in enumerate(steps, 1):
            s["step"] = n


@MUTATION_SETTINGS
@given(data=st.data())
def test_schema_valid_mutations_replay_to_a_verdict(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("mutant-valid")
    rel = data.draw(st.sampled_from([SAMPLE, SAMPLE6]), label="fixture")
    path = copy_kit(tmp, rel)
    doc = read_doc(path)
    _mutate_within_schema(doc, data)
    assert schema_problem(doc) is None
    write_doc(path, doc)
    rc, out, err = run_cli("replay", str(path))
    assert "Traceback" not in out + err
    if rc == 2:  # e.g. a shuffled socket step now follows its first use
        assert_one_line_bad_input(rc, err, path)
    else:
        assert rc in (0, 1) and out.splitlines()[-1].startswith("replay: 1 fixture(s)"), (rc, out, err)


@MUTATION_SETTINGS
@given(data=st.data())
def test_mutated_pcaps_never_crash_replay(tmp_path_factory, data):
    tmp = tmp_path_factory.mktemp("mutant-pcap")
    path = copy_kit(tmp)
    doc = read_doc(path)
    pcap = tmp / doc["pcap"]["path"]
    raw = bytearray(pcap.read_bytes())
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="cut")]
    for _ in range(data.draw(st.integers(0, 4), label="flips")):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1), label="at")] = data.draw(st.integers(0, 255), label="byte")
    pcap.write_bytes(bytes(raw))
    doc["pcap"]["sha256"] = manifest.sha256(bytes(raw))  # get past the hash to the pcapng parser
    write_doc(path, doc)
    rc, out, err = run_cli("replay", str(path))
    assert "Traceback" not in out + err
    if rc == 2:
        assert_one_line_bad_input(rc, err, path)
    else:
        assert rc in (0, 1), (rc, out, err)


# -- export writes everything or nothing ------------------------------------------------------
def test_failed_export_writes_nothing(tmp_path, monkeypatch):
    def broken(profile, progress=None):
        raise export.ExportFailed([f"profile {profile}: conformance/suite/test_x.py::test_y: call failed"])

    monkeypatch.setattr(export, "export_profile", broken)
    rc, _, err = run_cli("export", "--profile", "linux", "--root", str(tmp_path))
    assert rc == 1 and "nothing written" in err and "test_y" in err
    assert list(tmp_path.iterdir()) == []


def test_write_replaces_files_atomically_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    (tmp_path / "fixtures/mfc/c.x").mkdir(parents=True)
    old = tmp_path / "fixtures/mfc/c.x/a.json"
    old.write_bytes(b"old")
    fresh = {"fixtures/mfc/c.x/a.json": b"new", "pcaps/mfc/c.x/a.pcapng": b"pcap"}
    real_replace, calls = os.replace, []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        export.write(tmp_path, fresh, {})
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    assert old.read_bytes() == b"new" and not (tmp_path / "pcaps/mfc/c.x/a.pcapng").exists()
    assert not (tmp_path / MANIFEST).exists(), "the manifest was written although a file was not"
    monkeypatch.setattr(os, "replace", real_replace)
    assert export.write(tmp_path, fresh, {}) == 2  # the pcap and the manifest
    assert export.differences(tmp_path, fresh, {}) == []


def test_export_check_outside_a_clone_is_one_line_exit_2(tmp_path, monkeypatch):
    """From an installed package in another directory there is no kit to check: say so, do not list 1,700 files."""
    from conformance.fixtures import cli as fixtures_cli

    monkeypatch.setattr(fixtures_cli, "default_root", lambda: tmp_path)
    monkeypatch.setattr(export, "export_profile", lambda *a, **k: pytest.fail("exported before checking the root"))
    for argv in (["export", "--check"], ["export", "--check", "--root", str(tmp_path)]):
        rc, out, err = run_cli(*argv)
        assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, (rc, out, err)
        assert str(tmp_path) in err and "pcaps/MANIFEST" in err and "Traceback" not in err


# -- replay: expectations files, JUnit XML, --report-dir ----------------------------------------
def _failing_kit(tmp_path: Path) -> tuple[Path, dict, dict]:
    """A one-profile kit whose fixture expects EEXIST where the reference succeeds."""
    path = copy_kit(tmp_path / "kit")
    doc = read_doc(path)
    step = next(s for s in doc["steps"] if s["op"] == "setsockopt" and s["option"] == "MRT_ADD_MFC")
    step["expect"]["errno"] = "EEXIST"
    write_doc(path, doc)
    return path, doc, step


def _expectations(tmp_path: Path, test: str, reason: str) -> Path:
    path = tmp_path / "expect.toml"
    path.write_text(f'format = "mroute-conformance/expectations/1"\n\n[[expect]]\ntest = "{test}"\n'
                    f'reason = "{reason}"\n')
    return path


def test_replay_applies_an_expectations_file_and_writes_junit(tmp_path):
    path, doc, step = _failing_kit(tmp_path)
    listed = _expectations(tmp_path, doc["id"], f"step {step['step']} setsockopt: errno: expected EEXIST, got success")
    report = tmp_path / "report"
    rc, out, err = run_cli("replay", "--expectations", str(listed), "--report-dir", str(report), str(path))
    assert rc == 0, out + err
    assert "0 fail, 1 expected-fail" in out and "expected-fail" in out
    junit = ET.parse(report / "junit.xml").getroot()
    case = junit.find("testsuite/testcase")
    assert case is not None and case.get("name") == f"{doc['id']} [linux]"
    skipped = case.find("skipped")
    assert skipped is not None and skipped.get("type") == "expected-fail"
    assert not list(tmp_path.glob(".report.staging-*")), "the staging directory was left behind"


def test_replay_expectation_whose_reason_no_longer_matches_fails(tmp_path):
    path, doc, _ = _failing_kit(tmp_path)
    listed = _expectations(tmp_path, doc["id"], "some other reason")
    rc, out, _ = run_cli("replay", "--expectations", str(listed), str(path))
    assert rc == 1 and "expectation mismatch" in out and "1 fail" in out, out


def test_replay_listed_fixture_that_passes_is_an_unexpected_pass(tmp_path):
    path = copy_kit(tmp_path / "kit")
    listed = _expectations(tmp_path, read_doc(path)["id"], "anything")
    report = tmp_path / "report"
    rc, out, _ = run_cli("replay", "--expectations", str(listed), "--report-dir", str(report), str(path))
    assert rc == 1 and "1 unexpected-pass" in out, out
    failure = ET.parse(report / "junit.xml").getroot().find("testsuite/testcase/failure")
    assert failure is not None and failure.get("type") == "unexpected-pass"


@pytest.mark.parametrize("case", ["missing", "not-utf8", "bad-format"])
def test_replay_bad_expectations_file_is_one_line_exit_2_and_keeps_the_report(tmp_path, case):
    listed = tmp_path / "expect.toml"
    if case == "not-utf8":
        listed.write_bytes(b'format = "\xff"\n')
    elif case == "bad-format":
        listed.write_text('format = "something/else"\n')
    report = tmp_path / "report"
    report.mkdir()
    (report / "junit.xml").write_text("previous")
    rc, out, err = run_cli("replay", "--expectations", str(listed), "--report-dir", str(report), str(ROOT / SAMPLE))
    assert_one_line_bad_input(rc, err, listed, "--expectations")
    assert out == "" and (report / "junit.xml").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["report", *(["expect.toml"] * (case != "missing"))])


def test_replay_bad_fixture_keeps_the_previous_report(tmp_path):
    bad = copy_kit(tmp_path / "kit")
    bad.write_text("{")
    report = tmp_path / "report"
    report.mkdir()
    (report / "junit.xml").write_text("previous")
    rc, _, err = run_cli("replay", "--report-dir", str(report), str(bad))
    assert_one_line_bad_input(rc, err, bad, "not a JSON document")
    assert (report / "junit.xml").read_text() == "previous" and sorted(tmp_path.iterdir()) == [tmp_path / "kit", report]


def test_replay_report_dir_that_is_a_file_is_one_line_exit_2(tmp_path):
    report = tmp_path / "report"
    report.write_text("a file")
    rc, out, err = run_cli("replay", "--report-dir", str(report), str(ROOT / SAMPLE))
    assert_one_line_bad_input(rc, err, report, "--report-dir", "not a directory")
    assert out == "" and report.read_text() == "a file"
