"""The study's table, its files and its plot, from the runs' records."""
from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import defaultdict

import numpy as np

from refnet._files import atomic_output
from refnet.cli.spectrum.figure import density_label      # one label for a density everywhere
from refnet.cli.study.methods import METHODS

__all__ = ["summarize", "markdown_table", "write_outputs", "plot_accuracy", "density_label",
           "strict_json"]

#: the files :func:`write_outputs` writes
OUTPUT_NAMES = ("study.md", "study.csv", "study.json", "runs.csv", "accuracy_vs_density.png")
ROW_FIELDS = ["method", "key", "density", "acc_mean", "acc_std", "delta", "lr", "val_acc",
              "seeds", "diverged", "trainable", "nnz_density", "note"]


def strict_json(value):
    """``value`` with every NaN or infinite float replaced by None, recursively (``json``
    would write the bare word ``NaN``, which strict parsers refuse)."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summarize(result) -> dict:
    """One row per (method, density): the learning rate chosen on validation and its test
    accuracy, by the protocol of :mod:`refnet.cli.study.runner`.

    Returns ``{"dense_acc", "rows", "config", "seconds", "reused"}`` (``reused``: runs read
    from the store), rows keyed by :data:`ROW_FIELDS`: ``acc_mean`` and ``acc_std`` in percent
    (sample std over seeds), ``delta`` the change against the dense network's ``acc_mean``
    (None without a dense row), ``note`` the method's
    :attr:`~refnet.cli.study.methods.Method.notes` at that density.
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
                # ascending, so that a strict ">" sends ties to the smaller rate
                for lr in sorted(config.lrs):
                    recs = runs[(key, source, float(lr))]
                    val = float(np.mean([0.0 if r["diverged"] else r["val_acc"] for r in recs]))
                    if best is None or val > best[0]:
                        best = (val, float(lr), recs)
                chosen[(key, source)] = best
            val, lr, recs = chosen[(key, source)]
            good = [r for r in recs if not r["diverged"]]
            acc = np.array([r["test_acc"] for r in good], dtype=float)
            rows.append({
                "method": method.label, "key": key, "density": float(density),
                "acc_mean": float(np.mean(acc)) if acc.size else math.nan,
                "acc_std": (float(np.std(acc, ddof=1)) if acc.size > 1 else 0.0)
                if acc.size else math.nan, "delta": None, "lr": lr, "val_acc": val,
                "seeds": len(recs), "diverged": len(recs) - len(good),
                "trainable": int(np.median([r["trainable"] for r in good])) if good else 0,
                "nnz_density": float(np.median([r["nnz_density"] for r in good]))
                if good else math.nan,
                "note": method.notes and method.notes(config.model, dict(config.model_args),
                                                      float(density))})
    dense_acc = next((r["acc_mean"] for r in rows if r["key"] == "dense"), None)
    if dense_acc is not None:
        for row in rows:
            row["delta"] = row["acc_mean"] - dense_acc
    return {"dense_acc": dense_acc, "rows": rows, "config": config.to_dict(),
            "seconds": result.seconds, "reused": result.reused}


def _cell(mean, std, signed=False):
    if mean is None or not math.isfinite(mean):
        return "diverged"
    return f"{mean:+.1f} ± {std:.1f}" if signed else f"{mean:.1f} ± {std:.1f}"


