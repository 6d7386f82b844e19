"""Tour section: every cotangent of DCTpSLinear, derived, then checked entry by entry."""
from __future__ import annotations

from refnet.cli.tour.notebook import Notebook

__all__ = ["TITLE", "run"]

TITLE = "The cotangents of DCTpSLinear, entry by entry"

#: The layer of this section: inputs, outputs, stored entries of S, batch.
N_IN, N_OUT, NNZ, BATCH = 5, 4, 6, 2


def run(nb: Notebook, settings) -> None:
    """Write the section into ``nb`` (``settings`` is unused: the layer is fixed and small)."""
    nb.section(TITLE)
    nb.prose("""
        A DCTpS layer computes `y = alpha * D @ x + S @ x + b`. `D` is the fixed DCT block of
        the last section; `S` is an `m x n` sparse matrix whose nonzero POSITIONS are fixed
        (drawn once, at random) and whose `nnz` VALUES are trained; `alpha` is a trained
        scalar and `b` a trained bias. So `W = alpha * D + S` behaves like a dense matrix
        while only `nnz + 1 + m` numbers are trained. Here `S` is stored as its values
        `S_values` (the parameter `"S"`, shape `(nnz,)`) at positions `(rows[k], cols[k])`.

        In a batch the examples are rows: `x` is `(B, n)` and the layer computes
        `y = alpha * x @ D.T + x @ S.T + b`, shape `(B, m)`.

        **Cotangents.** Backpropagation hands the layer `y_bar = dL/dy` (shape `(B, m)`) for
        some scalar loss `L`, and the layer returns the cotangents of its input and of its
        parameters, `x_bar = dL/dx` and so on. Near the current `y`, a change `dy` changes
        `L` by `sum(y_bar * dy)` to first order, so each cotangent is the gradient of
        `L = sum(y_bar * y)` with `y_bar` held fixed. Writing `y` out entry by entry,
        `L = sum_{b,i} y_bar[b,i] * (alpha * sum_j D[i,j] x[b,j] + sum_j S[i,j] x[b,j] + b[i])`,
        and differentiating:
    """)
    nb.formulas("""
        x_bar[b, j] = sum_i y_bar[b, i] * (alpha * D[i, j] + S[i, j])
          x_bar     = alpha * y_bar @ D + y_bar @ S          # (B, n)
                                      # row b is alpha * D.T @ y_bar[b] + S.T @ y_bar[b]

        alpha_bar   = sum_{b,i} y_bar[b, i] * (x @ D.T)[b, i]
                    = sum(y_bar * (x @ D.T))                 # ():  <y_bar, D @ x>

        S_bar[k]    = dL / dS_values[k]                      # S[rows[k], cols[k]] = S_values[k]
                    = sum_b y_bar[b, rows[k]] * x[b, cols[k]]
                    = (y_bar.T @ x)[rows, cols][k]           # (nnz,): y_bar.T @ x on the support

        b_bar       = y_bar.sum(axis=0)                      # (m,)
    """)
    nb.prose("""
        The layer (`refnet/layers/dctps.py`, with the shared math in
        `refnet/layers/sparse_affine.py`) computes the same numbers without any `m x n` array:
        `alpha * y_bar @ D` is `alpha * idct(pad(y_bar, q))[:, :n]` (last section);
        `alpha_bar = <y_bar, D @ x> = <D.T @ y_bar, x>` reuses that inverse transform instead
        of keeping `D @ x` from the forward pass; `S_bar` gathers only the `nnz` products
        `y_bar[:, rows[k]] * x[:, cols[k]]` and never forms `y_bar.T @ x`; `y_bar @ S` is a
        sparse (CSR) product. Only the positions of the support get a gradient: that is what
        makes `S` sparse for good.

        A small layer, with random values everywhere so that every term matters:
    """)
    nb.cell(f"""
        from refnet.layers import DCTpSLinear

        n, m, nnz, B = {N_IN}, {N_OUT}, {NNZ}, {BATCH}
        layer = DCTpSLinear(n, m, nnz=nnz, rng=0)   # the support: {NNZ} positions, seed 0
        rng = np.random.default_rng(2)
        params = {{"S": rng.standard_normal(nnz), "alpha": np.array(0.7),
                  "b": rng.standard_normal(m)}}
        x = rng.standard_normal((B, n))
        y_bar = rng.standard_normal((B, m))
        print("support (rows[k], cols[k]):", list(zip(layer.rows.tolist(), layer.cols.tolist())))
    """)
    nb.prose("The layer's forward pass and VJP, and the formulas above in plain NumPy:")
    nb.cell("""
        y, cache = layer.forward(params, x)
        x_bar, grads = layer.vjp(params, cache, y_bar)       # grads: {"S", "alpha", "b"}
        vjp = {"x": x_bar, **grads}

        D = dct_matrix(max(m, n))[:m, :n]
        S_dense = layer.support.to_dense(params["S"])        # (m, n), zero off the support
        alpha = params["alpha"]
        formula = {
            "x": alpha * y_bar @ D + y_bar @ S_dense,
            "alpha": np.sum(y_bar * (x @ D.T)),
            "S": (y_bar.T @ x)[layer.rows, layer.cols],
            "b": y_bar.sum(axis=0),
        }
    """)
    nb.prose("""
        Central finite differences need no derivation at all: nudge one entry by `+h` and
        `-h`, and `(L(+h) - L(-h)) / (2 h)` approximates `dL/d(entry)` with an error of order
        `h^2` times the third derivative (zero here: `L` is linear in each quantity) plus
        rounding, about `1e-16 * |L| / h`. One loop over every entry of `x`, `alpha`,
        `S_values` and `b`:
    """)
    nb.cell("""
        def loss(params, x):
            return np.sum(y_bar * layer(params, x))          # L = sum(y_bar * y)

        h = 1e-6
        def central_difference(name):
            point = x if name == "x" else params[name]
            fd = np.zeros(np.shape(point))
            for index in np.ndindex(fd.shape):
                e = np.zeros(np.shape(point))
                e[index] = h
                if name == "x":
                    plus, minus = loss(params, x + e), loss(params, x - e)
                else:
                    plus = loss({**params, name: params[name] + e}, x)
                    minus = loss({**params, name: params[name] - e}, x)
                fd[index] = (plus - minus) / (2 * h)
            return fd

        fd = {name: central_difference(name) for name in ["x", "alpha", "S", "b"]}
    """)
    rows, cols = nb.value("layer.rows").tolist(), nb.value("layer.cols").tolist()
    labels = {
        "x": [f"x_bar[{b}, {j}]" for b in range(BATCH) for j in range(N_IN)],
        "alpha": ["alpha_bar"],
        "S": [f"S_bar[{k}] (W[{r}, {c}])" for k, (r, c) in enumerate(zip(rows, cols))],
        "b": [f"b_bar[{i}]" for i in range(N_OUT)],
    }
    titles = {"x": "x_bar", "alpha": "alpha_bar", "S": "S_bar", "b": "b_bar"}
    for key in ("x", "alpha", "S", "b"):
        nb.prose(f"**`{titles[key]}`**")
        nb.check_fd(f"{titles[key]}", f"vjp[{key!r}]", f"formula[{key!r}]", f"fd[{key!r}]",
                    labels[key])
    nb.prose("""
        The forward derivative (JVP) is the same linear map applied to a tangent:
        `y_dot = alpha * D @ x_dot + S @ x_dot`, shape `(B, m)`, computed with the forward
        transform. It must match the dense matrix `W = alpha * D + S`:
    """)
    nb.cell("""
        x_dot = rng.standard_normal((B, n))
        y_dot = layer.jvp(params, cache, x_dot)
        W = alpha * D + S_dense
    """)
    nb.check_close("the JVP is x_dot @ W.T", "y_dot", "x_dot @ W.T")
    nb.prose("""
        `refnet gradcheck` runs these comparisons (with random projections instead of every
        entry) on every layer of refnet, and `tests/test_layers_dctps.py` compares the layer
        with the original implementation's dense construction on random shapes.
    """)
