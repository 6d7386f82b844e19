"""Write the README's Jacobian-spectrum figure and table ("When is training possible?").

    python analysis/spectrum_figure.py       # analysis/out/spectrum.png and spectrum.csv

The library does the work (refnet.cli.spectrum.study.spectrum_study at the defaults of
``refnet spectrum``: a 784-256x6-10 ReLU MLP built as DCTpS with S = 0 and as
plain sparse with both Kaiming inits at 1%, 0.5%, 0.1%, 0.05%, 0.02% and 0.01%,
uniform per layer, plus the dense network; 64 mnist5k test images; seed 0), so
``refnet spectrum --out analysis/out`` writes the same files.  This script then
prints the README's markdown table, in which consecutive rows of one network
variant whose statistics are all equal share a line.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)   # this clone's refnet, whether or not it is installed

from refnet.cli.spectrum.study import spectrum_study  # noqa: E402
from refnet.cli.spectrum import write_files  # noqa: E402
from refnet.cli.spectrum.figure import density_label  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

_NAMES = {("dense", "kaiming-normal"): "dense, Kaiming", ("dctps", "zeros"): "DCTpS, S = 0",
          ("sparse", "kaiming-dense"): "sparse, kaiming-dense",
          ("sparse", "kaiming-sparse"): "sparse, kaiming-sparse"}
# what may differ between rows that share a line: the density and what it sets
_PER_DENSITY = ("density", "nnz")


def _g(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def markdown_table(rows) -> str:
    """The README's table: one line per run of equal statistics of one variant."""
    groups = []
    for row in rows:
        same = {k: v for k, v in row.items() if k not in _PER_DENSITY}
        if groups and groups[-1][0] == same:
            groups[-1][1].append(row)
        else:
            groups.append((same, [row]))
    lines = ["| network | density | trainable weights | frac_zero | structural bound | "
             "rank (mean) | sv_max | cond (worst) | cond (median) | mean sigma^2 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for same, group in groups:
        densities = ", ".join(density_label(r["density"]) for r in group)
        nnz = ", ".join(f"{r['nnz']:,}" for r in group)
        bound = same["structural_frac_zero"]
        lines.append(f"| {_NAMES.get((same['kind'], same['init']), same['kind'])} | "
                     f"{densities} | {nnz} | {_g(same['frac_zero'])} | >= {_g(bound)} | "
                     f"{same['rank_mean']:.3g} | {_g(same['sv_max'])} | {_g(same['cond'])} | "
                     f"{_g(same['cond_median'])} | {_g(same['mean_sq_sv'])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=OUT, help="folder for the files (default analysis/out)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    study = spectrum_study()
    write_files(study, args.out)
    print(f"{study.network}; {study.inputs}")
    print(markdown_table(study.rows))
    print(f"{time.perf_counter() - start:.1f} s, files in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
