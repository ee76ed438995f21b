"""The ABI tables against a C compiler: sizes and offsets, byte for byte.

Linux layouts are checked against this machine's <linux/mroute.h> and <linux/mroute6.h>; the
FreeBSD amd64 layouts against C replicas of the FreeBSD declarations compiled for x86_64 (the
same LP64 rules), so a wrong offset in reference_impl.abi cannot hide.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mroute_spec.abi import ABIS, StructDef

# Our field name -> C member expression, where they differ (bw_upcall nests bw_data).
_MEMBER = {
    "bu_threshold_time": "bu_threshold.b_time", "bu_threshold_packets": "bu_threshold.b_packets",
    "bu_threshold_bytes": "bu_threshold.b_bytes", "bu_measured_time": "bu_measured.b_time",
    "bu_measured_packets": "bu_measured.b_packets", "bu_measured_bytes": "bu_measured.b_bytes",
    "bits": "icmp6_filt",
}

LINUX_STRUCTS = ["vifctl", "mfcctl", "sioc_sg_req", "sioc_vif_req", "igmpmsg", "mif6ctl", "mf6cctl",
                 "sioc_sg_req6", "sioc_mif_req6", "mrt6msg", "ip_mreq", "ipv6_mreq"]

LINUX_PRELUDE = """
#include <stdio.h>
#include <stddef.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/mroute.h>
#include <linux/mroute6.h>
"""

# FreeBSD declarations (sys/netinet/ip_mroute.h, sys/netinet6/ip6_mroute.h, sys/netinet6/in6_var.h).
BSD_PRELUDE = """
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
typedef unsigned short vifi_t, mifi_t, u_short; typedef unsigned char u_char; typedef unsigned long u_long;
typedef unsigned int u_int;
typedef uint64_t u_quad_t;
struct in_addr { uint32_t s_addr; };
struct in6_addr { uint8_t s6_addr[16]; };
struct sockaddr_in6 { uint8_t sin6_len; uint8_t sin6_family; uint16_t sin6_port; uint32_t sin6_flowinfo;
                      struct in6_addr sin6_addr; uint32_t sin6_scope_id; };
struct timeval { int64_t tv_sec; long tv_usec; };
struct vifctl { vifi_t vifc_vifi; u_char vifc_flags; u_char vifc_threshold; u_int vifc_rate_limit;
                struct in_addr vifc_lcl_addr; struct in_addr vifc_rmt_addr; };
struct mfcctl { struct in_addr mfcc_origin; struct in_addr mfcc_mcastgrp; vifi_t mfcc_parent;
                u_char mfcc_ttls[32]; };
struct mfcctl2 { struct in_addr mfcc_origin; struct in_addr mfcc_mcastgrp; vifi_t mfcc_parent;
                 u_char mfcc_ttls[32]; uint8_t mfcc_flags[32]; struct in_addr mfcc_rp; };
struct sioc_sg_req { struct in_addr src; struct in_addr grp; u_long pktcnt; u_long bytecnt; u_long wrong_if; };
struct sioc_vif_req { vifi_t vifi; u_long icount; u_long ocount; u_long ibytes; u_long obytes; };
struct igmpmsg { uint32_t unused1; uint32_t unused2; u_char im_msgtype; u_char im_mbz; u_char im_vif;
                 u_char unused3; struct in_addr im_src, im_dst; };
struct bw_data { struct timeval b_time; uint64_t b_packets; uint64_t b_bytes; };
struct bw_upcall { struct in_addr bu_src; struct in_addr bu_dst; uint32_t bu_flags;
                   struct bw_data bu_threshold; struct bw_data bu_measured; };
struct if_set { uint32_t ifs_bits[8]; };
struct mif6ctl { mifi_t mif6c_mifi; u_char mif6c_flags; u_short mif6c_pifi; };
struct mf6cctl { struct sockaddr_in6 mf6cc_origin; struct sockaddr_in6 mf6cc_mcastgrp; mifi_t mf6cc_parent;
                 struct if_set mf6cc_ifset; };
struct mrt6msg { u_char im6_mbz; u_char im6_msgtype; uint16_t im6_mif; uint32_t im6_pad;
                 struct in6_addr im6_src, im6_dst; };
struct sioc_sg_req6 { struct sockaddr_in6 src; struct sockaddr_in6 grp; u_quad_t pktcnt; u_quad_t bytecnt;
                      u_quad_t wrong_if; };
