"""Per-target expectation files: known failures, each pinned to the reason it fails for.

A listed test that fails with a message matching its reason is ``expected-fail``; one that
passes is ``unexpected-pass``; one whose message no longer matches fails the run. The format is
documented in ``docs/expectations.md``; :mod:`.entries` reads files, :mod:`.apply` judges
outcomes, :mod:`.wiring` applies that judgement to each report as it arrives, :mod:`.update`
writes a file from a run.
"""

from conformance.expectations.apply import Expectations
from conformance.expectations.entries import (
    FORMAT,
    Entry,
    ExpectationsError,
    default_path,
    load,
)

__all__ = ["FORMAT", "Entry", "Expectations", "ExpectationsError", "default_path", "load"]
