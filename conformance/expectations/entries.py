"""Reading an expectations file (TOML, or JSON of the same shape) into checked entries."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mroute_spec.catalog import load_catalog

FORMAT = "mroute-conformance/expectations/1"
EXPECTED_OUTCOMES = ("fail", "error")
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"  # packaged with the kit
_ENTRY_KEYS = {"test", "clause", "outcome", "reason", "reason_regex", "bug"}


class ExpectationsError(ValueError):
    """An unreadable or invalid expectations file; the message names the file and the entry."""


@dataclass(frozen=True)
class Entry:
    """One expected failure: a test (node ID) or every test of a clause, and why it fails."""

    test: str | None
    clause: str | None
    outcome: str
    reason: str | None
    reason_regex: str | None
    bug: str | None = None

    @property
    def subject(self) -> str:
        """``test <node id>`` or ``clause <id>``: what the entry names."""
        return f"test {self.test}" if self.test else f"clause {self.clause}"

    def describe_reason(self) -> str:
        """The reason as the file states it, saying how it is matched."""
        if self.reason_regex is not None:
            return f"regex {self.reason_regex!r}"
        return f"substring {self.reason!r}"

    def matches(self, message: str) -> bool:
        """Does the failure ``message`` carry this entry's reason (substring, or ``re.search``)?"""
        if self.reason_regex is not None:
            return re.search(self.reason_regex, message) is not None
        return self.reason is not None and self.reason in message

    def as_json(self) -> dict[str, str]:
        """The entry as the file would spell it (keys with values only)."""
        keys = ("test", "clause", "outcome", "reason", "reason_regex", "bug")
        return {key: value for key in keys if (value := getattr(self, key)) is not None}


def default_path(target_name: str) -> Path | None:
    """The file shipped with the kit for ``target_name`` (``shipped/<target>.toml``), if there is one."""
    path = SHIPPED_DIR / f"{target_name}.toml"
    return path if path.is_file() else None


def load(path: str | Path) -> list[Entry]:
    """Read and check ``path`` (``.json`` as JSON, anything else as TOML)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExpectationsError(f"expectations file {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ExpectationsError(
            f"expectations file {str(path)!r} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ExpectationsError(f"expectations file {str(path)!r} is not valid: {exc}") from None
    return parse(data, str(path))


def parse(data: Any, source: str) -> list[Entry]:
    """Check the parsed document ``data`` and return its entries in file order."""
    if not isinstance(data, dict):
        raise ExpectationsError(f"{source}: the top level must be a table/object")
    if data.get("format") != FORMAT:
        raise ExpectationsError(f"{source}: format must be {FORMAT!r}, got {data.get('format')!r}")
    unknown = set(data) - {"format", "target", "expect"}
    if unknown:
        raise ExpectationsError(f"{source}: unknown top-level keys {sorted(unknown)}")
    raw = data.get("expect", [])
    if not isinstance(raw, list):
        raise ExpectationsError(f"{source}: 'expect' must be an array of tables")
    entries = [_entry(item, f"{source}: expect[{i}]") for i, item in enumerate(raw)]
    seen: set[tuple[str | None, str | None]] = set()
    for i, entry in enumerate(entries):
        key = (entry.test, entry.clause)
        if key in seen:
            raise ExpectationsError(f"{source}: expect[{i}]: {entry.subject} is listed twice")
        seen.add(key)
    return entries


def _entry(item: Any, where: str) -> Entry:
    if not isinstance(item, dict):
        raise ExpectationsError(f"{where}: must be a table/object")
    unknown = set(item) - _ENTRY_KEYS
    if unknown:
        raise ExpectationsError(f"{where}: unknown keys {sorted(unknown)}; valid: {sorted(_ENTRY_KEYS)}")
    if any(not isinstance(value, str) for value in item.values()):
        raise ExpectationsError(f"{where}: every value must be a string")
    if ("test" in item) == ("clause" in item):
        raise ExpectationsError(f"{where}: name exactly one of 'test' (a node ID) or 'clause' (a clause ID)")
    if "clause" in item and item["clause"] not in load_catalog():
        raise ExpectationsError(f"{where}: unknown clause ID {item['clause']!r}")
    if ("reason" in item) == ("reason_regex" in item):
        raise ExpectationsError(f"{where}: give exactly one of 'reason' (substring) or 'reason_regex'")
    if item.get("reason") == "":
        raise ExpectationsError(f"{where}: an empty reason would match any message")
    if "reason_regex" in item:
        try:
            re.compile(item["reason_regex"])
        except re.error as exc:
            raise ExpectationsError(f"{where}: reason_regex does not compile: {exc}") from None
    outcome = item.get("outcome", "fail")
    if outcome not in EXPECTED_OUTCOMES:
        raise ExpectationsError(f"{where}: outcome {outcome!r}; valid: {', '.join(EXPECTED_OUTCOMES)}")
    return Entry(
        item.get("test"), item.get("clause"), outcome, item.get("reason"), item.get("reason_regex"),
        item.get("bug"),
    )
