"""``LinuxTarget``: the real Linux kernel (ipmr / ip6mr) as the implementation under test.

One router namespace and one tester namespace per target (see ``topology``); sockets are made in
the router namespace, frames are injected and captured on the tester ends (see ``wire``). The
namespaces are reused across tests: ``reset()`` closes sockets and verifies the tables are empty.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

import conformance.targets.linux.mrstate as mrstate
import conformance.targets.linux.netns as netns
from conformance.targets.base import Port, SocketHandle, Target, TargetInfo, Unsupported
from conformance.targets.linux.daemon import DaemonRunner
from conformance.targets.linux.errors import TargetUnavailable
from conformance.targets.linux.settle import Activity
from conformance.targets.linux.sockets import RouterSockets
from conformance.targets.linux.topology import Topology, remove_port, restore_port
from conformance.targets.linux.wire import Wires
from reference_impl.profiles import LINUX
from reference_impl.snapshot import TableState


def _env_seconds(name: str, default: float) -> float:
    """A settle window from the environment (for slow CI hosts), else the measured default."""
    raw = os.environ.get(name)
    return float(raw) if raw else default


# Settle windows, seconds. On the 2-vCPU test VM the kernel reacts within ~10 us idle and within
# ~8 ms with both CPUs saturated (calibrate.py), so these leave a wide margin.
COLLECT_QUIET = _env_seconds("MROUTE_LINUX_QUIET_S", 0.03)  # collect(): silence after stimulus/frame
RECV_FIRST = _env_seconds("MROUTE_LINUX_RECV_FIRST_S", 0.05)  # recv_all(): wait for a first datagram
RECV_GAP = 0.005  # recv_all(): then stop after this long without another one


# Run in a fresh interpreter that first unshares its network namespace, so MRT_INIT never touches
# the host's multicast routing: prints "ok", "unshare:ERRNO", "socket:ERRNO" or "init:ERRNO".
_PROBE = """
import ctypes, errno, socket, sys
def name(e): return errno.errorcode.get(e, str(e))
if ctypes.CDLL(None, use_errno=True).unshare(0x40000000) != 0:  # CLONE_NEWNET
    print("unshare:" + name(ctypes.get_errno())); sys.exit()
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
except OSError as e:
    print("socket:" + name(e.errno)); sys.exit()
try:
    s.setsockopt(socket.IPPROTO_IP, int(sys.argv[1]), 1)
except OSError as e:
    print("init:" + name(e.errno)); sys.exit()
print("ok")
"""
TRY_VM = "try --target linux-vm"


@functools.cache
def probe_mrt_init() -> str:
    """MRT_INIT on a raw IGMP socket in a throwaway network namespace: ``ok`` or ``STEP:ERRNO``."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _PROBE, str(LINUX.options4["MRT_INIT"])],
        capture_output=True, text=True, check=False, timeout=30,
    )
    return done.stdout.strip() or f"probe:exit {done.returncode}: {done.stderr.strip()[-200:]}"


def _probe_problem(result: str) -> str | None:
    """The user-facing reason for a failed MRT_INIT probe, or None when it succeeded."""
    step, _, err = result.partition(":")
    if step == "ok":
        return None
    if step == "init" and err == "ENOPROTOOPT":
        return f"this kernel has no IPv4 multicast routing (MRT_INIT: ENOPROTOOPT); {TRY_VM}"
    if step == "init":
        return f"MRT_INIT fails in a fresh network namespace ({err}); {TRY_VM}"
    if step == "socket":
        return f"cannot open a raw IGMP socket in a fresh network namespace ({err}); {TRY_VM}"
    if step == "unshare":
        return f"cannot create a network namespace (unshare(CLONE_NEWNET): {err}); {TRY_VM}"
    return f"the MRT_INIT probe failed ({err}); {TRY_VM}"


def check_available() -> None:
    """Raise ``TargetUnavailable`` with the reason if this host cannot run the Linux target.

    The kernel is asked, not guessed from /proc: MRT_INIT is tried in a throwaway namespace.
    """
    if not hasattr(os, "geteuid") or os.uname().sysname != "Linux":
        raise TargetUnavailable("the linux target needs a Linux host")
    if os.geteuid() != 0:
        raise TargetUnavailable(
            "the linux target needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN to create network namespaces)"
        )
    problem = _probe_problem(probe_mrt_init())
    if problem:
        raise TargetUnavailable(problem)
    if shutil.which("ip") is None:
        raise TargetUnavailable("iproute2 'ip' command not found")


