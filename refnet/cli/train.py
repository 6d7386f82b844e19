"""``refnet train``: train one reference model on one dataset, optionally checkpointed.

A checkpoint (``--save``) holds the model's specification and supports, the parameters, the
optimizer state, the step and the data split, so ``refnet train --resume FILE --epochs N``
continues the same run exactly to N epochs in total.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

from refnet._files import check_output_file, remove_stale
from refnet.cli import NATURAL, PATH, POSITIVE, UNIT, checked, given, model_options
from refnet.core.tree import tree_size
from refnet.data import prepare
from refnet.models import MODELS, KINDS, blueprint_of, support_arrays, supports_of
from refnet.offsets import OFFSETS
from refnet.cli.study.recipes import run_method
from refnet.sparsity import DISTRIBUTIONS, iterative_snip
from refnet.cli.study.methods import METHODS as STUDY_METHODS, Context, build_initial, pruned
from refnet.cli.study.runner import flat_input, weight_density
from refnet.train import (TrainConfig, TrainingDiverged, TrainState, checkpoint_network,
                          config_dict, evaluate, load_checkpoint, save_checkpoint, train)

__all__ = ["configure_parser", "run_command", "METHODS"]

#: ``--method``: how the trainable support is chosen before training ("static": the kind's
#: own); the pruning at initialisation as the study prunes.
METHODS = {"static": None, "iterative-snip": pruned(iterative_snip, steps=10, num_batches=4),
           **{key: STUDY_METHODS[key].prepare for key in ("snip", "force", "synflow")}}
#: the entries of a checkpoint's ``meta["data"]``: what :func:`refnet.data.prepare` takes
DATA_KEYS = ("name", "split_seed", "val_size", "flatten")
#: ``(--method, --kind)`` trained by :func:`refnet.cli.study.recipes.run_method` in its own loop.
TRAINED_BY = {("rigl", "sparse"): "rigl", ("rigl", "dctps"): "dctps-rigl",
              ("imp", "sparse"): "imp", ("subspace", "dense"): "subspace"}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``refnet train`` to ``parser``."""
    add = parser.add_argument
    add("--data", default="mnist5k", help="digits, mnist5k or fashion-mnist")
    add("--model", default="lenet300", choices=sorted(MODELS))
    add("--sizes", type=checked(lambda t: tuple(map(int, t.split(","))), lambda s: min(s) >= 1,
                                "comma-separated positive integers, e.g. 784,100,10"),
        help="mlp widths, comma-separated, e.g. 784,100,10")
    add("--kind", default="dense", choices=KINDS)
    add("--density", type=UNIT, default=None,
        help="global density of trainable weights (sparse, dctps)")
    add("--distribution", choices=DISTRIBUTIONS,
        help="layer-wise allocation of --density (default uniform)")
    add("--sparse-init", choices=("kaiming-dense", "kaiming-sparse", "zeros"))
    add("--freeze-alpha", action="store_true", help="DCTpS: alpha fixed at 1")
    add("--offset", default="dct", choices=OFFSETS,
        help="DCTpS: the fixed offset in place of the DCT (default dct); a random one is "
             "seeded from --seed and recorded in the checkpoint")
    add("--method", default="static", choices=sorted(METHODS) + ["rigl", "imp", "subspace"],
        help="support: the kind's own (static), pruned at init (kind sparse), rigl (kind "
             "sparse or dctps), imp (kind sparse), or a random subspace matched to --density "
             "(kind dense)")
    add("--rigl-interval", type=POSITIVE,
        help="RigL: steps between support updates (delta_T, default 100)")
    add("--optimizer", default="adam", choices=("adam", "sgd"))
    add("--lr", type=checked(float, lambda v: 0 < v < math.inf, "a finite number > 0"),
        default=1e-3)
    add("--momentum", type=checked(float, lambda v: 0 <= v <= 1, "a number in [0, 1]"),
        help="SGD momentum (default 0.9)")
    add("--weight-decay", type=checked(float, lambda v: 0 <= v < math.inf,
                                       "a finite number >= 0"), default=0.0)
    add("--schedule", default="constant", choices=("constant", "step", "cosine"))
    add("--epochs", type=POSITIVE, default=10,
        help="epochs of the whole run (default 10); with --resume, train on until this total")
    add("--batch-size", type=POSITIVE, default=128)
    add("--val-size", type=NATURAL, default=0,
        help="validation examples carved from the training part")
    add("--split-seed", type=NATURAL, default=0)
    add("--seed", type=NATURAL, default=0, help="seed of supports, initial values and batch order")
    add("--save", metavar="FILE", type=PATH,
        help="write a checkpoint after every epoch (--method rigl or imp: the final network "
             "only, which cannot be resumed)")
    add("--resume", metavar="FILE", type=PATH,
        help="continue a run saved with --save: its model, data and settings come from the "
             "file (--epochs, --save, --json, --quiet apply)")
    add("--json", action="store_true", help="print the final metrics as JSON")
    add("--quiet", action="store_true", help="no progress line per epoch")


