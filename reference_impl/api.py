"""Advanced API negotiation (MRT_API_SUPPORT / MRT_API_CONFIG), IPv4 only."""

from __future__ import annotations

import struct

from reference_impl.contracts import RouterView
from reference_impl.errors import Errno


def set_config(router: RouterView, buf: bytes) -> bytes:
    """Accept the supported subset of the requested features and write it back.

    Only allowed "right after MRT_INIT": no vif, no MFC entry (pending ones included) and
    asserts off, else errno ``api.not_first``.
    """
    if router.numvifs() or router.mfc or router.pending or router.assert_on:
        raise Errno("api.not_first")
    requested = struct.unpack_from("<I", buf)[0]
    router.api_config = requested & (router.profile.api_support or 0)
    return struct.pack("<I", router.api_config) + buf[4:]
