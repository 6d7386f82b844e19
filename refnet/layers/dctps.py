"""DCT plus Sparse layers (Price & Tanner, ICML 2021): ``W = alpha * D + S``.

``D`` is the truncated orthonormal DCT-II (:class:`refnet.ops.dct.TruncatedDCT`),
applied with ``scipy.fft`` and never stored; ``S`` is sparse on a fixed support
(:class:`refnet.ops.csr.CSRSupport`).  The trainable parameters are the ``nnz``
values of ``S``, the scalar ``alpha`` (unless frozen) and the bias, so a layer
that behaves like a dense ``m x n`` matrix trains ``nnz + 1 + m`` numbers and
costs ``O(B q log q + B nnz)`` per pass instead of ``O(B m n)``.

Another fixed offset ``O`` takes the place of ``D`` with one argument:
``offset="randomized-dct"``, ``"orthogonal"``, ``"identity"`` or ``"none"``
(:mod:`refnet.ops.offsets`, which derives each and its adjoint).

The original PyTorch code materialises ``D`` as a frozen dense weight
(``dct(eye(q), norm='ortho')[:n, :m]`` used as ``y = x @ f``) and ``S`` as a
dense weight with a gradient mask; these layers compute the same function
(checked against that construction in the tests) at the cost the paper
promises.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._checks import check_pair, check_positive_int
from ..ops.operator import FixedOperator
from ..ops.offsets import RANDOM_OFFSETS, check_offset_name, make_offset
from .sparse import SparseConv2d, SparseLinear

__all__ = ["DCTpSLinear", "DCTpSConv2d"]


def _offset(offset, offset_seed, n_in, n_out, owner):
    """``(operator or None, name)`` for the ``offset`` argument of a DCTpS layer."""
    if isinstance(offset, FixedOperator):
        if offset_seed is not None:
            raise ValueError(f"{owner}: offset_seed draws a named random offset; an offset "
                             f"given as an operator takes none, got {offset_seed!r}")
        return offset, offset.name
    check_offset_name(offset, owner)
    if offset in RANDOM_OFFSETS and offset_seed is None:
        raise TypeError(f"{owner}: the {offset!r} offset is random and needs offset_seed= (an "
                        f"int or a numpy.random.Generator)")
    if offset not in RANDOM_OFFSETS and offset_seed is not None:
        raise ValueError(f"{owner}: the {offset!r} offset is not random, so offset_seed must "
                         f"be None, got {offset_seed!r}")
    if offset_seed is not None and (isinstance(offset_seed, bool) or not isinstance(
            offset_seed, (numbers.Integral, np.random.Generator))):
        raise TypeError(f"{owner}: offset_seed must be an int or a numpy.random.Generator, "
                        f"got {offset_seed!r}")
    return make_offset(offset, n_in, n_out, offset_seed), offset


def _default_init(init, operator):
    """``init=None``: zeros with an offset (the paper's choice), Kaiming (dense) without."""
    if init is not None:
        return init
    return "zeros" if operator is not None else "kaiming-dense"


class DCTpSLinear(SparseLinear):
    """DCT plus Sparse fully connected layer ``y = alpha * D @ x + S @ x + b``.

    Parameters
    ----------
    n_in : int
        Input features ``n``.
    n_out : int
        Output features ``m``.
    nnz, density, support, rng, bias
        The support of ``S`` and the bias, as for
        :class:`~refnet.layers.SparseLinear`.
    init : {"zeros", "kaiming-dense", "kaiming-sparse"}, optional
        Initialiser of the values of ``S``; default zeros, the paper's choice
        (at initialisation the layer is exactly ``alpha * D``), or
        "kaiming-dense" with the offset ``"none"`` (zeros would make a layer
        that is identically zero).
    alpha : float, default 1.0
        The initial value of ``alpha`` (the parameter ``"alpha"``, a 0-d
        array), or its fixed value when ``train_alpha=False``.
    train_alpha : bool, default True
        Whether ``alpha`` is a parameter; if not, it is a layer attribute.
    offset : str or FixedOperator, default "dct"
        The fixed ``O`` of ``alpha * O + S`` (:mod:`refnet.ops.offsets`):
        ``"dct"`` (the paper's ``D``), ``"randomized-dct"``, ``"orthogonal"``,
        ``"identity"``, ``"none"`` (no offset and no ``alpha``: a plain sparse
        layer), or any :class:`~refnet.ops.operator.FixedOperator` of shape
        ``(m, n)``.
    offset_seed : int or numpy.random.Generator, optional
        Draws a random offset (``"randomized-dct"``, ``"orthogonal"``):
        required for them, refused for the others.  The same seed gives
        bitwise the same offset.

    Notes
    -----
    Shapes: x (B, n), D (m, n) = C[:m, :n] with q = max(m, n) (never stored),
    S (m, n) with values (nnz,) at (rows, cols), alpha (), b (m,), y (B, m);
    ``xt = x.T`` (n, B) is a feature-major copy (made block by block of rows
    for the CSR products and gathers; see :mod:`refnet.layers.sparse_affine`).
    Leading tangent axes ``*lead`` (K = prod(lead) copies) are folded into the
    batch axis first.  ``dct`` and ``idct`` are ``scipy.fft``'s, orthonormal, on
    the last axis, ``n=q`` zero-padding their input.

    Forward::

        y = alpha * dct(x, n=q)[:, :m] + (S @ xt).T + b            # (B, m)

    VJP (``y_bar`` of shape (*lead, B, m); ``yt = y_bar.T`` per copy, (m, K*B))::

        x_bar     = alpha * idct(y_bar, n=q)[..., :n] + (S.T @ yt).T   # (*lead, B, n)
        alpha_bar = sum_{b, j} idct(y_bar, n=q)[..., b, j] * x[b, j]   # (*lead,) = <y_bar, D @ x>
        S_bar[k]  = sum_b y_bar[..., b, rows[k]] * x[b, cols[k]]       # (*lead, nnz), gathered
        b_bar     = sum_b y_bar[..., b, :]                             # (*lead, m)

    ``D.T @ y_bar`` is ``idct(pad(y_bar, q))[:n]`` because ``D = C[:m, :n]``
    with ``C`` orthogonal, so ``D.T = C.T[:n, :m] = C^-1[:n, :m]``: pad, invert
    the DCT, truncate (:mod:`refnet.ops.dct` has the derivation).
    ``alpha_bar = <y_bar, D @ x> = <D.T @ y_bar, x>`` reuses the VJP's
    inverse DCT instead of keeping ``D @ x`` from the forward pass.  Only the
    ``nnz`` values of ``S`` get a gradient: the dense ``y_bar.T @ x`` is
    never formed.

    JVP (``x_dot`` of shape (*lead, B, n))::

        y_dot = alpha * dct(x_dot, n=q)[..., :m] + (S @ x_dot.T).T     # (*lead, B, m)

    Affine in ``x``, so the adjoint test applies.

    Other offsets: every line above holds with ``D`` replaced by ``O``, its
    ``dct(., n=q)[..., :m]`` by ``O.apply`` and its ``idct(., n=q)[..., :n]``
    by ``O.adjoint`` (the exact ``O.T``; :mod:`refnet.ops.offsets` derives
    each).  With ``offset="none"`` the layer is
    :class:`~refnet.layers.SparseLinear`'s ``y = S @ x + b``.

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
                 offset="dct", offset_seed=None):
        owner = type(self).__name__
        operator, name = _offset(offset, offset_seed, check_positive_int("n_in", n_in, owner),
                                 check_positive_int("n_out", n_out, owner), owner)
        super().__init__(n_in, n_out, nnz=nnz, density=density, support=support, rng=rng,
                         bias=bias, init=_default_init(init, operator))
        self._setup_offset(operator, alpha, train_alpha, name=name, seed=offset_seed)


class DCTpSConv2d(SparseConv2d):
    """DCT plus Sparse 2-D convolution (NCHW): every patch goes through ``alpha * D + S``.

    Each output position's patch, flattened in (kernel row, kernel column,
    in-channel) order with the channel fastest, is multiplied by the
    ``(out_channels, P)`` matrix ``alpha * D + S``, ``P = kh * kw *
    in_channels``, ``D = C[:out_channels, :P]``: the DCT of the zero-padded
    patch truncated to ``out_channels``.  This is exactly the original's
    frozen kernel ``dct(eye(q), norm='ortho')[:P, :out]`` reshaped to
    (kh, kw, cin, cout) and transposed to (cout, cin, kh, kw).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride : int, default 1
    padding : int, default 0
    nnz, density, support, rng, bias
        As for :class:`~refnet.layers.SparseConv2d`.
    init : {"zeros", "kaiming-dense", "kaiming-sparse"}, optional
    alpha : float, default 1.0
    train_alpha : bool, default True
    offset, offset_seed
        As for :class:`DCTpSLinear`; the offset is ``(out_channels, P)`` and
        acts on every patch, as the DCT does.

    Notes
    -----
    Shapes: x (B, C, H, W); patches = im2col(x) as N = B * Ho * Wo rows of
    P entries, patches_t = patches.T (P, N); D (cout, P), S (cout, P) with values
    (nnz,), alpha (), b (cout,), y (B, cout, Ho, Wo).  ``to_rows`` moves the
    channel axis last and flattens (B, Ho, Wo) into rows; ``from_rows``
    undoes it.  Leading tangent axes are folded into the rows (K copies).

    Forward::

        y = from_rows(alpha * dct(patches, n=q)[:, :cout] + (S @ patches_t).T + b)
                                                                # (B, cout, Ho, Wo)

    VJP (``y2_bar = to_rows(y_bar)`` of shape (K*N, cout), ``yt = y2_bar.T``)::

        x_bar     = col2im(alpha * idct(y2_bar, n=q)[:, :P] + (S.T @ yt).T)  # (*lead, B, C, H, W)
        alpha_bar = sum_{r, p} idct(y2_bar, n=q)[l, r, p] * patches[r, p]       # (*lead,)
        S_bar[k]  = sum_r y2_bar[l, r, rows[k]] * patches[r, cols[k]]        # (*lead, nnz)
        b_bar     = sum_r y2_bar[l, r, :]                                    # (*lead, cout)

    JVP (``x_dot`` of shape (*lead, B, C, H, W); ``c_dot = im2col(x_dot)`` as rows)::

        y_dot = from_rows(alpha * dct(c_dot, n=q)[:, :cout] + (S @ c_dot.T).T)

    Affine in ``x``, so the adjoint test applies.

    Examples
    --------
    >>> import numpy as np
    >>> layer = DCTpSConv2d(3, 8, 3, padding=1, density=0.05, rng=0)
    >>> params = layer.init(np.random.default_rng(0))
    >>> layer(params, np.ones((2, 3, 6, 6))).shape
    (2, 8, 6, 6)
    """

    _repr_fields = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "nnz",
                    "alpha", "train_alpha", "bias", "init_name", "offset_name")

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride: int = 1,
                 padding: int = 0, *, nnz: int | None = None, density: float | None = None,
                 support=None, rng=None, bias: bool = True, init: str | None = None,
                 alpha: float = 1.0, train_alpha: bool = True, offset="dct", offset_seed=None):
        owner = type(self).__name__
        in_channels = check_positive_int("in_channels", in_channels, owner)
        out_channels = check_positive_int("out_channels", out_channels, owner)
        kh, kw = check_pair("kernel_size", kernel_size, owner)
        operator, name = _offset(offset, offset_seed, kh * kw * in_channels, out_channels,
                                 owner)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, nnz=nnz,
                         density=density, support=support, rng=rng, bias=bias,
                         init=_default_init(init, operator))
        self._setup_offset(operator, alpha, train_alpha, name=name, seed=offset_seed)
