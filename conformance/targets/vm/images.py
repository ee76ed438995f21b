"""Kernel image files: bzImage -> ELF vmlinux extraction, release strings, static-ELF checks.

An ELF ``vmlinux`` with a PVH note boots under qemu without the guest decompressing itself, which
under TCG saves 1-4 s per boot (research/linux-vm.md §3). Extraction follows the kernel's
``scripts/extract-vmlinux``, but finds the payload through the boot protocol header.
"""

from __future__ import annotations

import gzip
import lzma
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
BZIMAGE_MAGIC = b"HdrS"
PT_INTERP = 3
_VERSION_RE = re.compile(rb"Linux version (\S+)")


class ImageError(Exception):
    """An image that is not a kernel we can boot, or cannot be decompressed here; one-line message."""


def is_elf(data: bytes) -> bool:
    """True for an ELF file (a ``vmlinux``)."""
    return data[:4] == ELF_MAGIC


def is_bzimage(data: bytes) -> bool:
    """True for an x86 bzImage (boot protocol header magic ``HdrS`` at 0x202)."""
    return len(data) > 0x250 and data[0x202:0x206] == BZIMAGE_MAGIC


def payload(data: bytes) -> bytes:
    """The compressed kernel inside a bzImage (boot protocol >= 2.08 fields payload_offset/length)."""
    setup_sects = data[0x1F1] or 4
    offset, length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + offset
    if not length or start + length > len(data):
        raise ImageError("bzImage has no payload field (boot protocol older than 2.08)")
    return data[start : start + length]


def _zstd(blob: bytes) -> bytes:
    tool = shutil.which("zstd")
    if tool is None:
        raise ImageError("zstd-compressed kernel and no 'zstd' tool (apt-get install zstd)")
    done = subprocess.run([tool, "-dcq"], input=blob, capture_output=True, check=False)
    if not is_elf(done.stdout):
        raise ImageError(f"zstd could not decompress the kernel: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def decompress(blob: bytes) -> bytes:
    """Decompress a bzImage payload by its magic (xz, zstd, gzip); ImageError if unsupported."""
    if blob.startswith(b"\xfd7zXZ\x00"):
        out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(blob)
    elif blob.startswith(b"\x28\xb5\x2f\xfd"):
        out = _zstd(blob)
    elif blob.startswith(b"\x1f\x8b"):
        out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(blob)
    else:
        raise ImageError(f"unsupported kernel compression (payload magic {blob[:4].hex()})")
    if not is_elf(out):
        raise ImageError("decompressed kernel is not an ELF vmlinux")
    return out


def extract_vmlinux(data: bytes) -> bytes:
    """The ELF vmlinux inside a bzImage (or ``data`` itself when it already is one)."""
    if is_elf(data):
        return data
    if not is_bzimage(data):
        raise ImageError("not a bzImage or ELF vmlinux")
    return decompress(payload(data))


def release_of(data: bytes) -> str | None:
    """The ``uname -r`` a kernel image reports: the bzImage header's version string, else a search."""
    if is_bzimage(data):
        (ptr,) = struct.unpack_from("<H", data, 0x20E)
        text = data[ptr + 0x200 : ptr + 0x300].split(b"\0", 1)[0]
        if text:
            return text.split()[0].decode(errors="replace")
    match = _VERSION_RE.search(data)
    return match.group(1).decode(errors="replace") if match else None


def is_static_elf(path: Path) -> bool:
    """True when ``path`` is an ELF executable with no program interpreter (runs without libraries)."""
    data = path.read_bytes()
    if not is_elf(data) or data[4] != 2:  # 64-bit only
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return all(
        struct.unpack_from("<I", data, phoff + i * phentsize)[0] != PT_INTERP for i in range(phnum)
    )


def read_module(path: Path) -> bytes:
    """A kernel module's bytes, decompressed (``.ko``, ``.ko.xz``, ``.ko.gz``, ``.ko.zst``)."""
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        tool = shutil.which("zstd")
        if tool is None:
            raise ImageError(f"{path.name}: zstd-compressed module and no 'zstd' tool")
        return subprocess.run([tool, "-dcq", str(path)], capture_output=True, check=True).stdout
    return data


def module_depends(data: bytes) -> list[str]:
    """The ``depends=`` list of a module's .modinfo section (names with underscores)."""
    match = re.search(rb"(?:^|\0)depends=([^\0]*)\0", data)
    if not match or not match.group(1):
        return []
    return [name.decode().replace("-", "_") for name in match.group(1).split(b",") if name]
