"""Write why the spectra look as they do: ReLU activity, the orthogonal-ReLU law, structural rank.

    python analysis/spectrum_why.py --readme

Measures (:func:`relu_rows`) DCTpS networks at initialisation (``S = 0``, ``alpha = 1``) with
each fixed offset, and the dense Kaiming network: the active fraction of every ReLU on real
images and the mean squared singular value of the input-output Jacobian against the
free-probability prediction ``prod_l p_l`` (:func:`refnet.spectra.orthogonal_relu_moments`;
the second moment only for equal hidden widths); and (:func:`structural_rows`) the structural
rank of the supports the study's pruning-at-initialisation methods draw, seeded as the study
seeds them.  Writes into analysis/out/ spectrum_relu.md (active fractions, on the spectrum
figure's 784-256x6-10 MLP and the study's LeNet-300-100 with EPL supports), spectrum_hidden.md
(mean sigma^2 against 2^-L and against the product of the active fractions),
spectrum_structural.md (seeds 0-4) and spectrum_theory.png (:func:`plot_theory`), and with
--readme puts the three tables into analysis/README.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)   # this clone's refnet, whether or not it is installed
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from readme_blocks import update_readme  # noqa: E402
from refnet._files import atomic_output  # noqa: E402
from refnet.cli.spectrum.study import DEFAULT_SIZES, real_inputs  # noqa: E402
from refnet.data import prepare  # noqa: E402
from refnet.jacobian import jacobian  # noqa: E402
from refnet.models import build_model, structural_supports  # noqa: E402
from refnet.offsets import RANDOM_OFFSETS  # noqa: E402
from refnet.spectra import (orthogonal_relu_curve, orthogonal_relu_moments,  # noqa: E402
                            relu_active_fractions, singular_values, sq_sv_density_to_log10,
                            structural_rank)

#: ``name -> (model, model_args, support distribution)``: the spectrum figure's MLP and the
#: study's network.
NETWORKS = {"MLP 784-256x6-10 (uniform)": ("mlp", {"sizes": list(DEFAULT_SIZES)}, "uniform"),
            "LeNet-300-100 (EPL)": ("lenet300", {}, "epl")}
#: The offsets measured; ``none`` with ``S = 0`` is the zero network, so it is left out.
OFFSETS = ("dct", "randomized-dct", "orthogonal", "identity")
#: Study methods that draw their supports at initialisation (IMP and RigL move theirs in
#: training).
STRUCTURAL_METHODS = ("random-uniform", "random-epl", "snip", "force", "synflow")
#: Offsets the orthogonal-ReLU law is about: they mix the units, so the ReLUs' 0/1 patterns
#: act as projections in general position.  ``identity`` keeps unit i in place (its output i
#: is live only while unit i is on in every layer) and Kaiming weights are not orthogonal.
_MIXING = ("dct", "randomized-dct", "orthogonal")


def relu_rows(networks=tuple(NETWORKS), offsets=OFFSETS, *, examples: int = 64,
              seed: int = 0, density: float = 0.01) -> list[dict]:
    """One row per network and offset (then the dense Kaiming network) at initialisation.

    Seeding as :func:`refnet.cli.spectrum.study.spectrum_study`:
    ``SeedSequence(seed).spawn(2)`` for supports and parameters; a random
    offset's seed is ``seed``.  With ``S = 0`` the support (at ``density``) does
    not change the network.  Each row: ``network``, ``offset`` (``"dense"`` for
    the reference), ``active`` (per ReLU, first to last), ``mean_sq``,
    ``mean_sq2`` (means of ``sigma**2`` and ``sigma**4`` over all examples'
    values), ``product`` (``prod active``) and ``theory_sq2`` (the law's second
    moment, None unless the hidden widths are equal), ``sq`` (every ``sigma**2``).
    """
    support_seed, param_seed = np.random.SeedSequence(seed).spawn(2)
    rows = []
    for name in networks:
        model, model_args, distribution = NETWORKS[name]
        builds = [(offset, dict(kind="dctps", density=density, distribution=distribution,
                                rng=np.random.default_rng(support_seed), sparse_init="zeros",
                                offset=offset,
                                offset_seed=seed if offset in RANDOM_OFFSETS else None))
                  for offset in offsets] + [("dense", {})]
        for offset, kwargs in builds:
            net = build_model(model, **kwargs, **model_args)
            params = net.init(np.random.default_rng(param_seed))
            x = real_inputs(net.input_shape, examples, seed=seed).x
            active = list(relu_active_fractions(net, params, x).values())
            sq = singular_values(jacobian(net, params, x)).ravel() ** 2
            widths = model_args.get("sizes", [])[1:-1]
            equal = len(set(widths)) == 1
            rows.append({"network": name, "offset": offset, "active": active,
                         "mean_sq": float(sq.mean()), "mean_sq2": float((sq ** 2).mean()),
                         "product": float(np.prod(active)),
                         "theory_sq2": float(orthogonal_relu_moments(
                             active, 2, model_args["sizes"][-1] / widths[0])) if equal else None,
                         "sq": sq})
    return rows


def structural_rows(methods=STRUCTURAL_METHODS, densities=(1e-2, 1e-3, 1e-4),
                    seeds=range(5), *, model: str = "lenet300") -> list[dict]:
    """``{"method", "density", "ranks"}``: the structural rank of each seed's supports.

    Each support is drawn as the study draws it for that seed (its split of mnist5k,
    ``SeedSequence(seed).spawn(3)`` for supports, parameters and offsets, and the
    method's ``prepare``), so a rank here belongs to the network the study trained.
    """
    from refnet.cli.study.methods import METHODS, Context     # the study's own recipes
    from refnet.cli.study.runner import StudyConfig
    config = StudyConfig()
    split = prepare(config.data, seed=config.split_seed, val_size=config.val_size,
                    flatten=True)
    rows = []
    for method in methods:
        for density in densities:
            ranks = []
            for seed in seeds:
                support_seq, init_seq, _ = np.random.SeedSequence(seed).spawn(3)
                ctx = Context(model, {}, density, np.random.default_rng(support_seq),
                              np.random.default_rng(init_seq), split.x_train, split.y_train,
                              seed)
                net, _ = METHODS[method].prepare(ctx)
                ranks.append(structural_rank(structural_supports(net)).rank_bound)
            rows.append({"method": METHODS[method].label, "density": density, "ranks": ranks})
    return rows


def _f(value, digits=3) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def relu_table(rows) -> str:
    """Markdown: the active fraction of each ReLU, per network and offset."""
    lines = ["| network | offset | active fraction per ReLU, first to last |",
             "|---|---|---|"]
    lines += [f"| {r['network']} | {r['offset']} | "
              f"{', '.join(f'{p:.3f}' for p in r['active'])} |" for r in rows]
    return "\n".join(lines)


def hidden_table(rows) -> str:
    """Markdown: mean sigma^2 measured against ``2**-L`` and against ``prod p``."""
    lines = ["| network | offset | ReLUs | mean sigma^2 | 2^-L (p = 1/2) | product of p "
             "(theory) | measured / theory | mean sigma^4 | theory sigma^4 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["offset"] not in _MIXING:
            continue
        L = len(r["active"])
        lines.append(f"| {r['network']} | {r['offset']} | {L} | {r['mean_sq']:.4f} | "
                     f"{2.0 ** -L:.4f} | {r['product']:.4f} | "
                     f"{r['mean_sq'] / r['product']:.2f} | {_f(r['mean_sq2'])} | "
                     f"{_f(r['theory_sq2'])} |")
    return "\n".join(lines)


def structural_table(rows) -> str:
    """Markdown: structural rank per method and density, one entry per seed."""
    lines = ["| method | density | structural rank, seeds 0-4 |", "|---|---:|---|"]
    lines += [f"| {r['method']} | {100 * r['density']:.10g}% | "
              f"{', '.join(map(str, r['ranks']))} |" for r in rows]
    return "\n".join(lines)


def plot_theory(rows, path) -> None:
    """Histograms of ``log10 sigma`` of the MLP's offsets in ``rows``, each with the
    orthogonal-ReLU density for its own measured active fractions (the law is for equal
    hidden widths, so LeNet-300-100 is not drawn)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    network = "MLP 784-256x6-10 (uniform)"
    model_args = NETWORKS[network][1]
    q = model_args["sizes"][-1] / model_args["sizes"][1]
    panels = [r for r in rows if r["network"] == network and r["offset"] in _MIXING]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.0), sharey=True,
                             squeeze=False)
    for ax, r in zip(axes[0], panels):
        ax.hist(np.log10(r["sq"]) / 2, bins=np.linspace(-2, 0.5, 76), density=True, color="0.75",
                label=f"measured ({r['sq'].size} values)")
        u, pdf = sq_sv_density_to_log10(*orthogonal_relu_curve(r["active"], q))
        ax.plot(u, pdf, color="tab:red", label="orthogonal-ReLU law")
        ax.set_title(f"{r['offset']}: mean sigma^2 {r['mean_sq']:.3g}\n"
                     f"theory {r['product']:.3g}", fontsize=9)
        ax.set_xlabel("log10 sigma")
        ax.set_xlim(-2, 0.5)
    axes[0][0].set_ylabel("density")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{network}, S = 0: Jacobian spectrum against free probability "
                 "with the measured active fractions", fontsize=9)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
#: README block -> the file that holds its table
BLOCKS = {"spectrum-relu": "spectrum_relu.md", "spectrum-hidden": "spectrum_hidden.md",
          "spectrum-structural": "spectrum_structural.md"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true",
                        help="put the tables into their blocks of analysis/README.md")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = relu_rows()
    tables = {"spectrum-relu": relu_table(rows), "spectrum-hidden": hidden_table(rows),
              "spectrum-structural": structural_table(structural_rows())}
    os.makedirs(OUT, exist_ok=True)
    for marker, name in BLOCKS.items():
        with atomic_output(os.path.join(OUT, name), "w") as handle:
            handle.write(tables[marker] + "\n")
        print(tables[marker] + "\n")
    plot_theory(rows, os.path.join(OUT, "spectrum_theory.png"))
    if args.readme:
        update_readme(tables)
    print(f"{time.perf_counter() - start:.1f} s, files in {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