class LinuxTarget(Target):
    """The host kernel's multicast routing, in private namespaces; never touches the host's."""

    name = "linux"
    profile = LINUX

    def __init__(
        self,
        n_ports: int = 4,
        *,
        quiet: float = COLLECT_QUIET,
        recv_first: float = RECV_FIRST,
        recv_gap: float = RECV_GAP,
    ) -> None:
        """Build the lab (after reaping namespaces of dead runs); raises ``TargetUnavailable``."""
        check_available()
        self.quiet, self.recv_first, self.recv_gap = quiet, recv_first, recv_gap
        self.stale_removed = netns.remove_stale()
        self._topo = Topology.build(n_ports)
        self._activity = Activity()
        try:
            self._wires = Wires(self._topo, self._activity)
            self._socks = RouterSockets(self._topo.router, self._activity)
        except BaseException:
            self._topo.destroy()
            raise
        self.ports: list[Port] = self._topo.ports
        self._tables: dict[int, set[int]] = {socket.AF_INET: set(), socket.AF_INET6: set()}
        self._shut = False
        self.last_reset_s = 0.0
        self._daemon: DaemonRunner | None = None

    @property
    def daemon_runner(self) -> DaemonRunner:
        """Runs one traced routing daemon in the router namespace (the recorder's agent ops)."""
        if self._daemon is None:
            self._daemon = DaemonRunner(self._topo.router.name)
        return self._daemon

    # -- sockets ---------------------------------------------------------------------------
    def open_socket(self, family: int, type_: int, proto: int) -> SocketHandle:
        """socket(2) in the router namespace."""
        return self._socks.open(family, type_, proto)

    def setsockopt(self, sock: SocketHandle, level: int, optname: int, value: bytes) -> bytes:
        """setsockopt(2) with raw bytes; remembers MRT_TABLE ids so reset() can flush them."""
        out = self._socks.setsockopt(sock, level, optname, value)
        if mrstate.table_option(sock.family, level, optname) and len(value) >= 4:
            self._tables[sock.family].add(struct.unpack_from("=I", value)[0])
        return out

    def getsockopt(self, sock: SocketHandle, level: int, optname: int, buflen: int) -> bytes:
        """getsockopt(2) with a ``buflen``-byte buffer."""
        return self._socks.getsockopt(sock, level, optname, buflen)

    def ioctl(self, sock: SocketHandle, request: int, arg: bytes) -> bytes:
        """ioctl(2) with an in/out buffer."""
        return self._socks.ioctl(sock, request, arg)

    def close(self, sock: SocketHandle) -> None:
        """close(2); closing the mroute socket is MRT_DONE."""
        self._socks.close(sock)

    def recv_all(self, sock: SocketHandle) -> list[bytes]:
        """Datagrams readable now, waiting up to ``recv_first`` s after the last stimulus for one."""
        return self._socks.recv_all(sock, self.recv_first, self.recv_gap)

    # -- wires ----------------------------------------------------------------------------
    def send(self, port: int, frame: bytes) -> None:
        """Inject an Ethernet frame on tester end t{port}."""
        self._wires.send(port, frame)

    def collect(self) -> dict[int, list[bytes]]:
        """Frames the router emitted per port since the last call, once ``quiet`` s passed silent."""
        return self._wires.collect(self.quiet)

    def routing_state(self, version: int, table: int | None = None) -> TableState:
        """The router namespace's /proc/net/ip_mr_vif + ip_mr_cache (ip6_mr_* for IPv6), normalised.
        /proc shows only the family's default table: another one is ``Unsupported``."""
        default = mrstate.DEFAULT_TABLES[socket.AF_INET if version == 4 else socket.AF_INET6]
        if table not in (None, default):
            raise Unsupported(f"/proc shows only the default table {default} of IPv{version}, not {table}")
        try:
            return mrstate.table_state(self._topo.router, version, {p.name: p.index for p in self.ports})
        except FileNotFoundError as e:  # kernel without IPv6 multicast routing
            raise Unsupported(f"no {e.filename}") from None

    def remove_interface(self, port: int) -> None:
        """Delete port ``port``'s veth pair in the namespaces this target made (the router's ipmr sees
        NETDEV_UNREGISTER for r{port}); ``reset()`` creates it again."""
        if not 0 <= port < len(self.ports):
            raise ValueError(f"no port {port}; ports are 0..{len(self.ports) - 1}")
        if port in self._wires.gone:
            raise ValueError(f"port {port} was removed already")
        self._wires.detach(port)
        remove_port(self._topo.router, port)
        self._activity.touch()

    # -- time -----------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Real time: sleep (the kernel's timers are wall-clock)."""
        if seconds > 0:
            time.sleep(seconds)

    # -- lifecycle ------------------------------------------------------------------------
    def reset(self) -> None:
        """Close every socket, empty the vif/MFC tables, turn PIM/ASSERT off, drain the wires."""
        started = time.monotonic()
        self._socks.close_all()
        for port in sorted(self._wires.gone):  # ports remove_interface took away come back first
            restore_port(self._topo.router, self._topo.tester, self.ports[port])
            self._wires.attach(port)
        router = self._topo.router
        dirty = bool(mrstate.leftovers(mrstate.snapshot(router))) or any(self._tables.values())
        mrstate.restore(router, self._tables, flush=dirty)
        if dirty:
            for tables in self._tables.values():
                tables.clear()
            left = mrstate.leftovers(mrstate.snapshot(router))
            if left:
                raise RuntimeError(f"linux target: router not pristine after reset: {left}")
        self._wires.drain(self.quiet)
        self.last_reset_s = time.monotonic() - started

    def shutdown(self) -> None:
        """Close everything and delete both namespaces. Idempotent."""
        if self._shut:
            return
        self._shut = True
        try:
            if self._daemon is not None:
                self._daemon.close()
            self._socks.close_all()
            self._wires.close()
        finally:
            self._topo.destroy()

    def __enter__(self) -> LinuxTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- introspection --------------------------------------------------------------------
    @property
    def namespaces(self) -> list[str]:
        """Names of the router and tester namespaces (``ip netns exec NAME ...`` to debug)."""
        return self._topo.namespace_names

    def router_state(self) -> dict[str, list[str]]:
        """The router's /proc mroute tables (default table) and all.mc_forwarding, for checks."""
        return mrstate.snapshot(self._topo.router)

    def info(self) -> TargetInfo:
        """Kernel release, port count, namespaces and the settle windows in use."""
        uname = os.uname()
        return TargetInfo(
            name="linux",
            profile=LINUX.name,
            details={
                "kernel": uname.release,
                "machine": uname.machine,
                "ports": len(self.ports),
                "ipv6_mroute": os.path.exists("/proc/net/ip6_mr_vif"),
                "namespaces": self.namespaces,
                "collect_quiet_s": self.quiet,
                "recv_first_s": self.recv_first,
                "setup_s": round(self._topo.setup_s, 4),
            },
        )
