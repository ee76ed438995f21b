"""Normalised observations and their differences.

What is compared, per step:
* the outcome of the call: ``ok`` or the errno name;
* counter reads: pktcnt/bytecnt/wrong_if, icount/ocount/ibytes/obytes;
* frames out, per port, as a multiset of decoded frames (packet number from the marker, src,
  dst, TTL / hop limit, IP length, destination MAC, IPv4 header checksum valid);
* upcalls, per family socket, in order: decoded kind, vif, src, dst, length and every byte the
  profiles define. Bytes a profile leaves undefined are masked (``__`` in the hex): the IPv4
  igmphdr tail (``profile.upcall4_trailer_undefined``, after the header copy) and IPv6 bytes 40.. of NOCACHE/WRONGMIF.
"""

from __future__ import annotations

import errno as E
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

from conformance.harness.packets import Frame, marker_of
from conformance.harness.upcalls import Upcall
from mroute_spec.messages import FULLY_DEFINED_KINDS, WHOLE_PACKET_KINDS, trailer_offsets
from reference_impl.profiles import Profile

OK = "ok"


def errno_name(code: int | None) -> str:
    return E.errorcode.get(code, str(code)) if code is not None else "OSError(no errno)"


def label(data: bytes) -> str:
    """``p<n>`` for a packet marked by ``ops.packet`` (``?`` when there is no marker)."""
    m = marker_of(data)
    return f"p{int.from_bytes(m[4:], 'big')}" if m and len(m) == 8 else "?"


class FrameKey(NamedTuple):
    pkt: str
    src: str
    dst: str
    ttl: int
    length: int
    eth_dst: str
    csum_ok: bool

    def __str__(self) -> str:
        extra = "" if self.csum_ok else " BAD-CSUM"
        return f"{self.pkt} {self.src}->{self.dst} ttl={self.ttl} len={self.length} mac={self.eth_dst}{extra}"


class UpcallKey(NamedTuple):
    kind: str
    msgtype: int
    vif: int
    src: str
    dst: str
    pkt: str  # the packet carried (WHOLEPKT-like kinds), else ""
    length: int
    defined: str  # hex of the bytes, undefined ones as "__"

    def __str__(self) -> str:
        carried = f", {self.pkt}" if self.pkt else ""
        return f"{self.kind}(vif={self.vif}, {self.src}->{self.dst}{carried}, len={self.length})"


def undefined_offsets(upcall: Upcall, profiles: tuple[Profile, ...]) -> set[int]:
    """Offsets of ``upcall`` that some profile leaves uninitialised (never compared)."""
    if upcall.kind in FULLY_DEFINED_KINDS:
        return set()
    out: set[int] = set()
    for p in profiles:
        if upcall.version == 4:
            out.update(trailer_offsets(upcall.raw, p.upcall4_trailer_undefined))
        else:
            out.update(range(40, p.upcall6_length))
    return out


def frame_key(f: Frame) -> FrameKey:
    ip = bytes(f.ip)
    length = int.from_bytes(ip[2:4], "big") if f.version == 4 else 40 + int.from_bytes(ip[4:6], "big")
    return FrameKey(label(f.raw), f.src, f.dst, f.ttl, length, f.eth_dst, f.header_checksum_ok)


def upcall_key(u: Upcall, profiles: tuple[Profile, ...]) -> UpcallKey:
    hidden = undefined_offsets(u, profiles)
    shown = "".join("__" if i in hidden else f"{b:02x}" for i, b in enumerate(u.raw))
    carried = label(u.raw) if u.kind in WHOLE_PACKET_KINDS else ""
    return UpcallKey(u.kind, u.msgtype, u.vif, u.src, u.dst, carried, len(u.raw), shown)


@dataclass(frozen=True)
class Seen:
    """Frames out per port (sorted: a multiset) and upcalls per family (in order)."""

    frames: tuple[tuple[int, tuple[FrameKey, ...]], ...]
    upcalls: tuple[tuple[int, tuple[UpcallKey, ...]], ...]

    def __str__(self) -> str:
        frames = {p: [str(f) for f in fs] for p, fs in self.frames}
        upcalls = {f"r{v}": [str(u) for u in us] for v, us in self.upcalls}
        return f"frames {frames or '{}'}, upcalls {upcalls or '{}'}"


