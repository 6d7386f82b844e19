"""Sparse layers: a weight with a fixed CSR support whose values are the parameters."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import check_pair, check_positive_int, check_shape
from ..core.layer import fold_lead, lead_shape
from ..ops.csr import CSRSupport
from ..ops.im2col import col2im, conv_output_size, im2col
from .sparse_affine import SparseAffine

__all__ = ["SparseLinear", "SparseConv2d", "SparseLinearCache", "SparseConv2dCache"]


class SparseLinearCache(NamedTuple):
    """What :class:`SparseLinear` and :class:`~refnet.layers.DCTpSLinear` keep for the VJP."""

    x: np.ndarray   #: the input, shape (B, n)


class SparseLinear(SparseAffine):
    """Sparse fully connected layer ``y = S @ x + b`` with a fixed support.

    ``S`` is an ``(m, n)`` matrix with exactly ``nnz`` stored entries at fixed
    positions (the support, structure held by the layer); the parameter
    ``"S"`` holds their values in CSR order.  Gradients exist only on the
    support: nothing of size ``m x n`` is ever allocated.

    Parameters
    ----------
    n_in : int
        Input features ``n``.
    n_out : int
        Output features ``m``.
    nnz : int, optional
        Number of stored entries, sampled uniformly without replacement with
        ``rng`` (``0 <= nnz <= m * n``).
    density : float, optional
        ``nnz / (m * n)`` in (0, 1]; ``nnz = max(1, floor(density * m * n +
        0.5))`` (rounded half up, at least one entry).
    support : CSRSupport or (rows, cols), optional
        Explicit positions (validated: in range and distinct; stored sorted
        in CSR order).  Exactly one of ``nnz``, ``density``, ``support``.
    rng : numpy.random.Generator or int, optional
        Samples the support; required with ``nnz`` or ``density``.
    bias : bool, default True
    init : {"kaiming-dense", "kaiming-sparse", "zeros"}, default "kaiming-dense"
        Initialiser of the values (see :meth:`SparseAffine.init`);
        ``"kaiming-dense"`` is what the DCTpS paper's code does for its
        sparse baselines.

    Attributes
    ----------
    support : CSRSupport
        ``nnz``, ``shape``, ``rows``, ``cols`` are also readable on the layer.

    Notes
    -----
    Shapes: x (B, n), S (m, n) with values (nnz,) at (rows, cols), b (m,),
    y (B, m); ``xt = x.T`` (n, B) is a feature-major copy (made block by block
    of rows; see :mod:`refnet.layers.sparse_affine`).  Leading tangent
    axes ``*lead`` (K = prod(lead) copies of the batch) are folded into the
    batch axis first.  The math is :class:`SparseAffine`'s with no offset.

    Forward::

        y = (S @ xt).T + b                                  # (B, m)

    VJP (``y_bar`` of shape (*lead, B, m); ``yt = y_bar.T`` per copy, (m, K*B))::

        x_bar    = (S.T @ yt).T                             # (*lead, B, n)
        S_bar[k] = sum_b y_bar[..., b, rows[k]] * x[b, cols[k]]   # (*lead, nnz), gathered
        b_bar    = sum_b y_bar[..., b, :]                   # (*lead, m)

    ``S_bar`` is the dense gradient ``y_bar.T @ x`` read only on the support,
    computed by gathering in ``O(B nnz)``
    (:meth:`CSRSupport.value_cotangent`).

    JVP (``x_dot`` of shape (*lead, B, n))::

        y_dot = (S @ x_dot.T).T                             # (*lead, B, m)

    The layer is affine in ``x``, so the adjoint test applies.

    Examples
    --------
    >>> import numpy as np
    >>> layer = SparseLinear(6, 4, density=0.25, rng=0)
    >>> layer.nnz
    6
    >>> params = layer.init(np.random.default_rng(0))
    >>> y, cache = layer.forward(params, np.ones((2, 6)))
    >>> y.shape
    (2, 4)
    """

    _repr_fields = ("n_in", "n_out", "nnz", "bias", "init_name")

    def __init__(self, n_in: int, n_out: int, *, nnz: int | None = None,
                 density: float | None = None, support=None, rng=None, bias: bool = True,
                 init: str = "kaiming-dense"):
        owner = type(self).__name__
        self.n_in = check_positive_int("n_in", n_in, owner)
        self.n_out = check_positive_int("n_out", n_out, owner)
        self._setup((self.n_out, self.n_in), nnz=nnz, density=density, support=support,
                    rng=rng, bias=bias, init=init, owner=owner)

    @classmethod
    def from_dense(cls, W, b=None, *, mask=None, **kwargs):
        """A sparse layer and its parameters from a dense ``(m, n)`` weight.

        The support is where ``mask`` is nonzero (default: where ``W`` is);
        the values are ``W`` on it.  This is how pruning turns a dense
        :class:`~refnet.layers.Linear` into a sparse layer.  Called on a
        DCTpS class, ``W`` gives ``S`` alone: the layer's weight is then
        ``alpha * D + S``, not ``W``.

        Parameters
        ----------
        W : ndarray, shape (m, n)
        b : ndarray, shape (m,), optional
            The bias; the layer has one exactly when ``b`` is given.
        mask : array, shape (m, n), optional
        **kwargs
            Further constructor arguments (``init``, or ``alpha`` and
            ``train_alpha`` for a DCTpS layer).

        Returns
        -------
        layer, params
        """
        W = np.asarray(W, dtype=np.float64)
        if W.ndim != 2:
            raise ValueError(f"{cls.__name__}.from_dense: W has shape {W.shape}, expected (m, n)")
        support = CSRSupport.from_mask(W if mask is None else _mask_like(mask, W.shape, cls))
        layer = cls(W.shape[1], W.shape[0], support=support, bias=b is not None, **kwargs)
        bias = None if b is None else _bias_like(b, W.shape[0], cls)
        return layer, layer._params_with(support.gather(W), bias)

    def output_shape(self, in_shape):
        if tuple(in_shape) != (self.n_in,):
            raise ValueError(f"{type(self).__name__}: input shape {tuple(in_shape)}, "
                             f"expected ({self.n_in},)")
        return (self.n_out,)

    def forward(self, params, x):
        owner = type(self).__name__
        self.check_params(params)
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"{owner}: x has shape {x.shape}, expected (B, {self.n_in})")
        check_shape("x", x, (self.n_in,), owner)
        return self._rows_forward(params, x), SparseLinearCache(x)

    def vjp(self, params, cache, y_bar, *, need_params=True):
        x = cache.x
        lead = lead_shape("y_bar", y_bar, (x.shape[0], self.n_out), type(self).__name__)
        k_lead = int(np.prod(lead, dtype=np.int64))
        x2_bar, grads = self._rows_vjp(params, x, fold_lead(y_bar, 2), k_lead, need_params)
        x_bar = x2_bar.reshape(lead + x.shape)
        if grads is not None:
            grads = {k: g.reshape(lead + np.shape(params[k])) for k, g in grads.items()}
        return x_bar, grads

    def jvp(self, params, cache, x_dot):
        x = cache.x
        lead = lead_shape("x_dot", x_dot, x.shape, type(self).__name__)
        y_dot = self._rows_jvp(params, fold_lead(x_dot, 2))
        return y_dot.reshape(lead + (x.shape[0], self.n_out))


class SparseConv2dCache(NamedTuple):
    """What :class:`SparseConv2d` and :class:`~refnet.layers.DCTpSConv2d` keep for the VJP."""

    x_shape: tuple   #: the input's shape (B, C, H, W)
    patches: np.ndarray    #: im2col(x) as rows, shape (B * Ho * Wo, kh * kw * C)


class SparseConv2d(SparseAffine):
    """Sparse 2-D convolution (NCHW) with a fixed support in its ``(out, patch)`` matrix.

    Every output position sees a patch of the zero-padded input flattened in
    (kernel row, kernel column, in-channel) order, channel fastest (see
    :mod:`refnet.ops.im2col`); the convolution multiplies each patch by the
    sparse ``(out_channels, kh * kw * in_channels)`` matrix ``S``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride : int, default 1
    padding : int, default 0
    nnz, density, support, rng, bias, init
        As for :class:`SparseLinear`, for the ``(out_channels, P)`` matrix,
        ``P = kh * kw * in_channels``.  Column ``p`` of that matrix is kernel
        entry ``(p // (kw * C), (p // C) % kw, p % C)`` (row, column, channel).

    Notes
    -----
    Shapes: x (B, C, H, W), patches = im2col(x) reshaped to (N, P)
    with N = B * Ho * Wo rows, patches_t = patches.T (P, N), S (cout, P), b (cout,),
    y (B, cout, Ho, Wo).  ``to_rows`` moves the channel axis last and flattens
    (B, Ho, Wo) into N rows; ``from_rows`` undoes it.  Leading tangent axes are
    folded into the rows as well (K copies).

    Forward::

        y = from_rows((S @ patches_t).T + b)                        # (B, cout, Ho, Wo)

    VJP (``y_bar`` of shape (*lead, B, cout, Ho, Wo); ``y2_bar = to_rows(y_bar)``
    (K*N, cout), ``yt = y2_bar.T``)::

        x_bar    = col2im((S.T @ yt).T)                         # (*lead, B, C, H, W)
        S_bar[k] = sum_r y2_bar[l, r, rows[k]] * patches[r, cols[k]] # (*lead, nnz), gathered
        b_bar    = sum_r y2_bar[l, r, :]                        # (*lead, cout)

    ``col2im`` is
    the exact adjoint of ``im2col``: it adds every patch entry back to the
    pixel it came from.

    JVP (``x_dot`` of shape (*lead, B, C, H, W))::

        y_dot = from_rows((S @ im2col(x_dot).T).T)              # (*lead, B, cout, Ho, Wo)

    The layer is affine in ``x``, so the adjoint test applies.

    Examples
    --------
    >>> import numpy as np
    >>> layer = SparseConv2d(2, 3, 3, padding=1, density=0.5, rng=0)
    >>> layer.shape, layer.nnz
    ((3, 18), 27)
    >>> params = layer.init(np.random.default_rng(0))
    >>> layer(params, np.ones((1, 2, 5, 5))).shape
    (1, 3, 5, 5)
    """

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
        kh, kw = self.kernel_size
        self.patch_size = kh * kw * self.in_channels
        self._setup((self.out_channels, self.patch_size), nnz=nnz, density=density,
                    support=support, rng=rng, bias=bias, init=init, owner=owner)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        """``(out_channels, in_channels, kh, kw)``: the layout of a dense conv kernel."""
        return (self.out_channels, self.in_channels) + self.kernel_size

    @staticmethod
    def kernel_to_matrix(kernel) -> np.ndarray:
        """A dense ``(cout, cin, kh, kw)`` kernel as the ``(cout, kh * kw * cin)`` patch matrix."""
        kernel = np.asarray(kernel)
        if kernel.ndim != 4:
            raise ValueError(f"kernel has shape {kernel.shape}, expected (cout, cin, kh, kw)")
        return kernel.transpose(0, 2, 3, 1).reshape(kernel.shape[0], -1)

    def matrix_to_kernel(self, matrix) -> np.ndarray:
        """The inverse of :meth:`kernel_to_matrix`: ``(cout, P)`` to ``(cout, cin, kh, kw)``."""
        kh, kw = self.kernel_size
        matrix = np.asarray(matrix)
        return matrix.reshape(self.out_channels, kh, kw, self.in_channels).transpose(0, 3, 1, 2)

    @classmethod
    def from_dense(cls, kernel, b=None, *, mask=None, stride: int = 1, padding: int = 0,
                   **kwargs):
        """A sparse conv layer and its parameters from a dense ``(cout, cin, kh, kw)`` kernel.

        The support is where ``mask`` (same shape) is nonzero, by default
        where ``kernel`` is; the values are the kernel's there.  The layer has
        a bias exactly when ``b`` is given.  Called on a DCTpS class, the
        kernel gives ``S`` alone, as in :meth:`SparseLinear.from_dense`.

        Returns
        -------
        layer, params
        """
        kernel = np.asarray(kernel, dtype=np.float64)
        matrix = cls.kernel_to_matrix(kernel)
        chosen = matrix if mask is None else cls.kernel_to_matrix(
            _mask_like(mask, kernel.shape, cls))
        support = CSRSupport.from_mask(chosen)
        cout, cin, kh, kw = kernel.shape
        layer = cls(cin, cout, (kh, kw), stride, padding, support=support, bias=b is not None,
                    **kwargs)
        bias = None if b is None else _bias_like(b, cout, cls)
        return layer, layer._params_with(support.gather(matrix), bias)

    def output_shape(self, in_shape):
        in_shape = tuple(in_shape)
        if len(in_shape) != 3 or in_shape[0] != self.in_channels:
            raise ValueError(f"{type(self).__name__}: input shape {in_shape}, expected "
                             f"({self.in_channels}, H, W)")
        kh, kw = self.kernel_size
        try:
            return (self.out_channels,
                    conv_output_size(in_shape[1], kh, self.stride, self.padding),
                    conv_output_size(in_shape[2], kw, self.stride, self.padding))
        except ValueError as err:
            raise ValueError(f"{type(self).__name__}: input shape {in_shape}: {err}") from None

    def _patch_rows(self, x):
        """im2col of ``x`` (..., C, H, W) as rows (prod(...) * Ho * Wo, P), and (Ho, Wo)."""
        cols = im2col(x, self.kernel_size, self.stride, self.padding)
        return cols.reshape(-1, self.patch_size), cols.shape[-3:-1]

    def forward(self, params, x):
        owner = type(self).__name__
        self.check_params(params)
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"{owner}: x has shape {x.shape}, expected "
                             f"(B, {self.in_channels}, H, W)")
        self.output_shape(x.shape[1:])
        patches, (ho, wo) = self._patch_rows(x)
        y2 = self._rows_forward(params, patches)
        y = _from_rows(y2, (x.shape[0], ho, wo, self.out_channels))
        return y, SparseConv2dCache(x.shape, patches)

    def vjp(self, params, cache, y_bar, *, need_params=True):
        batch = cache.x_shape[0]
        y_shape = (batch,) + self.output_shape(cache.x_shape[1:])
        lead = lead_shape("y_bar", y_bar, y_shape, type(self).__name__)
        k_lead = int(np.prod(lead, dtype=np.int64))
        y2_bar = _to_rows(y_bar, self.out_channels)
        cols_bar, grads = self._rows_vjp(params, cache.patches, y2_bar, k_lead, need_params)
        ho, wo = y_shape[2:]
        cols_bar = cols_bar.reshape(lead + (batch, ho, wo, self.patch_size))
        x_bar = col2im(cols_bar, cache.x_shape[1:], self.kernel_size, self.stride, self.padding)
        if grads is not None:
            grads = {k: g.reshape(lead + np.shape(params[k])) for k, g in grads.items()}
        return x_bar, grads

    def jvp(self, params, cache, x_dot):
        lead = lead_shape("x_dot", x_dot, cache.x_shape, type(self).__name__)
        x2_dot, (ho, wo) = self._patch_rows(x_dot)
        y2_dot = self._rows_jvp(params, x2_dot)
        return _from_rows(y2_dot, lead + (cache.x_shape[0], ho, wo, self.out_channels))


def _to_rows(y, channels):
    """(..., C, Ho, Wo) -> contiguous rows (prod(...) * Ho * Wo, C)."""
    return np.ascontiguousarray(np.moveaxis(y, -3, -1)).reshape(-1, channels)


def _from_rows(y2, nhwc_shape):
    """Rows (N, C) -> contiguous (..., C, Ho, Wo), given the (..., Ho, Wo, C) shape."""
    return np.ascontiguousarray(np.moveaxis(y2.reshape(nhwc_shape), -1, -3))


def _mask_like(mask, shape, cls):
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"{cls.__name__}.from_dense: mask has shape {mask.shape}, expected "
                         f"{tuple(shape)}")
    return mask


def _bias_like(b, size, cls):
    b = np.array(b, dtype=np.float64)   # a copy: params are the caller's to own
    if b.shape != (size,):
        raise ValueError(f"{cls.__name__}.from_dense: b has shape {b.shape}, expected ({size},)")
    return b
