"""The mroute-conformance command on a fake target and fake suite: exit codes, outputs, usage errors."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import fake_target_source

from conformance.cli import main
from conformance.targets import registry
from mroute_spec.catalog import load_catalog
from reference_impl.profiles import PROFILES

pytest_plugins = ["pytester"]

FAKE_TARGET = fake_target_source()

GOOD_SUITE = """
import pytest
from conformance.outcomes import unsupported


@pytest.mark.clause("mfc.ttl-threshold")
@pytest.mark.parametrize("ttl", [1, 2, 3])
def test_threshold(target, ttl):
    pass


@pytest.mark.clause("bw.tmin")
def test_meters(target):
    unsupported("no advanced API")


@pytest.mark.clause("init.done")
def test_needs_root(target):
    pytest.skip("not root")
"""

FAILING_TEST = """

@pytest.mark.clause("vif.add")
def test_broken(target):
    assert 1 == 2
"""


@pytest.fixture
def lab(pytester: pytest.Pytester) -> Path:
    """A directory (the cwd) with the fake target module and an empty suite dir ``fsuite``."""
    pytester.makepyfile(faketarget=FAKE_TARGET)
    (pytester.path / "fsuite").mkdir()
    return pytester.path


def write_suite(lab: Path, source: str) -> None:
    (lab / "fsuite" / "test_fake.py").write_text(source)


def run(*args: str) -> int:
    return main(["run", "--target=faketarget:FakeTarget", "--suite=fsuite", "--report-dir=out", *args])


def results(lab: Path) -> dict:
    return json.loads((lab / "out" / "results.json").read_text())


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["run", "--target", "nosuch"], ["'nosuch'", "reference, linux, or MODULE:CLASS"]),
        (["run", "--profile", "bsd"], ["'bsd'", ", ".join(PROFILES)]),
        (["run", "--target", "linux", "--profile", "freebsd"], ["'freebsd'", "valid profiles: linux"]),
        (["run", "--target", "no_such_module_xyz:Lab"], ["'no_such_module_xyz'"]),
        (["clauses", "--target", "conformance.cli:NoSuchClass"], ["'NoSuchClass'"]),
        (["run", "--bogus"], ["'--bogus'", "--target, --profile, --report-dir, -k, --clause, -n"]),
        (["run", "-n", "many"], ["'many'", "auto"]),
        (["run", "-n", "-3"], ["'-3'", "auto"]),
        (["frobnicate"], ["'frobnicate'", "'run', 'clauses'"]),
        ([], ["COMMAND"]),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], names: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("mroute-conformance: error: ")
    for name in names:
        assert name in err


def test_console_entry_gives_no_traceback_on_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--target=nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"mroute-conformance: error: unknown target 'nope'; valid targets: {registry.TARGET_CHOICES}"
    ]


def test_run_exits_0_when_everything_is_pass_unsupported_or_skip(
    lab: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    write_suite(lab, GOOD_SUITE)
    stale = lab / "out" / "allure-results" / "stale-result.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    assert run() == 0
    out = capfd.readouterr().out
    assert "5 tests on fake (profile none): pass 3, fail 0, unsupported 1, " in out
    assert "unsupported (1): bw.tmin" in out and "skip (1): init.done" in out
    assert (lab / "out" / "junit.xml").exists() and not stale.exists()
    assert any((lab / "out" / "allure-results").glob("*-result.json"))
    assert results(lab)["summary"]["pass"] == 3


def test_run_exits_1_on_a_failure(lab: Path, capfd: pytest.CaptureFixture[str]) -> None:
    write_suite(lab, GOOD_SUITE + FAILING_TEST)
    assert run() == 1
    assert "fail (1): vif.add" in capfd.readouterr().out
    assert results(lab)["clauses"]["vif.add"] == "fail"


def test_extra_pytest_args_after_double_dash_pass_through(lab: Path) -> None:
    write_suite(lab, GOOD_SUITE + FAILING_TEST)
    assert run("--", "--deselect", "fsuite/test_fake.py::test_broken") == 0
    assert "vif.add" not in {c for t in results(lab)["tests"] for c in t["clauses"]}


def test_keyword_selects_and_an_empty_selection_is_untested(lab: Path, capfd: pytest.CaptureFixture[str]) -> None:
    write_suite(lab, GOOD_SUITE + FAILING_TEST)
    assert run("-k", "threshold") == 0
    assert len(results(lab)["tests"]) == 3
    assert run("-k", "nothing_matches_this") == 3
    assert capfd.readouterr().err.splitlines()[-1] == "mroute-conformance: untested: no test ran (the selection is empty)"
    assert results(lab)["verdict"] == "untested"


def test_run_with_workers_writes_the_same_results(lab: Path) -> None:
    write_suite(lab, GOOD_SUITE + FAILING_TEST)

    def content() -> dict:
        doc = results(lab)
        return {
            "tests": [{k: v for k, v in t.items() if k != "duration_s"} for t in doc["tests"]],
            **{k: doc[k] for k in ("summary", "clauses", "target", "suite")},
        }

    assert run() == 1
    serial = content()
    assert run("-n", "2") == 1
    assert content() == serial


def test_clauses_lists_every_id_with_its_test_count(lab: Path, capfd: pytest.CaptureFixture[str]) -> None:
    write_suite(lab, GOOD_SUITE)
    assert main(["clauses", "--target=faketarget:FakeTarget", "--suite=fsuite"]) == 1  # most are untested
    rows = {line.split()[0]: line.split() for line in capfd.readouterr().out.splitlines()[1:-1]}
    assert list(rows) == list(load_catalog())
    assert rows["mfc.ttl-threshold"] == ["mfc.ttl-threshold", "mfc", "MUST", "3"]
    assert rows["bw.tmin"][1:] == ["bw", "MUST", "1"]
    assert rows["init.disable-value"][1:] == ["init", "conflict", "untested"]


def test_clauses_exits_0_when_every_clause_is_covered(lab: Path, capfd: pytest.CaptureFixture[str]) -> None:
    ids = ", ".join(repr(cid) for cid in load_catalog())
    write_suite(lab, f"import pytest\n\n@pytest.mark.clause({ids})\ndef test_all(target):\n    pass\n")
    assert main(["clauses", "--target=faketarget:FakeTarget", "--suite=fsuite"]) == 0
    assert (
        f"{len(load_catalog())} clauses: every one covered by at least one test" in capfd.readouterr().out
    )


def test_clauses_reports_a_broken_suite(lab: Path, capfd: pytest.CaptureFixture[str]) -> None:
    write_suite(lab, "def test_unmarked(target):\n    pass\n")
    assert main(["clauses", "--target=faketarget:FakeTarget", "--suite=fsuite"]) == 1
    err = capfd.readouterr().err
    assert "no @pytest.mark.clause" in err and "collecting the suite failed" in err


ABSENT_TARGET = """

