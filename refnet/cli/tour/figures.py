"""The tour's figures, drawn on matplotlib's Agg canvas (a file, never a screen).

Each function takes numbers the tour's cells computed and returns a
``matplotlib.figure.Figure``; :meth:`refnet.cli.tour.notebook.Notebook.figure`
saves it.  pyplot is never imported, so a caller's backend is left alone.
"""
from __future__ import annotations

import numpy as np

__all__ = ["dct_matrix_figure", "truncation_figure", "conv_kernel_figure", "spectrum_figure"]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _matrix(ax, M, title: str, alpha=None):
    """``M`` as an image on a symmetric blue-white-red scale, entry (0, 0) top left."""
    limit = float(np.max(np.abs(M))) or 1.0
    image = ax.imshow(M, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest",
                      alpha=alpha)
    ax.set_xticks(range(M.shape[1]))
    ax.set_yticks(range(M.shape[0]))
    ax.set_title(title, fontsize=9)
    return image


def dct_matrix_figure(C: np.ndarray):
    """Left: ``C`` as an image.  Right: its first rows, sampled cosines of ``k`` half periods."""
    q = C.shape[0]
    fig = _figure(10, 4.2)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.35]})
    image = _matrix(left, C, f"C = dct_matrix({q}): row k, column j")
    left.set_xlabel("j (input position)")
    left.set_ylabel("k (frequency)")
    fig.colorbar(image, ax=left, shrink=0.8)
    t = np.linspace(-0.5, q - 0.5, 400)
    for k, colour in zip(range(4), ("0.3", "tab:blue", "tab:orange", "tab:green")):
        scale = np.sqrt((1 if k == 0 else 2) / q)
        right.plot(t, scale * np.cos(np.pi * (2 * t + 1) * k / (2 * q)), color=colour,
                   linewidth=1, alpha=0.6)
        right.plot(range(q), C[k], "o", color=colour, label=f"row k = {k}")
    right.axhline(0, color="0.8", linewidth=0.8)
    right.set_xlabel("j")
    right.set_title("rows of C: s[k] * cos(pi * (2 j + 1) * k / (2 q)) at j = 0, ..., q - 1",
                    fontsize=9)
    right.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def truncation_figure(cases):
    """For each ``(n, m, C)``: ``C`` with the block ``D = C[:m, :n]`` outlined."""
    from matplotlib.patches import Rectangle
    fig = _figure(4.6 * len(cases), 4.2)
    axes = np.atleast_1d(fig.subplots(1, len(cases)))
    for ax, (n, m, C) in zip(axes, cases):
        q = C.shape[0]
        inside = (np.arange(q)[:, None] < m) & (np.arange(q)[None, :] < n)
        _matrix(ax, C, f"n = {n} inputs, m = {m} outputs: q = {q}, D = C[:{m}, :{n}]",
                alpha=np.where(inside, 1.0, 0.25))
        ax.add_patch(Rectangle((-0.5, -0.5), n, m, fill=False, edgecolor="k", linewidth=2.5))
        for i in range(q):
            for j in range(q):
                ax.text(j, i, f"{C[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="k" if inside[i, j] else "0.45")
        ax.set_xlabel("column j (input)")
        ax.set_ylabel("row i (output)")
    fig.tight_layout()
    return fig


def conv_kernel_figure(K: np.ndarray):
    """A ``(cout, cin, kh, kw)`` kernel as a grid of small images, one per (out, in) pair."""
    cout, cin = K.shape[:2]
    fig = _figure(1.3 * cin + 1.2, 1.3 * cout + 0.6)
    axes = np.array(fig.subplots(cout, cin, squeeze=False))
    limit = float(np.max(np.abs(K))) or 1.0
    for o in range(cout):
        for c in range(cin):
            ax = axes[o, c]
            ax.imshow(K[o, c], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"out {o}", fontsize=8)
            if o == 0:
                ax.set_title(f"in {c}", fontsize=8)
    fig.suptitle("the DCT kernel, alpha = 1", fontsize=9)
    fig.tight_layout()
    return fig


def spectrum_figure(sigma_dctps: np.ndarray, sigma_sparse: np.ndarray, reached: dict,
                    density_text: str):
    """Singular values per example, DCTpS and sparse side by side; units reached per layer.

    ``sigma_*`` have shape (examples, min(m, n)); ``reached`` maps a label to the
    number of units an input reaches after each weight layer (inputs first).
    """
    fig = _figure(13, 4.2)
    ax_d, ax_s, ax_r = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.2]})
    top = 1.1 * max(float(np.max(sigma_dctps, initial=0)),
                    float(np.max(sigma_sparse, initial=0)), 1e-300)
    for ax, sigma, label, colour in ((ax_d, sigma_dctps, "DCTpS (S = 0)", "tab:blue"),
                                     (ax_s, sigma_sparse, "sparse", "tab:red")):
        index = np.arange(1, sigma.shape[1] + 1)
        for row in sigma:
            ax.plot(index, np.sort(row)[::-1], color=colour, alpha=0.25, linewidth=1)
        ax.plot(index, np.median(np.sort(sigma, axis=1)[:, ::-1], axis=0), "o-", color="k",
                markersize=3, linewidth=1.2, label="median over the examples")
        zero = int(np.count_nonzero(sigma == 0))
        ax.set_title(f"{label}, {density_text}: singular values of J\n"
                     f"({sigma.shape[0]} examples; {zero} of {sigma.size} exactly 0)",
                     fontsize=9)
        ax.set_xlabel("index (largest first)")
        ax.set_ylim(-0.03 * top, top)
        ax.set_xticks(index)
        ax.grid(color="0.92")
        ax.legend(fontsize=8, loc="upper right")
    ax_d.set_ylabel("sigma")
    markers = iter(("o", "s", "^", "v"))
    for (label, counts), colour in zip(reached.items(), ("tab:blue", "tab:red", "0.4", "0.6")):
        ax_r.plot(range(len(counts)), counts, marker=next(markers, "o"), color=colour,
                  label=label)
    ax_r.set_yscale("symlog", linthresh=1)
    ax_r.set_xlabel("after weight layer (0 = the inputs)")
    ax_r.set_ylabel("units reached from some input")
    ax_r.set_title("connectivity of the supports (no floating point)", fontsize=9)
    ax_r.set_xticks(range(max(len(c) for c in reached.values())))
    ax_r.grid(color="0.92")
    ax_r.legend(fontsize=8)
    fig.tight_layout()
    return fig
