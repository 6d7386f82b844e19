"""Doping (Thakker et al., MLSys 2021): ``W = A kron B + S``, all three trained.

Like DCT plus Sparse, a structured matrix plus a sparse one, but the structured part
is TRAINED and STORED (``m1 n1 + m2 n2 >= 2 sqrt(m n)`` numbers) where DCTpS's ``D``
is fixed and never stored.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._checks import as_input, as_rng, check_positive_int
from .core.layer import Layer, fold_lead, lead_shape
from .layers.sparse import SparseLinear, make_support

__all__ = ["DopingLinear", "DopingLinearCache", "factor_pairs", "kronecker_factorizations",
           "compact_factors", "kronecker_weights"]


def factor_pairs(k: int) -> list[tuple[int, int]]:
    """Every ordered pair ``(k1, k2)`` of positive integers with ``k1 * k2 == k``."""
    k = check_positive_int("k", k, "factor_pairs")
    return [(d, k // d) for d in range(1, k + 1) if k % d == 0]


def kronecker_weights(factors) -> int:
    """``m1 * n1 + m2 * n2``: the entries of ``A`` and ``B`` for ``((n1, n2), (m1, m2))``."""
    (n1, n2), (m1, m2) = factors
    return m1 * n1 + m2 * n2


def kronecker_factorizations(n_in: int, n_out: int) -> list:
    """Every ``((n1, n2), (m1, m2))`` with ``n1 * n2 == n_in`` and ``m1 * m2 == n_out``.

    Most compact first: by the weights ``m1 n1 + m2 n2``, then the largest
    possible rank ``min(m1, n1) * min(m2, n2)`` (higher first), then
    ``|m1 n1 - m2 n2|`` (balanced first), then ``(m1, n1)``.

    Examples
    --------
    >>> kronecker_factorizations(6, 4)[:2]
    [((2, 3), (2, 2)), ((3, 2), (2, 2))]
    """
    owner = "kronecker_factorizations"
    options = [((n1, n2), (m1, m2))
               for n1, n2 in factor_pairs(check_positive_int("n_in", n_in, owner))
               for m1, m2 in factor_pairs(check_positive_int("n_out", n_out, owner))]
    return sorted(options, key=lambda f: (kronecker_weights(f), -min(f[1][0], f[0][0]) * min(
        f[1][1], f[0][1]), abs(f[1][0] * f[0][0] - f[1][1] * f[0][1]), f[1][0], f[0][0]))


def compact_factors(n_in: int, n_out: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The first of :func:`kronecker_factorizations`: the fewest Kronecker weights,
    ``m1 n1 + m2 n2 >= 2 sqrt(n_in n_out)`` (equality when ``m1 n1 == m2 n2``).

    Examples
    --------
    >>> compact_factors(784, 300)       # A is 10 x 49, B is 30 x 16: 970 weights
    ((49, 16), (10, 30))
    """
    return kronecker_factorizations(n_in, n_out)[0]


def _check_factors(factors, n_in: int, n_out: int, owner: str):
    """``factors`` as ints, or a ValueError that lists the factorizations that work."""
    best = compact_factors(n_in, n_out)
    pairs = [", ".join(f"({a}, {b})" for a, b in factor_pairs(k)) for k in (n_in, n_out)]
    hint = (f"; (n1, n2) can be any of {pairs[0]} (n1 * n2 = {n_in}) and (m1, m2) any of "
            f"{pairs[1]} (m1 * m2 = {n_out}); the fewest Kronecker weights: factors={best} "
            f"(A {best[1][0]}x{best[0][0]}, B {best[1][1]}x{best[0][1]}, "
            f"{kronecker_weights(best)} weights)")
    try:
        (n1, n2), (m1, m2) = factors
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: factors must be ((n1, n2), (m1, m2)) with n1 * n2 = n_in "
                         f"and m1 * m2 = n_out, got {factors!r}{hint}") from None
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1
           for v in (n1, n2, m1, m2)):
        raise ValueError(f"{owner}: factors must hold positive integers, got {factors!r}{hint}")
    n1, n2, m1, m2 = int(n1), int(n2), int(m1), int(m2)
    problems = [f"{a} * {b} = {c} * {d} = {c * d} is not {name} = {k}" for a, b, c, d, name, k
                in (("n1", "n2", n1, n2, "n_in", n_in), ("m1", "m2", m1, m2, "n_out", n_out))
                if c * d != k]
    if problems:
        raise ValueError(f"{owner}: factors={factors!r} do not factor the layer: "
                         f"{' and '.join(problems)}{hint}")
    return (n1, n2), (m1, m2)


