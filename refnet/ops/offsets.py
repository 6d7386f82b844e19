"""The fixed offsets ``O`` of a DCT-plus-Sparse layer ``y = alpha * O @ x + S @ x (+ b)``.

==================  ================================================  ============  ===========
name                ``O`` (``m x n``, ``q = max(m, n)``)                cost per row  stored
==================  ================================================  ============  ===========
``dct``             ``D = C[:m, :n]`` (:mod:`refnet.ops.dct`)           O(q log q)    nothing
``randomized-dct``  ``P_out @ D @ diag(s) @ P_in``, seeded              O(q log q)    3 vectors
``orthogonal``      Haar-random orthonormal rows or columns, seeded      O(m n)        m n numbers
``identity``        ``I[:m, :n]``: truncated or zero-padded identity     O(m + n)      nothing
``none``            no offset: a plain sparse layer                      -             -
==================  ================================================  ============  ===========

All but ``none`` have every singular value 1 (at ``S = 0`` a layer is ``alpha`` times a
partial isometry); they differ in what they mix.  Random offsets take an int or a
Generator as seed; the same seed gives bitwise the same operator.

Examples
--------
>>> import numpy as np
>>> O = make_offset("randomized-dct", 6, 4, seed=0)
>>> bool(np.allclose(O.matrix() @ O.matrix().T, np.eye(4)))        # orthonormal rows
True
"""
from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.sparse as sp

from ._args import as_rng
from .dct import TruncatedDCT
from .operator import FixedOperator

__all__ = ["OFFSETS", "RANDOM_OFFSETS", "make_offset", "check_offset_name", "haar_orthogonal",
           "RandomizedDCT", "RandomOrthogonal", "TruncatedIdentity"]

#: Every offset name, the paper's first.
OFFSETS = ("dct", "randomized-dct", "orthogonal", "identity", "none")
#: The offsets drawn at random from a seed.
RANDOM_OFFSETS = ("randomized-dct", "orthogonal")


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


def haar_orthogonal(m: int, n: int, rng) -> np.ndarray:
    """A Haar-random ``(m, n)`` matrix with orthonormal rows (``m <= n``) or columns.

    ``Q, R = qr(G)`` of a Gaussian ``G`` (max(m, n), min(m, n)), each column of ``Q``
    times the sign of ``R[k, k]``, else the law depends on QR's sign convention (Mezzadri 2007).
    """
    q, r = np.linalg.qr(as_rng(rng).standard_normal((max(m, n), min(m, n))))
    d = np.sign(np.diag(r))
    q = q * np.where(d == 0.0, 1.0, d)                          # d == 0 has probability 0
    return q if m >= n else q.T


class RandomOrthogonal(FixedOperator):
    """A stored :func:`haar_orthogonal` matrix, ``O(m n)`` per row by BLAS: the statistical
    reference for the DCT, with no structure at all."""

    name = "orthogonal"

    def __init__(self, n_in: int, n_out: int, rng):
        super().__init__(n_in, n_out)
        self._O = np.ascontiguousarray(haar_orthogonal(self.n_out, self.n_in, rng))
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


def _copy_prefix(a, size):
    k = min(size, a.shape[-1])
    out = np.zeros(a.shape[:-1] + (size,), dtype=np.result_type(a, 1.0))
    out[..., :k] = a[..., :k]
    return out


def check_offset_name(offset, owner: str) -> str:
    """``offset`` if it is one of :data:`OFFSETS`, else a ValueError listing them."""
    if not isinstance(offset, str) or offset not in OFFSETS:
        raise ValueError(f"{owner}: offset must be one of {', '.join(OFFSETS)}, got {offset!r}")
    return offset


def make_offset(name: str, n_in: int, n_out: int, seed=None) -> FixedOperator | None:
    """The offset ``name`` of shape ``(n_out, n_in)``, None for "none"; ``seed`` (an int or a
    Generator) is required by :data:`RANDOM_OFFSETS` and refused by the others."""
    check_offset_name(name, "make_offset")
    if name in RANDOM_OFFSETS:
        if seed is None:
            raise TypeError(f"make_offset: the {name!r} offset is random and needs a seed (an "
                            f"int or a numpy.random.Generator)")
        return {"randomized-dct": RandomizedDCT, "orthogonal": RandomOrthogonal}[name](
            n_in, n_out, seed)
    if seed is not None:
        raise ValueError(f"make_offset: the {name!r} offset is not random; its seed must be "
                         f"None, got {seed!r}")
    return None if name == "none" else {"dct": TruncatedDCT, "identity": TruncatedIdentity}[
        name](n_in, n_out)
