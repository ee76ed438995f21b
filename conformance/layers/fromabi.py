"""Scapy layers generated from the ABI struct definitions, so no struct layout is written twice.

``struct_fields`` turns a ``reference_impl.abi.StructDef`` into a scapy ``fields_desc`` (with padding
fields for every gap, so a layer is exactly ``StructDef.size`` bytes); ``struct_packet`` wraps that in
a ``StructPacket`` subclass; ``abi_layer`` caches one class per (ABI, struct).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, ClassVar, Self

from scapy.fields import (
    ByteField,
    Field,
    IP6Field,
    IPField,
    LEIntField,
    LELongField,
    LEShortField,
    LESignedLongField,
    XStrFixedLenField,
    _FieldContainer,  # the element type of Packet.fields_desc (private in scapy, needed to type ours)
)
from scapy.packet import Packet

from mroute_spec.abi import ABIS, StructDef
from mroute_spec.abi import Field as AbiField
from mroute_spec.abi import decode_kind as abi_decode
from mroute_spec.abi import encode_kind as abi_encode

_SCALAR = {
    "u8": ByteField,
    "u16": LEShortField,
    "u32": LEIntField,
    "u64": LELongField,
    "i64": LESignedLongField,
}
_DEFAULTS: dict[str, Any] = {"u8x32": [0] * 32, "ifset": frozenset()}  # other kinds: all-zero bytes
TIMEVAL_PARTS = ("sec", "usec")


class AbiKindField(Field[Any, bytes]):
    """A fixed-size field encoded by the ABI's codec: u8x32 as a list, ifset as a set, sin6 as an address.

    Bytes that are not the canonical encoding of their decoded value (a sockaddr_in6 with a port, an
    all-zero one) are kept as raw ``bytes``, so dissecting and rebuilding never changes a byte.
    """

    __slots__ = ("kind", "nbytes")
    islist = 1  # a list value is one value, not a set of packets to generate

    def __init__(self, name: str, kind: str, size: int) -> None:
        self.kind, self.nbytes = kind, size
        Field.__init__(self, name, _DEFAULTS.get(kind, bytes(size)), fmt=f"{size}s")

    def h2i(self, pkt: Packet | None, x: Any) -> Any:
        return self.m2i(pkt, self.i2m(pkt, x))

    def any2i(self, pkt: Packet | None, x: Any) -> Any:
        return self.h2i(pkt, x)

    def i2m(self, pkt: Packet | None, x: Any) -> bytes:
        if x is None:
            x = self.default
        if isinstance(x, bytes) and len(x) == self.nbytes:
            return x
        return abi_encode(self.kind, x)

    def m2i(self, pkt: Packet | None, x: bytes) -> Any:
        value = abi_decode(self.kind, x)
        if abi_encode(self.kind, value) != x:
            return bytes(x)
        return frozenset(value) if isinstance(value, set) else value

    def i2repr(self, pkt: Packet | None, x: Any) -> str:
        if isinstance(x, bytes):
            return f"{abi_decode(self.kind, x)} [raw {x.hex()}]"
        if isinstance(x, frozenset):
            return "{" + ", ".join(map(str, sorted(x))) + "}"
        return str(x)

    def to_value(self, x: Any) -> Any:
        """``x`` in the form ``StructDef.unpack`` gives."""
        return abi_decode(self.kind, self.i2m(None, x))


def _scapy_fields(f: AbiField) -> list[Field[Any, Any]]:
    if f.kind in _SCALAR:
        return [_SCALAR[f.kind](f.name, 0)]
    if f.kind == "ip4":
        return [IPField(f.name, "0.0.0.0")]
    if f.kind == "ip6":
        return [IP6Field(f.name, "::")]
    if f.kind == "timeval":
        return [LESignedLongField(f"{f.name}_{part}", 0) for part in TIMEVAL_PARTS]
    return [AbiKindField(f.name, f.kind, f.size)]


def struct_fields(
    sd: StructDef, overrides: Mapping[str, Field[Any, Any] | Sequence[Field[Any, Any]]] | None = None
) -> list[Field[Any, Any] | _FieldContainer]:
    """Scapy fields for ``sd`` in offset order, padding gaps as ``pad<offset>``; ``overrides`` replace a field's default mapping."""
    todo = dict(overrides or {})
    out: list[Field[Any, Any] | _FieldContainer] = []
    pos = 0
    for f in sorted(sd.fields, key=lambda f: f.offset):
        if f.offset < pos:
            raise ValueError(f"{sd.name}.{f.name} overlaps the previous field")
        if f.offset > pos:
            out.append(XStrFixedLenField(f"pad{pos}", bytes(f.offset - pos), f.offset - pos))
        over = todo.pop(f.name, None)
        if over is None:
            out.extend(_scapy_fields(f))
        else:
            out.extend([over] if isinstance(over, Field) else over)
        pos = f.offset + f.size
    if pos < sd.size:
        out.append(XStrFixedLenField(f"pad{pos}", bytes(sd.size - pos), sd.size - pos))
    if todo:
        raise KeyError(f"{sd.name} has no field(s) {sorted(todo)}")
    return out


class StructPacket(Packet):
    """Base of the generated layers: converts between scapy fields and ``StructDef.pack`` values."""

    struct_def: ClassVar[StructDef]

    @classmethod
    def from_values(cls, **values: Any) -> Self:
        """Build from the values ``StructDef.pack`` takes (a timeval is a ``(sec, usec)`` pair)."""
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            if cls.struct_def.field(name).kind == "timeval":
                kwargs.update({f"{name}_{p}": v for p, v in zip(TIMEVAL_PARTS, value, strict=True)})
            else:
                kwargs[name] = value
        return cls(**kwargs)

    def to_values(self) -> dict[str, Any]:
        """The field values in ``StructDef.unpack`` form (padding left out)."""
        out: dict[str, Any] = {}
        for f in self.struct_def.fields:
            if f.kind == "timeval":
                out[f.name] = tuple(self.getfieldval(f"{f.name}_{p}") for p in TIMEVAL_PARTS)
            elif f.kind in ("ip4", "ip6"):
                out[f.name] = str(ipaddress.ip_address(self.getfieldval(f.name)))
            elif isinstance(fld := self.get_field(f.name), AbiKindField):
                out[f.name] = fld.to_value(self.getfieldval(f.name))
            else:
                out[f.name] = self.getfieldval(f.name)
        return out


def struct_packet(
    sd: StructDef,
    cls_name: str | None = None,
    overrides: Mapping[str, Field[Any, Any] | Sequence[Field[Any, Any]]] | None = None,
) -> type[StructPacket]:
    """A ``StructPacket`` subclass whose fields are ``struct_fields(sd, overrides)``."""
    cls = type(
        cls_name or sd.name,
        (StructPacket,),
        {"name": sd.name, "struct_def": sd, "fields_desc": struct_fields(sd, overrides)},
    )
    return cls


@cache
def abi_layer(abi_name: str, struct_name: str) -> type[StructPacket]:
    """The generated layer for ``struct_name`` in ABI ``abi_name`` (e.g. ``"bsd-amd64"``, ``"mfcctl2"``)."""
    sd = ABIS[abi_name][struct_name]
    return struct_packet(sd, f"{struct_name}_{abi_name.replace('-', '_')}")
