"""Transition alias: the struct layouts now live in ``mroute_spec.abi`` (import from there)."""

from mroute_spec.abi import (
    ABIS,
    AF_INET6_BSD,
    AF_INET6_LINUX,
    BSD_AMD64,
    LINUX_AMD64,
    Field,
    StructDef,
    bsd_iowr,
    decode_kind,
    encode_kind,
)

__all__ = ["ABIS", "AF_INET6_BSD", "AF_INET6_LINUX", "BSD_AMD64", "LINUX_AMD64", "Field", "StructDef",
           "bsd_iowr", "decode_kind", "encode_kind"]