class AbsentTarget(FakeTarget):
    def __init__(self, profile):
        from conformance.targets.base import TargetUnavailable
        raise TargetUnavailable("no lab device attached")
"""
SKIPPING_SUITE = """
import pytest
from conformance.outcomes import unsupported


@pytest.mark.clause("bw.tmin")
def test_meters(target):
    unsupported("no advanced API")


@pytest.mark.clause("init.done")
def test_needs_root(target):
    pytest.skip("not root")
"""


def test_an_unavailable_target_is_untested_with_exit_3_and_one_line(
    lab: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (lab / "faketarget.py").write_text(FAKE_TARGET + ABSENT_TARGET)
    write_suite(lab, GOOD_SUITE)
    assert main(["run", "--target=faketarget:AbsentTarget", "--suite=fsuite", "--report-dir=out"]) == 3
    out, err = capfd.readouterr()
    assert err.splitlines()[-1] == "mroute-conformance: untested: fake target unavailable: no lab device attached"
    assert [line for line in out.splitlines() if line.startswith("verdict:")] == [
        "verdict: UNTESTED: fake target unavailable: no lab device attached"
    ]
    assert results(lab)["verdict"] == "untested"
    assert 'id="verdict">untested<' in (lab / "out" / "report.html").read_text()


def test_a_run_in_which_nothing_passed_is_untested(lab: Path, capfd: pytest.CaptureFixture[str]) -> None:
    write_suite(lab, SKIPPING_SUITE)
    assert run() == 3
    assert capfd.readouterr().err.splitlines()[-1] == (
        "mroute-conformance: untested: nothing was tested: no test passed (1 unsupported, 1 skip)"
    )
    assert results(lab)["verdict"] == "untested"


def test_a_passing_run_says_pass_first(lab: Path, capfd: pytest.CaptureFixture[str]) -> None:
    write_suite(lab, GOOD_SUITE)
    assert run() == 0
    out = capfd.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("verdict:")] == [
        "verdict: PASS: 5 tests, none failed (3 pass, 1 unsupported, 1 skip)"
    ]
    assert results(lab)["verdict"] == "pass"


def test_the_linux_target_without_kernel_multicast_routing_is_untested(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """On a host lacking ipmr: exit 3 and the kernel's own reason (skips where the host has it)."""
    from conformance.targets.base import TargetUnavailable
    from conformance.targets.linux.target import check_available

    try:
        check_available()
    except TargetUnavailable as e:
        reason = e.reason
    else:
        pytest.skip("this host can run the linux target")
    assert main(["run", "--target=linux", f"--report-dir={tmp_path}", "-k", "test_mfc"]) == 3
    assert capfd.readouterr().err.splitlines()[-1] == f"mroute-conformance: untested: linux target unavailable: {reason}"
    assert json.loads((tmp_path / "results.json").read_text())["verdict"] == "untested"


