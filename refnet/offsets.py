"""The fixed offsets ``O`` of a DCT-plus-Sparse layer ``y = alpha * O @ x + S @ x (+ b)``.

A DCTpS layer takes ``offset="dct"`` (its default), ``"none"`` or any of these as an
operator: ``DCTpSLinear(n, m, ..., offset=make_offset(name, n, m, seed))``.

==================  ================================================  ============  ===========
name                ``O`` (``m x n``, ``q = max(m, n)``)                cost per row  stored
==================  ================================================  ============  ===========
``dct``             ``D = C[:m, :n]`` (:mod:`refnet.ops.dct`)           O(q log q)    nothing
``randomized-dct``  ``P_out @ D @ diag(s) @ P_in``, seeded              O(q log q)    3 vectors
``orthogonal``      Haar-random orthonormal rows or columns, seeded      O(m n)        m n numbers
``identity``        ``I[:m, :n]``: truncated or zero-padded identity     O(m + n)      nothing
``permutation``     ``P[:m, :n]``, ``P`` a random ``q x q`` permutation   O(m + n)      1 vector
``signs``           ``I[:m, :n] @ diag(s)``, random signs ``s``          O(m + n)      1 vector
``dct-2d``          2-D DCT of a 28 x 28 image, by total frequency       O(q log q)    1 vector
``none``            no offset: a plain sparse layer                      -             -
==================  ================================================  ============  ===========

All but ``none`` have every singular value 1 (at ``S = 0`` a layer is ``alpha`` times a
partial isometry); they differ in what they mix.  ``permutation``, ``signs`` and ``dct-2d``
are an ablation of the DCT: the randomised DCT's two random ingredients alone, mixing
nothing, and the DCT of the image as a 2-D signal rather than of the flattened image.
Random offsets take an int or a Generator as seed; the same seed gives bitwise the same
operator.

Examples
--------
>>> import numpy as np
>>> O = make_offset("randomized-dct", 6, 4, seed=0)
>>> bool(np.allclose(O.matrix() @ O.matrix().T, np.eye(4)))        # orthonormal rows
True
"""
from __future__ import annotations

import numbers

import numpy as np
import scipy.fft
import scipy.sparse as sp

from ._checks import as_rng
from .initializers import orthogonal
from .ops.dct import TruncatedDCT
from .ops.operator import FixedOperator

__all__ = ["OFFSETS", "RANDOM_OFFSETS", "make_offset", "RandomizedDCT", "RandomOrthogonal",
           "TruncatedIdentity", "RandomPermutation", "RandomSigns", "ImageDCT"]

#: Every offset name, the paper's first.
OFFSETS = ("dct", "randomized-dct", "orthogonal", "identity", "none", "permutation", "signs",
           "dct-2d")
#: The offsets drawn at random from a seed.
RANDOM_OFFSETS = ("randomized-dct", "orthogonal", "permutation", "signs")


class RandomizedDCT(FixedOperator):
    """``O = P_out @ D @ diag(s) @ P_in``: the DCT between random permutations and signs.

    ``rng`` (a Generator or an int) draws ``perm_in = rng.permutation(n)``, ``s = 1 - 2 *
    rng.integers(0, 2, n)`` and ``perm_out = rng.permutation(m)``, in this order.

    Notes
    -----
    ``(P_in @ x)[j] = x[perm_in[j]]``, ``(P_out @ z)[i] = z[perm_out[i]]``; ``perm_out``
    also truncates to ``m`` outputs::

        O @ x = dct(pad(x[..., perm_in] * s, q))[..., perm_out]            # (..., m)

    Adjoint: permutations are orthogonal (``P.T @ v = v[..., argsort(perm)]``), so
    ``O.T = P_in.T @ diag(s) @ D.T @ P_out.T`` and, with ``inv = argsort(perm)``::

        O.T @ y = idct(pad(y[..., inv_out], q))[..., :n][..., inv_in] * s[inv_in]

    Over the draws ``E[(O @ x)[i]**2] = |x|**2 / n`` for every output (``m <= n``):
    no ordering by frequency is left.
    """

    name = "randomized-dct"

    def __init__(self, n_in: int, n_out: int, rng):
        super().__init__(n_in, n_out)
        rng = as_rng(rng)
        self.q = max(self.n_in, self.n_out)
        self.perm_in = rng.permutation(self.n_in)
        self.signs = 1.0 - 2.0 * rng.integers(0, 2, size=self.n_in)
        self.perm_out = rng.permutation(self.n_out)
        self.inv_in, self.inv_out = np.argsort(self.perm_in), np.argsort(self.perm_out)
        self.signs_in_order = self.signs[self.inv_in]

    def apply(self, x):
        x = self._check_last_axis("x", x, self.n_in)
        v = np.take(x, self.perm_in, axis=-1).astype(np.result_type(x, 1.0), copy=False)
        v *= self.signs                                          # v is a new array
        z = scipy.fft.dct(v, type=2, n=self.q, axis=-1, norm="ortho", overwrite_x=True)
        return np.take(z, self.perm_out, axis=-1)

    def adjoint(self, y):
        y = self._check_last_axis("y", y, self.n_out)
        z_bar = np.take(y, self.inv_out, axis=-1)
        w = scipy.fft.idct(z_bar, type=2, n=self.q, axis=-1, norm="ortho", overwrite_x=True)
        x_bar = np.take(w[..., :self.n_in], self.inv_in, axis=-1)
        x_bar *= self.signs_in_order
        return x_bar


