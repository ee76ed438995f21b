"""run's linux-vm and report options: --kernel (one or a matrix), --vm-accel, --allure-html."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.targets.vm.matrix import combined_exit

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, cwd=cwd, check=False, timeout=300)


@pytest.mark.parametrize("option", [["--kernel", "debian:6.1"], ["--vm-accel", "tcg"]])
def test_vm_options_on_another_target_are_one_line_exit_2(tmp_path: Path, option: list[str]) -> None:
    done = _cli("run", "--report-dir", str(tmp_path / "out"), *option)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "apply to --target linux-vm" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_bad_kernel_spec_is_a_usage_error_before_any_vm(tmp_path: Path) -> None:
    done = _cli("run", "--target", "linux-vm", "--kernel", "nonsense", "--report-dir", str(tmp_path / "out"))
    assert done.returncode == 2 and "nonsense" in done.stderr and "Traceback" not in done.stderr


def test_allure_html_without_allure_is_one_line_exit_2_and_keeps_the_previous_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("previous", encoding="utf-8")
    done = _cli("run", "--report-dir", str(out), "--allure-html", env={"MROUTE_ALLURE": str(tmp_path / "none")})
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--allure-html" in done.stderr
    assert (out / "results.json").read_text(encoding="utf-8") == "previous"


@pytest.mark.parametrize(("codes", "want"), [
    ([0, 0], 0), ([0, 3], 3), ([3, 1], 1), ([0, 130, 1], 130), ([0, 2], 2), ([0, -9], 1), ([], 3),
])
def test_a_matrix_exits_with_its_most_telling_run(codes: list[int], want: int) -> None:
    assert combined_exit(codes) == want
