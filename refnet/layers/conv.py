"""The 2-D convolution layer (NCHW), computed as im2col followed by one matmul."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._checks import as_input, as_rng, check_pair, check_positive_int
from ..core.layer import Layer, fold_lead, lead_shape
from ..initializers import check_init_name, initialize
from ..ops.im2col import col2im, conv_output_shape, im2col

__all__ = ["Conv2d", "Conv2dCache"]


class Conv2dCache(NamedTuple):
    """What :class:`Conv2d` keeps from the forward pass."""

    cols: np.ndarray    #: im2col(x), shape (B, Ho, Wo, kh * kw * C)
    x_shape: tuple      #: the input shape (B, C, H, W)


class Conv2d(Layer):
    """2-D convolution (cross-correlation, as in PyTorch) of NCHW images.

    ``in_channels = C``, ``out_channels = O``; ``kernel_size``, ``stride`` and
    ``padding`` (zeros on both sides) are ints or (height, width) pairs; ``init``
    names the initializer of ``W`` (:mod:`refnet.initializers`, fan-in ``C * kh * kw``).

    Notes
    -----
    Shapes: x (B, C, H, W), W (O, C, kh, kw) (PyTorch's layout), b (O,), y (B, O,
    Ho, Wo), ``Ho = (H + 2 * ph - kh) // sh + 1``.  :func:`refnet.ops.im2col`
    flattens each patch of ``P = kh * kw * C`` entries with the channel fastest,
    so the weight as a matrix is ``W_mat = W.transpose(0, 2, 3, 1).reshape(O, P)``.
    ``g`` is ``y_bar`` with channels last, (*lead, B, Ho, Wo, O)::

        cols  = im2col(x, (kh, kw), stride, padding)                # (B, Ho, Wo, P)
        y     = (cols @ W_mat.T + b).transpose(0, 3, 1, 2)          # Forward, (B, O, Ho, Wo)
        x_bar = col2im(g @ W_mat, (C, H, W), (kh, kw), stride, padding)  # VJP, (*lead, B, C, H, W)
        W_mat_bar = sum_{b,i,j} g[..., b, i, j, :, None] * cols[b, i, j, None, :]  # (*lead, O, P)
        b_bar = sum_{b,i,j} g[..., b, i, j, :]                      # (*lead, O)
        y_dot = im2col(x_dot) @ W_mat.T, channels moved back        # JVP, (*lead, B, O, Ho, Wo)

    ``W_bar`` is ``W_mat_bar`` reshaped back to (O, C, kh, kw); ``col2im``, the exact
    transpose of ``im2col``, sums where patches overlap.

    Examples
    --------
    >>> import numpy as np
    >>> conv = Conv2d(3, 8, kernel_size=3, padding=1)
    >>> params = conv.init(np.random.default_rng(0))
    >>> params["W"].shape
    (8, 3, 3, 3)
    >>> conv(params, np.zeros((2, 3, 5, 5))).shape
    (2, 8, 5, 5)
    """

    is_linear = True
    _repr_fields = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "bias",
                    "init_name")

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, init: str = "kaiming-normal"):
        self.in_channels = check_positive_int("in_channels", in_channels, "Conv2d")
        self.out_channels = check_positive_int("out_channels", out_channels, "Conv2d")
        self.kernel_size = check_pair("kernel_size", kernel_size, "Conv2d")
        self.stride = check_pair("stride", stride, "Conv2d")
        self.padding = check_pair("padding", padding, "Conv2d", minimum=0)
        self.bias = bool(bias)
        self.init_name = check_init_name(init)

    @property
    def patch_size(self) -> int:
        """``P = kh * kw * in_channels``, the length of one flattened patch."""
        return self.kernel_size[0] * self.kernel_size[1] * self.in_channels

    def param_shapes(self):
        shapes = {"W": (self.out_channels, self.in_channels) + self.kernel_size}
        if self.bias:
            shapes["b"] = (self.out_channels,)
        return shapes

    def output_shape(self, in_shape):
        return (self.out_channels,) + conv_output_shape(
            in_shape, self.kernel_size, self.stride, self.padding, channels=self.in_channels,
            owner="Conv2d")[1:]

    def init(self, rng):
        rng = as_rng(rng)
        params = {"W": initialize(self.init_name, self.param_shapes()["W"], rng)}
        if self.bias:
            params["b"] = np.zeros(self.out_channels)
        return params

    def weight_matrix(self, params) -> np.ndarray:
        """``W`` as the (out_channels, P) matrix that multiplies im2col's patches."""
        return params["W"].transpose(0, 2, 3, 1).reshape(self.out_channels, self.patch_size)

    def forward(self, params, x):
        self.check_params(params)
        x = as_input(x, type(self).__name__)
        if x.ndim != 4:
            raise ValueError(f"Conv2d: x has shape {x.shape}, expected "
                             f"(B, {self.in_channels}, H, W)")
        out_shape = self.output_shape(x.shape[1:])
        cols = im2col(x, self.kernel_size, self.stride, self.padding)    # (B, Ho, Wo, P)
        y = cols.reshape(-1, self.patch_size) @ self.weight_matrix(params).T
        if self.bias:
            y = y + params["b"]
        y = y.reshape((x.shape[0],) + out_shape[1:] + (self.out_channels,))
        return np.ascontiguousarray(y.transpose(0, 3, 1, 2)), Conv2dCache(cols, x.shape)

    def vjp(self, params, cache, y_bar, *, need_params=True):
        batch, ho, wo, _ = cache.cols.shape
        out = self.out_channels
        lead = lead_shape("y_bar", y_bar, (batch, out, ho, wo), "Conv2d")
        # channels last: the rows of g line up with the rows of cols
        g = np.ascontiguousarray(fold_lead(y_bar, 4).transpose(0, 2, 3, 1))   # (K*B, Ho, Wo, O)
        cols_bar = (g.reshape(-1, out) @ self.weight_matrix(params)).reshape(
            g.shape[:3] + (self.patch_size,))                               # (K*B, Ho, Wo, P)
        x_bar = col2im(cols_bar, cache.x_shape[1:], self.kernel_size, self.stride,
                       self.padding).reshape(lead + cache.x_shape)
        if not need_params:
            return x_bar, None
        g3 = g.reshape(math.prod(lead), batch * ho * wo, out)               # (K, B*Ho*Wo, O)
        w_mat_bar = np.matmul(g3.transpose(0, 2, 1),
                              cache.cols.reshape(batch * ho * wo, self.patch_size))  # (K, O, P)
        kh, kw = self.kernel_size
        w_bar = w_mat_bar.reshape(-1, out, kh, kw, self.in_channels).transpose(0, 1, 4, 2, 3)
        grads = {"W": np.ascontiguousarray(w_bar).reshape(lead + self.param_shapes()["W"])}
        if self.bias:
            grads["b"] = g3.sum(axis=1).reshape(lead + (out,))
        return x_bar, grads

    def jvp(self, params, cache, x_dot):
        lead = lead_shape("x_dot", x_dot, cache.x_shape, "Conv2d")
        batch, ho, wo, _ = cache.cols.shape
        cols_dot = im2col(fold_lead(x_dot, 4), self.kernel_size, self.stride, self.padding)
        y_dot = cols_dot.reshape(-1, self.patch_size) @ self.weight_matrix(params).T
        y_dot = y_dot.reshape(-1, ho, wo, self.out_channels).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(y_dot).reshape(lead + (batch, self.out_channels, ho, wo))
