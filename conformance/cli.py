"""The ``mroute-conformance`` command: run the suite, list the clause catalog with coverage.

Exit codes of ``run`` (its verdict, in results.json as ``verdict``; docs/results.md):
  0    pass: tests passed on the target and none failed
  1    fail: a test failed, errored or passed unexpectedly (or pytest itself broke)
  2    usage error or bad input: one line on stderr, never a traceback, the previous report kept
  3    untested: the target could not be reached, or no test passed (all skip/unsupported/none)
  130  interrupted (SIGINT/SIGTERM): partial results.json with verdict "interrupted"
``clauses``: 0 when every clause is covered, else 1. Arguments after ``--`` go to pytest unchanged."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import NoReturn

import pytest

from conformance import verdict
from conformance.adapters import check_adapter
from conformance.agent.script import add_agent_script
from conformance.differential.cli import add_differential
from conformance.errors import PROG, UsageError, report_error
from conformance.interrupts import Interrupts, child_env
from conformance.recording.cli import add_record
from conformance.report.commands import (
    REPORT_NAME,
    add_expectations,
    add_profile_match,
    add_report,
    expectation_options,
    finish_run,
    previous_of,
)
from conformance.report.html import write_report
from conformance.report.identity import COMMAND_ENV
from conformance.report.profiles_cmd import add_profiles
from conformance.report.staging import Stage, StageError
from conformance.report.text import clause_table, run_summary
from conformance.results import set_verdict, suite_version
from conformance.targets import registry
from conformance.targets.listing import add_targets
from conformance.targets.vm.cli import add_kernels
from mroute_spec.catalog import load_catalog
from reference_impl.profile_files import is_profile_file

SUITE = "conformance.suite"
DEFAULT_SEED = 0  # hypothesis seed of a default run: reproducible unless --randomize
Command = Callable[
    [argparse.Namespace, list[str]], int
]  # a subcommand handler: (args, pytest extras) -> exit


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
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
    parser.add_argument("--profile", default=None,
                        help="profile name, or a profile file NAME.toml (default: the target's own)")
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
    run.add_argument(
        "--clause", action="append", default=[], metavar="PATTERN",
        help="only the tests of matching clauses: an ID (mfc.rpf), a group (bw) or a glob (bw.leq-*); repeatable",
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
    run.add_argument(
        "--kernel",
        action="append",
        metavar="SPEC",
        help="linux-vm: the kernel to boot (debian:X.Y, host, or a bzImage/vmlinux path; default debian:6.12); "
        "repeat for a matrix: one run per kernel in DIR/<kernel>/, then DIR/matrix.html",
    )
    run.add_argument("--vm-accel", choices=("auto", "kvm", "tcg"), help="linux-vm: qemu accelerator (default auto)")
    run.add_argument(
        "--allure-html",
        action="store_true",
        help="also render Allure 3's single-file report into DIR/allure-report (needs the npm package allure@3)",
    )
    seeds = run.add_mutually_exclusive_group()
    seeds.add_argument(
        "--hypothesis-seed",
        type=_seed,
        default=DEFAULT_SEED,
        metavar="N",
        help=f"seed of the hypothesis-drawn examples (default {DEFAULT_SEED}: every run draws the same)",
    )
    seeds.add_argument(
        "--randomize",
        action="store_true",
        help="draw fresh hypothesis examples (a random seed, printed and recorded so it can be repeated)",
    )
    run.add_argument("--target-opt", action="append", default=[], metavar="KEY=VALUE", help="a per-target setting (repeatable)")
    run.set_defaults(func=cmd_run, valid_options=_visible_options(run))


def _seed(value: str) -> int:
    if value.isdigit():
        return int(value)
    raise argparse.ArgumentTypeError(f"invalid seed {value!r}; valid: a whole number, 0 or more")


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
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:benchmark"]  # nothing in cwd
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
    if args.profile and is_profile_file(args.profile):  # the pytest process and its workers read it
        args.profile = str(Path(args.profile).resolve())
    try:
        check_adapter(args.target)
        registry.resolve_profile(args.target, args.profile, registry.parse_target_options(args.target_opt))
    except registry.UsageError as exc:
        raise UsageError(str(exc)) from None


def _check_clauses(patterns: list[str]) -> None:
    """Every --clause pattern must name some clause: checked before the report directory is touched."""
    from mroute_spec.catalog.select import NoSuchClause, select

    try:
        select(patterns)
    except NoSuchClause as exc:
        raise UsageError(str(exc)) from None


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the suite; write DIR/results.json, DIR/report.html, DIR/junit.xml and DIR/allure-results.

    Everything is checked first and written into a staging sibling of DIR, moved into place at the
    end: bad input, or a second Ctrl-C, leaves the previous report as it was.
    """
    _check_target(args)
    _check_clauses(args.clause)
    if (args.kernel or args.vm_accel) and args.target != "linux-vm":
        raise UsageError(f"--kernel and --vm-accel apply to --target linux-vm, not {args.target!r}")
    if args.kernel and len(set(args.kernel)) > 1:
        return _run_kernel_matrix(args, extra)
    if args.allure_html:
        _allure_available()
    expectations = expectation_options(args.expectations)
    try:
        stage = Stage(Path(args.report_dir))
    except StageError as exc:
        raise UsageError(str(exc)) from None
    interrupted_line = f"{PROG}: interrupted: stopped at once; the previous report in {args.report_dir} is unchanged"
    with Interrupts(on_abort=stage.abandon, abort_line=interrupted_line) as interrupts:
        try:
            document = _run_staged(args, extra, stage.path, expectations, interrupts)
        except BaseException:
            stage.discard()
            raise
        if document is None:
            stage.discard()
            return verdict.EXIT_INTERRUPTED if interrupts.interrupted else verdict.EXIT_FAIL
        stage.publish()
    report_dir = Path(args.report_dir)
    print("\n".join(run_summary(document, str(report_dir / "results.json"))))
    print(f"report: {report_dir / REPORT_NAME}")
    return _run_verdict(document)


