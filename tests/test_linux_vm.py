"""The linux-vm target: kernel cache and manifests, images, initramfs, qemu lifetime, and real boots.

The unit tests need no qemu. The boot tests need qemu-system-x86_64, busybox-static and a Debian
kernel (fetched with apt if missing): they skip with the reason where those cannot be had, except
under CI (env CI set), where they fail instead, so a CI host cannot pass them silently.
"""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conformance.targets.vm import images, initramfs, kernels, lifetime, qemu

ROOT = Path(__file__).resolve().parent.parent
FAKE_ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 57 + b"Linux version 9.9.9-test (x@y) #1\0"


# -- images ------------------------------------------------------------------------------------
def fake_bzimage(payload: bytes, version: bytes = b"9.9.9-test (builder) #1") -> bytes:
    """A bzImage-shaped file: one setup sector, HdrS, version string, payload_offset/length."""
    setup = bytearray(2 * 512)
    setup[0x1F1] = 1
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x20E, 0x300 - 0x200)  # version string at 0x300
    setup[0x300 : 0x300 + len(version)] = version
    struct.pack_into("<II", setup, 0x248, 16, len(payload))
    return bytes(setup) + b"\0" * 16 + payload + b"\0\0\0\0"


@pytest.mark.parametrize("compress", [lambda b: lzma.compress(b, format=lzma.FORMAT_XZ), gzip.compress])
def test_extract_vmlinux_from_a_bzimage(compress) -> None:
    image = fake_bzimage(compress(FAKE_ELF))
    assert images.is_bzimage(image)
    assert images.extract_vmlinux(image) == FAKE_ELF
    assert images.release_of(image) == "9.9.9-test"
    assert images.release_of(FAKE_ELF) == "9.9.9-test"


def test_extract_vmlinux_rejects_what_it_cannot_boot() -> None:
    with pytest.raises(images.ImageError, match="compression"):
        images.extract_vmlinux(fake_bzimage(b"LZ4?" + b"\0" * 64))
    with pytest.raises(images.ImageError, match="not an ELF"):
        images.extract_vmlinux(fake_bzimage(gzip.compress(b"not a kernel")))
    with pytest.raises(images.ImageError, match="not a bzImage"):
        images.extract_vmlinux(b"#!/bin/sh\n" * 100)


def test_module_depends_reads_modinfo() -> None:
    assert images.module_depends(b"\0license=GPL\0depends=netfs,9pnet\0intree=Y\0") == ["netfs", "9pnet"]
    assert images.module_depends(b"\0depends=\0") == []
    assert images.module_depends(b"no modinfo") == []


# -- kernels: spec, entries, cache -------------------------------------------------------------
@pytest.mark.parametrize("spec", ["debian:6.1", "debian:6.12", "host", "./bzImage", "/boot/vmlinuz"])
def test_valid_specs(spec: str) -> None:
    assert kernels.check_spec(spec) in ("debian", "host", "path")


@pytest.mark.parametrize("spec", ["debian", "debian:6", "debian:latest", "ubuntu:6.1", "6.12", ""])
def test_unknown_specs_are_one_line_errors(spec: str) -> None:
    with pytest.raises(kernels.KernelError, match="unknown kernel") as err:
        kernels.check_spec(spec)
    assert "\n" not in str(err.value)


def fake_module(depends: str) -> bytes:
    return b"\x7fELF fake module\0license=GPL\0" + f"depends={depends}\0".encode() + b"vermagic=9.9.9\0"


def fake_tree(tmp: Path, config: dict[str, str]) -> tuple[Path, Path, Path]:
    """A kernel package tree: boot/vmlinuz, boot/config and modules (one .ko.xz)."""
    boot = tmp / "tree/boot"
    boot.mkdir(parents=True)
    (boot / "vmlinuz-9.9.9-test").write_bytes(fake_bzimage(lzma.compress(FAKE_ELF)))
    (boot / "config-9.9.9-test").write_text("".join(f"CONFIG_{k}={v}\n" for k, v in config.items()) + "# CONFIG_X is not set\n")
    mods = tmp / "tree/lib/modules/9.9.9-test/kernel"
    for rel, depends in {"net/9p/9pnet.ko": "", "net/9p/9pnet_virtio.ko": "9pnet,virtio_ring",
                         "fs/9p/9p.ko": "9pnet,netfs", "fs/netfs/netfs.ko": "", "drivers/net/veth.ko": "",
                         "drivers/virtio/virtio_ring.ko": ""}.items():
        (mods / rel).parent.mkdir(parents=True, exist_ok=True)
        (mods / rel).write_bytes(fake_module(depends))
    xz = mods / "fs/netfs/netfs.ko"
    xz.with_suffix(".ko.xz").write_bytes(lzma.compress(xz.read_bytes(), format=lzma.FORMAT_XZ))
    xz.unlink()
    return boot / "vmlinuz-9.9.9-test", boot / "config-9.9.9-test", mods.parent


