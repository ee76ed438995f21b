"""The hypothesis state machine: random operation sequences, applied in lockstep.

``differential_machine(model, kernel)`` returns a ``RuleBasedStateMachine`` class whose rules draw
operations from a deliberately small world, so that random sequences collide often:

* 4 ports; vif/mif indices mostly 0..3, sometimes 4, 31 or 32 (beyond MAXVIFS); a vif may sit
  on any port, be a register vif, be on an address / ifindex the router lacks, or have odd
  flags (TUNNEL, SRCRT, USE_IFINDEX), threshold or rate limit;
* two sources and two groups per family (plus a non-multicast "group" for MFC calls);
* MFC add (and update: add on an existing entry) with a random parent and ttls / ifset over
  existing and missing vifs; MFC delete;
* MRT_ASSERT 0/1/2 and MRT_PIM 0/1/4 (and reading them, and MRT_VERSION, back), MRT_INIT again,
  MRT_DONE, close and re-open;
* bursts of 1-5 packets with random TTL / hop limit, size and arrival port (port 3 usually has
  no vif), each burst followed by a look at frames and upcalls and a read of its (S,G) counters;
* counter reads (SIOCGETSGCNT, SIOCGETVIFCNT and the _IN6 ones);
* where the model's profile has them (Linux extensions, issue 13): (*,G) and (*,*) adds (origin /
  group unspecified), MRT_ADD_MFC_PROXY / MRT_DEL_MFC_PROXY, MRT_FLUSH with any flags and
  MRT_TABLE with ids that never create a table (254, or at the id limit).

Draws are mostly aimed at state that matters (``Known``): packets of installed (S,G)s on their
parent's port (or an oif's, for WRONGVIF) with TTLs at their thresholds, MFCs over existing vifs
and for pending (S,G)s with the parent their packets arrived on (so the queue is released). Every example
starts from reset targets; a final look at frames and upcalls ends it. Examples that run past
the lockstep's time budget are rejected (see ``lockstep``), never compared.

Strategies are module-level and static (only ``sampled_from`` over the current state is built
per draw): hypothesis spends far less time per example that way, which matters when shrinking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import Phase, note, reject, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from hypothesis.stateful import (
    RuleBasedStateMachine,
    get_state_machine_test,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from conformance.differential import ops
from conformance.differential.compare import OK
from conformance.differential.lockstep import DEFAULT_BUDGET_S, Disagreement, Lockstep, TooSlow, minimise
from conformance.targets.base import Target

SOURCES = {4: ("198.18.0.10", "198.18.1.10"), 6: ("2001:db8::10", "2001:db8:1::10")}
GROUPS = {4: ("232.1.0.1", "232.1.0.2"), 6: ("ff3e::1:1", "ff3e::1:2")}
NOT_A_GROUP = {4: "198.51.100.7", 6: "2001:db8::99"}
FOREIGN_ADDR = "198.51.100.1"  # an IPv4 address the router does not own
FOREIGN_IFINDEX = 999  # an ifindex the router does not have
PORTS = 4

families = st.sampled_from((4, 6))
ports = st.integers(0, PORTS - 1)
# mostly the indices vifs live on; sometimes the edges (4: a hole above them, 31: the last, 32: too far)
vif_indices = st.sampled_from((0, 1, 2, 3, 0, 1, 2, 3, 4, 31, 32))
ttls = st.sampled_from((64, 1, 2, 3, 4, 255, 0))
thresholds = st.sampled_from((1, 1, 2, 3, 64, 255, 0))
sizes = st.sampled_from((0, 0, 100))
sources = {v: st.sampled_from(s) for v, s in SOURCES.items()}
groups = {v: st.sampled_from(g) for v, g in GROUPS.items()}
any_groups = {v: st.sampled_from((*g, *g, NOT_A_GROUP[v])) for v, g in GROUPS.items()}
aimed = st.booleans()  # aim this draw at known state (when there is some)
mostly = st.sampled_from((True, True, True, False))
oddities = st.sampled_from(("", "", "", "", "register", "flags", "address", "threshold", "rate_limit"))
v4_odd_flags = st.sampled_from((0x1, 0x2, 0x8))  # TUNNEL, SRCRT, USE_IFINDEX
oif_counts = st.integers(0, 4)
arrivals = st.sampled_from(("parent", "parent", "oif", "any"))
ANY = {4: "0.0.0.0", 6: "::"}
wildcards = st.sampled_from(("", "", "", "", "", "star-g", "star-g", "star-star"))  # Linux (*,G) / (*,*)
flush_flags = st.integers(0, 15)
# MRT_TABLE ids that never create a table, whatever the socket's state: the family's default table
# (IPv4 RT_TABLE_DEFAULT 253, IPv6 RT6_TABLE_DFLT 254) and ids at the family's limit (EINVAL, or
# EBUSY first on an IPv4 routing socket). A created table would outlive the example on a kernel
# target that reuses its namespace.
table_ids = {4: st.sampled_from((253, 1_000_000_000)), 6: st.sampled_from((254, 100_000_000, 1_000_000_000))}


@dataclass
class Known:
    """What exists according to the steps both targets accepted.

    Used only to aim the random draws at state that matters; it is never compared and may be
    approximate (e.g. static vifs surviving MRT_DONE are forgotten).
    """

    vifs: dict[tuple[int, int], int] = field(default_factory=dict)  # (family, index) -> port
    entries: dict[tuple[int, str, str], ops.AddMfc] = field(default_factory=dict)
    pending: dict[tuple[int, str, str], int] = field(default_factory=dict)  # NOCACHE'd: arrival vif
    wildcards: bool = False  # draw (*,G) / (*,*) adds (the model's profile has them)

    def update(self, op: ops.Op) -> None:
        """Account for ``op``, which succeeded on both targets."""
        if isinstance(op, ops.AddVif):
            self.vifs[(op.v, op.index)] = op.port
        elif isinstance(op, ops.DelVif):
            self.vifs.pop((op.v, op.index), None)
        elif isinstance(op, ops.AddMfc):
            self.entries[(op.v, op.src, op.grp)] = op
            self.pending.pop((op.v, op.src, op.grp), None)
        elif isinstance(op, ops.Send) and (op.v, op.src, op.grp) not in self.entries:
            arrival = [i for (fam, i), port in self.vifs.items() if fam == op.v and port == op.port]
            if arrival:
                self.pending.setdefault((op.v, op.src, op.grp), max(arrival))
        elif isinstance(op, ops.DelMfc):
            self.entries.pop((op.v, op.src, op.grp), None)
        elif isinstance(op, ops.Done | ops.Reopen):
            self.vifs = {k: p for k, p in self.vifs.items() if k[0] != op.v}
            self.entries = {k: e for k, e in self.entries.items() if k[0] != op.v}
            self.pending = {k: i for k, i in self.pending.items() if k[0] != op.v}

    def vif_indices(self, v: int) -> list[int]:
        return sorted(i for (fam, i) in self.vifs if fam == v)


@st.composite
def add_vif_ops(draw: st.DrawFn) -> ops.AddVif:
    v = draw(families)
    index = draw(vif_indices)
    port = index % PORTS if draw(aimed) else draw(ports)
    odd = draw(oddities)
    kw: dict[str, Any] = {}
    if odd == "flags":  # IPv6: an undefined flag
        kw["flags"] = draw(v4_odd_flags) if v == 4 else 0x2
        if kw["flags"] == 0x8 and draw(aimed):  # VIFF_USE_IFINDEX with a real ifindex
            kw["by_ifindex"] = True
    elif odd == "register":
        kw["register"] = True
        if not draw(mostly):  # REGISTER combined with another flag
            kw["flags"] = draw(v4_odd_flags) if v == 4 else 0x2
    elif odd == "address":
        kw["lcl_addr" if v == 4 else "pifi"] = FOREIGN_ADDR if v == 4 else FOREIGN_IFINDEX
    elif odd == "threshold" and v == 4:
        kw["threshold"] = 200
    elif odd == "rate_limit" and v == 4:
        kw["rate_limit"] = 1000
    return ops.AddVif(v, index, port, **kw)


@st.composite
def lifecycle_ops(draw: st.DrawFn) -> ops.Op:
    v = draw(families)
    kind = draw(st.sampled_from(("done", "init", "reopen")))
    if kind == "init":
        return ops.Init(v, draw(st.sampled_from((1, 0))))
    return ops.Done(v) if kind == "done" else ops.Reopen(v)


def draw_add_mfc(data: st.DataObject, known: Known) -> ops.AddMfc:
    """An MFC add whose parent and oifs are mostly vifs that exist (else any index); often one
    that resolves a pending (S,G), with the parent its packets arrived on (so they are released)."""
    if len(known.pending) > 0 and data.draw(aimed):
        v, src, grp = data.draw(st.sampled_from(sorted(known.pending)))
        arrival: int | None = known.pending[(v, src, grp)]
    else:
        v = data.draw(families)
        src, grp, arrival = data.draw(sources[v]), data.draw(any_groups[v]), None
    present = known.vif_indices(v)

    def index() -> int:
        return data.draw(st.sampled_from(present)) if len(present) > 0 and data.draw(mostly) else data.draw(vif_indices)

    parent = arrival if arrival is not None and data.draw(mostly) else index()
    oifs = {index(): data.draw(thresholds) for _ in range(data.draw(oif_counts))}
    if arrival is None and known.wildcards:
        kind = data.draw(wildcards)
        if kind:
            src = ANY[v]
            grp = ANY[v] if kind == "star-star" else grp
    return ops.AddMfc(v, src, grp, parent, tuple(sorted(oifs.items())))


def draw_sg(data: st.DataObject, known: Known, v: int, bad: bool = False) -> tuple[int, str, str]:
    """(family, source, group): mostly of an installed entry, else from the pools."""
    if len(known.entries) > 0 and data.draw(mostly):
        return data.draw(st.sampled_from(sorted(known.entries)))
    return v, data.draw(sources[v]), data.draw(any_groups[v] if bad else groups[v])


def draw_packet(data: st.DataObject, known: Known, n: int, entry: ops.AddMfc | None = None) -> ops.Send:
    """A packet: of an installed (S,G), on its parent's port, TTL at a threshold; or anything."""
    if entry is not None or (len(known.entries) > 0 and data.draw(mostly)):
        entries = sorted(known.entries.values(), key=repr)
        rooted = [e for e in entries if (e.v, e.parent) in known.vifs]  # parent vif exists
        e = entry or data.draw(st.sampled_from(rooted if len(rooted) > 0 and data.draw(mostly) else entries))
        parent_port = known.vifs.get((e.v, e.parent))
        oif_ports = sorted({known.vifs[(e.v, i)] for i, _ in e.ttls if (e.v, i) in known.vifs} - {parent_port})
        where = data.draw(arrivals)  # on the parent's port (RPF passes), an oif's (WRONGVIF), any
        if where == "parent" and parent_port is not None:
            port = parent_port
        elif where == "oif" and oif_ports:
            port = data.draw(st.sampled_from(oif_ports))
        else:
            port = data.draw(ports)
        near = sorted({t + d for _, t in e.ttls for d in (0, 1) if 0 <= t + d <= 255} | {64})
        return ops.Send(e.v, port, e.src, e.grp, data.draw(st.sampled_from(near)), n, data.draw(sizes))
    v = data.draw(families)
    return ops.Send(v, data.draw(ports), data.draw(sources[v]), data.draw(groups[v]), data.draw(ttls), n,
                    data.draw(sizes))


