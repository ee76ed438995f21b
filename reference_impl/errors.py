"""The model's failure signal: a named failure path the kernel maps to the profile's errno."""

from __future__ import annotations


class Errno(Exception):
    """A failure path; the kernel turns it into OSError with the profile's errno."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path