#: the options a resumed run takes; the others come from the checkpoint
RESUME_OPTIONS = {"epochs", "save", "resume", "json", "quiet"}


def _check_options(args) -> None:
    """Refuse pointless or contradicting options before any work: ValueError naming them."""
    if args.save is not None:
        check_output_file("--save", args.save)
    if args.resume is not None:
        extra = [o for name, o in given(args, configure_parser).items()
                 if name not in RESUME_OPTIONS]
        if extra:
            raise ValueError(f"{', '.join(extra)} does nothing with --resume: the model, data "
                             "and settings come from the checkpoint (only --epochs, --save, "
                             "--json and --quiet apply)")
    static = args.method == "static"
    pointless = [(args.momentum is not None and args.optimizer != "sgd", "--momentum",
                  "--optimizer sgd"),
                 (args.freeze_alpha and not (args.kind == "dctps" and static), "--freeze-alpha",
                  "--kind dctps and --method static"),
                 (args.sparse_init and (args.kind == "dense" or not static), "--sparse-init",
                  "--kind sparse or dctps and --method static"),
                 (args.offset != "dct" and not static, "--offset", "--method static"),
                 (args.distribution and (args.kind == "dense" or args.method not in
                                         ("static", "rigl")), "--distribution",
                  "--kind sparse or dctps and --method static or rigl"),
                 (args.rigl_interval is not None and args.method != "rigl", "--rigl-interval",
                  "--method rigl")]
    for bad, option, needs in pointless:
        if bad:
            raise ValueError(f"{option} does nothing here: it needs {needs}")
    if args.resume is not None:
        return
    if args.method in ("rigl", "imp", "subspace"):
        key = TRAINED_BY.get((args.method, args.kind))
        if key is None:
            kinds = [kind for method, kind in TRAINED_BY if method == args.method]
            raise ValueError(f"--method {args.method} takes --kind {' or '.join(kinds)}, "
                             f"not {args.kind!r}")
        if args.density is None or not 0 < args.density < 1:
            raise ValueError(f"--method {args.method} needs --density in (0, 1), got "
                             f"{args.density}")
        if args.save and key == "subspace":
            raise ValueError("--method subspace does not support --save")
    elif args.kind == "dense" and args.density not in (None, 1.0):
        raise ValueError(f"--density {args.density} needs --kind sparse or dctps")
    elif args.kind != "dense" and args.density is None:
        raise ValueError(f"--kind {args.kind} needs --density")
    elif not static and args.kind != "sparse":
        raise ValueError(f"--method {args.method} prunes a dense initialisation to a sparse "
                         f"network: use it with --kind sparse, not {args.kind!r}")
    elif args.offset != "dct" and args.kind != "dctps":
        raise ValueError(f"--offset {args.offset} needs --kind dctps")


def _fresh(args, split):
    """The network and initial parameters the arguments describe."""
    seeds = np.random.SeedSequence(args.seed).spawn(2)
    ctx = Context(args.model, model_options(args), 1.0 if args.density is None else args.density,
                  np.random.default_rng(seeds[0]), np.random.default_rng(seeds[1]),
                  split.x_train, split.y_train)
    if args.method != "static":
        return METHODS[args.method](ctx)
    return build_initial(ctx, args.kind, args.distribution or "uniform",
                         sparse_init=args.sparse_init, train_alpha=not args.freeze_alpha,
                         offset=args.offset)


def _run_method(args, split, config):
    """``--method rigl|imp|subspace``: train through :func:`refnet.cli.study.recipes.run_method`."""
    key = TRAINED_BY[args.method, args.kind]       # checked by _check_options
    options = {}
    if key in ("rigl", "dctps-rigl"):
        options = {"delta_t": args.rigl_interval or 100,
                   "distribution": args.distribution or "uniform",
                   "debug": True}        # debug: exact nnz per layer asserted at every step
    run = run_method(key, args.model, args.density, args.seed, (split.x_train, split.y_train),
                     config, model_args=model_options(args), options=options, quiet=args.quiet)
    return run.net, run.params, run.history


