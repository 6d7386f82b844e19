"""The padded/truncated orthonormal DCT-II and its exact adjoint.

For ``n`` inputs and ``m`` outputs let ``q = max(m, n)`` and ``C`` be the
``q x q`` orthonormal DCT-II matrix,
``C = scipy.fft.dct(np.eye(q), type=2, norm="ortho", axis=0)``.  The DCTpS
offset is its top-left block ``D = C[:m, :n]``.  It is never stored::

    D @ x      = dct(pad(x, q), norm="ortho")[..., :m]      # O(q log q) per row
    D.T @ y    = idct(pad(y, q), norm="ortho")[..., :n]

where ``pad`` appends zeros on the last axis (``scipy.fft.dct``'s ``n=q``
argument does exactly that).

Why the adjoint is an inverse DCT of the padded cotangent
--------------------------------------------------------
Write ``P_n`` for the ``q x n`` matrix that pads with zeros (``P_n @ x =
pad(x, q)``); its transpose ``P_n.T`` keeps the first ``n`` entries.  Then::

    D = C[:m, :n] = P_m.T @ C @ P_n
    D.T = P_n.T @ C.T @ P_m = P_n.T @ C^-1 @ P_m

because ``C`` is orthogonal (``norm="ortho"``), so ``C.T = C^-1``, and
``C^-1`` is ``scipy.fft.idct(..., type=2, norm="ortho")``, the DCT-III.  Read
right to left: pad the cotangent to ``q``, inverse-transform, keep the first
``n`` entries.  Truncation in the forward direction (``[:m]``) becomes padding
in the adjoint, and padding becomes truncation.

This is the original DCTpS code's weight, ``scipy.fftpack.dct(np.eye(q),
norm='ortho')[:n, :m]`` (an ``(in, out)`` matrix ``f`` used as ``y = x @ f``):
that ``dct`` transforms along the LAST axis, so its result is ``C.T`` and
``f = C.T[:n, :m] = D.T``.

Examples
--------
>>> import numpy as np
>>> D = TruncatedDCT(3, 5)
>>> x = np.random.default_rng(0).standard_normal((2, 3))
>>> bool(np.allclose(D.apply(x), x @ D.matrix().T))
True
"""
from __future__ import annotations

import numpy as np
import scipy.fft

from .operator import FixedOperator

__all__ = ["TruncatedDCT", "dct_matrix"]


def dct_matrix(q: int) -> np.ndarray:
    """The ``q x q`` orthonormal DCT-II matrix ``C`` (``C @ v = dct(v, norm="ortho")``).

    For tests and teaching: it costs ``q * q`` memory.
    """
    return scipy.fft.dct(np.eye(q), type=2, norm="ortho", axis=0)


class TruncatedDCT(FixedOperator):
    """The block ``D = C[:m, :n]`` of the ``q x q`` orthonormal DCT-II ``C``, ``q = max(m, n)``.

    Parameters
    ----------
    n_in : int
        Input features ``n``.
    n_out : int
        Output features ``m``.

    Notes
    -----
    Both products run through ``scipy.fft`` on the last axis in
    ``O(q log q)`` per row; nothing of size ``m x n`` is ever built (except by
    :meth:`matrix`, for tests).  Forward and adjoint::

        D @ x   = dct(x, n=q, norm="ortho")[..., :m]        # (..., n) -> (..., m)
        D.T @ y = idct(y, n=q, norm="ortho")[..., :n]       # (..., m) -> (..., n)

    (``n=q`` zero-pads the last axis to length ``q``.)  The module docstring
    derives the adjoint.  When ``m == n`` the operator is orthogonal: every
    singular value is 1.  Otherwise its rows (``m < n``) or columns
    (``m > n``) are orthonormal, so all ``min(m, n)`` singular values are 1.

    The transform is fastest on C-ordered arrays along the last axis, so
    callers keep the batch in front (``(batch, features)``).
    """

    name = "dct"

    def __init__(self, n_in: int, n_out: int):
        super().__init__(n_in, n_out)
        self.q = max(self.n_in, self.n_out)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``D @ x`` on the last axis; returns a new C-contiguous ``(..., n_out)`` array."""
        x = self._check_last_axis("x", x, self.n_in)
        out = scipy.fft.dct(x, type=2, n=self.q, axis=-1, norm="ortho")
        # dct never writes into x (overwrite_x=False) and returns a fresh array
        return np.ascontiguousarray(out[..., :self.n_out])

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``D.T @ y`` on the last axis; returns a new C-contiguous ``(..., n_in)`` array."""
        y = self._check_last_axis("y", y, self.n_out)
        out = scipy.fft.idct(y, type=2, n=self.q, axis=-1, norm="ortho")
        return np.ascontiguousarray(out[..., :self.n_in])

    def matrix(self) -> np.ndarray:
        """``C[:m, :n]`` built explicitly (tests and teaching only: ``q * q`` memory)."""
        return dct_matrix(self.q)[:self.n_out, :self.n_in].copy()
