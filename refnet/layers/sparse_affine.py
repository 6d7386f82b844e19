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

The sparse products and the gathers want FEATURE-MAJOR operands (one column
per row of ``x2``: ``x2t = x2.T``), the DCT wants BATCH-MAJOR ones (features
on the last axis, as the layers receive them).  So every pass works through
its rows in blocks of about 512 KiB (:mod:`refnet.ops.rowblocks`): each block
is transformed in place, transposed into a small feature-major copy for the
sparse part, and written into its rows of the result.  Small blocks keep the
temporaries in cache and let the allocator recycle them, and two threads take
alternate blocks.  The VJP transposes the cached input again, block by block,
instead of keeping a transposed copy from the forward pass: a transposition
costs less than the page faults of a cache twice as large.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from .._checks import as_rng, check_positive_int
from ..core.layer import Layer
from ..ops.csr import CSRSupport, nnz_from_density
from ..ops.operator import FixedOperator
from ..ops.rowblocks import map_blocks, row_blocks

__all__ = ["SparseAffine", "SupportView", "SPARSE_INITS", "make_support"]

#: Initialisers of the values of ``S`` (see :meth:`SparseAffine.init`).
SPARSE_INITS = ("kaiming-dense", "kaiming-sparse", "zeros")


def feature_major(a2: np.ndarray) -> np.ndarray:
    """A C-contiguous transposed copy of a 2-D array: rows become columns."""
    return np.ascontiguousarray(a2.T)


class SupportView:
    """Read-only views of a layer's sparse support ``self.support`` (a :class:`CSRSupport`).

    Shared by every layer with a trainable sparse ``S``: the sparse and DCTpS
    layers here and :class:`~refnet.layers.DopingLinear`.
    """

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


