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
from refnet.cli.study.runner import MAX_EXTENSIONS, choose, groups_of, settings_of

__all__ = ["summarize", "markdown_table", "write_outputs", "plot_accuracy", "density_label",
           "strict_json", "t_interval", "COMPARISONS"]

#: the files :func:`write_outputs` writes
OUTPUT_NAMES = ("study.md", "study.csv", "study.json", "runs.csv", "accuracy_vs_density.png")
ROW_FIELDS = ["method", "key", "density", "acc_mean", "acc_std", "acc_ci", "delta", "lr",
              "edge", "options", "val_acc", "cost", "seeds", "diverged", "trainable",
              "nnz_density", "needs", "note"]
#: The pairs of rows the READMEs compare, ``(a, b)``: the table of paired differences a - b.
COMPARISONS = (("dctps-epl", "imp"), ("dctps-epl", "dct-only"), ("subspace", "dctps-epl"),
               ("dctps-rigl", "dctps-epl"), ("subspace", "subspace-projected"),
               ("dctps-epl", "dctps-epl-fixed-alpha"), ("dct-only", "dct-only-fixed-alpha"))


def strict_json(value):
    """``value`` with every NaN or infinite float replaced by None, recursively (``json``
    writes a bare ``NaN``, which strict parsers refuse)."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def t_interval(values) -> tuple[float, float]:
    """``(mean, half-width)`` of the 95% Student-t interval of the mean of ``values``:
    ``t_{0.975, n-1} * s / sqrt(n)``, ``s`` the sample standard deviation; the half-width is
    NaN for fewer than two values (and both for none)."""
    from scipy.stats import t
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return math.nan, math.nan
    if values.size == 1:
        return float(values[0]), math.nan
    half = t.ppf(0.975, values.size - 1) * np.std(values, ddof=1) / math.sqrt(values.size)
    return float(np.mean(values)), float(half)


def summarize(result) -> dict:
    """``{"dense_acc", "rows", "differences", "config", "seconds", "reused"}``: one row per
    (method, density) with the setting and rate chosen on validation and its test accuracy
    (:mod:`refnet.cli.study.runner`), keyed by :data:`ROW_FIELDS`.

    ``acc_mean`` is in percent, ``acc_std`` the sample std and ``acc_ci`` the 95% t-interval's
    half-width over seeds, ``delta`` the change against the dense ``acc_mean``, ``edge``
    "top"/"bottom" when the rate chosen is still an end of its grid, ``cost`` the epochs one
    run trains in all, ``needs`` the least density the method meets when this one is below it
    (nothing trained); ``differences``: per :data:`COMPARISONS` pair (then each
    ``dctps-epl@OFFSET`` against ``dctps-epl``) and density, paired over the ``n`` seeds
    where neither run diverged (the table says so when that is fewer than all).
    """
    config = result.config
    groups = groups_of(result.records)
    rows, test_by_seed = [], {}
    for key in config.methods:
        method = METHODS[key]
        for density in config.densities:
            source = 1.0 if method.density_free else float(density)
            needs = method.needs and method.needs(config.model, dict(config.model_args), source)
            row = {"method": method.label, "key": key, "density": float(density),
                   "acc_mean": math.nan, "acc_std": math.nan, "acc_ci": math.nan,
                   "delta": None, "lr": None, "edge": None, "options": {}, "val_acc": None,
                   "cost": None, "seeds": 0, "diverged": 0, "trainable": 0,
                   "nnz_density": math.nan, "needs": needs, "note": None}
            rows.append(row)
            if needs:
                continue
            best = None
            for options in settings_of(config, key):     # ties go to the earlier setting
                by_lr = groups[(key, source, options)]
                val, lr = choose(by_lr)
                if best is None or val > best[0]:
                    best = (val, lr, options, by_lr)
            val, lr, options, by_lr = best
            recs = by_lr[lr]
            good = [r for r in recs if not r["diverged"]]
            acc = [r["test_acc"] for r in good]
            mean, half = t_interval(acc)
            lrs = sorted(by_lr)
            test_by_seed[(key, float(density))] = {r["seed"]: r["test_acc"] for r in good}
            row.update(acc_mean=mean, acc_ci=half, lr=lr, options=dict(options), val_acc=val,
                       acc_std=float(np.std(acc, ddof=1)) if len(acc) > 1 else math.nan,
                       edge=None if len(lrs) < 2 else "top" if lr == lrs[-1]
                       else "bottom" if lr == lrs[0] else None,
                       cost=int(np.median([r.get("epochs", config.epochs) for r in recs])),
                       seeds=len(recs), diverged=len(recs) - len(good),
                       trainable=int(np.median([r["trainable"] for r in good])) if good else 0,
                       nnz_density=float(np.median([r["nnz_density"] for r in good]))
                       if good else math.nan,
                       note=method.notes and method.notes(config.model, dict(config.model_args),
                                                          float(density)))
    dense_acc = next((r["acc_mean"] for r in rows if r["key"] == "dense"), None)
    if dense_acc is not None:
        for row in rows:
            row["delta"] = row["acc_mean"] - dense_acc
    differences = []       # and each other offset's DCTpS row against the DCT's (--offsets)
    offsets = tuple((k, "dctps-epl") for k in config.methods if k.startswith("dctps-epl@"))
    for a, b in COMPARISONS + offsets:
        for density in config.densities:
            if (a, density) in test_by_seed and (b, density) in test_by_seed:
                ta, tb = test_by_seed[(a, density)], test_by_seed[(b, density)]
                both = sorted(set(ta) & set(tb))      # a diverged run leaves its seed out
                mean, half = t_interval([ta[s] - tb[s] for s in both])
                differences.append({"a": a, "b": b, "density": float(density), "mean": mean,
                                    "ci": half, "shown": bool(abs(mean) > half),
                                    "n": len(both)})
    return {"dense_acc": dense_acc, "rows": rows, "differences": differences,
            "config": config.to_dict(), "seconds": result.seconds, "reused": result.reused}


def _cell(mean, half, signed=False):
    if mean is None or not math.isfinite(mean):
        return "diverged"
    text = f"{mean:+.1f}" if signed else f"{mean:.1f}"
    return text if not math.isfinite(half) else f"{text} ± {half:.1f}"


def _needs(row) -> str:
    return f"n/a (needs >= {100 * row['needs']:.2g}%)"


#: how the table names the tuned settings (RigL's); others (IMP's fixed rate) go unnamed
_SETTING_NAMES = {"delta_t": "delta_t", "alpha": "drop"}


def _setting(row) -> str:
    return "".join(f", {label} {row['options'][name]:g}" for name, label in
                   _SETTING_NAMES.items() if name in row["options"])


def markdown_table(summary: dict) -> str:
    """The talk's table (methods down, densities across, accuracy change against dense), then
    the test accuracy with the setting and learning rate chosen and each run's cost in epochs,
    then the paired differences of :data:`COMPARISONS`; rows with notes (the Kronecker rows'
    factor sizes) carry a dagger and their notes follow the tables."""
    c = summary["config"]
    densities, seeds = c["densities"], len(c["seeds"])
    by = {(r["key"], r["density"]): r for r in summary["rows"]}
    keys = list(dict.fromkeys(r["key"] for r in summary["rows"]))
    labels = [density_label(d) for d in densities]
    spread = (f"mean ± half-width of the 95% t-interval over {seeds} seeds" if seeds > 1
              else "one seed")

    def head(columns):
        return ["", "| method | " + " | ".join(columns) + " |",
                "| --- |" + " ---: |" * len(columns)]

    def table(keys, cells):
        return [f"| {by[(key, densities[0])]['method']}"
                + (" †" if any(by[(key, d)].get("note") for d in densities) else "") + " | "
                + " | ".join(cell for d in densities for cell in cells(by[(key, d)])) + " |"
                for key in keys]

    def delta(row):
        return [_needs(row) if row["needs"] else _cell(row["delta"], row["acc_ci"], True)]

    def test(row):
        if row["needs"]:
            return [_needs(row), "—"]
        edge = f", at {row['edge']} edge" if row["edge"] else ""
        return [f"{_cell(row['acc_mean'], row['acc_ci'])} (lr {row['lr']:g}{edge}"
                f"{_setting(row)})", f"{row['cost']}"]

    lines = []
    if summary["dense_acc"] is not None:
        lines += [f"Δ test accuracy against the dense network ({summary['dense_acc']:.1f}%), "
                  f"percentage points, {spread} of the method's own accuracy (the paired "
                  "differences are below):", *head(labels)]
        lines += table([k for k in keys if k != "dense"], delta) + [""]
    lines += [f"Test accuracy (%), {spread}, with the learning rate (and setting) chosen on "
              "the validation split; cost: the epochs one run trains in all:",
              *head([x for label in labels for x in (label, "cost")])]
    lines += table(keys, test)
    if summary.get("differences"):
        name = {r["key"]: r["method"] for r in summary["rows"]}
        lines += ["", "Paired differences a - b over seeds (each seed's runs share the split "
                  "and the seed's generators, so supports drawn alike are the same), test "
                  "accuracy points, mean ± half-width of the 95% t-interval; where the "
                  "interval covers 0, no difference is shown:",
                  "", "| a - b | " + " | ".join(labels) + " |",
                  "| --- |" + " ---: |" * len(labels)]
        for a, b in dict.fromkeys((d["a"], d["b"]) for d in summary["differences"]):
            got = {d["density"]: d for d in summary["differences"]
                   if (d["a"], d["b"]) == (a, b)}
            lines.append(f"| {name[a]} - {name[b]} | " + " | ".join(
                "n/a" if d not in got else _cell(got[d]["mean"], got[d]["ci"], True)
                + ("" if got[d]["shown"] else " (no difference shown)")
                + ("" if got[d]["n"] == seeds else f" (over {got[d]['n']} seeds)")
                for d in densities)
                + " |")
    notes = [f"- {row['method']} at {density_label(row['density'])}: {row['note']}"
             for row in summary["rows"] if row.get("note") and not row["needs"]]
    if notes:
        lines += ["", "† What the marked rows train (weights only, biases not counted):", "",
                  *notes]
    n = c["val_size"]
    se = 100 * math.sqrt(0.25 / n)
    lines += ["", f"Validation: {n} examples; one run's accuracy has a binomial standard error "
                  f"of up to {se:.1f} points (sqrt(p (1 - p) / {n}) at p = 1/2; "
                  f"{100 * math.sqrt(0.09 / n):.1f} at 90%), the mean over {seeds} seeds up to "
                  f"{se / math.sqrt(seeds):.1f}: two rates or settings whose mean validation "
                  f"accuracies differ by less than about {2 * se / math.sqrt(seeds):.1f} points "
                  "are not told apart by the selection."]
    rigl = ", ".join(f"({d}, {a:g})" for d, a in c["rigl"])
    lines += ["", f"{c['model']} on {c['data']}, {c['optimizer']}, {c['epochs']} epochs, batch "
                  f"{c['batch_size']}, seeds {list(c['seeds'])}, learning rates "
                  f"{list(c['lrs'])} (an end that wins extends, at most "
                  f"{MAX_EXTENSIONS} times), IMP rounds of {c['prune_epochs']} epoch"
                  f"{'s' if c['prune_epochs'] != 1 else ''}, RigL "
                  f"(delta_t, alpha) from {rigl}, {c['val_size']} validation examples; "
                  f"{summary['seconds']:.0f} s"
                  + (f", {summary['reused']} runs read from the store." if summary.get("reused")
                     else ".")]
    return "\n".join(lines) + "\n"


_MARKERS = "osD^v<>pPXh*d8s"


def plot_accuracy(summary: dict, path: str) -> None:
    """Test accuracy against density, one line per method with 95% t-intervals, to a PNG
    (on an Agg canvas without pyplot: the caller's backend is left alone)."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    densities = summary["config"]["densities"]
    fig = Figure(figsize=(8.5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    # tab20's ten dark colours first, then their light twins: neighbours in the legend differ
    colours = colormaps["tab20"].colors[0::2] + colormaps["tab20"].colors[1::2]
    for i, key in enumerate(dict.fromkeys(r["key"] for r in summary["rows"])):
        rows = [r for r in summary["rows"] if r["key"] == key and not r.get("needs")]
        if key == "dense":
            ax.axhline(rows[0]["acc_mean"], color="black", lw=1, label="Dense")
            continue
        if not rows:
            continue
        ax.errorbar([r["density"] for r in rows], [r["acc_mean"] for r in rows],
                    yerr=[0.0 if r.get("acc_ci") is None or not math.isfinite(r["acc_ci"])
                          else r["acc_ci"] for r in rows],
                    capsize=3, ms=5, label=rows[0]["method"], color=colours[i % 20],
                    marker=_MARKERS[i % len(_MARKERS)],
                    ls="--" if METHODS[key].density_free else "-")
    ax.axhline(10.0, color="grey", lw=0.8, ls=":", label="chance")
    ax.set_xscale("log")
    if not any(math.isfinite(r["acc_mean"]) for r in summary["rows"] if r["key"] != "dense"):
        # only NaN: nothing sets the log axis' limits, and matplotlib refuses its default (0, 1)
        ax.set_xlim(min(densities) / 2, max(densities) * 2)
    ax.set_xticks(densities)
    ax.set_xticklabels([density_label(d) for d in densities])
    ax.minorticks_off()
    ax.set_xlabel("global density of trainable weights")
    ax.set_ylabel("test accuracy (%), 95% t-intervals")
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
    """Write :data:`OUTPUT_NAMES` into ``out``, each whole or not at all; return their paths."""
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
