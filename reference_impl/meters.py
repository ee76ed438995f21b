"""Bandwidth meters (MRT_ADD_BW_UPCALL): per-(S,G) `>=` and `<=` measurements.

The install/delete options and the batching of IGMPMSG_BW_UPCALL records live here; the data
path calls ``packet()`` for every packet that passed RPF.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reference_impl.mfc import MfcEntry
    from reference_impl.mrouter import MRouter


class Meters:
    """All meters of one router."""

    def __init__(self, router: MRouter) -> None:
        self.router = router

    def packet(self, entry: MfcEntry, plen: int) -> None:
        """Account one RPF-passing packet to the entry's meters."""

    def drop_entry(self, entry: MfcEntry) -> None:
        """Meters go away with their MFC entry."""
        entry.meters.clear()

    def reset(self) -> None:
        """MRT_DONE: every meter and every pending record is discarded."""
