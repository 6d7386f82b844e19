"""``refnet train``: train one reference model on one dataset, optionally checkpointed.

Example::

    refnet train --data mnist5k --model lenet300 --kind dctps --density 1e-3 \\
        --distribution epl --optimizer adam --lr 1e-2 --epochs 10 --seed 0 --json

A checkpoint (``--save``) holds the model specification and supports, the
parameters, the optimizer state, the step and the data split, so
``refnet train --resume FILE --epochs N`` continues the same run exactly to N
epochs in total.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

from refnet.core.tree import tree_size
from refnet.data import prepare
from refnet.models import MODELS, KINDS, density_of, rebuild, support_arrays, supports_of
from refnet.ops.offsets import OFFSETS
from refnet.cli.study.recipes import run_method
from refnet.sparsity import DISTRIBUTIONS, force, iterative_snip, snip, synflow
from refnet.cli.study.methods import Context, build_initial, pruned
from refnet.train import (TrainConfig, TrainingDiverged, TrainState, config_dict, evaluate,
                    load_checkpoint, save_checkpoint, train)

__all__ = ["configure_parser", "run_command", "METHODS"]

#: ``--method``: how the trainable support is chosen before training.
METHODS = {
    "static": None,                       # the kind's own support (random, or dense)
    "snip": pruned(snip),
    "iterative-snip": pruned(iterative_snip, steps=10, num_batches=4),
    "force": pruned(force, steps=10, num_batches=4),
    "synflow": pruned(synflow, iterations=100),
}
#: ``--method`` values trained by :func:`refnet.sparsity.run_method` (their own loops):
#: RigL moves the support while training (``--kind sparse``: "RigL"; ``--kind dctps``: the S of
#: DCTpS), IMP trains dense then prunes (``--kind sparse``), the random subspace trains
#: ``theta`` of ``w = d + U theta`` with as many numbers as the sparse network (``--kind dense``).
TRAINED_BY = {("rigl", "sparse"): "rigl", ("rigl", "dctps"): "dctps-rigl",
              ("imp", "sparse"): "imp", ("subspace", "dense"): "subspace"}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``refnet train`` to ``parser``."""
    parser.add_argument("--data", default="mnist5k", help="digits, mnist5k or fashion-mnist")
    parser.add_argument("--model", default="lenet300", choices=sorted(MODELS))
    parser.add_argument("--sizes", help="mlp widths, comma-separated, e.g. 784,100,10")
    parser.add_argument("--kind", default="dense", choices=KINDS)
    parser.add_argument("--density", type=float, default=None,
                        help="global density of trainable weights (sparse, dctps)")
    parser.add_argument("--distribution", default="uniform", choices=DISTRIBUTIONS)
    parser.add_argument("--sparse-init", choices=("kaiming-dense", "kaiming-sparse", "zeros"))
    parser.add_argument("--freeze-alpha", action="store_true", help="DCTpS: alpha fixed at 1")
    parser.add_argument("--offset", default="dct", choices=OFFSETS,
                        help="DCTpS: the fixed offset in place of the DCT (default dct); a random "
                             "one is seeded from --seed and recorded in the checkpoint")
    parser.add_argument("--method", default="static",
                        choices=sorted(METHODS) + ["rigl", "imp", "subspace"],
                        help="support: the kind's own (static), pruned at init (kind sparse), "
                             "rigl (kind sparse or dctps), imp (kind sparse), or a random "
                             "subspace matched to --density (kind dense)")
    parser.add_argument("--rigl-interval", type=int, default=100,
                        help="RigL: steps between support updates (delta_T)")
    parser.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--schedule", default="constant", choices=("constant", "step", "cosine"))
    parser.add_argument("--epochs", type=int, default=10,
                        help="epochs of the whole run (default 10); with --resume, train on "
                             "until this total")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--val-size", type=int, default=0,
                        help="validation examples carved from the training part")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of supports, initial values and batch order")
    parser.add_argument("--save", metavar="FILE",
                        help="write a checkpoint after every epoch (--method rigl or imp: the "
                             "final network only, which cannot be resumed)")
    parser.add_argument("--resume", metavar="FILE",
                        help="continue a run saved with --save: its model, data and settings "
                             "come from the file (--epochs, --save, --json, --quiet apply)")
    parser.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress line per epoch")


def _model_args(args) -> dict:
    if args.sizes:
        return {"sizes": tuple(int(v) for v in args.sizes.split(","))}
    return {}


def _fresh(args, split):
    """The network and initial parameters the arguments describe."""
    if args.kind == "dense" and args.density not in (None, 1.0):
        raise ValueError(f"--density {args.density} needs --kind sparse or dctps")
    if args.kind != "dense" and args.density is None:
        raise ValueError(f"--kind {args.kind} needs --density")
    seeds = np.random.SeedSequence(args.seed).spawn(2)
    # "is None", not "or": --density 0 must reach build_model's check, not become 1.0
    density = 1.0 if args.density is None else args.density
    ctx = Context(args.model, _model_args(args), density,
                  np.random.default_rng(seeds[0]), np.random.default_rng(seeds[1]),
                  split.x_train, split.y_train)
    if args.method != "static":
        if args.kind != "sparse":
            raise ValueError(f"--method {args.method} prunes a dense initialisation to a sparse "
                             f"network: use it with --kind sparse, not {args.kind!r}")
        return METHODS[args.method](ctx)
    extra = {}
    if args.sparse_init is not None:
        extra["sparse_init"] = args.sparse_init
    if args.freeze_alpha:
        extra["train_alpha"] = False
    if args.offset != "dct":
        if args.kind != "dctps":
            raise ValueError(f"--offset {args.offset} needs --kind dctps")
        extra["offset"] = args.offset
    return build_initial(ctx, args.kind, args.distribution, **extra)