@dataclass
class Stats:
    """What a machine class ran: examples (lockstep runs), steps, and the longest run's time."""

    examples: int = 0
    steps: int = 0
    longest_s: float = 0.0
    too_slow: int = 0  # examples rejected for running past the time budget
    found: list[Disagreement] = field(default_factory=list)  # collected disagreements (``collect``)


class StatsMachine(RuleBasedStateMachine):
    """A state machine that counts what it ran (``stats``, shared by the examples of one run)."""

    stats: Stats


def differential_machine(model: Target, kernel: Target, *, budget_s: float = DEFAULT_BUDGET_S,
                         name: str = "DifferentialMachine", collect: bool = False) -> type[StatsMachine]:
    """A state machine class comparing ``model`` with ``kernel`` (both reused across examples).

    ``collect``: a disagreement is recorded in ``stats.found`` and its example abandoned, so the
    run goes on to find the others (the CLI's mode) instead of failing at the first one.
    """

    class Machine(StatsMachine):
        stats = Stats()

        def __init__(self) -> None:
            super().__init__()
            self.known = Known(wildcards=model.profile.mfc_lookup == "star-g")
            self.ls = Lockstep(model, kernel, budget_s=budget_s, note=note)
            self.stats.examples += 1

        def do(self, *steps: ops.Op) -> None:
            try:
                for op in steps:
                    if self.ls.step(op).kernel.outcome == OK:
                        self.known.update(op)
            except TooSlow as e:
                self.stats.too_slow += 1
                note(f"rejected: {e}")
                reject()
            except Disagreement as d:
                if not collect:
                    raise
                self.stats.found.append(d)
                reject()

        def send(self, data: st.DataObject, count: int, entry: ops.AddMfc | None = None) -> None:
            """A burst of packets, a look at what came out, and the counters of what was sent."""
            burst = [draw_packet(data, self.known, self.ls.next_packet(), entry) for _ in range(count)]
            counters = [ops.SgCount(v, src, grp) for v, src, grp in sorted({(p.v, p.src, p.grp) for p in burst})]
            self.do(*burst, ops.Observe(), *counters)

        @initialize(v4=st.lists(st.integers(0, 3), unique=True, max_size=4),
                    v6=st.lists(st.integers(0, 3), unique=True, max_size=4))
        def vifs(self, v4: list[int], v6: list[int]) -> None:
            """The usual start: vif i on port i for a few i, in each family."""
            self.do(*(ops.AddVif(4, i, i) for i in v4), *(ops.AddVif(6, i, i) for i in v6))

        @rule(op=add_vif_ops())
        def add_vif(self, op: ops.AddVif) -> None:
            self.do(op)

        @rule(v=families, index=vif_indices)
        def del_vif(self, v: int, index: int) -> None:
            self.do(ops.DelVif(v, index))

        @rule(data=st.data())
        def add_mfc(self, data: st.DataObject) -> None:
            self.do(draw_add_mfc(data, self.known), ops.Observe())  # adding can release queued packets

        @rule(data=st.data(), count=st.integers(1, 4))
        def route(self, data: st.DataObject, count: int) -> None:
            """Install (or update) an entry, then send it a few packets: the common daemon cycle."""
            add = draw_add_mfc(data, self.known)
            self.do(add, ops.Observe())
            if self.ls.steps[-2].kernel.outcome == OK:
                self.send(data, count, add)

        @rule(v=families, data=st.data())
        def del_mfc(self, v: int, data: st.DataObject) -> None:
            self.do(ops.DelMfc(*draw_sg(data, self.known, v, bad=True)))

        @rule(v=families, value=st.sampled_from((1, 0, 2)))
        def set_assert(self, v: int, value: int) -> None:
            self.do(ops.SetAssert(v, value))

        @rule(v=families, value=st.sampled_from((1, 0, 4)))
        def set_pim(self, v: int, value: int) -> None:
            self.do(ops.SetPim(v, value))

        @rule(data=st.data())
        def send_one(self, data: st.DataObject) -> None:
            self.send(data, 1)

        @rule(data=st.data(), count=st.integers(2, 5))
        def send_burst(self, data: st.DataObject, count: int) -> None:
            self.send(data, count)

        @rule(v=families, data=st.data())
        def sg_count(self, v: int, data: st.DataObject) -> None:
            self.do(ops.SgCount(*draw_sg(data, self.known, v)))

        @rule(v=families, data=st.data())
        def vif_count(self, v: int, data: st.DataObject) -> None:
            present = self.known.vif_indices(v)
            index = data.draw(st.sampled_from(present)) if len(present) > 0 and data.draw(mostly) else data.draw(vif_indices)
            self.do(ops.VifCount(v, index))

        @rule(v=families, role=st.sampled_from(("assert", "pim", "version")))
        def get_option(self, v: int, role: str) -> None:
            self.do(ops.GetOpt(v, role))

        # -- Linux extensions (issue 13): only where the model's profile numbers the options ------
        def has(self, name: str) -> bool:
            return name in model.profile.options4

        @precondition(lambda self: self.has("MRT_FLUSH"))
        @rule(v=families, flags=flush_flags)
        def flush(self, v: int, flags: int) -> None:
            self.do(ops.Flush(v, flags))
            if flags & 5 == 5:  # every dynamic vif and entry went: forget them (aiming only)
                self.known.update(ops.Done(v))

        @precondition(lambda self: self.has("MRT_TABLE"))
        @rule(v=families, data=st.data())
        def table(self, v: int, data: st.DataObject) -> None:
            self.do(ops.Table(v, data.draw(table_ids[v])))

        @precondition(lambda self: self.has("MRT_ADD_MFC_PROXY"))
        @rule(data=st.data(), add=mostly)
        def mfc_proxy(self, data: st.DataObject, add: bool) -> None:
            e = draw_add_mfc(data, self.known)
            self.do(ops.MfcProxy(e.v, add, e.src, e.grp, e.parent, e.ttls), ops.Observe())

        @rule(op=lifecycle_ops())
        def lifecycle(self, op: ops.Op) -> None:
            self.do(op)

        def teardown(self) -> None:
            """A last look at frames and upcalls (unless the run already failed or ran late)."""
            ls = getattr(self, "ls", None)
            if ls is None:
                return
            self.stats.steps += len(ls.steps)
            self.stats.longest_s = max(self.stats.longest_s, ls.elapsed)
            if not ls.steps or ls.steps[-1].model != ls.steps[-1].kernel:
                return
            try:
                ls.step(ops.Observe())
            except TooSlow:
                pass

    Machine.__name__ = Machine.__qualname__ = name
    return Machine


