"""The ``differential`` subcommand: the lockstep differential of the model against a kernel, for daemon authors.

    mroute-conformance differential --target linux-vm --kernel debian:6.12 --examples 500 [--seed N]

Hypothesis draws ``--examples`` random call/packet sequences; each is applied to the reference model
(LINUX profile) and to the kernel in lockstep. Every disagreement is recorded and the run goes on;
at the end each kind of difference is minimised (step deletion, replayed on both) and printed as a
ready-to-paste scenario. Exit 0: no difference; 1: differences; 2: bad usage; 3: kernel unreachable.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from conformance.errors import report_error
from conformance.targets.base import Target, TargetUnavailable

TARGETS = ("linux-vm", "linux", "reference")
MAX_MINIMISED = 8  # kinds of difference minimised and printed in full (the rest: counted)


def _positive(value: str) -> int:
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(f"invalid count {value!r}; valid: a whole number, 1 or more")


def _seconds(value: str) -> float:
    try:
        got = float(value)
    except ValueError:
        got = -1.0
    if got > 0:
        return got
    raise argparse.ArgumentTypeError(f"invalid time {value!r}; valid: a number of seconds above 0")


def _seed(value: str) -> int:
    if value.isdigit():
        return int(value)
    raise argparse.ArgumentTypeError(f"invalid seed {value!r}; valid: a whole number, 0 or more")


def add_differential(commands: argparse._SubParsersAction) -> None:
    """Register ``differential``: the model against a kernel in lockstep, differences as scenarios."""
    from conformance.differential.lockstep import DEFAULT_BUDGET_S

    parser = commands.add_parser("differential", allow_abbrev=False,
                                 help="random call sequences on the model and a kernel in lockstep; differences as scenarios")
    parser.add_argument("--target", default="linux-vm", choices=TARGETS,
                        help="the kernel side: linux-vm (a Debian kernel under qemu), linux (this host's kernel), "
                        "reference (the model itself: a self-check and a speed baseline); default linux-vm")
    parser.add_argument("--kernel", metavar="SPEC", help="linux-vm: the kernel to boot (debian:X.Y, host, or a path; default debian:6.12)")
    parser.add_argument("--vm-accel", choices=("auto", "kvm", "tcg"), help="linux-vm: qemu accelerator (default auto)")
    parser.add_argument("--examples", type=_positive, default=100, metavar="N", help="examples to draw (default 100)")
    parser.add_argument("--steps", type=_positive, default=12, metavar="N", help="rules per example at most (default 12)")
    parser.add_argument("--seed", type=_seed, metavar="N", help="hypothesis seed (default: a fresh random one, printed)")
    parser.add_argument("--budget", type=_seconds, default=DEFAULT_BUDGET_S, metavar="S",
                        help=f"an example running longer is rejected, never compared: the kernel's 3 s rate limit "
                        f"(default {DEFAULT_BUDGET_S})")
    parser.set_defaults(func=cmd_differential, valid_options=", ".join(
        o for a in parser._actions if a.help != argparse.SUPPRESS for o in a.option_strings))


def _kernel_target(args: argparse.Namespace) -> Target:
    """The kernel side named on the command line (``TargetUnavailable`` when it cannot run here)."""
    if args.target == "linux-vm":
        from conformance.targets.vm.target import LinuxVmTarget

        return LinuxVmTarget(args.kernel, args.vm_accel)
    if args.target == "linux":
        from conformance.targets.linux import LinuxTarget

        return LinuxTarget()
    from conformance.targets.reference import ReferenceTarget
    from reference_impl.profiles import LINUX

    return ReferenceTarget(LINUX)


def kind(d: object) -> str:
    """What kind of difference ``d`` is: the disagreeing call and what differed, numbers left out."""
    from conformance.differential.lockstep import Disagreement

    assert isinstance(d, Disagreement)
    what = sorted({re.sub(r"\d+", "#", p.split(":", 1)[0]) for p in d.problems})
    return f"{type(d.ops[-1]).__name__}: {', '.join(what)}"


def _paste_ready(scenario: str, args: argparse.Namespace) -> str:
    """``scenario`` with its last line running it on the same kernel side as this run."""
    if args.target == "linux-vm":
        spec = args.kernel or "debian:6.12"
        return scenario.replace("\nrun_both(scenario)\n", "\nfrom conformance.targets.vm.target import LinuxVmTarget\n"
                                f"run_both(scenario, kernel=LinuxVmTarget({spec!r}))\n")
    if args.target == "reference":
        return scenario.replace("\nrun_both(scenario)\n", "\nfrom conformance.targets.reference import ReferenceTarget\n"
                                "from reference_impl.profiles import LINUX\n"
                                "run_both(scenario, kernel=ReferenceTarget(LINUX))\n")
    return scenario


def cmd_differential(args: argparse.Namespace, extra: list[str]) -> int:
    """Run, report, exit 0 (agree), 1 (differences), 2 (usage), 3 (kernel unreachable)."""
    if extra:
        return report_error(f"differential takes no extra arguments: {' '.join(extra)}")
    if (args.kernel or args.vm_accel) and args.target != "linux-vm":
        return report_error(f"--kernel and --vm-accel apply to --target linux-vm, not {args.target!r}")
    import random

    from hypothesis import HealthCheck, settings

    from conformance.differential.lockstep import minimise
    from conformance.differential.machine import collect
    from conformance.targets.reference import ReferenceTarget
    from reference_impl.profiles import LINUX

    seed = args.seed if args.seed is not None else random.randrange(2**32)
    try:
        kernel = _kernel_target(args)
    except TargetUnavailable as exc:
        print(f"mroute-conformance: untested: the kernel is unreachable: {exc}", file=sys.stderr)
        return 3
    try:
        described = kernel.info().details
        release = described.get("kernel") or ""
        print(f"differential: reference model (linux profile) vs {kernel.name} {release}, "
              f"{args.examples} examples of up to {args.steps} rules, seed {seed}", flush=True)
        config = settings(max_examples=args.examples, stateful_step_count=args.steps, deadline=None, database=None,
                          suppress_health_check=list(HealthCheck))
        model = ReferenceTarget(LINUX)
        started = time.monotonic()
        stats = collect(model, kernel, config, budget_s=args.budget, seed=seed)
        took = time.monotonic() - started
        compared = stats.examples - stats.too_slow
        print(f"{stats.examples} examples ({stats.steps} steps, {stats.steps / max(stats.examples, 1):.1f} per example) "
              f"in {took:.1f} s: {stats.examples / took:.2f} examples/s; {stats.too_slow} rejected as too slow "
              f"(over {args.budget} s), longest {stats.longest_s:.2f} s", flush=True)
        if compared <= 0:
            print("mroute-conformance: untested: every example ran past the time budget", file=sys.stderr)
            return 3
        groups: dict[str, list] = {}
        for d in stats.found:
            groups.setdefault(kind(d), []).append(d)
        if not groups:
            print(f"no difference in {compared} compared examples (seed {seed})")
            return 0
        print(f"{len(stats.found)} disagreeing examples, {len(groups)} kinds of difference (seed {seed}):")
        for i, (name, found) in enumerate(sorted(groups.items(), key=lambda kv: -len(kv[1]))):
            print(f"\n== difference {i + 1}: {name} ({len(found)} examples)")
            if i >= MAX_MINIMISED:
                print(_paste_ready(found[0].scenario, args))
                continue
            smallest = min(found, key=lambda d: len(d.ops))
            print(_paste_ready(minimise(model, kernel, smallest, budget_s=args.budget).scenario, args))
        return 1
    except KeyboardInterrupt:
        print("mroute-conformance: interrupted", file=sys.stderr)
        return 130
    finally:
        kernel.shutdown()
