"""``python3 -m conformance.agent``: serve a backend target over stdin/stdout or a character device.

stdout carries only protocol lines: anything else the process prints goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import BinaryIO

from conformance.agent.server import LineReader, serve
from conformance.targets.base import Target
from reference_impl.profiles import PROFILES, get_profile

BACKENDS = ("reference", "linux")


def backend_factory(backend: str, profile: str | None) -> Callable[[], Target]:
    """A zero-argument builder for the backend's target (built lazily, on the first request)."""
    if backend == "reference":
        chosen = get_profile(profile or "documented")

        def build_reference() -> Target:
            from conformance.targets.reference import ReferenceTarget

            return ReferenceTarget(chosen)

        return build_reference

    def build_linux() -> Target:
        from conformance.targets.linux import LinuxTarget

        return LinuxTarget()

    return build_linux


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; one line and exit 2 on a bad option (argparse's own handling)."""
    parser = argparse.ArgumentParser(
        prog="python3 -m conformance.agent",
        description="Serve a conformance target over the agent protocol (docs/agent-protocol.md): "
        "JSON lines on stdin/stdout, or on a character device such as a virtio-serial port.",
    )
    parser.add_argument("--backend", choices=BACKENDS, default="reference", help="the target to serve (default: reference)")
    parser.add_argument("--profile", choices=tuple(PROFILES), help="profile of the reference backend (default: documented)")
    parser.add_argument("--device", metavar="PATH", help="speak on this character device (opened read-write) instead of stdin/stdout")
    parser.add_argument(
        "--wait-host", type=float, default=60.0, metavar="SECONDS",
        help="with --device: how long to wait for the host side to connect (default: 60)",
    )
    args = parser.parse_args(argv)
    if args.profile and args.backend != "reference":
        parser.error(f"--profile applies to the reference backend only (the {args.backend} backend has its own)")
    return args


class _AwaitHost:
    """A device reader that treats end of input before the first line as "host not connected yet".

    A virtio-serial port reads as end of file while nothing is connected on the host side, and
    poll() reports it readable (hung up) all along, so there is no event to wait for: retry every
    ``POLL_S`` until ``wait`` seconds have passed. After the first line, end of input is final.
    """

    POLL_S = 0.02

    def __init__(self, inner: LineReader, wait: float) -> None:
        self.inner, self.deadline, self.started = inner, time.monotonic() + wait, False

    def readline(self, limit: int = -1) -> bytes:
        while True:
            line = self.inner.readline(limit)
            if line or self.started or time.monotonic() >= self.deadline:
                self.started = True
                return line
            time.sleep(self.POLL_S)


def _streams(device: str | None) -> tuple[BinaryIO, BinaryIO]:
    """Protocol reader and writer; stdout (fd 1) is then pointed at stderr so stray prints stay off the wire."""
    if device is not None:
        fd = os.open(device, os.O_RDWR | os.O_NOCTTY)
        reader, writer = os.fdopen(fd, "rb", buffering=1 << 16), os.fdopen(os.dup(fd), "wb", buffering=1 << 16)
    else:
        reader = os.fdopen(os.dup(0), "rb", buffering=1 << 16)
        writer = os.fdopen(os.dup(1), "wb", buffering=1 << 16)
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return reader, writer


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through serve(), which shuts the target down


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: serve until ``bye`` or end of input; 0 on a clean end."""
    args = parse_args(argv)
    try:
        reader, writer = _streams(args.device)
    except OSError as exc:
        print(f"conformance.agent: cannot open --device {args.device!r}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.device is not None:
            serve(backend_factory(args.backend, args.profile), _AwaitHost(reader, args.wait_host), writer,
                  backend=args.backend)
        else:
            serve(backend_factory(args.backend, args.profile), reader, writer, backend=args.backend)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
