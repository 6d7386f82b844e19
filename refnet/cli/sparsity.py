"""``refnet sparsity``: the exact per-layer nnz of a model at a global density, as a table
or (``--json``) ``{"total_size", "total_nnz", "layers": [{"name", "shape", "size", "nnz",
"density"}, ...]}``: :func:`refnet.sparsity.allocate` over the model's prunable weights.

    refnet sparsity --model lenet5-cifar --density 1e-4 --distribution erk --json
"""
from __future__ import annotations

import argparse
import json

from refnet.cli import NATURAL, POSITIVE, model_options, text_table
from refnet.models import MODELS, blueprint_of
from refnet.supports import DISTRIBUTIONS, allocate

__all__ = ["configure_parser", "run_command"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``refnet sparsity`` to ``parser``."""
    parser.add_argument("--model", required=True, choices=list(MODELS),
                        help="reference model whose prunable weights are allocated")
    parser.add_argument("--density", type=float, required=True,
                        help="global density in (0, 1]: trainable fraction of the weights")
    parser.add_argument("--distribution", default="uniform", choices=list(DISTRIBUTIONS),
                        help="layer-wise allocation (default uniform)")
    parser.add_argument("--min-per-layer", type=NATURAL, default=0,
                        help="at least this many nnz in every layer (default 0, as the "
                             "original)")
    parser.add_argument("--sizes", type=POSITIVE, nargs="+",
                        help="layer widths, input to output (mlp only)")
    parser.add_argument("--in-shape", type=POSITIVE, nargs="+",
                        help="per-example input shape, e.g. 1 28 28 (default the model's)")
    parser.add_argument("--classes", type=POSITIVE, help="number of classes (default the model's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_command(args) -> int:
    """Print the allocation as a table (or JSON with ``--json``); exit status."""
    blueprint = blueprint_of(args.model, **model_options(args))
    allocation = allocate([(name, slot.shape) for name, slot in blueprint.slots()],
                          args.density, args.distribution, min_per_layer=args.min_per_layer)
    report = {"total_size": allocation.total_size, "total_nnz": allocation.total_nnz,
              "layers": [layer.to_dict() for layer in allocation.layers]}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    rows = [("layer", "shape", "size", "nnz", "density")]
    rows += [(layer["name"], "x".join(map(str, layer["shape"])), f"{layer['size']:,}",
              f"{layer['nnz']:,}", f"{layer['density']:.3g}") for layer in report["layers"]]
    rows += [None, ("total", "", f"{report['total_size']:,}", f"{report['total_nnz']:,}",
                    f"{report['total_nnz'] / report['total_size']:.3g}")]
    print(f"{args.model}, {args.distribution} at density {args.density:g}"
          + (f", at least {args.min_per_layer} per layer" if args.min_per_layer else ""))
    print(text_table(rows))
    return 0
