"""Owns the ``accss3d`` command line: subcommand registry, error reporting, JSON output.

Every subcommand lives in its own module of this package and exposes ``register(sub)``,
which adds an ``argparse`` parser whose ``func`` default runs it.  User errors
(:class:`accss3d.errors.AccssError`, missing files) are printed as one line,
``accss3d: error: ...``, with exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..errors import AccssError

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

#: Subcommand modules, in the order ``accss3d --help`` lists them (explicit, no import magic).
SUBCOMMANDS = (
    "demo",
    "scene",
    "voxelize",
    "rulebook",
    "golden",
    "network",
    "optimize",
    "reorder",
    "isadoc",
    "assemble",
    "disasm",
    "generate",
    "simulate",
    "compile",
    "run",
    "cycles",
    "area",
    "export_orfs",
    "fpga",
    "report",
    "sweep",
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (``prog: error: message``)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every registered subcommand."""
    from .. import __version__

    parser = _Parser(
        prog="accss3d",
        description="AccSS3D: sparse 3D convolution, from point clouds to the SSpNNA core.",
    )
    parser.add_argument("--version", action="version", version=f"accss3d {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (already printed)
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        status = args.func(args)
    except AccssError as exc:
        print(f"accss3d: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"accss3d: error: no such file: {exc.filename}", file=sys.stderr)
        return 2
    except (IsADirectoryError, PermissionError) as exc:
        print(f"accss3d: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("accss3d: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)
