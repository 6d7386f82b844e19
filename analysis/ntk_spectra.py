"""The empirical NTK of LeNet-300-100 at initialisation against density (analysis/README.md,
"The parameter Jacobian and the empirical NTK").

    python analysis/ntk_spectra.py --readme     # analysis/out/ntk/: ntk.md, ntk.csv, ntk.png

For DCTpS (``S = 0``, ``alpha = 1``), plain sparse with both Kaiming inits (EPL supports, as
the study's rows) and the random subspace of matched dimension (sparse projection, biases
included), at the study's densities 1%, 0.1% and 0.01%, and the dense network: the
eigenvalues of ``K = J_theta @ J_theta.T`` over the trainable parameters at ``--examples``
mnist5k test images (``refnet.spectra.tangent_kernel``, matrix-free, then materialised).
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
from refnet.cli.spectrum.study import real_inputs  # noqa: E402
from refnet.core.tree import tree_size  # noqa: E402
from refnet.models import build_model  # noqa: E402
from refnet.sparsity import SubspaceNetwork, matched_dim  # noqa: E402
from refnet.spectra import kernel_spectrum, tangent_kernel  # noqa: E402

OUT = os.path.join(HERE, "out", "ntk")
DENSITIES = (1e-2, 1e-3, 1e-4)
KINDS = ("DCTpS, S = 0", "sparse, kaiming-dense", "sparse, kaiming-sparse", "random subspace")


def network(kind: str, density: float, seed: int):
    """``(net, params)`` of one row, its supports and parameters drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    if kind == "dense":
        net = build_model("lenet300")
        return net, net.init(rng)
    if kind == "random subspace":
        net = build_model("lenet300")
        sub = SubspaceNetwork(net, net.init(rng), matched_dim(net, density), projection="sparse",
                              rng=rng)
        return sub, sub.init(rng)
    if kind.startswith("DCTpS"):
        net = build_model("lenet300", kind="dctps", density=density, distribution="epl", rng=rng)
    else:
        net = build_model("lenet300", kind="sparse", density=density, distribution="epl",
                          rng=rng, sparse_init=kind.split(", ")[1])
    return net, net.init(rng)


def run(examples: int, seed: int = 0) -> list[dict]:
    x = real_inputs((784,), examples, dataset="mnist5k", seed=seed).x
    rows = []
    for kind, density in [("dense", 1.0)] + [(k, d) for k in KINDS for d in DENSITIES]:
        net, params = network(kind, density, seed)
        s = kernel_spectrum(tangent_kernel(net, params, x))
        rows.append(dict(kind=kind, density=density, trainable=tree_size(params),
                         rank=s.rank, size=len(s.eigenvalues),
                         effective_rank=s.effective_rank, condition=s.condition,
                         lam_max=s.eigenvalues[0], lam_min=s.eigenvalues[-1],
                         eigenvalues=s.eigenvalues))
    return rows


def table(rows, examples: int, seconds: float) -> str:
    lines = ["| network | density | trainable | rank of K | effective rank | largest "
             "eigenvalue | condition number |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        cond = "inf" if np.isinf(r["condition"]) else f"{r['condition']:.3g}"
        lines.append(f"| {r['kind']} | {100 * r['density']:g}% | {r['trainable']} | "
                     f"{r['rank']} / {r['size']} | {r['effective_rank']:.1f} | "
                     f"{r['lam_max']:.3g} | {cond} |")
    return "\n".join(lines + ["", f"K = J_theta J_theta^T over the trainable parameters at "
                              f"{examples} mnist5k test images (K is {rows[0]['size']} x "
                              f"{rows[0]['size']}), LeNet-300-100 at initialisation, seed 0; "
                              f"{seconds:.0f} s."])


def figure(rows, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colours = dict(zip(DENSITIES, plt.cm.viridis(np.linspace(0, 0.85, len(DENSITIES)))))
    dense = next(r for r in rows if r["kind"] == "dense")
    fig, axes = plt.subplots(1, len(KINDS), figsize=(4 * len(KINDS), 3.4), sharey=True)
    for ax, kind in zip(axes, KINDS):
        ax.semilogy(dense["eigenvalues"], "k--", lw=1, label="dense")
        for r in (r for r in rows if r["kind"] == kind):      # the rest are rounding
            ax.semilogy(r["eigenvalues"][:r["rank"]], ".-", ms=2, color=colours[r["density"]],
                        label=f"{100 * r['density']:g}%")
        ax.set(title=kind, xlabel="index (descending; those within rounding of 0 left out)")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("eigenvalue of K")
    fig.tight_layout()
    with atomic_output(path) as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20, help="mnist5k test images (20)")
    parser.add_argument("--out", default=OUT, help="output folder (analysis/out/ntk)")
    parser.add_argument("--readme", action="store_true", help="update analysis/README.md")
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error(f"--examples must be a positive int, got {args.examples}")
    try:
        check_output_dir("--out", args.out)
    except ValueError as err:
        parser.error(str(err))
    start = time.perf_counter()
    rows = run(args.examples)
    text = table(rows, args.examples, time.perf_counter() - start)
    os.makedirs(args.out, exist_ok=True)
    with atomic_output(os.path.join(args.out, "ntk.md"), "w") as f:
        f.write(text + "\n")
    with atomic_output(os.path.join(args.out, "ntk.csv"), "w") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", "density", "index", "eigenvalue"])
        writer.writerows((r["kind"], r["density"], i, repr(float(v)))
                         for r in rows for i, v in enumerate(r["eigenvalues"]))
    figure(rows, os.path.join(args.out, "ntk.png"))
    print(text)
    if args.readme:
        update_readme({"ntk-spectra": text})
    return 0


if __name__ == "__main__":
    sys.exit(main())
