"""Write the committed copy of the guided tour of the DCTpS layer (README, "A guided tour").

    python analysis/tour.py        # analysis/tour/TOUR.md and its four PNG figures

The library does the work (refnet.cli.tour.write_tour at its defaults, the same as
``refnet tour --out analysis/tour``); this script only chooses the folder.
It prints every check and exits with status 1 if any failed.
"""
from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)   # this clone's refnet, whether or not it is installed

from refnet.cli.tour import write_tour  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tour")


def main() -> int:
    result = write_tour(OUT, log=print)
    print(f"{len(result.checks)} checks, {len(result.failures)} failed; wrote {result.path} "
          f"and {len(result.figures)} figures in {result.seconds:.1f} s", file=sys.stderr)
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
