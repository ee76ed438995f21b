"""The ``kernels`` subcommand of ``mroute-conformance``: kernels for ``--target linux-vm``.

kernels fetch SPEC...   download (debian:X.Y: apt-get download + dpkg-deb, no root) or prepare
                        (host, PATH) each kernel into the cache; one line per kernel
kernels list            the cache: spec, release, source, image size, path
kernels run SPEC... [--report-dir DIR] [-n N]
                        the suite on each kernel (DIR/<kernel>/results.json, report.html), then
                        DIR/matrix.html and DIR/matrix.json: clause x kernel, differences first
A bad spec or a kernel that cannot be had is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from conformance.errors import report_error
from conformance.targets.vm import kernels


def _visible(parser: argparse.ArgumentParser) -> str:
    return ", ".join(o for a in parser._actions if a.help != argparse.SUPPRESS for o in a.option_strings)


def add_kernels(commands: argparse._SubParsersAction) -> None:
    """Register ``kernels fetch SPEC...``, ``kernels list`` and ``kernels run SPEC...``."""
    parser = commands.add_parser("kernels", allow_abbrev=False, help="fetch, list and test kernels (--target linux-vm)")
    parser.add_argument("action", choices=("fetch", "list", "run"),
                        help="fetch: download/prepare SPECs; list: show the cache; run: the suite per kernel + matrix")
    parser.add_argument("specs", nargs="*", metavar="SPEC", help=kernels.SPEC_HELP)
    parser.add_argument("--report-dir", default="out", metavar="DIR", help="run: where each kernel's reports and matrix.html go")
    parser.add_argument("-n", dest="workers", metavar="N",
                        help="run: VMs at once; with several kernels, up to N kernels run side by side")
    parser.set_defaults(func=cmd_kernels, valid_options=_visible(parser))


def _fetch(specs: list[str]) -> list[kernels.Kernel]:
    for spec in specs:
        kernels.check_spec(spec)
    return [kernels.fetch_debian(spec.split(":", 1)[1]) if kernels.check_spec(spec) == "debian" else kernels.ensure(spec)
            for spec in specs]


def cmd_kernels(args: argparse.Namespace, extra: list[str]) -> int:
    """fetch: 0, or 2 with one line at the first kernel that fails; list: 0; run: 0 when every run passed."""
    if args.action == "list":
        if args.specs:
            return report_error("kernels list takes no SPEC")
        print(f"cache: {kernels.cache_dir()}")
        for k in kernels.list_cached():
            size = k.image.stat().st_size if k.image.is_file() else 0
            print(f"{k.spec:14} {k.release:28} {k.source():60} {size / 2**20:6.1f} MiB  {k.dir}")
        return 0
    if not args.specs:
        return report_error(f"kernels {args.action} needs at least one SPEC: {kernels.SPEC_HELP}")
    if args.workers is not None and not (args.workers.isdigit() or args.workers in ("auto", "logical")):
        return report_error(f"invalid worker count {args.workers!r}; valid: a number (0 or more), auto, logical")
    try:
        fetched = _fetch(args.specs)
    except kernels.KernelError as exc:
        return report_error(str(exc))
    if args.action == "fetch":
        for spec, k in zip(args.specs, fetched, strict=True):
            missing = f"; lacks CONFIG_{', CONFIG_'.join(k.missing)}" if k.missing else ""
            print(f"{spec}: {k.release} ({k.source()}) in {k.dir}{missing}")
        return 0
    return _run_matrix(args, extra)


def _run_matrix(args: argparse.Namespace, extra: list[str]) -> int:
    from conformance.targets.vm import matrix

    return matrix.run_matrix(list(dict.fromkeys(args.specs)), Path(args.report_dir), args.workers, extra)
