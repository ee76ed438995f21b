"""``ssh:`` and ``serial:`` targets and ``--target-opt``: command construction, errors in one line, a pty.

No real ssh server is reachable here: a fake ``ssh`` on PATH runs the remote command with ``sh -c``
as sshd would, so the bootstrap (the standalone agent inside the command line) runs for real.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conformance.agent.server import serve
from conformance.targets import registry, remote
from conformance.targets.base import TargetUnavailable
from conformance.targets.reference import ReferenceTarget
from reference_impl.profiles import FREEBSD

ROOT = Path(__file__).resolve().parents[1]

FAKE_SSH = """#!/bin/sh
# fake ssh: -G answers like OpenSSH's config dump; otherwise log argv and run the remote command
if [ "$1" = "-G" ]; then echo "user root"; echo "hostname 127.0.0.1"; exit 0; fi
printf '%s\\n' "$@" > "$(dirname "$0")/argv.log"
if [ -n "$FAKE_SSH_FAIL" ]; then echo "$FAKE_SSH_FAIL" >&2; exit 255; fi
for last; do :; done
exec sh -c "$last"
"""


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH)
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MROUTE_AGENT_TIMEOUT", "20")
    return bin_dir


def test_ssh_command_is_batch_mode_with_port_user_key_and_agent_options() -> None:
    parsed = remote.RemoteSpec("ssh", host="lab1", port=2222, user="ci")
    argv = remote.ssh_argv(parsed, {"backend": "freebsd", "identity": "/k/id", "python": "python3.9", "ports": "2"})
    assert argv[:9] == ["ssh", "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15", "-p"]
    assert argv[9:14] == ["2222", "-i", "/k/id", "--", "ci@lab1"]
    remote_cmd = shlex.split(argv[-1])
    assert remote_cmd[0:2] == ["python3.9", "-c"] and remote_cmd[3:] == ["--backend", "freebsd", "--ports", "2"]


def test_the_bootstrap_command_runs_the_standalone_agent() -> None:
    cmd = remote.bootstrap_command(sys.executable, ["--help"])
    done = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, cwd="/", check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: agent.py") and "--backend {linux,freebsd}" in done.stdout
    assert len(cmd) < 100_000  # far below a remote command line's limit (Linux: 128 KiB per argument)


def test_ssh_end_to_end_through_a_fake_ssh_reaches_the_agents_hello(fake_ssh: Path) -> None:
    options = {"backend": "linux", "python": sys.executable}
    with pytest.raises(TargetUnavailable, match=r"kernel without IPv4 multicast routing") as info:
        registry.build_target("ssh:ci@lab1:2222", None, options)
    assert "\n" not in str(info.value)
    argv = (fake_ssh / "argv.log").read_text().splitlines()
    assert "BatchMode=yes" in argv and "ci@lab1" in argv and "2222" in argv


def test_an_unreachable_ssh_host_is_one_line_with_ssh_s_reason(fake_ssh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SSH_FAIL", "ssh: connect to host lab1 port 22: Connection refused")
    with pytest.raises(TargetUnavailable) as info:
        registry.build_target("ssh:lab1", None)
    message = str(info.value)
    assert "\n" not in message and "exit status 255" in message and "Connection refused" in message


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], capture_output=True, text=True, env=env, check=False)


@pytest.mark.parametrize(
    ("target", "options", "words"),
    [
        ("ssh:nohost.invalid", [], "host 'nohost.invalid' does not resolve"),
        ("ssh:lab1:99999", [], "ssh:[USER@]HOST[:PORT] with a port from 1 to 65535"),
        ("ssh:a b", [], "expected ssh:[USER@]HOST[:PORT]"),
        ("serial:/dev/no-such-tty", [], "cannot use '/dev/no-such-tty': No such file or directory"),
        ("serial:/etc/hostname", [], "neither a character device nor a unix socket"),
        ("reference", ["--target-opt", "ports=2"], "target 'reference' has no option 'ports'; valid: none"),
        ("reference", ["--target-opt", "novalue"], "--target-opt 'novalue': expected KEY=VALUE"),
        ("ssh:localhost", ["--target-opt", "colour=red"], "valid: backend, identity, ports, python, ssh_config, ssh_option"),
        ("ssh:localhost", ["--target-opt", "backend=solaris"], "valid backends: linux, freebsd"),
        ("serial:/dev/null", ["--target-opt", "baud=fast"], "--target-opt baud=fast: expected a number"),
    ],
)
def test_bad_agent_specs_and_options_are_one_line_exit_2(tmp_path: Path, target: str, options: list[str], words: str) -> None:
    done = run_cli("run", "--target", target, *options, f"--report-dir={tmp_path}")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines
    assert not (tmp_path / "results.json").exists()


def test_a_serial_line_carries_the_protocol_in_raw_mode() -> None:
    """The agent on a pty's master end, the suite on its slave: the client must switch off echo/ICRNL."""
    master, slave = os.openpty()  # slave stays open: a master with no slave open reads EIO (hang-up)
    slave_path = os.ttyname(slave)
    reader, writer = os.fdopen(master, "rb", buffering=0), os.fdopen(os.dup(master), "wb", buffering=0)
    agent = threading.Thread(target=serve, args=(ReferenceTarget(FREEBSD), reader, writer), daemon=True)
    agent.start()
    try:
        target = registry.build_target(f"serial:{slave_path}", None, {"baud": "115200"})
        assert target.profile is FREEBSD and len(target.ports) == 4
        target.reset()
        sock = target.open_socket(2, 3, 2)  # raw IGMP: bytes 0x0d/0x0a in buffers must survive the line
        value = bytes([1, 0, 0, 0])
        assert target.setsockopt(sock, 0, FREEBSD.options4["MRT_INIT"], value) == value
        with pytest.raises(OSError) as info:
            target.setsockopt(sock, 0, FREEBSD.options4["MRT_INIT"], value)
        assert info.value.errno == 98  # EADDRINUSE, by name across the wire
        target.shutdown()
        agent.join(10)
        assert not agent.is_alive()
    finally:
        os.close(slave)
        reader.close()
        writer.close()