# A test-only slow target: its slow test signals through a FIFO that it is running, and its
# shutdown (the target's cleanup) leaves a marker, optionally after waiting for a go-ahead.
SLOW_TARGET = """
import os, threading

class SlowTarget(FakeTarget):
    def __init__(self, profile):
        super().__init__(profile)
        with open("pids", "a") as f:  # for the test's reaper, should the test fail midway
            f.write(f"{os.getpid()}\\n")

    def shutdown(self):
        if os.path.exists("hold"):
            with open("in-cleanup", "w") as f:  # FIFO: tells the test cleanup began
                f.write(str(os.getpid()))
            with open("hold") as f:  # FIFO: blocks until the test lets cleanup finish
                f.read()
        open("cleaned-" + os.environ.get("PYTEST_XDIST_WORKER", "main"), "w").close()
"""
SLOW_SUITE = """
import threading
import pytest


@pytest.mark.clause("mfc.ttl-threshold")
def test_quick(target):
    pass


@pytest.mark.clause("mfc.update")
def test_slow(target):
    with open("running", "w") as f:  # FIFO: tells the test this one is running
        f.write("x")
    threading.Event().wait(120)  # a long test; the run is interrupted long before this ends
"""


def _read_fifo(path: Path, timeout: float = 30.0) -> str:
    """What the other side writes into the FIFO ``path``; fails (instead of hanging) if it never does."""
    import threading

    got: list[str] = []

    def read() -> None:
        with open(path) as f:
            got.append(f.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    assert got, f"nothing arrived on {path.name} within {timeout} s"
    return got[0]


@pytest.fixture
def reaper(lab: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """The `run` processes a test starts; whatever of them and their pytest children is still alive
    at the end (a failed test) is killed, so no test leaves processes behind."""
    import os
    import signal

    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    pids = (lab / "pids").read_text().split() if (lab / "pids").exists() else []
    for pid in map(int, pids):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)


def _slow_run(lab: Path, *extra: str) -> subprocess.Popen[str]:
    """Start ``run`` on the slow target in ``lab`` and return once its slow test is running."""
    import os

    (lab / "faketarget.py").write_text(FAKE_TARGET + SLOW_TARGET)
    write_suite(lab, SLOW_SUITE)
    os.mkfifo(lab / "running")
    with open(lab / "cli.out", "w") as out, open(lab / "cli.err", "w") as err:  # the child inherits them
        proc = subprocess.Popen(
            [sys.executable, "-m", "conformance.cli", "run", "--target=faketarget:SlowTarget", "--suite=fsuite",
             "--report-dir=out", *extra],
            cwd=lab, stdout=out, stderr=err, text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(lab), *sys.path])},
        )
    assert _read_fifo(lab / "running") == "x"  # the slow test is running
    return proc


