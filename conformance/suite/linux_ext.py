"""What the linuxext.* tests share: the probe for a Linux extension and raw Linux-numbered calls.

The Linux extensions (docs/spec/linux.md §"Linux extensions") are not part of the seed API: a
target without them must end these tests ``unsupported``, never ``fail``. The probe sends the
option at its Linux number (mroute_spec.options) and calls the feature absent when the target
answers the way a kernel without it does (ENOPROTOOPT: number outside the routing range or unknown;
EOPNOTSUPP / EINVAL: a BSD-style gate). Oracles here are written from the kernel source, never
from the model.
"""

from __future__ import annotations

import errno
import struct

from conformance.harness.expect import errname
from conformance.harness.routing import RoutingSocket
from conformance.outcomes import unsupported
from mroute_spec.abi import ABIS
from mroute_spec.constants import (
    MRT_FLUSH_MFC,
    MRT_FLUSH_MFC_STATIC,
    MRT_FLUSH_VIFS,
    MRT_FLUSH_VIFS_STATIC,
)
from mroute_spec.options import BY_NAME, LINUX

ABSENT = (errno.ENOPROTOOPT, errno.EOPNOTSUPP, errno.EINVAL)
FLUSH_NAMES = ((MRT_FLUSH_MFC, "MFC"), (MRT_FLUSH_MFC_STATIC, "MFC_STATIC"), (MRT_FLUSH_VIFS, "VIFS"),
               (MRT_FLUSH_VIFS_STATIC, "VIFS_STATIC"))


def linux_number(r: RoutingSocket, role: str) -> int:
    """The Linux option number of ``role`` at the socket's level (the probe needs it on any target)."""
    return BY_NAME[r.family.opt(role)].numbers[LINUX]


def probe(h, r: RoutingSocket, role: str, value: bytes, present: tuple[int, ...] = ()) -> None:
    """End the test ``unsupported`` unless the target implements the Linux option ``role``.

    ``value`` must be harmless where the option exists; an errno in ``present`` (e.g. ENOENT for
    deleting an absent proxy entry) also proves the option is there."""
    number = linux_number(r, role)
    try:
        h.target.setsockopt(r.sock, r.family.level, number, value)
    except OSError as e:
        if e.errno in present:
            return
        if e.errno in ABSENT:
            unsupported(f"probe setsockopt({r.family.opt(role)}={number}) failed with {errname(e.errno)}")
        raise
    if r.family.opt(role) not in (r.profile.options4 if r.version == 4 else r.profile.options6):
        raise AssertionError(f"{r.family.opt(role)} answered on the target but profile {r.profile.name!r} lacks it")


def require_get(h, r: RoutingSocket, role: str) -> None:
    """``unsupported`` unless getsockopt of the Linux-numbered option ``role`` answers (no side effect)."""
    number = linux_number(r, role)
    try:
        h.target.getsockopt(r.sock, r.family.level, number, 4)
    except OSError as e:
        if e.errno in ABSENT:
            unsupported(f"probe getsockopt({r.family.opt(role)}={number}) failed with {errname(e.errno)}")
        raise


def require_flush(h, r: RoutingSocket) -> None:
    """MRT_FLUSH / MRT6_FLUSH present (probed with flags 0: flushes nothing)."""
    probe(h, r, "flush", struct.pack("<i", 0))


def require_proxy(h, r: RoutingSocket) -> None:
    """MRT_DEL_MFC_PROXY present, and with it Linux's (*,G) / (*,*) entries (both came with the
    same kernel change, Linux 3.8 "add multicast proxy support"). Probed by deleting an absent
    entry: ENOENT (ipmr_mfc_delete) means the option exists."""
    if r.version == 4:
        arg = ABIS[LINUX]["mfcctl"].pack(mfcc_origin="198.51.100.254", mfcc_mcastgrp="232.255.255.254",
                                         mfcc_parent=31)
    else:
        arg = ABIS[LINUX]["mf6cctl"].pack(mf6cc_origin="2001:db8:ffff::fe", mf6cc_mcastgrp="ff3e::ffff:fffe",
                                          mf6cc_parent=31)
    probe(h, r, "del_mfc_proxy", arg, present=(errno.ENOENT,))


def require_table(h, r: RoutingSocket) -> None:
    """MRT_TABLE / MRT6_TABLE present (CONFIG_IP_MROUTE_MULTIPLE_TABLES), probed by selecting the
    default table 254 on a socket that is not a routing socket."""
    probe(h, r, "table", struct.pack("<I", 254))


def table(r: RoutingSocket, table_id: int) -> None:
    r.set_raw("table", struct.pack("<I", table_id))


def flush(r: RoutingSocket, flags: int) -> None:
    r.set_int("flush", flags)


def flush_name(flags: int) -> str:
    return "|".join(n for bit, n in FLUSH_NAMES if flags & bit) or "0"


def proxy(r: RoutingSocket, add: bool, src: str, grp: str, parent: int, ttls: dict[int, int] | None = None) -> None:
    """MRT_ADD_MFC_PROXY / MRT_DEL_MFC_PROXY: the MFC argument with ``parent`` as part of the key."""
    r.set_raw("add_mfc_proxy" if add else "del_mfc_proxy", r.mfc_args(src, grp, parent, ttls))


def expect_errno(code: int, what: str):
    """A context manager: the call inside fails with ``code`` (kernel source), nothing else."""
    return _Expect(code, what)


class _Expect:
    def __init__(self, code: int, what: str) -> None:
        self.code, self.what = code, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ, exc, tb) -> bool:
        got = exc.errno if isinstance(exc, OSError) else None
        if exc is not None and not isinstance(exc, OSError):
            return False
        if got != self.code:
            raise AssertionError(f"{self.what}: expected {errname(self.code)}, got {errname(got)}")
        return True