def collect(model: Target, kernel: Target, config: settings, *, budget_s: float = DEFAULT_BUDGET_S,
            seed: int | None = None) -> Stats:
    """Run the machine under ``config`` recording every disagreement (``stats.found``) unshrunk."""
    machine = differential_machine(model, kernel, budget_s=budget_s, collect=True)
    test = get_state_machine_test(machine, settings=settings(config, phases=[Phase.generate]))
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    try:
        test()
    except Unsatisfiable:  # every example was rejected (too slow, or each one disagreed)
        pass
    return machine.stats


def run(model: Target, kernel: Target, config: settings, *, budget_s: float = DEFAULT_BUDGET_S,
        minimise_found: bool = True) -> Stats:
    """Run the machine under hypothesis ``config``; return its stats, or raise ``Disagreement``.

    The disagreement hypothesis shrank is then minimised step by step (``lockstep.minimise``) and
    raised with the smaller scenario; hypothesis's own notes (the step log) are kept on it.
    """
    machine = differential_machine(model, kernel, budget_s=budget_s)
    try:
        run_state_machine_as_test(machine, settings=config)
    except Disagreement as found:
        if not minimise_found:
            raise
        small = minimise(model, kernel, found, budget_s=budget_s)
        for line in getattr(found, "__notes__", []):
            small.add_note(line)
        if len(small.ops) < len(found.ops):
            small.add_note(f"(hypothesis shrank it to {len(found.ops)} steps, step deletion to {len(small.ops)})")
        raise small from None
    return machine.stats
