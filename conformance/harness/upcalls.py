"""Decoding what a routing socket reads: upcalls (by the profile's ABI, through
mroute_spec.messages, the one codec) and real IGMP/MLD."""

from __future__ import annotations

from dataclasses import dataclass, field

from mroute_spec.messages import decode_upcall as decode_message
from mroute_spec.messages import is_upcall as is_upcall
from reference_impl.profiles import Profile


@dataclass
class Upcall:
    """One kernel message, decoded: the fields the spec defines, plus the raw bytes."""

    version: int
    kind: str
    msgtype: int
    vif: int
    src: str
    dst: str
    raw: bytes
    body: bytes = b""  # the whole packet (WHOLEPKT) or the records (BW_UPCALL)
    fields: dict = field(default_factory=dict)

    @property
    def records(self) -> list[dict]:
        """IGMPMSG_BW_UPCALL: the decoded 80-byte bw_upcall records."""
        return self.fields.get("records", [])

    def describe(self) -> str:
        return f"{self.kind}(vif={self.vif}, src={self.src}, dst={self.dst}, len={len(self.raw)})"


def decode_upcall(version: int, data: bytes, profile: Profile) -> Upcall:
    """An upcall read on a routing socket, decoded by the profile's ABI."""
    m = decode_message(version, data, profile.abi_name)
    fields = {**m.fields, "records": list(m.records)} if m.kind == "BW_UPCALL" else dict(m.fields)
    return Upcall(version, m.kind, m.msgtype, m.vif, m.src, m.dst, m.raw, m.body, fields)
