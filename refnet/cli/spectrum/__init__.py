"""``refnet spectrum``: Jacobian spectra of DCTpS against plain sparse networks.

The work is :mod:`refnet.cli.spectrum.study`; this module parses, prints and writes files.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from refnet._files import check_output_dir, remove_stale
from refnet.cli import NATURAL, PATH, POSITIVE, UNIT, given, model_options, require, text_table
from refnet.cli.spectrum.figure import density_label, plot_study
from refnet.cli.spectrum.study import (DEFAULT_DENSITIES, DEFAULT_EXAMPLES, DEFAULT_SIZES,
                                       checkpoint_spectrum, spectrum_study, write_table)
from refnet.data import DATASETS
from refnet.models import MODELS
from refnet.offsets import OFFSETS
from refnet.sparsity import DISTRIBUTIONS

__all__ = ["configure_parser", "run_command", "FIGURE_NAME", "TABLE_NAME", "format_table",
           "write_files"]

#: File names written into ``--out``.
FIGURE_NAME = "spectrum.png"
TABLE_NAME = "spectrum.csv"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``refnet spectrum`` to ``parser``."""
    parser.add_argument("--model", default="mlp", choices=list(MODELS),
                        help="reference model (default mlp "
                             f"{'-'.join(map(str, DEFAULT_SIZES))}, ReLU)")
    parser.add_argument("--sizes", type=POSITIVE, nargs="+",
                        help="layer widths, input to output (mlp only; the input must match "
                             "the dataset's images: 784 for mnist5k, 64 for digits)")
    parser.add_argument("--activation", choices=["relu", "tanh"],
                        help="hidden activation (mlp only; default relu)")
    parser.add_argument("--in-shape", type=POSITIVE, nargs="+",
                        help="per-example input shape, e.g. 1 32 32 (default the model's)")
    parser.add_argument("--densities", type=UNIT, nargs="+", default=list(DEFAULT_DENSITIES),
                        help="global densities (default 0.01 0.005 0.001 0.0005 0.0002 0.0001)")
    parser.add_argument("--distribution", default="uniform", choices=list(DISTRIBUTIONS),
                        help="layer-wise allocation of each density (default uniform: every "
                             "layer at the same density)")
    parser.add_argument("--examples", type=POSITIVE, default=DEFAULT_EXAMPLES,
                        help=f"test images whose Jacobians are pooled (default "
                             f"{DEFAULT_EXAMPLES})")
    parser.add_argument("--dataset", default="mnist5k", choices=list(DATASETS),
                        help="where the inputs come from (default mnist5k)")
    parser.add_argument("--seed", type=NATURAL, default=0,
                        help="seeds the split, the supports and the parameters (default 0)")
    parser.add_argument("--offset", default="dct",
                        choices=[o for o in OFFSETS if o != "none"],
                        help="the fixed offset of the DCTpS networks (default dct; 'none' with "
                             "S = 0 would be the zero network: the sparse rows are the networks "
                             "without an offset)")
    parser.add_argument("--no-dense", action="store_true",
                        help="leave out the dense reference network")
    parser.add_argument("--checkpoint", action="append", metavar="PATH", type=PATH,
                        help="analyse this trained checkpoint instead of the density sweep "
                             "(repeatable; the model options are then read from the "
                             "checkpoint, and --model, --sizes, --densities, ... are ignored)")
    parser.add_argument("--chunk-size", type=POSITIVE,
                        help="identity rows per Jacobian call: outputs, or inputs when there "
                             "are fewer (default: about 128 rows over all examples per call)")
    parser.add_argument("--out", metavar="DIR",
                        help=f"write {FIGURE_NAME} and {TABLE_NAME} into this folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(rows) -> str:
    """The main columns of the rows as an aligned text table."""
    header = ("kind", "init", "density", "nnz", "frac_zero", "struct_rank", "rank_mean",
              "sv_max", "cond", "cond_median", "mean_sq_sv")
    lines = [header]
    for r in rows:
        kind = r["kind"] if r.get("offset") in (None, "dct") else f"{r['kind']} ({r['offset']})"
        lines.append((kind, r["init"], density_label(r["density"]), f"{r['nnz']:,}",
                      f"{r['frac_zero']:.4f}", _fmt(r["structural_rank"], "d"),
                      f"{r['rank_mean']:.2f}", _fmt(r["sv_max"], ".3g"), _fmt(r["cond"], ".3g"),
                      _fmt(r["cond_median"], ".3g"), _fmt(r["mean_sq_sv"], ".3g")))
    return text_table(lines)


def write_files(study, out) -> dict:
    """Write a study's figure and table into the folder ``out`` (created if needed); return
    ``{"figure": path, "table": path}``."""
    os.makedirs(out, exist_ok=True)
    files = {"figure": os.path.join(out, FIGURE_NAME), "table": os.path.join(out, TABLE_NAME)}
    plot_study(study, files["figure"])
    write_table(study.rows, files["table"])
    return files


def _check_options(args) -> None:
    """Refuse bad or pointless options before any work: ValueError naming the option."""
    if args.out is not None:
        check_output_dir("--out", args.out, (FIGURE_NAME, TABLE_NAME))
    require("--densities", args.densities, len(set(args.densities)) == len(args.densities),
            "distinct numbers in (0, 1]")
    require("--checkpoint", args.checkpoint, args.checkpoint is None
            or len(set(args.checkpoint)) == len(args.checkpoint), "distinct file paths")
    sweep = {"model", "sizes", "activation", "in_shape", "densities", "distribution", "offset",
             "no_dense"}
    extra = [o for name, o in given(args, configure_parser).items() if name in sweep]
    if args.checkpoint and extra:
        raise ValueError(f"{', '.join(extra)} does nothing with --checkpoint: the model comes "
                         "from the checkpoint")


def run_command(args) -> int:
    """Run the study, print a table (or JSON with ``--json``), write the files; exit status."""
    start = time.perf_counter()
    _check_options(args)
    if args.out is not None:
        remove_stale(args.out)      # what a killed run left
    if args.checkpoint:
        study = checkpoint_spectrum(args.checkpoint, examples=args.examples, seed=args.seed,
                                    dataset=args.dataset, chunk_size=args.chunk_size)
    else:
        study = spectrum_study(args.model, densities=args.densities,
                               distribution=args.distribution, examples=args.examples,
                               seed=args.seed, dataset=args.dataset,
                               dense_reference=not args.no_dense,
                               chunk_size=args.chunk_size, offset=args.offset,
                               **model_options(args))
    files = {} if args.out is None else write_files(study, args.out)
    if args.json:
        print(json.dumps({"network": study.network, "inputs": study.inputs, "rows": study.rows,
                          "files": files}, indent=1, allow_nan=False))
        return 0
    print(f"network: {study.network}")
    print(f"inputs:  {study.inputs}")
    print("frac_zero: share of the min(m, n) singular values per example that are zero "
          "(pooled); struct_rank: the largest rank the supports allow")
    print(format_table(study.rows))
    for what, path in files.items():
        print(f"wrote {what}: {path}")
    print(f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0