struct sioc_mif_req6 { mifi_t mifi; u_quad_t icount; u_quad_t ocount; u_quad_t ibytes; u_quad_t obytes; };
struct ip_mreq { struct in_addr imr_multiaddr; struct in_addr imr_interface; };  /* netinet/in.h */
struct ipv6_mreq { struct in6_addr ipv6mr_multiaddr; unsigned int ipv6mr_interface; };  /* netinet6/in6.h */
"""

BSD_STRUCTS = ["vifctl", "mfcctl", "mfcctl2", "sioc_sg_req", "sioc_vif_req", "igmpmsg", "bw_data", "bw_upcall",
               "mif6ctl", "mf6cctl", "mrt6msg", "sioc_sg_req6", "sioc_mif_req6", "ip_mreq", "ipv6_mreq"]


def _program(prelude: str, defs: list[StructDef]) -> str:
    lines = [prelude, "int main(void) {"]
    for sd in defs:
        lines.append(f'printf("{sd.name} size %zu\\n", sizeof(struct {sd.name}));')
        for f in sd.fields:
            member = _MEMBER.get(f.name, f.name)
            lines.append(f'printf("{sd.name} {f.name} %zu %zu\\n", offsetof(struct {sd.name}, {member}), '
                         f"sizeof(((struct {sd.name} *)0)->{member}));")
    lines.append("return 0; }")
    return "\n".join(lines)


def _compile_and_run(tmp_path: Path, source: str) -> dict[tuple[str, str], tuple[int, ...]]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: the C layout check needs a compiler")
    src, exe = tmp_path / "layout.c", tmp_path / "layout"
    src.write_text(source)
    subprocess.run(["gcc", "-std=gnu11", "-o", str(exe), str(src)], check=True, capture_output=True)
    out = {}
    for line in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines():
        name, member, *nums = line.split()
        out[(name, member)] = tuple(int(n) for n in nums)
    return out


def _check(defs: list[StructDef], measured: dict) -> None:
    problems = []
    for sd in defs:
        if measured[(sd.name, "size")] != (sd.size,):
            problems.append(f"{sd.name}: size {sd.size}, C says {measured[(sd.name, 'size')][0]}")
        for f in sd.fields:
            off, size = measured[(sd.name, f.name)]
            if (off, size) != (f.offset, f.size):
                problems.append(f"{sd.name}.{f.name}: offset/size {f.offset}/{f.size}, C says {off}/{size}")
    assert not problems, "ABI table disagrees with the C compiler:\n" + "\n".join(problems)


def test_linux_layouts_match_the_uapi_headers(tmp_path: Path) -> None:
    if not Path("/usr/include/linux/mroute.h").exists():
        pytest.skip("no <linux/mroute.h> on this machine (install linux-libc-dev)")
    defs = [ABIS["linux-amd64"][n] for n in LINUX_STRUCTS]
    _check(defs, _compile_and_run(tmp_path, _program(LINUX_PRELUDE, defs)))


def test_freebsd_amd64_layouts_match_c_replicas(tmp_path: Path) -> None:
    defs = [ABIS["bsd-amd64"][n] for n in BSD_STRUCTS]
    _check(defs, _compile_and_run(tmp_path, _program(BSD_PRELUDE, defs)))


@pytest.mark.parametrize("abi", sorted(ABIS))
def test_pack_then_unpack_round_trips(abi: str) -> None:
    """Every struct decodes what it encodes (non-zero values in every field)."""
    samples = {"u8": 7, "u16": 513, "u32": 70000, "u64": 2**40 + 5, "i64": -3, "ip4": "198.18.1.2",
               "ip6": "2001:db8::5", "u8x32": list(range(32)), "ifset": {0, 31, 33, 255},
               "timeval": (3, 999999), "sin6_bsd": "2001:db8::7", "sin6_linux": "ff3e::1"}
    for sd in ABIS[abi].values():
        values = {f.name: samples[f.kind] for f in sd.fields}
        raw = sd.pack(**values)
        assert len(raw) == sd.size
        assert sd.unpack(raw) == values, sd.name


def test_short_buffers_decode_only_whole_fields() -> None:
    sd = ABIS["bsd-amd64"]["vifctl"]
    assert set(sd.unpack(bytes(9))) == {"vifc_vifi", "vifc_flags", "vifc_threshold", "vifc_rate_limit"}
