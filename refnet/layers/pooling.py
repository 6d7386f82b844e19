"""2-D pooling of NCHW images: AvgPool2d and MaxPool2d.

Both read each channel's windows as a one-channel convolution would: with a channel
axis of length 1, :func:`refnet.ops.im2col` keeps every leading axis (batch, channel,
tangent axes) and lists each window row-major; :func:`refnet.ops.col2im` is its exact
transpose::

    windows = im2col(x[..., None, :, :], (kh, kw), stride, padding)   # (..., C, Ho, Wo, kh * kw)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import as_input, check_pair
from ..core.layer import Layer, lead_shape
from ..ops.im2col import col2im, conv_output_shape, im2col

__all__ = ["AvgPool2d", "MaxPool2d", "PoolCache", "MaxPoolCache"]


class PoolCache(NamedTuple):
    """What :class:`AvgPool2d` keeps (the map is linear)."""

    x_shape: tuple  #: (B, C, H, W)


class MaxPoolCache(NamedTuple):
    """What :class:`MaxPool2d` keeps: which entry of each window won."""

    argmax: np.ndarray  #: int, shape (B, C, Ho, Wo): row-major index into the window
    x_shape: tuple      #: (B, C, H, W)


class _Pool2d(Layer):
    """The pooling layers' window geometry and shape checks."""

    _repr_fields = ("kernel_size", "stride", "padding")

    def __init__(self, kernel_size, stride=None, padding=0):
        owner = type(self).__name__
        self.kernel_size = check_pair("kernel_size", kernel_size, owner)
        self.stride = self.kernel_size if stride is None else check_pair("stride", stride, owner)
        self.padding = check_pair("padding", padding, owner, minimum=0)
        # as in PyTorch: then every window holds at least one real pixel
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{owner}: padding must be at most half the kernel size "
                             f"{self.kernel_size} on each axis, got {self.padding}")

    @property
    def window_size(self) -> int:
        """``kh * kw``, the number of entries in one window."""
        return self.kernel_size[0] * self.kernel_size[1]

    def output_shape(self, in_shape):
        return conv_output_shape(in_shape, self.kernel_size, self.stride, self.padding,
                                 owner=type(self).__name__)

    def _check_x(self, x):
        x = as_input(x, type(self).__name__)
        if x.ndim != 4:
            raise ValueError(f"{type(self).__name__}: x has shape {x.shape}, expected "
                             f"(B, C, H, W)")
        self.output_shape(x.shape[1:])
        return x

    def _windows(self, x):
        """``(..., C, H, W) -> (..., C, Ho, Wo, kh * kw)``, zero padding."""
        return im2col(x[..., None, :, :], self.kernel_size, self.stride, self.padding)

    def _scatter(self, windows_bar, x_shape):
        """Adjoint of :meth:`_windows`: ``(..., C, Ho, Wo, kh * kw) -> (..., C, H, W)``."""
        x_bar = col2im(windows_bar, (1,) + tuple(x_shape[2:]), self.kernel_size, self.stride,
                       self.padding)
        return x_bar[..., 0, :, :]


class AvgPool2d(_Pool2d):
    """Average over each ``kh x kw`` window (``kernel_size``, an int or a pair).

    ``stride`` defaults to the kernel size (non-overlapping windows); ``padding``, at
    most half the kernel, adds zeros that count (PyTorch's ``count_include_pad``).

    Notes
    -----
    Shapes: x (B, C, H, W), y (B, C, Ho, Wo).  The VJP spreads each cotangent evenly
    over its window (pixels in several windows collect the sum)::

        y     = windows(x).sum(axis=-1) / (kh * kw)                            # Forward
        x_bar = col2im(repeat(y_bar[..., None] / (kh * kw), kh * kw, axis=-1))  # VJP
        y_dot = windows(x_dot).sum(axis=-1) / (kh * kw)                        # JVP

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> AvgPool2d(2)({}, x)[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """

    is_linear = True

    def forward(self, params, x):
        self.check_params(params)
        x = self._check_x(x)
        return self._windows(x).sum(axis=-1) / self.window_size, PoolCache(x.shape)

    def vjp(self, params, cache, y_bar, *, need_params=True):
        out_shape = cache.x_shape[:1] + self.output_shape(cache.x_shape[1:])
        lead_shape("y_bar", y_bar, out_shape, "AvgPool2d")
        share = np.repeat((y_bar / self.window_size)[..., None], self.window_size, axis=-1)
        return self._scatter(share, cache.x_shape), ({} if need_params else None)

    def jvp(self, params, cache, x_dot):
        lead_shape("x_dot", x_dot, cache.x_shape, "AvgPool2d")
        return self._windows(x_dot).sum(axis=-1) / self.window_size


class MaxPool2d(_Pool2d):
    """Maximum over each ``kh x kw`` window; arguments as for :class:`AvgPool2d`, but the
    padding is ``-inf`` and never wins.

    Notes
    -----
    Shapes: x (B, C, H, W), y and argmax (B, C, Ho, Wo), ``onehot(argmax)`` (B, C,
    Ho, Wo, kh * kw).  The whole cotangent of an output goes to its window's winner::

        argmax = np.argmax(windows(x), axis=-1)
        y      = take_along_axis(windows(x), argmax[..., None], axis=-1)[..., 0]      # Forward
        x_bar  = col2im(y_bar[..., None] * onehot(argmax))                            # VJP
        y_dot  = take_along_axis(windows(x_dot), argmax[..., None], axis=-1)[..., 0]  # JVP

    Ties: the FIRST maximum in row-major window order wins (``np.argmax``'s rule).
    Finite differences across a tie disagree, so gradient checks use well separated
    inputs (:func:`refnet.testing.distinct_values`).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[[1.0, 5.0], [5.0, 2.0]]]])       # a tie: 5 at (0, 1) and (1, 0)
    >>> pool = MaxPool2d(2)
    >>> y, cache = pool.forward({}, x)
    >>> pool.vjp({}, cache, np.ones_like(y), need_params=False)[0][0, 0]
    array([[0., 1.],
           [0., 0.]])
    """

    def forward(self, params, x):
        self.check_params(params)
        x = self._check_x(x)
        ph, pw = self.padding
        # floats: an integer image has no -inf to pad with
        xp = np.pad(x.astype(np.result_type(x, 1.0), copy=False),
                    [(0, 0), (0, 0), (ph, ph), (pw, pw)], constant_values=-np.inf)
        windows = im2col(xp[..., None, :, :], self.kernel_size, self.stride, 0)
        argmax = np.argmax(windows, axis=-1)           # the first maximum on ties
        y = np.take_along_axis(windows, argmax[..., None], axis=-1)[..., 0]
        return y, MaxPoolCache(argmax, x.shape)

    def vjp(self, params, cache, y_bar, *, need_params=True):
        lead_shape("y_bar", y_bar, cache.argmax.shape, "MaxPool2d")
        onehot = cache.argmax[..., None] == np.arange(self.window_size)
        windows_bar = np.where(onehot, y_bar[..., None], 0.0)
        return self._scatter(windows_bar, cache.x_shape), ({} if need_params else None)

    def jvp(self, params, cache, x_dot):
        lead = lead_shape("x_dot", x_dot, cache.x_shape, "MaxPool2d")
        windows_dot = self._windows(x_dot)
        index = np.broadcast_to(cache.argmax[..., None], lead + cache.argmax.shape + (1,))
        return np.take_along_axis(windows_dot, index, axis=-1)[..., 0]
