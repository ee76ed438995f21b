"""Profiles as data files: adding a profile changes no module, only a file, and a bad file gets one line.

reference_impl/profile_files.py reads them; ``--profile FILE.toml`` runs the suite with one and
``profiles NAME --toml`` writes one.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.report.profiles_cmd import profile_toml
from conformance.targets import registry
from reference_impl.profile_files import ProfileFileError, load_profile_file, profile_from_data
from reference_impl.profiles import FREEBSD, PROFILES, cited_keys

TOY = """\
name = "toy"
description = "FreeBSD with a deeper pending queue"
extends = "freebsd"
nocache_queue_depth = 4
[errnos]
"vif.in_use" = "EBUSY"
"socket6.get_non_router" = "succeeds"
[sources]
nocache_queue_depth = "toy net/mroute.c add_pending: MAX_PENDING 4"
"errnos.vif.in_use" = "toy net/mroute.c vif_add: busy slot"
"""


def write(tmp_path: Path, text: str, name: str = "toy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_builtin_profile_round_trips_through_a_file(name: str) -> None:
    """Every field type a profile has can be written and read: a complete file is the same profile."""
    p = PROFILES[name]
    back = profile_from_data(tomllib.loads(profile_toml(p, f"copy-{name}", p.description)), name)
    assert replace(back, name=name) == p
    assert dict(back.sources) == dict(p.sources)


def test_a_toy_profile_extends_a_builtin_one(tmp_path: Path) -> None:
    toy = load_profile_file(write(tmp_path, TOY))
    assert toy == replace(FREEBSD, name="toy", description="FreeBSD with a deeper pending queue",
                          nocache_queue_depth=4,
                          errnos={**{k: v for k, v in FREEBSD.errnos.items() if k != "socket6.get_non_router"},
                                  "vif.in_use": "EBUSY"})
    assert toy.sources["nocache_queue_depth"].startswith("toy ")
    assert toy.sources["maxvifs"] == FREEBSD.sources["maxvifs"]
    assert set(toy.sources) == cited_keys(toy)  # the removed path's citation went with it


def test_a_run_with_a_toy_profile_file_changes_no_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The done-when of issue 10: a new profile is a data file; the reference runs under it, and the
    suite asserts the file's facts (the queue depth test expects 4 packets, not FreeBSD's 3)."""
    path = write(tmp_path, TOY)
    out = tmp_path / "out"
    rc = main(["run", f"--profile={path}", f"--report-dir={out}", "--clause", "nocache.queue-depth", "--clause", "vif.*"])
    assert rc == 0, capsys.readouterr()
    doc = json.loads((out / "results.json").read_text())
    assert doc["target"]["profile"] == "toy"
    assert doc["profile_file"]["path"] == str(path.resolve()) and doc["profile_file"]["extends"] == "freebsd"
    assert doc["verdict"] == "pass" and doc["summary"]["pass"] > 0 and doc["summary"]["fail"] == 0
    assert "profile file" in (out / "report.html").read_text()


def test_the_profiles_command_shows_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", str(write(tmp_path, TOY)), "--diff", "freebsd"]) == 0
    out = capsys.readouterr().out
    assert "nocache_queue_depth = 4" in out and "toy net/mroute.c" in out and "maxvifs" not in out


BAD = [
    ('name = "toy"\ndescription = "d"\nextends = "freebsd"\nnocache_qeue_depth = 4\n', "unknown profile field 'nocache_qeue_depth' (did you mean 'nocache_queue_depth'?)"),
    ('name = "toy"\ndescription = "d"\nextends = "freebsd"\nnocache_queue_depth = "4"\n', "nocache_queue_depth must be int"),
    ('name = "toy"\ndescription = "d"\nextends = "freebsd"\nmaxvifs = true\n', "maxvifs must be int"),
    ('name = "toy"\ndescription = "d"\nextends = "freebsd"\ninit_value = "two"\n', "init_value = 'two' is not one of"),
    ('name = "toy"\ndescription = "d"\nextends = "freebsd"\nmaxvifs = 16\n', "[sources] does not cite maxvifs"),
    ('name = "toy"\ndescription = "d"\nextends = "freebsd"\n[errnos]\n"vif.in_use" = "EBUZY"\n', "errnos.vif.in_use = 'EBUZY' is not an errno name"),
    ('name = "toy"\ndescription = "d"\nextends = "freebsd"\n[sources]\nbogus = "x"\n', "cites bogus, which the profile does not have"),
    ('name = "freebsd"\ndescription = "d"\nextends = "freebsd"\n', "is a built-in profile's"),
    ('name = "toy"\ndescription = "d"\nextends = "freebsd-13"\n', "extends 'freebsd-13': not one of"),
    ('name = "toy"\ndescription = "d"\nextends = "freebsd"\nabi_name = "sparc"\n', "abi_name 'sparc' is not one of"),
    ('name = "toy"\ndescription = "d"\nextends = "freebsd"\nmrt_range4 = [1]\n', "mrt_range4 must be a list of 2"),
    ('name = "toy"\ndescription = "d"\n', "without 'extends', abi_name must be given"),
    ('name = "toy"\ndescription = "d"\nabi_name = "bsd-amd64"\n[errnos]\n', "[sources] does not cite"),
    ('name = "toy"\n', "'description' must be a non-empty string"),
    ('name = "toy"\ndescription = "d"\nextends = "freebsd"\n[errnos]\n"vif.tunnel" = "succeeds"\n',
     "names no errno for vif.tunnel"),
    ('name = "toy"\ndescription = "d"\nextends = "freebsd"\nadd_vif_checks = ["index_range", "tunel"]\n'
     '[sources]\nadd_vif_checks = "x"\n', "'tunel' is not one of"),
    ('name = "toy\n', "not TOML"),
]


@pytest.mark.parametrize(("text", "problem"), BAD, ids=[p for _, p in BAD])
def test_a_bad_file_is_one_line_naming_the_file_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProfileFileError) as err:
        load_profile_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_the_cli_gives_a_bad_profile_file_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    previous = tmp_path / "out"
    previous.mkdir()
    (previous / "results.json").write_text("{}")
    for text in (BAD[0][0], None):
        path = write(tmp_path, text) if text else tmp_path / "missing.toml"
        assert main(["run", f"--profile={path}", f"--report-dir={previous}"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(path) in err and "Traceback" not in err
    assert (previous / "results.json").read_text() == "{}"  # nothing of the user's is lost


def test_a_kernel_target_takes_a_file_only_over_its_own_abi(tmp_path: Path) -> None:
    with pytest.raises(registry.UsageError, match="does not fit target 'linux'"):
        registry.resolve_profile("linux", str(write(tmp_path, TOY)))
    linux_toy = TOY.replace('extends = "freebsd"', 'extends = "linux"')
    prof = registry.resolve_profile("linux", str(write(tmp_path, linux_toy, "linux-toy.toml")))
    assert prof is not None and prof.abi_name == "linux-amd64" and prof.nocache_queue_depth == 4


def test_the_vif_checks_a_profile_may_name_are_the_models() -> None:
    from typing import get_args

    from reference_impl.profiles import CHECK_ERRNOS, VifCheck, missing_errnos
    from reference_impl.vifs import CHECKS

    assert set(get_args(VifCheck)) == set(CHECKS) == set(CHECK_ERRNOS)
    assert all(missing_errnos(p) == [] for p in PROFILES.values())
    assert missing_errnos(replace(FREEBSD, add_vif_checks=(*FREEBSD.add_vif_checks, "flags"))) == ["vif.bad_flags"]
