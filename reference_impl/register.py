"""PIM Register handling for packets sent to the register vif."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reference_impl.mfc import MfcEntry
    from reference_impl.mrouter import MRouter
    from reference_impl.packets import IPPacket


class Register:
    """Kernel Register encapsulation (MRT_MFC_RP) and WHOLEPKT fragmentation."""

    def __init__(self, router: MRouter) -> None:
        self.router = router

    def encapsulate(self, entry: MfcEntry, pkt: IPPacket) -> bool:
        """Send a PIM Register to the entry's RP; False when the packet must go up whole."""
        return False

    def fragments(self, inner: bytes) -> list[bytes]:
        return [inner]
