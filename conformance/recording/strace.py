"""Parse ``strace -f -ttt -X raw -xx`` output into syscalls with their exact buffers and results.

Only what the recorder needs: ``socket``, ``setsockopt``, ``getsockopt``, ``ioctl``, ``close``,
``read``, ``recvfrom`` and ``recvmsg`` lines (a pid, a wall-clock stamp, the call, ``= RESULT``
and, on failure, the errno). ``-X raw`` keeps every constant numeric and ``-xx`` prints every
buffer byte as ``\\xNN``, so buffers decode exactly; an integer option value strace shows as
``[N]`` is encoded back as the native int of the length the call passed.
"""

from __future__ import annotations

import errno as E
import re
from dataclasses import dataclass

LINE = re.compile(
    r"^(?:(?P<pid>\d+)\s+)?(?P<at>\d+\.\d+)\s+(?P<name>[a-z_0-9]+)\((?P<args>.*)\)\s+=\s+"
    r"(?P<ret>-?\d+|\?)(?:\s+(?P<rest>.*))?$"
)
UNFINISHED = re.compile(r"^(?:(?P<pid>\d+)\s+)?(?P<at>\d+\.\d+)\s+(?P<name>[a-z_0-9]+)\((?P<args>.*) <unfinished \.\.\.>$")
RESUMED = re.compile(r"^(?:(?P<pid>\d+)\s+)?(?P<at>\d+\.\d+)\s+<\.\.\. (?P<name>[a-z_0-9]+) resumed>(?P<args>.*)\)\s+=\s+"
                     r"(?P<ret>-?\d+|\?)(?:\s+(?P<rest>.*))?$")
ERRNO_NAME = re.compile(r"^(E[A-Z0-9]+)\b")
ERRNO_NUMBER = re.compile(r"\(errno (\d+)\)")
BYTES = re.compile(r'"((?:\\x[0-9a-f]{2})*)"(\.\.\.)?')


class TraceError(ValueError):
    """A trace line the parser cannot read (one line naming it)."""


@dataclass
class Syscall:
    """One completed system call of the traced process."""

    pid: int
    at: float  # wall-clock seconds (strace -ttt: when the call was entered)
    name: str
    args: list[str]  # top-level arguments as strace printed them
    ret: int | None  # None: "= ?" (the process died in the call)
    errno: str | None  # errno name when ret is -1
    line: int  # 1-based line number in the trace


def split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments (commas inside quotes, [], {} and () do not split)."""
    out, depth, start, quoted, i = [], 0, 0, False, 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c in "[{(":
            depth += 1
        elif c in "]})":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
        i += 1
    tail = text[start:].strip()
    if tail or out:
        out.append(tail)
    return out


def _errno(rest: str | None) -> str | None:
    if not rest:
        return None
    m = ERRNO_NAME.match(rest)
    if m:
        return m.group(1)
    m = ERRNO_NUMBER.search(rest)
    if m:
        return E.errorcode.get(int(m.group(1)), m.group(1))
    return None


def parse(text: str) -> list[Syscall]:
    """Every completed call in ``text``, in trace order; signals, exits and other lines are skipped."""
    calls: list[Syscall] = []
    pending: dict[int, tuple[float, str, str, int]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = UNFINISHED.match(line)
        if m:
            pending[int(m.group("pid") or 0)] = (float(m.group("at")), m.group("name"), m.group("args"), n)
            continue
        m = RESUMED.match(line)
        if m:
            pid = int(m.group("pid") or 0)
            if pid not in pending:
                raise TraceError(f"trace line {n}: resumes a {m.group('name')} call that never started")
            at, name, head, first = pending.pop(pid)
            args, ret, rest = head + m.group("args"), m.group("ret"), m.group("rest")
            n_line = first
        else:
            m = LINE.match(line)
            if not m:
                continue
            pid, at, name = int(m.group("pid") or 0), float(m.group("at")), m.group("name")
            args, ret, rest, n_line = m.group("args"), m.group("ret"), m.group("rest"), n
        value = None if ret == "?" else int(ret)
        calls.append(Syscall(pid, at, name, split_args(args), value, _errno(rest) if value == -1 else None, n_line))
    return calls


def integer(arg: str) -> int:
    """A numeric argument (``0x2``, ``0x3|0x80000``, ``7``): the bits or'ed together."""
    value = 0
    for part in arg.split("|"):
        value |= int(part.strip(), 0)
    return value


def buffer(arg: str, length: int | None = None) -> bytes | None:
    """The bytes of a buffer argument: ``"\\x.."``, ``[N]`` (a native int of ``length`` bytes,
    default 4), ``NULL`` (empty); None when strace showed only an address or a truncated buffer."""
    arg = arg.strip()
    if arg == "NULL":
        return b""
    m = BYTES.fullmatch(arg)
    if m:
        if m.group(2):
            return None  # truncated ("..."): raise -s
        return bytes.fromhex(m.group(1).replace("\\x", ""))
    if arg.startswith("[") and arg.endswith("]") and "," not in arg:
        size = 4 if length is None else length
        try:
            return (int(arg[1:-1], 0) & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        except ValueError:
            return None
    return None


def iov_bytes(msghdr: str) -> bytes | None:
    """The bytes of the first ``iov_base`` of a recvmsg ``struct msghdr`` (None if not shown as bytes)."""
    m = re.search(r'iov_base=("(?:\\x[0-9a-f]{2})*"(?:\.\.\.)?)', msghdr)
    return buffer(m.group(1)) if m else None
