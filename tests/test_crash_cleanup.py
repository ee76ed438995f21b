"""Namespaces never outlive their run: normal exit and SIGTERM clean up at once, and the namespaces of
a SIGKILLed run are reaped by the next LinuxTarget, which leaves those of live runs alone.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from conformance.targets.linux import LinuxTarget, netns

CHILD = """
import json, sys
from conformance.targets.linux import LinuxTarget
target = LinuxTarget()
print(json.dumps(target.namespaces), flush=True)
if sys.argv[1] == "wait":
    sys.stdin.read()  # block until killed (or stdin closes)
"""
READY_TIMEOUT = 30.0


class Child:
    """A process that builds a LinuxTarget, reports its namespaces, then exits or waits."""

    def __init__(self, mode: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, mode], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], READY_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"child did not report its namespaces: {err}")
        self.namespaces: list[str] = json.loads(line)

    def signal(self, sig: int) -> int:
        """Send ``sig`` and wait for the child to die; returns its exit status."""
        self.proc.send_signal(sig)
        return self.proc.wait(READY_TIMEOUT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def children(host_mroute: None) -> Iterator[list[Child]]:
    """Children started by a test; any still alive at the end are killed and reaped."""
    started: list[Child] = []
    yield started
    for child in started:
        child.close()
    netns.delete([n for c in started for n in c.namespaces])


def spawn(children: list[Child], mode: str) -> Child:
    child = Child(mode)
    children.append(child)
    return child


def test_the_next_target_reaps_a_sigkilled_runs_namespaces(children: list[Child]) -> None:
    alive = spawn(children, "wait")
    killed = spawn(children, "wait")
    assert killed.signal(signal.SIGKILL) == -signal.SIGKILL
    assert set(killed.namespaces) <= set(netns.list_ours()), "SIGKILL cannot clean up: they must remain"

    with LinuxTarget() as target:  # (under xdist another worker's new target may reap them first)
        present = set(netns.list_ours())
        assert not set(killed.namespaces) & present, "the dead run's namespaces survived"
        assert set(alive.namespaces) <= present, "a live run's namespaces were removed"
        assert set(target.namespaces) <= present


def test_sigterm_removes_the_namespaces(children: list[Child]) -> None:
    child = spawn(children, "wait")
    assert set(child.namespaces) <= set(netns.list_ours())
    assert child.signal(signal.SIGTERM) == -signal.SIGTERM  # cleans up, then dies of the signal
    assert not set(child.namespaces) & set(netns.list_ours())


def test_normal_exit_without_shutdown_removes_the_namespaces(children: list[Child]) -> None:
    child = spawn(children, "exit")
    assert child.proc.wait(READY_TIMEOUT) == 0
    assert not set(child.namespaces) & set(netns.list_ours())


def test_namespace_names_carry_pid_and_worker(host_mroute: None) -> None:
    run_id = netns.new_run_id()
    assert run_id.startswith(f"mrc-{os.getpid()}-{netns.worker_tag()}-")
