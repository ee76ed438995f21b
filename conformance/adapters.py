"""A ``MODULE:CLASS`` target is checked before anything runs: importable, a concrete Target subclass.

Otherwise every test of the run would error with the same long traceback; here it is one line
(``registry.UsageError``), exit 2 for ``run`` and a usage error for plain pytest.
"""

from __future__ import annotations

from conformance.targets import registry, remote
from conformance.targets.base import Target

BASE = "conformance.targets.base.Target"


def check_adapter(spec: str) -> None:
    """Raise ``registry.UsageError`` unless ``spec`` is builtin or names a class that can be built."""
    if spec in registry.BUILTIN or remote.is_remote(spec):
        return  # agents are checked by the registry (command found, port valid) and at hello
    try:
        cls = registry._import_class(spec)  # the registry's own lookup, so both agree
    except registry.UsageError:
        raise
    except Exception as exc:  # the module itself is broken (SyntaxError, an error at import time)
        raise registry.UsageError(f"target {spec!r}: importing it failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(cls, type) or not issubclass(cls, Target):
        raise registry.UsageError(f"target {spec!r}: {cls!r} is not a subclass of {BASE}")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise registry.UsageError(
            f"target {spec!r}: class {cls.__name__} cannot be built: it does not implement {', '.join(missing)}"
        )
