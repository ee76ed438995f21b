"""Boot a kernel under qemu with the host's / over 9p and a virtio-serial channel to a unix socket.

``VirtualMachine.start()`` returns once the guest's agent port is connected (qemu connects to our
listening socket); a watchdog kills qemu if the guest does not come up within the boot timeout.
The accelerator is KVM only when /dev/kvm answers *and* a probe boot of the kernel succeeds (the
result is remembered per host boot), TCG otherwise; ``stop()`` kills qemu's process group and
removes the run directory. Options are from research/linux-vm.md (qboot, -cpu max, 256M, PVH).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from conformance.targets.vm import initramfs, lifetime
from conformance.targets.vm.kernels import Kernel, cache_dir

QEMU = "qemu-system-x86_64"
QBOOT = Path("/usr/share/qemu/qboot.rom")
ACCELS = ("auto", "kvm", "tcg")
ACCEL_ENV = "MROUTE_VM_ACCEL"  # the accelerator the linux-vm target asks for
KVM_GET_API_VERSION = 0xAE00
PROBE_TIMEOUT = 10.0
MEMORY = "256M"
_probed: dict[str, bool] = {}


class VmError(Exception):
    """qemu missing, the guest did not come up, or it died; one-line message."""


def qemu_binary() -> str:
    """Path of qemu-system-x86_64; VmError with the apt package to install if it is missing."""
    path = shutil.which(QEMU)
    if path is None:
        raise VmError(f"{QEMU} not found; apt-get install qemu-system-x86")
    return path


def kvm_device_works() -> bool:
    """/dev/kvm opens read-write and answers KVM_GET_API_VERSION with 12."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, KVM_GET_API_VERSION) == 12
    except OSError:
        return False
    finally:
        os.close(fd)


def qemu_args(kernel: Kernel, initrd: Path, accel: str, console: Path, channel: Path, append: str = "") -> list[str]:
    """The qemu command line (no NIC, no display, no monitor; panic or triple fault ends qemu)."""
    args = [qemu_binary(), "-accel", accel, "-m", MEMORY, "-nodefaults", "-display", "none", "-no-reboot"]
    args += ["-cpu", "host" if accel == "kvm" else "max"]
    if QBOOT.is_file():
        args += ["-bios", str(QBOOT)]
    args += [
        "-serial", f"file:{console}",
        "-kernel", str(kernel.image), "-initrd", str(initrd),
        "-append", f"console=ttyS0 panic=-1 loglevel=4 {append}".strip(),
        "-virtfs", f"local,path=/,mount_tag={initramfs.SHARE_TAG},security_model=none,readonly=on,multidevs=remap",
        "-device", "virtio-serial",
        "-chardev", f"socket,path={channel},server=off,id=agent",
        "-device", f"virtserialport,chardev=agent,name={initramfs.PORT_NAME}",
    ]
    return args


