"""Test accuracy of RigL (ERK), DCTpS + RigL, IMP and random subspace at a few densities.

    python analysis/dst_methods.py --epochs 10 --densities 1e-2 1e-3 1e-4 --seeds 0

A first look at the methods of refnet.sparsity.methods on MNIST-5k (4,000 / 1,000
split) with lenet300, before `refnet study` puts them in its table: one markdown
row per (method, density), mean and spread of the test accuracy over the seeds,
the number of trained scalars, and the wall time of one run.  The library does
the work (refnet.cli.study.recipes.run_method); this script only chooses settings.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # this clone's refnet, whether or not it is installed

from refnet.data import prepare  # noqa: E402
from refnet.cli.study.recipes import METHOD_LABELS, run_method  # noqa: E402
from refnet.train import TrainConfig, evaluate  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet300")
    parser.add_argument("--methods", nargs="+", default=list(METHOD_LABELS),
                        choices=list(METHOD_LABELS))
    parser.add_argument("--densities", nargs="+", type=float, default=[1e-2, 1e-3, 1e-4])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    parser.add_argument("--delta-t", type=int, default=25, help="RigL steps between updates")
    parser.add_argument("--imp-rounds", type=int, default=None,
                        help="IMP rounds (default: the study's, 20%% of the survivors a round)")
    args = parser.parse_args(argv)
    split = prepare("mnist5k", seed=0, flatten=args.model == "lenet300")
    config = TrainConfig(optimizer="adam", lr=args.lr, epochs=args.epochs, batch_size=128)
    options = {"rigl": {"delta_t": args.delta_t}, "dctps-rigl": {"delta_t": args.delta_t},
               "imp": {"rounds": args.imp_rounds}, "subspace": {}}
    print(f"{args.model} on mnist5k, Adam lr {args.lr}, {args.epochs} epochs, batch 128, "
          f"seeds {args.seeds}\n")
    print("| method | density | test accuracy | trained scalars | seconds per run |")
    print("|---|---:|---:|---:|---:|")
    for method in args.methods:
        for density in args.densities:
            accs, seconds, trainable = [], [], 0
            for seed in args.seeds:
                start = time.perf_counter()
                run = run_method(method, args.model, density, seed,
                                 (split.x_train, split.y_train),
                                 TrainConfig(**{**config.__dict__, "seed": seed}),
                                 options=options[method])
                seconds.append(time.perf_counter() - start)
                accs.append(evaluate(run.net, run.params, split.x_test, split.y_test)["accuracy"])
                trainable = run.info["trainable"]
            print(f"| {METHOD_LABELS[method]} | {density:g} | {100 * np.mean(accs):.1f} "
                  f"+- {100 * np.std(accs):.1f} | {trainable:,} | {np.mean(seconds):.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
