"""docs/targets.md's worked example, examples/reference_agent.py, passes the whole suite through stdio:.

The example implements the wire format itself (json, base64, errno names), not through the
project's agent package, so this also checks that the documented protocol is enough to write one.
The suite run costs about one reference run through an agent (~30-45 s on 2 shared cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conformance.agent import protocol as P
from mroute_spec.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "reference_agent.py"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_the_example_is_under_150_lines() -> None:
    assert len(EXAMPLE.read_text().splitlines()) < 150


def test_the_example_passes_the_whole_suite_through_stdio(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--target", f"stdio:{sys.executable} {EXAMPLE}", "-n", "2",
         f"--report-dir={tmp_path}"], capture_output=True, text=True, env=ENV, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = json.loads((tmp_path / "results.json").read_text())
    summary = document["summary"]
    assert summary["fail"] == summary["error"] == summary["skip"] == 0 and summary["pass"] > 500
    # every clause passes but the Linux extensions, which a BSD-profile implementation lacks
    catalog = load_catalog()
    not_passed = {c for c, o in document["clauses"].items() if o != "pass"}
    assert not_passed and not_passed <= {c for c in catalog if catalog[c].extension}, not_passed

    assert document["target"]["name"] == "example-agent" and document["target"]["profile"] == "documented"


def test_the_example_answers_protocol_errors_by_the_rules() -> None:
    requests = [
        {"id": 1, "op": "hello", "args": {"version": 2}},
        {"id": 2, "op": "frobnicate", "args": {}},
        {"id": 3, "op": "open_socket", "args": {"family": "AF_INET", "type": "SOCK_RAW", "proto": 2}},
        {"id": 4, "op": "setsockopt", "args": {"sock": 1, "level": 0, "optname": 100, "value": "AQAAAA=="}},
        {"id": 5, "op": "setsockopt", "args": {"sock": 1, "level": 0, "optname": 100, "value": "AQAAAA=="}},
        {"id": 6, "op": "close", "args": {"sock": 9}},
        {"id": 7, "op": "bye", "args": {}},
    ]
    done = subprocess.run([sys.executable, str(EXAMPLE)], input="".join(json.dumps(r) + "\n" for r in requests),
                          capture_output=True, text=True, env=ENV, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    answers = [P.decode_response(line.encode() + b"\n") for line in done.stdout.splitlines()]
    assert [a.id for a in answers] == [1, 2, 3, 4, 5, 6, 7]
    assert answers[0].error and answers[0].error.type == "protocol" and "speaks 2" in answers[0].error.message
    assert answers[1].error and answers[1].error.type == "protocol" and "unknown op" in answers[1].error.message
    assert answers[2].result == 1 and answers[3].ok  # documented profile: MRT_INIT is 100 (BSD ABI)
    assert answers[4].error and answers[4].error.errno == "EADDRINUSE"
    assert answers[5].error and answers[5].error.errno == "EBADF"
    assert answers[6].ok
