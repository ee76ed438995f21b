"""Every profile fact names its source, and every docs/spec citation resolves inside the repo.

A profile's ``sources`` maps each fact, ABI and capability field (and each errno path, as
"errnos.<path>") to where its value comes from: a section of the project's notes under
docs/spec/ (``docs/spec/linux.md §4.4``), a kernel source file and function, or both. This test
fails on a fact without a citation, a citation of a fact the profile does not have, and a
``§`` anchor that the cited notes do not contain.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from reference_impl.profiles import PROFILES, Profile, cited_keys

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "spec"
CITATION = re.compile(r"docs/spec/(?P<file>[\w-]+\.md)(?P<anchors>(?:[ ,/and]*§[\d.]+(?:-§?[\d.]+)?)*)")
ANCHOR = re.compile(r"§(\d+(?:\.\d+)*)(?:-§?(\d+(?:\.\d+)*))?")
KERNEL_SOURCE = re.compile(r"\b[\w/]+\.[ch]\b")


def _expand(first: str, last: str | None) -> set[str]:
    """``§3.1-3.4`` -> {3.1, 3.2, 3.3, 3.4}; ``§7-§8`` -> {7, 8}; a single anchor -> itself."""
    if last is None:
        return {first}
    a, b = first.split("."), last.split(".")
    if len(a) != len(b) or a[:-1] != b[:-1] or int(b[-1]) < int(a[-1]):
        return {first, last}
    return {".".join([*a[:-1], str(n)]) for n in range(int(a[-1]), int(b[-1]) + 1)}


@cache
def anchors(name: str) -> frozenset[str]:
    """The § anchors a notes file defines: "§X.Y" written anywhere (ranges expanded), and for the
    files that number with headings ("## 4.") and list items ("3."), "4" and "4.3"."""
    text = (DOCS / name).read_text(encoding="utf-8")
    found: set[str] = set()
    for m in ANCHOR.finditer(text):
        found |= _expand(m.group(1), m.group(2))
    section = None
    for line in text.splitlines():
        heading = re.match(r"#+\s+(\d+)\.\s", line)
        if heading:
            section = heading.group(1)
            found.add(section)
            continue
        item = re.match(r"(\d+)\.\s", line)
        if item and section is not None:
            found.add(f"{section}.{item.group(1)}")
    return frozenset(found)


def unresolved(citation: str) -> list[str]:
    """The docs/spec references in ``citation`` that do not resolve, and why."""
    problems = []
    for m in CITATION.finditer(citation):
        name = m.group("file")
        if not (DOCS / name).is_file():
            problems.append(f"docs/spec/{name} does not exist")
            continue
        for a in ANCHOR.finditer(m.group("anchors")):
            missing = _expand(a.group(1), a.group(2)) - anchors(name)
            if missing:
                problems.append(f"docs/spec/{name} has no §{', §'.join(sorted(missing))}")
    return problems


@pytest.mark.parametrize("profile", list(PROFILES.values()), ids=list(PROFILES))
def test_every_fact_of_every_profile_names_its_source(profile: Profile) -> None:
    missing = sorted(cited_keys(profile) - set(profile.sources))
    stale = sorted(set(profile.sources) - cited_keys(profile))
    assert not missing, f"profile {profile.name}: facts without a source: {missing}"
    assert not stale, f"profile {profile.name}: sources of facts it does not have: {stale}"


@pytest.mark.parametrize("profile", list(PROFILES.values()), ids=list(PROFILES))
def test_every_source_is_a_resolvable_citation(profile: Profile) -> None:
    bad = {}
    for key, citation in sorted(profile.sources.items()):
        if "unverified" in citation.lower():
            bad[key] = f"{citation!r}: a value nobody could confirm is no source"
        elif not (CITATION.search(citation) or KERNEL_SOURCE.search(citation)):
            bad[key] = f"{citation!r} names neither docs/spec/<file>.md § nor a kernel source file"
        elif problems := unresolved(citation):
            bad[key] = "; ".join(problems)
    assert not bad, f"profile {profile.name}:\n  " + "\n  ".join(f"{k}: {v}" for k, v in bad.items())


def test_the_anchor_resolver_reads_both_numbering_styles() -> None:
    assert {"3.1", "3.2", "7", "8"} <= anchors("freebsd.md")  # "§3.1-3.2", "## §7-§8"
    assert {"4", "4.3"} <= anchors("netbsd.md")  # "## 4." and its item "3."
    assert unresolved("docs/spec/linux.md §4.4 (queue of 4)") == []
    assert unresolved("docs/spec/linux.md §99.1") == ["docs/spec/linux.md has no §99.1"]
    assert unresolved("docs/spec/nowhere.md §1") == ["docs/spec/nowhere.md does not exist"]


# -- `mroute-conformance profiles`: the same data, for a reader ---------------------------------
def test_profiles_command_lists_shows_and_diffs(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from conformance.cli import main

    assert main(["profiles"]) == 0
    assert [ln.split()[0] for ln in capsys.readouterr().out.splitlines()] == list(PROFILES)
    assert main(["profiles", "linux", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {r["key"] for r in shown["rows"]} == cited_keys(PROFILES["linux"])
    row = next(r for r in shown["rows"] if r["key"] == "nocache_queue_depth")
    assert (row["value"], row["source"]) == (4, PROFILES["linux"].sources["nocache_queue_depth"])
    assert main(["profiles", "freebsd", "--diff", "freebsd-legacy", "--json"]) == 0
    diff = {r["key"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert diff["nocache_queue_depth"]["value"] == 3 and diff["nocache_queue_depth"]["other"]["value"] == 5
    assert "maxvifs" not in diff  # the same in both


@pytest.mark.parametrize(("argv", "message"), [
    (["profiles", "bsd"], "NAME: unknown profile 'bsd'"),
    (["profiles", "linux", "--diff", "bsd"], "--diff: unknown profile 'bsd'"),
    (["profiles", "--diff", "linux"], "--diff: needs a profile NAME"),
])
def test_profiles_command_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                                           message: str) -> None:
    from conformance.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