def seen(raw: tuple[dict[int, list[Frame]], dict[int, list[Upcall]]], profiles: tuple[Profile, ...]) -> Seen:
    frames, upcalls = raw
    return Seen(
        tuple((p, tuple(sorted(frame_key(f) for f in fs))) for p, fs in sorted(frames.items()) if fs),
        tuple((v, tuple(upcall_key(u, profiles) for u in us)) for v, us in sorted(upcalls.items()) if us),
    )


@dataclass(frozen=True)
class Result:
    """A step's normalised result on one target: outcome (``ok`` or errno name) and value."""

    outcome: str
    value: object = None

    def __str__(self) -> str:
        if self.outcome != OK:
            return self.outcome
        return OK if self.value is None else str(self.value)


def normalise(value: object, error: OSError | None, profiles: tuple[Profile, ...]) -> Result:
    if error is not None:
        return Result(errno_name(error.errno))
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], dict):
        return Result(OK, seen(value, profiles))
    return Result(OK, value)


def _multiset_diff(what: str, model: tuple, kernel: tuple) -> list[str]:
    cm, ck = Counter(model), Counter(kernel)
    out = []
    only_m, only_k = cm - ck, ck - cm
    if only_m:
        out.append(f"{what}: only the model: " + "; ".join(f"{k} x{n}" for k, n in sorted(only_m.items())))
    if only_k:
        out.append(f"{what}: only the kernel: " + "; ".join(f"{k} x{n}" for k, n in sorted(only_k.items())))
    return out


def _upcalls_diff(v: int, model: tuple[UpcallKey, ...], kernel: tuple[UpcallKey, ...]) -> list[str]:
    if model == kernel:
        return []
    out = [f"r{v} upcalls: model {[str(u) for u in model]}, kernel {[str(u) for u in kernel]}"]
    for i, (m, k) in enumerate(zip(model, kernel, strict=False)):
        if m != k:
            fields = [f"{name}: model {a!r}, kernel {b!r}" for name, a, b in zip(m._fields, m, k, strict=True)
                      if a != b]
            out.append(f"  upcall {i}: " + "; ".join(fields))
    return out


def diff(model: Result, kernel: Result) -> list[str]:
    """Human-readable differences (empty when the two results agree)."""
    if model == kernel:
        return []
    if model.outcome != kernel.outcome:
        return [f"outcome: model {model}, kernel {kernel}"]
    m, k = model.value, kernel.value
    if isinstance(m, Seen) and isinstance(k, Seen):
        out: list[str] = []
        fm, fk = dict(m.frames), dict(k.frames)
        for port in sorted(set(fm) | set(fk)):
            out += _multiset_diff(f"port {port} frames", fm.get(port, ()), fk.get(port, ()))
        um, uk = dict(m.upcalls), dict(k.upcalls)
        for v in sorted(set(um) | set(uk)):
            out += _upcalls_diff(v, um.get(v, ()), uk.get(v, ()))
        return out
    if isinstance(m, dict) and isinstance(k, dict):
        return [f"{key}: model {m.get(key)!r}, kernel {k.get(key)!r}" for key in sorted(set(m) | set(k))
                if m.get(key) != k.get(key)]
    return [f"value: model {m!r}, kernel {k!r}"]


def signature(model: Result, kernel: Result) -> tuple:
    """What makes two results differ, without what they share (for minimising a scenario).

    Frames and upcalls contribute only what one side has and the other lacks (upcalls that
    differ only in order contribute both sequences); outcomes and counters their differing values.
    """
    if model.outcome != kernel.outcome:
        return ("outcome", model.outcome, kernel.outcome)
    m, k = model.value, kernel.value
    if isinstance(m, Seen) and isinstance(k, Seen):
        out: list[tuple] = []
        for what, side_m, side_k in (("frames", dict(m.frames), dict(k.frames)),
                                     ("upcalls", dict(m.upcalls), dict(k.upcalls))):
            for key in sorted(set(side_m) | set(side_k)):
                cm, ck = Counter(side_m.get(key, ())), Counter(side_k.get(key, ()))
                if cm != ck:
                    out.append((what, key, tuple(sorted((cm - ck).elements())), tuple(sorted((ck - cm).elements()))))
                elif side_m.get(key) != side_k.get(key):
                    out.append((what, key, "order", side_m.get(key), side_k.get(key)))
        return tuple(out)
    if isinstance(m, dict) and isinstance(k, dict):
        return tuple((key, m.get(key), k.get(key)) for key in sorted(set(m) | set(k)) if m.get(key) != k.get(key))
    return ("value", repr(m), repr(k))
