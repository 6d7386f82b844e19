"""DCT plus Sparse layers (Price & Tanner, ICML 2021): ``W = alpha * D + S``, ``D`` never
stored: a dense-acting ``m x n`` layer trains ``nnz + 1 + m`` numbers at ``O(B q log q + B
nnz)`` per pass instead of ``O(B m n)``."""
from __future__ import annotations

import numpy as np

from ..ops import fast
from ..ops.dct import TruncatedDCT
from ..ops.operator import FixedOperator
from .sparse import SparseConv2d, SparseLinear

__all__ = ["DCTpSLinear", "DCTpSConv2d"]


class DCTpSLinear(SparseLinear):
    """DCT plus Sparse fully connected layer ``y = alpha * D @ x + S @ x + b``.

    The support of ``S`` (``nnz``, ``density``, ``support``, ``rng``) and ``bias`` as for
    :class:`~refnet.layers.SparseLinear`; ``init`` defaults to zeros (the paper's: the layer
    starts as ``alpha * D``), "kaiming-dense" without an offset.  ``alpha`` is the initial
    value of the 0-d parameter ``"alpha"``, or with ``train_alpha=False`` its fixed value (a
    layer attribute).  ``offset`` is ``D``: "dct", "none" (no ``alpha`` either: a sparse
    layer), or any FixedOperator of shape ``(m, n)`` (:func:`refnet.offsets.make_offset`).

    Notes
    -----
    Shapes: x (B, n), D (m, n) (``D(v) = offset.apply(v)``, ``D.T(v) =
    offset.adjoint(v)`` on the last axis, derived in :mod:`refnet.ops.dct`), S (m, n)
    with values (nnz,), alpha (), b (m,), y (B, m); leading tangent axes ``*lead``.

    Forward::

        y = alpha * D(x) + (S @ x.T).T + b                            # (B, m)

    VJP (``y_bar`` of shape (*lead, B, m))::

        d         = D.T(y_bar)                                        # (*lead, B, n)
        x_bar     = alpha * d + (S.T @ y_bar.T).T                     # (*lead, B, n)
        alpha_bar = sum_{b, j} d[..., b, j] * x[b, j]                 # (*lead,)
        S_bar     = support.value_cotangent(y_bar, x)                 # (*lead, nnz)
        b_bar     = sum_b y_bar[..., b, :]                            # (*lead, m)

    ``alpha_bar = <y_bar, D @ x> = <D.T @ y_bar, x>`` reuses ``d`` rather than keep
    ``D @ x``; :meth:`~refnet.ops.csr.CSRSupport.value_cotangent` derives ``S_bar``.  JVP::

        y_dot = alpha * D(x_dot) + (S @ x_dot.T).T                    # (*lead, B, m)

    SparseLinear's ``forward``, ``vjp``, ``jvp`` fold ``*lead`` into rows and call
    ``_rows`` and ``_rows_vjp`` below, this math line by line (or, while
    :data:`refnet.ops.fast.ENABLED`, :func:`refnet.ops.fast.affine`, ``affine_vjp``).

    Examples
    --------
    >>> import numpy as np
    >>> layer = DCTpSLinear(8, 8, density=0.1, rng=0)
    >>> params = layer.init(np.random.default_rng(0))      # S = 0, alpha = 1
    >>> x = np.random.default_rng(1).standard_normal((2, 8))
    >>> y = layer(params, x)
    >>> bool(np.allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x, axis=1)))  # D orthogonal
    True
    """

    _repr_fields = ("n_in", "n_out", "nnz", "alpha", "train_alpha", "bias", "init_name",
                    "offset_name")

    def __init__(self, n_in: int, n_out: int, *, nnz: int | None = None,
                 density: float | None = None, support=None, rng=None, bias: bool = True,
                 init: str | None = None, alpha: float = 1.0, train_alpha: bool = True,
                 offset="dct"):
        super().__init__(n_in, n_out, nnz=nnz, density=density, support=support, rng=rng,
                         bias=bias, init=_default_init(init, offset))
        _setup_offset(self, offset, alpha, train_alpha)

    def _rows(self, params, x2, with_bias):
        """``y2 = alpha * D(x2) + (S @ x2.T).T (+ b)`` for rows ``x2`` (N, n)."""
        alpha, b = self._alpha(params), params["b"] if with_bias and self.bias else None
        if fast.ENABLED:
            return fast.affine(self.support, params["S"], x2, self.offset, alpha, b)
        y2 = (self.csr(params) @ x2.T).T
        if self.offset is not None:
            y2 = y2 + alpha * self.offset.apply(x2)
        return y2 if b is None else y2 + b

    def _rows_vjp(self, params, x2, y3, need_params, need_input=True):
        """``(x3_bar, grads)`` for ``y3`` (K, N, m): (K, N, n) and {key: (K, *shape)}."""
        alpha = self._alpha(params)
        need_alpha = need_params and self.offset is not None and self.train_alpha
        if fast.ENABLED:
            x3_bar, grads = fast.affine_vjp(self.support, params["S"], x2, y3, self.offset,
                                            alpha, need_values=need_params,
                                            need_alpha=need_alpha,
                                            need_b=need_params and self.bias,
                                            need_input=need_input)
            return x3_bar, grads if need_params else None
        k_lead, n_rows, m = y3.shape
        S_T = self.support.csr_transpose(params["S"])
        x3_bar = (S_T @ y3.reshape(-1, m).T).T.reshape(k_lead, n_rows, S_T.shape[0])
        grads = {}
        if self.offset is not None:
            d = self.offset.adjoint(y3)                                      # D.T @ y_bar
            x3_bar = alpha * d + x3_bar
            if need_alpha:
                grads["alpha"] = np.einsum("lbj,bj->l", d, x2)
        if not need_params:
            return x3_bar, None
        grads["S"] = self.support.value_cotangent(y3, x2)
        if self.bias:
            grads["b"] = y3.sum(axis=1)
        return x3_bar, grads


