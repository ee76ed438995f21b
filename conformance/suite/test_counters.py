"""counters.*: SIOCGETSGCNT / SIOCGETVIFCNT and their IPv6 twins, against traffic the test sent.

Byte counts are whole IP datagrams (IPv4 total length, IPv6 40 + payload length), or for IPv4
under a profile that counts payload only (NetBSD) the bytes after the IP header: the expected
values are summed from the very packets sent (``h.counted_bytes``). Which packets an (S,G) counts is implementation-
defined (Linux also counts arrivals on the wrong interface): the profile says.
"""

from __future__ import annotations

import pytest

from conformance.harness.expect import assert_fields

SG_ABSENT = {4: "counters.sg_absent", 6: "counters.sg6_absent"}
VIF_RANGE = {4: "counters.vif_range", 6: "counters.mif_range"}
VIF_KEY = {4: "vifi", 6: "mifi"}


def send_all(h, port: int, pkts: list) -> int:
    """Send each packet once on ``port``; the total of the bytes the profile counts for them."""
    for pkt in pkts:
        h.send(port, pkt)
    return sum(h.counted_bytes(pkt) for pkt in pkts)


def vif_counts(icount: int = 0, ibytes: int = 0, ocount: int = 0, obytes: int = 0) -> dict:
    return {"icount": icount, "ibytes": ibytes, "ocount": ocount, "obytes": obytes}


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("counters.sg")),
    pytest.param(6, marks=pytest.mark.clause("counters.v6-sg")),
])
def test_sg_count_reports_packets_bytes_and_wrong_interface_arrivals(h, v):
    r = h.router(v, vifs=(0, 1, 2))
    s, g = h.src(v, 0, 1), h.group(v, 1)
    s2, g2 = h.src(v, 0, 2), h.group(v, 2)  # a neighbour entry whose counts must stay its own
    r.add_mfc(s, g, 0, {2: 1})
    r.add_mfc(s2, g2, 0, {2: 1})
    right = [h.packet(v, s, g, size=100) for _ in range(3)]
    wrong = [h.packet(v, s, g, size=300) for _ in range(2)]

    right_bytes = send_all(h, 0, right)
    wrong_bytes = send_all(h, 1, wrong)  # vif 1 is not the parent
    other_bytes = send_all(h, 0, [h.packet(v, s2, g2, size=50)])

    with_wrong = h.profile.counters_include_wrong_if
    assert_fields(f"SIOCGETSGCNT ({s}, {g}) after 3 packets on the parent and 2 on vif 1 (profile: wrong-"
                  f"interface packets {'are' if with_wrong else 'are not'} in pktcnt/bytecnt)",
                  {"src": s, "grp": g, "pktcnt": 3 + (2 if with_wrong else 0),
                   "bytecnt": right_bytes + (wrong_bytes if with_wrong else 0), "wrong_if": 2},
                  r.sg_count(s, g))
    assert_fields(f"SIOCGETSGCNT ({s2}, {g2}) after 1 packet",
                  {"src": s2, "grp": g2, "pktcnt": 1, "bytecnt": other_bytes, "wrong_if": 0},
                  r.sg_count(s2, g2))


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("counters.sg-absent")),
    pytest.param(6, marks=pytest.mark.clause("counters.v6-sg")),
])
def test_sg_count_of_an_entry_that_is_not_installed_fails(h, v):
    r = h.router(v, vifs=(0, 1))
    installed = (h.src(v, 0, 1), h.group(v, 1))
    pending = (h.src(v, 0, 2), h.group(v, 2))
    deleted = (h.src(v, 0, 3), h.group(v, 3))
    r.add_mfc(*installed, 0, {1: 1})
    r.add_mfc(*deleted, 0, {1: 1})
    r.sg_count(*deleted)  # present until deleted
    r.del_mfc(*deleted)
    h.send(0, h.packet(v, *pending))
    h.expect_upcall(r, "NOCACHE", 0, *pending)

    absent = {
        "never installed": (h.src(v, 0, 4), h.group(v, 4)),
        "pending (NOCACHE sent, no MRT_ADD_MFC)": pending,
        "deleted": deleted,
        "installed source, other group": (installed[0], h.group(v, 5)),
        "other source, installed group": (h.src(v, 0, 5), installed[1]),
    }
    for what, (s, g) in absent.items():
        with h.raises(SG_ABSENT[v], f"({s}, {g}): {what}"):
            r.sg_count(s, g)
    assert r.sg_count(*installed)["pktcnt"] == 0, "the installed entry must still answer"


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("counters.vif")),
    pytest.param(6, marks=pytest.mark.clause("counters.v6-mif")),
])
def test_vif_count_reports_input_on_the_parent_and_output_per_copy(h, v):
    r = h.router(v, vifs=(0, 1, 2))
    s, g = h.src(v, 0, 1), h.group(v, 1)
    r.add_mfc(s, g, 0, {1: 1})  # vif 2 is not an outgoing interface

    in_bytes = send_all(h, 0, [h.packet(v, s, g, size=100) for _ in range(3)])
    send_all(h, 1, [h.packet(v, s, g, size=200) for _ in range(2)])  # wrong interface: no input count

    expected = {0: vif_counts(icount=3, ibytes=in_bytes), 1: vif_counts(ocount=3, obytes=in_bytes),
                2: vif_counts()}
    for vif, counts in expected.items():
        assert_fields(f"SIOCGET{'VIF' if v == 4 else 'MIF'}CNT vif {vif} after 3 packets 0->1 and 2 "
                      "arriving on vif 1", {VIF_KEY[v]: vif, **counts}, r.vif_count(vif))


@pytest.mark.parametrize("v", [
    pytest.param(4, marks=pytest.mark.clause("counters.vif-range")),
    pytest.param(6, marks=pytest.mark.clause("counters.v6-mif")),
])
def test_vif_count_past_the_last_vif_fails(h, v):
    top = h.profile.maxvifs if v == 4 else h.profile.maxmifs
    r = h.router(v, vifs=(0, 1, 2))

    for index in (3, top - 1, top):
        with h.raises(VIF_RANGE[v], f"vif {index} with vifs 0-2 installed"):
            r.vif_count(index)
    r.del_vif(2)
    with h.raises(VIF_RANGE[v], "vif 2 after deleting it, the highest vif"):
        r.vif_count(2)
    r.vif_count(1)  # the vifs below still answer
    r.done()
    with h.raises(VIF_RANGE[v], "vif 0 after MRT_DONE"):
        r.vif_count(0)
