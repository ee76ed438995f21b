"""The pytest plugin of the conformance suite (loaded through the ``pytest11`` entry point).

It is inert in unrelated pytest runs: its hooks act only on tests of the ``conformance.suite``
package, or on every test when ``--mroute-target`` is given. For those tests it checks the
``clause`` marker against the catalog, adds Allure labels, provides the target fixtures and,
with ``--mroute-results``, writes results.json from the controller process.

Target info under xdist: each process builds its own target in the ``mroute_target`` fixture
and attaches ``target.info()`` as a user property to the first test that uses it; the
controller (which never builds a target) takes the first such property it receives.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from conformance import interrupts, outcomes
from conformance.adapters import check_adapter
from conformance.report.identity import invocation
from conformance.results import CLAUSE_PROPERTY, TARGET_PROPERTY, ResultsCollector
from conformance.targets import registry
from mroute_spec.catalog import load_catalog
from reference_impl.profile_files import is_profile_file, profile_file_record
from reference_impl.profiles import PROFILES

if TYPE_CHECKING:
    from conformance.expectations import Expectations
    from conformance.harness import Harness
    from conformance.targets.base import Target
    from reference_impl.profiles import Profile

SUITE_DIR = Path(__file__).resolve().parent / "suite"
HYPOTHESIS_PROFILE = "mroute-ci"  # derandomized (examples from each test's name), no database
RUN_PROFILE = "mroute-run"  # examples from --hypothesis-seed, no database
pytest_plugins = ["conformance.targets.vm.pytest_options"]  # --mroute-kernel, --mroute-vm-accel


@dataclass
class _State:
    """Per-config plugin state (one per process; the xdist controller has its own)."""

    spec: str
    profile: str | None
    explicit: bool
    info: dict[str, Any] | None = None
    info_sent: bool = False
    unavailable: str | None = None
    hypothesis_ready: bool = False
    restore_hypothesis: Callable[[], None] | None = None  # undo our hypothesis settings at unconfigure
    restore_home: Callable[[], None] | None = None

    @cached_property
    def target_name(self) -> str:
        return registry.target_name(self.spec)

    def fallback_info(self) -> dict[str, Any]:
        profile = self.profile or registry.DEFAULT_PROFILE.get(self.spec)
        return {"name": self.target_name, "profile": profile, "details": {}}


STATE = pytest.StashKey[_State]()
RESULTS_PLUGIN = "mroute-results"
CLAUSES = pytest.StashKey[Sequence[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options: --mroute-target, --mroute-profile, --mroute-results, --mroute-inventory."""
    group = parser.getgroup("mroute", "multicast routing conformance")
    group.addoption(
        "--mroute-target",
        default=None,
        metavar="TARGET",
        help="implementation under test: reference (default), linux or MODULE:CLASS; "
        "given explicitly, every collected test is treated as a suite test",
    )
    group.addoption(
        "--mroute-profile",
        default=None,
        metavar="NAME",
        help="profile of the target (default: the target's own, e.g. documented for reference)",
    )
    group.addoption(
        "--mroute-target-opt", action="append", default=[], metavar="KEY=VALUE", help="a per-target setting (repeatable)"
    )
    group.addoption("--mroute-results", default=None, metavar="PATH", help="write results.json to PATH")
    group.addoption(
        "--mroute-inventory",
        default=None,
        metavar="PATH",
        help="write the collected suite tests and their clause IDs as JSON to PATH",
    )
    group.addoption(
        "--mroute-expectations",
        default=None,
        metavar="FILE",
        help="known failures with their reasons, applied to results.json (docs/expectations.md); "
        "default: the builtin target's shipped expectations file, if any; 'none': no file",
    )
    group.addoption(
        "--mroute-clause",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only the suite tests of clauses matching PATTERN: an ID, a group or a glob (repeatable)",
    )
    group.addoption(
        "--mroute-deviation-profile",
        default=None,
        metavar="NAME",
        help="deviation pass: run only the implementation-defined/conflict clause tests, checked "
        "against profile NAME's facts over the target's own ABI",
    )


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Register the clause marker, check the target options, and on the controller the results writer."""
    config.addinivalue_line("markers", "clause(*ids): the catalog clause IDs this conformance test checks")
    explicit = config.getoption("mroute_target") is not None
    state = _State(
        config.getoption("mroute_target") or "reference", config.getoption("mroute_profile"), explicit
    )
    config.stash[STATE] = state
    if explicit or state.profile or config.getoption("mroute_results"):
        try:
            check_adapter(state.spec)
            registry.resolve_profile(
                state.spec, state.profile, registry.parse_target_options(config.getoption("mroute_target_opt"))
            )
        except registry.UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
    if explicit or config.getoption("hypothesis_profile", None) == HYPOTHESIS_PROFILE:
        _use_hypothesis_profile(config)
    deviation = config.getoption("mroute_deviation_profile")
    if deviation is not None and deviation not in PROFILES:
        raise pytest.UsageError(f"unknown deviation profile {deviation!r}; valid profiles: {', '.join(PROFILES)}")
    expectations = _install_expectations(config, deviation)  # in every process: reports are judged where made
    results = config.getoption("mroute_results")
    if (results or explicit) and not _is_worker(config):  # the controller's: it sees every report
        path = Path(results).resolve() if results else None
        collector = ResultsCollector(path, state.fallback_info(), gate=explicit)
        config.pluginmanager.register(collector, RESULTS_PLUGIN)
        if expectations is not None:
            collector.extras.append(lambda: {"expectations": expectations.as_json()})
        if deviation is not None:
            collector.extras.append(lambda: {"checked_profile": deviation})
        if config.pluginmanager.hasplugin("hypothesispytest"):
            collector.extras.append(lambda: {"hypothesis": hypothesis_record(config)})
        collector.extras.append(lambda: {"invocation": invocation(config.invocation_params.args)})
        if state.profile and is_profile_file(state.profile):
            record = profile_file_record(state.profile)
            collector.extras.append(lambda: {"profile_file": record})


def _install_expectations(config: pytest.Config, deviation: str | None) -> Expectations | None:
    """Apply the expectations file: the one given, else the builtin target's shipped one (none in
    a deviation pass, and none for a run that names no target)."""
    from conformance.expectations import ExpectationsError
    from conformance.expectations.wiring import NONE, install

    state = config.stash[STATE]
    option = config.getoption("mroute_expectations") or (NONE if deviation else None)
    builtin = state.spec if state.explicit and state.spec in registry.BUILTIN else None
    try:
        return install(config, option, builtin)
    except ExpectationsError as exc:
        raise pytest.UsageError(str(exc)) from None


def _use_hypothesis_profile(config: pytest.Config) -> None:
    """Register the suite's settings profiles and load one (once per process): ``mroute-run`` for a
    run naming a target and a seed (``run`` always passes one), else ``mroute-ci`` under env CI,
    else ``mroute-run`` for a run naming a target; a ``--hypothesis-profile`` given wins.

    Neither writes an example database (no .hypothesis/ in the user's directory, no replay of an
    earlier run's failures): ``mroute-ci`` draws examples from each test's name, ``mroute-run``
    from ``--hypothesis-seed`` (which ``run`` always passes, 0 unless told otherwise).
    """
    state = config.stash[STATE]
    if state.hypothesis_ready:
        return
    state.hypothesis_ready = True
    from hypothesis import HealthCheck, settings

    _hypothesis_home(state)
    common: dict[str, Any] = {"database": None, "deadline": None, "print_blob": True, "suppress_health_check": [HealthCheck.too_slow]}
    settings.register_profile(HYPOTHESIS_PROFILE, derandomize=True, **common)
    settings.register_profile(RUN_PROFILE, derandomize=False, **common)
    if config.getoption("hypothesis_profile", None):
        return
    previous = settings.get_current_profile_name()
    seeded = config.getoption("hypothesis_seed", None) is not None
    if state.explicit and seeded:  # run always passes a seed: reproducible, in CI or not
        settings.load_profile(RUN_PROFILE)
    elif os.environ.get("CI"):
        settings.load_profile(HYPOTHESIS_PROFILE)
    elif state.explicit:
        settings.load_profile(RUN_PROFILE)
    state.restore_hypothesis = lambda: settings.load_profile(previous)  # an in-process run (pytester) ends


def _hypothesis_home(state: _State) -> None:
    """For a run naming a target: hypothesis's own files (its constants cache) go to the staging
    directory of ``run`` (removed with it), else to the user's cache directory, never to the cwd."""
    if not state.explicit:
        return
    from hypothesis.configuration import set_hypothesis_home_dir

    stage = os.environ.get(interrupts.STAGE_ENV)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mroute-conformance" / "hypothesis"
    set_hypothesis_home_dir(Path(stage) / ".hypothesis" if stage else cache)
    state.restore_home = lambda: set_hypothesis_home_dir(None)


def hypothesis_record(config: pytest.Config) -> dict[str, Any]:
    """How this run's hypothesis examples were drawn, for results.json."""
    from hypothesis import settings

    seed = config.getoption("hypothesis_seed", None)
    return {
        "seed": int(seed) if seed is not None and str(seed).isdigit() else seed,
        "profile": settings.get_current_profile_name(),
        "derandomize": bool(settings().derandomize),  # settings(): the loaded profile's values
        "database": settings().database is not None,
    }


def _in_suite(path: Path) -> bool:
    return Path(path).resolve().is_relative_to(SUITE_DIR)


def _is_suite_item(item: pytest.Item) -> bool:
    state = item.config.stash.get(STATE, None)
    return state is not None and (state.explicit or _in_suite(item.path))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> None:
    """Ready the Hypothesis profile before a suite module is imported."""
    if file_path.suffix == ".py" and _in_suite(file_path):
        _use_hypothesis_profile(parent.config)  # before suite modules build their settings objects


def clause_ids(item: pytest.Item) -> list[object]:
    """The arguments of every ``clause`` marker on ``item`` (its own, its class's, its module's)."""
    return [arg for mark in item.iter_markers("clause") for arg in mark.args]


def clause_problem(item: pytest.Item) -> str | None:
    """Why ``item`` cannot run as a suite test (no clause marker, unknown ID), or None."""
    ids = clause_ids(item)
    if not ids:
        return f"{item.nodeid}: no @pytest.mark.clause(...) marker; every suite test names the clause IDs it checks"
    catalog = load_catalog()
    unknown = [cid for cid in ids if not isinstance(cid, str) or cid not in catalog]
    if unknown:
        listed = ", ".join(repr(cid) for cid in unknown)
        return f"{item.nodeid}: unknown clause ID {listed} (see mroute_spec/catalog/clauses.json)"
    return None


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Turn a module whose suite tests lack a valid clause marker into a collection error."""
    report = yield
    if report.passed:
        problems = [
            p
            for node in report.result
            if isinstance(node, pytest.Item) and _is_suite_item(node)
            if (p := clause_problem(node))
        ]
        if problems:
            return pytest.CollectReport(report.nodeid, "failed", "\n".join(problems), [], report.sections)
    return report


def stable_nodeid(item: pytest.Item) -> str:
    """The node ID of a test of the shipped suite as ``conformance/suite/<file>::<name>``, whatever the
    rootdir and working directory (they decide pytest's own); any other test's is left as it is."""
    path = Path(item.path).resolve()
    if not path.is_relative_to(SUITE_DIR):
        return item.nodeid
    _, sep, rest = item.nodeid.partition("::")
    return path.relative_to(SUITE_DIR.parent.parent).as_posix() + sep + rest


@pytest.hookimpl(tryfirst=True)  # before --deselect and other plugins see the IDs
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give suite tests stable IDs; record their clause IDs (stash, user properties) and Allure labels."""
    for item in items:
        if _is_suite_item(item):
            item._nodeid = stable_nodeid(item)
    catalog = load_catalog()
    if config.getoption("mroute_deviation_profile"):
        _keep_deviation_tests(config, items, catalog)
    if config.getoption("mroute_clause"):
        _keep_selected_clauses(config, items)
    allure = config.pluginmanager.hasplugin("allure_pytest")
    for item in items:
        if not _is_suite_item(item):
            continue
        ids = [str(cid) for cid in dict.fromkeys(clause_ids(item))]
        item.stash[CLAUSES] = ids
        item.user_properties.extend((CLAUSE_PROPERTY, cid) for cid in ids)
        if allure:
            from conformance.report.allure_labels import add_allure_labels

            add_allure_labels(item, [catalog[cid] for cid in ids], config.stash[STATE].target_name)


def _keep_deviation_tests(config: pytest.Config, items: list[pytest.Item], catalog: dict) -> None:
    """Deselect the suite tests that check no implementation-defined or conflict clause."""
    from conformance.report.variants import checks_deviation

    keep = [i for i in items if not _is_suite_item(i) or checks_deviation(list(map(str, clause_ids(i))), catalog)]
    if len(keep) < len(items):
        kept = set(map(id, keep))
        config.hook.pytest_deselected(items=[i for i in items if id(i) not in kept])
        items[:] = keep


def _keep_selected_clauses(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --mroute-clause, deselect the suite tests that check none of the selected clauses."""
    from mroute_spec.catalog.select import NoSuchClause, select

    try:
        chosen = select(config.getoption("mroute_clause"))
    except NoSuchClause as exc:
        raise pytest.UsageError(str(exc)) from None
    keep = [i for i in items if not _is_suite_item(i) or chosen & set(map(str, clause_ids(i)))]
    if len(keep) < len(items):
        kept = set(map(id, keep))
        config.hook.pytest_deselected(items=[i for i in items if id(i) not in kept])
        items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    """With --mroute-inventory, write the collected suite tests and their clauses."""
    path = session.config.getoption("mroute_inventory")
    if path and not _is_worker(session.config):
        tests = [
            {"id": item.nodeid, "clauses": item.stash[CLAUSES]}
            for item in session.items
            if CLAUSES in item.stash
        ]
        Path(path).write_text(json.dumps({"tests": tests}, indent=1) + "\n", encoding="utf-8")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """After the first suite test's setup in this process, attach the target's info to it."""
    try:
        return (yield)
    finally:
        state = item.config.stash.get(STATE, None)
        if state is not None and state.info is not None and not state.info_sent and CLAUSES in item.stash:
            item.user_properties.append((TARGET_PROPERTY, json.dumps(state.info)))
            state.info_sent = True


def pytest_report_header(config: pytest.Config) -> str | None:
    """Name the target and profile when the run was asked for one."""
    state = config.stash.get(STATE, None)
    if state is None or not state.explicit:
        return None
    return f"mroute target: {state.spec} (profile: {state.profile or 'target default'})"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """One line: the run's verdict and why (on the controller), or that the target was unavailable."""
    collector = config.pluginmanager.get_plugin(RESULTS_PLUGIN)
    document = getattr(collector, "document", None)
    if document is not None:
        word = document["verdict"]
        colour = {"pass": "green", "fail": "red"}.get(word, "yellow")
        terminalreporter.write_line(f"mroute verdict: {word}: {document['verdict_reason']}", **{colour: True})
        return
    state = config.stash.get(STATE, None)
    if state is not None and state.unavailable and not _is_worker(config):
        terminalreporter.write_line(
            f"mroute: target unavailable: {state.unavailable} (its tests were skipped)", yellow=True
        )


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Under ``run``: once interrupted, a further SIGINT waits for the cleanup (``run`` decides)."""
    if type(excinfo.value) is KeyboardInterrupt:  # not pytest's or xdist's early-stop subclasses
        interrupts.shield_cleanup()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Undo this run's hypothesis settings (for in-process runs); under ``run``, remove its staging
    directory if ``run`` gave up on it (a second Ctrl-C, killed)."""
    state = config.stash.get(STATE, None)
    for undo in (state.restore_hypothesis, state.restore_home) if state is not None else ():
        if undo is not None:
            undo()
    if not _is_worker(config):
        interrupts.remove_abandoned_stage()


def _info_json(info: object) -> dict[str, Any]:
    data: dict[str, Any] = (asdict(info) if is_dataclass(info) and not isinstance(info, type)
                            else dict(cast(Mapping[str, Any], info)))
    return {"name": data.get("name"), "profile": data.get("profile"), "details": data.get("details", {})}


@pytest.fixture(scope="session")
def mroute_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The target under test, built once per process (per xdist worker); shut down at the end."""
    state = request.config.stash[STATE]
    try:
        built = registry.build_target(
            state.spec, state.profile, registry.parse_target_options(request.config.getoption("mroute_target_opt"))
        )
    except Exception as exc:
        reason = registry.unavailable_reason(exc)
        if reason is None:  # a broken adapter: one line per test, and the run stops
            where = traceback.extract_tb(exc.__traceback__)[-1]
            request.session.shouldstop = f"target {state.spec!r} could not be built"
            pytest.fail(
                outcomes.one_line(
                    f"target {state.spec!r} could not be built: {type(exc).__name__}: {exc} "
                    f"(at {where.filename}:{where.lineno})"
                ),
                pytrace=False,
            )
        state.unavailable = reason
        state.info = {**state.fallback_info(), "details": {"unavailable": reason}}
        pytest.skip(f"target unavailable: {reason}")
    state.info = _info_json(built.info())
    deviation = request.config.getoption("mroute_deviation_profile")
    if deviation is not None:
        from conformance.report.variants import view_as

        yield cast("Target", view_as(built, deviation))  # a ProfileView delegates every Target call
    else:
        yield built
    built.shutdown()


@pytest.fixture
def target(mroute_target: Target) -> Iterator[Target]:
    """The target, reset to a pristine router for this test."""
    mroute_target.reset()
    yield mroute_target


@pytest.fixture
def profile(target: Target) -> Profile:
    """The profile the target declares (what implementation-defined clauses are checked against)."""
    return target.profile


@pytest.fixture
def h(target: Target) -> Harness:
    """The harness bound to a freshly reset target: how tests speak intent instead of bytes."""
    from conformance.harness import Harness

    return Harness(target)
