"""The harness: tests speak intent, the harness speaks the target's bytes."""

from conformance.harness.core import Harness

__all__ = ["Harness"]