class DCTpSConv2d(SparseConv2d):
    """DCT plus Sparse 2-D convolution (NCHW): every patch goes through ``alpha * D + S``.

    ``D = C[:out_channels, :P]`` acts on each patch of ``P = kh * kw * in_channels``
    entries (channel fastest): the original's frozen kernel ``dct(eye(q),
    norm='ortho')[:P, :out]`` reshaped to (kh, kw, cin, cout).  Parameters as for
    :class:`~refnet.layers.SparseConv2d` and :class:`DCTpSLinear` (offset (out_channels, P)).

    Notes
    -----
    :class:`DCTpSLinear`'s math on the rows of ``patches = im2col(x)``, with
    ``to_rows``, ``from_rows``, ``col2im`` as in :class:`~refnet.layers.SparseConv2d`::

        y = from_rows(alpha * D(patches) + (S @ patches.T).T + b)       # (B, cout, Ho, Wo)
        x_bar = col2im(alpha * D.T(y2_bar) + (S.T @ y2_bar.T).T),  y2_bar = to_rows(y_bar)
        alpha_bar, S_bar, b_bar: DCTpSLinear's, with patches for x and y2_bar for y_bar
        y_dot = from_rows(alpha * D(im2col(x_dot)) + (S @ im2col(x_dot).T).T)

    Examples
    --------
    >>> import numpy as np
    >>> layer = DCTpSConv2d(3, 8, 3, padding=1, density=0.05, rng=0)
    >>> layer(layer.init(0), np.ones((2, 3, 6, 6))).shape
    (2, 8, 6, 6)
    """

    _repr_fields = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "nnz",
                    "alpha", "train_alpha", "bias", "init_name", "offset_name")
    _rows, _rows_vjp = DCTpSLinear._rows, DCTpSLinear._rows_vjp

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride: int = 1,
                 padding: int = 0, *, nnz: int | None = None, density: float | None = None,
                 support=None, rng=None, bias: bool = True, init: str | None = None,
                 alpha: float = 1.0, train_alpha: bool = True, offset="dct"):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, nnz=nnz,
                         density=density, support=support, rng=rng, bias=bias,
                         init=_default_init(init, offset))
        _setup_offset(self, offset, alpha, train_alpha)


def _default_init(init, offset):
    return init if init is not None else "kaiming-dense" if isinstance(offset, str) and \
        offset == "none" else "zeros"


def _setup_offset(layer, offset, alpha, train_alpha):
    """Set ``offset`` (``D`` of shape ``layer.shape``, None for "none"), ``offset_name``,
    ``alpha`` and ``train_alpha``, checked; without an offset, ``alpha`` is refused."""
    owner, (m, n) = type(layer).__name__, layer.shape
    if isinstance(offset, FixedOperator):
        if offset.shape != (m, n):
            raise ValueError(f"{owner}: offset has shape {offset.shape}, expected {(m, n)}")
    elif isinstance(offset, str) and offset in ("dct", "none"):
        offset = TruncatedDCT(n, m) if offset == "dct" else None
    else:
        raise ValueError(f"{owner}: offset must be 'dct', 'none' or a FixedOperator (build "
                         f"the others with refnet.offsets.make_offset), got {offset!r}")
    if offset is None:
        if isinstance(alpha, bool) or alpha != 1.0 or train_alpha is not True:
            raise ValueError(f"{owner}: the offset 'none' has no alpha; leave alpha and "
                             f"train_alpha at their defaults, got alpha={alpha!r}, "
                             f"train_alpha={train_alpha!r}")
    else:
        if isinstance(alpha, bool) or not np.isscalar(alpha) or not np.isfinite(alpha):
            raise ValueError(f"{owner}: alpha must be a finite number, got {alpha!r}")
        layer.offset, layer.alpha, layer.train_alpha = offset, float(alpha), bool(train_alpha)
    layer.offset_name = "none" if offset is None else offset.name
