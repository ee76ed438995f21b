"""Write a converted daemon run as a fixture of kind ``recording`` into a kit (JSON + pcapng + MANIFEST).

The document is an ordinary fixture (the same steps, pcap and masks as the suite's exported
scenarios, so ``mroute-conformance replay`` runs it) plus ``kind: "recording"`` and a
``recording`` object saying what ran where (daemon, version, command, configuration, kernel,
tracer) and what the trace held that the steps leave out. Two recording-only rules:

* ``recv`` steps carry ``partial: true``: the daemon read these datagrams one by one, so they are
  compared with the oldest waiting and any others stay queued for the next ``recv`` step.
* a ``vifctl`` with ``VIFF_USE_IFINDEX`` names its interface by index in ``vifc_lcl_addr``: that
  field becomes a port reference, so the replay uses the target's ifindex of that port.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.fixtures import MANIFEST, jsonfmt, manifest
from conformance.fixtures.scenario import build
from conformance.recording import DEFAULT_KIT
from conformance.recording.convert import Converted
from conformance.targets.base import Port
from reference_impl.profiles import Profile

KIND = "recording"


def _port_refs(steps: list[dict[str, Any]], profile: Profile, ports: list[Port]) -> None:
    by_ifindex = {p.ifindex: p.index for p in ports}
    for step in steps:
        args = step.get("args")
        if step.get("struct") != "vifctl" or not args or not args.get("vifc_flags", 0) & profile.vif_use_ifindex:
            continue
        ifindex = int.from_bytes(bytes(int(b) for b in str(args["vifc_lcl_addr"]).split(".")), "little", signed=True)
        if ifindex in by_ifindex:
            args["vifc_lcl_addr"] = {"port": by_ifindex[ifindex], "attr": "ifindex"}


def recording_id(name: str) -> str:
    """The stable ID of recording ``<daemon>/<name>``: ``recorded.daemon-run/<daemon>.<name>`` (the
    suite's ``<clause>/<module>.<scenario>`` shape, the daemon as module, ``-`` spelled ``_``)."""
    daemon, _, rest = name.partition("/")
    return f"recorded.daemon-run/{daemon}.{rest}".replace("-", "_").replace("daemon_run", "daemon-run")


def document(conv: Converted, profile: Profile, ports: list[Port], name: str, description: str,
             meta: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The fixture document (pcap sha256 filled in) and the pcapng bytes for one recorded run."""
    built = build(conv.recording, profile, ports, {
        "id": recording_id(name), "description": description, "clauses": ["recorded.daemon-run"],
        "tests": [], "pcap": f"pcaps/{name}.pcapng"})
    doc = built.fixture
    _port_refs(doc["steps"], profile, ports)
    for step in doc["steps"]:
        if step["op"] == "recv":
            step["partial"] = True
    pcap = built.pcap_bytes()
    doc["pcap"]["sha256"] = manifest.sha256(pcap)
    ordered = {"format": doc["format"], "kind": KIND, "id": doc["id"], "description": description,
               "recording": {**meta, "excluded": conv.excluded}}
    ordered.update({k: v for k, v in doc.items() if k not in ordered})
    return ordered, pcap


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write(kit: Path, name: str, doc: dict[str, Any], pcap: bytes) -> Path:
    """Write ``fixtures/NAME.json`` and ``pcaps/NAME.pcapng`` under ``kit`` and refresh its MANIFEST."""
    fixture = kit / "fixtures" / f"{name}.json"
    doc["pcap"]["sha256"] = manifest.sha256(pcap)
    _write(kit / doc["pcap"]["path"], pcap)
    _write(fixture, jsonfmt.dumps(doc))
    files: dict[str, bytes | str] = {p.relative_to(kit).as_posix(): p.read_bytes()
             for top in ("fixtures", "pcaps") for p in sorted((kit / top).rglob("*"))
             if p.is_file() and p.name != MANIFEST.name and not p.name.startswith(".")}
    _write(kit / MANIFEST, manifest.render(files, manifest.omitted(kit)))
    return fixture


def recorded_fixtures(kit: Path = DEFAULT_KIT) -> list[Path]:
    """Every recording fixture in ``kit`` (sorted)."""
    out = []
    for path in sorted((kit / "fixtures").rglob("*.json")):
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("kind") == KIND:
                out.append(path)
        except (OSError, ValueError):
            continue
    return out
