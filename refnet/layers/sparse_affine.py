"""The math shared by the sparse and DCT-plus-Sparse layers, written once.

All four layers (:class:`~refnet.layers.SparseLinear`,
:class:`~refnet.layers.SparseConv2d`, :class:`~refnet.layers.DCTpSLinear`,
:class:`~refnet.layers.DCTpSConv2d`) apply one affine map to ROWS of features::

    y2 = alpha * O @ x2 + S @ x2 + b        x2: (N, n) rows, y2: (N, m) rows

A linear layer's rows are its examples (``N = B``); a convolution's rows are
its patches (``N = B * Ho * Wo``, see :mod:`refnet.ops.im2col`).  ``S`` is a
sparse ``(m, n)`` matrix on a fixed :class:`~refnet.ops.csr.CSRSupport` whose
``nnz`` values are the parameter ``"S"``; ``O`` is a fixed offset (a
:class:`~refnet.ops.operator.FixedOperator`, the truncated DCT for DCTpS) or
absent for a plain sparse layer; ``alpha`` is the parameter ``"alpha"`` (a
0-d array) when trainable, or a fixed number held by the layer.

The sparse products want FEATURE-MAJOR operands (one column per row of
``x2``), the DCT wants BATCH-MAJOR ones (features on the last axis).  So the
forward pass makes one transposed copy ``x2t`` of its input, uses it for
``S @ x2`` and keeps it in the cache, where the VJP gathers from it again.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from ..core.layer import Layer, as_rng, check_positive_int
from ..ops.csr import CSRSupport, nnz_from_density
from ..ops.operator import FixedOperator

__all__ = ["SparseAffine", "SPARSE_INITS"]

#: Initialisers of the values of ``S`` (see :meth:`SparseAffine.init`).
SPARSE_INITS = ("kaiming-dense", "kaiming-sparse", "zeros")


def feature_major(a2: np.ndarray) -> np.ndarray:
    """A C-contiguous transposed copy of a 2-D array: rows become columns."""
    return np.ascontiguousarray(a2.T)


class SparseAffine(Layer):
    """Base of the layers ``y = alpha * O @ x + S @ x (+ b)`` on rows of features.

    Subclasses set up the structure with :meth:`_setup` (and
    :meth:`_setup_offset` for a DCTpS layer) and turn their inputs into rows;
    the math lives in :meth:`_rows_forward`, :meth:`_rows_vjp` and
    :meth:`_rows_jvp`.

    Attributes
    ----------
    support : CSRSupport
        The fixed positions of ``S``.
    offset : FixedOperator or None
        ``O``; None for a plain sparse layer.
    alpha : float or None
        The initial value of ``alpha`` when it is trained, its fixed value
        when it is not, None without an offset.
    train_alpha : bool
    bias : bool
    init_name : str

    Notes
    -----
    Shapes: x2 (N, n), y2 (N, m), S (m, n) with ``nnz`` stored values, O
    (m, n), b (m,).  Cotangents carry ``K`` stacked copies of the batch
    (leading tangent axes folded in front): y2_bar (K*N, m), with
    ``y2_bar[l*N + r]`` the cotangent of row ``r`` in copy ``l``.
    ``x2t = x2.T`` and ``yt = y2_bar.T`` are the feature-major copies.

    Forward (``_rows_forward``)::

        y2 = alpha * O(x2) + (S @ x2t).T + b              # (N, m)

    VJP (``_rows_vjp``; every line per copy l)::

        x2_bar    = alpha * O.T(y2_bar) + (S.T @ yt).T        # (K*N, n)
        alpha_bar = sum_{r, j} O.T(y2_bar)[l, r, j] * x2[r, j] # (K,) = <y2_bar, O(x2)>
        S_bar[k]  = sum_r y2_bar[l, r, rows[k]] * x2[r, cols[k]]  # (K, nnz), gathered
        b_bar     = sum_r y2_bar[l, r, :]                      # (K, m)

    ``alpha_bar`` uses ``<y2_bar, O @ x2> = <O.T @ y2_bar, x2>``: the VJP
    needs ``O.T @ y2_bar`` anyway, so ``O @ x2`` is not kept from the forward
    pass.  ``S_bar`` is ``y2_bar.T @ x2`` sampled on the support, computed by
    :meth:`CSRSupport.value_cotangent` in ``O(K N nnz)``.

    JVP (``_rows_jvp``)::

        y2_dot = alpha * O(x2_dot) + (S @ x2_dot.T).T          # (K*N, m)
    """

    _abstract = True
    is_linear = True
    offset: FixedOperator | None = None
    alpha: float | None = None
    train_alpha: bool = False

    # -- structure -------------------------------------------------------------
    def _setup(self, shape, *, nnz, density, support, rng, bias, init, owner):
        """Set the support (exactly one of ``nnz``, ``density``, ``support``), bias and init."""
        given = [name for name, v in (("nnz", nnz), ("density", density), ("support", support))
                 if v is not None]
        if len(given) != 1:
            raise ValueError(f"{owner}: give exactly one of nnz=, density= or support=, "
                             f"got {given or 'none'}")
        if support is not None:
            if rng is not None:
                raise ValueError(f"{owner}: rng= samples a support, but support= was given "
                                 f"too; pass one or the other")
            self.support = _as_support(support, shape, owner)
        else:
            if rng is None:
                raise TypeError(f"{owner}: sampling a support needs rng= (a "
                                f"numpy.random.Generator or an int seed)")
            if density is not None:
                nnz = nnz_from_density(shape, density, owner)
            nnz = check_positive_int("nnz", nnz, owner, minimum=0)
            if nnz > shape[0] * shape[1]:
                raise ValueError(f"{owner}: nnz must be at most {shape[0]} * {shape[1]} = "
                                 f"{shape[0] * shape[1]}, got {nnz}")
            self.support = CSRSupport.sample(shape, nnz, as_rng(rng))
        self.bias = bool(bias)
        if init not in SPARSE_INITS:
            raise ValueError(f"{owner}: init must be one of {list(SPARSE_INITS)}, got {init!r}")
        self.init_name = init

    def _setup_offset(self, offset: FixedOperator, alpha, train_alpha):
        """Add the fixed offset ``alpha * O``; ``alpha`` is its initial or fixed value."""
        owner = type(self).__name__
        if offset.shape != self.support.shape:
            raise ValueError(f"{owner}: offset has shape {offset.shape}, expected "
                             f"{self.support.shape}")
        if isinstance(alpha, bool) or not np.isscalar(alpha) or not np.isfinite(alpha):
            raise ValueError(f"{owner}: alpha must be a finite number, got {alpha!r}")
        self.offset = offset
        self.alpha = float(alpha)
        self.train_alpha = bool(train_alpha)

    @property
    def nnz(self) -> int:
        """Number of stored (trainable) entries of ``S``."""
        return self.support.nnz

    @property
    def shape(self) -> tuple[int, int]:
        """``(m, n)``: the shape of the matrix ``S`` (for a conv, ``(out_channels, patch)``)."""
        return self.support.shape

    @property
    def rows(self) -> np.ndarray:
        """Row of each stored entry of ``S``, in CSR order (read-only)."""
        return self.support.rows

    @property
    def cols(self) -> np.ndarray:
        """Column of each stored entry of ``S``, in CSR order (read-only)."""
        return self.support.cols

    def with_support(self, support) -> "SparseAffine":
        """The same layer with another support of the same shape (RigL, pruning).

        ``support`` is a :class:`CSRSupport` or ``(rows, cols)``.  Parameters
        are the caller's business: values for the new positions can be carried
        over with :meth:`CSRSupport.locate`.
        """
        new = copy.copy(self)
        new.support = _as_support(support, self.support.shape, type(self).__name__)
        return new

    def param_shapes(self):
        shapes = {"S": (self.nnz,)}
        if self.offset is not None and self.train_alpha:
            shapes["alpha"] = ()
        if self.bias:
            shapes["b"] = (self.support.shape[0],)
        return shapes

    def check_params(self, params):
        # arithmetic on a 0-d array returns a numpy scalar (alpha - lr * alpha_bar
        # is an np.float64): accept one wherever a 0-d parameter is expected
        if isinstance(params, dict) and isinstance(params.get("alpha"), np.generic):
            params = dict(params, alpha=np.asarray(params["alpha"]))
        super().check_params(params)

    def init(self, rng):
        """Fresh parameters: values of ``S`` by ``init_name``, ``alpha``, ``b = 0``.

        ``"kaiming-dense"`` draws N(0, 2 / n) (``n`` the dense fan-in: what the
        original code gets by initialising a dense weight, then masking);
        ``"kaiming-sparse"`` draws entry ``k`` from N(0, 2 / fan_k) with
        ``fan_k`` the number of stored entries in its row (the fan-in the
        output actually has); ``"zeros"`` is the DCTpS paper's choice.
        """
        rng = as_rng(rng)
        m, n = self.support.shape
        if self.init_name == "kaiming-dense":
            values = rng.normal(0.0, math.sqrt(2.0 / n), size=self.nnz)
        elif self.init_name == "kaiming-sparse":
            fan = self.support.row_counts()[self.support.rows]
            values = rng.standard_normal(self.nnz) * np.sqrt(2.0 / fan)
        else:
            values = np.zeros(self.nnz)
        params = {"S": values}
        if self.offset is not None and self.train_alpha:
            params["alpha"] = np.array(self.alpha)
        if self.bias:
            params["b"] = np.zeros(m)
        return params

    def _params_with(self, values, b=None) -> dict:
        """Parameters with the given values of ``S`` (and bias), ``alpha`` at its initial value."""
        params = {"S": np.array(values, dtype=np.float64)}
        if self.offset is not None and self.train_alpha:
            params["alpha"] = np.array(self.alpha)
        if self.bias:
            params["b"] = np.zeros(self.support.shape[0]) if b is None else b
        return params

    def csr(self, params) -> "scipy.sparse.csr_matrix":  # noqa: F821
        """``S`` as a ``scipy.sparse.csr_matrix`` sharing ``params["S"]`` (O(1))."""
        return self.support.csr(params["S"])

    def _alpha(self, params) -> float:
        return params["alpha"] if self.train_alpha else self.alpha

    def dense_matrix(self, params) -> np.ndarray:
        """The whole ``(m, n)`` matrix ``alpha * O + S`` as a dense array.

        For tests and teaching only: it costs ``m * n`` memory.
        """
        dense = self.support.to_dense(params["S"])
        if self.offset is not None:
            dense = dense + self._alpha(params) * self.offset.matrix()
        return dense

    # -- the math on rows ------------------------------------------------------
    def _rows_forward(self, params, x2):
        """``y2 = alpha * O(x2) + (S @ x2t).T + b`` for rows ``x2`` (N, n); returns ``(y2, x2t)``."""
        x2t = feature_major(x2)                                    # (n, N), kept for the VJP
        s_part = self.support.matmat(params["S"], x2t)             # (m, N)
        if self.offset is None:
            y2 = feature_major(s_part)
        else:
            y2 = self.offset.apply(x2)                             # fresh (N, m), ours
            y2 *= self._alpha(params)
            y2 += s_part.T
        if self.bias:
            y2 += params["b"]
        return y2, x2t

    def _rows_vjp(self, params, x2, x2t, y2_bar, k_lead, need_params):
        """``(x2_bar, grads)`` for ``y2_bar`` of shape ``(K*N, m)`` (see the class Notes).

        ``grads`` maps each parameter to an array of shape ``(K, *shape)``,
        or is None when ``need_params`` is false.
        """
        yt = feature_major(y2_bar)                                 # (m, K*N)
        s_part = self.support.rmatmat(params["S"], yt)             # (n, K*N) = S.T @ yt
        grads = {} if need_params else None
        if self.offset is None:
            x2_bar = feature_major(s_part)
        else:
            x2_bar = self.offset.adjoint(y2_bar)                   # fresh (K*N, n) = O.T(y2_bar)
            if need_params and self.train_alpha:
                grads["alpha"] = x2_bar.reshape(k_lead, -1) @ x2.reshape(-1)
            x2_bar *= self._alpha(params)
            x2_bar += s_part.T
        if need_params:
            grads["S"] = self.support.value_cotangent(yt, x2t)     # (K, nnz)
            if self.bias:
                grads["b"] = y2_bar.reshape(k_lead, -1, y2_bar.shape[-1]).sum(axis=1)
        return x2_bar, grads

    def _rows_jvp(self, params, x2_dot):
        """``y2_dot = alpha * O(x2_dot) + (S @ x2_dot.T).T`` for rows ``x2_dot`` (K*N, n)."""
        s_part = self.support.matmat(params["S"], feature_major(x2_dot))
        if self.offset is None:
            return feature_major(s_part)
        y2_dot = self.offset.apply(x2_dot)
        y2_dot *= self._alpha(params)
        y2_dot += s_part.T
        return y2_dot


def _as_support(support, shape, owner) -> CSRSupport:
    """A :class:`CSRSupport` of ``shape`` from one, or from ``(rows, cols)``."""
    if isinstance(support, CSRSupport):
        if support.shape != tuple(shape):
            raise ValueError(f"{owner}: support has shape {support.shape}, expected "
                             f"{tuple(shape)}")
        return support
    if not isinstance(support, (tuple, list)) or len(support) != 2:
        raise TypeError(f"{owner}: support must be a CSRSupport or a pair (rows, cols), "
                        f"got {type(support).__name__}")
    return CSRSupport.from_positions(shape, support[0], support[1])
