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

__all__ = ["conv_output_shape", "im2col", "col2im"]


def _geometry(kernel, stride, padding, in_shape, owner, channels=None):
    """Validated ``(kh, kw), (sh, sw), (ph, pw)`` and the output shape ``(C, Ho, Wo)``."""
    (kh, kw), (sh, sw) = pair("kernel", kernel, owner), pair("stride", stride, owner)
    ph, pw = pair("padding", padding, owner, minimum=0)
    in_shape = tuple(in_shape)
    if len(in_shape) != 3 or channels not in (None, in_shape[0]):
        raise ValueError(f"{owner}: input shape {in_shape}, expected "
                         f"({'C' if channels is None else channels}, H, W)")
    for size, k, p in ((in_shape[1], kh, ph), (in_shape[2], kw, pw)):
        if size + 2 * p < k:
            raise ValueError(f"{owner}: input shape {in_shape}: kernel {k} is larger than "
                             f"the padded input {size} + 2 * {p}")
    out = (in_shape[0], (in_shape[1] + 2 * ph - kh) // sh + 1,
           (in_shape[2] + 2 * pw - kw) // sw + 1)
    return (kh, kw), (sh, sw), (ph, pw), out


def conv_output_shape(in_shape, kernel, stride=1, padding=0, *, channels=None,
                      owner: str = "conv_output_shape") -> tuple[int, int, int]:
    """``(C, Ho, Wo)`` of an image ``in_shape = (C, H, W)``, ``Ho = (H + 2 * ph - kh) // sh + 1``.

    ``kernel``, ``stride`` and ``padding`` are ints or (height, width) pairs.  ValueError
    naming ``owner`` for a shape not ``(channels, H, W)`` or a kernel larger than the
    padded image.
    """
    return _geometry(kernel, stride, padding, in_shape, owner, channels)[3]


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
    (kh, kw), (sh, sw), (ph, pw), (_, ho, wo) = _geometry(kernel, stride, padding,
                                                          x.shape[-3:], "im2col")
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
    (kh, kw), (sh, sw), (ph, pw), (c, ho, wo) = _geometry(kernel, stride, padding, x_shape,
                                                          "col2im")
    h, w = x_shape[1:]
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