def _console_tail(console: Path, limit: int = 200) -> str:
    """The most telling console line: /init's last message, else the kernel's last line."""
    try:
        lines = [ln.strip() for ln in console.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no console output"
    ours = [i for i, ln in enumerate(lines) if ln.startswith(initramfs.MARKER)]
    if not ours:
        return (lines or ["no console output"])[-1][:limit]
    last = ours[-1]
    if last > 0 and not lines[last - 1].startswith(initramfs.MARKER):  # e.g. the agent's last stderr line
        return f"{lines[last][:limit]} (after: {lines[last - 1][:limit]})"
    return lines[last][:limit]


class VirtualMachine:
    """One qemu process, its run directory and the host end of the agent channel."""

    def __init__(self, kernel: Kernel, accel: str = "tcg", boot_timeout: float = 60.0) -> None:
        self.kernel, self.accel, self.boot_timeout = kernel, accel, boot_timeout
        lifetime.remove_stale_dirs()  # left by runners that were SIGKILLed
        self.dir = lifetime.run_dir()
        self.console = self.dir / "console.log"
        self.proc: subprocess.Popen | None = None
        self.channel: socket.socket | None = None
        self.boot_s = 0.0
        self._watchdog: threading.Timer | None = None
        self.expired = False  # the boot watchdog killed qemu
        self._stopped = False
        lifetime.register(id(self), self.stop)

    def start(self, settings: dict[str, str], append: str = "") -> socket.socket:
        """Start qemu and return the agent channel (connected by qemu at start; the guest is not up yet).

        The boot watchdog stays armed: call ``disarm_watchdog`` once the agent answered.
        """
        started = time.monotonic()
        try:
            initrd = initramfs.write_initrd(self.kernel, settings, self.dir / "initrd.cpio.gz")
            path = self.dir / "agent.sock"
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            with listener:
                listener.bind(str(path))
                listener.listen(1)
                args = qemu_args(self.kernel, initrd, self.accel, self.console, path, append)
                with open(self.dir / "qemu.err", "wb") as err:
                    self.proc = lifetime.spawn(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
                self.arm_watchdog(self.boot_timeout)
                self.channel = self._accept(listener, started + self.boot_timeout)
        except BaseException:
            self.stop()
            raise
        self.boot_s = time.monotonic() - started
        return self.channel

    def _accept(self, listener: socket.socket, deadline: float) -> socket.socket:
        assert self.proc is not None
        pidfd = os.pidfd_open(self.proc.pid)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise VmError(self.why(f"qemu did not connect the agent channel within {self.boot_timeout:g} s"))
                watched: list[Any] = [listener, pidfd]
                ready = select.select(watched, [], [], left)[0]
                if listener in ready:
                    conn, _ = listener.accept()
                    return conn
                if pidfd in ready:
                    raise VmError(self.why(f"qemu exited with status {self.proc.wait()}"))
        finally:
            os.close(pidfd)

    def arm_watchdog(self, seconds: float) -> None:
        """Kill qemu in ``seconds`` unless ``disarm_watchdog`` comes first (a hung boot prints nothing)."""
        self.disarm_watchdog()
        self._watchdog = threading.Timer(seconds, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _expire(self) -> None:
        self.expired = True
        self.kill()

    def disarm_watchdog(self) -> None:
        """The guest is up: no more boot deadline."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def state(self) -> str:
        """What became of qemu: killed by the boot watchdog, exited (status), or still running."""
        if self.expired:
            return f"qemu killed: the guest did not answer within the {self.boot_timeout:g} s boot timeout"
        if self.proc is not None and self.proc.poll() is not None:
            return f"qemu exited with status {self.proc.returncode}"
        return "qemu running"

    def why(self, what: str) -> str:
        """``what`` plus the console's telling line and qemu's own complaint, as one line."""
        parts = [what, f"console: {_console_tail(self.console)}"]
        try:
            err = (self.dir / "qemu.err").read_text(errors="replace").strip().splitlines()
        except OSError:
            err = []
        if err:
            parts.append(f"qemu: {err[-1][:200]}")
        return "; ".join(parts)

    def kill(self) -> None:
        """SIGKILL qemu's process group now (the watchdog's action)."""
        if self.proc is not None and self.proc.poll() is None:
            lifetime.kill_group(self.proc)

    def wait_exit(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for qemu to exit by itself (the guest powered off)."""
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        """Kill qemu's group, close the channel, remove the run directory. Idempotent, any thread."""
        if self._stopped:
            return
        self._stopped = True
        self.disarm_watchdog()
        if self.channel is not None:
            self.channel.close()
        if self.proc is not None:
            lifetime.kill_group(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
        lifetime.unregister(id(self))


# -- the accelerator ---------------------------------------------------------------------------
def _probe_cache() -> Path:
    return cache_dir().parent / "accel-probe.json"


def _host_key() -> str:
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = "unknown"
    qemu = Path(qemu_binary())
    return f"{boot_id}:{qemu}:{qemu.stat().st_mtime_ns}"


def probe_kvm(kernel: Kernel, timeout: float = PROBE_TIMEOUT) -> bool:
    """Boot ``kernel`` under KVM to a marker line and power off; True if that works within ``timeout``."""
    vm = VirtualMachine(kernel, "kvm", timeout)
    try:
        vm.start({"MROUTE_MODE": "probe"})  # qemu connects the channel at once
        vm.wait_exit(timeout)  # the probe guest prints a marker and powers off; the watchdog ends a hang
        lines = vm.console.read_text(errors="replace").splitlines()
        return any(ln.startswith(initramfs.MARKER) and ln.rstrip().endswith("probe ok") for ln in lines)
    except (OSError, VmError):
        return False
    finally:
        vm.stop()


def choose_accel(requested: str, kernel: Kernel) -> str:
    """``kvm`` or ``tcg`` for ``requested`` (auto: KVM only if /dev/kvm works and a probe boot succeeds)."""
    if requested not in ACCELS:
        raise VmError(f"invalid --vm-accel {requested!r}; valid: {', '.join(ACCELS)}")
    if requested == "kvm" and not kvm_device_works():
        raise VmError("--vm-accel kvm: /dev/kvm is missing or does not answer (use tcg or auto)")
    if requested != "auto":
        return requested
    if not kvm_device_works():
        return "tcg"
    key = _host_key()
    if key not in _probed:
        try:
            _probed.update(json.loads(_probe_cache().read_text()))
        except (OSError, ValueError):
            pass
    if key not in _probed:
        _probed[key] = probe_kvm(kernel)
        try:
            _probe_cache().parent.mkdir(parents=True, exist_ok=True)
            tmp = _probe_cache().with_suffix(f".{os.getpid()}")
            tmp.write_text(json.dumps({key: _probed[key]}))
            os.replace(tmp, _probe_cache())
        except OSError:
            pass
    return "kvm" if _probed[key] else "tcg"
