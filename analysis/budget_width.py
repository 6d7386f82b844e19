"""Sparser and larger, or denser and smaller? Accuracy against width at a fixed weight budget.

Usage: python analysis/budget_width.py [--quick] [--out DIR] [--workers N] [--readme]

A budget is the number of trained weights of LeNet-300-100 (784-300-100-10) at density 1%,
0.1% or 0.01%, as ``build_model`` allocates them (biases not counted, as in the study).  At each
budget B, MLPs 784-w-(w/3)-10 of several widths w (LeNet-300-100 is w = 300) are trained as
DCTpS and as plain sparse networks, both on EPL supports, at density ``B / N_w`` with ``N_w``
the weights of that network: so the density falls as the width grows, and every network has
exactly B entries of S (DCTpS) or B weights (sparse).  Biases and DCTpS's alpha train too,
and they grow with the width: the floor "DCT only" (``W = alpha * D``, S empty, budget 0)
measures what they give without S at each width.  The study's rules: MNIST-5k with its
split, Adam, batch 128, per cell (budget, width, kind) the learning rate with the best mean
validation accuracy over seeds (a diverged run counts 0, ties to the smaller rate; ``*`` marks
a rate at the grid's edge), then that rate's test accuracy: mean and 95% t-interval over the seeds that did not diverge
(the table says how many did), ``mean +- t(0.975, n - 1) * std / sqrt(n)``.  Seed s draws supports and initial values from the
children of ``SeedSequence(s).spawn(3)`` and orders batches, as the study does.
"""
import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from refnet._files import atomic_output, check_output_dir
from refnet.cli.study.report import t_interval
from refnet.cli.study.runner import pinned_blas_pool
from refnet.data import prepare
from refnet.models import build_model, rebuild
from refnet.train import TrainConfig, TrainingDiverged, evaluate, train

ROOT = Path(__file__).resolve().parent.parent
DENSITIES = (1e-2, 1e-3, 1e-4)          #: LeNet-300-100's densities that set the budgets
KINDS = {"dctps": "DCTpS (EPL)", "sparse": "Random (EPL)", "dct-only": "DCT only (no S)"}


@dataclass(frozen=True)
class Setting:
    """Widths, seeds, learning-rate grid and epochs of one run of the script."""

    widths: tuple = (30, 100, 300, 900)
    seeds: tuple = (0, 1, 2)
    lrs: tuple = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
    epochs: int = 30
    batch_size: int = 128


FULL = Setting()
QUICK = Setting(seeds=(0, 1), lrs=(1e-3, 1e-2), epochs=10)


def sizes_of(width: int) -> tuple:
    return (784, width, round(width / 3), 10)


def budget_of(density: float) -> int:
    """The weights ``build_model`` gives LeNet-300-100 at ``density`` (EPL)."""
    net = build_model("lenet300", kind="sparse", density=density, distribution="epl", rng=0)
    return sum(layer["nnz"] for layer in net.spec["layers"])


@lru_cache(maxsize=1)
def _split():
    return prepare("mnist5k", seed=0, val_size=400, flatten=True)    # the study's split


def run_one(job) -> dict:
    """Train one network; ``job = (budget, width, kind, lr, seed, epochs, batch_size)``."""
    budget, width, kind, lr, seed, epochs, batch_size = job
    sizes = sizes_of(width)
    weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    support_seq, init_seq, _ = np.random.SeedSequence(seed).spawn(3)
    if kind == "dct-only":      # as the study's floor: a DCTpS spec whose S has no entry
        spec = build_model("mlp", sizes=sizes, kind="dctps", density=1.0, rng=0).spec
        spec = dict(spec, density=0.0, layers=[dict(l, nnz=0) for l in spec["layers"]])
        empty = np.zeros(0, dtype=np.int64)
        net = rebuild(spec, {layer["name"]: (empty, empty) for layer in spec["layers"]})
    else:
        net = build_model("mlp", sizes=sizes, kind=kind, density=budget / weights,
                          distribution="epl", rng=np.random.default_rng(support_seq))
    nnz = sum(layer["nnz"] for layer in net.spec["layers"])
    assert nnz == budget, (nnz, budget)
    split = _split()
    record = dict(budget=budget, width=width, kind=kind, lr=lr, seed=seed,
                  density=budget / weights)
    try:
        result = train(net, net.init(np.random.default_rng(init_seq)),
                       (split.x_train, split.y_train),
                       TrainConfig(optimizer="adam", lr=lr, epochs=epochs,
                                   batch_size=batch_size, seed=seed), quiet=True)
        val, test = (evaluate(net, result.state.params, x, y) for x, y in
                     ((split.x_val, split.y_val), (split.x_test, split.y_test)))
        if not (math.isfinite(val["loss"]) and math.isfinite(test["loss"])):
            raise TrainingDiverged("non-finite evaluation loss")
        return dict(record, val_acc=100 * val["accuracy"], test_acc=100 * test["accuracy"])
    except TrainingDiverged:
        return dict(record, val_acc=0.0, test_acc=math.nan)


def cells(records: list, setting: Setting) -> list:
    """One row per (budget, width, kind): the rate chosen on validation and its test runs."""
    rows = []
    for budget in dict.fromkeys(r["budget"] for r in records):
        for width in setting.widths:
            for kind in dict.fromkeys(r["kind"] for r in records if r["budget"] == budget):
                runs = [r for r in records if (r["budget"], r["width"], r["kind"])
                        == (budget, width, kind)]
                val = {lr: np.mean([r["val_acc"] for r in runs if r["lr"] == lr])
                       for lr in sorted(setting.lrs)}
                lr = max(val, key=lambda k: (val[k], -k))      # ties: the smaller rate
                test = [r["test_acc"] for r in runs if r["lr"] == lr]
                finite = [a for a in test if math.isfinite(a)]   # a diverged run is NaN
                mean, half = t_interval(finite)
                rows.append(dict(budget=budget, width=width, kind=kind, lr=lr,
                                 edge=len(val) > 1 and lr in (min(val), max(val)),
                                 density=runs[0]["density"], mean=mean, half=half,
                                 low=mean - half, high=mean + half,
                                 diverged=len(test) - len(finite)))
    return rows


