"""report.html as a browser renders it: headless Chromium's DOM must agree with results.json.

Needs the Debian package ``chromium`` (scripts/check installs it); without it these tests skip,
saying so. The screenshot is kept under the test's tmp dir, and in ``out/report-screenshot.png``
when the environment variable MROUTE_ARTIFACTS is set.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance import outcomes, verdict
from conformance.cli import main
from conformance.report.deviations import deviation_clauses
from conformance.report.html import render
from conformance.results import set_verdict
from mroute_spec.catalog import groups, load_catalog

REPO = Path(__file__).resolve().parents[1]
SUBSET = "vif_threshold or not_installed or queue_depth or test_support_read"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; scripts/check does it as root)")
    return exe


def browse(page: Path, profile_dir: Path, *flags: str) -> subprocess.CompletedProcess:
    """Run headless Chromium on ``page`` with the given output flags (no network, no profile reuse)."""
    cmd = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile_dir}", *flags, page.resolve().as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


@dataclass
class Node:
    """An element of the rendered DOM (enough of one to count rows and read cells)."""

    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find(self, tag: str | None = None, **attrs: str) -> list[Node]:
        return [
            n for n in self.iter()
            if (tag is None or n.tag == tag) and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def by_id(self, ident: str) -> Node:
        (node,) = [n for n in self.iter() if n.attrs.get("id") == ident]
        return node

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)


class TreeBuilder(HTMLParser):
    """Builds a Node tree from serialized HTML (Chromium's --dump-dom output is well nested)."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(Node("#text", {}, text=data))


def dom_of(page: Path, tmp_path: Path) -> Node:
    """The DOM Chromium built for ``page``."""
    done = browse(page, tmp_path / "chromium-profile", "--dump-dom")
    builder = TreeBuilder()
    builder.feed(done.stdout)
    return builder.root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run on the reference target (a subset, with its deviation passes)."""
    chromium()
    out = tmp_path_factory.mktemp("run")
    assert main(["run", f"--report-dir={out}", "--deviations", "-k", SUBSET]) == 0
    return out


def results_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def test_the_clause_table_renders_one_row_per_catalog_clause_with_its_outcome(run_dir: Path, tmp_path: Path) -> None:
    doc, dom = results_of(run_dir), dom_of(run_dir / "report.html", tmp_path)
    table = dom.by_id("clauses")
    rows = table.find("tr", **{"class": "clause"})
    assert [r.attrs["data-clause"] for r in rows] == list(load_catalog())
    assert {r.attrs["data-clause"]: r.attrs["data-outcome"] for r in rows} == doc["clauses"]
    assert [h.all_text() for h in table.find("th", **{"class": "group"})] == list(groups())
    row = table.by_id("clause-vif.threshold")
    assert "conflict" in row.all_text() and "Programming guide: adding interfaces" in row.all_text()


def test_the_totals_match_results_json(run_dir: Path, tmp_path: Path) -> None:
    doc, dom = results_of(run_dir), dom_of(run_dir / "report.html", tmp_path)
    for outcome in outcomes.OUTCOMES:
        (cell,) = dom.find("td", data_summary=outcome)
        assert int(cell.all_text()) == doc["summary"][outcome], outcome
        (cell,) = dom.find("td", data_clause_total=outcome)
        assert int(cell.all_text()) == sum(o == outcome for o in doc["clauses"].values()), outcome
    (untested,) = dom.find("td", data_clause_total="untested")
    assert int(untested.all_text()) == sum(o == "untested" for o in doc["clauses"].values())
    assert len(dom.by_id("tests").find("tr", data_outcome="pass")) == doc["summary"]["pass"]
    assert dom.by_id("verdict").all_text() == "pass"


def test_the_deviation_register_renders_with_the_ranking(run_dir: Path, tmp_path: Path) -> None:
    dom = dom_of(run_dir / "report.html", tmp_path)
    rows = dom.by_id("deviations").find("tr", **{"class": "deviation"})
    assert [r.attrs["data-clause"] for r in rows] == deviation_clauses()
    ranked = [r.attrs["data-profile"] for r in dom.by_id("ranking").find("tr") if "data-profile" in r.attrs]
    assert ranked[0] == "documented"
    (queue,) = [r for r in rows if r.attrs["data-clause"] == "nocache.queue-depth"]
    cells = {c.attrs["data-profile"]: c for c in queue.find("td") if "data-profile" in c.attrs}
    assert cells["freebsd"].attrs["data-outcome"] == "fail" and "nocache_queue_depth=3" in cells["freebsd"].all_text()
    assert "documented" in queue.all_text()


def test_failing_tests_are_linked_from_their_clause_with_their_message(run_dir: Path, tmp_path: Path) -> None:
    doc = copy.deepcopy(results_of(run_dir))
    broken = next(t for t in doc["tests"] if "vif.threshold" in t["clauses"])
    broken.update(outcome="fail", message="TTL 9: expected copies on [], got [1] <b>&amp;</b>")
    doc["clauses"]["vif.threshold"] = "fail"
    doc["summary"]["pass"] -= 1
    doc["summary"]["fail"] += 1
    del doc["verdict"], doc["verdict_reason"]  # as in a results.json written before the verdict field
    page = tmp_path / "failing.html"
    page.write_text(render(doc))
    dom = dom_of(page, tmp_path)
    row = dom.by_id("clause-vif.threshold")
    (link,) = row.find("a")
    target = dom.by_id(link.attrs["href"].removeprefix("#"))
    assert broken["id"] in target.all_text() and target.attrs["data-outcome"] == "fail"
    assert "got [1] <b>&amp;</b>" in row.all_text()  # shown as text, not markup
    assert dom.by_id("verdict").all_text() == "fail"


def test_the_report_is_self_contained(run_dir: Path) -> None:
    text = (run_dir / "report.html").read_text()
    assert "<script" not in text.lower() and "url(" not in text and "@import" not in text
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text)
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', text))


def test_the_report_command_renders_the_same_file(run_dir: Path, tmp_path: Path) -> None:
    assert main(["report", str(run_dir / "results.json"), "-o", str(tmp_path / "again.html")]) == 0
    assert (tmp_path / "again.html").read_bytes() == (run_dir / "report.html").read_bytes()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_screenshot_and_print(run_dir: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report-screenshot.png"
    browse(run_dir / "report.html", tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2000")
    assert png_size(shot) == (1280, 2000) and shot.stat().st_size > 50_000  # a rendered page, not a blank one
    if os.environ.get("MROUTE_ARTIFACTS"):
        (REPO / "out").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "out" / "report-screenshot.png")
    pdf = tmp_path / "report.pdf"
    browse(run_dir / "report.html", tmp_path / "profile-pdf", f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b(?!s)", data)) >= 2


MEASURE = """<script>
(function () {
  var head = document.getElementById("headline").getBoundingClientRect();
  var b = document.body;
  b.setAttribute("data-scroll-width", document.documentElement.scrollWidth);
  b.setAttribute("data-viewport-width", window.innerWidth);
  b.setAttribute("data-headline-bottom", Math.ceil(head.bottom));
  b.setAttribute("data-verdict-bottom", Math.ceil(document.getElementById("verdict").getBoundingClientRect().bottom));
})();
</script>"""


def layout_of(page: Path, tmp_path: Path) -> tuple[dict[str, int], str]:
    """Chromium's layout of ``page`` at 1280x800 (measured by a script added to a copy of it), and
    its console output (a page error or a failed resource shows there)."""
    probe = tmp_path / f"measured-{page.name}"
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    done = browse(probe, tmp_path / "profile-measure", "--window-size=1280,800", "--enable-logging=stderr",
                  "--v=0", "--dump-dom")
    body = TreeBuilder()
    body.feed(done.stdout)
    (node,) = body.root.find("body")
    return {k.removeprefix("data-"): int(v) for k, v in node.attrs.items() if k.startswith("data-")}, done.stderr


def failing_report(run_dir: Path, tmp_path: Path) -> Path:
    """The run's report as if a clause had failed with long evidence (a long unbroken value included)."""
    doc = copy.deepcopy(results_of(run_dir))
    broken = next(t for t in doc["tests"] if "vif.threshold" in t["clauses"])
    evidence = ["AssertionError: TTL 9 through a vif with threshold 10: expected one copy on ports none, got 1",
                "  raw: expected " + "ab" * 300 + ", got " + "cd" * 300]
    broken.update(outcome="fail", message=" | ".join(evidence), evidence=evidence)
    doc["tests"][0]["id"] += "[" + "x" * 400 + "]"
    page = tmp_path / "failing.html"
    page.write_text(render(set_verdict(doc, verdict.decide(doc["tests"], doc["target"]))))
    return page


@pytest.mark.parametrize("kind", ["pass", "fail"])
def test_at_1280_px_no_console_errors_no_horizontal_overflow_and_the_headline_above_the_fold(
    run_dir: Path, tmp_path: Path, kind: str
) -> None:
    page = run_dir / "report.html" if kind == "pass" else failing_report(run_dir, tmp_path)
    layout, console = layout_of(page, tmp_path)
    assert "CONSOLE" not in console, console
    assert layout["viewport-width"] == 1280  # (headless Chromium's window height includes its frame)
    assert layout["scroll-width"] <= 1280, layout  # long IDs and byte values wrap
    assert layout["headline-bottom"] <= 800, layout  # verdict, counts and target without scrolling at 1280x800
    assert dom_of(page, tmp_path).by_id("verdict").all_text() == kind


def test_the_deviation_register_is_neutral_inside_a_passing_report(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    register = html[html.index('id="accepted-deviations"'):html.index('id="clauses"')]
    assert "Accepted deviations" in register and "accepted deviations</b>, not failures" in register
    assert 'class="badge o-fail"' not in register and "differs" in register  # no red badges, neutral words


def test_an_untested_run_is_headed_untested_with_its_reason(run_dir: Path, tmp_path: Path) -> None:
    doc = copy.deepcopy(results_of(run_dir))
    for test in doc["tests"]:
        test.update(outcome="skip", message="target unavailable: no ipmr")
    doc["target"]["details"] = {"unavailable": "this kernel has no IPv4 multicast routing (MRT_INIT: ENOPROTOOPT)"}
    page = tmp_path / "untested.html"
    page.write_text(render(set_verdict(doc, verdict.decide(doc["tests"], doc["target"]))))
    dom = dom_of(page, tmp_path)
    assert dom.by_id("verdict").all_text() == "untested"
    assert dom.by_id("verdict-reason").all_text() == (
        f"{doc['target']['name']} target unavailable: this kernel has no IPv4 multicast routing (MRT_INIT: ENOPROTOOPT)"
    )
    assert dom.find("title")[0].all_text().startswith("UNTESTED: ")
