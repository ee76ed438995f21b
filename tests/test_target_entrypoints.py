"""Targets from the ``mroute_conformance.targets`` entry-point group: listed, checked, run, with options.

A throwaway "vendor" distribution is made in tmp_path as a module plus a ``.dist-info`` directory
on PYTHONPATH, which is all ``importlib.metadata`` needs to find its entry points.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conformance.targets import entrypoints, registry

ROOT = Path(__file__).resolve().parents[1]

VENDOR_MODULE = '''
from conformance.targets.reference import ReferenceTarget


class VendorBox(ReferenceTarget):
    """Vendor box 3.2 (a throwaway test package wrapping the model)."""

    name = "vendorbox"
    options = {"firmware": "firmware label to report"}

    def __init__(self, profile=None, options=None):
        super().__init__(profile)
        self.seen = dict(options or {})

    def info(self):
        info = super().info()
        info.details["options"] = self.seen
        return info


class NotATarget:
    """Has the name but not the contract."""


class Exploding(ReferenceTarget):
    """Fails in its constructor."""

    def __init__(self, profile=None):
        raise ValueError("firmware blob missing\\nsecond line of detail")
'''

ENTRY_POINTS = """[mroute_conformance.targets]
vendorbox = vendortarget:VendorBox
notatarget = vendortarget:NotATarget
exploding = vendortarget:Exploding
reference = vendortarget:VendorBox
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    (site / "vendortarget.py").write_text(VENDOR_MODULE)
    dist = site / "vendor_target-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vendor-target\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


def cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)])}
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], capture_output=True, text=True, env=env, check=False)


def test_targets_lists_builtins_and_the_vendor_package(site: Path) -> None:
    done = cli(site, "targets")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  ")}
    assert "Drives ``reference_impl.Kernel``" in rows["reference"] and "[builtin" in rows["reference"]
    assert "Vendor box 3.2" in rows["vendorbox"] and "entry point of vendor-target 1.0" in rows["vendorbox"]
    assert "is not a subclass of conformance.targets.base.Target" in rows["notatarget"]
    assert "vendor-target:reference" in rows  # a third party cannot take over a builtin name
    assert "cannot import module 'conformance.targets.vm'" in rows["linux-vm"] or "linux-vm" in rows
    assert "ssh:[USER@]HOST[:PORT]" in rows


def test_a_vendor_target_runs_a_suite_selection_with_its_options(site: Path, tmp_path: Path) -> None:
    done = cli(site, "run", "--target", "vendorbox", "--target-opt", "firmware=7.1", "-k", "second_init or api_config",
               f"--report-dir={tmp_path}")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["target"]["details"]["options"] == {"firmware": "7.1"}
    assert document["summary"]["pass"] > 0 and document["summary"]["fail"] == 0


def test_a_class_that_is_not_a_target_is_one_line_exit_2(site: Path, tmp_path: Path) -> None:
    for target in ("notatarget", "vendortarget:NotATarget"):
        done = cli(site, "run", "--target", target, f"--report-dir={tmp_path}")
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "is not a subclass of conformance.targets.base.Target" in lines[0]


def test_an_undeclared_option_names_the_declared_ones(site: Path, tmp_path: Path) -> None:
    done = cli(site, "run", "--target", "vendorbox", "--target-opt", "colour=red", f"--report-dir={tmp_path}")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "mroute-conformance: error: --target-opt colour=...: target 'vendorbox' has no option 'colour'; valid: firmware"
    )


def test_a_constructor_that_raises_is_one_line_and_no_test_passes(site: Path, tmp_path: Path) -> None:
    done = cli(site, "run", "--target", "exploding", "-k", "second_init", f"--report-dir={tmp_path}")
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["tests"] and all(t["outcome"] == "error" for t in document["tests"])
    assert all("'exploding' could not be built: ValueError: firmware blob missing" in t["message"] for t in document["tests"])


def test_targets_check_builds_once(site: Path) -> None:
    done = cli(site, "targets", "--check", "vendorbox", "--target-opt", "firmware=1")
    assert done.returncode == 0 and done.stdout.startswith("vendorbox: ok: VendorBox, profile documented, 4 ports")
    done = cli(site, "targets", "--check", "exploding")
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1 and "firmware blob missing" in done.stderr
    done = cli(site, "targets", "--check", "nosuch")
    assert done.returncode == 2 and "unknown target 'nosuch'" in done.stderr


def test_a_registered_target_whose_module_is_absent_is_reported_not_crashed(monkeypatch: pytest.MonkeyPatch) -> None:
    """As linux-vm was before its branch landed: listed with the reason, refused in one line."""
    from conformance.targets.listing import target_rows

    monkeypatch.setitem(entrypoints.BUILTIN, "ghost-vm", "conformance.targets.ghost:GhostTarget")
    rows = {name: text for name, text, _ in target_rows()}
    assert rows["ghost-vm"] == (
        "(cannot load: target 'ghost-vm': cannot import module 'conformance.targets.ghost' "
        "(No module named 'conformance.targets.ghost'))"
    )
    with pytest.raises(registry.UsageError, match=r"^target 'ghost-vm': cannot import module 'conformance.targets.ghost'"):
        registry.build_target("ghost-vm", None)


def test_builtins_are_registered_in_pyproject_as_in_the_fallback_table() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"][entrypoints.GROUP] == entrypoints.BUILTIN