SSHD = "/usr/sbin/sshd"


@pytest.fixture
def real_ssh(tmp_path: Path) -> Path:
    """An ssh client config whose ProxyCommand is a real ``sshd -i`` session: real ssh, no network."""
    if not (os.access(SSHD, os.X_OK) and shutil.which("ssh") and shutil.which("ssh-keygen")) or os.geteuid() != 0:
        pytest.skip("needs root, ssh, ssh-keygen and sshd (apt-get install openssh-server)")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    for key in ("hostkey", "id"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / key)], check=True)
    (tmp_path / "authorized_keys").write_text((tmp_path / "id.pub").read_text())
    (tmp_path / "sshd_config").write_text(
        f"HostKey {tmp_path / 'hostkey'}\nAuthorizedKeysFile {tmp_path / 'authorized_keys'}\nStrictModes no\n"
        "UsePAM no\nPermitRootLogin prohibit-password\nPidFile none\nLogLevel ERROR\n"
    )
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host *\n  ProxyCommand {SSHD} -i -f {tmp_path / 'sshd_config'}\n  StrictHostKeyChecking no\n"
        f"  UserKnownHostsFile /dev/null\n  IdentityFile {tmp_path / 'id'}\n  LogLevel ERROR\n"
    )
    return config


def test_real_ssh_and_sshd_carry_the_standalone_agent(real_ssh: Path, tmp_path: Path) -> None:
    """ssh -> sshd -> login shell -> python3 -c <bootstrap> -> the agent's hello, end to end."""
    with pytest.raises(TargetUnavailable, match=r"kernel without IPv4 multicast routing") as info:
        registry.build_target("ssh:root@127.0.0.1", None, {"ssh_config": str(real_ssh), "backend": "linux"})
    assert "\n" not in str(info.value)
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--target", "ssh:root@127.0.0.1", "--target-opt",
         f"ssh_config={real_ssh}", "-k", "second_init", f"--report-dir={tmp_path / 'out'}"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False,
    )
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "CONFIG_IP_MROUTE" in document["target"]["details"]["unavailable"], done.stderr[-2000:]
    assert document["tests"] and all(t["outcome"] == "skip" for t in document["tests"])
