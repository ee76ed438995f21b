"""The agent wire format: every op's request round-trips; each malformed message is one ProtocolError line."""

from __future__ import annotations

import errno
import json
from typing import Any

import pytest

from conformance.agent import protocol as P

SAMPLE_ARGS: dict[str, dict[str, Any]] = {
    "hello": {"version": 1},
    "open_socket": {"family": "AF_INET6", "type": "SOCK_RAW", "proto": 58},
    "setsockopt": {"sock": 3, "level": 0, "optname": 200, "value": P.b64encode(b"\x01\x00\x00\x00")},
    "getsockopt": {"sock": 3, "level": 41, "optname": 206, "buflen": 4},
    "ioctl": {"sock": 3, "request": 0x89E0, "arg": P.b64encode(bytes(24))},
    "close": {"sock": 3},
    "recv_all": {"sock": 3},
    "send": {"port": 2, "frame": P.b64encode(b"\xff" * 60)},
    "collect": {},
    "advance": {"seconds": 0.25},
    "reset": {},
    "info": {},
    "remove_interface": {"port": 1},
    "routing_state": {"version": 6, "table": 254},
    "shutdown": {},
    "bye": {},
    "daemon_start": {"argv": ["smcrouted", "-n", "-f", "{config}"], "config": P.b64encode(b"phyint r0 enable\n")},
    "daemon_settle": {"quiet": 1.0, "limit": 30},
    "daemon_stop": {},
}


def test_samples_cover_every_op() -> None:
    assert set(SAMPLE_ARGS) == set(P.OPS)


@pytest.mark.parametrize("op", sorted(P.OPS))
def test_every_request_round_trips(op: str) -> None:
    line = P.encode_request(7, op, SAMPLE_ARGS[op])
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert P.decode_request(line) == P.Request(7, op, SAMPLE_ARGS[op])


def test_argv_must_be_a_nonempty_list_of_strings() -> None:
    for bad in ([], "smcrouted", ["smcrouted", 1]):
        line = P.encode_request(8, "daemon_start", {"argv": bad, "config": ""})
        with pytest.raises(P.ProtocolError, match="'argv' must be list of strings"):
            P.decode_request(line)


@pytest.mark.parametrize(
    "result",
    [None, 5, "AQAAAA==", ["", "AA=="], {"0": [], "1": ["AA=="]}, {"name": "x", "profile": "linux", "details": {}}],
)
def test_results_round_trip(result: object) -> None:
    assert P.decode_response(P.encode_result(4, result)) == P.Response(4, True, result)


def test_errors_round_trip_with_errno_by_name() -> None:
    got = P.decode_response(P.encode_error(9, "oserror", "Address already in use", "EADDRINUSE"))
    assert got == P.Response(9, False, error=P.ErrorInfo("oserror", "Address already in use", "EADDRINUSE"))
    got = P.decode_response(P.encode_error(None, "protocol", "line is not JSON\nsecond line"))
    assert got.id is None and got.error == P.ErrorInfo("protocol", "line is not JSON", None)


def test_unsupported_error_round_trips() -> None:
    got = P.decode_response(P.encode_error(3, "unsupported", "target 'x' cannot remove an interface"))
    assert got == P.Response(3, False, error=P.ErrorInfo("unsupported", "target 'x' cannot remove an interface", None))


def test_errno_names_map_to_this_hosts_numbers() -> None:
    assert P.errno_name(errno.EADDRINUSE) == "EADDRINUSE"
    assert P.errno_number("EADDRINUSE") == errno.EADDRINUSE
    assert P.errno_number("ENOSUCHTHING") is None
    assert P.errno_number("path") is None
    assert P.errno_name(None) == "EIO"


def test_families_and_types_travel_by_name_unknown_numbers_as_numbers() -> None:
    assert P.symbol_name(10, P.FAMILIES) == "AF_INET6"
    assert P.symbol_name(3, P.SOCK_TYPES) == "SOCK_RAW"
    assert P.symbol_name(99, P.FAMILIES) == 99
    assert P.symbol_value("AF_INET", P.FAMILIES, "family") == 2
    assert P.symbol_value(99, P.FAMILIES, "family") == 99
    with pytest.raises(P.ProtocolError, match="AF_INET7"):
        P.symbol_value("AF_INET7", P.FAMILIES, "family")