class RandomOrthogonal(FixedOperator):
    """A stored Haar-random matrix (:func:`refnet.initializers.orthogonal`), ``O(m n)`` per
    row by BLAS: the statistical reference for the DCT, with no structure at all."""

    name = "orthogonal"

    def __init__(self, n_in: int, n_out: int, rng):
        super().__init__(n_in, n_out)
        self._O = np.ascontiguousarray(orthogonal((self.n_out, self.n_in), rng))
        self._O.flags.writeable = False

    def apply(self, x):
        x = self._check_last_axis("x", x, self.n_in)
        return (x.reshape(-1, self.n_in) @ self._O.T).reshape(x.shape[:-1] + (self.n_out,))

    def adjoint(self, y):
        y = self._check_last_axis("y", y, self.n_out)
        return (y.reshape(-1, self.n_out) @ self._O).reshape(y.shape[:-1] + (self.n_in,))

    def matrix(self):
        return self._O.copy()


class TruncatedIdentity(FixedOperator):
    """``I[:m, :n]``, a control that mixes nothing; its transpose is the same copy the other
    way (truncation and zero-padding are each other's transposes)."""

    name = "identity"

    def apply(self, x):
        return _copy_prefix(self._check_last_axis("x", x, self.n_in), self.n_out)

    def adjoint(self, y):
        return _copy_prefix(self._check_last_axis("y", y, self.n_out), self.n_in)

    def structure(self):
        return sp.eye(self.n_out, self.n_in, dtype=np.int8, format="csr")


class RandomPermutation(FixedOperator):
    """``O = P[:m, :n]``: ``m`` rows and ``n`` columns of a random ``q x q`` permutation
    matrix ``P`` (``q = max(m, n)``), drawn as ``perm = rng.permutation(q)``.

    Notes
    -----
    With ``(P @ z)[i] = z[perm[i]]`` and ``pad`` the zero-padding to ``q``::

        O @ x = pad(x, q)[..., perm[:m]]

    Each output copies one input or is zero: nothing is mixed.  ``O.T = P.T[:n, :m]`` and
    ``P.T`` scatters back what ``P`` gathered::

        z = zeros(q); z[..., perm[:m]] = y;  O.T @ y = z[..., :n]

    ``P`` is orthogonal, so the ``m`` rows (``m <= n = q``) or ``n`` columns (``n <= m = q``)
    of ``O`` are orthonormal: every singular value is 1.
    """

    name = "permutation"

    def __init__(self, n_in: int, n_out: int, rng):
        super().__init__(n_in, n_out)
        self.q = max(self.n_in, self.n_out)
        self.perm = as_rng(rng).permutation(self.q)

    def apply(self, x):
        x = self._check_last_axis("x", x, self.n_in)
        return np.take(_copy_prefix(x, self.q), self.perm[:self.n_out], axis=-1)

    def adjoint(self, y):
        y = self._check_last_axis("y", y, self.n_out)
        z = np.zeros(y.shape[:-1] + (self.q,), dtype=np.result_type(y, 1.0))
        z[..., self.perm[:self.n_out]] = y
        return np.ascontiguousarray(z[..., :self.n_in])

    def structure(self):
        rows = np.flatnonzero(self.perm[:self.n_out] < self.n_in)
        return sp.csr_matrix((np.ones(rows.size, np.int8), (rows, self.perm[rows])),
                             shape=self.shape)


class RandomSigns(FixedOperator):
    """``O = I[:m, :n] @ diag(s)``: the truncated or zero-padded identity after random signs
    ``s = 1 - 2 * rng.integers(0, 2, n)`` on the inputs.

    ``O @ x = pad_or_truncate(x * s, m)`` and, as ``diag(s)`` is symmetric and truncation and
    zero-padding are each other's transposes, ``O.T @ y = pad_or_truncate(y, n) * s``.  ``s *
    s = 1``, so ``diag(s)`` is orthogonal and the singular values are those of ``I[:m, :n]``,
    all 1.
    """

    name = "signs"

    def __init__(self, n_in: int, n_out: int, rng):
        super().__init__(n_in, n_out)
        self.signs = 1.0 - 2.0 * as_rng(rng).integers(0, 2, size=self.n_in)

    def apply(self, x):
        x = self._check_last_axis("x", x, self.n_in)
        k = min(self.n_in, self.n_out)
        out = _copy_prefix(x, self.n_out)                       # a new array, x's dtype
        out[..., :k] *= self.signs[:k]
        return out

    def adjoint(self, y):
        y = self._check_last_axis("y", y, self.n_out)
        out = _copy_prefix(y, self.n_in)
        out *= self.signs                                       # out is a new array
        return out

    def structure(self):
        return sp.eye(self.n_out, self.n_in, dtype=np.int8, format="csr")


