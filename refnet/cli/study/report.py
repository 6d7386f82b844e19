"""The study's table, its files and its plot, from the runs' records."""
from __future__ import annotations

import csv
import json
import math
import os
from collections import defaultdict

import numpy as np

from refnet.cli.spectrum.figure import density_label      # one label for a density everywhere
from refnet.cli.study.methods import METHODS

__all__ = ["summarize", "markdown_table", "write_outputs", "plot_accuracy", "density_label",
           "strict_json"]


def strict_json(value):
    """``value`` with every NaN or infinite float replaced by None, recursively.

    A row whose runs all diverged has NaN accuracies; ``json`` would write them as
    the bare word ``NaN``, which strict JSON parsers refuse.
    """
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _mean_std(values):
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return math.nan, math.nan
    std = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
    return float(np.mean(values)), std


def summarize(result) -> dict:
    """One row per (method, density): the chosen learning rate and its test accuracy.

    For each (method, density) and each learning rate, the validation accuracy
    is averaged over seeds (a diverged run counts as 0); the rate with the best
    average wins (ties: the smaller rate).  ``acc_mean`` and ``acc_std`` are
    the TEST accuracies of that rate's runs (percent; the spread is the sample
    standard deviation over seeds), ``delta`` is ``acc_mean`` minus the dense
    network's ``acc_mean`` (percentage points).

    Returns
    -------
    dict
        ``{"dense_acc": float or None, "rows": [{"method": label, "key": str,
        "density": float, "acc_mean": float, "acc_std": float, "delta": float
        or None, "lr": float, "val_acc": float, "seeds": int, "diverged": int,
        "trainable": int, "nnz_density": float, "note": str or None}, ...],
        "config": {...}, "seconds": float}``; ``note`` is the method's
        :attr:`~refnet.cli.study.methods.Method.notes` at that density (Doping's
        factor sizes and trainable weights against the budget).
    """
    config = result.config
    runs = defaultdict(list)
    for record in result.records:
        runs[(record["method"], record["density"], record["lr"])].append(record)
    rows, chosen = [], {}
    for key in config.methods:
        method = METHODS[key]
        for density in config.densities:
            source = 1.0 if method.density_free else float(density)
            if (key, source) not in chosen:
                best = None
                # ascending, so that a strict ">" sends ties to the smaller rate whatever
                # the order of the grid
                for lr in sorted(config.lrs):
                    recs = runs[(key, source, float(lr))]
                    val = float(np.mean([0.0 if r["diverged"] else r["val_acc"] for r in recs]))
                    if best is None or val > best[0]:
                        best = (val, float(lr), recs)
                chosen[(key, source)] = best
            val, lr, recs = chosen[(key, source)]
            good = [r for r in recs if not r["diverged"]]
            mean, std = _mean_std([r["test_acc"] for r in good])
            note = None if method.notes is None else method.notes(
                config.model, dict(config.model_args), float(density))
            rows.append({
                "method": method.label, "key": key, "density": float(density),
                "acc_mean": mean, "acc_std": std, "delta": None, "lr": lr, "val_acc": val,
                "seeds": len(recs), "diverged": len(recs) - len(good),
                "trainable": int(np.median([r["trainable"] for r in good])) if good else 0,
                "nnz_density": float(np.median([r["nnz_density"] for r in good]))
                if good else math.nan, "note": note})
    dense = [r for r in rows if r["key"] == "dense"]
    dense_acc = dense[0]["acc_mean"] if dense else None
    if dense_acc is not None:
        for row in rows:
            row["delta"] = row["acc_mean"] - dense_acc
    return {"dense_acc": dense_acc, "rows": rows, "config": config.to_dict(),
            "seconds": result.seconds}


def _cell(mean, std, signed=False):
    if mean is None or not math.isfinite(mean):
        return "diverged"
    return f"{mean:+.1f} ± {std:.1f}" if signed else f"{mean:.1f} ± {std:.1f}"


def _label(row) -> str:
    """The row label, with a dagger when the method has notes (listed under the tables)."""
    return row["method"] + (" †" if row.get("note") else "")


