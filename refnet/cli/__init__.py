"""The ``refnet`` command (``python -m refnet`` too): one module per subcommand, each with
``configure_parser(parser)`` and ``run_command(args) -> exit status``."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

#: name -> (module, one-line help in plain text: a "%" is a percent sign)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "gradcheck": ("refnet.cli.gradcheck",
                  "check every layer's derivatives against finite differences"),
    "sparsity": ("refnet.cli.sparsity",
                 "per-layer nnz of a reference model at a global density and distribution"),
    "train": ("refnet.cli.train",
              "train one reference model on one dataset (checkpoints with --save/--resume)"),
    "study": ("refnet.cli.study.command",
              "the headline study: accuracy lost at 1%, 0.1%, 0.01% density, per method"),
    "spectrum": ("refnet.cli.spectrum",
                 "Jacobian spectra of DCTpS against plain sparse networks at each density"),
    "bench": ("refnet.cli.bench",
              "time DCTpS layers against the original's dense method, in the same run"),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``refnet`` parser, one subparser per entry of :data:`SUBCOMMANDS`."""
    from refnet import __version__
    parser = argparse.ArgumentParser(
        prog="refnet", description="Reference neural networks with hand-derived, checkable "
                                   "derivatives, for studying DCT-plus-Sparse layers.")
    parser.add_argument("--version", action="version", version=f"refnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        # argparse %-formats a help string (for %(default)s) but not a description
        p = sub.add_parser(name, help=help_text.replace("%", "%%"), description=help_text)
        mod = importlib.import_module(module)
        mod.configure_parser(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv=None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Bad input (``ValueError``, ``TypeError``, a missing file) is one line on stderr and exit
    status 2; ``REFNET_DEBUG=1`` raises it instead.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args._module.run_command(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as err:
        if os.environ.get("REFNET_DEBUG"):
            raise
        print(f"refnet {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
