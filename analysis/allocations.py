"""Print the per-layer nnz of every distribution as a markdown table (README, "Sparse supports").

    python analysis/allocations.py --density 1e-3

The library computes (refnet.sparsity.allocate); this script only chooses the
settings and formats.  The shapes are lenet5-cifar's prunable weights (the
original's LeNet for CIFAR-10, no biases); they belong to refnet.models, and
this list should be read from there once that module exists.
"""
from __future__ import annotations

import argparse

from refnet.sparsity import DISTRIBUTIONS, allocate

LENET5_CIFAR = [
    ("conv1", (6, 3, 5, 5)),
    ("conv2", (16, 6, 5, 5)),
    ("conv3", (120, 16, 5, 5)),
    ("fc1", (82, 120)),
    ("fc2", (10, 82)),
]


def allocation_table(layers, density: float, min_per_layer: int = 0) -> str:
    """A markdown table: one row per layer, one nnz column per distribution, then totals."""
    allocations = [allocate(layers, density, name, min_per_layer=min_per_layer)
                   for name in DISTRIBUTIONS]
    lines = ["| layer | shape | size | " + " | ".join(f"`{d}`" for d in DISTRIBUTIONS) + " |",
             "|---|---|---:|" + "---:|" * len(DISTRIBUTIONS)]
    for i, (name, shape) in enumerate(layers):
        size = allocations[0].layers[i].size
        cells = " | ".join(str(a.layers[i].nnz) for a in allocations)
        lines.append(f"| {name} | {'x'.join(map(str, shape))} | {size:,} | {cells} |")
    totals = " | ".join(f"**{a.total_nnz}**" for a in allocations)
    lines.append(f"| **total** | | **{allocations[0].total_size:,}** | {totals} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--density", type=float, default=1e-3,
                        help="global density in (0, 1] (default 1e-3)")
    parser.add_argument("--min-per-layer", type=int, default=0,
                        help="minimum nnz per layer (default 0, as in the original)")
    args = parser.parse_args(argv)
    print(allocation_table(LENET5_CIFAR, args.density, args.min_per_layer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