def _run_staged(
    args: argparse.Namespace, extra: list[str], stage: Path, expectations: list[str], interrupts: Interrupts
) -> dict | None:
    """Run pytest (and the deviation passes) into ``stage``; the final results, or None if none."""
    results, junit, allure = (stage / name for name in ("results.json", "junit.xml", "allure-results"))
    options = [f"--mroute-results={results}", f"--junitxml={junit}", *expectations]
    if find_spec("allure_pytest") is not None:
        options.append(f"--alluredir={allure}")
    if args.keyword:
        options += ["-k", args.keyword]
    options += [f"--mroute-clause={pattern}" for pattern in args.clause]
    if args.workers is not None:
        options += ["-n", args.workers]
    if args.kernel:
        options.append(f"--mroute-kernel={args.kernel[0]}")
    if args.vm_accel:
        options.append(f"--mroute-vm-accel={args.vm_accel}")
    seed = args.hypothesis_seed = secrets.randbelow(2**32) if args.randomize else args.hypothesis_seed
    options.append(f"--hypothesis-seed={seed}")
    print(f"hypothesis seed: {seed} (repeat with --hypothesis-seed {seed})", flush=True)
    env = {**child_env(str(stage)), COMMAND_ENV: getattr(args, "command_line", "")}
    rc = interrupts.run(_pytest_command(args, *options, *extra), env=env).returncode
    if rc == pytest.ExitCode.USAGE_ERROR and not interrupts.interrupted:
        raise UsageError(f"pytest rejected the arguments (exit {rc}); see its message above")
    if not results.exists():
        word = "interrupted" if interrupts.interrupted else "fail"
        print(f"{PROG}: {word}: pytest exited with {rc} and wrote no results.json", file=sys.stderr)
        return None
    document = _final_verdict(json.loads(results.read_text(encoding="utf-8")), rc, interrupts)
    results.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    document = finish_run(
        args, document, results, lambda opts: interrupts.run(_pytest_command(args, *opts, *extra), True, env)
    )
    before = verdict.of(document)
    if verdict.of(_final_verdict(document, rc, interrupts)) != before:  # interrupted meanwhile
        results.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        write_report(document, stage / REPORT_NAME, results, previous_of(args))
    if args.allure_html and not interrupts.interrupted and _render_allure(args, stage, document):
        write_report(document, stage / REPORT_NAME, results, previous_of(args))  # now linking the Allure page
    return document


def _allure_available() -> None:
    """--allure-html needs Allure 3: checked before anything runs (a usage error, one line)."""
    from conformance.report.allure_html import AllureError, find_allure

    try:
        find_allure()
    except AllureError as exc:
        raise UsageError(f"--allure-html: {exc}") from None


