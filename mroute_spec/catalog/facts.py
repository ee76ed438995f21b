"""Which clauses each Profile fact belongs to: the tests that must notice a wrong value of it.

Used by tests/test_profile_facts.py, which perturbs every fact of every profile and requires a
failure among the tests of these clauses. An entry ending in "." names a whole clause group.
``errnos`` is checked per path, statically: some suite test must assert each path.
"""

from __future__ import annotations

FACT_CLAUSES: dict[str, tuple[str, ...]] = {
    # Linux extensions (issue 13)
    "mfc_lookup": ("mfc.exact-match", "linuxext."),
    "table_id_limit4": ("linuxext.table-id",),
    "default_table4": ("linuxext.table-independent", "linuxext.table-id"),
    "default_table6": ("linuxext.table-independent", "linuxext.table-id"),
    "table_id_limit6": ("linuxext.table-id",),
    "table_checks4": ("linuxext.table-busy", "linuxext.table-id"),
    "table_checks6": ("linuxext.table-busy", "linuxext.table-id"),
    "interface_removal4": ("linuxext.ifremove-vifs", "linuxext.ifremove-forwarding", "linuxext.ifremove-parent"),
    "interface_removal6": ("linuxext.ifremove-vifs", "linuxext.ifremove-forwarding", "linuxext.ifremove-parent"),
    "maxvifs": ("vif.index-range",),
    "maxmifs": ("mif.index-range",),
    "done_resets_assert": ("init.done", "init.pim"),
    "init_value": ("init.disable-value",),
    "assert_value": ("init.pim", "wrongvif."),
    # BSD: MRT6_PIM is what switches WRONGMIF upcalls on (V_pim6 gates them; no MRT6_ASSERT)
    "pim_sets_assert": ("init.pim", "wrongmif.v6-upcall"),
    "pim_whole_value": ("init.pim", "wrongvif.", "wrongmif.v6-upcall", "linuxext.wrvifwhole"),
    "vif_threshold_applies": ("vif.threshold",),
    "vif_rate_limit": ("vif.rate-limit",),
    "nocache_queue_depth": ("nocache.queue-depth",),
    "nocache_expiry": ("nocache.expiry",),
    "nocache_expiry_tick": ("nocache.expiry",),
    "nocache_expiry_ticks": ("nocache.expiry",),
    "nocache_ttl_le_1_upcall": ("nocache.ttl-le-1",),
    "nocache6_queue_depth": ("nocache.queue-depth",),
    "nocache6_requires_mif": ("nocache.", "mfc6."),
    "wrongvif_requires_oif": ("wrongvif.",),
    "wrongvif_requires_parent": ("wrongvif.",),
    "wrongvif_interval": ("wrongvif.rate-limit",),
    "wrongvif_interval_strict": ("wrongvif.rate-limit",),
    "wrongmif_rate_limited": ("wrongmif.v6-upcall", "wrongvif.rate-limit"),
    "counters_include_wrong_if": ("counters.",),
    "bw_upcalls_max": ("bw.batch-max",),
    "bw_message_max": ("bw.batch-max",),
    "bw_flush_at": ("bw.batch-max",),
    "bw_flush_on_leq": ("bw.batch-timer", "bw.leq-fires", "bw.leq-restart"),
    "bw_first_interval": ("bw.geq-first-interval",),
    "border_bit_from": ("register.border-bit",),
    "tmin": ("bw.tmin",),
    "add_vif_checks": ("vif.",),
    "add_mif_checks": ("mif.",),
    "vif_flags_allowed": ("vif.",),
    "vif_use_ifindex": ("vif.",),
    "mif_flags_allowed": ("mif.",),
    "del_vif_range": ("vif.delete",),
    "vif_lookup": ("nocache.", "vif."),
    "v4_arrival_needs_vif": ("nocache.", "mfc.", "wrongvif."),
    "v4_zeronet_source_dropped": ("mfc.", "linuxext."),
    "group_management_not_routed": ("socket.igmp-io", "socket.mld-io", "nocache."),
    "mfc_ttls_kept_for": ("mfc.vif-added-later",),
    "mfc6_ifset_kept_for": ("mfc6.ifset", "mfc.vif-added-later"),
    "wholepkt_ttl_decremented": ("register.wholepkt",),
    "wholepkt6_hlim_decremented": ("register.v6-wholepkt", "upcall.v6-format"),
    "vif_hole_counters": ("counters.vif",),
    "bw_threshold_flush": ("bw.batch-max",),
    "bw_leq_timer": ("bw.leq-fires", "bw.leq-restart"),
    "mfc4_delete_pending": ("mfc.delete-absent",),
    "wrongmif_from_non_mif": ("wrongmif.v6-upcall",),
    "wrongvif_rate_limited": ("wrongvif.rate-limit",),
    "byte_count4": ("counters.", "bw."),
}


def covers(entries: tuple[str, ...], clause_id: str) -> bool:
    """Does a fact's entry list name ``clause_id`` (exactly, or through its group)?"""
    return any(clause_id == e or (e.endswith(".") and clause_id.startswith(e)) for e in entries)