def run_command(args) -> int:
    """Train (or resume) the run ``args`` describes; print its final metrics; exit status."""
    start = time.perf_counter()
    _check_options(args)
    if args.save is not None:
        remove_stale(os.path.dirname(os.path.abspath(args.save)))
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
        data_meta = meta["data"]
        if not (isinstance(data_meta, dict) and set(data_meta) == set(DATA_KEYS)
                and isinstance(meta["train_config"], dict)):
            raise ValueError(f"{args.resume}: metadata 'data' must hold exactly "
                             f"{', '.join(DATA_KEYS)} and 'train_config' must be a dict; got "
                             f"{data_meta!r} and {meta['train_config']!r}")
        if checkpoint.state.epoch > args.epochs:
            raise ValueError(f"--epochs {args.epochs} is below the {checkpoint.state.epoch} "
                             f"epochs {args.resume} has trained already: nothing to train")
        net = checkpoint_network(checkpoint, args.resume)
        resume, params, in_shape = checkpoint.state, None, net.input_shape
        try:
            config = TrainConfig(**dict(meta["train_config"], epochs=args.epochs))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{args.resume}: its train_config is invalid: {err}") from None
    else:
        data_meta = {"name": args.data, "split_seed": args.split_seed,
                     "val_size": args.val_size, "flatten": flat_input(args.model)}
        config = TrainConfig(optimizer=args.optimizer, lr=args.lr,
                             momentum=0.9 if args.momentum is None else args.momentum,
                             weight_decay=args.weight_decay, epochs=args.epochs,
                             batch_size=args.batch_size, schedule=args.schedule, seed=args.seed)
        in_shape = blueprint_of(args.model, **model_options(args)).in_shape
    split = prepare(data_meta["name"], seed=data_meta["split_seed"],
                    val_size=data_meta["val_size"], flatten=data_meta["flatten"])
    if tuple(in_shape) != split.x_train.shape[1:]:
        raise ValueError(f"the model takes inputs of shape {tuple(in_shape)}, the data "
                         f"{data_meta['name']!r} has {split.x_train.shape[1:]}"
                         + (" (--sizes starts with the input width)" if args.sizes else ""))
    dynamic = args.method in ("rigl", "imp", "subspace")
    if not args.resume and not dynamic:
        net, params = _fresh(args, split)

    def save(current_net, state, resumable=True):
        arrays = {}
        if current_net.spec["kind"] != "dense":
            arrays["supports"] = support_arrays(supports_of(current_net))
        save_checkpoint(args.save, state, meta={"model": current_net.spec, "data": data_meta,
                                                "train_config": config_dict(config),
                                                "resumable": resumable}, arrays=arrays)

    try:
        if dynamic:
            net, params, history = _run_method(args, split, config)
            epochs, steps = history[-1]["epoch"], history[-1]["step"]
            if args.save:    # the final network only: for evaluation, not for --resume
                save(net, TrainState(params, {}, steps, epochs, {}), resumable=False)
        else:
            result = train(net, params, (split.x_train, split.y_train), config, resume=resume,
                           quiet=args.quiet, checkpoint=save if args.save else None)
            net, params, history = result.net, result.state.params, result.history
            # from the state: a resumed run already at --epochs trains no epoch here
            epochs, steps = result.state.epoch, result.state.step
    except TrainingDiverged as err:
        print(f"refnet train: error: {err}", file=sys.stderr)
        return 1
    metrics = {"epochs": epochs, "steps": steps,
               "train_loss": history[-1]["train_loss"] if history else math.nan}
    parts = {"train": (split.x_train, split.y_train), "test": (split.x_test, split.y_test)}
    if len(split.y_val):
        parts["val"] = (split.x_val, split.y_val)
    for name, (x, y) in parts.items():
        metrics.update({f"{name}_{k}": v for k, v in evaluate(net, params, x, y).items()})
    metrics.update(density=weight_density(net), trainable=tree_size(params),
                   seconds=time.perf_counter() - start)
    if args.json:
        print(json.dumps(metrics, indent=1))
    else:
        for key, value in metrics.items():
            print(f"{key:16s} {value:.6g}" if isinstance(value, float) else f"{key:16s} {value}")
    return 0
