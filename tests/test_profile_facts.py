"""Every profile fact is load-bearing (issue 12 item 2): perturb one field of one profile, build the
reference model with the perturbed profile, judge it against the original, and require a failure
among the suite tests of the clauses that fact belongs to (mroute_spec.catalog.facts). Every
errno path a profile names must be asserted by some suite test (a static check).

The suite's tests are called in process (no pytest session per perturbation): the test functions
with their ``parametrize`` cases and ``clause`` marks, a Harness on the target as ``h``. Each run
stops at the first failure.
"""

from __future__ import annotations

import ast
import importlib
import itertools
import pkgutil
import re
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, get_type_hints

import pytest

import conformance.suite
from conformance.harness import Harness
from conformance.report.variants import ABI_FIELDS, fact_fields
from conformance.targets.reference import ReferenceTarget
from mroute_spec.catalog.facts import FACT_CLAUSES, covers
from reference_impl.profiles import PROFILES, Profile

SUITE = Path(conformance.suite.__file__).resolve().parent


@dataclass
class Case:
    """One suite test call: the function, its parameters, its clauses."""

    name: str
    func: Callable[..., Any]
    params: dict[str, Any]
    clauses: frozenset[str]


class _Request:
    """The little of pytest's ``request`` the suite uses: finalizers."""

    def __init__(self) -> None:
        self.finalizers: list[Callable[[], None]] = []

    def addfinalizer(self, fn: Callable[[], None]) -> None:
        self.finalizers.append(fn)


def _marks(obj: Any) -> list[Any]:
    return list(getattr(obj, "pytestmark", []))


def _expand(fn: Callable[..., Any]) -> Iterator[tuple[dict[str, Any], set[str]]]:
    """Every parameter combination of ``fn``'s parametrize marks, with clause marks of pytest.param."""
    axes = []
    for m in _marks(fn):
        if m.name != "parametrize":
            continue
        names = m.args[0] if not isinstance(m.args[0], str) else [n.strip() for n in m.args[0].split(",")]
        rows = []
        for value in m.args[1]:
            clauses: set[str] = set()
            if hasattr(value, "values") and hasattr(value, "marks"):  # pytest.param(...)
                clauses = {c for mk in value.marks if mk.name == "clause" for c in mk.args}
                values = tuple(value.values)
            else:
                values = tuple(value) if len(names) > 1 else (value,)
            rows.append((dict(zip(names, values, strict=True)), clauses))
        axes.append(rows)
    for combo in itertools.product(*axes):
        params: dict[str, Any] = {}
        clauses = set()
        for p, c in combo:
            params.update(p)
            clauses |= c
        yield params, clauses


def suite_cases() -> list[Case]:
    out = []
    for info in pkgutil.iter_modules([str(SUITE)]):
        if not info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"conformance.suite.{info.name}")
        for name, fn in vars(module).items():
            if not name.startswith("test_") or not callable(fn) or getattr(fn, "__module__", "") != module.__name__:
                continue
            base = {c for m in _marks(fn) if m.name == "clause" for c in m.args}
            for params, extra in _expand(fn):
                out.append(Case(f"{info.name}::{name}{params}", fn, params, frozenset(base | extra)))
    return out


CASES = suite_cases()


class Perturbed(ReferenceTarget):
    """The model runs ``model``; the tests see ``judged``."""

    def __init__(self, model: Profile, judged: Profile) -> None:
        super().__init__(model)
        self.profile = judged
        self._model = model
        self.kernel = self._new_kernel()

    def _new_kernel(self) -> Any:
        judged, self.profile = self.profile, getattr(self, "_model", self.profile)
        try:
            return super()._new_kernel()
        finally:
            self.profile = judged


def run_case(target: ReferenceTarget, case: Case) -> str:
    """'pass', 'fail' or 'unsupported' for one call of a suite test on a fresh target."""
    target.reset()
    h = Harness(target)
    request = _Request()
    kwargs = {**case.params}
    sig = case.func.__code__.co_varnames[: case.func.__code__.co_argcount]
    for name, value in (("h", h), ("request", request), ("target", target), ("profile", target.profile)):
        if name in sig:
            kwargs[name] = value
    try:
        case.func(**kwargs)
    except pytest.skip.Exception:
        return "unsupported"
    except (AssertionError, OSError):
        return "fail"
    finally:
        for fin in request.finalizers:
            try:
                fin()
            except OSError:
                pass
    return "pass"