def _run_method(args, split, config):
    """``--method rigl|imp|subspace``: train through :func:`refnet.sparsity.run_method`."""
    key = TRAINED_BY.get((args.method, args.kind))
    if key is None:
        kinds = [kind for method, kind in TRAINED_BY if method == args.method]
        raise ValueError(f"--method {args.method} takes --kind {' or '.join(kinds)}, "
                         f"not {args.kind!r}")
    if args.density is None or not 0 < args.density < 1:
        raise ValueError(f"--method {args.method} needs --density in (0, 1), got {args.density}")
    if args.resume or (args.save and key == "subspace"):
        raise ValueError(f"--method {args.method} does not support "
                         f"{'--resume' if args.resume else '--save'}; it checkpoints only its "
                         "final network (--save), and the subspace not at all")
    options = {}
    if key in ("rigl", "dctps-rigl"):
        options = {"delta_t": args.rigl_interval, "distribution": args.distribution,
                   "debug": True}        # debug: exact nnz per layer asserted at every step
    run = run_method(key, args.model, args.density, args.seed, (split.x_train, split.y_train),
                     config, model_args=_model_args(args), options=options, quiet=args.quiet)
    return run.net, run.params, run.history


def run_command(args) -> int:
    """Train (or resume) the run ``args`` describes; print its final metrics; exit status."""
    start = time.perf_counter()
    resume = None
    if args.resume:
        checkpoint = load_checkpoint(args.resume)
        meta = checkpoint.meta
        missing = [key for key in ("model", "data", "train_config") if key not in meta]
        if missing:
            raise ValueError(f"{args.resume} has no {', '.join(missing)} in its metadata: "
                             "only a checkpoint written by refnet train --save can be resumed")
        if not meta.get("resumable", True):
            raise ValueError(f"{args.resume} holds only the final network of a --method "
                             "rigl or imp run (no optimizer state); it cannot be resumed")
        supports = checkpoint.arrays.get("supports") or None
        net = rebuild(meta["model"], supports)
        data = meta["data"]
        split = prepare(data["name"], seed=data["split_seed"], val_size=data["val_size"],
                        flatten=data["flatten"])
        saved = dict(meta["train_config"], epochs=args.epochs)
        config = TrainConfig(**saved)
        resume, params = checkpoint.state, None
        data_meta = data
    else:
        flatten = args.model in ("mlp", "lenet300")
        split = prepare(args.data, seed=args.split_seed, val_size=args.val_size,
                        flatten=flatten)
        config = TrainConfig(optimizer=args.optimizer, lr=args.lr, momentum=args.momentum,
                             weight_decay=args.weight_decay, epochs=args.epochs,
                             batch_size=args.batch_size, schedule=args.schedule, seed=args.seed)
        if args.method not in ("rigl", "imp", "subspace"):
            net, params = _fresh(args, split)
        data_meta = {"name": args.data, "split_seed": args.split_seed,
                     "val_size": args.val_size, "flatten": flatten}

    def save(current_net, state, resumable=True):
        arrays = {}
        if current_net.spec["kind"] != "dense":
            arrays["supports"] = support_arrays(supports_of(current_net))
        save_checkpoint(args.save, state, meta={"model": current_net.spec, "data": data_meta,
                                                "train_config": config_dict(config),
                                                "resumable": resumable},
                        arrays=arrays)

    try:
        if args.method in ("rigl", "imp", "subspace"):
            net, params, history = _run_method(args, split, config)
            epochs, steps = history[-1]["epoch"], history[-1]["step"]
            if args.save:
                # the final network only (no optimizer state): for refnet spectrum
                # --checkpoint and evaluation, not for --resume
                save(net, TrainState(params, {}, steps, epochs, {}), resumable=False)
        else:
            result = train(net, params, (split.x_train, split.y_train), config, resume=resume,
                           quiet=args.quiet, checkpoint=save if args.save else None)
            net, params, history = result.net, result.state.params, result.history
            # from the state: a resumed run already at --epochs trains no epoch here
            epochs, steps = result.state.epoch, result.state.step
    except TrainingDiverged as err:
        print(f"refnet train: {err}", file=sys.stderr)
        return 1
    metrics = {"epochs": epochs, "steps": steps,
               "train_loss": history[-1]["train_loss"] if history else math.nan}
    parts = {"train": (split.x_train, split.y_train), "test": (split.x_test, split.y_test)}
    if len(split.y_val):
        parts["val"] = (split.x_val, split.y_val)
    for name, (x, y) in parts.items():
        for key, value in evaluate(net, params, x, y).items():
            metrics[f"{name}_{key}"] = value
    try:
        metrics["density"] = density_of(net)
    except ValueError:
        metrics["density"] = 0.0
    metrics["trainable"] = tree_size(params)
    metrics["seconds"] = time.perf_counter() - start
    if args.json:
        print(json.dumps(metrics, indent=1))
    else:
        for key, value in metrics.items():
            print(f"{key:16s} {value:.6g}" if isinstance(value, float) else f"{key:16s} {value}")
    return 0
