"""Cleanup that must run however the process ends: at interpreter exit and on SIGTERM/SIGHUP.

Shared by the linux target (its namespaces) and the linux-vm target (its qemu and run dir). The
signal handlers chain to whatever handler was there before, or re-raise the default action.
"""

from __future__ import annotations

import atexit
import functools
import os
import signal
import threading
from collections.abc import Callable


def _on_signal(signum: int, frame: object, *, cleanup: Callable[[], None], previous: object) -> None:
    cleanup()
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def run_on_exit(cleanup: Callable[[], None]) -> None:
    """Run ``cleanup`` at exit and before SIGTERM/SIGHUP act (handlers only from the main thread)."""
    atexit.register(cleanup)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(sig)
        if previous in (signal.SIG_IGN, None):
            continue
        signal.signal(sig, functools.partial(_on_signal, cleanup=cleanup, previous=previous))
