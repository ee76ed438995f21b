"""``LinuxVmTarget``: the suite on the host, a Linux kernel under qemu, the linux target in the guest.

The guest runs ``python3 -m conformance.agent --backend linux`` from the host's own files (9p,
read-only); every Target call travels over virtio-serial as one agent request. Kernel and
accelerator come from the arguments, else MROUTE_VM_KERNEL (default debian:6.12) and
MROUTE_VM_ACCEL (default auto). Anything that keeps the VM from coming up is ``TargetUnavailable``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import conformance
from conformance.agent.client import AgentConnection, AgentError, AgentTarget
from conformance.targets.base import SocketHandle, Target, TargetInfo, TargetUnavailable
from conformance.targets.vm import initramfs, kernels, qemu
from conformance.targets.vm.kernels import KERNEL_ENV
from conformance.targets.vm.qemu import ACCEL_ENV
from reference_impl.profiles import LINUX
from reference_impl.snapshot import TableState

BOOT_TIMEOUT_ENV = "MROUTE_VM_BOOT_TIMEOUT"
DEFAULT_KERNEL = "debian:6.12"
DEFAULT_BOOT_TIMEOUT = 90.0
OP_TIMEOUT = 30.0
# what the guest cannot do without; the PIM options only cost the PIM clauses
HARD_NEEDS = {"NET_NS", "IP_MROUTE", "IPV6_MROUTE", "VIRTIO_PCI", "VIRTIO_CONSOLE", "NET_9P_VIRTIO", "9P_FS",
              "VETH", "PACKET"}


def guest_python() -> str:
    """The interpreter the guest runs (through the 9p view of the host's /): this one, never a shim."""
    for candidate in (sys.executable, os.path.realpath(sys.executable), "/usr/bin/python3"):
        try:
            with open(candidate, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    return candidate
        except OSError:
            continue
    raise TargetUnavailable(f"no python binary to run in the guest ({sys.executable} is not an ELF executable)")


def source_root() -> str:
    """The directory holding the ``conformance`` package that is running (PYTHONPATH in the guest)."""
    return str(Path(conformance.__file__).resolve().parent.parent)


def _boot_timeout() -> float:
    raw = os.environ.get(BOOT_TIMEOUT_ENV, "")
    try:
        return float(raw) if raw else DEFAULT_BOOT_TIMEOUT
    except ValueError:
        raise TargetUnavailable(f"{BOOT_TIMEOUT_ENV}={raw!r} is not a number of seconds") from None


class LinuxVmTarget(Target):
    """A kernel under qemu (TCG or KVM) whose ipmr/ip6mr the guest's linux target drives."""

    name = "linux-vm"
    profile = LINUX

    def __init__(self, kernel: str | None = None, accel: str | None = None, *, boot_timeout: float | None = None) -> None:
        """Fetch the kernel if needed, boot it and shake hands with the agent; ``TargetUnavailable``."""
        self.kernel_spec = kernel or os.environ.get(KERNEL_ENV) or DEFAULT_KERNEL
        requested = accel or os.environ.get(ACCEL_ENV) or "auto"
        self.boot_timeout = boot_timeout or _boot_timeout()
        try:
            qemu.qemu_binary()
            self.kernel = kernels.ensure(self.kernel_spec)
            lacking = sorted(HARD_NEEDS.intersection(self.kernel.missing))
            if lacking:
                raise TargetUnavailable(
                    f"kernel {self.kernel_spec} ({self.kernel.release}) lacks {', '.join('CONFIG_' + o for o in lacking)}"
                )
            initramfs.find_busybox()
            self.accel = qemu.choose_accel(requested, self.kernel)
        except (kernels.KernelError, qemu.VmError, initramfs.InitramfsError) as exc:
            raise TargetUnavailable(str(exc)) from None
        self.vm = qemu.VirtualMachine(self.kernel, self.accel, self.boot_timeout)
        try:
            self._agent = self._boot()
        except BaseException:
            self.vm.stop()
            raise
        self.ports = self._agent.ports

    def _boot(self) -> AgentTarget:
        started = time.monotonic()
        try:
            channel = self.vm.start(initramfs.agent_settings(guest_python(), source_root()))
        except qemu.VmError as exc:
            raise TargetUnavailable(f"linux-vm {self.kernel_spec}: {exc}") from None
        describe = f"linux-vm agent ({self.kernel.release})"
        connection = AgentConnection(channel, channel, timeout=self.boot_timeout + 2, describe=describe,  # watchdog first
                                     diagnose=lambda: self.vm.why(self.vm.state()))
        try:
            agent = AgentTarget(connection, LINUX, name=self.name)
        except AgentError as exc:
            raise TargetUnavailable(f"linux-vm {self.kernel_spec}: the guest did not come up: {exc}") from None
        except TargetUnavailable as exc:  # the guest's linux target cannot run on this kernel
            raise TargetUnavailable(f"linux-vm {self.kernel_spec} ({self.kernel.release}): {exc}") from None
        self.vm.disarm_watchdog()
        connection.timeout = OP_TIMEOUT
        self.boot_s = time.monotonic() - started
        return agent

    def agent_call(self, op: str, *, timeout: float | None = None, **args: object) -> object:
        """One raw agent request (e.g. the recorder's ``daemon_*`` ops); errors as AgentConnection.call."""
        return self._agent.connection.request(op, dict(args), timeout=timeout)

    # -- delegation ------------------------------------------------------------------------
    def open_socket(self, family: int, type_: int, proto: int) -> SocketHandle:
        """socket(2) in the guest's router namespace."""
        return self._agent.open_socket(family, type_, proto)

    def setsockopt(self, sock: SocketHandle, level: int, optname: int, value: bytes) -> bytes:
        """setsockopt(2) in the guest."""
        return self._agent.setsockopt(sock, level, optname, value)

    def getsockopt(self, sock: SocketHandle, level: int, optname: int, buflen: int) -> bytes:
        """getsockopt(2) in the guest."""
        return self._agent.getsockopt(sock, level, optname, buflen)

    def ioctl(self, sock: SocketHandle, request: int, arg: bytes) -> bytes:
        """ioctl(2) in the guest."""
        return self._agent.ioctl(sock, request, arg)

    def close(self, sock: SocketHandle) -> None:
        """close(2) in the guest."""
        self._agent.close(sock)

    def recv_all(self, sock: SocketHandle) -> list[bytes]:
        """Datagrams readable on the guest socket (the guest's settle windows apply)."""
        return self._agent.recv_all(sock)

    def send(self, port: int, frame: bytes) -> None:
        """Inject a frame on the guest's tester end of ``port``."""
        self._agent.send(port, frame)

    def collect(self) -> dict[int, list[bytes]]:
        """Frames the guest's router emitted per port since the last call."""
        return self._agent.collect()

    def routing_state(self, version: int, table: int | None = None) -> TableState:
        """The guest router's /proc tables, normalised (the agent's routing_state)."""
        return self._agent.routing_state(version, table)

    def remove_interface(self, port: int) -> None:
        """Delete the port's veth pair in the guest (the agent's remove_interface; reset restores it)."""
        self._agent.remove_interface(port)

    def advance(self, seconds: float) -> None:
        """Let real time pass, waiting here on the host.

        The guest's backend (LinuxTarget) only sleeps in ``advance``, and the guest clock follows the
        host's, so sleeping here is the same; it spares a guest wake-up and a round trip, which under
        a loaded TCG host can overshoot by tens of ms and push a probe past the instant it must precede.
        """
        if seconds > 0:
            time.sleep(seconds)

    def reset(self) -> None:
        """A pristine router in the guest."""
        self._agent.reset()

    def info(self) -> TargetInfo:
        """The guest linux target's info plus kernel spec/source, accelerator and boot time."""
        inner = self._agent.info()
        details = {
            **inner.details,
            "kernel": inner.details.get("kernel") or self.kernel.release,
            "kernel_spec": self.kernel_spec,
            "kernel_source": self.kernel.source(),
            "accel": self.accel,
            "boot_s": round(self.boot_s, 2),
            "vm_memory": qemu.MEMORY,
        }
        return TargetInfo(self.name, LINUX.name, details)

    def shutdown(self) -> None:
        """End the agent session (briefly: the guest's state dies with it), then kill qemu, remove its files."""
        try:
            self._agent.connection.timeout = min(self._agent.connection.timeout, 2.0)
            self._agent.shutdown()
        finally:
            self.vm.stop()
