"""Sparse layers: a weight ``S`` on a fixed CSR support whose ``nnz`` values are the parameter."""
from __future__ import annotations

import copy
import math
from typing import NamedTuple

import numpy as np

from .._checks import as_input, as_rng, check_pair, check_positive_int
from ..core.layer import Layer, fold_lead, lead_shape
from ..ops import fast
from ..ops.csr import CSRSupport, nnz_from_density
from ..ops.im2col import col2im, conv_output_shape, im2col

__all__ = ["SparseLinear", "SparseConv2d", "SparseLinearCache", "SparseConv2dCache",
           "SPARSE_INITS", "make_support"]

#: Initialisers of the values of ``S`` (see :meth:`SparseLinear.init`).
SPARSE_INITS = ("kaiming-dense", "kaiming-sparse", "zeros")


class SparseLinearCache(NamedTuple):
    """What :class:`SparseLinear` and :class:`~refnet.layers.DCTpSLinear` keep for the VJP."""

    x: np.ndarray   #: the input, shape (B, n)


class SparseLinear(Layer):
    """Sparse fully connected layer ``y = x @ S.T + b`` with a fixed support.

    ``S`` is ``(m, n) = (n_out, n_in)`` with ``nnz`` stored entries.  Give exactly one of
    ``nnz`` or ``density`` (``nnz / (m * n)`` in (0, 1], :func:`~refnet.ops.csr.nnz_from_density`),
    positions sampled uniformly without replacement with ``rng``, or ``support`` (a
    :class:`~refnet.ops.csr.CSRSupport` or ``(rows, cols)``).  ``init`` names the initialiser
    of the values (:meth:`init`).  The layer's ``support`` attribute holds the positions; its
    ``nnz``, ``shape``, ``rows`` and ``cols`` are readable on the layer too.

    Notes
    -----
    Shapes: x (B, n), S (m, n) with values (nnz,) at (rows, cols), b (m,), y (B, m);
    tangents carry leading axes ``*lead``, folded into the batch first.  ``S @ v``
    is a scipy CSR product, ``S.T`` its O(1) transpose (:meth:`CSRSupport.csr_transpose`).

    Forward::

        y = (S @ x.T).T + b                                   # (B, m)

    VJP (``y_bar`` of shape (*lead, B, m))::

        x_bar = (S.T @ y_bar.T).T                             # (*lead, B, n)
        S_bar = support.value_cotangent(y_bar, x)             # (*lead, nnz)
        b_bar = sum_b y_bar[..., b, :]                        # (*lead, m)

    (:meth:`~refnet.ops.csr.CSRSupport.value_cotangent` derives ``S_bar``: the
    dense ``y_bar.T @ x`` read on the support.)  JVP::

        y_dot = (S @ x_dot.T).T                               # (*lead, B, m)

    While :data:`refnet.ops.fast.ENABLED`, the same numbers come from
    :func:`refnet.ops.fast.affine` and :func:`~refnet.ops.fast.affine_vjp`.

    Examples
    --------
    >>> import numpy as np
    >>> layer = SparseLinear(6, 4, density=0.25, rng=0)
    >>> layer.nnz
    6
    >>> layer(layer.init(0), np.ones((2, 6))).shape
    (2, 4)
    """

    is_linear = True
    can_skip_input = True
    offset = None               # DCTpS layers add alpha * offset
    offset_name, alpha, train_alpha = "none", None, False
    _repr_fields = ("n_in", "n_out", "nnz", "bias", "init_name")

    def __init__(self, n_in: int, n_out: int, *, nnz: int | None = None,
                 density: float | None = None, support=None, rng=None, bias: bool = True,
                 init: str = "kaiming-dense"):
        self.n_in = check_positive_int("n_in", n_in, type(self).__name__)
        self.n_out = check_positive_int("n_out", n_out, type(self).__name__)
        _setup(self, (self.n_out, self.n_in), nnz, density, support, rng, bias, init)

    # -- structure, shared with SparseConv2d -------------------------------------------
    nnz = property(lambda self: self.support.nnz, doc="Stored entries of ``S``.")
    shape = property(lambda self: self.support.shape, doc="``(m, n)``, the shape of ``S``.")
    rows = property(lambda self: self.support.rows, doc="Row of each entry, CSR order.")
    cols = property(lambda self: self.support.cols, doc="Column of each entry, CSR order.")

    def param_shapes(self):
        shapes = {"S": (self.nnz,)}
        if self.offset is not None and self.train_alpha:
            shapes["alpha"] = ()
        if self.bias:
            shapes["b"] = (self.shape[0],)
        return shapes

    def init(self, rng):
        """Values of ``S`` by ``init_name``, ``alpha`` at its initial value, ``b = 0``.

        ``"kaiming-dense"`` draws N(0, 2 / n), the dense fan-in (the original
        code's masked dense init); ``"kaiming-sparse"`` draws entry ``k`` from
        N(0, 2 / fan_k), ``fan_k`` the entries stored in its row; ``"zeros"`` is
        the DCTpS paper's choice.
        """
        rng = as_rng(rng)
        if self.init_name == "kaiming-dense":
            values = rng.normal(0.0, math.sqrt(2.0 / self.shape[1]), size=self.nnz)
        elif self.init_name == "kaiming-sparse":
            fan = self.support.row_counts()[self.rows]
            values = rng.standard_normal(self.nnz) * np.sqrt(2.0 / fan)
        else:
            values = np.zeros(self.nnz)
        params = {"S": np.array(values, dtype=np.float64)}
        if self.offset is not None and self.train_alpha:
            params["alpha"] = np.array(self.alpha)
        if self.bias:
            params["b"] = np.zeros(self.shape[0])
        return params

    def _alpha(self, params):
        return params["alpha"] if self.train_alpha else self.alpha

    def csr(self, params):
        """``S`` as a ``scipy.sparse.csr_matrix`` sharing ``params["S"]`` (O(1))."""
        return self.support.csr(params["S"])

    def dense_matrix(self, params) -> np.ndarray:
        """The whole ``(m, n)`` weight ``alpha * O + S`` (tests and teaching: ``m * n``)."""
        dense = self.support.to_dense(params["S"])
        if self.offset is not None:
            dense = dense + self._alpha(params) * self.offset.matrix()
        return dense

    def with_support(self, support):
        """The same layer on another support of the same shape (a CSRSupport or (rows, cols))."""
        new = copy.copy(self)
        new.support = _as_support(support, self.shape, type(self).__name__)
        return new

    # -- the math -----------------------------------------------------------------
    def output_shape(self, in_shape):
        if tuple(in_shape) != (self.n_in,):
            raise ValueError(f"{type(self).__name__}: input shape {tuple(in_shape)}, "
                             f"expected ({self.n_in},)")
        return (self.n_out,)

    def forward(self, params, x):
        self.check_params(params)
        x = as_input(x, type(self).__name__)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"{type(self).__name__}: x has shape {x.shape}, expected "
                             f"(B, {self.n_in})")
        return self._rows(params, x, with_bias=True), SparseLinearCache(x)

    def vjp(self, params, cache, y_bar, *, need_params=True, need_input=True):
        x = cache.x
        lead = lead_shape("y_bar", y_bar, (x.shape[0], self.n_out), type(self).__name__)
        y3 = fold_lead(y_bar, 2).reshape(math.prod(lead), x.shape[0], self.n_out)   # (K, B, m)
        x3_bar, grads = self._rows_vjp(params, x, y3, need_params, need_input)
        return (x3_bar.reshape(lead + x.shape) if need_input else None,
                _unfold(grads, lead, params))

    def jvp(self, params, cache, x_dot):
        lead = lead_shape("x_dot", x_dot, cache.x.shape, type(self).__name__)
        y_dot = self._rows(params, fold_lead(x_dot, 2), with_bias=False)
        return y_dot.reshape(lead + (cache.x.shape[0], self.n_out))

    def _rows(self, params, x2, with_bias):
        """``y2 = (S @ x2.T).T (+ b)`` for rows ``x2`` (N, n)."""
        b = params["b"] if with_bias and self.bias else None
        if fast.ENABLED:
            return fast.affine(self.support, params["S"], x2, b=b)
        y2 = (self.csr(params) @ x2.T).T
        return y2 if b is None else y2 + b

    def _rows_vjp(self, params, x2, y3, need_params, need_input=True):
        """``(x3_bar, grads)`` for ``y3`` (K, N, m): (K, N, n) and {key: (K, *shape)}."""
        if fast.ENABLED:
            x3_bar, grads = fast.affine_vjp(self.support, params["S"], x2, y3,
                                            need_values=need_params,
                                            need_b=need_params and self.bias,
                                            need_input=need_input)
            return x3_bar, grads if need_params else None
        k_lead, n_rows, m = y3.shape
        S_T = self.support.csr_transpose(params["S"])
        x3_bar = (S_T @ y3.reshape(-1, m).T).T.reshape(k_lead, n_rows, S_T.shape[0])
        if not need_params:
            return x3_bar, None
        grads = {"S": self.support.value_cotangent(y3, x2)}
        if self.bias:
            grads["b"] = y3.sum(axis=1)
        return x3_bar, grads


