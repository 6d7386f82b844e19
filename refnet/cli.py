"""The ``refnet`` command; ``python -m refnet`` runs it too.

Each subcommand lives with the library code it drives: the module named in
:data:`SUBCOMMANDS` provides ``configure_parser(parser)`` and
``run_command(args) -> int`` (the exit status).
"""
from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

#: name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "gradcheck": ("refnet.gallery",
                  "check every layer's derivatives against finite differences"),
    "bench": ("refnet.bench",
              "time DCTpS layers against the original's dense method, in the same run"),
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(
        prog="refnet", description="Reference neural networks with hand-derived, checkable "
                                   "derivatives, for studying DCT-plus-Sparse layers.")
    parser.add_argument("--version", action="version", version=f"refnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(module)
        mod.configure_parser(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv=None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    return int(args._module.run_command(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
