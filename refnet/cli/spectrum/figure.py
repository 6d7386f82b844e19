"""The figure of a spectrum study: distributions of log10 sigma, and the zero atom."""
from __future__ import annotations

import math
import os

import numpy as np

from refnet._files import atomic_output
from refnet.spectra import pooled_nonzero

__all__ = ["plot_study", "density_label"]

_COLOURS = {("dense", "kaiming-normal"): "0.45", ("dctps", "zeros"): "tab:blue",
            ("sparse", "kaiming-dense"): "tab:orange", ("sparse", "kaiming-sparse"): "tab:red"}
_OTHER_COLOURS = ("tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def density_label(density: float) -> str:
    """``0.0005 -> "0.05%"``, ``1.0 -> "100%"``."""
    return f"{100 * density:.10g}%"


def _series(row) -> str:
    if row["source"] != "init":           # trained: S is no longer its initial value
        return f"{row['kind']}, {row['init']} init, epoch {row['epoch']}"
    if row["kind"] == "dense":
        return "dense (Kaiming)"
    if row["kind"] == "dctps":
        offset = row.get("offset") or "dct"
        name = "DCTpS" if offset == "dct" else f"{offset} offset + S"
        return f"{name} (S {'= 0' if row['init'] == 'zeros' else row['init']})"
    return f"sparse, {row['init']}"


def _column(row) -> str:
    if row["source"] != "init":
        return os.path.basename(row["source"])
    return "dense" if row["kind"] == "dense" else density_label(row["density"])


def plot_study(study, path) -> None:
    """Draw a :class:`~refnet.cli.spectrum.study.SpectrumStudy` into the file ``path``, its
    format from the suffix, on matplotlib's Agg canvas (never a screen).

    Left: per column (the dense reference, then each density; or each checkpoint) and
    variant, the distribution of ``log10 sigma`` over the NONZERO singular values as a
    mirrored histogram whose width is the share of ALL values in each bin (a big zero atom
    looks thin, an all-zero spectrum is a cross at the bottom), ``frac_zero`` above it.
    Right (a density sweep): ``frac_zero`` against density per variant, with the structural
    lower bound ``1 - rank_bound / min(m, n)``.
    """
    # without pyplot: the caller's own matplotlib backend (a notebook's, say) is left alone
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows, sigmas = study.rows, study.sigma
    columns = list(dict.fromkeys(_column(r) for r in rows))
    series = list(dict.fromkeys(_series(r) for r in rows))
    colours, spare = {}, iter(_OTHER_COLOURS)
    for r in rows:
        key = _series(r)
        if key not in colours:
            default = _COLOURS.get((r["kind"], r["init"])) if r["source"] == "init" else None
            colours[key] = default or next(spare, "k")
    logs = [np.log10(pooled_nonzero(s, (r["m"], r["n"]))[0]) for r, s in zip(rows, sigmas)]
    present = [v for v in logs if v.size]
    lo = math.floor(min(v.min() for v in present)) if present else -1.0
    hi = math.ceil(max(v.max() for v in present)) if present else 1.0
    hi = max(hi, lo + 1)
    edges = np.linspace(lo, hi, 8 * int(hi - lo) + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    shares = [np.histogram(v, edges)[0] / max(r["n_values"], 1) for v, r in zip(logs, rows)]
    peak = max((s.max() for s in shares if s.size), default=1.0) or 1.0

    at_init = all(r["source"] == "init" for r in rows)
    sweep = at_init and len({r["density"] for r in rows if r["kind"] != "dense"}) > 1
    fig = Figure(figsize=(13, 5) if sweep else (max(6, 1.6 * len(columns) + 2), 5))
    FigureCanvasAgg(fig)
    if sweep:
        ax, ax_zero = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3.2, 1.3]})
    else:
        ax = fig.subplots()
    in_column = {c: [s for s in series if any(_column(q) == c and _series(q) == s
                                             for q in rows)] for c in columns}
    slot = 0.9 / max(len(v) for v in in_column.values())   # one variant's share of a column
    half = 0.47 * slot
    for r, share, v in zip(rows, shares, logs):
        c, s = columns.index(_column(r)), _series(r)
        here = in_column[_column(r)]
        pos = c + (here.index(s) - (len(here) - 1) / 2) * slot
        colour = colours[s]
        width = half * share / peak
        ax.fill_betweenx(centres, pos - width, pos + width, step="mid", color=colour,
                         alpha=0.75, linewidth=0)
        if v.size == 0:
            ax.plot([pos], [lo + 0.15], marker="x", color=colour, markersize=7, mew=2)
        ax.text(pos, hi + 0.1, f"{100 * r['frac_zero']:.0f}%", ha="center", va="bottom",
                fontsize=7, color=colour, rotation=90 if len(here) > 2 else 0)
    ax.set_xticks(range(len(columns)), columns)
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.set_ylim(lo, hi + 1.0)
    ax.set_ylabel("log10 of the nonzero singular values")
    distributions = {r["distribution"] for r in rows if r["kind"] != "dense"}
    where = "checkpoint" if not at_init else "global density" + (
        f" ({distributions.pop()} over layers)" if len(distributions) == 1 else "")
    ax.set_xlabel(where + "   (numbers above: % of singular values that are zero; x: all zero)")
    ax.axhline(hi, color="0.8", linewidth=0.8)
    ax.legend(handles=[Patch(color=colours[s], label=s) for s in series], fontsize=8,
              loc="lower left", framealpha=0.9)
    ax.grid(axis="y", color="0.92")
    if sweep:
        _plot_zero_atom(ax_zero, rows, colours)
    fig.suptitle(f"Input-output Jacobian spectra: {study.network}\n{study.inputs}", fontsize=9)
    fig.tight_layout()
    with atomic_output(path) as handle:   # the format from the name, as savefig(path) does
        fig.savefig(handle, format=os.path.splitext(os.fspath(path))[1][1:].lower() or "png",
                    dpi=110)


def _plot_zero_atom(ax, rows, colours) -> None:
    """frac_zero against density per variant, and the structural lower bound."""
    by_series: dict[str, list] = {}
    for r in rows:
        if r["kind"] != "dense":
            by_series.setdefault(_series(r), []).append(r)
    for s, group in by_series.items():
        d = [r["density"] for r in group]
        ax.plot(d, [r["frac_zero"] for r in group], marker="o", color=colours[s], label=s,
                linewidth=1.5, markersize=4, alpha=0.85)
    bounds = {r["density"]: r["structural_frac_zero"] for r in rows
              if r["kind"] == "sparse" and r["structural_frac_zero"] is not None}
    if bounds:
        d = sorted(bounds, reverse=True)
        ax.plot(d, [bounds[k] for k in d], linestyle="--", color="k", linewidth=1,
                label="1 - structural rank / min(m, n)\n(sparse supports, no floating point)")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("global density")
    ax.set_ylabel("frac_zero (share of the min(m, n) singular values)")
    densities = sorted({r["density"] for r in rows if r["kind"] != "dense"}, reverse=True)
    ax.set_xticks(densities, [density_label(x) for x in densities], rotation=45, fontsize=8)
    ax.minorticks_off()
    ax.grid(color="0.92")
    ax.legend(fontsize=7, loc="center right")
