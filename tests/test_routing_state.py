"""Reading state back: the /proc parsers against lines printed with the kernel's own format strings,
the model's snapshot, and the normalised state over the agent protocol."""
# ruff: noqa: UP031 - the lines are printed with the kernel's printf formats, on purpose

from __future__ import annotations

import io
import json
import socket
import struct

from conformance.agent import protocol as P
from conformance.agent.server import serve
from conformance.harness import Harness
from conformance.targets.base import Target
from conformance.targets.linux import mrstate
from conformance.targets.reference import ReferenceTarget
from reference_impl.profiles import LINUX
from reference_impl.snapshot import MfcState, TableState, VifState


def be32_word(addr: str) -> int:
    """A __be32 as the kernel's %08X prints it on this (host-order) machine."""
    return struct.unpack("=I", socket.inet_aton(addr))[0]


def test_ipv4_proc_lines_parse_into_the_normalised_state() -> None:
    # ipmr_vif_seq_show: "%2td %-10s %8ld %7ld  %8ld %7ld %05X %08X %08X\n"
    vifs = ["%2d %-10s %8d %7d  %8d %7d %05X %08X %08X" % (0, "r0", 300, 3, 0, 0, 0, be32_word("198.18.0.1"), 0),
            "%2d %-10s %8d %7d  %8d %7d %05X %08X %08X" % (3, "pimreg", 0, 0, 10, 1, 0x8004, be32_word("198.18.3.1"), 0)]
    # ipmr_mfc_seq_show: "%08X %08X %-3hd" + " %8lu %8lu %8lu" + " %2d:%-3d" per oif
    mfc = ["%08X %08X %-3d" % (be32_word("232.1.0.5"), be32_word("198.18.0.15"), 0)
           + " %8d %8d %8d" % (4, 400, 1) + " %2d:%-3d" % (1, 1) + " %2d:%-3d" % (12, 3),
           "%08X %08X %-3d" % (be32_word("232.1.0.6"), be32_word("198.18.0.16"), -1) + " %8d %8d %8d" % (0, 0, 0)]
    got = TableState(tuple(mrstate.parse_vifs(vifs, 4, {"r0": 0})), tuple(mrstate.parse_mfc(mfc, 4)))
    assert got.vifs == (VifState(0, 0, 0, "198.18.0.1", icount=3, ibytes=300),
                        VifState(3, None, 0x8004, "198.18.3.1", ocount=1, obytes=10))
    assert got.mfc == (MfcState("198.18.0.15", "232.1.0.5", 0, ((1, 1), (12, 3)), 4, 400, 1),
                       MfcState("198.18.0.16", "232.1.0.6", -1, pending=True))


def test_ipv6_proc_lines_parse_into_the_normalised_state() -> None:
    # ip6mr_vif_seq_show: "%2td %-10s %8ld %7ld  %8ld %7ld %05X\n"; ip6mr_mfc_seq_show: "%pI6 %pI6 %-3hd" ...
    vifs = ["%2d %-10s %8d %7d  %8d %7d %05X" % (2, "r2", 0, 0, 120, 1, 0x8000)]
    mfc = ["ff3e:0000:0000:0000:0000:0000:0001:0005 2001:0db8:0000:0000:0000:0000:0000:000f 2  "
           + " %8d %8d %8d" % (1, 120, 0) + " %2d:%-3d" % (2, 1)]
    assert mrstate.parse_vifs(vifs, 6, {"r2": 2}) == [VifState(2, 2, 0x8000, "", ocount=1, obytes=120)]
    assert mrstate.parse_mfc(mfc, 6) == [MfcState("2001:db8::f", "ff3e::1:5", 2, ((2, 1),), 1, 120, 0)]


def test_the_model_shows_static_flags_ifindex_words_and_only_existing_oifs() -> None:
    t = ReferenceTarget(LINUX)
    h = Harness(t)
    r = h.router(4, vifs=(0, 1, 2))
    h.routing_socket(4).add_vif(3, 3)  # another socket: static (VIFF_STATIC)
    r.add_mfc("198.18.0.20", "232.1.0.20", 0, ttls={1: 1, 2: 2, 3: 1})
    r.del_vif(2)
    st = t.routing_state(4)
    assert [(v.index, v.port, v.flags) for v in st.vifs] == [(0, 0, 0), (1, 1, 0), (3, 3, 0x8000)]
    assert st.mfc == (MfcState("198.18.0.20", "232.1.0.20", 0, ((1, 1), (3, 1))),)
    assert t.routing_state(4, table=7) == TableState()  # a table never created
    assert TableState.from_json(json.loads(json.dumps(st.to_json()))) == st


def test_routing_state_travels_over_the_agent_protocol_or_is_unsupported() -> None:
    t = ReferenceTarget(LINUX)
    Harness(t).router(6, vifs=(0, 1))
    out = io.BytesIO()
    lines = [P.encode_request(1, "routing_state", {"version": 6, "table": 254}),
             P.encode_request(2, "routing_state", {"version": 5, "table": 254})]
    serve(t, io.BytesIO(b"".join(lines)), out)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert TableState.from_json(answers[0]["result"]) == t.routing_state(6)
    assert answers[1]["error"]["type"] == "protocol"

    class Blind(ReferenceTarget):
        def routing_state(self, version: int, table: int | None = None) -> TableState:
            return Target.routing_state(self, version, table)

    out = io.BytesIO()
    serve(Blind(), io.BytesIO(lines[0]), out)
    assert json.loads(out.getvalue())["error"]["type"] == "unsupported"