class SparseAffine(SupportView, Layer):
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
        ``O``; None for a plain sparse layer (and for a DCTpS layer with the
        offset ``"none"``).
    offset_name : str
        ``"none"`` without an offset, else the offset's name (``"dct"``,
        ``"randomized-dct"``, ...: :mod:`refnet.ops.offsets`).
    offset_seed : int, numpy.random.Generator or None
        What a random offset was drawn from (None for the others).
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
    ``x2t = x2.T`` and ``yt = y2_bar.T`` are the feature-major copies (made
    block by block of rows; every line below holds block by block, and the
    parameter cotangents are summed over the blocks in order).

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
    offset_name: str = "none"
    offset_seed = None
    alpha: float | None = None
    train_alpha: bool = False

    # -- structure -------------------------------------------------------------
    def _setup(self, shape, *, nnz, density, support, rng, bias, init, owner):
        """Set the support (exactly one of ``nnz``, ``density``, ``support``), bias and init."""
        self.support = make_support(shape, nnz=nnz, density=density, support=support, rng=rng,
                                    owner=owner)
        self.bias = bool(bias)
        if init not in SPARSE_INITS:
            raise ValueError(f"{owner}: init must be one of {list(SPARSE_INITS)}, got {init!r}")
        self.init_name = init

    def _setup_offset(self, offset: FixedOperator | None, alpha, train_alpha, *,
                      name: str | None = None, seed=None):
        """Add the fixed offset ``alpha * O``; ``alpha`` is its initial or fixed value.

        ``offset=None`` (the offset ``"none"``) leaves a plain sparse layer:
        no ``alpha`` at all, so ``alpha`` and ``train_alpha`` must keep their
        defaults (1.0 and True) rather than be silently ignored.  ``name`` and
        ``seed`` are recorded as :attr:`offset_name` and :attr:`offset_seed`.
        """
        owner = type(self).__name__
        if offset is None:
            if isinstance(alpha, bool) or alpha != 1.0 or train_alpha is not True:
                raise ValueError(f"{owner}: the offset 'none' has no alpha; leave alpha and "
                                 f"train_alpha at their defaults, got alpha={alpha!r}, "
                                 f"train_alpha={train_alpha!r}")
            self.offset, self.alpha, self.train_alpha = None, None, False
        else:
            if offset.shape != self.support.shape:
                raise ValueError(f"{owner}: offset has shape {offset.shape}, expected "
                                 f"{self.support.shape}")
            if isinstance(alpha, bool) or not np.isscalar(alpha) or not np.isfinite(alpha):
                raise ValueError(f"{owner}: alpha must be a finite number, got {alpha!r}")
            self.offset = offset
            self.alpha = float(alpha)
            self.train_alpha = bool(train_alpha)
        self.offset_name = name if name is not None else getattr(offset, "name", "none")
        self.offset_seed = seed

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
    # Every pass cuts the rows into blocks of about rowblocks.BLOCK_BYTES and runs
    # the same few lines on each block, on two threads when there are two cores
    # (rowblocks.map_blocks).  Small blocks keep every temporary in cache and let
    # the allocator recycle it (a fresh 4 MiB array costs about a thousand page
    # faults on a VM); blocks of 512 KiB still give the CSR products and the
    # gathers rows long enough to be efficient.  Block boundaries depend only on
    # the shapes, every block writes its own rows of the results, and sums over
    # blocks are taken in block order: the numbers do not depend on the number of
    # threads.

    def _rows_forward(self, params, x2):
        """``y2 = alpha * O(x2) + (S @ x2.T).T + b`` for rows ``x2`` (N, n)."""
        return self._apply(params, x2, with_bias=True)

    def _rows_jvp(self, params, x2_dot):
        """``y2_dot = alpha * O(x2_dot) + (S @ x2_dot.T).T`` for rows ``x2_dot`` (K*N, n)."""
        return self._apply(params, x2_dot, with_bias=False)

    def _apply(self, params, x2, with_bias):
        m = self.support.shape[0]
        values, alpha = params["S"], self._alpha(params)
        S = self.support.csr(values)                               # shares values, O(1)
        y2 = np.empty((x2.shape[0], m), dtype=np.result_type(x2, values))

        def block(i, r0, r1):
            xb, yb = x2[r0:r1], y2[r0:r1]
            s_part = S @ feature_major(xb)                         # (m, nb) = S @ xb.T
            if self.offset is None:
                np.copyto(yb, s_part.T)
            else:
                np.multiply(self.offset.apply(xb), alpha, out=yb)     # alpha * O(xb)
                yb += s_part.T
            if with_bias and self.bias:
                yb += params["b"]

        map_blocks(block, self._blocks(x2.shape[0]))
        return y2

    def _rows_vjp(self, params, x2, y2_bar, k_lead, need_params):
        """``(x2_bar, grads)`` for ``y2_bar`` of shape ``(K*N, m)`` (see the class Notes).

        ``grads`` maps each parameter to an array of shape ``(K, *shape)``, or
        is None when ``need_params`` is false.
        """
        m, n = self.support.shape
        values, alpha = params["S"], self._alpha(params)
        S_T = self.support.csr_transpose(values)                   # S.T, shares values, O(1)
        dtype = np.result_type(y2_bar, values)
        y3 = y2_bar.reshape(k_lead, x2.shape[0], m)                # (K, N, m)
        x3_bar = np.empty((k_lead, x2.shape[0], n), dtype=dtype)
        with_alpha = need_params and self.offset is not None and self.train_alpha

        def block(i, r0, r1):
            nb = r1 - r0
            yb = y3[:, r0:r1]                                      # (K, nb, m)
            ybt = feature_major(yb.reshape(k_lead * nb, m))        # (m, K*nb)
            grads = {}
            if self.offset is not None:
                ob = self.offset.adjoint(yb)                       # (K, nb, n) = O.T(y_bar)
                if with_alpha:
                    # <O.T(y_bar), x> by einsum, not a matmul: a long BLAS product runs
                    # multi-threaded, and its spinning worker slows the other thread
                    grads["alpha"] = np.einsum("lrj,rj->l", ob, x2[r0:r1])
                np.multiply(ob, alpha, out=x3_bar[:, r0:r1])
                del ob
            s_part = S_T @ ybt                                     # (n, K*nb)
            s_part3 = s_part.T.reshape(k_lead, nb, n)              # a view
            if self.offset is None:
                np.copyto(x3_bar[:, r0:r1], s_part3)
            else:
                x3_bar[:, r0:r1] += s_part3
            del s_part, s_part3
            if need_params:
                xbt = feature_major(x2[r0:r1])                     # (n, nb)
                grads["S"] = self.support.value_cotangent(ybt, xbt)            # (K, nnz)
                if self.bias:
                    grads["b"] = yb.sum(axis=1)                                # (K, m)
            return grads

        partials = map_blocks(block, self._blocks(x2.shape[0]))
        x2_bar = x3_bar.reshape(k_lead * x2.shape[0], n)
        if not need_params:
            return x2_bar, None
        grads = {}
        for key, shape in self.param_shapes().items():
            if partials:
                total = partials[0][key]
                for part in partials[1:]:                          # in block order
                    total = total + part[key]
            else:                                                  # an empty batch
                total = np.zeros((k_lead,) + shape, dtype=dtype)
            grads[key] = total
        return x2_bar, grads

    def _blocks(self, n_rows):
        """Row blocks for this layer's widest row (``max(m, n)`` doubles)."""
        return row_blocks(n_rows, 8 * max(self.support.shape))


def make_support(shape, *, nnz=None, density=None, support=None, rng=None,
                 owner: str = "make_support") -> CSRSupport:
    """The fixed support of a sparse ``(m, n)`` weight, from a layer's arguments.

    Exactly one of ``nnz`` (a count, ``0 <= nnz <= m * n``), ``density`` (in
    (0, 1], see :func:`~refnet.ops.csr.nnz_from_density`) and ``support`` (a
    :class:`CSRSupport` or ``(rows, cols)``) is given; the first two sample
    the positions with ``rng`` (required then, refused with ``support``).

    Raises
    ------
    ValueError, TypeError
        Naming ``owner`` and the argument at fault.
    """
    given = [name for name, v in (("nnz", nnz), ("density", density), ("support", support))
             if v is not None]
    if len(given) != 1:
        raise ValueError(f"{owner}: give exactly one of nnz=, density= or support=, "
                         f"got {given or 'none'}")
    if support is not None:
        if rng is not None:
            raise ValueError(f"{owner}: rng= samples a support, but support= was given "
                             f"too; pass one or the other")
        return _as_support(support, shape, owner)
    if rng is None:
        raise TypeError(f"{owner}: sampling a support needs rng= (a "
                        f"numpy.random.Generator or an int seed)")
    if density is not None:
        nnz = nnz_from_density(shape, density, owner)
    nnz = check_positive_int("nnz", nnz, owner, minimum=0)
    if nnz > shape[0] * shape[1]:
        raise ValueError(f"{owner}: nnz must be at most {shape[0]} * {shape[1]} = "
                         f"{shape[0] * shape[1]}, got {nnz}")
    return CSRSupport.sample(shape, nnz, as_rng(rng))


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
