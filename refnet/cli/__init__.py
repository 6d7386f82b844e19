"""The ``refnet`` command (``python -m refnet`` too): one module per subcommand, each with
``configure_parser(parser)`` and ``run_command(args) -> exit status``."""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

__all__ = ["main", "build_parser", "SUBCOMMANDS", "require", "checked", "NATURAL", "POSITIVE",
           "UNIT", "PATH", "given", "model_options", "text_table", "Stopped"]

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


class _Parser(argparse.ArgumentParser):
    """argparse, with a refusal as one line (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def require(option: str, value, ok: bool, expected: str) -> None:
    """ValueError ``"OPTION must be EXPECTED, got VALUE"`` unless ``ok``: the checks a
    subcommand makes on its options before any work starts."""
    if not ok:
        raise ValueError(f"{option} must be {expected}, got {value!r}")


def checked(convert, ok, expected: str):
    """An argparse ``type``: ``convert(text)``, refused unless ``ok(value)``, so that a bad
    value is one line naming the option before any work."""
    def parse(text):
        try:
            value = convert(text)
        except (ValueError, argparse.ArgumentTypeError):
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    return parse


NATURAL = checked(int, lambda v: v >= 0, "an integer >= 0")
POSITIVE = checked(int, lambda v: v >= 1, "an integer >= 1")
UNIT = checked(float, lambda v: 0 < v <= 1, "a number in (0, 1]")
PATH = checked(str, bool, "a file path, not an empty string")


def given(args, configure_parser) -> dict[str, str]:
    """``{dest: "--option"}`` for the options ``args`` sets to other than their defaults."""
    defaults = argparse.ArgumentParser()
    configure_parser(defaults)
    return {name: f"--{name.replace('_', '-')}" for name, default
            in vars(defaults.parse_args([])).items() if getattr(args, name) != default}


def model_options(args) -> dict:
    """The model options given (``--sizes``, ``--in-shape``, ``--classes``, ``--activation``),
    as :func:`refnet.models.build_model` takes them."""
    return {name: tuple(value) if name == "in_shape" else value
            for name in ("sizes", "in_shape", "classes", "activation")
            if (value := getattr(args, name, None)) is not None}


def text_table(rows, left: int = 2) -> str:
    """Rows of strings as columns two spaces apart, the first ``left`` aligned left and the
    others right; a row ``None`` is a rule of dashes."""
    widths = [max(len(row[c]) for row in rows if row) for c in range(len(rows[0]))]
    return "\n".join("  ".join("-" * w if row is None else row[c].ljust(w) if c < left
                                else row[c].rjust(w) for c, w in enumerate(widths)).rstrip()
                     for row in rows)


class Stopped(BaseException):
    """SIGINT or SIGTERM (its number the first argument) arrived: a BaseException, so that
    only :func:`main` (or a command's own cleanup) catches it and every ``finally`` on the way
    (temporary files) runs."""


def _stop(signum, frame):
    for sig in (signal.SIGINT, signal.SIGTERM):     # a second signal must not cut the cleanup
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


def build_parser() -> argparse.ArgumentParser:
    """The ``refnet`` parser, one subparser per entry of :data:`SUBCOMMANDS`."""
    from refnet import __version__
    parser = _Parser(
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

    Every failure is one line on stderr, ``refnet CMD: error: ...``, never a traceback: bad
    input (``ValueError``, ``TypeError``, a missing file) exits with status 2; any other
    ``OSError`` (a full disk, a folder made read-only meanwhile) or a ``MemoryError`` (sizes
    too large for this machine) with 1; SIGINT (Ctrl-C) or SIGTERM with 128 + the signal's
    number, after the temporary files are removed.  ``REFNET_DEBUG=1`` raises instead.
    """
    args = build_parser().parse_args(argv)
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return int(args._module.run_command(args) or 0)
    except (ValueError, TypeError, OSError, MemoryError, KeyboardInterrupt, Stopped) as err:
        if os.environ.get("REFNET_DEBUG"):
            raise
        if isinstance(err, (KeyboardInterrupt, Stopped)):
            signum = err.args[0] if isinstance(err, Stopped) else signal.SIGINT
            status, err = 128 + signum, f"stopped by {signal.Signals(signum).name}"
        else:
            status = 2 if isinstance(err, (ValueError, TypeError, FileNotFoundError)) else 1
        print(f"refnet {args.command}: error: {str(err) or type(err).__name__}",
              file=sys.stderr)
        return status
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


if __name__ == "__main__":
    sys.exit(main())
