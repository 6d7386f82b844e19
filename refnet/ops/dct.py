"""The truncated orthonormal DCT-II ``D = C[:m, :n]``: apply ``D`` and apply ``D.T``.

For ``n`` inputs and ``m`` outputs let ``q = max(m, n)`` and ``C`` the ``q x q``
orthonormal DCT-II matrix, ``C = dct_matrix(q)``.  ``D`` is never stored::

    D @ x   = dct(pad(x, q), norm="ortho")[..., :m]        # O(q log q) per row
    D.T @ y = idct(pad(y, q), norm="ortho")[..., :n]

``pad`` appends zeros on the last axis (``scipy.fft``'s ``n=q`` does it).

Why ``D.T`` is the inverse DCT of the padded cotangent: write ``P_n`` for the
``q x n`` matrix that pads with zeros; ``P_n.T`` keeps the first ``n`` entries.
Then ``D = P_m.T @ C @ P_n``, so ``D.T = P_n.T @ C.T @ P_m = P_n.T @ C^-1 @ P_m``
because ``norm="ortho"`` makes ``C`` orthogonal, and ``C^-1`` is
``idct(type=2, norm="ortho")`` (the DCT-III).  Read right to left: pad to ``q``,
invert the DCT, keep ``n`` entries.  Truncation forward is padding backward.

The original DCTpS code's frozen weight ``f = dct(eye(q), norm='ortho')[:n, :m]``,
used as ``y = x @ f``, is ``C.T[:n, :m] = D.T`` (its ``dct`` runs along the last axis).

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
    """The ``q x q`` orthonormal DCT-II matrix ``C`` (tests and teaching: ``q * q`` memory)."""
    return scipy.fft.dct(np.eye(q), type=2, norm="ortho", axis=0)


class TruncatedDCT(FixedOperator):
    """``D = C[:m, :n]`` (``n = n_in``, ``m = n_out``), the paper's offset: O(q log q) a row.

    The module docstring derives :meth:`adjoint`.  Every singular value of ``D`` is 1
    (orthonormal rows or columns).  Fastest on C-ordered arrays, batch in front.
    """

    name = "dct"

    def __init__(self, n_in: int, n_out: int):
        super().__init__(n_in, n_out)
        self.q = max(self.n_in, self.n_out)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``D @ x = dct(pad(x, q))[..., :m]``: ``(..., n) -> (..., m)``, a new array."""
        x = self._check_last_axis("x", x, self.n_in)
        out = scipy.fft.dct(x, type=2, n=self.q, axis=-1, norm="ortho")
        return np.ascontiguousarray(out[..., :self.n_out])

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``D.T @ y = idct(pad(y, q))[..., :n]``: ``(..., m) -> (..., n)``, a new array."""
        y = self._check_last_axis("y", y, self.n_out)
        out = scipy.fft.idct(y, type=2, n=self.q, axis=-1, norm="ortho")
        return np.ascontiguousarray(out[..., :self.n_in])

    def matrix(self) -> np.ndarray:
        """``C[:m, :n]`` built explicitly (tests and teaching only)."""
        return dct_matrix(self.q)[:self.n_out, :self.n_in].copy()
