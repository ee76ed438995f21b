"""The standalone agent script: Python 3.8 and stdlib only, the protocol, and the backends' pure parts.

The linux backend cannot run here (no CONFIG_IP_MROUTE), so it must say so in ``hello``; the
freebsd backend was never run at all: its name maps, ioctl numbers, bpf parsing, fd passing and
routing-socket set-up are checked on Linux with this platform's sockets standing in.
"""

from __future__ import annotations

import ast
import errno
import glob
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conformance.agent import protocol as P
from conformance.agent import standalone as S
from conformance.agent.client import AgentTarget
from conformance.agent.script import script_text
from conformance.agent.transport import spawn_stdio
from conformance.targets.base import TargetUnavailable
from mroute_spec.abi import IOCTLS
from mroute_spec.constants import ETH_P_IP, ETH_P_IPV6, IPPROTO_PIM
from reference_impl.profiles import LINUX

ROOT = Path(__file__).resolve().parents[1]


def _find_python38() -> str:
    """A working Python 3.8 interpreter (pyenv's shim may exist and still refuse to run), or ""."""
    candidates = [os.environ.get("MROUTE_PYTHON38", ""), *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.8*/bin/python3.8")))]
    candidates.append(shutil.which("python3.8") or "")
    for path in filter(None, candidates):
        done = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip() == "(3, 8)":
            return path
    return ""


PY38 = _find_python38()
HAVE_PY38 = bool(PY38)


@pytest.fixture(scope="module")
def agent_py(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mroute-conformance agent-script -o agent.py`` in a directory far from the project."""
    path = tmp_path_factory.mktemp("lab") / "agent.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "conformance.cli", "agent-script", "-o", str(path)], env=env, check=False)
    assert done.returncode == 0
    return path


def test_agent_script_prints_the_standalone_file(agent_py: Path) -> None:
    assert agent_py.read_text() == (ROOT / "conformance/agent/standalone.py").read_text() == script_text()
    assert os.access(agent_py, os.X_OK)


def test_the_script_imports_only_the_standard_library() -> None:
    tree = ast.parse(script_text())
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert modules <= set(sys.stdlib_module_names) | {"__future__"}, modules - set(sys.stdlib_module_names)


def test_the_script_is_python_3_8_syntax() -> None:
    ast.parse(script_text(), feature_version=(3, 8))
    with pytest.raises(SyntaxError):  # the check can fail: a 3.10 construct is refused
        ast.parse("match x:\n    case 1: pass\n", feature_version=(3, 8))


def test_vermin_finds_nothing_newer_than_3_8(agent_py: Path) -> None:
    if shutil.which("vermin") is None:
        pytest.skip("vermin not installed (pip install vermin)")
    done = subprocess.run(["vermin", "--no-tips", "--violations", "-t=3.8-", str(agent_py)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(not HAVE_PY38, reason="no Python 3.8 interpreter on this machine")
def test_help_runs_in_an_isolated_python_3_8(agent_py: Path) -> None:
    done = subprocess.run([PY38, "-I", str(agent_py), "--help"], capture_output=True, text=True, cwd="/", check=False)
    assert done.returncode == 0, done.stderr
    assert "--backend {linux,freebsd}" in done.stdout and "freebsd backend is written against" in done.stdout


@pytest.mark.parametrize("python", [sys.executable, pytest.param(PY38, marks=pytest.mark.skipif(not HAVE_PY38, reason="no 3.8"))])
def test_protocol_hello_unknown_op_and_bye(agent_py: Path, python: str) -> None:
    lines = [
        {"id": 1, "op": "hello", "args": {"version": 1}},
        {"id": 2, "op": "frobnicate", "args": {}},
        {"id": 3, "op": "setsockopt", "args": {"sock": "1", "level": 0, "optname": 200, "value": "AA=="}},
        {"id": 4, "op": "hello", "args": {"version": 2}},
        {"id": 5, "op": "reset", "args": {}},
        {"id": 6, "op": "bye", "args": {}},
        {"id": 7, "op": "info", "args": {}},  # after bye: never answered
    ]
    stdin = "".join(json.dumps(m) + "\n" for m in lines) + "{not json\n"
    done = subprocess.run([python, "-I", str(agent_py), "--backend", "linux"], input=stdin, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    answers = [P.decode_response(line.encode() + b"\n") for line in done.stdout.splitlines()]
    assert [a.id for a in answers] == [1, 2, 3, 4, 5, 6]
    hello = answers[0].result
    assert hello["version"] == 1 and hello["backend"] == "linux" and set(hello["capabilities"]) == set(P.OPS) - {"hello", "bye", *P.DAEMON_OPS}
    assert "profile" not in hello and "CONFIG_IP_MROUTE" in hello["unavailable"]  # this host has no mroute
    assert "\n" not in hello["unavailable"]
    assert answers[1].error == P.ErrorInfo("protocol", answers[1].error.message) and "unknown op 'frobnicate'" in answers[1].error.message
    assert answers[2].error.type == "protocol" and "'sock' must be int" in answers[2].error.message
    assert "the client speaks 2, this agent speaks 1" in answers[3].error.message
    assert answers[4].error.type == "unavailable" and answers[4].error.message == hello["unavailable"]
    assert answers[5].ok and answers[5].result is None


def test_the_suite_client_sees_the_linux_backend_as_unavailable_with_its_reason(agent_py: Path) -> None:
    connection, proc = spawn_stdio([sys.executable, "-I", str(agent_py), "--backend", "linux"], timeout=20)
    with pytest.raises(TargetUnavailable, match=r"kernel without IPv4 multicast routing"):
        AgentTarget(connection, None)
    connection.close()
    assert proc.wait(10) == 0


def test_a_run_through_the_script_reports_the_reason_and_no_pass(agent_py: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    spec = f"stdio:{sys.executable} -I {agent_py} --backend linux"
    done = subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--target", spec, "-k", "second_init",
                           f"--report-dir={tmp_path}"], capture_output=True, text=True, env=env, check=False)
    assert "Traceback" not in done.stdout + done.stderr
    document = json.loads((tmp_path / "results.json").read_text())
    assert "CONFIG_IP_MROUTE" in document["target"]["details"]["unavailable"]
    assert document["tests"] and all(t["outcome"] == "skip" for t in document["tests"])


# -- the script's tables agree with the project's -------------------------------------------------
def test_wire_tables_match_the_protocol_module() -> None:
    # the daemon_* ops (recording a routing daemon, conformance/targets/linux/daemon.py) are optional
    assert S.OPS == {op: args for op, args in P.OPS.items() if op not in P.DAEMON_OPS}
    assert S.FAMILIES == P.FAMILIES and S.SOCK_TYPES == P.SOCK_TYPES
    assert S.PROTOCOL_VERSION == P.PROTOCOL_VERSION and S.MAX_LINE == P.MAX_LINE


def test_numbers_match_mroute_spec() -> None:
    assert (S.NUM["IPPROTO_PIM"], S.NUM["ETH_P_IP"], S.NUM["ETH_P_IPV6"]) == (IPPROTO_PIM, ETH_P_IP, ETH_P_IPV6)
    for name in ("MRT_ASSERT", "MRT_PIM", "MRT_TABLE", "MRT_FLUSH"):
        assert S.NUM[f"LINUX_{name}"] == LINUX.options4[name] == LINUX.options6[name.replace("MRT", "MRT6")]


# -- freebsd backend, pure parts --------------------------------------------------------------------
def test_bsd_ioctl_encoding_matches_the_spec_and_bpf_h() -> None:
    assert S.ioc("rw", "r", 15, 40) == IOCTLS["bsd-amd64"]["SIOCGETVIFCNT"]  # _IOWR('r', 15, sioc_vif_req)
    assert S.ioc("rw", "u", 107, 40) == IOCTLS["bsd-amd64"]["SIOCGETMIFCNT_IN6"]
    # sys/net/bpf.h: BIOCGBLEN _IOR('B',102,u_int), BIOCSETIF _IOW('B',108,struct ifreq), BIOCIMMEDIATE
    # _IOW('B',112,u_int), BIOCSHDRCMPLT _IOW('B',117,u_int), BIOCSDIRECTION _IOW('B',119,u_int)
    assert (S.BIOCGBLEN, S.BIOCSETIF, S.BIOCIMMEDIATE) == (0x40044266, 0x8020426C, 0x80044270)
    assert (S.BIOCSHDRCMPLT, S.BIOCSDIRECTION) == (0x80044275, 0x80044277)


@pytest.mark.parametrize("long_size", [8, 4])  # amd64/arm64, i386/armv7
def test_bpf_records_split_a_read_buffer(long_size: int) -> None:
    frames = [b"\x01" * 60, b"\x02" * 61, b"\x03" * 1514]
    buf = b""
    for frame in frames:
        hdrlen = 2 * long_size + 4 + 4 + 2
        hdrlen += -hdrlen % long_size  # bh_hdrlen includes the padding to word alignment
        record = bytes(2 * long_size) + struct.pack("=IIH", len(frame), len(frame), hdrlen)
        record = record.ljust(hdrlen, b"\0") + frame
        buf += record.ljust(len(record) + (-len(record) % long_size), b"\0")
    assert S.bpf_records(buf, long_size) == frames


def test_names_map_to_this_platforms_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(S.socket, "AF_INET6", 28)  # FreeBSD's number
    assert S.native_symbol("AF_INET6", S.FAMILIES, "family") == 28
    assert S.native_symbol(10, S.FAMILIES, "family") == 28  # the suite's (Linux) integer, mapped by name
    assert S.native_symbol(99, S.FAMILIES, "family") == 99  # unnamed: passed through
    assert S.native_symbol("SOCK_RAW", S.SOCK_TYPES, "type") == socket.SOCK_RAW
    with pytest.raises(S.ProtocolError, match="AF_BOGUS"):
        S.native_symbol("AF_BOGUS", S.FAMILIES, "family")
    monkeypatch.setattr(S.errno, "errorcode", {48: "EADDRINUSE", 42: "ENOPROTOOPT"})  # FreeBSD's numbers
    assert (S.errno_name(48), S.errno_name(42), S.errno_name(98)) == ("EADDRINUSE", "ENOPROTOOPT", "EIO")


def test_descriptors_pass_between_jail_helper_and_agent() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        S.send_fd(a, udp.fileno())
        fd = S.recv_fd(b)
        with socket.socket(fileno=fd) as copy:
            assert copy.family == socket.AF_INET and copy.type == socket.SOCK_DGRAM
        a.sendall(b"E%d" % errno.EPROTONOSUPPORT)
        with pytest.raises(OSError) as info:
            S.recv_fd(b)
        assert info.value.errno == errno.EPROTONOSUPPORT


def test_freebsd_routing_socket_gets_the_profiles_set_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """IP_MULTICAST_LOOP off and a raised SO_RCVBUF on the IPv4 routing socket (run with Linux sockets)."""
    backend = object.__new__(S.FreeBSDBackend)

    def ask(_which: int, request: str) -> int:
        _, family, _type, _proto = request.split()
        assert request.startswith("sock ")
        # a UDP socket stands in for the raw IGMP one: the options are the same, no privilege needed
        s = socket.socket(int(family), socket.SOCK_DGRAM, 0)
        return s.detach()

    monkeypatch.setattr(backend, "_ask", ask)
    monkeypatch.setattr(S.socket, "SOCK_RAW", socket.SOCK_RAW)
    before = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    default_rcvbuf = before.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    before.close()
    with backend.make_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP) as s:
        assert s.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP) == 0
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) > default_rcvbuf
    with backend.make_socket(socket.AF_INET, socket.SOCK_DGRAM, 17) as plain:
        assert plain.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP) == 1  # only the routing socket


LISTEN_CHECK = """
import subprocess, sys
from conformance.agent.client import AgentTarget
from conformance.agent.transport import connect_tcp
from conformance.targets.base import TargetUnavailable
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
proc = subprocess.Popen([sys.executable, "-I", sys.argv[1], "--backend", "linux", "--listen", "127.0.0.1:4711"],
                        stderr=subprocess.PIPE, text=True)
try:
    assert "listening on 127.0.0.1:4711" in proc.stderr.readline()  # the agent says when it accepts
    for _ in range(2):  # one session per connection, then the next one
        try:
            AgentTarget(connect_tcp("127.0.0.1", 4711, timeout=10))
        except TargetUnavailable as exc:
            assert "CONFIG_IP_MROUTE" in str(exc), exc
        else:
            raise AssertionError("the linux backend cannot run here")
finally:
    proc.terminate()
    assert proc.wait(10) == 128 + 15
print("ok")
"""


def test_listen_serves_one_session_per_connection_inside_a_private_namespace(agent_py: Path) -> None:
    if subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot create a network namespace here (needs root and unshare)")
    done = subprocess.run(["unshare", "--net", sys.executable, "-c", LISTEN_CHECK, str(agent_py)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120, check=False)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_device_mode_speaks_on_a_pty(agent_py: Path) -> None:
    import pty
    import tty

    from conformance.agent.client import AgentConnection

    master, slave = pty.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen([sys.executable, "-I", str(agent_py), "--backend", "linux", "--device", os.ttyname(slave)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        stream = os.fdopen(master, "r+b", buffering=0)
        with pytest.raises(TargetUnavailable, match="CONFIG_IP_MROUTE"):
            AgentTarget(AgentConnection(stream, stream, timeout=20))
        assert stream.closed  # the client hung up after the unavailable hello...
        assert proc.wait(20) == 0  # ...and the agent, seeing the line go, shut down cleanly
    finally:
        os.close(slave)
        if proc.poll() is None:
            proc.kill()


class FakeFreeBSD:
    """Records the FreeBSD backend's commands and answers like the tools would (epairNa, jids, ifindexes)."""

    def __init__(self, fail_on: str = "") -> None:
        self.commands: list[list[str]] = []
        self.pairs = 0
        self.fail_on = fail_on

    def run(self, argv: list[str], stdin: str | None = None, check: bool = True) -> str:
        self.commands.append(list(argv))
        line = " ".join(argv)
        if self.fail_on and self.fail_on in line and check:
            raise RuntimeError(f"{line} failed (1): ifconfig: SIOCIFCREATE2: Operation not permitted")
        if argv[:2] == ["ifconfig", "epair"]:
            self.pairs += 1
            return f"epair{self.pairs + 6}a\n"
        if argv[0] == "jexec" and "-c" in argv:  # the if_nametoindex probe
            return " ".join(str(20 + i) for i in range(self.pairs)) + "\n"
        return ""


@pytest.fixture
def fake_freebsd(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], FakeFreeBSD]:
    def install(fail_on: str = "") -> FakeFreeBSD:
        fake = FakeFreeBSD(fail_on)
        monkeypatch.setattr(S, "run", fake.run)
        monkeypatch.setattr(S.FreeBSDBackend, "check", staticmethod(lambda: None))
        monkeypatch.setattr(S.FreeBSDBackend, "_spawn_helper", lambda self, jail: (0, socket.socket()))
        monkeypatch.setattr(S.FreeBSDBackend, "_open_bpf", lambda self, ifname: os.open(os.devnull, os.O_RDONLY))
        monkeypatch.setattr(S.fcntl, "ioctl", lambda fd, request, arg: struct.pack("I", 65536))
        monkeypatch.setattr(S.os, "waitpid", lambda pid, flags: (pid, 0))
        return fake
    return install


def test_freebsd_lab_commands_stay_inside_the_jails_it_creates(fake_freebsd: Callable[[str], FakeFreeBSD]) -> None:
    fake = fake_freebsd("")
    backend = S.FreeBSDBackend(2)
    jails = backend.jails
    assert [c for c in fake.commands if c[:2] == ["jail", "-c"]] == [
        ["jail", "-c", f"name={j}", "path=/", "vnet", "persist", "children.max=0", "allow.raw_sockets"] for j in jails
    ]
    assert [p["name"] for p in backend.ports] == ["epair7a", "epair8a"] and [p["ifindex"] for p in backend.ports] == [20, 21]
    ours = {"epair", "epair7a", "epair7b", "epair8a", "epair8b"}
    host = [c for c in fake.commands if c[0] == "ifconfig"]
    assert host and all(c[1] in ours for c in host), host  # the host's own interfaces are never named
    inside = {" ".join(c[2:]) for c in fake.commands if c[0] == "jexec" and c[1] == jails[0]}
    assert {"ifconfig epair7a inet 198.18.0.1/24 up", "ifconfig epair8a inet6 2001:db8:1::1/64",
            "arp -s 198.18.1.10 02:6d:72:00:01:10", "ndp -s 2001:db8::10 02:6d:72:00:00:10"} <= inside
    assert "ifconfig epair7b inet6 ifdisabled" in {" ".join(c[2:]) for c in fake.commands if c[:2] == ["jexec", jails[1]]}
    fake.commands.clear()
    backend.shutdown()
    assert fake.commands == [["jail", "-r", jails[0]], ["jail", "-r", jails[1]],
                             ["ifconfig", "epair7a", "destroy"], ["ifconfig", "epair8a", "destroy"]]


def test_a_freebsd_set_up_failure_is_one_line_and_leaves_nothing(fake_freebsd: Callable[[str], FakeFreeBSD]) -> None:
    fake = fake_freebsd("ifconfig epair7b vnet")  # the first tester end cannot move into its jail
    with pytest.raises(S.Unavailable, match=r"^cannot build the jails: ifconfig epair7b vnet .*Operation not permitted$"):
        S.FreeBSDBackend(2)
    created = [c for c in fake.commands if c[:2] == ["jail", "-c"]]
    assert len(created) == 2 and fake.commands[-3:] == [
        ["jail", "-r", created[0][2][5:]], ["jail", "-r", created[1][2][5:]], ["ifconfig", "epair7a", "destroy"]
    ]


def test_linux_lab_injects_captures_and_cleans_up_without_mroute(monkeypatch: pytest.MonkeyPatch) -> None:
    """The linux backend's lab minus multicast routing (this kernel has none): namespaces, veths,
    static neighbours, AF_PACKET injection and capture, sockets in the router, reset and teardown."""
    from scapy.layers.inet import ICMP, IP, UDP
    from scapy.layers.l2 import Ether

    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2")
    monkeypatch.setattr(S.LinuxBackend, "check", staticmethod(lambda: None))
    backend = S.LinuxBackend(2)
    names = list(backend.names)
    try:
        port = backend.ports[1]
        assert (port["name"], port["ipv4"], port["peer_ipv6"]) == ("r1", "198.18.1.1", "2001:db8:1::10")
        ping = Ether(src=port["peer_mac"], dst=port["mac"]) / IP(src=port["peer_ipv4"], dst=port["ipv4"]) / ICMP(id=7)
        backend.send(1, bytes(ping))
        frames = backend.collect()
        assert frames["0"] == [] and len(frames["1"]) == 1  # the reply: unicast to a peer, no ARP needed
        reply = Ether(S.base64.b64decode(frames["1"][0]))
        assert reply[IP].dst == port["peer_ipv4"] and reply[ICMP].type == 0 and reply[ICMP].id == 7
        sock = backend.open_socket(socket.AF_INET, socket.SOCK_DGRAM, 17)
        backend.setsockopt(sock, socket.SOL_SOCKET, socket.SO_REUSEADDR, struct.pack("i", 1))
        assert struct.unpack("i", backend.getsockopt(sock, socket.SOL_SOCKET, socket.SO_REUSEADDR, 4)) == (1,)
        backend.socks[sock].bind((port["ipv4"], 5000))
        datagram = Ether(src=port["peer_mac"], dst=port["mac"]) / IP(src=port["peer_ipv4"], dst=port["ipv4"]) / UDP(sport=9, dport=5000) / b"hi"
        backend.send(1, bytes(datagram))
        assert backend.recv_all(sock) == [b"hi"]
        backend.reset()
        assert backend.socks == {}
        with pytest.raises(OSError) as info:
            backend.close(sock)
        assert info.value.errno == errno.EBADF
    finally:
        backend.shutdown()
    assert not any(os.path.exists(f"/run/netns/{n}") for n in names)


def test_standalone_proc_parser_matches_the_linux_targets() -> None:
    """The standalone agent's routing_state parser gives what conformance.targets.linux.mrstate does."""
    from conformance.targets.linux import mrstate
    from reference_impl.snapshot import TableState, normalised

    vif4 = [" 0 r0              300       3         0       0 00000 010012C6 00000000",
            " 3 pimreg            0       0        10       1 08004 010312C6 00000000"]
    mfc4 = ["050001E8 0F0012C6 0          4      400        1  1:1    12:3  ",
            "060001E8 100012C6 -1         0        0        0"]
    vif6 = [" 2 r2                0       0       120       1 08000"]
    mfc6 = ["ff3e:0000:0000:0000:0000:0000:0001:0005 2001:0db8:0000:0000:0000:0000:0000:000f 2"
            "          1      120        0  2:1  "]
    ports = {"r0": 0, "r2": 2}
    for version, vifs, mfc in ((4, vif4, mfc4), (6, vif6, mfc6)):
        want = normalised(mrstate.parse_vifs(vifs, version, ports), mrstate.parse_mfc(mfc, version))
        assert TableState.from_json(S.proc_state(vifs, mfc, version, ports)) == want
        assert want.mfc and want.vifs