def _previous_report(lab: Path) -> dict[str, str]:
    """Write a previous report into lab/out (and an unrelated file), return their contents."""
    out = lab / "out"
    out.mkdir()
    files = {"results.json": '{"old": true}', "report.html": "old report", "junit.xml": "<old/>", "notes.txt": "mine"}
    for name, text in files.items():
        (out / name).write_text(text)
    return files


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_an_interrupted_run_cleans_up_and_writes_partial_results(
    lab: Path, signum: str, workers: list[str], reaper: list[subprocess.Popen[str]]
) -> None:
    import signal

    proc = _slow_run(lab, *workers)
    reaper.append(proc)
    proc.send_signal(getattr(signal, signum))
    proc.wait(60)
    out, err = (lab / "cli.out").read_text(), (lab / "cli.err").read_text()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    assert err.splitlines()[-1].startswith("mroute-conformance: interrupted: run interrupted; results are partial")
    doc = results(lab)
    assert doc["verdict"] == "interrupted"
    if not workers:  # (under xdist the quick test may run alongside the slow one and be interrupted too)
        assert {t["id"].split("::")[-1]: t["outcome"] for t in doc["tests"]} == {"test_quick": "pass"}
    assert list(lab.glob("cleaned-*")), "the target's cleanup did not run"
    assert 'id="verdict">interrupted<' in (lab / "out" / "report.html").read_text()
    assert not list(lab.glob(".out.staging-*")), "staging directory left behind"