GOOD_CONFIG = {"NET_NS": "y", "IP_MROUTE": "y", "IPV6_MROUTE": "y", "IP_PIMSM_V2": "y", "IPV6_PIMSM_V2": "y",
               "VIRTIO_PCI": "y", "VIRTIO_CONSOLE": "y", "NET_9P_VIRTIO": "m", "9P_FS": "m", "VETH": "m",
               "PACKET": "y"}


def test_build_entry_keeps_vmlinux_config_and_needed_modules_in_load_order(tmp_path: Path) -> None:
    vmlinuz, config, modules = fake_tree(tmp_path, GOOD_CONFIG)
    cache = tmp_path / "cache"
    source = {"kind": "debian", "package": "linux-image-9.9.9-test", "version": "9.9.9-1"}
    k = kernels.build_entry("debian:9.9", "k1", source, vmlinuz, config, modules, cache)
    assert k.image.read_bytes() == FAKE_ELF and k.image.name == "vmlinux"
    assert k.manifest["release"] == "9.9.9-test"
    assert k.manifest["image_sha256"] == __import__("hashlib").sha256(FAKE_ELF).hexdigest()
    order = k.manifest["modules"]
    assert set(order) == {"9pnet", "virtio_ring", "9pnet_virtio", "netfs", "9p", "veth"}
    for module, deps in {"9pnet_virtio": ["9pnet", "virtio_ring"], "9p": ["9pnet", "netfs"]}.items():
        assert all(order.index(d) < order.index(module) for d in deps)
    assert (k.dir / "modules/netfs.ko").read_bytes().startswith(b"\x7fELF")  # decompressed
    assert k.missing == []
    assert (k.dir / "config").is_file()
    assert [e.dir for e in kernels.list_cached(cache)] == [k.dir]
    assert not list(cache.glob(".build-*"))  # built aside, renamed into place


def test_missing_config_options_are_recorded(tmp_path: Path) -> None:
    config = {**GOOD_CONFIG, "IP_MROUTE": "n"}
    del config["VETH"]
    vmlinuz, cfg, modules = fake_tree(tmp_path, config)
    k = kernels.build_entry("x", "k", {"kind": "path"}, vmlinuz, cfg, modules, tmp_path / "cache")
    assert set(k.missing) == {"IP_MROUTE", "VETH"}


def test_a_needed_module_that_is_absent_is_an_error(tmp_path: Path) -> None:
    vmlinuz, cfg, modules = fake_tree(tmp_path, {**GOOD_CONFIG, "DUMMY": "n", "PACKET": "m"})
    with pytest.raises(kernels.KernelError, match="af_packet"):
        kernels.build_entry("x", "k", {"kind": "path"}, vmlinuz, cfg, modules, tmp_path / "cache")
    assert not (tmp_path / "cache/k").exists()
    assert not list((tmp_path / "cache").glob(".build-*"))


def test_ensure_uses_the_newest_cached_entry_of_a_series(tmp_path: Path) -> None:
    vmlinuz, cfg, modules = fake_tree(tmp_path, GOOD_CONFIG)
    cache = tmp_path / "cache"
    for key, version in (("a", "6.12.99-1"), ("b", "6.12.118-1"), ("c", "6.12.100-1")):
        kernels.build_entry("debian:6.12", key, {"kind": "debian", "package": "p", "version": version},
                            vmlinuz, cfg, modules, cache)
    assert kernels.ensure("debian:6.12", root=cache).dir.name == "b"
    with pytest.raises(kernels.KernelError, match=r"kernels fetch debian:6\.1$"):
        kernels.ensure("debian:6.1", fetch=False, root=cache)


