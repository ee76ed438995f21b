"""Recording real routing daemons (smcroute, ...) on a real kernel into replayable fixtures.

``run`` drives the linux-vm, ``strace`` parses the trace, ``convert`` merges it with the frames
sent and collected, ``kit`` writes fixtures of kind ``recording`` (docs/fixtures.md).
"""

from pathlib import Path

DEFAULT_KIT = Path(__file__).resolve().parent.parent.parent / "recordings"  # the project's shipped recordings
