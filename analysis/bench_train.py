"""Training epochs of LeNet-300-100, refnet DCTpS and dense against torch, each in a fresh process.

    python analysis/bench_train.py [--rounds 5] [--epochs 3] [--threads 2] [--json]
                                   [--out analysis/out/bench_train.md]

Every method trains the same network from the same parameters on the same batches (3,600
MNIST-5k images, Adam at lr 1e-3, batch 128) for one untimed epoch and then ``--epochs`` timed
ones, in its own process (so no method inherits another's allocator or caches), ``--rounds``
times, the rounds interleaved and each starting at another method.  Reported: the median
epoch time over the rounds, samples per second, the ratio to refnet's float64 epoch, minor
page faults per epoch, the share of the CPU other processes used, and each run's last loss
(float64 runs of one network must agree: they compute the same parameters).

Methods: ``refnet-dctps`` (density 1e-3, float64) and ``refnet-dense`` (float64); torch
autograd on the same threads for the dense network (``torch-dense-f64``, ``-f32``) and for
the original DCTpS code's method, a dense DCT matrix plus a masked dense ``S``
(``torch-dctps-f64``, ``-f32``).  The comparison a user makes is refnet float64 against torch
float32.  Torch is optional: without it only the refnet rows are measured.

``--baseline PATH`` adds ``baseline-dctps`` and ``baseline-dense``: refnet's rows again, run
from another checkout of refnet (``git worktree add /tmp/base COMMIT``), the "before" of a
speed goal measured in the same rounds as the "after"; the last lines give the speed-ups
issue 18 set goals for (DCTpS over the baseline, dense over it and over torch float64).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)   # this clone's refnet, whether or not it is installed

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from readme_blocks import allocator_state, fresh_process_rounds, minor_faults  # noqa: E402

METHODS = ("refnet-dctps", "refnet-dense", "torch-dctps-f32", "torch-dctps-f64",
           "torch-dense-f32", "torch-dense-f64")
DENSITY, LR, BATCH, TRAIN = 1e-3, 1e-3, 128, 3600


def setup(kind: str, seed: int):
    """``(model, params, x, labels)``: LeNet-300-100 of ``kind`` and its training images."""
    from refnet.data import load_dataset, split_indices
    from refnet.models import build_model
    x, labels, _ = load_dataset("mnist5k", flatten=True)
    train, _ = split_indices(labels, 5000 - TRAIN, np.random.default_rng(seed))
    model = build_model("lenet300", kind=kind, density=DENSITY if kind == "dctps" else 1.0,
                        rng=seed)
    params = model.init(np.random.default_rng(seed + 1))
    if kind == "dctps":      # a non-zero S, as after some training
        rng = np.random.default_rng(seed + 2)
        params = {k: dict(p, S=0.1 * rng.standard_normal(p["S"].shape)) if "S" in p else p
                  for k, p in params.items()}
    return model, params, x[train], labels[train]


def use_checkout(root: str):
    """Import refnet from the checkout ``root`` from now on, in this worker process."""
    for name in [n for n in sys.modules if n == "refnet" or n.startswith("refnet.")]:
        del sys.modules[name]
    sys.path.insert(0, root)


def refnet_epochs(kind: str, epochs: int, seed: int, threads: int):
    """Epoch times and the last loss of refnet's own training loop."""
    from refnet.train import TrainConfig, train
    try:
        from refnet.ops.fast import set_num_threads
    except ImportError:     # a baseline from before the fast path (issue 13): its row blocks
        from refnet.ops.rowblocks import set_num_threads
    set_num_threads(threads)
    model, params, x, labels = setup(kind, seed)
    config = TrainConfig(lr=LR, batch_size=BATCH, epochs=epochs + 1, seed=seed)
    # refnet's own loop, optimizer and batch order, timed at the end of every epoch: one
    # run, so the checks train() makes once per run (finite inputs, the resumed state)
    # fall in the untimed first epoch, as the torch loop has none
    marks = [(time.perf_counter(), minor_faults())]
    result = train(model, params, (x, labels), config, quiet=True,
                   checkpoint=lambda net, state: marks.append((time.perf_counter(),
                                                               minor_faults())))
    times = [b[0] - a[0] for a, b in zip(marks, marks[1:])]
    faults = [b[1] - a[1] for a, b in zip(marks, marks[1:])]
    return times[1:], faults[1:], result.history[-1]["train_loss"]


