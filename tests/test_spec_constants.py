"""The API's constants are defined once, in mroute_spec; everything else imports them.

Walks every Python file of the project outside mroute_spec/ and fails on an assignment to a name
mroute_spec defines (or to any IPPROTO_* name), so a second literal definition cannot creep back.
"""

from __future__ import annotations

import ast
import enum
from collections.abc import Iterator
from pathlib import Path

import pytest

import mroute_spec.abi
import mroute_spec.constants
import mroute_spec.options
from mroute_spec.abi import ABIS, IOCTLS
from mroute_spec.options import OPTIONS, Direction, option_by_number
from reference_impl.profiles import PROFILES

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"mroute_spec", ".git", "out", "fixtures", "pcaps", "node_modules", ".venv", "build", "dist"}


def spec_names() -> set[str]:
    """Every public UPPER_CASE name and enum member that mroute_spec defines."""
    names: set[str] = set()
    for module in (mroute_spec.constants, mroute_spec.abi, mroute_spec.options):
        for name, value in vars(module).items():
            if name.isupper() and not name.startswith("_"):
                names.add(name)
            if isinstance(value, type) and issubclass(value, enum.Enum) and value.__module__ == module.__name__:
                names.update(value.__members__)
    return names - {"R", "BSD", "LINUX"}  # short local aliases of the option table, not API constants


def redefinitions(source: str, names: set[str]) -> Iterator[tuple[int, str]]:
    """(line, name) of every assignment in ``source`` that binds one of ``names`` or an IPPROTO_* name."""
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name) and (leaf.id in names or leaf.id.startswith("IPPROTO_")):
                    yield leaf.lineno, leaf.id


def project_files() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*.py")):
        if not SKIP_DIRS.intersection(path.relative_to(ROOT).parts[:-1]):
            yield path


def test_the_checker_catches_a_redefinition() -> None:
    src = "IPPROTO_PIM = 103\nVIFF_TUNNEL, X = 1, 2\nclass A:\n    BW_UPCALL_GEQ = 4\nY = IPPROTO_IGMP\n"
    found = list(redefinitions(src, spec_names()))
    assert found == [(1, "IPPROTO_PIM"), (2, "VIFF_TUNNEL"), (4, "BW_UPCALL_GEQ")]


def test_no_constant_of_the_spec_is_defined_outside_it() -> None:
    names = spec_names()
    assert {"IPPROTO_PIM", "IPPROTO_IGMP", "IPPROTO_ICMPV6", "VIFF_REGISTER", "MRT_MFC_RP",
            "IGMPMSG_NOCACHE", "BW_UPCALL_LEQ", "ETH_P_IP"} <= names
    found = [f"{path.relative_to(ROOT)}:{line}: {name}"
             for path in project_files() for line, name in redefinitions(path.read_text(), names)]
    assert not found, "constants defined outside mroute_spec (import them from there):\n" + "\n".join(found)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_profile_reads_its_option_numbers_from_the_table(profile: str) -> None:
    p = PROFILES[profile]
    assert p.ioctls is IOCTLS[p.abi_name]
    for spec in OPTIONS:
        table = p.options4 if spec.version == 4 else p.options6
        assert table.get(spec.name) == spec.numbers.get(p.abi_name)
        payload = spec.payload_for(p.abi_name)
        assert payload is None or payload in ABIS[p.abi_name], (spec.name, payload)


def test_numbers_are_unique_per_abi_and_level_except_the_bsd_assert_alias() -> None:
    for abi in ABIS:
        for version in (4, 6):
            seen: dict[int, str] = {}
            for spec in OPTIONS:
                if spec.version == version and spec.available(abi):
                    number = spec.numbers[abi]
                    if number in seen:
                        assert {seen[number], spec.name} == {"MRT_ASSERT", "MRT_PIM"}, (abi, number)
                        first = option_by_number(abi, version, number)
                        assert first is not None and first.name == "MRT_ASSERT"
                    seen.setdefault(number, spec.name)


def test_every_gettable_option_is_answered_by_the_model() -> None:
    from reference_impl.mrouter import GETTABLE

    assert {s.role for s in OPTIONS if Direction.GET in s.direction} == GETTABLE


def test_the_option_doc_is_the_table() -> None:
    """docs/spec/options.md is generated from mroute_spec.options, never edited apart from it."""
    from mroute_spec.options import markdown_table

    doc = (ROOT / "docs" / "spec" / "options.md").read_text()
    assert doc.endswith(markdown_table()), (
        "docs/spec/options.md is stale: regenerate its table with mroute_spec.options.markdown_table()")
