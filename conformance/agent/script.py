"""``mroute-conformance agent-script``: print the standalone agent for the machine under test.

The agent is ``standalone.py`` next to this module, kept as one self-contained, stdlib-only file
for Python >= 3.8 (it never imports the project), so the command only copies its text out.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from conformance.errors import report_error

SCRIPT = "standalone.py"


def script_text() -> str:
    """The standalone agent's source."""
    return resources.files("conformance.agent").joinpath(SCRIPT).read_text(encoding="utf-8")


def cmd_agent_script(args: argparse.Namespace, extra: list[str]) -> int:
    """Write the script to ``--output`` (made executable) or stdout."""
    text = script_text()
    if args.output is None:
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    try:
        out.write_text(text, encoding="utf-8")
        out.chmod(0o755)
    except OSError as exc:
        return report_error(f"agent-script: cannot write --output {str(out)!r}: {exc.strerror or exc}")
    return 0


def add_agent_script(commands: argparse._SubParsersAction) -> None:
    """Register the ``agent-script`` subcommand."""
    parser = commands.add_parser(
        "agent-script",
        allow_abbrev=False,
        help="print the standalone agent (one stdlib-only Python >= 3.8 file) to run on the machine under test",
        description="Print the standalone agent: copy it to a Linux or FreeBSD machine and run "
        "'python3 agent.py --help' there; see docs/targets.md.",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (made executable) instead of stdout")
    parser.set_defaults(func=cmd_agent_script, valid_options="-o/--output")
