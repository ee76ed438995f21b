"""The run's identity for results.json ``invocation``: the command line and the host it ran on.

A certification record must say how a run was started and where; the target's own fingerprint
(kernel under test, build) is the target's ``details``, this is the controller's side.
"""

from __future__ import annotations

import os
import platform
import shlex
import socket
import sys
from typing import Any

COMMAND_ENV = "MROUTE_COMMAND"  # set by `mroute-conformance run` for its pytest child: the user's command line


def host() -> dict[str, str]:
    """Where the controller ran: hostname, OS release, the host's kernel, machine and Python."""
    return {
        "hostname": socket.gethostname(),
        "os": _os_release(),
        "kernel": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def _os_release() -> str:
    """PRETTY_NAME of /etc/os-release (the distribution), else the platform string."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    key, _, value = line.strip().partition("=")
                    if key == "PRETTY_NAME" and value:
                        return shlex.split(value)[0] if value[0] in "'\"" else value
        except (OSError, ValueError, IndexError):
            continue
    return platform.platform()


def command_line(pytest_args: list[str] | tuple[str, ...]) -> str:
    """The command that started the run: ``run``'s own (passed down in the environment), else pytest's."""
    given = os.environ.get(COMMAND_ENV)
    if given:
        return given
    return shlex.join([os.path.basename(sys.executable), "-m", "pytest", *map(str, pytest_args)])


def invocation(pytest_args: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The ``invocation`` section of results.json."""
    return {"command": command_line(pytest_args), "cwd": os.getcwd(), "host": host()}
