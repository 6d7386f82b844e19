"""im2col and its exact adjoint col2im: convolution as a matrix product.

A 2-D convolution of an NCHW image with a ``(kh, kw)`` kernel, stride ``s`` and
zero padding ``p`` reads, for every output position ``(i, j)``, the patch

    xp[n, c, i*s + a, j*s + b]   for a < kh, b < kw, every channel c

of the padded image ``xp``.  ``im2col`` lays these patches out as rows::

    cols[n, i, j, (a * kw + b) * C + c] = xp[n, c, i*s + a, j*s + b]

that is, each patch flattened in (kernel row, kernel column, channel) order
with the CHANNEL FASTEST: the kernel layout of the DCTpS paper's code.  A
convolution is then ``cols @ W_mat.T`` with ``W_mat`` of shape (out_channels,
kh * kw * C).

``im2col`` is linear, so its VJP is its transpose, ``col2im``: every patch
entry is added back to the pixel it was read from (pixels shared by
overlapping patches collect the sum), and the padding is cut off.  The two
satisfy ``<im2col(x), c> == <x, col2im(c)>`` exactly, which the tests check.
"""
from __future__ import annotations

import numpy as np

from ..core.layer import check_positive_int

__all__ = ["conv_output_size", "im2col", "col2im"]


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length ``(size + 2 * padding - kernel) // stride + 1`` along one axis.

    Raises
    ------
    ValueError
        If the padded input is smaller than the kernel.
    """
    if size + 2 * padding < kernel:
        raise ValueError(f"kernel {kernel} is larger than the padded input "
                         f"{size} + 2 * {padding}")
    return (size + 2 * padding - kernel) // stride + 1


def _check(kernel, stride, padding):
    kh, kw = kernel
    check_positive_int("kernel height", kh, "im2col")
    check_positive_int("kernel width", kw, "im2col")
    check_positive_int("stride", stride, "im2col")
    check_positive_int("padding", padding, "im2col", minimum=0)
    return int(kh), int(kw), int(stride), int(padding)


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: int = 1,
           padding: int = 0) -> np.ndarray:
    """Gather every convolution patch of an NCHW batch into a row.

    Parameters
    ----------
    x : ndarray, shape (..., C, H, W)
        Leading axes (batch, tangent axes) are kept.
    kernel : (int, int)
        Kernel height and width.
    stride, padding : int

    Returns
    -------
    cols : ndarray, shape (..., Ho, Wo, kh * kw * C)
        C-contiguous; patch entries in (kernel row, kernel column, channel)
        order, channel fastest.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> im2col(x, (2, 2))[0, 0, 0]
    array([0., 1., 3., 4.])
    """
    kh, kw, stride, padding = _check(kernel, stride, padding)
    *lead, c, h, w = x.shape
    ho = conv_output_size(h, kh, stride, padding)
    wo = conv_output_size(w, kw, stride, padding)
    if padding:
        pad = [(0, 0)] * len(lead) + [(0, 0), (padding, padding), (padding, padding)]
        x = np.pad(x, pad)
    cols = np.empty(tuple(lead) + (ho, wo, kh, kw, c), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            window = x[..., a:a + stride * (ho - 1) + 1:stride, b:b + stride * (wo - 1) + 1:stride]
            cols[..., a, b, :] = np.moveaxis(window, -3, -1)      # (..., Ho, Wo, C)
    return cols.reshape(tuple(lead) + (ho, wo, kh * kw * c))


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int], kernel: tuple[int, int],
           stride: int = 1, padding: int = 0) -> np.ndarray:
    """The adjoint of :func:`im2col`: scatter-add patch rows back into an image.

    Parameters
    ----------
    cols : ndarray, shape (..., Ho, Wo, kh * kw * C)
    x_shape : (C, H, W)
        Per-image shape of the original input.
    kernel : (int, int)
    stride, padding : int

    Returns
    -------
    x_bar : ndarray, shape (..., C, H, W)
    """
    kh, kw, stride, padding = _check(kernel, stride, padding)
    c, h, w = x_shape
    ho = conv_output_size(h, kh, stride, padding)
    wo = conv_output_size(w, kw, stride, padding)
    lead = cols.shape[:-3]
    if cols.shape[-3:] != (ho, wo, kh * kw * c):
        raise ValueError(f"col2im: cols has shape {cols.shape}, expected "
                         f"(..., {ho}, {wo}, {kh * kw * c})")
    patches = cols.reshape(lead + (ho, wo, kh, kw, c))
    xp = np.zeros(lead + (c, h + 2 * padding, w + 2 * padding), dtype=cols.dtype)
    for a in range(kh):
        for b in range(kw):
            xp[..., a:a + stride * (ho - 1) + 1:stride, b:b + stride * (wo - 1) + 1:stride] += \
                np.moveaxis(patches[..., a, b, :], -1, -3)
    if padding:
        xp = xp[..., padding:padding + h, padding:padding + w]
    return np.ascontiguousarray(xp)
