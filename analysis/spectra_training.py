"""Spectra during training (analysis/README.md, "Spectra during training").

    python analysis/spectra_training.py --readme   # analysis/out/spectra_training/

Trains LeNet-300-100 as DCTpS (EPL supports, ``S = 0``, alpha trained) and as plain sparse
(EPL supports, the study's default init) at 1%, 0.1% and 0.01% on mnist5k (Adam, lr 0.01 as
the study chooses for DCTpS, batch 128, seed 0) and records, at epochs ``--epochs``
(0 = initialisation), the input-output Jacobian's spectrum at ``--examples`` test images
(mean numerical rank per image out of 10, condition number of the pooled nonzero singular
values) and the empirical NTK's (rank, effective rank; ``refnet.spectra.kernel_spectrum``).
Writes ``spectra_training.md`` (the table), ``spectra_training.csv`` and one figure per
network kind, ``dctps.png`` and ``sparse.png``, density on the colour axis.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # this clone's refnet, whether or not it is installed
sys.path.insert(0, HERE)

from readme_blocks import update_readme  # noqa: E402
from refnet._files import atomic_output, check_output_dir  # noqa: E402
from refnet.data import prepare  # noqa: E402
from refnet.models import build_model  # noqa: E402
from refnet.spectra import (jacobian, kernel_spectrum, pooled_spectrum_stats,  # noqa: E402
                            singular_values, spectrum_stats, tangent_kernel)
from refnet.train import TrainConfig, train  # noqa: E402

OUT = os.path.join(HERE, "out", "spectra_training")
DENSITIES = (1e-2, 1e-3, 1e-4)
KINDS = {"dctps": "DCTpS", "sparse": "sparse"}
FIELDS = ("kind", "density", "epoch", "test_accuracy", "io_rank", "io_cond", "ntk_rank",
          "ntk_effective_rank")


def spectra(net, params, x) -> dict:
    """The input-output and NTK summaries of one network at the images ``x``."""
    J = jacobian(net, params, x)                                   # (B, 10, 784)
    sigma = singular_values(J)
    pooled = pooled_spectrum_stats(sigma, J.shape[1:])
    k = kernel_spectrum(tangent_kernel(net, params, x))
    return {"io_rank": float(np.mean(spectrum_stats(sigma, J.shape[1:]).rank)),
            "io_cond": float(pooled.cond), "ntk_rank": k.rank,
            "ntk_effective_rank": k.effective_rank}


def run(epochs, examples: int, seed: int = 0) -> list[dict]:
    split = prepare("mnist5k", seed=seed, val_size=400, flatten=True)
    x = split.x_test[:examples]
    config = TrainConfig(lr=0.01, epochs=max(epochs), seed=seed)
    rows = []
    for kind in KINDS:
        for density in DENSITIES:
            rng = np.random.default_rng(seed)
            net = build_model("lenet300", kind=kind, density=density, distribution="epl",
                              rng=rng)
            params = net.init(rng)

            def record(net, params, epoch):
                if epoch in epochs:
                    accuracy = np.mean(np.argmax(net(params, split.x_test), axis=1)
                                       == split.y_test)
                    rows.append(dict(kind=kind, density=density, epoch=epoch,
                                     test_accuracy=float(accuracy), **spectra(net, params, x)))

            record(net, params, 0)
            train(net, params, (split.x_train, split.y_train), config, quiet=True,
                  checkpoint=lambda net, state: record(net, state.params, state.epoch))
    return rows


def table(rows, examples: int, seconds: float) -> str:
    lines = ["| network | density | epoch | test acc. | input-output rank (of 10) | "
             "input-output cond | rank of K | effective rank of K |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        cond = "-" if np.isnan(r["io_cond"]) else f"{r['io_cond']:.3g}"   # no nonzero value
        lines.append(f"| {KINDS[r['kind']]} | {100 * r['density']:g}% | {r['epoch']} | "
                     f"{100 * r['test_accuracy']:.1f}% | {r['io_rank']:.2f} | {cond} | "
                     f"{r['ntk_rank']} / {10 * examples} | {r['ntk_effective_rank']:.1f} |")
    return "\n".join(lines + ["", f"LeNet-300-100 on mnist5k, Adam, lr 0.01, batch 128, seed 0; "
                              f"spectra at {examples} test images; {seconds:.0f} s."])


def figures(rows, out: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colours = dict(zip(DENSITIES, plt.cm.viridis(np.linspace(0, 0.85, len(DENSITIES)))))
    panels = (("io_rank", "input-output rank per image", False),
              ("io_cond", "input-output condition number", True),
              ("ntk_effective_rank", "effective rank of the NTK", False))
    for kind, name in KINDS.items():
        fig, axes = plt.subplots(1, len(panels), figsize=(12, 3.2))
        for ax, (field, title, log) in zip(axes, panels):
            for density in DENSITIES:
                mine = [r for r in rows if r["kind"] == kind and r["density"] == density]
                ax.plot([r["epoch"] for r in mine], [r[field] for r in mine], "o-",
                        color=colours[density], label=f"{100 * density:g}%")
            ax.set(title=title, xlabel="epoch", yscale="log" if log else "linear")
        axes[0].legend(title="density", fontsize=8)
        fig.suptitle(f"{name} LeNet-300-100 during training")
        fig.tight_layout()
        with atomic_output(os.path.join(out, f"{kind}.png")) as handle:
            fig.savefig(handle, format="png", dpi=110)
        plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", default="0,1,2,5,10",
                        help="epochs at which to record, 0 = initialisation (0,1,2,5,10)")
    parser.add_argument("--examples", type=int, default=10, help="mnist5k test images (10)")
    parser.add_argument("--out", default=OUT, help="output folder")
    parser.add_argument("--readme", action="store_true", help="update analysis/README.md")
    args = parser.parse_args(argv)
    try:
        epochs = sorted({int(e) for e in args.epochs.split(",")})
    except ValueError:
        parser.error(f"--epochs must be comma-separated ints, got {args.epochs!r}")
    if epochs[0] < 0 or max(epochs) < 1 or args.examples < 1:
        parser.error(f"--epochs needs ints >= 0 and one >= 1, --examples a positive int; "
                     f"got {args.epochs!r}, {args.examples}")
    try:
        check_output_dir("--out", args.out)
    except ValueError as err:
        parser.error(str(err))
    start = time.perf_counter()
    rows = run(epochs, args.examples)
    text = table(rows, args.examples, time.perf_counter() - start)
    os.makedirs(args.out, exist_ok=True)
    with atomic_output(os.path.join(args.out, "spectra_training.md"), "w") as f:
        f.write(text + "\n")
    with atomic_output(os.path.join(args.out, "spectra_training.csv"), "w") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    figures(rows, args.out)
    print(text)
    if args.readme:
        update_readme({"spectra-training": text})
    return 0


if __name__ == "__main__":
    sys.exit(main())
