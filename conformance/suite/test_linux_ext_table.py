"""linuxext.table-*: MRT_TABLE / MRT6_TABLE, one multicast routing table per socket.

Written from the kernel source (docs/spec/linux.md §11): ip_mroute_setsockopt / ip6_mroute_setsockopt
work on the table the socket selected (`ipmr_table ? : RT_TABLE_DEFAULT`). MRT_TABLE takes exactly
a u32 (else EINVAL); on the socket that is its table's routing socket it fails with EBUSY; an id
other than 254 at or above 1e9 (IPv4, ipmr_new_table) or 1e8 (IPv6) fails with EINVAL, IPv6
checking the id before EBUSY and IPv4 after; otherwise the table is created or selected. Each table
has its own routing socket, vifs and MFC; packets are routed by the table the mrules pick, which
with no rule but the default one is table 254. On a target without MRT_TABLE every test ends
``unsupported``.
"""

from __future__ import annotations

import errno
import struct

import pytest

from conformance.suite.linux_ext import expect_errno, require_table, table

BOTH_FAMILIES = pytest.mark.parametrize("v", [4, 6])
ID_LIMIT = {4: 1_000_000_000, 6: 100_000_000}
DEFAULT_TABLE = {4: 253, 6: 254}  # RT_TABLE_DEFAULT (ipmr.c) / RT6_TABLE_DFLT = RT_TABLE_MAIN (ip6mr.c)


def table_socket(h, v: int, table_id: int | None, init: bool = True):
    """A routing socket on ``table_id`` (None: the default table), probed, optionally initialised."""
    r = h.routing_socket(v)
    require_table(h, r)
    if table_id is not None:
        table(r, table_id)
    if init:
        r.init()
        if v == 6:
            r.block_icmp6()
    return r


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.table-select")
def test_each_table_has_its_own_routing_socket(h, v):
    a = table_socket(h, v, 5)
    b = table_socket(h, v, None)  # the default table: no EADDRINUSE from table 5's router
    c = table_socket(h, v, 5, init=False)
    with expect_errno(errno.EADDRINUSE, "MRT_INIT on table 5, which has a routing socket"):
        c.init()
    a.done()
    c.init()  # table 5 is free again
    b.done()


@BOTH_FAMILIES
@pytest.mark.parametrize("target_id", [5, 254])
@pytest.mark.clause("linuxext.table-busy")
def test_the_routing_socket_cannot_change_table(h, v, target_id):
    r = table_socket(h, v, 7)
    with expect_errno(errno.EBUSY, f"MRT_TABLE {target_id} on the routing socket of table 7"):
        table(r, target_id)


@BOTH_FAMILIES
@pytest.mark.clause("linuxext.table-id")
def test_table_ids_are_bounded(h, v):
    limit = ID_LIMIT[v]
    r = table_socket(h, v, None, init=False)
    with expect_errno(errno.EINVAL, f"MRT_TABLE {limit}: at the IPv{v} id limit"):
        table(r, limit)
    table(r, limit - 1)
    table(r, 254)
    # on a routing socket IPv4 reports EBUSY before looking at the id, IPv6 EINVAL
    r.init()
    want = errno.EBUSY if v == 4 else errno.EINVAL
    with expect_errno(want, f"MRT_TABLE {limit} on a routing socket (IPv{v} order of checks)"):
        table(r, limit)


@BOTH_FAMILIES
@pytest.mark.parametrize("size", [2, 8])
@pytest.mark.clause("linuxext.table-optlen")
def test_table_takes_exactly_a_u32(h, v, size):
    r = table_socket(h, v, None, init=False)
    with expect_errno(errno.EINVAL, f"MRT_TABLE with a {size}-byte argument"):
        r.set_raw("table", struct.pack("<I", 5).ljust(size, b"\0")[:size])


# With only the default mrule, ipmr.c ip_mr_input -> ipmr_rt_fib_lookup -> ipmr_fib_lookup ->
# ipmr_rule_action routes by RT_TABLE_DEFAULT, which is 253 for IPv4 (ipmr_rules_init:
# fib_default_rule_add(ops, 0x7fff, RT_TABLE_DEFAULT)) and RT6_TABLE_DFLT = RT_TABLE_MAIN = 254 for
# IPv6. An IPv4 socket that selects 254 (as require_table's probe does) is on a table no rule picks:
# debian:6.1 and 6.12 then forward nothing, which is what kept this test IPv6-only before.
@BOTH_FAMILIES
@pytest.mark.clause("linuxext.table-independent")
def test_tables_have_their_own_vifs_and_entries_and_packets_use_the_default(h, v):
    """Table 5 and the default table both hold mifs 0, 1 and an (S,G) entry; a packet is forwarded
    once, by the default table (the only mrule), counted there and not in table 5."""
    a = table_socket(h, v, 5)
    a.add_vifs(0, 1)
    b = table_socket(h, v, DEFAULT_TABLE[v])  # the probe selected 254: back to the family's default
    b.add_vifs(0, 1)  # the same indices: the tables' vif arrays are separate
    s, g = h.src(v, 0, 30), h.group(v, 40)
    a.add_mfc(s, g, 0, ttls={1: 1})
    b.add_mfc(s, g, 0, ttls={1: 1})

    sent = h.send_marked(0, v, s, g)
    h.expect_copies(sent, on={1}, context=f"({s}, {g}) in table 5 and in the default table")
    assert b.sg_count(s, g)["pktcnt"] == 1, "the default table's entry counts the packet"
    assert a.sg_count(s, g)["pktcnt"] == 0, "table 5's entry never sees it (packets use table 254)"
    other = h.src(v, 0, 31)
    h.send_marked(0, v, other, g)
    h.expect_upcalls(b, [("NOCACHE", 0, other, g)], context="an unknown (S,G): the default table's router")
    h.expect_upcalls(a, [], context="an unknown (S,G): table 5's router hears nothing")