def _req(**message: object) -> bytes:
    return json.dumps(message).encode() + b"\n"


BAD_REQUESTS = {
    "truncated frame": (b'{"id": 1, "op": "res', "truncated frame"),
    "not JSON": (b"hello agent\n", "not JSON"),
    "not UTF-8": (b'{"id": 1, "op": "\xff"}\n', "not UTF-8"),
    "NaN": (b'{"id": 1, "op": "advance", "args": {"seconds": NaN}}\n', "NaN"),
    "array": (b"[1, 2]\n", "expected an object"),
    "id not int": (_req(id="1", op="reset"), "'id' must be an integer"),
    "id bool": (_req(id=True, op="reset"), "'id' must be an integer"),
    "op not str": (_req(id=1, op=5), "'op' must be a string"),
    "unknown op": (_req(id=1, op="reboot"), "unknown op 'reboot'"),
    "args not object": (_req(id=1, op="reset", args=[]), "'args' must be an object"),
    "missing arg": (_req(id=1, op="close", args={}), "missing argument 'sock'"),
    "sock as string": (_req(id=1, op="close", args={"sock": "3"}), "'sock' must be int"),
    "version as float": (_req(id=1, op="hello", args={"version": 1.0}), "'version' must be int"),
    "bytes not base64": (_req(id=1, op="send", args={"port": 0, "frame": "not base64!"}), "invalid base64"),
    "bytes as list": (_req(id=1, op="send", args={"port": 0, "frame": [1, 2]}), "'frame' must be b64"),
    "seconds as string": (_req(id=1, op="advance", args={"seconds": "1"}), "'seconds' must be number"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_malformed_requests_are_one_line_protocol_errors(case: str) -> None:
    line, words = BAD_REQUESTS[case]
    with pytest.raises(P.ProtocolError) as info:
        P.decode_request(line)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_a_request_error_keeps_the_id_when_it_was_readable() -> None:
    with pytest.raises(P.ProtocolError) as info:
        P.decode_request(_req(id=12, op="close", args={}))
    assert info.value.id == 12


def test_oversize_lines_are_refused_on_both_sides() -> None:
    with pytest.raises(P.ProtocolError, match="exceeds"):
        P.parse_line(b"x" * (P.MAX_LINE + 1))
    with pytest.raises(P.ProtocolError, match="exceeds"):
        P.encode_request(1, "send", {"port": 0, "frame": "A" * P.MAX_LINE})


BAD_RESPONSES = {
    "no ok": (_req(id=1, result=3), "'ok' must be true or false"),
    "ok without result": (_req(id=1, ok=True), "no 'result'"),
    "error not object": (_req(id=1, ok=False, error="boom"), "no 'error' object"),
    "unknown error type": (_req(id=1, ok=False, error={"type": "panic", "message": "x"}), "unknown error type"),
    "oserror without errno": (_req(id=1, ok=False, error={"type": "oserror", "message": "x"}), "without an 'errno'"),
    "id as string": (_req(id="1", ok=True, result=None), "'id' must be an integer or null"),
    "truncated": (b'{"id":1,"ok":tr', "truncated frame"),
}


@pytest.mark.parametrize("case", sorted(BAD_RESPONSES))
def test_malformed_responses_are_one_line_protocol_errors(case: str) -> None:
    line, words = BAD_RESPONSES[case]
    with pytest.raises(P.ProtocolError, match=words):
        P.decode_response(line)


def test_strict_base64() -> None:
    assert P.b64decode(P.b64encode(b"\x00\x01\xfe")) == b"\x00\x01\xfe"
    for bad in ("AQ", "A Q==", "@@@@", 5):
        with pytest.raises(P.ProtocolError):
            P.b64decode(bad)
