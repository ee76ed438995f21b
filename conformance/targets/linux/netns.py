"""Named network namespaces: create, enter (setns on the calling thread), delete, reap stale ones.

Every namespace this process creates is named ``mrc-<pid>-<worker>-<seq>-<role>`` and recorded,
so that normal exit (atexit), SIGTERM/SIGHUP and ``delete()`` all remove it, and a later run can
recognise the leftovers of a SIGKILLed one by its dead pid. The host namespace is never entered
for writing: the calling thread always returns to the namespace it came from.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import socket
import subprocess
import threading
from collections.abc import Iterator, Mapping

from conformance.exithooks import run_on_exit

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
PREFIX = "mrc-"
_NAME_RE = re.compile(r"^mrc-(?P<pid>\d+)-(?P<worker>[A-Za-z0-9_]+)-(?P<seq>\d+)-(?P<role>[a-z])$")

_libc = ctypes.CDLL(None, use_errno=True)
_lock = threading.Lock()
_owned: set[str] = set()
_seq = 0
_hooks_pid: int | None = None


def _setns(fd: int) -> None:
    """setns(2) for CLONE_NEWNET on the calling thread (Python 3.11 lacks os.setns)."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def run_ip(args: list[str], stdin: str | None = None, check: bool = True) -> str:
    """Run iproute2's ``ip`` and return stdout; a failure raises RuntimeError with stderr."""
    proc = subprocess.run(["ip", *args], input=stdin, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def worker_tag() -> str:
    """The xdist worker id (``gw0``...) or ``main``, sanitised for a namespace name."""
    raw = os.environ.get("PYTEST_XDIST_WORKER") or "main"
    return re.sub(r"[^A-Za-z0-9_]", "_", raw) or "main"


def new_run_id() -> str:
    """A run id unique in this host: ``mrc-<pid>-<worker>-<seq>``."""
    global _seq
    with _lock:
        _seq += 1
        return f"{PREFIX}{os.getpid()}-{worker_tag()}-{_seq}"


class NetNamespace:
    """A named network namespace held open by fd; ``entered()`` moves the calling thread into it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY | os.O_CLOEXEC)

    @contextlib.contextmanager
    def entered(self) -> Iterator[NetNamespace]:
        """Run the block with this thread inside the namespace, then return to where it was."""
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(self.fd)
            try:
                yield self
            finally:
                _setns(home)
        finally:
            os.close(home)

    def socket(self, family: int, type_: int, proto: int = 0) -> socket.socket:
        """A socket created inside the namespace (it stays bound to it for its whole life)."""
        with self.entered():
            return socket.socket(family, type_, proto)

    def read(self, path: str) -> str:
        """Read a /proc file as seen from inside the namespace (use /proc/thread-self/net/...)."""
        with self.entered(), open(path) as f:
            return f.read()

    def sysctls(self, values: Mapping[str, object]) -> None:
        """Write sysctls (dotted names) from inside the namespace, never the host's."""
        with self.entered():
            for key, value in values.items():
                with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                    f.write(str(value))

    def close(self) -> None:
        """Drop our fd (the namespace lives on while its name or sockets hold it)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def create(names: list[str]) -> list[NetNamespace]:
    """Create named namespaces with one ``ip -batch`` and open them; all-or-nothing."""
    _install_exit_hooks()
    with _lock:
        _owned.update(names)
    try:
        run_ip(["-batch", "-"], stdin="".join(f"netns add {n}\n" for n in names))
        return [NetNamespace(n) for n in names]
    except BaseException:
        delete(names)
        raise


def delete(names: list[str]) -> None:
    """Remove named namespaces (missing ones are ignored) and forget them."""
    present = [n for n in names if os.path.exists(os.path.join(NETNS_DIR, n))]
    if present:
        # -force: carry on past a failed line, so one bad name cannot leak the others
        run_ip(["-force", "-batch", "-"], stdin="".join(f"netns del {n}\n" for n in present), check=False)
    with _lock:
        _owned.difference_update(names)


def list_ours() -> list[str]:
    """Names of every namespace on this host that carries our prefix."""
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if _NAME_RE.match(n))
    except FileNotFoundError:
        return []


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> list[str]:
    """Delete our-prefix namespaces whose creating process is dead; returns their names.

    Liveness is by pid: a reused pid only delays cleanup, it never deletes a live run's namespaces.
    """
    stale = []
    for name in list_ours():
        m = _NAME_RE.match(name)
        if m and int(m["pid"]) != os.getpid() and not _pid_alive(int(m["pid"])):
            stale.append(name)
    delete(stale)
    return stale


def cleanup_owned() -> None:
    """Delete every namespace this process created and still holds (exit paths call this)."""
    if _hooks_pid != os.getpid():  # a forked child must never delete its parent's namespaces
        return
    with _lock:
        names = sorted(_owned)
    if names:
        delete(names)


def _install_exit_hooks() -> None:
    """atexit plus chained SIGTERM/SIGHUP handlers, once per process (main thread only for signals)."""
    global _hooks_pid
    if _hooks_pid == os.getpid():
        return
    _hooks_pid = os.getpid()
    run_on_exit(cleanup_owned)
