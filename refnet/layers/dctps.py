"""DCT plus Sparse layers (Price & Tanner, ICML 2021): ``W = alpha * D + S``.

``D`` is the truncated orthonormal DCT-II (:class:`refnet.ops.dct.TruncatedDCT`),
applied with ``scipy.fft`` and never stored; ``S`` is sparse on a fixed support
(:class:`refnet.ops.csr.CSRSupport`).  The trainable parameters are the ``nnz``
values of ``S``, the scalar ``alpha`` (unless frozen) and the bias, so a layer
that behaves like a dense ``m x n`` matrix trains ``nnz + 1 + m`` numbers and
costs ``O(B q log q + B nnz)`` per pass instead of ``O(B m n)``.

The original PyTorch code materialises ``D`` as a frozen dense weight
(``dct(eye(q), norm='ortho')[:n, :m]`` used as ``y = x @ f``) and ``S`` as a
dense weight with a gradient mask; these layers compute the same function
(checked against that construction in the tests) at the cost the paper
promises.
"""
from __future__ import annotations

from ..ops.dct import TruncatedDCT
from .sparse import SparseConv2d, SparseLinear

__all__ = ["DCTpSLinear", "DCTpSConv2d"]


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
    init : {"zeros", "kaiming-dense", "kaiming-sparse"}, default "zeros"
        Initialiser of the values of ``S``; zeros is the paper's choice (at
        initialisation the layer is exactly ``alpha * D``).
    alpha : float, default 1.0
        The initial value of ``alpha`` (the parameter ``"alpha"``, a 0-d
        array), or its fixed value when ``train_alpha=False``.
    train_alpha : bool, default True
        Whether ``alpha`` is a parameter; if not, it is a layer attribute.

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

    _repr_fields = ("n_in", "n_out", "nnz", "alpha", "train_alpha", "bias", "init_name")

    def __init__(self, n_in: int, n_out: int, *, nnz: int | None = None,
                 density: float | None = None, support=None, rng=None, bias: bool = True,
                 init: str = "zeros", alpha: float = 1.0, train_alpha: bool = True):
        super().__init__(n_in, n_out, nnz=nnz, density=density, support=support, rng=rng,
                         bias=bias, init=init)
        self._setup_offset(TruncatedDCT(self.n_in, self.n_out), alpha, train_alpha)


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
    init : {"zeros", "kaiming-dense", "kaiming-sparse"}, default "zeros"
    alpha : float, default 1.0
    train_alpha : bool, default True
        As for :class:`DCTpSLinear`.

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
                    "alpha", "train_alpha", "bias", "init_name")

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride: int = 1,
                 padding: int = 0, *, nnz: int | None = None, density: float | None = None,
                 support=None, rng=None, bias: bool = True, init: str = "zeros",
                 alpha: float = 1.0, train_alpha: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, nnz=nnz,
                         density=density, support=support, rng=rng, bias=bias, init=init)
        self._setup_offset(TruncatedDCT(self.patch_size, self.out_channels), alpha, train_alpha)
