"""Kernels for the VM: resolve a ``--kernel`` spec, fetch Debian images with apt, keep a cache.

Specs: ``debian:X.Y`` (a Debian kernel series, through its apt meta package; non-cloud amd64
flavour, since cloud kernels lack 9p), ``host`` (this machine's /boot image and modules), or a
path to a bzImage/vmlinux a user built (everything the VM needs built in). A cache entry is a
directory with an ELF ``vmlinux`` (or the bzImage when it cannot be extracted), the config, the
few modules the guest loads (decompressed, in load order) and ``manifest.json``; it is built in
a temporary directory and renamed into place, so a half-written entry is never seen. No root.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from conformance.targets.vm import images

CACHE_ENV = "MROUTE_KERNEL_CACHE"
KERNEL_ENV = "MROUTE_VM_KERNEL"  # the kernel spec the linux-vm target boots
MANIFEST = "manifest.json"
FORMAT = "mroute-conformance/kernel/1"
SPEC_HELP = "debian:X.Y (e.g. debian:6.1, debian:6.12), host, or a path to a bzImage/vmlinux"
_DEBIAN_RE = re.compile(r"^debian:(\d+\.\d+)$")

# (config option, module name, needed): what the guest must have, built in or as a module.
FEATURES = (
    ("VIRTIO_PCI", "virtio_pci", True),
    ("VIRTIO_CONSOLE", "virtio_console", True),
    ("NET_9P_VIRTIO", "9pnet_virtio", True),
    ("9P_FS", "9p", True),
    ("VETH", "veth", True),
    ("PACKET", "af_packet", True),
    ("DUMMY", "dummy", False),
)
BUILTIN_NEEDED = ("NET_NS", "IP_MROUTE", "IPV6_MROUTE", "IP_PIMSM_V2", "IPV6_PIMSM_V2")


class KernelError(Exception):
    """A kernel that cannot be had (bad spec, not cached, apt failed...); one-line message."""


@dataclass(frozen=True)
class Kernel:
    """A usable kernel: its cache directory and manifest."""

    dir: Path
    manifest: dict

    @property
    def spec(self) -> str:
        return str(self.manifest["spec"])

    @property
    def release(self) -> str:
        return str(self.manifest.get("release") or "unknown")

    @property
    def image(self) -> Path:
        """The file qemu's ``-kernel`` gets (an absolute path for a user's own vmlinux)."""
        return self.dir / self.manifest["image"]

    @property
    def modules(self) -> list[Path]:
        """Modules the guest loads before mounting 9p, dependencies first."""
        return [self.dir / "modules" / f"{name}.ko" for name in self.manifest.get("modules", [])]

    @property
    def missing(self) -> list[str]:
        """Config options the suite needs that this kernel lacks (empty when unknown)."""
        return list(self.manifest.get("missing_config", []))

    def source(self) -> str:
        """Where the kernel came from, for the report: ``package=version``, ``host`` or a path."""
        src = self.manifest.get("source", {})
        if src.get("kind") == "debian":
            return f"debian {src['package']}={src['version']}"
        return str(src.get("path") or src.get("kind") or "unknown")


def cache_dir() -> Path:
    """$MROUTE_KERNEL_CACHE, else $XDG_CACHE_HOME/mroute-conformance/kernels, else ~/.cache/..."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mroute-conformance" / "kernels"


def check_spec(spec: str) -> str:
    """The spec's kind (``debian``, ``host``, ``path``); KernelError for anything else."""
    if _DEBIAN_RE.match(spec):
        return "debian"
    if spec == "host":
        return "host"
    if "/" in spec or Path(spec).is_file():
        return "path"
    raise KernelError(f"unknown kernel {spec!r}; valid: {SPEC_HELP}")