class ImageDCT(TruncatedDCT):
    """The 2-D DCT of a 28 x 28 image, coefficients ordered by total frequency, truncated or
    zero-padded to ``m``; for ``n_in != 784`` exactly the 1-D :class:`TruncatedDCT`.

    Only a 784-vector is read as an image (MNIST's, flattened row-major): any other input
    size (LeNet-300-100's hidden layers, a convolution's patches unless they happen to hold
    784 numbers) gets the 1-D DCT, so in LeNet-300-100 only the first layer differs from
    ``dct``.

    Notes
    -----
    With ``C`` the 28 x 28 orthonormal DCT-II matrix, ``X = x.reshape(28, 28)`` and ``K = C @ X
    @ C.T`` (``scipy.fft.dctn`` over both axes), i.e. ``vec(K) = kron(C, C) @ x``.  The
    coefficients are read in the order ``order`` that sorts ``(k1 + k2, k1)``, so truncation
    to ``m < 784`` keeps the lowest total frequencies (the 1-D DCT of the flattened image
    instead keeps its first ``m`` frequencies along the flattened axis)::

        O @ x = pad_or_truncate(dctn(X).reshape(784)[..., order], m)

    ``O = T_m @ Q @ kron(C, C)`` with ``Q`` the permutation ``order`` and ``T_m = I[:m, :784]``,
    so ``O.T = kron(C.T, C.T) @ Q.T @ T_m.T``: keep or pad ``y`` to 784, scatter it back to
    ``order``, and invert the 2-D DCT (``idctn``, as ``C.T = C^-1``)::

        k = zeros(784); k[..., order] = pad_or_truncate(y, 784);  O.T @ y = idctn(k) as 784

    ``kron(C, C)`` and ``Q`` are orthogonal: every singular value is 1.
    """

    name = "dct-2d"
    #: The image shape a 784-vector is read as.
    IMAGE = (28, 28)

    def __init__(self, n_in: int, n_out: int):
        super().__init__(n_in, n_out)
        self.is_image = self.n_in == self.IMAGE[0] * self.IMAGE[1]
        k1, k2 = np.indices(self.IMAGE).reshape(2, -1)
        self.order = np.lexsort((k1, k1 + k2))

    def apply(self, x):
        if not self.is_image:
            return super().apply(x)
        x = self._check_last_axis("x", x, self.n_in)
        k = scipy.fft.dctn(x.reshape(x.shape[:-1] + self.IMAGE), type=2, axes=(-2, -1),
                           norm="ortho").reshape(x.shape)
        return _copy_prefix(np.take(k, self.order, axis=-1), self.n_out)

    def adjoint(self, y):
        if not self.is_image:
            return super().adjoint(y)
        y = self._check_last_axis("y", y, self.n_out)
        k = np.empty(y.shape[:-1] + (self.n_in,), dtype=np.result_type(y, 1.0))
        k[..., self.order] = _copy_prefix(y, self.n_in)
        return scipy.fft.idctn(k.reshape(y.shape[:-1] + self.IMAGE), type=2, axes=(-2, -1),
                               norm="ortho", overwrite_x=True).reshape(k.shape)

    def matrix(self):
        """Column by column from :meth:`apply` (the parent's closed form is the 1-D DCT's)."""
        return FixedOperator.matrix(self)


def _copy_prefix(a, size):
    k = min(size, a.shape[-1])
    out = np.zeros(a.shape[:-1] + (size,), dtype=np.result_type(a, 1.0))
    out[..., :k] = a[..., :k]
    return out


def make_offset(name: str, n_in: int, n_out: int, seed=None) -> FixedOperator | None:
    """The offset ``name`` of shape ``(n_out, n_in)``, None for "none"; ``seed`` (an int or a
    Generator) is required by :data:`RANDOM_OFFSETS` and refused by the others."""
    if not isinstance(name, str) or name not in OFFSETS:
        raise ValueError(f"make_offset: offset must be one of {', '.join(OFFSETS)}, "
                         f"got {name!r}")
    if name in RANDOM_OFFSETS:
        if seed is None:
            raise TypeError(f"make_offset: the {name!r} offset is random and needs a seed (an "
                            f"int or a numpy.random.Generator)")
        if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral,
                                                           np.random.Generator)):
            raise TypeError(f"make_offset: seed must be an int or a numpy.random.Generator, "
                            f"got {seed!r}")
        return {"randomized-dct": RandomizedDCT, "orthogonal": RandomOrthogonal,
                "permutation": RandomPermutation, "signs": RandomSigns}[name](n_in, n_out, seed)
    if seed is not None:
        raise ValueError(f"make_offset: the {name!r} offset is not random; its seed must be "
                         f"None, got {seed!r}")
    return None if name == "none" else {"dct": TruncatedDCT, "identity": TruncatedIdentity,
                                        "dct-2d": ImageDCT}[name](n_in, n_out)