def test_a_second_interrupt_exits_at_once_and_cleanup_still_happens(
    lab: Path, reaper: list[subprocess.Popen[str]]
) -> None:
    import os
    import select
    import signal

    previous = _previous_report(lab)
    os.mkfifo(lab / "hold")
    os.mkfifo(lab / "in-cleanup")
    proc = _slow_run(lab)
    reaper.append(proc)
    proc.send_signal(signal.SIGINT)
    child = int(_read_fifo(lab / "in-cleanup"))  # the target's shutdown has begun and is held
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 130  # at once, although the child is still cleaning up
    assert (lab / "cli.err").read_text().splitlines()[-1] == (
        "mroute-conformance: interrupted: stopped at once; the previous report in out is unchanged"
    )
    pidfd = os.pidfd_open(child)
    try:
        with open(lab / "hold", "w") as f:  # let the cleanup finish
            f.write("go")
        assert select.select([pidfd], [], [], 30)[0], "the pytest child did not finish"
    finally:
        os.close(pidfd)
    assert "Traceback" not in (lab / "cli.out").read_text() + (lab / "cli.err").read_text()
    assert list(lab.glob("cleaned-*")), "the target's cleanup did not finish"
    assert {p.name: p.read_text() for p in (lab / "out").iterdir()} == previous
    assert not list(lab.glob(".out.staging-*")), "staging directory left behind"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--expectations=missing.toml"], "missing.toml"),
        (["--target=nosuch"], "unknown target 'nosuch'"),
        (["--profile=bsd"], "'bsd'"),
        (["-n", "many"], "'many'"),
    ],
)
def test_bad_input_leaves_the_previous_report_intact(
    lab: Path, args: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    previous = _previous_report(lab)
    write_suite(lab, GOOD_SUITE)
    assert main(["run", "--target=faketarget:FakeTarget", "--suite=fsuite", "--report-dir=out", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and problem in err
    assert {p.name: p.read_text() for p in (lab / "out").iterdir()} == previous
    assert not list(lab.glob(".out.staging-*"))


def test_a_new_run_replaces_only_its_own_files(lab: Path) -> None:
    _previous_report(lab)
    (lab / "out" / "deviations").mkdir()
    write_suite(lab, GOOD_SUITE)
    assert run() == 0
    names = {p.name for p in (lab / "out").iterdir()}
    assert {"results.json", "report.html", "junit.xml", "notes.txt"} <= names and "deviations" not in names
    assert (lab / "out" / "notes.txt").read_text() == "mine" and results(lab)["verdict"] == "pass"


NOT_A_TARGET = """
class Plain:
    def __init__(self, profile):
        pass
"""


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--report-dir=afile"], "--report-dir 'afile': exists and is not a directory"),
        (["--report-dir=afile/out"], "--report-dir 'afile/out': 'afile' is not a directory"),
        (["--report-dir=/proc/mroute-conformance/out"], "--report-dir '/proc/mroute-conformance/out': cannot write there"),
        (["--expectations=latin1.toml"], "expectations file 'latin1.toml' is not UTF-8 text (byte 0xe9 at offset 13)"),
        (["--expectations=."], "expectations file '.': Is a directory"),
        (["--target=faketarget:Plain"], "target 'faketarget:Plain': <class 'faketarget.Plain'> is not a subclass of conformance.targets.base.Target"),
        (["--target=faketarget:Partial"], "target 'faketarget:Partial': class Partial cannot be built: it does not implement advance, collect"),
        (["--target=os:getcwd"], "target 'os:getcwd': <built-in function getcwd> is not a subclass of conformance.targets.base.Target"),
        (["--target=brokenmod:X"], "target 'brokenmod:X': importing it failed: RuntimeError: half-installed"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_keeps_the_previous_report(
    lab: Path, args: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    previous = _previous_report(lab)
    (lab / "faketarget.py").write_text(
        FAKE_TARGET + NOT_A_TARGET + "\n\nclass Partial(Target):\n    def reset(self):\n        pass\n"
        "    def info(self):\n        pass\n" + "".join(
            f"    def {m}(self, *a):\n        pass\n"
            for m in ("open_socket", "setsockopt", "getsockopt", "ioctl", "close", "recv_all", "send")
        )
    )
    (lab / "brokenmod.py").write_text("raise RuntimeError('half-installed')\n")
    (lab / "afile").write_text("not a directory")
    (lab / "latin1.toml").write_bytes('format = "caf\xe9"\n'.encode("latin-1"))
    write_suite(lab, GOOD_SUITE)
    assert main(["run", "--target=faketarget:FakeTarget", "--suite=fsuite", "--report-dir=out", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"mroute-conformance: error: {problem}")
    assert {p.name: p.read_text() for p in (lab / "out").iterdir()} == previous
    assert not list(lab.glob(".*.staging-*"))


def test_commands_other_than_bench_never_import_the_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    code = (
        "import sys\nfrom conformance.cli import main\n"
        "assert main(['report', 'missing.json']) == 2\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'benchmarks'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert main(["bench", "--bogus"]) == 2  # bench is still a command, with its own options
    assert "valid options: -h, --help, --quick, --linux" in capsys.readouterr().err


def _inventory(cwd: Path) -> list[str]:
    """The suite's test IDs as plain pytest collects them from ``cwd``."""
    path = cwd / "inventory.json"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs", "conformance.suite",
         "--mroute-target=reference", "--collect-only", "-q", f"--mroute-inventory={path}"],
        cwd=cwd, capture_output=True, check=False,
    )
    return [test["id"] for test in json.loads(path.read_text())["tests"]]


def test_suite_test_ids_do_not_depend_on_the_working_directory(tmp_path: Path) -> None:
    import conformance

    inside = Path(conformance.__file__).parent  # pytest's rootdir would otherwise differ
    ids = _inventory(tmp_path)
    assert ids and all(i.startswith("conformance/suite/test_") for i in ids)
    (inside / "inventory.json").unlink(missing_ok=True)
    try:
        assert _inventory(inside) == ids
    finally:
        (inside / "inventory.json").unlink(missing_ok=True)


def test_an_updated_expectations_file_matches_runs_with_other_workers_selections_and_cwds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tests_dir = str(Path(__file__).resolve().parent)  # broken_variants lives beside this file
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (tests_dir, os.environ.get("PYTHONPATH")) if p))
    monkeypatch.syspath_prepend(tests_dir)
    broken = ["run", "--target=broken_variants:ttl_ge", "--report-dir=out"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    assert main([*broken, "-n", "2", "-k", "ttl_exceeds"]) == 1
    assert main(["expectations", "--update", "out/results.json", "-o", "../ttl_ge.toml"]) == 0
    text = (tmp_path / "ttl_ge.toml").read_text()
    assert "reason_regex" in text and "#\\\\d+" in text and not re.search(r"'#\d", text)
    monkeypatch.chdir(tmp_path / "b")
    for selection in (["-k", "ttl_exceeds"], ["-k", "ttl_exceeds and t-1"]):
        capsys.readouterr()
        assert main([*broken, "-n", "0", *selection, "--expectations=../ttl_ge.toml"]) == 0, capsys.readouterr().err
        doc = json.loads(Path("out/results.json").read_text())
        assert doc["summary"]["fail"] == 0 and doc["summary"]["expected-fail"] > 0


HYPOTHESIS_SUITE = """
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st


@pytest.mark.clause("input.malformed-packet")
@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(10**6, 10**9))
def test_drawn(target, n):
    with open("drawn.txt", "a") as f:
        f.write(f"{n}\\n")
"""


def _drawn(lab: Path, *args: str) -> list[str]:
    (lab / "drawn.txt").unlink(missing_ok=True)
    assert run(*args) == 0
    return (lab / "drawn.txt").read_text().split()


def test_a_default_run_draws_the_same_examples_and_records_its_seed(
    lab: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    write_suite(lab, HYPOTHESIS_SUITE)
    first = _drawn(lab)
    assert "hypothesis seed: 0 (repeat with --hypothesis-seed 0)" in capfd.readouterr().out
    assert results(lab)["hypothesis"] == {"seed": 0, "profile": "mroute-run", "derandomize": False, "database": False}
    assert _drawn(lab) == first  # reproducible by default
    assert _drawn(lab, "--hypothesis-seed", "7") != first
    assert results(lab)["hypothesis"]["seed"] == 7
    fresh = _drawn(lab, "--randomize")
    seed = results(lab)["hypothesis"]["seed"]
    assert f"hypothesis seed: {seed} (repeat with --hypothesis-seed {seed})" in capfd.readouterr().out
    assert _drawn(lab, "--hypothesis-seed", str(seed)) == fresh  # a randomized run can be repeated
    assert not (lab / ".hypothesis").exists() and not list(lab.glob(".*.staging-*"))


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--hypothesis-seed", "x"], "invalid seed 'x'"),
        (["--hypothesis-seed", "3", "--randomize"], "not allowed with argument"),
    ],
)
def test_bad_seed_options_are_usage_errors(args: list[str], problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and problem in err


BROKEN_TARGET = """

class BrokenTarget(FakeTarget):
    def __init__(self, profile):
        raise RuntimeError("lab cable unplugged")
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_target_that_cannot_be_built_fails_in_one_line_per_test(
    lab: Path, workers: list[str], capfd: pytest.CaptureFixture[str]
) -> None:
    (lab / "faketarget.py").write_text(FAKE_TARGET + BROKEN_TARGET)
    write_suite(lab, GOOD_SUITE)
    assert main(["run", "--target=faketarget:BrokenTarget", "--suite=fsuite", "--report-dir=out", *workers]) == 1
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and out.count("lab cable unplugged") < 12
    doc = results(lab)
    assert doc["verdict"] == "fail" and {t["outcome"] for t in doc["tests"]} == {"error"}
    assert all(t["message"].startswith(
        "Failed: target 'faketarget:BrokenTarget' could not be built: RuntimeError: lab cable unplugged (at ")
        for t in doc["tests"])
    assert doc["verdict_reason"].startswith(f"{len(doc['tests'])} of {len(doc['tests'])} tests did not pass")


def test_a_killed_run_still_cleans_up_and_leaves_no_staging_directory(
    lab: Path, reaper: list[subprocess.Popen[str]]
) -> None:
    """SIGKILL of `run`: its pytest child is interrupted (PR_SET_PDEATHSIG), cleans up, and
    removes the staging directory nobody will publish; the previous report stays."""
    import os
    import select
    import signal

    previous = _previous_report(lab)
    os.mkfifo(lab / "hold")
    os.mkfifo(lab / "in-cleanup")
    proc = _slow_run(lab)
    reaper.append(proc)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
    child = int(_read_fifo(lab / "in-cleanup"))  # the orphaned child was interrupted and is cleaning up
    pidfd = os.pidfd_open(child)
    try:
        with open(lab / "hold", "w") as f:
            f.write("go")
        assert select.select([pidfd], [], [], 30)[0], "the pytest child did not finish"
    finally:
        os.close(pidfd)
    assert list(lab.glob("cleaned-*")), "the target's cleanup did not run"
    assert {p.name: p.read_text() for p in (lab / "out").iterdir()} == previous
    assert not list(lab.glob(".out.staging-*")), "staging directory left behind"
