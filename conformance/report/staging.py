"""A run's report directory, written into a temporary sibling and moved into place at the end.

Until :meth:`Stage.publish`, nothing of the previous report is touched; a run that is abandoned
(bad input, second Ctrl-C) leaves it as it was. Only the files a run writes are replaced, so other
files in the directory are never removed; the replaced results.json is kept as
previous-results.json, which report.html compares with.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from conformance.interrupts import ABANDONED

# Everything `run` writes into --report-dir; publishing replaces exactly these.
MANAGED = ("results.json", "report.html", "junit.xml", "allure-results", "allure-report", "deviations")
PREVIOUS = "previous-results.json"  # the replaced results.json, kept for "since the previous run"


class StageError(Exception):
    """The report directory cannot be written; the message is one line naming it."""


class Stage:
    """A temporary sibling of ``report_dir`` that the run writes into."""

    def __init__(self, report_dir: Path) -> None:
        """Check ``report_dir`` can be written and create the staging sibling (raises StageError)."""
        self.report_dir = report_dir
        if report_dir.exists() and not report_dir.is_dir():
            raise StageError(f"--report-dir {str(report_dir)!r}: exists and is not a directory")
        blocker = next((p for p in report_dir.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise StageError(f"--report-dir {str(report_dir)!r}: {str(blocker)!r} is not a directory")
        try:
            report_dir.parent.mkdir(parents=True, exist_ok=True)
            if report_dir.is_dir() and not os.access(report_dir, os.W_OK | os.X_OK):
                raise PermissionError(13, "Permission denied")
            self.path = Path(tempfile.mkdtemp(prefix=f".{report_dir.name or 'report'}.staging-", dir=report_dir.parent))
        except OSError as exc:
            raise StageError(f"--report-dir {str(report_dir)!r}: cannot write there: {exc.strerror or exc}") from None

    def publish(self) -> None:
        """Replace the report's files by the staged ones, then remove the staging directory."""
        self.report_dir.mkdir(exist_ok=True)
        old_results = self.report_dir / "results.json"
        if (self.path / "results.json").is_file() and old_results.is_file() and not old_results.is_symlink():
            old_results.replace(self.report_dir / PREVIOUS)
        for name in MANAGED:
            old, new = self.report_dir / name, self.path / name
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            elif old.exists() or old.is_symlink():
                old.unlink()
            if new.exists():
                shutil.move(new, old)
        self.discard()

    def abandon(self, child_running: bool) -> None:
        """Give up on this run: a running child removes the directory when it ends, else do it now."""
        if child_running:
            (self.path / ABANDONED).touch()
        else:
            self.discard()

    def discard(self) -> None:
        """Remove the staging directory (the previous report stays as it was)."""
        shutil.rmtree(self.path, ignore_errors=True)
