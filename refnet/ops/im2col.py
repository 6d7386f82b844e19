"""im2col and its exact adjoint col2im: convolution as a matrix product.

A 2-D convolution of an NCHW image with a ``(kh, kw)`` kernel, stride
``(sh, sw)`` and zero padding ``(ph, pw)`` reads, for every output position
``(i, j)``, the patch

    xp[n, c, i*sh + a, j*sw + b]   for a < kh, b < kw, every channel c

of the padded image ``xp`` (``ph`` zero rows above and below, ``pw`` zero
columns left and right).  ``im2col`` lays these patches out as rows::

    cols[n, i, j, (a * kw + b) * C + c] = xp[n, c, i*sh + a, j*sw + b]

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

from ._args import pair

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


def _geometry(kernel, stride, padding, image_shape, owner):
    """Validated ``(kh, kw), (sh, sw), (ph, pw), (Ho, Wo)`` for an image of (H, W)."""
    kh, kw = pair("kernel", kernel, owner)
    sh, sw = pair("stride", stride, owner)
    ph, pw = pair("padding", padding, owner, minimum=0)
    h, w = image_shape
    try:
        out = (conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw))
    except ValueError as err:
        raise ValueError(f"{owner}: image of height x width {h} x {w}: {err}") from None
    return (kh, kw), (sh, sw), (ph, pw), out


def im2col(x: np.ndarray, kernel, stride=1, padding=0) -> np.ndarray:
    """Gather every convolution patch of an NCHW batch into a row.

    Parameters
    ----------
    x : ndarray, shape (..., C, H, W)
        Leading axes (batch, tangent axes) are kept.
    kernel : int or (int, int)
        Kernel height and width.
    stride, padding : int or (int, int)
        Per axis (height, width); an int is used for both.

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
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(f"im2col: x has shape {x.shape}, expected (..., C, H, W)")
    *lead, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (ho, wo) = _geometry(kernel, stride, padding, (h, w),
                                                       "im2col")
    if ph or pw:
        x = np.pad(x, [(0, 0)] * (len(lead) + 1) + [(ph, ph), (pw, pw)])
    cols = np.empty(tuple(lead) + (ho, wo, kh, kw, c), dtype=x.dtype)
    for a in range(kh):
        for b in range(kw):
            window = x[..., a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw]
            cols[..., a, b, :] = np.moveaxis(window, -3, -1)      # (..., Ho, Wo, C)
    return cols.reshape(tuple(lead) + (ho, wo, kh * kw * c))


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int], kernel, stride=1,
           padding=0) -> np.ndarray:
    """The adjoint of :func:`im2col`: scatter-add patch rows back into an image.

    Parameters
    ----------
    cols : ndarray, shape (..., Ho, Wo, kh * kw * C)
    x_shape : (C, H, W)
        Per-image shape of the original input.
    kernel : int or (int, int)
    stride, padding : int or (int, int)

    Returns
    -------
    x_bar : ndarray, shape (..., C, H, W)
        A new C-contiguous array.
    """
    cols = np.asarray(cols)
    c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (ho, wo) = _geometry(kernel, stride, padding, (h, w),
                                                       "col2im")
    if cols.ndim < 3 or cols.shape[-3:] != (ho, wo, kh * kw * c):
        raise ValueError(f"col2im: cols has shape {cols.shape}, expected "
                         f"(..., {ho}, {wo}, {kh * kw * c})")
    lead = cols.shape[:-3]
    patches = cols.reshape(lead + (ho, wo, kh, kw, c))
    xp = np.zeros(lead + (c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for a in range(kh):
        for b in range(kw):
            # overlapping patches (stride < kernel) share pixels: their entries add up
            xp[..., a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw] += \
                np.moveaxis(patches[..., a, b, :], -1, -3)
    return np.ascontiguousarray(xp[..., ph:ph + h, pw:pw + w])
