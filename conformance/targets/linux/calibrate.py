"""Measure the Linux target on this host: setup, reset, settle costs and kernel reaction latency.

``python -m conformance.targets.linux.calibrate [-n N]`` prints JSON. The latency tails tell
whether ``COLLECT_QUIET`` / ``RECV_FIRST`` (target.py) leave enough margin on this machine; run it
under the load you test with (e.g. next to ``pytest -n auto``).
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import struct
import time
from typing import cast

from conformance.targets.linux.target import LinuxTarget
from reference_impl.profiles import LINUX

GROUP = "232.255.0.1"


def _frame(target: LinuxTarget, port: int, src: str, group: str, seq: int) -> bytes:
    """A minimal IPv4/UDP multicast frame (valid header checksum, UDP checksum 0)."""
    p = target.ports[port]
    g = socket.inet_aton(group)
    payload = b"calib" + struct.pack("!I", seq)
    udp = struct.pack("!HHHH", 40000, 50000, 8 + len(payload), 0) + payload
    hdr = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 8, 17, 0, socket.inet_aton(src), g
        )
    )
    csum = sum(struct.unpack("!10H", hdr))
    csum = (csum & 0xFFFF) + (csum >> 16)
    struct.pack_into("!H", hdr, 10, ~((csum & 0xFFFF) + (csum >> 16)) & 0xFFFF)
    mac = bytes([0x01, 0x00, 0x5E, g[1] & 0x7F, g[2], g[3]])
    return mac + bytes.fromhex(p.peer_mac.replace(":", "")) + b"\x08\x00" + bytes(hdr) + udp


def _pct(values: list[float]) -> dict[str, float]:
    v = sorted(values)

    def ms(q: float) -> float:
        return round(v[min(len(v) - 1, int(q * len(v)))] * 1e3, 3)

    return {"p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": ms(1.0)}


def _await(sock: socket.socket, timeout: float) -> bool:
    return bool(select.select([sock], [], [], timeout)[0])


def measure(n: int = 500) -> dict:
    """Run every measurement once and return the numbers."""
    o = LINUX.options4
    res: dict = {}
    t0 = time.monotonic()
    target = LinuxTarget()
    res["setup_s"] = round(time.monotonic() - t0, 4)
    try:
        m = target.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
        target.setsockopt(m, socket.IPPROTO_IP, o["MRT_INIT"], struct.pack("=i", 1))
        for i in range(2):
            target.setsockopt(
                m,
                socket.IPPROTO_IP,
                o["MRT_ADD_VIF"],
                LINUX.struct("vifctl").pack(
                    vifc_vifi=i, vifc_threshold=1, vifc_lcl_addr=target.ports[i].ipv4
                ),
            )
        src = target.ports[0].peer_ipv4
        target.setsockopt(
            m,
            socket.IPPROTO_IP,
            o["MRT_ADD_MFC"],
            LINUX.struct("mfcctl").pack(
                mfcc_origin=src, mfcc_mcastgrp=GROUP, mfcc_parent=0, mfcc_ttls=[0, 1]
            ),
        )
        cap = target._wires._capture[1]  # raw latency: bypass the settle logic on purpose
        raw = target._socks._open[cast(int, m.ident)]
        fwd, upc, lost = [], [], 0
        for seq in range(n):
            target._wires.drain(0)
            a = time.monotonic()
            target.send(0, _frame(target, 0, src, GROUP, seq))
            if _await(cap, 1.0):
                fwd.append(time.monotonic() - a)
            else:
                lost += 1
            a = time.monotonic()
            target.send(0, _frame(target, 0, f"198.18.{100 + seq // 250}.{1 + seq % 250}", GROUP, seq))
            if _await(raw, 1.0):
                upc.append(time.monotonic() - a)
                raw.recv(65536)
            else:
                lost += 1
        res["forward_latency"] = _pct(fwd)
        res["upcall_latency"] = _pct(upc)
        res["lost"] = lost
        target._wires.drain(0)
        k = min(n, 100)
        a = time.monotonic()
        for seq in range(k):
            target.send(0, _frame(target, 0, src, GROUP, seq))
            got = target.collect()
            assert len(got[1]) == 1, got
        el = time.monotonic() - a
        res["lockstep_send_collect_per_s"] = round(k / el, 1)
        res["collect_settle_ms"] = round(el / k * 1e3, 2)
        a = time.monotonic()
        for _ in range(k):
            target.collect()
        res["idle_collect_us"] = round((time.monotonic() - a) / k * 1e6, 1)
        burst = [_frame(target, 0, src, GROUP, seq) for seq in range(n)]
        a = time.monotonic()
        for f in burst:
            target.send(0, f)
        got = target.collect()
        res["burst"] = {"sent": n, "forwarded": len(got[1]), "send_collect_s": round(time.monotonic() - a, 4)}
        target.reset()
        resets = []
        for _ in range(20):
            m = target.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
            target.setsockopt(m, socket.IPPROTO_IP, o["MRT_INIT"], struct.pack("=i", 1))
            target.setsockopt(
                m,
                socket.IPPROTO_IP,
                o["MRT_ADD_VIF"],
                LINUX.struct("vifctl").pack(
                    vifc_vifi=0, vifc_threshold=1, vifc_lcl_addr=target.ports[0].ipv4
                ),
            )
            target.collect()  # as a test ends: its last look at the wires lets the router settle
            target.reset()
            resets.append(target.last_reset_s)
        res["reset"] = _pct(resets)
        res["settings"] = {"collect_quiet_s": target.quiet, "recv_first_s": target.recv_first}
    finally:
        a = time.monotonic()
        target.shutdown()
        res["shutdown_s"] = round(time.monotonic() - a, 4)
    return res


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=500, help="latency samples per kind")
    print(json.dumps(measure(ap.parse_args().n), indent=1))


if __name__ == "__main__":
    main()