def test_user_kernel_needs_no_modules(tmp_path: Path) -> None:
    image = tmp_path / "bzImage"
    image.write_bytes(fake_bzimage(gzip.compress(FAKE_ELF)))
    k = kernels.ensure(str(image), root=tmp_path / "cache")
    assert k.modules == [] and k.image.read_bytes() == FAKE_ELF and k.release == "9.9.9-test"
    assert kernels.ensure(str(image), root=tmp_path / "cache").dir == k.dir  # cached by content
    with pytest.raises(kernels.KernelError, match="not a bzImage"):
        kernels.ensure(__file__, root=tmp_path / "cache")


def test_resolve_debian_goes_through_the_meta_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: dict[tuple[str, str], str | Exception] = {
        ("depends", "linux-image-6.1-amd64"): kernels.KernelError("E: No packages found"),
        ("depends", "linux-image-amd64"): "linux-image-amd64\n  Depends: linux-image-6.1.0-57-cloud-amd64\n"
                                          "  Depends: linux-image-6.1.0-57-amd64\n",
        ("show", "linux-image-6.1.0-57-amd64"): "Package: linux-image-6.1.0-57-amd64\nVersion: 6.1.192-3\n",
    }

    def fake_apt(args: list[str], cwd: object = None) -> str:
        answer = answers[(args[1], args[-1])]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(kernels, "_apt", fake_apt)
    assert kernels.resolve_debian("6.1") == ("linux-image-6.1.0-57-amd64", "6.1.192-3")


def test_kernels_cli_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), kernels.CACHE_ENV: str(tmp_path)}
    for args in (["fetch", "bogus"], ["fetch"], ["list", "x"], ["fetch", str(tmp_path / "nope")]):
        done = subprocess.run([sys.executable, "-m", "conformance.cli", "kernels", *args],
                              capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "conformance.cli", "kernels", "list"],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0 and str(tmp_path) in done.stdout


@pytest.mark.parametrize(("env", "args", "message"), [
    ({"MROUTE_VM_ACCEL": "xen"}, [], "MROUTE_VM_ACCEL='xen': valid values: auto, kvm, tcg"),
    ({"MROUTE_VM_KERNEL": "debian:x"}, [], "MROUTE_VM_KERNEL: unknown kernel 'debian:x'"),
    ({}, ["--mroute-kernel=nope"], "--mroute-kernel: unknown kernel 'nope'"),
])
def test_bad_vm_settings_are_pytest_usage_errors(env: dict[str, str], args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", "--pyargs", "conformance.suite",
         "--mroute-target=linux-vm", *args],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, check=False)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert message in done.stderr


def test_vm_settings_do_not_concern_other_targets() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", "--pyargs", "conformance.suite",
         "--mroute-target=reference"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT), "MROUTE_VM_KERNEL": "debian:x"},
        check=False)
    assert done.returncode == 0, done.stderr


def test_registry_and_expectations_know_linux_vm() -> None:
    from conformance.expectations.entries import default_path
    from conformance.expectations.wiring import resolve
    from conformance.targets import registry

    resolved = registry.resolve_profile("linux-vm", None)
    assert resolved is not None and resolved.name == "linux"
    with pytest.raises(registry.UsageError, match="invalid profile 'freebsd' for target 'linux-vm'"):
        registry.resolve_profile("linux-vm", "freebsd")
    assert resolve(None, "linux-vm") == default_path("linux") is not None  # the same kernel code, the same file
    assert resolve("none", "linux-vm") is None


# -- initramfs ---------------------------------------------------------------------------------
def unpack(archive: bytes) -> dict[str, tuple[int, bytes]]:
    """Parse a newc cpio independently of the writer: {name: (mode, data)}."""
    data, pos = gzip.decompress(archive), 0
    out: dict[str, tuple[int, bytes]] = {}
    while True:
        assert data[pos : pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[pos + 110 : pos + 110 + namesize - 1].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, data[pos : pos + size])
        pos = (pos + size + 3) & ~3


