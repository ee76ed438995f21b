"""Record daemon runs in the linux-vm: boot a Debian kernel, run each daemon under strace, send frames.

Per run: reset the router, start the daemon (agent op ``daemon_start``), wait until its trace is
quiet, collect (nothing may have left the router yet), then for each stimulus send it, wait until
the daemon is quiet again and collect what the router forwarded; finally stop the daemon (SIGTERM:
its clean-up is traced too) and collect once more. The trace and these events are merged by the
guest's clock (``convert``) and written as a fixture of kind ``recording`` (``kit``).
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance.harness.packets import frame_for, udp
from conformance.recording import kit
from conformance.recording.convert import Event, convert
from conformance.recording.scenarios import DaemonRun, Stimulus
from conformance.recording.strace import parse
from reference_impl.profiles import LINUX

QUIET = 1.0  # s without a new trace line: the daemon has finished reacting (TCG guests are slow)
SETTLE_LIMIT = 30.0
OP_TIMEOUT = 60.0


def package_version(package: str) -> str:
    """``package version`` of an installed Debian package (the guest runs the host's binaries)."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return f"{package} (version unknown)"
    return f"{package} {out.strip()}"


def _frame(target: Any, s: Stimulus, payload: bytes) -> bytes:
    port = target.ports[s.port]
    src = port.peer_ipv4 if s.version == 4 else port.peer_ipv6
    return frame_for(udp(s.version, src, s.group, ttl=s.ttl, payload=payload), port.peer_mac)


def record(target: Any, run: DaemonRun, kernel: str, say: Callable[[str], None] = print) -> tuple[dict[str, Any], bytes]:
    """Record ``run`` on ``target`` (a booted LinuxVmTarget); the fixture document and its pcapng."""
    call = target.agent_call
    target.reset()
    call("daemon_start", argv=list(run.argv), config=base64.b64encode(run.config.encode()).decode())
    events: list[Event] = []
    try:
        at = float(call("daemon_settle", quiet=QUIET, limit=SETTLE_LIMIT, timeout=OP_TIMEOUT))
        events.append(Event(at, "collect", frames=target.collect()))
        for i, s in enumerate(run.stimuli, 1):
            frame = _frame(target, s, f"mroute-recording {run.name} #{i}".encode())
            target.send(s.port, frame)
            events.append(Event(at, "send", port=s.port, frame=frame))
            at = float(call("daemon_settle", quiet=QUIET, limit=SETTLE_LIMIT, timeout=OP_TIMEOUT))
            events.append(Event(at, "collect", frames=target.collect()))
            say(f"  {run.name}: stimulus {i}/{len(run.stimuli)} sent")
    finally:
        done = call("daemon_stop", timeout=OP_TIMEOUT)
    final = Event(float(done["at"]), "collect", frames=target.collect())
    trace = base64.b64decode(done["trace"]).decode("utf-8", "replace")
    if done["status"] not in (0, None):
        output = base64.b64decode(done["output"]).decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"{run.name}: {run.argv[0]} exited with status {done['status']}: "
                           f"{output[-1] if output else 'no output'}")
    conv = convert(parse(trace), events, LINUX, float(done["at"]), final)
    meta = {"daemon": run.argv[0], "version": package_version(run.package), "argv": list(run.argv),
            "config": run.config, "kernel": kernel, "tracer": "strace -f -ttt -X raw -xx -s 262144 "
            "(conformance/targets/linux/daemon.py), in the VM's router namespace",
            "recorder": f"after start and after each sent frame: wait until the trace is quiet for {QUIET} s, "
            "then collect every port; SIGTERM at the end, then a last collect"}
    return kit.document(conv, LINUX, target.ports, run.name, run.description, meta)


def record_all(runs: list[DaemonRun], kernel_spec: str, kit_dir: Path, say: Callable[[str], None] = print) -> list[Path]:
    """Boot one VM, record every run into ``kit_dir``; the fixtures written."""
    from conformance.targets.vm.target import LinuxVmTarget

    target = LinuxVmTarget(kernel_spec)
    written = []
    try:
        kernel = f"{target.kernel.release} ({kernel_spec}, linux-vm, {target.accel})"
        for run in runs:
            say(f"recording {run.name} on {kernel}")
            doc, pcap = record(target, run, kernel, say)
            written.append(kit.write(kit_dir, run.name, doc, pcap))
    finally:
        target.shutdown()
    return written