def list_cached(root: Path | None = None) -> list[Kernel]:
    """Every complete cache entry (with a manifest), sorted by spec then release."""
    root = root or cache_dir()
    found = []
    for manifest in sorted(root.glob(f"*/{MANIFEST}")):
        try:
            found.append(Kernel(manifest.parent, json.loads(manifest.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
    return sorted(found, key=lambda k: (k.spec, k.release))


# -- apt --------------------------------------------------------------------------------------
def _apt(args: list[str], cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise KernelError(f"{args[0]} not found (Debian/Ubuntu apt is needed to fetch debian: kernels)") from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.startswith("E:")] or done.stderr.splitlines() or [""]
        raise KernelError(f"{' '.join(args[:2])} failed: {lines[0].strip()}")
    return done.stdout


def resolve_debian(series: str) -> tuple[str, str]:
    """(package, version) of the newest non-cloud amd64 image of ``series``, via the meta packages."""
    wanted = re.compile(rf"^linux-image-{re.escape(series)}[.\-]\S*-amd64$")
    for meta in (f"linux-image-{series}-amd64", "linux-image-amd64"):
        try:
            out = _apt(["apt-cache", "depends", "--important", meta])
        except KernelError:
            continue
        for line in out.splitlines():
            dep = line.split(":", 1)[-1].strip()
            if line.strip().startswith("Depends:") and wanted.match(dep) and "cloud" not in dep and "-rt-" not in dep:
                show = _apt(["apt-cache", "show", "--no-all-versions", dep])
                version = re.search(r"^Version: (\S+)", show, re.M)
                if version:
                    return dep, version.group(1)
    raise KernelError(
        f"no Debian kernel package for debian:{series} in apt's lists "
        f"(tried linux-image-{series}-amd64 and linux-image-amd64; run apt-get update?)"
    )


def _key(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", "-".join(parts))


# -- building an entry ------------------------------------------------------------------------
def read_config(path: Path | None) -> dict[str, str]:
    """``CONFIG_X=v`` lines of a kernel config as {X: v}; {} without a file."""
    if path is None or not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, value = line[7:].split("=", 1)
            out[key] = value
    return out


def _module_index(modules_dir: Path) -> dict[str, Path]:
    index = {}
    for path in modules_dir.rglob("*.ko*"):
        if re.search(r"\.ko(\.(xz|gz|zst))?$", path.name):
            index[path.name.split(".ko", 1)[0].replace("-", "_")] = path
    return index


def select_modules(config: dict[str, str], modules_dir: Path | None, out: Path) -> tuple[list[str], list[str]]:
    """Copy the modules the guest needs (with dependencies) into ``out``; (load order, missing options)."""
    index = _module_index(modules_dir) if modules_dir and modules_dir.is_dir() else {}
    order: list[str] = []
    missing = [opt for opt in BUILTIN_NEEDED if config and config.get(opt) != "y"]

    def add(name: str, chain: tuple[str, ...] = ()) -> None:
        if name in order or name in chain:
            return
        if name not in index:
            raise KernelError(f"module {name}.ko not found under {modules_dir}")
        data = images.read_module(index[name])
        for dep in images.module_depends(data):
            add(dep, (*chain, name))
        (out / f"{name}.ko").write_bytes(data)
        order.append(name)

    out.mkdir(parents=True, exist_ok=True)
    for option, module, needed in FEATURES:
        value = config.get(option)
        if value == "m":
            add(module)
        elif value != "y" and config and needed:
            missing.append(option)
    return order, missing


def _store_image(vmlinuz: Path, out: Path) -> dict:
    """Write ``vmlinux`` (extracted) or, failing that, the bzImage itself; manifest fields."""
    data = vmlinuz.read_bytes()
    note = None
    try:
        name, blob = "vmlinux", images.extract_vmlinux(data)
    except images.ImageError as exc:
        name, blob, note = "bzImage", data, f"booting the bzImage: {exc}"
    (out / name).write_bytes(blob)
    fields = {"image": name, "image_sha256": hashlib.sha256(blob).hexdigest(), "release": images.release_of(data)}
    if note:
        fields["note"] = note
    return fields


def build_entry(spec: str, key: str, source: dict, vmlinuz: Path, config: Path | None,
                modules_dir: Path | None, root: Path | None = None) -> Kernel:
    """Make the cache entry ``key`` atomically (temp dir, then rename); an existing one wins."""
    root = root or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    with tempfile.TemporaryDirectory(dir=root, prefix=".build-") as tmp:
        out = Path(tmp) / key
        out.mkdir()
        manifest: dict = {"format": FORMAT, "spec": spec, "source": source}
        manifest.update(_store_image(vmlinuz, out))
        cfg = read_config(config)
        if config is not None and config.is_file():
            shutil.copyfile(config, out / "config")
        manifest["modules"], manifest["missing_config"] = select_modules(cfg, modules_dir, out / "modules")
        manifest["fetched"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        try:
            os.rename(out, final)
        except OSError:
            if not (final / MANIFEST).is_file():  # lost a race to a complete entry: use it
                raise
    return Kernel(final, json.loads((final / MANIFEST).read_text(encoding="utf-8")))


def _modules_dir(tree: Path, release: str) -> Path | None:
    for candidate in (tree / "lib/modules" / release, tree / "usr/lib/modules" / release):
        if candidate.is_dir():
            return candidate
    return None


def fetch_debian(series: str, root: Path | None = None) -> Kernel:
    """Download the series' image package with ``apt-get download`` and cache it (no root needed)."""
    root = root or cache_dir()
    package, version = resolve_debian(series)
    key = _key("debian", package.removeprefix("linux-image-"), version)
    if (root / key / MANIFEST).is_file():
        return _load(root / key)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
        work = Path(tmp)
        _apt(["apt-get", "download", "-q", f"{package}={version}"], cwd=work)
        debs = list(work.glob("*.deb"))
        if not debs:
            raise KernelError(f"apt-get download {package} wrote no .deb")
        _apt(["dpkg-deb", "-x", str(debs[0]), str(work / "tree")])
        vmlinuz = sorted((work / "tree/boot").glob("vmlinuz-*"))
        if not vmlinuz:
            raise KernelError(f"{package} has no boot/vmlinuz-*")
        release = vmlinuz[0].name.removeprefix("vmlinuz-")
        source = {"kind": "debian", "package": package, "version": version}
        return build_entry(f"debian:{series}", key, source, vmlinuz[0], work / "tree/boot" / f"config-{release}",
                           _modules_dir(work / "tree", release), root)


def host_kernel(root: Path | None = None) -> Kernel:
    """The running kernel's own image, when /boot holds it (often not in containers)."""
    release = os.uname().release
    vmlinuz = Path("/boot") / f"vmlinuz-{release}"
    if not os.access(vmlinuz, os.R_OK):
        raise KernelError(f"kernel host: {vmlinuz} is not there or not readable; use {SPEC_HELP}")
    digest = hashlib.sha256(vmlinuz.read_bytes()).hexdigest()[:16]
    key = _key("host", release, digest)
    root = root or cache_dir()
    if (root / key / MANIFEST).is_file():
        return _load(root / key)
    return build_entry("host", key, {"kind": "host", "path": str(vmlinuz)}, vmlinuz,
                       Path("/boot") / f"config-{release}", _modules_dir(Path("/"), release), root)


def user_kernel(path: Path, root: Path | None = None) -> Kernel:
    """A kernel the user built: bzImage (extracted to the cache) or vmlinux; no modules loaded."""
    if not path.is_file():
        raise KernelError(f"kernel {path}: no such file")
    data = path.read_bytes()
    if not (images.is_elf(data) or images.is_bzimage(data)):
        raise KernelError(f"kernel {path}: not a bzImage or ELF vmlinux")
    key = _key("custom", hashlib.sha256(data).hexdigest()[:16])
    root = root or cache_dir()
    if (root / key / MANIFEST).is_file():
        return _load(root / key)
    return build_entry(str(path), key, {"kind": "path", "path": str(path.resolve())}, path, None, None, root)


def _load(entry: Path) -> Kernel:
    return Kernel(entry, json.loads((entry / MANIFEST).read_text(encoding="utf-8")))


def cached_series(series: str, root: Path | None = None) -> Kernel | None:
    """The newest cached entry fetched for ``debian:series`` (for hosts without apt)."""
    entries = [k for k in list_cached(root) if k.spec == f"debian:{series}"]
    return max(entries, key=lambda k: _natural(str(k.manifest["source"].get("version", ""))), default=None)


def _natural(text: str) -> list:
    """A sort key comparing digit runs as numbers (6.12.99 < 6.12.118)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def ensure(spec: str, *, fetch: bool = True, root: Path | None = None) -> Kernel:
    """The kernel for ``spec``: the newest cached one, else fetched (debian:, when ``fetch``); KernelError.

    A cached debian: series is used without asking apt (fast, offline); ``kernels fetch`` updates it.
    """
    kind = check_spec(spec)
    if kind == "host":
        return host_kernel(root)
    if kind == "path":
        return user_kernel(Path(spec), root)
    match = _DEBIAN_RE.match(spec)
    if match is None:  # check_spec accepted it as debian:, so this cannot happen
        raise KernelError(f"--kernel {spec!r}: not a debian:X.Y series")
    series = match.group(1)
    cached = cached_series(series, root)
    if cached is not None:
        return cached
    if not fetch:
        raise KernelError(f"kernel {spec} is not cached; run: mroute-conformance kernels fetch {spec}")
    if shutil.which("apt-get") is None:
        raise KernelError(f"kernel {spec} is not cached and apt is not available to fetch it")
    return fetch_debian(series, root)