def _unfold(grads, lead, params):
    """``grads[k]`` of shape (K, *shape) as (*lead, *shape)."""
    if grads is None:
        return None
    return {k: g.reshape(lead + np.shape(params[k])) for k, g in grads.items()}


class SparseConv2dCache(NamedTuple):
    """What :class:`SparseConv2d` and :class:`~refnet.layers.DCTpSConv2d` keep for the VJP."""

    x_shape: tuple          #: the input's shape (B, C, H, W)
    patches: np.ndarray     #: im2col(x) as rows, shape (B * Ho * Wo, kh * kw * C)


class SparseConv2d(Layer):
    """Sparse 2-D convolution (NCHW): every patch times a sparse ``(out_channels, P)`` ``S``.

    ``kernel_size`` is an int or a pair; the support and values of ``S`` as for
    :class:`SparseLinear`, with ``P = kh * kw * in_channels`` columns: column ``p`` is kernel
    entry ``(p // (kw * C), (p // C) % kw, p % C)`` (row, column, channel).

    Notes
    -----
    The layer is :class:`SparseLinear`'s math applied to the rows of
    ``patches = im2col(x)`` (:mod:`refnet.ops.im2col`: each patch flattened with
    the channel fastest), ``N = B * Ho * Wo`` rows of ``P`` entries.  ``to_rows``
    moves channels last and flattens ``(B, Ho, Wo)`` into rows; ``from_rows``
    undoes it.  With ``linear`` that row map (``y2 = (S @ patches.T).T + b``)::

        y     = from_rows(linear(patches))                        # (B, cout, Ho, Wo)
        x_bar = col2im(linear.vjp(to_rows(y_bar)).x_bar)          # (*lead, B, C, H, W)
        S_bar, b_bar = linear.vjp(to_rows(y_bar)).params_bar      # (*lead, nnz), (*lead, cout)
        y_dot = from_rows(linear.jvp(im2col(x_dot)))              # (*lead, B, cout, Ho, Wo)

    ``col2im`` is the exact adjoint of ``im2col``.

    Examples
    --------
    >>> import numpy as np
    >>> layer = SparseConv2d(2, 3, 3, padding=1, density=0.5, rng=0)
    >>> layer.shape, layer.nnz
    ((3, 18), 27)
    >>> layer(layer.init(0), np.ones((1, 2, 5, 5))).shape
    (1, 3, 5, 5)
    """

    is_linear = True
    offset = None
    offset_name, alpha, train_alpha = "none", None, False
    _repr_fields = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "nnz",
                    "bias", "init_name")

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride: int = 1,
                 padding: int = 0, *, nnz: int | None = None, density: float | None = None,
                 support=None, rng=None, bias: bool = True, init: str = "kaiming-dense"):
        owner = type(self).__name__
        self.in_channels = check_positive_int("in_channels", in_channels, owner)
        self.out_channels = check_positive_int("out_channels", out_channels, owner)
        self.kernel_size = check_pair("kernel_size", kernel_size, owner)
        self.stride = check_positive_int("stride", stride, owner)
        self.padding = check_positive_int("padding", padding, owner, minimum=0)
        self.patch_size = self.kernel_size[0] * self.kernel_size[1] * self.in_channels
        _setup(self, (self.out_channels, self.patch_size), nnz, density, support, rng, bias,
               init)

    # the weight is a sparse (cout, P) matrix: SparseLinear's structure and row math
    nnz, shape, rows, cols = SparseLinear.nnz, SparseLinear.shape, SparseLinear.rows, \
        SparseLinear.cols
    param_shapes, init, _alpha = SparseLinear.param_shapes, SparseLinear.init, \
        SparseLinear._alpha
    csr, dense_matrix, with_support = SparseLinear.csr, SparseLinear.dense_matrix, \
        SparseLinear.with_support
    _rows, _rows_vjp = SparseLinear._rows, SparseLinear._rows_vjp

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        """``(out_channels, in_channels, kh, kw)``: the layout of a dense conv kernel."""
        return (self.out_channels, self.in_channels) + self.kernel_size

    def matrix_to_kernel(self, matrix) -> np.ndarray:
        """A ``(cout, P)`` patch matrix as the dense ``(cout, cin, kh, kw)`` kernel."""
        kh, kw = self.kernel_size
        return np.asarray(matrix).reshape(self.out_channels, kh, kw,
                                          self.in_channels).transpose(0, 3, 1, 2)

    def output_shape(self, in_shape):
        return (self.out_channels,) + conv_output_shape(
            in_shape, self.kernel_size, self.stride, self.padding, channels=self.in_channels,
            owner=type(self).__name__)[1:]

    def _patch_rows(self, x):
        cols = im2col(x, self.kernel_size, self.stride, self.padding)
        return cols.reshape(-1, self.patch_size), cols.shape[-3:-1]

    def forward(self, params, x):
        self.check_params(params)
        x = as_input(x, type(self).__name__)
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__}: x has shape {x.shape}, expected "
                             f"(B, {self.in_channels}, H, W)")
        self.output_shape(x.shape[1:])
        patches, (ho, wo) = self._patch_rows(x)
        y2 = self._rows(params, patches, with_bias=True)
        return _from_rows(y2, (x.shape[0], ho, wo, self.out_channels)), \
            SparseConv2dCache(x.shape, patches)

    def vjp(self, params, cache, y_bar, *, need_params=True):
        y_shape = cache.x_shape[:1] + self.output_shape(cache.x_shape[1:])
        lead = lead_shape("y_bar", y_bar, y_shape, type(self).__name__)
        y3 = _to_rows(y_bar, self.out_channels).reshape(math.prod(lead), len(cache.patches),
                                                         self.out_channels)
        x3_bar, grads = self._rows_vjp(params, cache.patches, y3, need_params)
        cols_bar = x3_bar.reshape(lead + y_shape[:1] + y_shape[2:] + (self.patch_size,))
        x_bar = col2im(cols_bar, cache.x_shape[1:], self.kernel_size, self.stride, self.padding)
        return x_bar, _unfold(grads, lead, params)

    def jvp(self, params, cache, x_dot):
        lead = lead_shape("x_dot", x_dot, cache.x_shape, type(self).__name__)
        x2_dot, (ho, wo) = self._patch_rows(x_dot)
        y2_dot = self._rows(params, x2_dot, with_bias=False)
        return _from_rows(y2_dot, lead + (cache.x_shape[0], ho, wo, self.out_channels))