def _render_allure(args: argparse.Namespace, stage: Path, document: dict) -> bool:
    """DIR/allure-report/index.html from the run's allure-results, with history kept beside DIR."""
    from conformance.report.allure_html import AllureError, render

    target = document.get("target") or {}
    history = Path(args.report_dir).resolve().parent / f".{Path(args.report_dir).name}.allure-history.jsonl"
    try:
        index = render(stage / "allure-results", stage / "allure-report", history=history,
                       name=f"mroute-conformance: {target.get('name')} ({target.get('profile')})")
    except AllureError as exc:  # the run's verdict stands; the extra page is only missing
        print(f"{PROG}: warning: --allure-html: {exc}", file=sys.stderr)
        return False
    print(f"allure report: {Path(args.report_dir) / index.relative_to(stage)}")
    return True


def _run_kernel_matrix(args: argparse.Namespace, extra: list[str]) -> int:
    """``run --target linux-vm --kernel A --kernel B``: one full run per kernel, then matrix.html."""
    from conformance.targets.vm import matrix

    options = ["--hypothesis-seed", str(args.hypothesis_seed)] if not args.randomize else ["--randomize"]
    for flag, value in (("-k", args.keyword), ("--expectations", args.expectations),
                        ("--vm-accel", args.vm_accel), ("--profile", args.profile)):
        if value:
            options += [flag, value]
    options += [f"--clause={pattern}" for pattern in args.clause]
    options += ["--deviations"] * args.deviations + ["--allure-html"] * args.allure_html
    specs = list(dict.fromkeys(args.kernel))
    return matrix.run_matrix(specs, Path(args.report_dir), args.workers, extra, options)


def _final_verdict(document: dict, rc: int, interrupts: Interrupts) -> dict:
    """results.json's verdict, made ``interrupted`` after a signal and ``fail`` if pytest crashed."""
    if verdict.of(document) == verdict.INTERRUPTED:
        return document
    if interrupts.interrupted:
        return set_verdict(document, verdict.INTERRUPTED)
    stopped_early = rc == pytest.ExitCode.INTERRUPTED and verdict.of(document) != verdict.PASS  # -x, collection
    if rc not in FINISHED and not stopped_early:  # pytest crashed: never a pass
        set_verdict(document, verdict.FAIL)
        document["verdict_reason"] = f"pytest ended abnormally (exit {rc}); results are incomplete"
    return document


# pytest exits that mean the session ran to its end (the verdict is then results.json's)
FINISHED = (
    pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED, verdict.PYTEST_UNTESTED,
)


def _run_verdict(document: dict) -> int:
    """The exit code of the run's verdict; any verdict but pass also gets one line on stderr saying why."""
    word = verdict.of(document)
    if word != verdict.PASS:
        why = document.get("verdict_reason") or verdict.reason(document)
        print(f"{PROG}: {word}: {why}", file=sys.stderr)
    return verdict.EXIT_CODES[word]


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
        args.command_line = shlex.join([PROG, *(sys.argv[1:] if argv is None else argv)])
        return args.func(args, extra)
    except UsageError as exc:
        return report_error(str(exc))
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly (Python docs, signal)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0


def _add_bench(commands: argparse._SubParsersAction) -> None:
    """``bench [--quick] [--linux]``: declared here so other commands never import ``benchmarks``."""
    bench = commands.add_parser("bench", allow_abbrev=False, help="measure the model (and the linux target)")
    bench.add_argument("--quick", action="store_true", help="skip the 10^6-entry table (about 30 s)")
    bench.add_argument("--linux", action="store_true", help="also measure the linux target (needs root)")
    bench.set_defaults(func=_cmd_bench, valid_options=_visible_options(bench))


def _cmd_bench(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the benchmarks (benchmarks/cli.py)."""
    from benchmarks.cli import cmd_bench

    return cmd_bench(args, extra)


def _add_fixtures(commands: argparse._SubParsersAction) -> None:
    from conformance.fixtures.cli import add_export, add_replay

    add_export(commands)
    add_replay(commands)


SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_run, _add_clauses, _add_bench, add_report, add_profile_match, add_expectations, _add_fixtures,
    add_kernels, add_targets, add_profiles, add_agent_script, add_differential, add_record,
)

if __name__ == "__main__":
    sys.exit(main())