def perturbations(profile: Profile, field: str) -> Any:
    """A different valid value of ``field``."""
    value = getattr(profile, field)
    hint = get_type_hints(Profile)[field]
    if getattr(hint, "__origin__", None) is typing.Literal:
        return next(v for v in typing.get_args(hint) if v != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value - 1 if value > 1 else value + 1
    if isinstance(value, float):
        return value + 0.5
    if value is None:
        if field == "nocache_expiry_tick":
            return 0.25
        return 1 if int in typing.get_args(hint) else frozenset({0})
    if isinstance(value, tuple) and value and all(isinstance(v, float) for v in value):
        # a window (earliest, latest): move it past its own width, so the new one does not overlap it
        return tuple(v + (max(value) - min(value)) + 0.5 for v in value)
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value):
        return (value[0] + 1, *value[1:])
    if isinstance(value, tuple):
        return tuple(reversed(value))
    if isinstance(value, frozenset):
        return frozenset(sorted(value)[:-1])
    raise AssertionError(f"no perturbation for {field}={value!r}")


FACTS = [f for f in fact_fields() if f != "errnos"]

# Facts no suite test can notice, per profile, each with why. The check fails when the list is
# wrong either way, so a new gap cannot creep in and a closed one must be removed.
# BSD profiles have no MRT_TABLE: its facts cannot show there (the option is absent, the tests unsupported)
NO_TABLES = ("table_id_limit4", "table_id_limit6", "table_checks4", "table_checks6", "default_table4", "default_table6")
# Facts the model never reads under BSD profiles, or that the suite must not probe there:
BSD_INERT = (
    "bw_upcalls_max",  # the header constant; the model's batching reads bw_message_max / bw_flush_at
    "nocache_expiry",  # with a tick the model expires by nocache_expiry_tick x ticks; this is their window
    # no "flags" step in add_vif_checks / add_mif_checks: the sets are never consulted (FreeBSD ignores
    # unknown flag bits, which test_flag_values_are_accepted_or_refused_as_the_profile_says asserts)
    "vif_flags_allowed", "mif_flags_allowed",
    # SIOCGETVIFCNT on a vif hole is a kernel hazard on FreeBSD MODERN (docs/spec/freebsd.md §3.11,
    # digest L522): the suite asks only profiles saying "errno"
    "vif_hole_counters",
)
# a missing test: only a datagram from 0.0.0.0/8 shows it, outside the address ranges suite clauses
# send from (the differential, whose wildcard draws send from 0.0.0.0, found the fact)
ZERONET = "v4_zeronet_source_dropped"
# interface removal the profile does not define ("not-modelled"): its tests end unsupported there
NO_IFREMOVAL4, NO_IFREMOVAL6 = "interface_removal4", "interface_removal6"
KNOWN_GAPS: dict[str, tuple[str, ...]] = {
    "documented": (*BSD_INERT, *NO_TABLES, ZERONET, NO_IFREMOVAL4, NO_IFREMOVAL6),
    "freebsd": (*BSD_INERT, *NO_TABLES, ZERONET, NO_IFREMOVAL6),
    "freebsd-legacy": (
        *BSD_INERT, *NO_TABLES, ZERONET, NO_IFREMOVAL6,
        "bw_flush_on_leq",  # the wheel flushes at its own 1 s runs: flush_on_leq is inert
    ),
    # netbsd: freebsd-legacy's design (docs/spec/netbsd.md), so freebsd-legacy's gaps and three more
    "netbsd": (
        *BSD_INERT, *NO_TABLES, ZERONET, NO_IFREMOVAL4, NO_IFREMOVAL6,
        "bw_flush_on_leq",  # the wheel flushes at its own 1 s runs: flush_on_leq is inert
        # inert by design: add_vif has no rate-limit check, and IPv4 WRONGVIF is not rate-limited
        "vif_rate_limit", "wrongvif_interval", "wrongvif_interval_strict",
    ),
    # linux lacks the advanced API (api_support None): the bw and Register facts are unreachable there
    "linux": (
        "bw_upcalls_max", "bw_message_max", "bw_flush_at", "bw_flush_on_leq", "bw_first_interval",
        "border_bit_from", "tmin", "bw_threshold_flush", "bw_leq_timer",
        "vif_rate_limit",  # no rate_limit step in add_vif_checks: vif_add never reads vifc_rate_limit
        "nocache_expiry_ticks",  # a one-shot timer (nocache_expiry_tick None): no tick count is used
        ZERONET,
    ),
}


