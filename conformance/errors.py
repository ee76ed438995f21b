"""One-line error reporting for every command: exit code 2, one line on stderr, never a traceback."""

from __future__ import annotations

import sys

PROG = "mroute-conformance"


class UsageError(Exception):
    """A bad command line or bad input; its message is the one line shown to the user (exit 2)."""


def escape_controls(text: str) -> str:
    """``text`` with every control character escaped, so a message from hostile input stays one line."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def report_error(message: str) -> int:
    """Print ``mroute-conformance: error: MESSAGE`` as one line on stderr; returns the exit code 2."""
    print(f"{PROG}: error: {escape_controls(message)}", file=sys.stderr)
    return 2
