"""``mroute-conformance targets``: list the registered targets, or check that one loads and builds.

Lists the builtins and every ``mroute_conformance.targets`` entry point (name, description, where
from) and the agent transports. ``--check SPEC`` builds the target once (class is a Target,
constructor runs) and shuts it down: exit 0 when it built, 1 when it cannot run here, 2 on a bad
spec; always one line on error.
"""

from __future__ import annotations

import argparse
import sys

from conformance.agent.protocol import one_line
from conformance.errors import report_error
from conformance.targets import entrypoints, registry, remote

TRANSPORTS = {
    "stdio:COMMAND": "an agent spawned here, speaking on its stdin/stdout (docs/agent-protocol.md)",
    "tcp:HOST:PORT": "an agent listening on a TCP port",
    "ssh:[USER@]HOST[:PORT]": "the standalone agent run over ssh (options: " + ", ".join(remote.SSH_OPTIONS) + ")",
    "serial:PATH": "an agent on a serial line, pty or unix socket (alias device:PATH; option: baud)",
}


def target_rows() -> list[tuple[str, str, str]]:
    """(name, description, origin) of every registered target; a broken one says why in one line."""
    rows = []
    for entry in entrypoints.discover().values():
        try:
            description = entrypoints.describe(entrypoints.load_class(entry.name, entry.value))
        except entrypoints.TargetLoadError as exc:
            description = f"(cannot load: {exc})"
        rows.append((entry.name, description, f"{entry.origin} ({entry.value})"))
    return rows


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    width = max(len(name) for name, _, _ in rows)
    return [f"  {name:<{width}}  {text}  [{origin}]" if origin else f"  {name:<{width}}  {text}" for name, text, origin in rows]


def cmd_targets(args: argparse.Namespace, extra: list[str]) -> int:
    """Print the targets, or build ``--check``'s target once."""
    try:
        options = registry.parse_target_options(args.target_opt)
        if args.check:
            return _check(args.check, args.profile, options)
    except registry.UsageError as exc:
        return report_error(str(exc))
    lines = ["targets (--target NAME):", *_table(target_rows()), "", "agents (--target SPEC):"]
    lines += _table([(spec, text, "") for spec, text in TRANSPORTS.items()])
    print("\n".join(lines))
    return 0


def _check(spec: str, profile: str | None, options: dict[str, str]) -> int:
    try:
        target = registry.build_target(spec, profile, options)
    except registry.UsageError:
        raise
    except Exception as exc:
        reason = registry.unavailable_reason(exc)
        text = f"unavailable: {reason}" if reason is not None else f"cannot be built: {type(exc).__name__}: {exc}"
        print(one_line(f"{spec}: {text}"), file=sys.stderr)
        return 1
    try:
        info = target.info()
        print(f"{spec}: ok: {type(target).__name__}, profile {target.profile.name}, {len(target.ports)} ports, info name {info.name!r}")
    finally:
        target.shutdown()
    return 0


def add_targets(commands: argparse._SubParsersAction) -> None:
    """Register the ``targets`` subcommand."""
    parser = commands.add_parser(
        "targets", allow_abbrev=False, help="list the targets (builtin and entry points), or --check one"
    )
    parser.add_argument("--check", metavar="SPEC", help="build target SPEC once and shut it down (a name, MODULE:CLASS or agent spec)")
    parser.add_argument("--profile", default=None, help="with --check: the profile to build with")
    parser.add_argument(
        "--target-opt", action="append", default=[], metavar="KEY=VALUE", help="with --check: a per-target setting (repeatable)"
    )
    parser.set_defaults(func=cmd_targets, valid_options="--check, --profile, --target-opt")
