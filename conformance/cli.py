"""The ``mroute-conformance`` command: run the suite, list the clause catalog with coverage.

Exit codes: 0 when every result is pass/unsupported/expected-fail/skip (``clauses``: every
clause covered), 1 otherwise, 2 on usage errors (always one line on stderr, never a traceback).
Arguments after ``--`` go to pytest unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from pathlib import Path

import pytest

from conformance import outcomes
from conformance.agent.script import add_agent_script
from conformance.catalog import load_catalog
from conformance.errors import PROG, report_error
from conformance.report.commands import (
    add_expectations,
    add_profile_match,
    add_report,
    expectation_options,
    finish_run,
)
from conformance.report.text import clause_table, run_summary
from conformance.results import suite_version
from conformance.targets import registry
from conformance.targets.listing import add_targets

SUITE = "conformance.suite"
Command = Callable[
    [argparse.Namespace, list[str]], int
]  # a subcommand handler: (args, pytest extras) -> exit


class UsageError(Exception):
    """A bad command line; its message is the one line shown to the user."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _workers(value: str) -> str:
    if value in ("auto", "logical") or (value.isdigit() and int(value) >= 0):
        return value
    raise argparse.ArgumentTypeError(
        f"invalid worker count {value!r}; valid: a number (0 or more), auto, logical"
    )


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target", default="reference", help=f"implementation under test: {registry.TARGET_CHOICES}"
    )
    parser.add_argument("--profile", default=None, help="profile name (default: the target's own)")
    parser.add_argument("--suite", default=SUITE, help=argparse.SUPPRESS)  # another test package or path


def _visible_options(parser: argparse.ArgumentParser) -> str:
    return ", ".join(
        opt for action in parser._actions if action.help != argparse.SUPPRESS for opt in action.option_strings
    )


def _add_run(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", allow_abbrev=False, help="run the suite against a target")
    _add_target_options(run)
    run.add_argument(
        "--report-dir",
        default="out",
        metavar="DIR",
        help="where results.json, report.html, junit.xml and allure-results go (default: out)",
    )
    run.add_argument(
        "-k", dest="keyword", metavar="EXPR", help="only tests matching the pytest -k expression"
    )
    run.add_argument("-n", dest="workers", type=_workers, metavar="N", help="parallel workers (pytest-xdist)")
    run.add_argument(
        "--expectations",
        metavar="FILE",
        help="known failures with reasons (docs/expectations.md); default: the builtin target's "
        "the kit's shipped expectations for the target, if any; 'none': no file",
    )
    run.add_argument(
        "--deviations",
        action="store_true",
        help="also re-run the implementation-defined/conflict clause tests under every known "
        "profile (the deviation register in results.json and report.html)",
    )
    run.add_argument("--target-opt", action="append", default=[], metavar="KEY=VALUE", help="a per-target setting (repeatable)")
    run.set_defaults(func=cmd_run, valid_options=_visible_options(run))


def _add_clauses(commands: argparse._SubParsersAction) -> None:
    clauses = commands.add_parser(
        "clauses", allow_abbrev=False, help="list the clause catalog with test coverage"
    )
    _add_target_options(clauses)
    clauses.add_argument("--target-opt", action="append", default=[], metavar="KEY=VALUE", help="a per-target setting (repeatable)")
    clauses.set_defaults(func=cmd_clauses, valid_options=_visible_options(clauses))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subcommand stores its handler (a ``Command``) as ``func``."""
    parser = _Parser(prog=PROG, allow_abbrev=False, description="Multicast routing API conformance suite.")
    parser.add_argument("--version", action="version", version=f"{PROG} {suite_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for add_command in SUBCOMMANDS:
        add_command(commands)
    return parser


def _suite_args(suite: str) -> list[str]:
    """A path as is; a package by name, rooted above its top package so test IDs read ``pkg/sub/test_x.py::``."""
    if Path(suite).exists():
        return [suite]
    try:
        spec = find_spec(suite)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(f"suite {suite!r} is neither a path nor an importable package")
    root = Path(next(iter(spec.submodule_search_locations))).resolve().parents[suite.count(".")]
    return ["--pyargs", suite, f"--rootdir={root}"]


def _pytest_command(args: argparse.Namespace, *options: str) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):  # the pytest11 entry point will not load it
        cmd += ["-p", "conformance.plugin"]
    cmd += [*_suite_args(args.suite), f"--mroute-target={args.target}"]
    if args.profile:
        cmd.append(f"--mroute-profile={args.profile}")
    cmd += [f"--mroute-target-opt={item}" for item in args.target_opt]
    return [*cmd, *options]


def _check_target(args: argparse.Namespace) -> None:
    if os.getcwd() not in sys.path:  # MODULE:CLASS resolves like it will in the pytest process
        sys.path.insert(0, os.getcwd())
    try:
        registry.resolve_profile(args.target, args.profile, registry.parse_target_options(args.target_opt))
    except registry.UsageError as exc:
        raise UsageError(str(exc)) from None


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the suite; write DIR/results.json, DIR/report.html, DIR/junit.xml and DIR/allure-results."""
    _check_target(args)
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    results, junit, allure = (report_dir / name for name in ("results.json", "junit.xml", "allure-results"))
    shutil.rmtree(allure, ignore_errors=True)
    results.unlink(missing_ok=True)
    junit.unlink(missing_ok=True)
    options = [f"--mroute-results={results}", f"--junitxml={junit}"]
    if find_spec("allure_pytest") is not None:
        options.append(f"--alluredir={allure}")
    if args.keyword:
        options += ["-k", args.keyword]
    if args.workers is not None:
        options += ["-n", args.workers]
    options += expectation_options(args.expectations)
    rc = subprocess.call(_pytest_command(args, *options, *extra))
    if rc == pytest.ExitCode.USAGE_ERROR:
        raise UsageError(f"pytest rejected the arguments (exit {rc}); see its message above")
    if not results.exists():
        print(f"{PROG}: pytest exited with {rc} and wrote no {results}", file=sys.stderr)
        return 1
    document = json.loads(results.read_text(encoding="utf-8"))
    document = finish_run(
        args, document, results,
        lambda opts: subprocess.run(_pytest_command(args, *opts, *extra), capture_output=True, text=True, check=False),
    )
    print("\n".join(run_summary(document, str(results))))
    return _run_verdict(document, rc)


def _run_verdict(document: dict, rc: int) -> int:
    """0 when tests ran to the end and all are pass/unsupported/expected-fail/skip, else 1.

    pytest's own "tests failed" is not decisive: outcomes such as expected-fail are ours to judge.
    """
    if not document["tests"]:
        print(f"{PROG}: no tests ran", file=sys.stderr)
        return 1
    acceptable = all(test["outcome"] in outcomes.ACCEPTABLE for test in document["tests"])
    finished = rc in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)  # not interrupted nor crashed
    return 0 if acceptable and finished else 1