def test_every_fact_is_mapped_to_clauses() -> None:
    assert sorted(set(FACTS) - set(FACT_CLAUSES)) == []
    assert sorted(set(FACT_CLAUSES) - set(FACTS)) == []
    assert "required_setup" in ABI_FIELDS


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_fact_is_noticed(name: str) -> None:
    profile = PROFILES[name]
    target = Perturbed(profile, profile)
    relevant = [c for c in CASES if any(covers(FACT_CLAUSES[f], cid) for f in FACTS for cid in c.clauses)]
    passing = {c.name for c in relevant if run_case(target, c) == "pass"}
    unnoticed = []
    for field in FACTS:
        try:
            changed = replace(profile, **{field: perturbations(profile, field)})
        except ValueError:
            continue
        target = Perturbed(changed, profile)
        cases = [c for c in relevant if c.name in passing and any(covers(FACT_CLAUSES[field], cid) for cid in c.clauses)]
        if not any(run_case(target, c) == "fail" for c in cases):
            unnoticed.append(f"{field}={getattr(profile, field)!r} -> {getattr(changed, field)!r} ({len(cases)} tests)")
    gaps = sorted(u.split("=")[0] for u in unnoticed)
    known = sorted(KNOWN_GAPS.get(name, ()))
    assert gaps == known, (f"profile {name}: facts no test notices (missing tests):\n  " + "\n  ".join(unnoticed)
                           + f"\nknown gaps (unobservable, see KNOWN_GAPS): {known}")


def _suite_patterns() -> list[re.Pattern[str]]:
    """Every string literal of the suite, as a pattern (an f-string's fields match any name part)."""
    out: list[re.Pattern[str]] = []
    for path in SUITE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.append(re.compile(re.escape(node.value)))
            elif isinstance(node, ast.JoinedStr):
                parts = [re.escape(str(v.value)) if isinstance(v, ast.Constant) else "[a-z0-9_]+" for v in node.values]
                out.append(re.compile("".join(parts)))
    return out


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_errno_path_is_asserted_by_a_suite_test(name: str) -> None:
    patterns = _suite_patterns()
    missing = sorted(p for p in PROFILES[name].errnos if not any(pat.fullmatch(p) for pat in patterns))
    assert not missing, f"profile {name}: errno paths no suite test names: {missing}"


# -- errno paths, dynamically: returned by the model where a test asserts them -----------------
# Paths no suite test can reach on the reference, each with the reason (a missing test otherwise).
UNREACHED_ERRNO_PATHS: dict[str, dict[str, str]] = {
    "linux": {"option.unknown_in_range": "every number of Linux's MRT range (200-212) names an option, so no "
                                         "number inside the range is unknown (docs/spec/options.md)"},
}


def _returned_and_asserted(profile: Profile) -> set[str]:
    """Run every suite case on the reference under ``profile``; the errno paths the model returned
    in a case that asserted them (Harness.raises naming the path, or expect_errno with its errno)."""
    from conformance.harness import expect
    from conformance.suite import linux_ext
    from reference_impl.kernel import Kernel

    returned: set[str] = set()
    asserted: set[str] = set()
    codes: set[int] = set()
    orig_fail, orig_outcome, orig_expect = Kernel.fail, expect.outcome, linux_ext._Expect.__init__

    def fail(self: Kernel, path: str) -> OSError:
        returned.add(path)
        return orig_fail(self, path)

    def outcome(p: Profile, path: str, what: str = "") -> Any:
        asserted.add(path)
        return orig_outcome(p, path, what)

    def expect_init(self: Any, code: int, what: str) -> None:
        codes.add(code)
        orig_expect(self, code, what)

    covered: set[str] = set()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Kernel, "fail", fail)
        mp.setattr(expect, "outcome", outcome)
        mp.setattr(linux_ext._Expect, "__init__", expect_init)
        target = ReferenceTarget(profile)
        for case in CASES:
            returned.clear(), asserted.clear(), codes.clear()
            run_case(target, case)
            covered |= {p for p in returned if p in asserted or profile.errno_of(p) in codes}
    return covered


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_errno_path_is_returned_where_a_test_asserts_it(name: str) -> None:
    """Issue 12 item 2, the errno half: each failure path the profile names is reached by a suite
    test that asserts that errno (not merely named somewhere, as the static check above allows)."""
    profile = PROFILES[name]
    covered = _returned_and_asserted(profile)
    missing = sorted(set(profile.errnos) - covered - set(UNREACHED_ERRNO_PATHS.get(name, {})))
    assert not missing, f"profile {name}: errno paths no suite test reaches and asserts: {missing}"
