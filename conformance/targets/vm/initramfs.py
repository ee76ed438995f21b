"""The guest's initramfs: busybox-static, the kernel's few modules and an /init that starts the agent.

/init mounts the host's / read-only over virtio-9p, gives the chroot writable tmpfs on /run (for
``ip netns``) and /tmp, finds the virtio-serial port named ``agent`` and runs the host's own python
with ``-m conformance.agent --backend linux`` on it. The part that depends only on the kernel is
cached next to it; each run appends a tiny second archive with its settings (the kernel reads
concatenated cpio archives as one).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shlex
import shutil
import stat
import sys
from pathlib import Path

from conformance.targets.vm import images
from conformance.targets.vm.kernels import Kernel

PORT_NAME = "agent"  # the virtserialport name the host gives the agent's channel
SHARE_TAG = "hostroot"  # the 9p mount tag of the host's /
ENV_FILE = "etc/mroute-vm.env"
MARKER = "mroute-vm:"  # prefix of every line /init prints on the console

INIT_SCRIPT = r"""#!/bin/busybox sh
# mroute-conformance guest init: modules, the host's / over 9p (read-only), then the agent.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { read -r up _ < /proc/uptime; echo "mroute-vm: [$up] $*" > /dev/console; }
fail() { say "FAILED: $*"; poweroff -f; }
. /etc/mroute-vm.env
say "init"
if [ "$MROUTE_MODE" = probe ]; then say "probe ok"; poweroff -f; fi
while read -r m; do insmod "/modules/$m.ko" || fail "insmod $m"; done < /modules/order
H=/mnt/host
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot $H || fail "9p mount of the host's / (needs CONFIG_NET_9P_VIRTIO, CONFIG_9P_FS; see docs/linux-vm.md)"
mount -t proc proc $H/proc && mount -t sysfs sysfs $H/sys && mount -o bind /dev $H/dev || fail "mounts in the chroot"
mkdir -p /mnt/orig && mount -o bind $H /mnt/orig || fail "bind of the host's /"
mount -t tmpfs -o mode=0755 tmpfs $H/run && mkdir -p $H/run/netns || fail "tmpfs on /run"
mount -t tmpfs -o mode=1777 tmpfs $H/tmp || fail "tmpfs on /tmp"
# the project and the interpreter may live under /tmp or /run (a CI clone, a venv): show them again
for d in $MROUTE_KEEP; do
  case "$d" in /tmp/*|/run/*) mkdir -p "$H$d" && mount -o bind "/mnt/orig$d" "$H$d" || fail "bind of $d";; esac
done
ip link set lo up
say "modules loaded, host / mounted"
# no udev in here: the port's name is only in sysfs; ports are announced asynchronously
dev=
tries=0
while [ -z "$dev" ]; do
  for p in /sys/class/virtio-ports/*; do
    [ -r "$p/name" ] && [ "$(cat "$p/name")" = agent ] && [ -e "/dev/${p##*/}" ] && dev="/dev/${p##*/}"
  done
  [ -n "$dev" ] && break
  tries=$((tries + 1))
  [ $tries -gt 400 ] && fail "no virtio-serial port named agent"
  usleep 25000
done
say "agent on $dev"
chroot $H /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp \
  PYTHONPATH="$MROUTE_ROOT" PYTHONDONTWRITEBYTECODE=1 "$MROUTE_PY" -S -m conformance.agent --backend linux --device "$dev"
say "agent exited with status $?"
poweroff -f
"""

_BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox", "/usr/lib/initramfs-tools/bin/busybox")


class InitramfsError(Exception):
    """Something the initramfs needs is missing on this host; one-line message."""


class CpioWriter:
    """A minimal newc (``070701``) cpio writer: files, directories and device nodes."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        self.ino += 1
        self.buf.write(b"070701" + b"".join(b"%08x" % f for f in fields) + encoded)
        self.buf.write(b"\0" * (-self.buf.tell() % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-self.buf.tell() % 4))

    def dir(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def chardev(self, name: str, major: int, minor: int) -> None:
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self) -> bytes:
        """The archive, gzip-compressed, with its trailer."""
        self._entry("TRAILER!!!", 0)
        return gzip.compress(self.buf.getvalue(), compresslevel=6, mtime=0)


def find_busybox() -> Path:
    """A statically linked busybox (from busybox-static); InitramfsError if there is none."""
    which = shutil.which("busybox")
    for candidate in (*([which] if which else []), *_BUSYBOX_CANDIDATES):
        path = Path(candidate)
        if path.is_file() and images.is_static_elf(path):
            return path
    raise InitramfsError("no statically linked busybox found; apt-get install busybox-static")


def base_archive(kernel: Kernel, busybox: Path) -> bytes:
    """busybox, /init, the kernel's modules and their load order, as a gzip'd cpio."""
    cpio = CpioWriter()
    for d in ("bin", "dev", "proc", "sys", "mnt", "mnt/host", "etc", "modules"):
        cpio.dir(d)
    cpio.chardev("dev/console", 5, 1)
    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    cpio.file("init", INIT_SCRIPT.encode(), 0o755)
    names = []
    for module in kernel.modules:
        cpio.file(f"modules/{module.name}", module.read_bytes())
        names.append(module.name.removesuffix(".ko"))
    cpio.file("modules/order", "".join(f"{n}\n" for n in names).encode())
    return cpio.finish()


def cached_base(kernel: Kernel) -> Path:
    """The kernel's base archive, built once and kept next to it (keyed by busybox and /init)."""
    busybox = find_busybox()
    digest = hashlib.sha256(busybox.read_bytes() + INIT_SCRIPT.encode() + repr(kernel.manifest.get("modules")).encode())
    path = kernel.dir / f"initrd-{digest.hexdigest()[:12]}.cpio.gz"
    if not path.is_file():
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_bytes(base_archive(kernel, busybox))
        os.replace(tmp, path)
    return path


def settings_archive(settings: dict[str, str]) -> bytes:
    """The per-run archive: /etc/mroute-vm.env with shell-quoted ``settings``."""
    cpio = CpioWriter()
    cpio.dir("etc")
    text = "".join(f"{key}={shlex.quote(value)}\n" for key, value in sorted(settings.items()))
    cpio.file(ENV_FILE, text.encode())
    return cpio.finish()


def agent_settings(python: str, source_root: str) -> dict[str, str]:
    """What /init needs to start the agent: the interpreter and the project's source root, and the
    directories (both, and the interpreter's prefix) that must stay visible under the guest's tmpfs
    mounts on /tmp and /run, where a CI clone or a venv may live."""
    prefix = str(Path(python).resolve().parent.parent)
    keep = " ".join(d for d in dict.fromkeys((source_root, prefix, sys.base_prefix)) if not any(c.isspace() for c in d))
    return {"MROUTE_MODE": "agent", "MROUTE_PY": python, "MROUTE_ROOT": source_root, "MROUTE_KEEP": keep}


def write_initrd(kernel: Kernel, settings: dict[str, str], dest: Path) -> Path:
    """The cached base archive followed by this run's settings, written to ``dest``."""
    base = cached_base(kernel)
    with open(dest, "wb") as out:
        with open(base, "rb") as src:
            shutil.copyfileobj(src, out)
        out.write(settings_archive(settings))
    return dest
