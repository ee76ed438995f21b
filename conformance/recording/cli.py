"""The ``record`` subcommand: record routing daemons in the linux-vm into fixtures of kind ``recording``.

record [--kernel SPEC] [--kit DIR] [RUN ...]          the built-in runs (scenarios.RUNS; default all)
record --list                                         name and description of each built-in run
record --name D/N --config FILE [--send PORT:GROUP ...] [--package PKG] -- ARGV...
                                                      any daemon: ARGV ({config}, {workdir} filled in)
Bad input is one line on stderr and exit 2; a run that fails leaves the kit's other files alone.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from pathlib import Path

from conformance.errors import report_error
from conformance.recording import DEFAULT_KIT
from conformance.recording.scenarios import RUNS, DaemonRun, Stimulus

NAME = re.compile(r"^[a-z0-9]+/[A-Za-z0-9._-]+$")


def add_record(commands: argparse._SubParsersAction) -> None:
    """Register ``record``."""
    parser = commands.add_parser("record", allow_abbrev=False,
                                 help="record routing daemons (smcroute, ...) in the linux-vm as replayable fixtures")
    parser.add_argument("runs", nargs="*", metavar="RUN", help="built-in runs to record (default: all; see --list)")
    parser.add_argument("--kernel", default="debian:6.12", metavar="SPEC", help="the VM's kernel (default debian:6.12)")
    parser.add_argument("--kit", default=str(DEFAULT_KIT), metavar="DIR",
                        help="kit root receiving fixtures/ and pcaps/ (default: the project's recordings/)")
    parser.add_argument("--list", action="store_true", help="list the built-in runs")
    parser.add_argument("--name", metavar="DAEMON/NAME", help="a custom run's name (with -- ARGV)")
    parser.add_argument("--config", metavar="FILE", help="a custom run's configuration file ({config} in ARGV)")
    parser.add_argument("--send", action="append", default=[], metavar="PORT:GROUP",
                        help="a custom run: send one UDP datagram from the tester on PORT to GROUP (repeatable)")
    parser.add_argument("--package", metavar="PKG", help="a custom run: the Debian package whose version is recorded")
    parser.set_defaults(func=cmd_record, valid_options=", ".join(
        o for a in parser._actions for o in a.option_strings))


def _stimulus(text: str) -> Stimulus:
    port, sep, group = text.partition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--send {text!r}: expected PORT:GROUP, e.g. 0:232.1.1.1")
    addr = ipaddress.ip_address(group)
    ok = (addr.version == 4 and addr in ipaddress.ip_network("232.0.0.0/8")) or (
        addr.version == 6 and addr in ipaddress.ip_network("ff3e::/16"))
    if not ok:
        raise ValueError(f"--send {text!r}: groups must be in 232.0.0.0/8 or ff3e::/16")
    return Stimulus(int(port), group, addr.version)


def _custom(args: argparse.Namespace, argv: list[str]) -> DaemonRun:
    if not args.name or not NAME.match(args.name):
        raise ValueError("a custom run (-- ARGV) needs --name DAEMON/NAME (letters, digits, ._-)")
    if not args.config:
        raise ValueError("a custom run (-- ARGV) needs --config FILE")
    try:
        config = Path(args.config).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--config {args.config}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    stimuli = tuple(_stimulus(s) for s in args.send)
    return DaemonRun(args.name, f"{argv[0]} run recorded with mroute-conformance record", args.package or argv[0],
                     tuple(argv), config, stimuli)


def cmd_record(args: argparse.Namespace, extra: list[str]) -> int:
    """0 when every run was recorded; 2 with one line on bad input or when the VM cannot run."""
    if args.list:
        for run in RUNS.values():
            print(f"{run.name:22} {run.description}")
        return 0
    try:
        if extra:
            if args.runs:
                raise ValueError("give built-in RUN names or a custom -- ARGV, not both")
            runs = [_custom(args, extra)]
        else:
            unknown = [r for r in args.runs if r not in RUNS]
            if unknown:
                raise ValueError(f"unknown run {unknown[0]!r}; built-in runs: {', '.join(RUNS)}")
            runs = [RUNS[r] for r in args.runs] if args.runs else list(RUNS.values())
    except ValueError as exc:
        return report_error(f"record: {exc}")
    if any(s.port >= 4 for run in runs for s in run.stimuli):
        return report_error("record: --send PORT must be 0..3 (the VM's router has 4 ports)")
    from conformance.recording.run import record_all
    from conformance.targets.base import TargetUnavailable

    try:
        written = record_all(runs, args.kernel, Path(args.kit))
    except TargetUnavailable as exc:
        return report_error(f"record: the linux-vm cannot run: {exc}")
    except RuntimeError as exc:
        return report_error(f"record: {exc}")
    for path in written:
        print(f"wrote {path}")
    return 0
