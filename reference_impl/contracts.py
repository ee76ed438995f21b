"""What the model's parts need of each other, as Protocols, so no part imports its owner.

The router reads its kernel through ``KernelView``; meters, Register encapsulation and the API
negotiation read their router through ``RouterView``. Both are satisfied structurally by
``kernel.Kernel`` and ``mrouter.MRouter``; this keeps the import graph acyclic.
"""

from __future__ import annotations

from typing import Protocol

from reference_impl.clock import VirtualClock
from reference_impl.family import Family
from reference_impl.mfc import MfcEntry, Pending
from reference_impl.profiles import Profile
from reference_impl.vifs import Interface, Vif


class KernelView(Protocol):
    """The kernel as a router sees it: profile, interfaces, clock and the wire."""

    @property
    def profile(self) -> Profile: ...
    @property
    def interfaces(self) -> list[Interface]: ...
    @property
    def clock(self) -> VirtualClock: ...

    def interface(self, ifindex: int) -> Interface: ...
    def route(self, addr: str) -> Interface | None: ...
    def emit(self, port: int, frame: bytes) -> None: ...


class RouterView(Protocol):
    """One family's router as its meters, Register encapsulation and API negotiation see it."""

    api_config: int  # written by MRT_API_CONFIG

    @property
    def kernel(self) -> KernelView: ...
    @property
    def family(self) -> Family: ...
    @property
    def profile(self) -> Profile: ...
    @property
    def vifs(self) -> list[Vif | None]: ...
    @property
    def mfc(self) -> dict[tuple[str, str], MfcEntry]: ...
    @property
    def pending(self) -> dict[tuple[str, str], Pending]: ...
    @property
    def assert_on(self) -> bool: ...
    @property
    def init_time(self) -> float: ...

    def numvifs(self) -> int: ...
    def vif(self, index: int) -> Vif | None: ...
    def upcall(self, message: bytes) -> None: ...
