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

from .core.tree import tree_size
from .data import prepare
from .models import MODELS, KINDS, density_of, rebuild, support_arrays, supports_of
from .ops.offsets import OFFSETS
from .sparsity import DISTRIBUTIONS, force, iterative_snip, snip, synflow
from .study.methods import Context, build_initial, pruned
from .train import (TrainConfig, TrainingDiverged, config_dict, evaluate, load_checkpoint,
                    save_checkpoint, train)

__all__ = ["configure_parser", "run_command", "METHODS"]

#: ``--method``: how the trainable support is chosen before training.
METHODS = {
    "static": None,                       # the kind's own support (random, or dense)
    "snip": pruned(snip),
    "iterative-snip": pruned(iterative_snip, steps=10, num_batches=4),
    "force": pruned(force, steps=10, num_batches=4),
    "synflow": pruned(synflow, iterations=100),
}


def configure_parser(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--method", default="static", choices=sorted(METHODS),
                        help="support: the kind's own (static) or pruned at init (kind sparse)")
    parser.add_argument("--optimizer", default="adam", choices=("adam", "sgd"))
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--schedule", default="constant", choices=("constant", "step", "cosine"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--val-size", type=int, default=0,
                        help="validation examples carved from the training part")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of supports, initial values and batch order")
    parser.add_argument("--save", metavar="FILE", help="write a checkpoint after every epoch")
    parser.add_argument("--resume", metavar="FILE", help="continue a checkpointed run")
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
    ctx = Context(args.model, _model_args(args), args.density or 1.0,
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


def run_command(args) -> int:
    start = time.perf_counter()
    resume = None
    if args.resume:
        checkpoint = load_checkpoint(args.resume)
        meta = checkpoint.meta
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
        net, params = _fresh(args, split)
        data_meta = {"name": args.data, "split_seed": args.split_seed,
                     "val_size": args.val_size, "flatten": flatten}

    def save(current_net, state):
        arrays = {}
        if current_net.spec["kind"] != "dense":
            arrays["supports"] = support_arrays(supports_of(current_net))
        save_checkpoint(args.save, state, meta={"model": current_net.spec, "data": data_meta,
                                                "train_config": config_dict(config)},
                        arrays=arrays)

    try:
        result = train(net, params, (split.x_train, split.y_train), config, resume=resume,
                       quiet=args.quiet, checkpoint=save if args.save else None)
    except TrainingDiverged as err:
        print(f"refnet train: {err}", file=sys.stderr)
        return 1
    net, params = result.net, result.state.params
    metrics = {"epochs": result.state.epoch, "steps": result.state.step,
               "train_loss": result.history[-1]["train_loss"] if result.history else math.nan}
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
