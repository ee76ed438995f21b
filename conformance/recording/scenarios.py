"""The daemon runs the project records: a command, its configuration and the frames sent meanwhile.

Addresses follow the port plan (port i: 198.18.i.0/24 and 2001:db8:i::/64, tester .10 / ::10);
groups are 232/8 and ff3e::/16 only. ``{config}`` and ``{workdir}`` in ``argv`` are filled in by
the guest (conformance/targets/linux/daemon.py).
"""

from __future__ import annotations

from dataclasses import dataclass

SMCROUTED = ["smcrouted", "-n", "-N", "-f", "{config}", "-i", "rec", "-l", "debug",
             "-u", "{workdir}/sock", "-P", "{workdir}/pid"]
PHYINTS = "phyint r0 enable\nphyint r1 enable\nphyint r2 enable\nphyint r3 enable\n"


@dataclass(frozen=True)
class Stimulus:
    """One UDP datagram from the tester on ``port`` (source: that port's tester address) to ``group``."""

    port: int
    group: str
    version: int = 4
    ttl: int = 64


@dataclass(frozen=True)
class DaemonRun:
    """One recording: what runs, with which configuration, and what is sent while it runs."""

    name: str  # kit-relative name: <daemon>/<scenario>
    description: str
    package: str  # Debian package whose version is recorded
    argv: tuple[str, ...]
    config: str
    stimuli: tuple[Stimulus, ...]


RUNS = {r.name: r for r in (
    DaemonRun(
        "smcroute/static-sg",
        "smcroute 2.5 with a static (S,G) route from r0 to r1 and r2: a matching datagram is forwarded, one "
        "arriving on r3 makes a WRONGVIF upcall (smcroute turns MRT_PIM on), one from another group a NOCACHE "
        "upcall the daemon reads and ignores; MRT_DONE at exit",
        "smcroute", tuple(SMCROUTED),
        PHYINTS + "mroute from r0 source 198.18.0.10 group 232.1.1.1 to r1 r2\n",
        (Stimulus(0, "232.1.1.1"), Stimulus(3, "232.1.1.1"), Stimulus(0, "232.1.1.9"), Stimulus(0, "232.1.1.1")),
    ),
    DaemonRun(
        "smcroute/star-g",
        "smcroute 2.5 with a (*,G) route: the first datagram from a source makes a NOCACHE upcall, the daemon "
        "installs (S,G) with MRT_ADD_MFC and the kernel forwards the queued datagram; the next one is forwarded "
        "directly",
        "smcroute", tuple(SMCROUTED),
        PHYINTS + "mroute from r0 group 232.2.2.2 to r1 r3\n",
        (Stimulus(0, "232.2.2.2"), Stimulus(0, "232.2.2.2"), Stimulus(1, "232.2.2.2")),
    ),
    DaemonRun(
        "smcroute/ipv6",
        "smcroute 2.5 with an IPv6 static (S,G) and an IPv6 (*,G): MRT6_ADD_MFC, an MRT6MSG_NOCACHE upcall "
        "turned into (S,G), forwarding of both",
        "smcroute", tuple(SMCROUTED),
        PHYINTS + "mroute from r0 source 2001:db8::10 group ff3e::1:1 to r1 r2\n"
                  "mroute from r0 group ff3e::2:2 to r3\n",
        (Stimulus(0, "ff3e::1:1", 6), Stimulus(0, "ff3e::2:2", 6), Stimulus(0, "ff3e::2:2", 6)),
    ),
    DaemonRun(
        "smcroute/table-7",
        "smcroute 2.5 on multicast routing table 7 (-t 7: MRT_TABLE before MRT_INIT) with a static (S,G) "
        "and a (*,G)",
        "smcroute", (*SMCROUTED, "-t", "7"),
        PHYINTS + "mroute from r0 source 198.18.0.10 group 232.3.3.3 to r2\n"
                  "mroute from r0 group 232.3.3.4 to r1\n",
        (Stimulus(0, "232.3.3.3"), Stimulus(0, "232.3.3.4")),
    ),
    DaemonRun(
        "pimd/ssm-source",
        "pimd 2.3 (PIM-SM, SSM range 232/8) on r0..r3 without neighbours or receivers: MRT_INIT, MRT_PIM, "
        "vifs and the register vif; a datagram from a directly connected source makes a NOCACHE upcall "
        "pimd reads",
        "pimd", ("pimd", "-f", "-N", "-c", "{config}", "-s", "debug"),
        PHYINTS,
        (Stimulus(0, "232.4.4.4"), Stimulus(0, "232.4.4.4")),
    ),
)}
