"""im2col and its exact adjoint col2im: convolution as a matrix product.

A 2-D convolution of an NCHW image with a ``(kh, kw)`` kernel, stride ``(sh,
sw)`` and zero padding ``(ph, pw)`` reads, at output position ``(i, j)``, the
patch ``xp[n, c, i*sh + a, j*sw + b]`` (``a < kh``, ``b < kw``) of the padded
image ``xp``.  ``im2col`` lays the patches out as rows, CHANNEL FASTEST (the
DCTpS paper's kernel layout)::

    cols[n, i, j, (a * kw + b) * C + c] = xp[n, c, i*sh + a, j*sw + b]

so a convolution is ``cols @ W_mat.T`` with ``W_mat`` (out_channels, kh * kw * C).
``im2col`` is linear; its adjoint ``col2im`` adds every patch entry back to the
pixel it was read from (shared pixels collect the sum) and cuts the padding
off: ``<im2col(x), c> == <x, col2im(c)>`` exactly.
"""
from __future__ import annotations

import numpy as np

from ._args import pair

__all__ = ["conv_output_size", "im2col", "col2im"]


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """``(size + 2 * padding - kernel) // stride + 1``; ValueError if the kernel does not fit."""
    if size + 2 * padding < kernel:
        raise ValueError(f"kernel {kernel} is larger than the padded input "
                         f"{size} + 2 * {padding}")
    return (size + 2 * padding - kernel) // stride + 1


def _geometry(kernel, stride, padding, image_shape, owner):
    """Validated ``(kh, kw), (sh, sw), (ph, pw), (Ho, Wo)`` for an image of (H, W)."""
    (kh, kw), (sh, sw) = pair("kernel", kernel, owner), pair("stride", stride, owner)
    ph, pw = pair("padding", padding, owner, minimum=0)
    h, w = image_shape
    try:
        out = (conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw))
    except ValueError as err:
        raise ValueError(f"{owner}: image of height x width {h} x {w}: {err}") from None
    return (kh, kw), (sh, sw), (ph, pw), out


def im2col(x: np.ndarray, kernel, stride=1, padding=0) -> np.ndarray:
    """Every convolution patch of ``x`` (..., C, H, W) as a row: (..., Ho, Wo, kh * kw * C).

    ``kernel``, ``stride`` and ``padding`` are ints or (height, width) pairs;
    leading axes are kept; the result is C-contiguous.

    Examples
    --------
    >>> import numpy as np
    >>> im2col(np.arange(9.0).reshape(1, 1, 3, 3), (2, 2))[0, 0, 0]
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
    """The adjoint of :func:`im2col`: rows (..., Ho, Wo, kh * kw * C) scatter-added into
    a new (..., C, H, W) image, ``x_shape = (C, H, W)``."""
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
            xp[..., a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw] += \
                np.moveaxis(patches[..., a, b, :], -1, -3)
    return np.ascontiguousarray(xp[..., ph:ph + h, pw:pw + w])
