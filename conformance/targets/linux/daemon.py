"""A routing daemon run under strace in the router namespace, for recording its use of the API.

The recorder (``conformance/recording``) starts one daemon at a time through the agent: its
command line runs as ``ip netns exec ROUTER strace ... -- ARGV`` in a private work directory
holding the daemon's configuration, and the trace (every mroute-relevant syscall with its exact
bytes and result, ``-ttt`` wall-clock stamps comparable with ``time.time()`` here) comes back
when it stops. ``settle`` waits until the daemon has gone quiet (its trace stops growing).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Any

# syscalls the recorder turns into fixture steps (others are filtered by fd there)
TRACED = "socket,setsockopt,getsockopt,ioctl,close,read,recvfrom,recvmsg"
STRACE = ("strace", "-f", "-ttt", "-X", "raw", "-xx", "-s", "262144", "-e", f"trace={TRACED}")
SETTLE_POLL = 0.02  # how often the trace file's size is looked at while settling
STOP_WAIT = 10.0  # seconds the daemon gets to exit after SIGTERM before SIGKILL


class DaemonError(RuntimeError):
    """The daemon could not be started or stopped (one line)."""


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (the traced daemon under strace)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


class DaemonRunner:
    """At most one traced daemon in the router namespace ``netns``."""

    def __init__(self, netns: str) -> None:
        self.netns = netns
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir: str | None = None

    @property
    def trace_path(self) -> str:
        return os.path.join(self.workdir or "", "trace")

    def start(self, argv: list[str], config: bytes) -> float:
        """Run ``argv`` traced; ``{config}``/``{workdir}`` in it name the written config and the
        work directory. Returns the wall-clock time just before the start."""
        if self.proc is not None:
            raise DaemonError("a daemon is already running; stop it first")
        if shutil.which("strace") is None:
            raise DaemonError("strace is not installed (apt-get install strace on the host the VM mounts)")
        self.workdir = tempfile.mkdtemp(prefix="mroute-daemon-")
        conf = os.path.join(self.workdir, "daemon.conf")
        with open(conf, "wb") as f:
            f.write(config)
        args = [a.replace("{config}", conf).replace("{workdir}", self.workdir) for a in argv]
        cmd = ["ip", "netns", "exec", self.netns, *STRACE, "-o", self.trace_path, "--", *args]
        at = time.time()
        out = open(os.path.join(self.workdir, "output"), "wb")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, start_new_session=True)
        except OSError as exc:
            self._remove()
            raise DaemonError(f"cannot start {args[0]}: {exc.strerror or exc}") from None
        finally:
            out.close()
        return at

    def _size(self) -> int:
        try:
            return os.stat(self.trace_path).st_size
        except FileNotFoundError:
            return -1

    def settle(self, quiet: float, limit: float) -> float:
        """Wait until the trace has not grown for ``quiet`` s (at most ``limit`` s); the time then."""
        if self.proc is None:
            raise DaemonError("no daemon is running")
        deadline = time.monotonic() + limit
        size, since = self._size(), time.monotonic()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            now_size = self._size()
            if now_size != size or now_size <= 0:
                size, since = now_size, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
            time.sleep(SETTLE_POLL)
        return time.time()

    def stop(self) -> dict[str, Any]:
        """SIGTERM the daemon (SIGKILL after ``STOP_WAIT``), return its trace, output and status."""
        if self.proc is None:
            raise DaemonError("no daemon is running")
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            # the daemon, not strace: strace must stay attached to trace the daemon's clean-up
            for child in _children(proc.pid) or [proc.pid]:
                os.kill(child, signal.SIGTERM)
            try:
                proc.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        at = time.time()
        try:
            with open(self.trace_path, "rb") as f:
                trace = f.read()
            with open(os.path.join(self.workdir or "", "output"), "rb") as f:
                output = f.read()
        finally:
            self._remove()
        return {"trace": trace, "output": output, "status": proc.returncode, "at": at}

    def close(self) -> None:
        """Kill a daemon still running and remove the work directory (idempotent)."""
        if self.proc is not None:
            proc, self.proc = self.proc, None
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._remove()

    def _remove(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
