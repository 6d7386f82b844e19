"""Print the per-layer nnz of every distribution as a markdown table (README, "Sparse supports").

    python analysis/allocations.py --density 1e-3

The library computes (refnet.sparsity.allocate); this script only chooses the
settings and formats.  The shapes are a reference model's prunable weights,
read from refnet.models (default lenet5-cifar: the original's LeNet for
CIFAR-10, no biases, 61,510 weights).
"""
from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # this clone's refnet, whether or not it is installed

from refnet.models import MODELS, build_model, prunable_weights  # noqa: E402
from refnet.sparsity import DISTRIBUTIONS, allocate  # noqa: E402


def model_layers(name: str = "lenet5-cifar") -> list:
    """``[(name, shape)]`` of a reference model's prunable weights (dense build)."""
    return prunable_weights(build_model(name))


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
    parser.add_argument("--model", default="lenet5-cifar",
                        choices=[m for m in MODELS if m != "mlp"],
                        help="reference model (default lenet5-cifar)")
    parser.add_argument("--min-per-layer", type=int, default=0,
                        help="minimum nnz per layer (default 0, as in the original)")
    args = parser.parse_args(argv)
    print(allocation_table(model_layers(args.model), args.density, args.min_per_layer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
