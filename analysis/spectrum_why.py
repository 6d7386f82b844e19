"""Write why the spectra look as they do: ReLU activity, the orthogonal-ReLU law, structural rank.

    python analysis/spectrum_why.py --readme

The library does the work (refnet.cli.spectrum.why); this script writes into analysis/out/
spectrum_relu.md (the active fraction of every ReLU per offset, on the spectrum figure's
784-256x6-10 MLP and on the study's LeNet-300-100 with EPL supports), spectrum_hidden.md (mean
sigma^2 measured against 2^-L and against the free-probability mean, the product of the active
fractions), spectrum_structural.md (the structural rank of the supports the study's methods draw,
seeds 0-4) and spectrum_theory.png, and with --readme puts the three tables into
analysis/README.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)   # this clone's refnet, whether or not it is installed
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from readme_blocks import update_readme  # noqa: E402
from refnet._files import atomic_output  # noqa: E402
from refnet.cli.spectrum.why import (hidden_table, plot_theory, relu_rows,  # noqa: E402
                                     relu_table, structural_rows, structural_table)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
#: README block -> the file that holds its table
BLOCKS = {"spectrum-relu": "spectrum_relu.md", "spectrum-hidden": "spectrum_hidden.md",
          "spectrum-structural": "spectrum_structural.md"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true",
                        help="put the tables into their blocks of analysis/README.md")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = relu_rows()
    tables = {"spectrum-relu": relu_table(rows), "spectrum-hidden": hidden_table(rows),
              "spectrum-structural": structural_table(structural_rows())}
    os.makedirs(OUT, exist_ok=True)
    for marker, name in BLOCKS.items():
        with atomic_output(os.path.join(OUT, name), "w") as handle:
            handle.write(tables[marker] + "\n")
        print(tables[marker] + "\n")
    plot_theory(rows, os.path.join(OUT, "spectrum_theory.png"))
    if args.readme:
        update_readme(tables)
    print(f"{time.perf_counter() - start:.1f} s, files in {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
