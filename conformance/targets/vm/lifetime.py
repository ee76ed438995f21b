"""qemu dies with the run: spawned with PR_SET_PDEATHSIG from a long-lived thread, reaped on every exit.

PR_SET_PDEATHSIG fires when the *thread* that forked exits, not the process (research/linux-vm.md
§6), so children are forked by one daemon thread that lives as long as the interpreter. That covers
SIGKILL of the runner; atexit and chained SIGTERM/SIGHUP handlers stop qemu and remove the run's
temporary directory on the other exits, and a later run removes directories whose owner died.
"""

from __future__ import annotations

import ctypes
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from conformance.exithooks import run_on_exit

PR_SET_PDEATHSIG = 1
DIR_PREFIX = "mroute-vm-"
_DIR_RE = re.compile(rf"^{DIR_PREFIX}(\d+)-")

_lock = threading.Lock()
_cleanups: dict[int, Callable[[], None]] = {}
_hooks_pid: int | None = None
_spawner: _Spawner | None = None


def _pdeathsig(parent: int) -> Callable[[], None]:
    """The child-side hook: SIGKILL when the forking thread dies; exit if the parent already did."""
    libc = ctypes.CDLL(None, use_errno=True)

    def hook() -> None:
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(126)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(126)

    return hook


class _Spawner:
    """One daemon thread that forks every child, and lives as long as the interpreter."""

    def __init__(self) -> None:
        self.requests: queue.Queue[tuple[list[str], dict, Future]] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="mroute-vm-spawner", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            args, kwargs, future = self.requests.get()
            try:
                future.set_result(subprocess.Popen(args, preexec_fn=_pdeathsig(os.getpid()), **kwargs))
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)


def spawn(args: list[str], **kwargs: object) -> subprocess.Popen:
    """Popen ``args`` in its own process group, to be SIGKILLed if this process dies."""
    global _spawner
    with _lock:
        if _spawner is None or not _spawner.thread.is_alive():
            _spawner = _Spawner()
        spawner = _spawner
    future: Future = Future()
    spawner.requests.put((args, {"process_group": 0, **kwargs}, future))
    return future.result()


def kill_group(proc: subprocess.Popen, grace: float = 0.0) -> None:
    """End ``proc`` and its process group: SIGTERM and ``grace`` seconds, then SIGKILL; reaps it."""
    if proc.poll() is None and grace > 0:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_dirs() -> list[str]:
    """Delete run directories left by dead processes (a SIGKILLed runner); returns their paths."""
    removed = []
    base = Path(tempfile.gettempdir())
    for path in base.glob(f"{DIR_PREFIX}*"):
        match = _DIR_RE.match(path.name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed


def run_dir() -> Path:
    """A private temporary directory for one VM, named after this process for stale reaping."""
    return Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-"))


def register(key: int, cleanup: Callable[[], None]) -> None:
    """Run ``cleanup`` at interpreter exit and on SIGTERM/SIGHUP unless ``unregister``ed first."""
    _install_hooks()
    with _lock:
        _cleanups[key] = cleanup


def unregister(key: int) -> None:
    """Forget a cleanup (it ran)."""
    with _lock:
        _cleanups.pop(key, None)


def cleanup_all() -> None:
    """Run every registered cleanup (this process's VMs only, never a forked parent's)."""
    if _hooks_pid != os.getpid():
        return
    with _lock:
        pending = list(_cleanups.values())
        _cleanups.clear()
    for cleanup in pending:
        try:
            cleanup()
        except Exception:  # best effort on the way out: the others must still run
            pass


def _install_hooks() -> None:
    global _hooks_pid
    if _hooks_pid == os.getpid():
        return
    _hooks_pid = os.getpid()
    run_on_exit(cleanup_all)