def torch_epochs(kind: str, dtype: str, epochs: int, seed: int, threads: int):
    """The same training in torch autograd (refnet's batch order and initial parameters)."""
    import torch
    from refnet.train import batches
    torch.set_num_threads(threads)
    model, params, x, labels = setup(kind, seed)
    dt = getattr(torch, dtype)
    tensor = lambda a: torch.tensor(np.asarray(a), dtype=dt)  # noqa: E731
    layers, trained = [], []
    for node in model.nodes:
        p = params[node.name]
        if "W" in p:                                         # dense Linear
            layer = {"W": tensor(p["W"]).requires_grad_(), "b": tensor(p["b"]).requires_grad_()}
            trained += [layer["W"], layer["b"]]
        elif "S" in p:                                       # the original's DCTplusLinear
            lyr = node.layer
            mask = np.zeros(lyr.shape)
            mask[lyr.rows, lyr.cols] = 1.0
            layer = {"f": tensor(lyr.offset.matrix().T), "mask": tensor(mask),
                     "W": tensor(lyr.support.to_dense(p["S"])).requires_grad_(),
                     "alpha": tensor(p["alpha"]).requires_grad_(),
                     "b": tensor(p["b"]).requires_grad_()}
            layer["W"].register_hook(lambda g, mask=layer["mask"]: g * mask)
            trained += [layer["W"], layer["alpha"], layer["b"]]
        else:                                                # ReLU
            layer = None
        layers.append(layer)

    def forward(v):
        for layer in layers:
            if layer is None:
                v = torch.relu(v)
            elif "f" in layer:
                v = layer["alpha"] * (v @ layer["f"]) + v @ layer["W"].T + layer["b"]
            else:
                v = v @ layer["W"].T + layer["b"]
        return v

    optimizer = torch.optim.Adam(trained, lr=LR)
    rng = np.random.default_rng(seed)
    times, faults = [], []
    for _ in range(epochs + 1):
        start, faults0, losses = time.perf_counter(), minor_faults(), []
        for xb, yb in batches(x, labels, BATCH, rng):
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(forward(tensor(xb)), torch.from_numpy(yb))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        times.append(time.perf_counter() - start)
        faults.append(minor_faults() - faults0)
    return times[1:], faults[1:], float(np.mean(losses))


def worker(method: str, epochs: int, seed: int, threads: int, baseline=None) -> dict:
    if method.startswith("baseline-"):
        use_checkout(baseline)
    if method.startswith(("refnet-", "baseline-")):
        times, faults, loss = refnet_epochs(method.split("-")[1], epochs, seed, threads)
    else:
        _, kind, bits = method.split("-")
        times, faults, loss = torch_epochs(kind, "float" + bits[1:], epochs, seed, threads)
    return {"epoch_s": statistics.median(times), "faults_per_epoch": statistics.median(faults),
            "last_loss": loss}


def report(runs: dict, share, args) -> dict:
    rows = {}
    for method, results in runs.items():
        epoch_s = statistics.median(r["epoch_s"] for r in results)
        rows[method] = {"epoch_s": epoch_s, "samples_per_s": TRAIN / epoch_s,
                        "faults_per_epoch": statistics.median(r["faults_per_epoch"]
                                                              for r in results),
                        "last_loss": results[0]["last_loss"],
                        "epoch_s_each_round": [r["epoch_s"] for r in results]}
    return {"benchmark": "train", "model": "lenet300", "density": DENSITY, "batch": BATCH,
            "train_images": TRAIN, "epochs": args.epochs, "rounds": args.rounds,
            "threads": args.threads, "other_processes_cpu_share": share,
            "allocator": allocator_state() or "glibc defaults", "methods": rows}