def _to_rows(y, channels):
    """(..., C, Ho, Wo) -> contiguous rows (prod(...) * Ho * Wo, C)."""
    return np.ascontiguousarray(np.moveaxis(y, -3, -1)).reshape(-1, channels)


def _from_rows(y2, nhwc_shape):
    """Rows (N, C) -> contiguous (..., C, Ho, Wo), given the (..., Ho, Wo, C) shape."""
    return np.ascontiguousarray(np.moveaxis(y2.reshape(nhwc_shape), -1, -3))


def _setup(layer, shape, nnz, density, support, rng, bias, init):
    """Set a sparse layer's ``support``, ``bias`` and ``init_name``."""
    owner = type(layer).__name__
    layer.support = make_support(shape, nnz=nnz, density=density, support=support, rng=rng,
                                 owner=owner)
    layer.bias = bool(bias)
    if init not in SPARSE_INITS:
        raise ValueError(f"{owner}: init must be one of {list(SPARSE_INITS)}, got {init!r}")
    layer.init_name = init


def make_support(shape, *, nnz=None, density=None, support=None, rng=None,
                 owner: str = "make_support") -> CSRSupport:
    """The support of a sparse ``(m, n)`` weight from exactly one of ``nnz``, ``density``
    and ``support``; the first two sample it with ``rng`` (required then, else refused)."""
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
    if isinstance(support, CSRSupport):
        if support.shape != tuple(shape):
            raise ValueError(f"{owner}: support has shape {support.shape}, expected "
                             f"{tuple(shape)}")
        return support
    if not isinstance(support, (tuple, list)) or len(support) != 2:
        raise TypeError(f"{owner}: support must be a CSRSupport or a pair (rows, cols), "
                        f"got {type(support).__name__}")
    return CSRSupport.from_positions(shape, support[0], support[1])
