"""Allure 3's single-file HTML report from a run's allure-results, grouped by clause group and clause.

Allure 3 (npm package ``allure``, no Java) renders raw results into one self-contained
``index.html``. We drive its CLI with a generated config: the "awesome" report plugin in
single-file mode, tests grouped by ``feature`` (clause group) then ``story`` (clause ID), and a
history file kept next to the report directory so trends survive from run to run.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

ENV = "MROUTE_ALLURE"  # path of an allure 3 executable, overriding the PATH lookup
INSTALL_HINT = "install Allure 3 with 'npm install -g allure@3' (needs Node.js >= 20) or set MROUTE_ALLURE"
TIMEOUT_S = 300.0


class AllureError(RuntimeError):
    """Allure 3 is missing or failed; the message is one line."""


def find_allure() -> str:
    """The allure executable: $MROUTE_ALLURE, else ``allure`` on PATH; must be Allure 3."""
    exe = os.environ.get(ENV) or shutil.which("allure")
    if not exe:
        raise AllureError(f"Allure 3 not found; {INSTALL_HINT}")
    try:
        done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise AllureError(f"cannot run {exe!r} ({exc.strerror}); {INSTALL_HINT}") from None
    version = (done.stdout or done.stderr).strip().splitlines()[-1:] or [""]
    if done.returncode != 0 or not version[0].lstrip("v").startswith("3"):
        raise AllureError(f"{exe!r} is not Allure 3 (version {version[0]!r}); {INSTALL_HINT}")
    return exe


def config(output: Path, name: str, history: Path | None) -> dict[str, object]:
    """The Allure 3 config: single-file awesome report, clause group then clause."""
    cfg: dict[str, object] = {
        "name": name,
        "output": str(output),
        "plugins": {
            "awesome": {
                "options": {"singleFile": True, "reportLanguage": "en", "groupBy": ["feature", "story"]}
            }
        },
    }
    if history is not None:
        cfg["historyPath"] = str(history)
    return cfg


def render(results: Path, output: Path, *, name: str, history: Path | None = None) -> Path:
    """Render ``results`` (an allure-results dir) into ``output``; returns the single HTML file."""
    if not results.is_dir() or not any(results.iterdir()):
        raise AllureError(f"{results}: no Allure results to render")
    exe = find_allure()
    with tempfile.TemporaryDirectory(prefix="mroute-allure-") as tmp:
        rc = Path(tmp) / "allurerc.json"
        rc.write_text(json.dumps(config(output.resolve(), name, history)), encoding="utf-8")
        try:
            done = subprocess.run(
                [exe, "generate", "--config", str(rc), str(results.resolve())],
                cwd=tmp, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
            )
        except subprocess.TimeoutExpired:
            raise AllureError(f"allure generate took longer than {TIMEOUT_S:.0f} s") from None
    index = output / "index.html"
    if done.returncode != 0 or not index.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise AllureError(f"allure generate failed (exit {done.returncode}): {tail[0]}")
    return index


def embedded_tree(index: Path) -> dict[str, list[str]]:
    """The report's navigation tree as {top-level group: [its sub-groups]}, read from the single file.

    Allure 3's single-file report embeds each data file as ``d("name","<base64 JSON>")``.
    """
    data = dict(re.findall(r'd\("([^"]+)","([A-Za-z0-9+/=]*)"\)', index.read_text(encoding="utf-8")))
    if "widgets/tree.json" not in data:
        raise AllureError(f"{index}: no embedded tree (not an Allure 3 single-file report?)")
    tree = json.loads(base64.b64decode(data["widgets/tree.json"]))
    groups = tree["groupsById"]
    return {
        groups[g]["name"]: [groups[sub]["name"] for sub in groups[g].get("groups", [])]
        for g in tree["root"].get("groups", [])
    }
