"""``refnet tour``: write the guided tour of the DCTpS layer, every step checked.

    refnet tour                              # ./refnet-tour/TOUR.md and its figures
    refnet tour --out analysis/tour          # the copy the README links
    refnet tour --sizes 784 64 64 10 --examples 16   # a smaller network in section 5

Prints one line per check (PASS or FAIL) and a summary; the exit status is 1
when any check failed.  The work is :func:`refnet.cli.tour.write_tour`.
"""
from __future__ import annotations

import argparse
import sys

from refnet.cli.tour.build import TOUR_NAME, TourSettings, write_tour

__all__ = ["configure_parser", "run_command", "DEFAULT_OUT"]

#: Default output folder (relative to the working directory).
DEFAULT_OUT = "refnet-tour"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``refnet tour`` to ``parser``."""
    defaults = TourSettings()
    parser.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                        help=f"folder for {TOUR_NAME} and its PNG figures (default "
                             f"{DEFAULT_OUT})")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(defaults.sizes),
                        help="widths of section 5's ReLU MLP, input (784) first (default "
                             f"{' '.join(map(str, defaults.sizes))})")
    parser.add_argument("--density", type=float, default=defaults.density,
                        help=f"density of section 5's networks (default {defaults.density:g})")
    parser.add_argument("--examples", type=int, default=defaults.examples,
                        help=f"MNIST test images in section 5 (default {defaults.examples})")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help=f"seeds section 5's supports, parameters and images (default "
                             f"{defaults.seed})")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the failures and the summary")


def run_command(args) -> int:
    """Write the tour; print every check (or only failures with ``--quiet``); exit status."""
    settings = TourSettings(tuple(args.sizes), args.density, args.examples, args.seed).checked()

    def log(line: str) -> None:
        if not args.quiet or line.startswith("FAIL"):
            print(line, flush=True)

    result = write_tour(args.out, settings, log=log)
    failed = result.failures
    summary = (f"{len(result.checks)} checks, {len(failed)} failed" if failed
               else f"{len(result.checks)} checks, all passed")
    print(f"{summary}; wrote {result.path} and {len(result.figures)} figures "
          f"in {result.seconds:.1f} s")
    if failed:
        print("failed: " + "; ".join(f"{c.number} {c.name}" for c in failed), file=sys.stderr)
    return 0 if result.passed else 1
