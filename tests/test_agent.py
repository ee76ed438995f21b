"""The agent end to end: server loop, client errors and timeouts, spawned agents, errno propagation."""

from __future__ import annotations

import errno
import io
import json
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conformance.agent import protocol as P
from conformance.agent.client import AgentConnection, AgentError, AgentTarget
from conformance.agent.server import TargetSource, serve
from conformance.agent.transport import connect_unix, spawn_stdio
from conformance.targets.base import Target, TargetUnavailable, Unsupported
from conformance.targets.reference import ReferenceTarget
from mroute_spec.constants import AF_INET, AF_INET6, IPPROTO_IGMP, SOCK_RAW
from reference_impl.profiles import DOCUMENTED, FREEBSD, LINUX

AGENT = [sys.executable, "-m", "conformance.agent", "--backend", "reference"]
ROOT = Path(__file__).resolve().parents[1]


def child_env() -> dict[str, str]:
    """The environment for spawned agents: this checkout's modules first."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(autouse=True)
def _this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", child_env()["PYTHONPATH"])


def served(*requests: bytes, source: TargetSource | None = None) -> list[dict]:
    """Run ``serve`` over in-memory streams; the decoded response objects."""
    out = io.BytesIO()
    serve(source if source is not None else ReferenceTarget(), io.BytesIO(b"".join(requests)), out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def req(id: int, op: str, **args: object) -> bytes:
    return P.encode_request(id, op, args)


def mrt_init(profile=DOCUMENTED) -> int:
    return profile.options4["MRT_INIT"]


# -- server --------------------------------------------------------------------------------------
def test_server_answers_each_request_and_survives_bad_ones() -> None:
    replies = served(
        b"garbage\n",
        req(1, "hello", version=1),
        req(2, "open_socket", family="AF_INET", type="SOCK_RAW", proto=IPPROTO_IGMP),
        req(3, "setsockopt", sock=1, level=0, optname=mrt_init(), value=P.b64encode(struct.pack("=i", 1))),
        req(4, "setsockopt", sock=1, level=0, optname=mrt_init(), value=P.b64encode(struct.pack("=i", 1))),
        req(5, "close", sock=99),
        req(6, "frobnicate"),
        req(7, "collect"),
    )
    assert replies[0] == {"id": None, "ok": False, "error": {"type": "protocol", "message": replies[0]["error"]["message"]}}
    assert "not JSON" in replies[0]["error"]["message"]
    hello = replies[1]["result"]
    assert hello["version"] == 1 and hello["profile"] == "documented" and hello["virtual_time"] is True
    assert [p["index"] for p in hello["ports"]] == [0, 1, 2, 3] and "reset" in hello["capabilities"]
    assert replies[2] == {"id": 2, "ok": True, "result": 1}
    assert replies[3] == {"id": 3, "ok": True, "result": P.b64encode(struct.pack("=i", 1))}
    assert replies[4]["error"]["errno"] == "EADDRINUSE" and replies[4]["id"] == 4
    assert replies[5]["error"]["errno"] == "EBADF"
    assert replies[6]["id"] == 6 and replies[6]["error"]["type"] == "protocol"
    assert replies[7] == {"id": 7, "ok": True, "result": {"0": [], "1": [], "2": [], "3": []}}


def test_server_refuses_another_protocol_version_naming_both() -> None:
    (reply,) = served(req(1, "hello", version=2))
    assert reply["error"]["type"] == "protocol"
    assert "client speaks 2" in reply["error"]["message"] and "agent speaks 1" in reply["error"]["message"]


def test_bye_ends_the_session_and_shuts_the_target_down() -> None:
    class Watched(ReferenceTarget):
        shut = 0

        def shutdown(self) -> None:
            Watched.shut += 1

    replies = served(req(1, "reset"), req(2, "bye"), req(3, "reset"), source=Watched())
    assert [r["id"] for r in replies] == [1, 2] and Watched.shut == 1


def test_an_unavailable_backend_still_says_hello_and_why() -> None:
    def factory() -> ReferenceTarget:
        raise TargetUnavailable("kernel without IPv4 multicast routing")

    hello, reset = served(req(1, "hello", version=1), req(2, "reset"), source=factory)
    assert hello["result"]["unavailable"] == "kernel without IPv4 multicast routing"
    assert reset["error"] == {"type": "unavailable", "message": "kernel without IPv4 multicast routing"}


def test_a_crashing_target_gives_one_internal_error_line() -> None:
    class Crashing(ReferenceTarget):
        def collect(self):
            raise KeyError("boom\nwith a second line")

    (reply,) = served(req(1, "collect"), source=Crashing())
    assert reply["error"]["type"] == "internal" and "KeyError" in reply["error"]["message"]
    assert "\n" not in reply["error"]["message"]


def test_an_oversize_line_is_answered_and_skipped() -> None:
    huge = b"x" * (P.MAX_LINE + 10) + b"\n"
    replies = served(huge, req(2, "reset"))
    assert replies[0]["error"]["type"] == "protocol" and replies[1] == {"id": 2, "ok": True, "result": None}


# -- client over a live agent --------------------------------------------------------------------
@pytest.fixture
def agent_target():
    connection, proc = spawn_stdio(AGENT, timeout=20)
    target = AgentTarget(connection)
    yield target, proc
    target.shutdown()


def test_oserror_arrives_with_this_hosts_errno(agent_target) -> None:
    target, _ = agent_target
    sock = target.open_socket(AF_INET, SOCK_RAW, IPPROTO_IGMP)
    assert target.setsockopt(sock, 0, mrt_init(), struct.pack("=i", 1)) == struct.pack("=i", 1)
    with pytest.raises(OSError) as info:
        target.setsockopt(sock, 0, mrt_init(), struct.pack("=i", 1))
    assert info.value.errno == errno.EADDRINUSE


def test_agent_target_mirrors_the_in_process_target(agent_target) -> None:
    target, _ = agent_target
    local = ReferenceTarget()
    assert target.ports == local.ports and target.profile is DOCUMENTED and target.virtual_time
    info = target.info()
    assert info.name == "reference" and info.profile == "documented"
    assert info.details["agent"]["name"] == "mroute-conformance-agent" and "transport" in info.details
    sock = target.open_socket(AF_INET6, SOCK_RAW, 58)
    assert isinstance(sock.ident, int) and sock.family == AF_INET6
    target.close(sock)
    assert sock.closed
    assert target.collect() == {0: [], 1: [], 2: [], 3: []}


def test_shutdown_is_idempotent_and_reaps_the_agent(agent_target) -> None:
    target, proc = agent_target
    target.shutdown()
    target.shutdown()
    assert proc.poll() == 0


def test_shutdown_is_safe_when_the_agent_already_died(agent_target) -> None:
    target, proc = agent_target
    proc.kill()
    proc.wait()
    with pytest.raises(AgentError, match="connection"):
        target.reset()
    with pytest.raises(AgentError):  # and at once: the connection stays broken
        target.reset()
    target.shutdown()


def test_the_agent_serves_its_profile_and_a_conflicting_one_is_refused() -> None:
    connection, _ = spawn_stdio([*AGENT, "--profile", "freebsd"], timeout=20)
    target = AgentTarget(connection, name="mine")
    try:
        assert target.profile is FREEBSD and target.name == "mine"
    finally:
        target.shutdown()
    connection, proc = spawn_stdio(AGENT, timeout=20)
    with pytest.raises(AgentError, match="serves profile 'documented', not 'freebsd'"):
        AgentTarget(connection, FREEBSD)
    assert proc.poll() is not None


# -- misbehaving agents --------------------------------------------------------------------------
def fake_agent(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "agent.py"
    script.write_text(textwrap.dedent(body))
    return [sys.executable, str(script)]


def test_a_silent_agent_times_out_without_hanging_or_leaving_a_process() -> None:
    started = time.monotonic()
    connection, proc = spawn_stdio([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)
    with pytest.raises(AgentError) as info:
        AgentTarget(connection)
    assert "no answer within 0.5 s" in str(info.value) and "\n" not in str(info.value)
    assert proc.poll() is not None
    assert time.monotonic() - started < 10


def test_an_agent_that_exits_at_once_says_how_it_ended() -> None:
    argv = [sys.executable, "-c", "import sys; sys.stderr.write('cannot open /dev/vport0p1\\n'); sys.exit(3)"]
    connection, proc = spawn_stdio(argv, timeout=10)
    with pytest.raises(AgentError) as info:
        AgentTarget(connection)
    message = str(info.value)
    assert "connection closed before answering 'hello'" in message
    assert "exit status 3" in message and "cannot open /dev/vport0p1" in message
    assert proc.poll() == 3


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ('{"id":1,"ok":tr', "truncated frame"),
        ("this is not json\\n", "not JSON"),
        ('{"id":1,"ok":true,"result":{"version":2}}\\n', "protocol version 2"),
        ('{"id":1,"ok":true,"result":{"version":1,"profile":"documented","ports":7}}\\n', "'ports' has the wrong type"),
        ('{"id":5,"ok":true,"result":null}\\n', "carries id 5"),
        ('{"id":1,"ok":true,"result":{"version":1,"profile":"linux","ports":[{"index":3,"name":"r0","ifindex":2,'
         '"mac":"m","ipv4":"a","ipv6":"b","peer_ipv4":"c","peer_ipv6":"d","peer_mac":"e"}]}}\\n', "says index 3"),
        ('{"id":1,"ok":false,"error":{"type":"internal","message":"out of memory"}}\\n', "internal error on 'hello': out of memory"),
    ],
)
def test_a_misbehaving_agent_gives_one_line(tmp_path: Path, answer: str, words: str) -> None:
    argv = fake_agent(tmp_path, f"""
        import sys
        sys.stdin.readline()
        sys.stdout.write('{answer}')
        sys.stdout.flush()
    """)
    connection, proc = spawn_stdio(argv, timeout=10)
    with pytest.raises(AgentError) as info:
        AgentTarget(connection)
    assert words in str(info.value) and "\n" not in str(info.value)
    assert proc.poll() is not None


def one_answer_agent(tmp_path: Path, answer: dict) -> list[str]:
    """An agent that answers every request with ``answer`` (its id copied) until end of input."""
    return fake_agent(tmp_path, f"""
        import json, sys
        for line in sys.stdin:
            sys.stdout.write(json.dumps({{**{answer!r}, "id": json.loads(line)["id"]}}) + "\\n")
            sys.stdout.flush()
    """)


def test_an_unavailable_error_in_answer_to_hello_is_target_unavailable(tmp_path: Path) -> None:
    error = {"type": "unavailable", "message": "board 3 is powered off"}
    connection, proc = spawn_stdio(one_answer_agent(tmp_path, {"ok": False, "error": error}), timeout=10)
    with pytest.raises(TargetUnavailable, match="board 3 is powered off"):
        AgentTarget(connection)
    assert proc.poll() is not None


def test_an_errno_this_host_does_not_know_is_one_line(tmp_path: Path) -> None:
    error = {"type": "oserror", "errno": "EVENDORSPECIFIC", "message": "odd"}
    connection, _ = spawn_stdio(one_answer_agent(tmp_path, {"ok": False, "error": error}), timeout=10)
    try:
        with pytest.raises(AgentError, match="EVENDORSPECIFIC, an errno this host does not know"):
            connection.call("reset")
    finally:
        connection.close()


def test_the_agent_names_both_versions_when_they_differ() -> None:
    connection, _ = spawn_stdio(AGENT, timeout=20)
    try:
        with pytest.raises(AgentError, match="client speaks 2, this agent speaks 1"):
            connection.call("hello", version=2)
        assert connection.call("hello", version=1)["version"] == 1  # a refused request leaves it usable
    finally:
        connection.close()


def test_a_missing_command_is_one_line() -> None:
    with pytest.raises(AgentError, match="cannot run 'no-such-agent-xyz'"):
        spawn_stdio(["no-such-agent-xyz"], timeout=1)


def test_unavailable_target_raises_target_unavailable_with_the_agents_reason(tmp_path: Path) -> None:
    argv = fake_agent(tmp_path, """
        import sys
        from conformance.agent.server import serve
        from conformance.targets.base import Target, TargetUnavailable, Unsupported

        def build():
            raise TargetUnavailable("kernel without IPv4 multicast routing (MRT_INIT: ENOPROTOOPT)")

        serve(build, sys.stdin.buffer, sys.stdout.buffer, backend="linux")
    """)
    connection, proc = spawn_stdio(argv, timeout=20)
    with pytest.raises(TargetUnavailable, match="MRT_INIT: ENOPROTOOPT"):
        AgentTarget(connection)
    assert connection.closed and proc.poll() is not None


def test_stray_prints_in_the_agent_stay_off_the_wire(tmp_path: Path) -> None:
    argv = fake_agent(tmp_path, """
        import os, sys
        from conformance.agent.__main__ import main
        from conformance.targets import reference

        class Noisy(reference.ReferenceTarget):
            def reset(self):
                print("debug: resetting")
                os.write(1, b"raw write to fd 1\\n")
                super().reset()

        reference.ReferenceTarget = Noisy
        sys.exit(main(["--backend", "reference"]))
    """)
    connection, _ = spawn_stdio(argv, timeout=20)
    target = AgentTarget(connection)
    try:
        target.reset()
        target.reset()
    finally:
        target.shutdown()


# -- other transports ----------------------------------------------------------------------------
def test_a_socket_pair_and_a_unix_socket_carry_the_protocol(tmp_path: Path) -> None:
    host, agent = socket.socketpair()
    thread = threading.Thread(target=serve, args=(ReferenceTarget(), agent.makefile("rb"), agent.makefile("wb")))
    thread.start()
    target = AgentTarget(AgentConnection(host, host, timeout=10, describe="agent socketpair"))
    assert target.collect() == {0: [], 1: [], 2: [], 3: []}
    target.shutdown()
    thread.join(10)
    agent.close()
    assert not thread.is_alive()

    path = str(tmp_path / "agent.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def accept_and_serve() -> None:
        conn, _ = listener.accept()
        with conn:
            serve(ReferenceTarget(), conn.makefile("rb"), conn.makefile("wb"))

    thread = threading.Thread(target=accept_and_serve)
    thread.start()
    closed: list[bool] = []
    target = AgentTarget(connect_unix(path, timeout=10, on_close=lambda: closed.append(True)))
    assert target.profile is DOCUMENTED
    target.shutdown()
    assert closed == [True]
    thread.join(10)
    listener.close()
    with pytest.raises(AgentError, match="cannot connect"):
        connect_unix(str(tmp_path / "nobody-listens.sock"), timeout=1)


def test_the_agent_command_line_rejects_bad_options_in_one_line() -> None:
    done = subprocess.run([*AGENT, "--profile", "bsd"], capture_output=True, text=True, env=child_env(), check=False)
    assert done.returncode == 2 and "invalid choice: 'bsd'" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([*AGENT, "--device", "/nonexistent/vport"], capture_output=True, text=True, env=child_env(), check=False)
    assert done.returncode == 2 and "cannot open --device '/nonexistent/vport'" in done.stderr


def test_the_documented_example_session_is_what_the_agent_answers() -> None:
    doc = (ROOT / "docs" / "agent-protocol.md").read_text()
    sent = [line[2:].encode() + b"\n" for line in doc.splitlines() if line.startswith("> {")]
    shown = [json.loads(line[2:]) for line in doc.splitlines() if line.startswith("< {")]
    got = served(*sent, source=ReferenceTarget())
    assert len(got) == len(shown) == len(sent) > 5
    for want, have in zip(shown, got, strict=True):
        assert (have["id"], have["ok"]) == (want["id"], want["ok"])
        if want["ok"] and not isinstance(want["result"], dict):  # hello and collect are abridged in the doc
            assert have["result"] == want["result"]
        if not want["ok"]:
            assert have["error"]["type"] == want["error"]["type"]
            assert have["error"].get("errno") == want["error"].get("errno")


def test_a_killed_runner_leaves_no_stdio_agent_behind(tmp_path: Path) -> None:
    runner = tmp_path / "runner.py"
    runner.write_text(textwrap.dedent(f"""
        import sys, time
        from conformance.agent.client import AgentTarget
        from conformance.agent.transport import spawn_stdio
        connection, proc = spawn_stdio({AGENT!r}, timeout=20)
        AgentTarget(connection)
        print(proc.pid, flush=True)
        time.sleep(60)
    """))
    parent = subprocess.Popen([sys.executable, str(runner)], stdout=subprocess.PIPE, text=True, env=child_env())
    try:
        assert parent.stdout is not None
        agent_pid = int(parent.stdout.readline())
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the agent sees end of input and exits; poll its /proc entry
        try:
            state = Path(f"/proc/{agent_pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            return
        if state == "Z":  # exited, waiting for init to reap it
            return
        time.sleep(0.05)
    os.kill(agent_pid, 9)
    pytest.fail(f"agent {agent_pid} still running 10 s after its runner was killed")


TCP_CHECK = """
import subprocess, socket, sys, threading
from conformance.agent.client import AgentTarget
from conformance.agent.server import TargetSource, serve
from conformance.agent.transport import connect_tcp
from conformance.targets.reference import ReferenceTarget

subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(1)

    def accept_and_serve():
        conn, _ = listener.accept()
        with conn:
            serve(ReferenceTarget(), conn.makefile("rb"), conn.makefile("wb"))

    thread = threading.Thread(target=accept_and_serve)
    thread.start()
    target = AgentTarget(connect_tcp(host, listener.getsockname()[1], timeout=10))
    assert target.collect() == {0: [], 1: [], 2: [], 3: []}
    target.shutdown()
    thread.join(10)
    listener.close()
print("ok")
"""


def test_tcp_carries_the_protocol_inside_a_private_network_namespace() -> None:
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("cannot create a network namespace here (needs root and unshare)")
    done = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", TCP_CHECK], capture_output=True, text=True, env=child_env(), check=False
    )
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_agent_speaks_on_a_character_device() -> None:
    import pty
    import tty

    master, slave = pty.openpty()
    tty.setraw(slave)  # no echo, no line editing: the pty carries bytes like a virtio-serial port
    path = os.ttyname(slave)
    proc = subprocess.Popen([*AGENT, "--device", path], env=child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    stream = os.fdopen(master, "r+b", buffering=0)
    connection = AgentConnection(stream, stream, timeout=20, describe=f"agent on {path}")
    try:
        target = AgentTarget(connection)
        assert target.profile is DOCUMENTED and target.collect() == {0: [], 1: [], 2: [], 3: []}
        target.shutdown()
        assert proc.wait(10) == 0
        assert proc.stdout is not None and proc.stdout.read() == b""
    finally:
        os.close(slave)  # held open until now: a pty master reads EIO while no slave is open
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_on_a_device_end_of_input_before_the_first_line_means_the_host_is_not_there_yet(monkeypatch) -> None:
    from conformance.agent.__main__ import _AwaitHost

    class Port:
        def __init__(self) -> None:
            self.reads = [b"", b"", b'{"id":1}\n', b""]

        def readline(self, limit: int = -1) -> bytes:
            return self.reads.pop(0)

    monkeypatch.setattr(_AwaitHost, "POLL_S", 0)
    reader = _AwaitHost(Port(), wait=10)
    assert reader.readline() == b'{"id":1}\n'
    assert reader.readline() == b""  # after the first line, end of input is final
    assert _AwaitHost(Port(), wait=0).readline() == b""


# -- remove_interface (optional op) ----------------------------------------------------------------
def test_remove_interface_is_served_and_unsupported_travels_as_its_own_error_type() -> None:
    class NoRemoval(ReferenceTarget):
        def remove_interface(self, port: int) -> None:
            Target.remove_interface(self, port)  # the contract's default: Unsupported

    ok = served(req(1, "remove_interface", port=1), req(2, "remove_interface", port=9), source=ReferenceTarget(LINUX))
    assert ok[0] == {"id": 1, "ok": True, "result": None}
    assert ok[1]["error"]["type"] == "protocol" and "no port 9" in ok[1]["error"]["message"]
    refused = served(req(1, "hello", version=1), req(2, "remove_interface", port=1), source=NoRemoval())
    assert "remove_interface" in refused[0]["result"]["capabilities"]
    assert refused[1]["error"] == {"type": "unsupported", "message": "target 'reference' cannot remove an interface"}


def test_agent_target_removes_an_interface_or_says_unsupported() -> None:
    connection, _ = spawn_stdio([*AGENT, "--profile", "linux"], timeout=20)
    target = AgentTarget(connection)
    try:
        sock = target.open_socket(AF_INET, SOCK_RAW, IPPROTO_IGMP)
        target.setsockopt(sock, 0, mrt_init(LINUX), struct.pack("=i", 1))
        target.remove_interface(2)
        target.send(2, b"\xff" * 60)  # the port is gone: dropped, not an error
        assert target.collect()[2] == []
        target.capabilities.remove("remove_interface")  # an agent that does not offer the op
        with pytest.raises(Unsupported):
            target.remove_interface(1)
    finally:
        target.shutdown()