def markdown_table(summary: dict) -> str:
    """The talk's table (methods down, densities across, accuracy change against dense), then
    the test accuracy with the learning rate chosen; rows with notes (Doping's factor sizes
    and trainable weights) carry a dagger and their notes follow the tables."""
    c = summary["config"]
    densities = c["densities"]
    by = {(r["key"], r["density"]): r for r in summary["rows"]}
    keys = list(dict.fromkeys(r["key"] for r in summary["rows"]))
    head = ["", "| method | " + " | ".join(density_label(d) for d in densities) + " |",
            "| --- |" + " ---: |" * len(densities)]

    def table(keys, cell):
        return [f"| {by[(key, densities[0])]['method']}"
                + (" †" if by[(key, densities[0])].get("note") else "") + " | "
                + " | ".join(cell(by[(key, d)]) for d in densities) + " |" for key in keys]

    lines = []
    if summary["dense_acc"] is not None:
        lines += [f"Δ test accuracy against the dense network ({summary['dense_acc']:.1f}%), "
                  "percentage points, mean ± std over seeds:", *head]
        lines += table([k for k in keys if k != "dense"],
                       lambda r: _cell(r["delta"], r["acc_std"], signed=True)) + [""]
    lines += ["Test accuracy (%), mean ± std over seeds, and the learning rate chosen on the "
              "validation split:", *head]
    lines += table(keys, lambda r: f"{_cell(r['acc_mean'], r['acc_std'])} (lr {r['lr']:g})")
    notes = [f"- {row['method']} at {density_label(row['density'])}: {row['note']}"
             for row in summary["rows"] if row.get("note")]
    if notes:
        lines += ["", "† What the marked rows train (weights only, biases not counted):", "",
                  *notes]
    lines += ["", f"{c['model']} on {c['data']}, {c['optimizer']}, {c['epochs']} epochs, batch "
                  f"{c['batch_size']}, seeds {list(c['seeds'])}, learning rates "
                  f"{list(c['lrs'])}, {c['val_size']} validation examples; "
                  f"{summary['seconds']:.0f} s"
                  + (f", {summary['reused']} runs read from the store." if summary.get("reused")
                     else ".")]
    return "\n".join(lines) + "\n"


def plot_accuracy(summary: dict, path: str) -> None:
    """Test accuracy against density (log axis), one line per method, to a PNG written whole
    (on an Agg canvas without pyplot, so the caller's backend is left alone)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    densities = summary["config"]["densities"]
    fig = Figure(figsize=(8.5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for key in dict.fromkeys(r["key"] for r in summary["rows"]):
        rows = [r for r in summary["rows"] if r["key"] == key]
        if key == "dense":
            ax.axhline(rows[0]["acc_mean"], color="black", lw=1, label="Dense")
            continue
        ax.errorbar([r["density"] for r in rows], [r["acc_mean"] for r in rows],
                    yerr=[r["acc_std"] for r in rows], capsize=3, ms=4, label=rows[0]["method"],
                    fmt="--" if METHODS[key].density_free else "-o")
    ax.axhline(10.0, color="grey", lw=0.8, ls=":", label="chance")
    ax.set_xscale("log")
    if not any(math.isfinite(r["acc_mean"]) for r in summary["rows"] if r["key"] != "dense"):
        # only NaN: nothing sets the log axis' limits, and matplotlib refuses its default (0, 1)
        ax.set_xlim(min(densities) / 2, max(densities) * 2)
    ax.set_xticks(densities)
    ax.set_xticklabels([density_label(d) for d in densities])
    ax.set_xlabel("global density of trainable weights")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"{summary['config']['model']} on {summary['config']['data']}", fontsize=9)
    fig.tight_layout()
    with atomic_output(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=120)


def _write_csv(path, fields, rows):
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    with atomic_output(path, "wb") as handle:
        handle.write(text.getvalue().encode())


def write_outputs(summary: dict, records: list, out: str) -> dict:
    """Write ``study.md``, ``study.csv``, ``study.json`` (strict JSON: NaN as null),
    ``runs.csv`` and ``accuracy_vs_density.png`` into ``out``, each whole or not at all;
    return their paths."""
    os.makedirs(out, exist_ok=True)
    paths = {name: os.path.join(out, name) for name in OUTPUT_NAMES}
    with atomic_output(paths["study.md"], "w") as handle:
        handle.write(markdown_table(summary))
    _write_csv(paths["study.csv"], ROW_FIELDS, summary["rows"])
    with atomic_output(paths["study.json"], "w") as handle:
        json.dump(strict_json(summary), handle, indent=1, allow_nan=False)
    _write_csv(paths["runs.csv"], sorted({k for r in records for k in r}), records)
    plot_accuracy(summary, paths["accuracy_vs_density.png"])
    return paths