def test_base_archive_holds_busybox_init_and_modules_in_order(tmp_path: Path) -> None:
    vmlinuz, cfg, modules = fake_tree(tmp_path, GOOD_CONFIG)
    k = kernels.build_entry("x", "k", {"kind": "path"}, vmlinuz, cfg, modules, tmp_path / "cache")
    busybox = tmp_path / "busybox"
    busybox.write_bytes(b"\x7fELF static")
    files = unpack(initramfs.base_archive(k, busybox))
    assert files["init"][0] == 0o100755 and files["init"][1].startswith(b"#!/bin/busybox sh")
    assert files["bin/busybox"] == (0o100755, b"\x7fELF static")
    assert files["dev/console"][0] & 0o170000 == 0o020000  # a char device: init's stdio
    assert files["modules/order"][1].decode().split() == k.manifest["modules"]
    for name in k.manifest["modules"]:
        assert files[f"modules/{name}.ko"][1] == (k.dir / "modules" / f"{name}.ko").read_bytes()


def test_settings_survive_shell_quoting(tmp_path: Path) -> None:
    settings = initramfs.agent_settings("/opt/py thon/bin/python3", "/src/it's $HOME")
    env = tmp_path / "env"
    env.write_bytes(unpack(initramfs.settings_archive(settings))[initramfs.ENV_FILE][1])
    out = subprocess.run(["sh", "-c", f'. "{env}"; printf "%s|%s|%s" "$MROUTE_MODE" "$MROUTE_PY" "$MROUTE_ROOT"'],
                         capture_output=True, text=True, check=True).stdout
    assert out == "agent|/opt/py thon/bin/python3|/src/it's $HOME"


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox not installed")
def test_busybox_cpio_reads_our_archive(tmp_path: Path) -> None:
    cpio = initramfs.CpioWriter()
    cpio.dir("etc")
    cpio.file("etc/hello", b"hi\n" * 7, 0o640)
    (tmp_path / "a.cpio").write_bytes(gzip.decompress(cpio.finish()))
    subprocess.run(["busybox", "cpio", "-i", "-d", "-F", "a.cpio"], cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "etc/hello").read_bytes() == b"hi\n" * 7


# -- qemu command line, accelerator, lifetime --------------------------------------------------
def test_qemu_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qemu, "qemu_binary", lambda: "/usr/bin/qemu-system-x86_64")
    k = kernels.Kernel(tmp_path, {"spec": "x", "image": "vmlinux"})
    args = qemu.qemu_args(k, tmp_path / "i", "tcg", tmp_path / "c", tmp_path / "s")
    line = " ".join(args)
    for part in ("-accel tcg", "-cpu max", "-m 256M", "-nodefaults", "-display none", "-no-reboot",
                 "readonly=on,multidevs=remap", "name=agent", "panic=-1"):
        assert part in line
    assert "-cpu host" in " ".join(qemu.qemu_args(k, tmp_path / "i", "kvm", tmp_path / "c", tmp_path / "s"))


def test_accel_choice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    k = kernels.Kernel(tmp_path, {"spec": "x", "image": "vmlinux"})
    with pytest.raises(qemu.VmError, match="invalid --vm-accel"):
        qemu.choose_accel("xen", k)
    monkeypatch.setattr(qemu, "kvm_device_works", lambda: False)
    assert qemu.choose_accel("auto", k) == "tcg"
    assert qemu.choose_accel("tcg", k) == "tcg"
    with pytest.raises(qemu.VmError, match="/dev/kvm"):
        qemu.choose_accel("kvm", k)