def cmd_clauses(args: argparse.Namespace, extra: list[str]) -> int:
    """Print every catalog clause with its group, requirement and number of covering test cases."""
    _check_target(args)
    with tempfile.TemporaryDirectory(prefix="mroute-") as tmp:
        inventory = Path(tmp) / "inventory.json"
        cmd = _pytest_command(args, "--collect-only", "-q", f"--mroute-inventory={inventory}", *extra)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        tests = json.loads(inventory.read_text(encoding="utf-8"))["tests"] if inventory.exists() else []
    if done.returncode not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        sys.stderr.write(done.stdout + done.stderr)
        print(f"{PROG}: collecting the suite failed (pytest exit {done.returncode})", file=sys.stderr)
        return 1
    counts: dict[str, int] = {}
    for test in tests:
        for cid in test["clauses"]:
            counts[cid] = counts.get(cid, 0) + 1
    catalog = load_catalog()
    print("\n".join(clause_table(catalog, counts)))
    return 0 if all(counts.get(cid) for cid in catalog) else 1


def _split_extra(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    own, extra = _split_extra(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(own)
        if unknown:
            raise UsageError(
                f"unrecognized argument {unknown[0]!r} for '{args.command}'; "
                f"valid options: {args.valid_options}"
            )
        return args.func(args, extra)
    except UsageError as exc:
        return report_error(str(exc))
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0


def _add_bench(commands: argparse._SubParsersAction) -> None:
    from benchmarks.cli import add_bench

    add_bench(commands)


def _add_fixtures(commands: argparse._SubParsersAction) -> None:
    from conformance.fixtures.cli import add_export, add_replay

    add_export(commands)
    add_replay(commands)


SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_run, _add_clauses, _add_bench, add_report, add_profile_match, add_expectations, _add_fixtures,
    add_targets, add_agent_script,
)

if __name__ == "__main__":
    sys.exit(main())
