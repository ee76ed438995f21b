"""Decoding what a routing socket reads: upcalls (by the profile's ABI) and real IGMP/MLD."""

from __future__ import annotations

from dataclasses import dataclass, field

from mroute_spec.constants import IGMPMSG_NAMES_BSD, MRT6MSG_NAMES, MRT6MSG_WRMIFWHOLE
from reference_impl.profiles import Profile

KINDS4 = IGMPMSG_NAMES_BSD  # type 4 is WRVIFWHOLE where the profile has pim_whole_value (Linux)
KINDS6 = {t: n for t, n in MRT6MSG_NAMES.items() if t != MRT6MSG_WRMIFWHOLE}  # likewise WRMIFWHOLE


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


def is_upcall(version: int, data: bytes) -> bool:
    """IPv4: im_mbz (the ip_p byte) is zero; IPv6: im6_mbz (byte 0) is zero."""
    if version == 4:
        return len(data) >= 20 and data[9] == 0
    return len(data) >= 40 and data[0] == 0


def decode_upcall(version: int, data: bytes, profile: Profile) -> Upcall:
    if version == 4:
        f = profile.struct("igmpmsg").unpack(data)
        vif = f["im_vif"] | (f.get("im_vif_hi", 0) << 8)
        kind = KINDS4.get(f["im_msgtype"], f"type{f['im_msgtype']}")
        if f["im_msgtype"] == 4 and profile.pim_whole_value:  # Linux: type 4 is IGMPMSG_WRVIFWHOLE
            kind = "WRVIFWHOLE"
        body = data[20:] if f["im_msgtype"] in (3, 4) else b""
        if kind == "BW_UPCALL" and "bw_upcall" in profile.abi:
            rec = profile.struct("bw_upcall")
            f["records"] = [rec.unpack(body[i : i + rec.size]) for i in range(0, len(body) - rec.size + 1, rec.size)]
        return Upcall(4, kind, f["im_msgtype"], vif, f["im_src"], f["im_dst"], data, body, f)
    f = profile.struct("mrt6msg").unpack(data)
    kind = KINDS6.get(f["im6_msgtype"], f"type{f['im6_msgtype']}")
    if f["im6_msgtype"] == 4 and profile.pim_whole_value:  # Linux: MRT6MSG_WRMIFWHOLE
        kind = "WRMIFWHOLE"
    body = data[40:] if f["im6_msgtype"] in (3, 4) else b""
    return Upcall(6, kind, f["im6_msgtype"], f["im6_mif"], f["im6_src"], f["im6_dst"], data, body, f)