def test_console_tail_names_what_went_wrong(tmp_path: Path) -> None:
    console = tmp_path / "console.log"
    assert qemu._console_tail(console) == "no console output"
    console.write_text("[ 0.1] Linux version 6.12\r\n[ 2.0] Kernel panic - not syncing: VFS\n")
    assert qemu._console_tail(console) == "[ 2.0] Kernel panic - not syncing: VFS"
    console.write_text("mroute-vm: [1.0] agent on /dev/vport1p1\nModuleNotFoundError: No module named 'x'\n"
                       "mroute-vm: [2.0] agent exited with status 1\n[ 2.1] reboot: Power down\n")
    assert qemu._console_tail(console) == (
        "mroute-vm: [2.0] agent exited with status 1 (after: ModuleNotFoundError: No module named 'x')")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def _await_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def test_spawned_child_dies_with_a_sigkilled_parent() -> None:
    code = textwrap.dedent("""
        import sys
        from conformance.targets.vm import lifetime
        proc = lifetime.spawn(["sleep", "60"])
        print(proc.pid, flush=True)
        sys.stdin.read()
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.kill()
    parent.wait()
    assert _await_gone(child), "spawned child outlived its SIGKILLed parent"


def test_stale_run_dirs_of_dead_processes_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    proc = subprocess.Popen(["true"])
    proc.wait()
    stale = tmp_path / f"{lifetime.DIR_PREFIX}{proc.pid}-abc"
    live = tmp_path / f"{lifetime.DIR_PREFIX}{os.getpid()}-def"
    stale.mkdir()
    live.mkdir()
    assert lifetime.remove_stale_dirs() == [str(stale)]
    assert live.is_dir() and not stale.exists()


def test_advance_waits_on_the_host_without_a_guest_round_trip() -> None:
    from conformance.targets.vm.target import LinuxVmTarget

    class NoAgent:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"advance must not talk to the guest ({name})")

    target = object.__new__(LinuxVmTarget)
    target._agent = NoAgent()  # type: ignore[assignment]
    started = time.monotonic()
    target.advance(0.05)
    assert 0.05 <= time.monotonic() - started < 1.0
    target.advance(-1.0)


# -- real boots --------------------------------------------------------------------------------
BOOT_KERNEL = os.environ.get("MROUTE_VM_KERNEL", "debian:6.12")


def _cannot_boot() -> str | None:
    if shutil.which(qemu.QEMU) is None:
        return f"{qemu.QEMU} not installed"
    try:
        initramfs.find_busybox()
        kernels.ensure(BOOT_KERNEL, fetch=shutil.which("apt-get") is not None)
    except (initramfs.InitramfsError, kernels.KernelError) as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def can_boot() -> None:
    reason = _cannot_boot()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must boot the linux-vm target: {reason}")
        pytest.skip(reason)


def _our_qemus() -> list[int]:
    """qemu processes whose command line names one of our run directories."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"qemu-system" in cmd and lifetime.DIR_PREFIX.encode() in cmd and f"-{os.getpid()}-".encode() in cmd:
                pids.append(int(proc.name))
    return pids


def _our_dirs(pid: int) -> list[Path]:
    return list(Path(lifetime.tempfile.gettempdir()).glob(f"{lifetime.DIR_PREFIX}{pid}-*"))


def test_boot_and_mrt_init_in_the_guest(can_boot: None) -> None:
    from conformance.targets.vm.target import LinuxVmTarget

    target = LinuxVmTarget(BOOT_KERNEL, "tcg")
    try:
        assert _our_qemus() and _our_dirs(os.getpid())
        info = target.info()
        assert info.name == "linux-vm" and info.profile == "linux"
        assert info.details["kernel"] == kernels.ensure(BOOT_KERNEL).release != os.uname().release
        assert info.details["accel"] == "tcg" and info.details["boot_s"] > 0
        sock = target.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
        target.setsockopt(sock, socket.IPPROTO_IP, 200, struct.pack("=i", 1))  # MRT_INIT
        with pytest.raises(OSError) as err:  # a second MRT_INIT socket: EADDRINUSE, from the guest kernel
            other = target.open_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
            target.setsockopt(other, socket.IPPROTO_IP, 200, struct.pack("=i", 1))
        assert err.value.errno == 98
        target.reset()
    finally:
        target.shutdown()
    assert _our_qemus() == []
    assert _our_dirs(os.getpid()) == []


def test_a_guest_that_fails_is_unavailable_with_its_console_line(can_boot: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.targets.vm import target as vm_target

    monkeypatch.setattr(vm_target, "guest_python", lambda: "/nonexistent/python3")
    with pytest.raises(vm_target.TargetUnavailable) as err:
        vm_target.LinuxVmTarget(BOOT_KERNEL, "tcg")
    message = str(err.value)
    assert "\n" not in message
    assert "did not come up" in message and "agent exited with status 127" in message, message
    assert _our_qemus() == [] and _our_dirs(os.getpid()) == []


def test_a_hung_boot_is_ended_by_the_watchdog(can_boot: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.targets.vm.target import LinuxVmTarget, TargetUnavailable

    started = time.monotonic()
    with pytest.raises(TargetUnavailable, match="did not answer within the 1 s boot timeout"):
        LinuxVmTarget(BOOT_KERNEL, "tcg", boot_timeout=1.0)  # far too short for any boot under TCG
    assert time.monotonic() - started < 15
    assert _our_qemus() == [] and _our_dirs(os.getpid()) == []


def test_sigkilled_runner_takes_its_vm_along(can_boot: None, tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import os, sys
        from conformance.targets.vm.target import LinuxVmTarget
        t = LinuxVmTarget({BOOT_KERNEL!r}, "tcg")
        print(t.vm.proc.pid, t.vm.dir, flush=True)
        sys.stdin.read()
    """)
    runner = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert runner.stdout is not None
        line = runner.stdout.readline().split()
        assert line, "the runner did not boot its VM"
        qemu_pid, run_dir = int(line[0]), Path(line[1])
        assert _alive(qemu_pid) and run_dir.is_dir()
        runner.kill()
        runner.wait()
        assert _await_gone(qemu_pid), "qemu outlived its SIGKILLed runner"
        lifetime.remove_stale_dirs()  # nobody was left to remove it: the next VM start does
    finally:
        runner.kill()
        runner.wait()
    assert not run_dir.exists()


# -- the kernel matrix -------------------------------------------------------------------------
def _results(kernel: str, clauses: dict[str, str]) -> dict:
    return {"target": {"details": {"kernel": kernel, "accel": "tcg", "boot_s": 4.2}},
            "summary": {"pass": list(clauses.values()).count("pass")}, "clauses": clauses}


def test_matrix_lists_differences_first() -> None:
    from conformance.targets.vm import matrix

    runs = [("debian:6.1", _results("6.1.0", {"a.same": "pass", "b.changed": "fail", "c.new": "unsupported"})),
            ("debian:6.12", _results("6.12.0", {"a.same": "pass", "b.changed": "pass", "c.new": "pass", "d.only": "pass"}))]
    built = matrix.build(runs)
    assert [r["clause"] for r in built["rows"]] == ["b.changed", "c.new", "d.only", "a.same"]
    assert built["rows"][2]["outcomes"] == ["absent", "pass"]
    assert built["differences"] == 3
    assert [k["release"] for k in built["kernels"]] == ["6.1.0", "6.12.0"]


def test_matrix_page_escapes_and_has_no_script(tmp_path: Path) -> None:
    from conformance.targets.vm import matrix

    matrix.write(tmp_path, [("/home/<me>/bzImage", _results("<6.13-rc1>", {"x.y": "pass"})),
                            ("debian:6.1", {"target": {"details": {"unavailable": "no <qemu>"}}})])
    page = (tmp_path / "matrix.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<me>" not in page and "&lt;6.13-rc1&gt;" in page
    assert "unavailable: no &lt;qemu&gt;" in page  # a run that tested nothing says why, not "pass"
    assert matrix.slug("debian:6.12") == "debian-6.12" and matrix.slug("/a/b/bzImage") == "bzImage"


@pytest.mark.parametrize(("kernels_n", "workers", "want"), [
    (2, None, (1, [])),
    (2, "2", (2, ["-n", "0"])),  # two kernels side by side, one VM each
    (2, "4", (2, ["-n", "2"])),
    (3, "2", (2, ["-n", "0"])),
    (1, "2", (1, ["-n", "2"])),  # one kernel: its run gets the workers
    (2, "1", (1, ["-n", "1"])),
    (2, "auto", (1, ["-n", "auto"])),
])
def test_matrix_plan_spreads_workers_over_kernels(kernels_n: int, workers: str | None, want: tuple) -> None:
    from conformance.targets.vm import matrix

    assert matrix.plan(kernels_n, workers) == want


def test_kernels_run_rejects_a_bad_spec_before_running_anything(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), kernels.CACHE_ENV: str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "conformance.cli", "kernels", "run", "debian:6.12", "nonsense",
                           "--report-dir", str(tmp_path / "out")], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 2 and "unknown kernel 'nonsense'" in done.stderr
    assert not (tmp_path / "out").exists()
