"""Run pytest children so that Ctrl-C and SIGTERM end a run cleanly, never with a traceback.

Each child runs in its own process group (with its xdist workers) and gets SIGINT if this process
dies. The first SIGINT/SIGTERM here is forwarded once, as SIGINT, to the running child's group:
pytest finishes the current test's teardown (target shutdown, namespaces), writes its partial
results and exits. A second signal exits at once (exit 130) after ``on_abort`` ran; the child is
left to finish its own cleanup: the plugin ignores further SIGINTs once interrupted when
:data:`STAGE_ENV` is set, and removes the staging directory at its end if the run was abandoned
(:data:`ABANDONED` in it) or its owner (:data:`OWNER_ENV`) is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import Any

PR_SET_PDEATHSIG = 1
STAGE_ENV = "MROUTE_RUN_STAGE"  # set for the children of `run`: its staging directory
OWNER_ENV = "MROUTE_RUN_OWNER"  # and the pid of the `run` process that will publish it
ABANDONED = ".abandoned"  # marker file: `run` gave up on the staging directory
INTERRUPTED_EXIT = 130
FORWARDED = (signal.SIGINT, signal.SIGTERM)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)


class Interrupts:
    """A context manager that owns SIGINT/SIGTERM while pytest children run (see the module doc)."""

    def __init__(self, on_abort: Callable[[bool], None] = lambda running: None, abort_line: str = "") -> None:
        """``on_abort(child_running)`` runs on the second signal, just before exiting."""
        self.on_abort = on_abort
        self.abort_line = abort_line
        self.signals = 0
        self._child: subprocess.Popen[Any] | None = None
        self._previous: dict[int, Any] = {}

    @property
    def interrupted(self) -> bool:
        """Whether a SIGINT or SIGTERM arrived."""
        return self.signals > 0

    def __enter__(self) -> Interrupts:
        for sig in FORWARDED:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signals += 1
        if self.signals == 1:
            self._forward()
            return
        child = self._child
        with contextlib.suppress(Exception):
            self.on_abort(child is not None and child.poll() is None)
            if child is not None and child.poll() is not None:  # it ended meanwhile: nobody else will
                self.on_abort(False)
        if self.abort_line:
            print(self.abort_line, file=sys.stderr, flush=True)
        os._exit(INTERRUPTED_EXIT)

    def _forward(self) -> None:
        child = self._child
        if child is not None and child.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGINT)

    def run(
        self, cmd: Sequence[str], capture: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` to its end (output captured as text if ``capture``); after an interrupt,
        start nothing new and return exit 2 (pytest's "interrupted")."""
        if self.interrupted:
            return subprocess.CompletedProcess(list(cmd), 2, "", "")
        pipe = subprocess.PIPE if capture else None
        child = subprocess.Popen(
            list(cmd), stdout=pipe, stderr=pipe, text=True, env=env, process_group=0, preexec_fn=_die_with_parent
        )
        self._child = child
        try:
            if self.interrupted:  # the signal came between fork and the assignment above
                self._forward()
            out, err = child.communicate()
        finally:
            self._child = None
        return subprocess.CompletedProcess(list(cmd), child.returncode, out or "", err or "")


def child_env(stage: str) -> dict[str, str]:
    """The environment for a child of `run` writing into ``stage``."""
    return {**os.environ, STAGE_ENV: stage, OWNER_ENV: str(os.getpid())}


def shield_cleanup() -> None:
    """In a child of `run`, once interrupted: ignore further SIGINTs so cleanup completes."""
    if os.environ.get(STAGE_ENV):
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def remove_abandoned_stage() -> None:
    """In a child of `run`, at its very end: remove the staging directory nobody will publish."""
    stage, owner = os.environ.get(STAGE_ENV), os.environ.get(OWNER_ENV)
    if not stage or not os.path.isdir(stage):
        return
    if os.path.exists(os.path.join(stage, ABANDONED)) or str(os.getppid()) != owner:
        import shutil

        shutil.rmtree(stage, ignore_errors=True)
