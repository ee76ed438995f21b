"""The ``kernels`` subcommand of ``mroute-conformance``: fetch and list kernels for ``--target linux-vm``.

kernels fetch SPEC...   download (debian:X.Y, apt-get download + dpkg-deb, no root) or prepare
                        (host, PATH) each kernel into the cache; one line per kernel
kernels list            the cache: spec, release, source, image size, path
A bad spec or a kernel that cannot be had is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse

from conformance.errors import report_error
from conformance.targets.vm import kernels


def _visible(parser: argparse.ArgumentParser) -> str:
    return ", ".join(o for a in parser._actions if a.help != argparse.SUPPRESS for o in a.option_strings)


def add_kernels(commands: argparse._SubParsersAction) -> None:
    """Register ``kernels fetch SPEC...`` and ``kernels list``."""
    parser = commands.add_parser("kernels", allow_abbrev=False, help="fetch and list kernels for --target linux-vm")
    parser.add_argument("action", choices=("fetch", "list"), help="fetch: download/prepare SPECs; list: show the cache")
    parser.add_argument("specs", nargs="*", metavar="SPEC", help=kernels.SPEC_HELP)
    parser.set_defaults(func=cmd_kernels, valid_options=_visible(parser))


def cmd_kernels(args: argparse.Namespace, extra: list[str]) -> int:
    """Fetch each SPEC (0, or 2 with one line at the first that fails) or list the cache (0)."""
    if args.action == "list":
        if args.specs:
            return report_error("kernels list takes no SPEC")
        print(f"cache: {kernels.cache_dir()}")
        for k in kernels.list_cached():
            size = k.image.stat().st_size if k.image.is_file() else 0
            print(f"{k.spec:14} {k.release:28} {k.source():60} {size / 2**20:6.1f} MiB  {k.dir}")
        return 0
    if not args.specs:
        return report_error(f"kernels fetch needs at least one SPEC: {kernels.SPEC_HELP}")
    try:
        for spec in args.specs:
            kernels.check_spec(spec)
        for spec in args.specs:
            kind = kernels.check_spec(spec)
            k = kernels.fetch_debian(spec.split(":", 1)[1]) if kind == "debian" else kernels.ensure(spec)
            missing = f"; lacks CONFIG_{', CONFIG_'.join(k.missing)}" if k.missing else ""
            print(f"{spec}: {k.release} ({k.source()}) in {k.dir}{missing}")
    except kernels.KernelError as exc:
        return report_error(str(exc))
    return 0