class DopingLinearCache(NamedTuple):
    """What :class:`DopingLinear` keeps from the forward pass."""

    x: np.ndarray   #: the input, shape (N, n)


class DopingLinear(Layer):
    """Doping layer ``y = (A kron B) @ x + S @ x + b``.

    Parameters
    ----------
    n_in, n_out : int
        Input features ``n = n1 * n2`` and output features ``m = m1 * m2``.
    factors : ((n1, n2), (m1, m2)), optional
        ``A`` is ``(m1, n1)``, ``B`` is ``(m2, n2)``; default
        :func:`compact_factors`.  Sizes that do not factor raise a ValueError
        listing the pairs that do.
    nnz, density, support, rng, bias
        As for :class:`~refnet.layers.SparseLinear` (also its ``support`` attribute);
        ``nnz=0`` gives a pure Kronecker layer.

    Notes
    -----
    Shapes: batch ``N`` (``B`` is the second factor), x (N, n), A (m1, n1) =
    ``a_shape``, B (m2, n2) = ``b_shape``, S (m, n) with values (nnz,), b (m,), y (N,
    m); leading tangent axes (K copies) are folded into ``R = K * N`` rows.  The
    Kronecker product by a ROW-MAJOR reshape, ``X = x.reshape(N, n1, n2)``::

        np.kron(A, B)[p * m2 + q, i * n2 + j] == A[p, i] * B[q, j]
        ((A kron B) @ x[r])[p * m2 + q] = sum_{i, j} A[p, i] * X[r, i, j] * B[q, j]
                                        = (A @ X[r] @ B.T)[p, q]

    (The textbook ``(A kron B) @ vec(Z) = vec(B @ Z @ A.T)`` uses a COLUMN-major
    ``vec``; reading it with a row-major reshape computes ``B kron A``.)

    The VJP follows from ``<Y_bar[r], A @ X[r] @ B.T>`` and the cyclic trace, with
    ``Y_bar = y_bar.reshape(R, m1, m2)``, ``H = A.T @ Y_bar`` (R, n1, m2) and ``G =
    Y_bar @ B`` (R, m1, n2) indexed ``[l, r]`` (copy, example); ``X_dot =
    x_dot.reshape(R, n1, n2)``::

        y     = (A @ X @ B.T).reshape(N, m) + (S @ x.T).T + b           # Forward, (N, m)
        x_bar = (H @ B).reshape(R, n) + (S.T @ y_bar.T).T               # VJP, (*lead, N, n)
        A_bar = sum_{r, j} G[l, r, :, j, None] * X[r, None, :, j]       # (*lead, m1, n1)
        B_bar = sum_{r, i} H[l, r, i, :, None] * X[r, i, None, :]       # (*lead, m2, n2)
        S_bar = support.value_cotangent(y_bar, x)                       # (*lead, nnz)
        b_bar = sum_r y_bar[l, r, :]                                    # (*lead, m)
        y_dot = (A @ X_dot @ B.T).reshape(R, m) + (S @ x_dot.T).T       # JVP, (*lead, N, m)

    Initialisation: ``A ~ N(0, 2 / n1)``, ``B ~ N(0, 1 / n2)``, so an entry of
    ``A kron B`` has Kaiming's variance ``2 / n``; ``S = 0``, ``b = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> layer = DopingLinear(6, 4, factors=((3, 2), (2, 2)), nnz=3, rng=0)
    >>> params = layer.init(np.random.default_rng(0))
    >>> params["A"].shape, params["B"].shape, params["S"].shape, layer.trainable_weights
    ((2, 3), (2, 2), (3,), 13)
    >>> x = np.random.default_rng(1).standard_normal((5, 6))
    >>> W = np.kron(params["A"], params["B"]) + layer.support.to_dense(params["S"])
    >>> bool(np.allclose(layer(params, x), x @ W.T + params["b"]))
    True
    """

    is_linear = True
    _repr_fields = ("n_in", "n_out", "factors", "nnz", "bias")
    nnz, shape, rows, cols = SparseLinear.nnz, SparseLinear.shape, SparseLinear.rows, \
        SparseLinear.cols

    def __init__(self, n_in: int, n_out: int, *, factors=None, nnz: int | None = None,
                 density: float | None = None, support=None, rng=None, bias: bool = True):
        owner = "DopingLinear"
        self.n_in = check_positive_int("n_in", n_in, owner)
        self.n_out = check_positive_int("n_out", n_out, owner)
        if factors is None:
            factors = compact_factors(self.n_in, self.n_out)
        self.factors = _check_factors(factors, self.n_in, self.n_out, owner)
        (n1, n2), (m1, m2) = self.factors
        self.a_shape, self.b_shape = (m1, n1), (m2, n2)
        self.support = make_support((self.n_out, self.n_in), nnz=nnz, density=density,
                                    support=support, rng=rng, owner=owner)
        self.bias = bool(bias)

    @property
    def trainable_weights(self) -> int:
        """``m1 n1 + m2 n2 + nnz``: the trained weights (biases excluded)."""
        return kronecker_weights(self.factors) + self.nnz

    def param_shapes(self):
        shapes = {"A": self.a_shape, "B": self.b_shape, "S": (self.nnz,)}
        if self.bias:
            shapes["b"] = (self.n_out,)
        return shapes

    def output_shape(self, in_shape):
        if tuple(in_shape) != (self.n_in,):
            raise ValueError(f"DopingLinear: input shape {tuple(in_shape)}, expected "
                             f"({self.n_in},)")
        return (self.n_out,)

    def init(self, rng):
        rng = as_rng(rng)
        (n1, n2), _ = self.factors
        params = {"A": rng.normal(0.0, math.sqrt(2.0 / n1), size=self.a_shape),
                  "B": rng.normal(0.0, math.sqrt(1.0 / n2), size=self.b_shape),
                  "S": np.zeros(self.nnz)}
        if self.bias:
            params["b"] = np.zeros(self.n_out)
        return params

    def dense_matrix(self, params) -> np.ndarray:
        """The whole ``(m, n)`` weight ``A kron B + S`` (tests and teaching only)."""
        return np.kron(params["A"], params["B"]) + self.support.to_dense(params["S"])

    def _map(self, params, x2):
        """``(A kron B) @ x2[r] + S @ x2[r]`` for every row of ``x2`` (R, n): (R, m)."""
        (n1, n2), _ = self.factors
        kron = (params["A"] @ x2.reshape(-1, n1, n2) @ params["B"].T).reshape(-1, self.n_out)
        return kron + (self.support.csr(params["S"]) @ x2.T).T

    def forward(self, params, x):
        self.check_params(params)
        x = as_input(x, type(self).__name__)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"DopingLinear: x has shape {x.shape}, expected (N, {self.n_in})")
        y = self._map(params, x)
        return (y + params["b"] if self.bias else y), DopingLinearCache(x)

    def vjp(self, params, cache, y_bar, *, need_params=True):
        x = cache.x
        batch = x.shape[0]
        lead = lead_shape("y_bar", y_bar, (batch, self.n_out), "DopingLinear")
        k_lead = math.prod(lead)
        (n1, n2), (m1, m2) = self.factors
        y2_bar = fold_lead(y_bar, 2)                                # (R, m), R = K * N
        Y_bar = y2_bar.reshape(-1, m1, m2)
        H = params["A"].T @ Y_bar                                   # (R, n1, m2)
        x_bar = (H @ params["B"]).reshape(-1, self.n_in) + (
            self.support.csr_transpose(params["S"]) @ y2_bar.T).T
        x_bar = x_bar.reshape(lead + x.shape)
        if not need_params:
            return x_bar, None
        X = x.reshape(batch, n1, n2)
        G = (Y_bar @ params["B"]).reshape(k_lead, batch, m1, n2)    # (K, N, m1, n2)
        y3 = y2_bar.reshape(k_lead, batch, self.n_out)
        grads = {"A": np.tensordot(G, X, axes=([1, 3], [0, 2])).reshape(lead + self.a_shape),
                 "B": np.tensordot(H.reshape(k_lead, batch, n1, m2), X,
                                   axes=([1, 2], [0, 1])).reshape(lead + self.b_shape),
                 "S": self.support.value_cotangent(y3, x).reshape(lead + (self.nnz,))}
        if self.bias:
            grads["b"] = y3.sum(axis=1).reshape(lead + (self.n_out,))
        return x_bar, grads

    def jvp(self, params, cache, x_dot):
        lead = lead_shape("x_dot", x_dot, cache.x.shape, "DopingLinear")
        return self._map(params, fold_lead(x_dot, 2)).reshape(lead + (cache.x.shape[0],
                                                                      self.n_out))