def markdown_table(summary: dict) -> str:
    """The talk's table: methods down, densities across, accuracy change against dense.

    A second table gives the test accuracy itself and the learning rate the
    validation split chose.  Rows with notes (Doping: the factor sizes and
    the trainable weights at each density) are marked with a dagger and their
    notes follow the tables.
    """
    config = summary["config"]
    densities = config["densities"]
    by = {(r["key"], r["density"]): r for r in summary["rows"]}
    keys = list(dict.fromkeys(r["key"] for r in summary["rows"]))
    header = "| method | " + " | ".join(density_label(d) for d in densities) + " |"
    rule = "| --- |" + " ---: |" * len(densities)
    lines = []
    if summary["dense_acc"] is not None:
        lines += [f"Δ test accuracy against the dense network ({summary['dense_acc']:.1f}%), "
                  "percentage points, mean ± std over seeds:", "", header, rule]
        for key in keys:
            if key == "dense":
                continue
            cells = []
            for d in densities:
                row = by[(key, d)]
                cells.append(_cell(row["delta"], row["acc_std"], signed=True))
            lines.append(f"| {_label(by[(key, densities[0])])} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["Test accuracy (%), mean ± std over seeds, and the learning rate chosen on the "
              "validation split:", "", header, rule]
    for key in keys:
        cells = []
        for d in densities:
            row = by[(key, d)]
            cells.append(f"{_cell(row['acc_mean'], row['acc_std'])} (lr {row['lr']:g})")
        lines.append(f"| {_label(by[(key, densities[0])])} | " + " | ".join(cells) + " |")
    notes = [f"- {row['method']} at {density_label(row['density'])}: {row['note']}"
             for row in summary["rows"] if row.get("note")]
    if notes:
        lines += ["", "† What the marked rows train (weights only, biases not counted):", ""]
        lines += notes
    c = config
    lines += ["", f"{c['model']} on {c['data']}, {c['optimizer']}, {c['epochs']} epochs, batch "
                  f"{c['batch_size']}, seeds {list(c['seeds'])}, learning rates "
                  f"{list(c['lrs'])}, {c['val_size']} validation examples; "
                  f"{summary['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def plot_accuracy(summary: dict, path: str) -> None:
    """Test accuracy against density (log axis), one line per method, to a PNG.

    Drawn on matplotlib's Agg canvas without pyplot: a file, never a screen, and the
    caller's own backend (a notebook's, say) is left alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    densities = summary["config"]["densities"]
    fig = Figure(figsize=(8.5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    keys = list(dict.fromkeys(r["key"] for r in summary["rows"]))
    for key in keys:
        rows = [r for r in summary["rows"] if r["key"] == key]
        if key == "dense":
            ax.axhline(rows[0]["acc_mean"], color="black", lw=1, label="Dense")
            continue
        style = "--" if METHODS[key].density_free else "-o"
        ax.errorbar([r["density"] for r in rows], [r["acc_mean"] for r in rows],
                    yerr=[r["acc_std"] for r in rows], fmt=style, capsize=3, ms=4,
                    label=rows[0]["method"])
    ax.axhline(10.0, color="grey", lw=0.8, ls=":", label="chance")
    ax.set_xscale("log")
    if not any(math.isfinite(r["acc_mean"]) for r in summary["rows"] if r["key"] != "dense"):
        # every point diverged (NaN): nothing sets the log axis' limits, and matplotlib
        # would refuse its default (0, 1)
        ax.set_xlim(min(densities) / 2, max(densities) * 2)
    ax.set_xticks(densities)
    ax.set_xticklabels([density_label(d) for d in densities])
    ax.set_xlabel("global density of trainable weights")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    config = summary["config"]
    ax.set_title(f"{config['model']} on {config['data']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_outputs(summary: dict, records: list, out: str) -> dict:
    """Write ``study.md``, ``study.csv``, ``study.json``, ``runs.csv`` and
    ``accuracy_vs_density.png`` into ``out``; return their paths.

    ``study.json`` is strict JSON: an undefined number (NaN, a row whose runs all
    diverged) is ``null`` (:func:`strict_json`).
    """
    os.makedirs(out, exist_ok=True)
    paths = {name: os.path.join(out, name) for name in
             ("study.md", "study.csv", "study.json", "runs.csv", "accuracy_vs_density.png")}
    with open(paths["study.md"], "w") as handle:
        handle.write(markdown_table(summary))
    fields = ["method", "key", "density", "acc_mean", "acc_std", "delta", "lr", "val_acc",
              "seeds", "diverged", "trainable", "nnz_density", "note"]
    with open(paths["study.csv"], "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(summary["rows"])
    with open(paths["study.json"], "w") as handle:
        json.dump(strict_json(summary), handle, indent=1, allow_nan=False)
    run_fields = sorted({k for r in records for k in r})
    with open(paths["runs.csv"], "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=run_fields)
        writer.writeheader()
        writer.writerows(records)
    plot_accuracy(summary, paths["accuracy_vs_density.png"])
    return paths