def table(rep: dict) -> str:
    rows = rep["methods"]
    lines = ["| method | epoch | samples/s | refnet DCTpS / it | refnet dense / it "
             "| minor faults / epoch | last loss |", "|" + " --- |" * 7]
    for method, r in rows.items():
        vs = [f"{rows[base]['epoch_s'] / r['epoch_s']:.2f}x" if base in rows else "-"
              for base in ("refnet-dctps", "refnet-dense")]
        lines.append(f"| {method} | {r['epoch_s'] * 1e3:.1f} ms | {r['samples_per_s']:,.0f} "
                     f"| {vs[0]} | {vs[1]} | {r['faults_per_epoch']:.0f} "
                     f"| {r['last_loss']:.12g} |")
    share = rep["other_processes_cpu_share"]
    lines += ["", f"LeNet-300-100 (DCTpS at density {rep['density']:g}), "
                  f"{rep['train_images']} images, Adam, batch {rep['batch']}: median epoch of "
                  f"{rep['epochs']} timed epochs after one untimed, each run in a fresh "
                  f"process, medians of {rep['rounds']} interleaved rounds, {rep['threads']} "
                  f"thread(s) everywhere, allocator: {rep['allocator']}"
                  + (f", other processes used {100 * share:.0f}% of the CPU" if share is not None
                     else "") + ". A ratio > 1 means faster than that refnet run."]
    if share is not None and share > 0.05:
        lines += ["", f"**Warning: other processes used {100 * share:.0f}% of the CPU during "
                      "this run: provisional numbers, rerun on a quiet machine.**"]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", help="also write the markdown table to this file")
    parser.add_argument("--baseline", metavar="PATH",
                        help="also time refnet's rows from the checkout at PATH")
    parser.add_argument("--worker", help=argparse.SUPPRESS)   # one run, in this process
    args = parser.parse_args(argv)
    for name in ("rounds", "epochs", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.baseline and not os.path.isfile(os.path.join(args.baseline, "refnet", "train.py")):
        parser.error(f"--baseline: {args.baseline!r} is not a checkout of refnet "
                     "(no refnet/train.py in it)")
    if args.worker:
        print(json.dumps(worker(args.worker, args.epochs, args.seed, args.threads,
                                args.baseline)))
        return 0
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"--methods: unknown {unknown}; choose from {list(METHODS)}")
    if args.baseline:
        methods += ["baseline-dctps", "baseline-dense"]
    try:
        import torch  # noqa: F401
    except ImportError:
        methods = [m for m in methods if not m.startswith("torch-")]
    runs, share = fresh_process_rounds(
        lambda m: [sys.executable, os.path.abspath(__file__), "--worker", m, "--epochs",
                   str(args.epochs), "--seed", str(args.seed), "--threads", str(args.threads)]
        + (["--baseline", args.baseline] if args.baseline else []),
        methods, args.rounds, threads=args.threads,
        progress=lambda s: print(s, file=sys.stderr, flush=True))
    rep = report(runs, share, args)
    for kind in ("dctps", "dense"):     # refnet and torch in float64 train the same numbers
        losses = [r["last_loss"] for m, r in rep["methods"].items()
                  if m in (f"refnet-{kind}", f"torch-{kind}-f64")]
        if len(losses) == 2:
            rep[f"{kind}_f64_loss_rel_diff"] = abs(losses[0] - losses[1]) / abs(losses[1])
    rows = rep["methods"]         # issue 18's goals: DCTpS >= 1.5x the baseline, dense >= 1x torch
    rep["speedups"] = {f"{a} over {b}": rows[b]["epoch_s"] / rows[a]["epoch_s"] for a, b in (
        ("refnet-dctps", "baseline-dctps"), ("refnet-dense", "baseline-dense"),
        ("refnet-dense", "torch-dense-f64")) if a in rows and b in rows}
    text = json.dumps(rep, indent=1) if args.json else table(rep) + "".join(
        f"\n\n{kind}: refnet and torch float64 last losses differ by {rep[key]:.1e} (relative)"
        for kind in ("dctps", "dense") if (key := f"{kind}_f64_loss_rel_diff") in rep) + "".join(
        f"\n\nspeed-up of {pair}: {ratio:.2f}x" for pair, ratio in rep["speedups"].items())
    print(text)
    if args.out:
        from refnet._files import atomic_output
        with atomic_output(args.out, "w") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
