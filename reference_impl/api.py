"""Advanced API negotiation (MRT_API_SUPPORT / MRT_API_CONFIG), IPv4 only."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reference_impl.mrouter import MRouter

MRT_MFC_FLAGS_DISABLE_WRONGVIF = 1 << 0
MRT_MFC_FLAGS_BORDER_VIF = 1 << 1
MRT_MFC_RP = 1 << 8
MRT_MFC_BW_UPCALL = 1 << 9
MRT_MFC_FLAGS_ALL = MRT_MFC_FLAGS_DISABLE_WRONGVIF | MRT_MFC_FLAGS_BORDER_VIF
MRT_API_FLAGS_ALL = MRT_MFC_FLAGS_ALL | MRT_MFC_RP | MRT_MFC_BW_UPCALL


def set_config(router: MRouter, buf: bytes) -> bytes:
    """Accept the supported subset of the requested features and write it back.

    Only allowed "right after MRT_INIT": no vif, no MFC entry (pending ones included) and
    asserts off, else errno ``api.not_first``.
    """
    from reference_impl.mrouter import Errno

    if router.numvifs() or router.mfc or router.pending or router.assert_on:
        raise Errno("api.not_first")
    requested = struct.unpack_from("<I", buf)[0]
    router.api_config = requested & (router.profile.api_support or 0)
    return struct.pack("<I", router.api_config) + buf[4:]
