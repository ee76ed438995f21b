"""CLI pieces for expectations and reports.

``run`` uses :func:`expectation_options` and :func:`finish_run` (the deviation pass, report.html);
the ``report``, ``profile-match`` and ``expectations`` subcommands are registered in
``conformance.cli.SUBCOMMANDS``. Handlers raise ``conformance.errors.UsageError`` (exit 2).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance.errors import UsageError
from conformance.expectations import ExpectationsError, load
from conformance.expectations.update import file_from_results
from conformance.expectations.wiring import NONE
from conformance.report import deviations
from conformance.report.html import write_report
from conformance.results import SCHEMA
from conformance.targets import registry

# pytest options -> the finished process (output captured): how a deviation pass is run
RunPytest = Callable[[list[str]], subprocess.CompletedProcess]
REPORT_NAME = "report.html"
DEVIATIONS_DIR = "deviations"


def _usage(message: str) -> Exception:
    return UsageError(message)


def _options(parser: argparse.ArgumentParser) -> str:
    return ", ".join(o for a in parser._actions if a.help != argparse.SUPPRESS for o in a.option_strings)


def expectation_options(value: str | None) -> list[str]:
    """The pytest options for ``run --expectations FILE`` (the file checked first: bad is exit 2)."""
    if value is None:
        return []
    if value != NONE:
        try:
            load(value)
        except ExpectationsError as exc:
            raise _usage(str(exc)) from None
        value = str(Path(value).resolve())
    return [f"--mroute-expectations={value}"]


def finish_run(args: argparse.Namespace, document: dict[str, Any], results: Path, run_pytest: RunPytest) -> dict:
    """After the suite ran: the deviation pass when asked (into results.json), then report.html
    (both beside ``results``, in the run's staging directory)."""
    workdir = results.parent / DEVIATIONS_DIR
    shutil.rmtree(workdir, ignore_errors=True)
    if args.deviations:
        document = _record_deviations(args, document, workdir, run_pytest)
        results.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    write_report(document, results.parent / REPORT_NAME, results, previous_of(args))
    if document.get("expectations"):
        print(expectations_line(document["expectations"]))
    return document


def previous_of(args: argparse.Namespace) -> Path:
    """The results.json of the run before this one: still in the report directory until publishing."""
    return Path(args.report_dir) / "results.json"


def expectations_line(section: dict[str, Any]) -> str:
    """One line on what the expectations file did in this run."""
    counts = {r: sum(a["result"] == r for a in section["applied"]) for r in ("expected-fail", "unexpected-pass", "mismatch")}
    done = ", ".join(f"{n} {r}" for r, n in counts.items())
    return f"expectations: {section['file']} ({section['entries']} entries): {done}, {len(section['unused'])} judged no test"


def _record_deviations(
    args: argparse.Namespace, document: dict[str, Any], workdir: Path, run_pytest: RunPytest
) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    common = ["-q", "--mroute-expectations=none", f"--hypothesis-seed={args.hypothesis_seed}"]  # as the main run
    if args.keyword:
        common += ["-k", args.keyword]
    if args.workers is not None:
        common += ["-n", args.workers]

    def run_variant(name: str, path: Path) -> int:
        done = run_pytest([*common, f"--mroute-deviation-profile={name}", f"--mroute-results={path}"])
        last = (done.stdout.strip().splitlines() or [""])[-1]
        print(f"deviation pass, profile {name} (a failure is a difference from {name}, not a run failure): {last}")
        if not path.exists():
            sys.stderr.write(done.stdout + done.stderr)
        return done.returncode

    own = registry.resolve_profile(args.target, args.profile)
    register, problems = deviations.collect(run_variant, workdir, own, document)
    if register["from_main_run"]:
        print(f"deviation pass, profile {register['from_main_run']}: the main run (the target's own profile)")
    for problem in problems:
        print(f"deviation pass: {problem}", file=sys.stderr)
    ranked = ", ".join(f"{r['profile']} {r['agree']}/{r['agree'] + r['disagree']}" for r in register["ranking"])
    print(f"profile match (clauses agreeing/observed): {ranked}")
    return {**document, "deviations": register}


def load_results(path: str) -> dict[str, Any]:
    """A results.json document, or a usage error naming what is wrong with the file."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise _usage(f"cannot read {path!r}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise _usage(f"{path!r} is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise _usage(f"{path!r} is not a results.json (schema {SCHEMA!r})")
    return document


def cmd_report(args: argparse.Namespace, extra: list[str]) -> int:
    """Write report.html for a results.json."""
    document = load_results(args.results)
    out = Path(args.output) if args.output else Path(args.results).with_name(REPORT_NAME)
    print(f"report: {write_report(document, out, Path(args.results))}")
    return 0


def cmd_profile_match(args: argparse.Namespace, extra: list[str]) -> int:
    """Rank the known profiles by agreement with the target (needs a run with --deviations)."""
    document = load_results(args.results)
    if not document.get("deviations"):
        print(f"{args.results}: no deviation register; run 'mroute-conformance run --deviations'", file=sys.stderr)
        return 1
    print("\n".join(deviations.match_lines(document)))
    return 0


def cmd_expectations(args: argparse.Namespace, extra: list[str]) -> int:
    """Write an expectations file from a run: its failures, each with its message as the reason."""
    document = load_results(args.update)
    as_json = bool(args.output and args.output.endswith(".json"))
    text = file_from_results(document, args.update, as_json=as_json)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"expectations: {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def add_report(commands: argparse._SubParsersAction) -> None:
    """``report RESULTS [-o FILE]``."""
    parser = commands.add_parser("report", allow_abbrev=False, help="write report.html from a results.json")
    parser.add_argument("results", metavar="RESULTS", help="a results.json written by 'run'")
    parser.add_argument("-o", dest="output", metavar="FILE", help="output file (default: report.html beside RESULTS)")
    parser.set_defaults(func=cmd_report, valid_options=_options(parser))


def add_profile_match(commands: argparse._SubParsersAction) -> None:
    """``profile-match RESULTS``."""
    parser = commands.add_parser(
        "profile-match", allow_abbrev=False, help="rank the known profiles by agreement with a run's target"
    )
    parser.add_argument("results", metavar="RESULTS", help="a results.json written by 'run --deviations'")
    parser.set_defaults(func=cmd_profile_match, valid_options=_options(parser))


def add_expectations(commands: argparse._SubParsersAction) -> None:
    """``expectations --update RESULTS [-o FILE]``."""
    parser = commands.add_parser(
        "expectations", allow_abbrev=False, help="write an expectations file from a run's failures"
    )
    parser.add_argument("--update", required=True, metavar="RESULTS", help="the results.json to take failures from")
    parser.add_argument("-o", dest="output", metavar="FILE", help="write here (.json: JSON; else TOML) instead of stdout")
    parser.set_defaults(func=cmd_expectations, valid_options=_options(parser))