def _diverged(row: dict) -> str:
    """`` (k of n seeds diverged)`` when the mean is over fewer seeds than were run."""
    k = row.get("diverged", 0)
    return f" ({k} diverged, mean of the rest)" if k else ""


def table(rows: list, setting: Setting, seconds: float, workers: int) -> str:
    lines = ["| budget (weights) | width | network | kind | density | lr | test accuracy (%) "
             "| 95% interval |", "| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        net = "-".join(map(str, sizes_of(r["width"])))
        lines.append(f"| {r['budget']:,} | {r['width']} | {net} | {KINDS[r['kind']]} | "
                     f"{100 * r['density']:.3g}% | {r['lr']:g}{'*' if r['edge'] else ''} | "
                     f"{r['mean']:.1f}{_diverged(r)} | [{r['low']:.1f}, {r['high']:.1f}] |")
    return "\n".join(lines) + (
        f"\n\nMNIST-5k (3,600 / 400 / 1,000), Adam, batch {setting.batch_size}, "
        f"{setting.epochs} epochs, seeds {list(setting.seeds)}, learning rates "
        f"{list(setting.lrs)} (* the chosen rate is at the grid's edge); "
        f"{seconds:.0f} s on {workers} worker(s).\n")


def figure(rows: list, path: Path, densities=DENSITIES) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    budgets = [b for b in dict.fromkeys(r["budget"] for r in rows) if b > 0]
    fig, axes = plt.subplots(1, len(budgets), figsize=(4 * len(budgets), 3.6), sharey=True,
                             squeeze=False)
    for ax, budget, density in zip(axes[0], budgets, densities):
        for (kind, label), colour, marker, ls, shift in zip(
                KINDS.items(), ("C0", "C3", "C7"), "os^", ("-", "-", "--"), (0.97, 1.03, 1)):
            rs = [r for r in rows if r["budget"] in (budget, 0) and r["kind"] == kind]
            ax.errorbar([shift * r["width"] for r in rs], [r["mean"] for r in rs],
                        yerr=[r["half"] for r in rs], color=colour, marker=marker,
                        ls=ls, capsize=3, label=label)
        ax.axvline(300, color="grey", lw=0.6, ls=":")      # LeNet-300-100
        ax.axhline(10, color="grey", lw=0.6, ls="--")      # chance
        widths = sorted({r["width"] for r in rows})
        ax.set_xscale("log")
        ax.set_xticks(widths, widths, minor=False)
        ax.set_xticks([], minor=True)
        ax.set(xlabel="width w of 784-w-(w/3)-10 (dotted: LeNet-300-100)",
               title=f"{budget:,} weights ({100 * density:g}% of LeNet-300-100)")
    axes[0][0].set_ylabel("test accuracy (%), 95% interval")
    axes[0][0].legend()
    fig.tight_layout()
    with atomic_output(path) as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def run(setting: Setting, out: Path, workers: int = 2, densities=DENSITIES) -> list:
    """Train every network of ``setting``; write budget.md, budget.json and budget.png in
    ``out``; return the rows of :func:`cells`.  Trained in a pool of ``workers`` processes with
    BLAS on one thread each, so any ``workers`` gives bitwise the same runs (committed: 2)."""
    jobs = [(b, w, k, lr, s, setting.epochs, setting.batch_size)
            for b in [budget_of(d) for d in densities] + [0] for w in setting.widths
            for k in (("dct-only",) if b == 0 else ("dctps", "sparse"))
            for lr in setting.lrs for s in setting.seeds]
    start = time.perf_counter()
    with pinned_blas_pool(workers) as pool:   # BLAS on one thread per process, as the study
        records = list(pool.map(run_one, jobs))
    seconds = time.perf_counter() - start
    rows = cells(records, setting)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / "budget.json", "w") as handle:
        json.dump({"setting": asdict(setting), "seconds": seconds, "workers": workers,
                   "rows": rows, "runs": records}, handle, indent=1)
    with atomic_output(out / "budget.md", "w") as handle:
        handle.write(table(rows, setting, seconds, workers))
    figure(rows, out / "budget.png", densities)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 seeds, 2 learning rates, 10 epochs (about a minute)")
    parser.add_argument("--out", help="folder (default analysis/out/budget[-quick])")
    parser.add_argument("--workers", default="2", help="processes (default 2)")
    parser.add_argument("--readme", action="store_true",
                        help="copy budget.md into its block of analysis/README.md (full run)")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else \
        str(ROOT / "analysis" / "out" / ("budget-quick" if args.quick else "budget"))
    if not args.workers.isdigit() or int(args.workers) < 1:
        sys.exit(f"budget_width.py: --workers: expected a positive integer, "
                 f"got {args.workers!r}")
    if args.readme and args.quick:
        sys.exit("budget_width.py: --readme: the README shows the full run; leave out --quick")
    try:
        check_output_dir("--out", out)
    except ValueError as err:
        sys.exit(f"budget_width.py: {err}")
    run(QUICK if args.quick else FULL, Path(out), int(args.workers))
    print((Path(out) / "budget.md").read_text())
    if args.readme:
        sys.path.insert(0, str(ROOT / "analysis"))
        import readme_blocks
        readme_blocks.update_readme({"budget": (Path(out) / "budget.md").read_text()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
