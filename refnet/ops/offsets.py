"""The fixed offsets ``O`` of a DCT-plus-Sparse layer ``y = alpha * O @ x + S @ x (+ b)``.

The paper's offset is the truncated DCT (:class:`~refnet.ops.dct.TruncatedDCT`).
Which of its properties make extreme sparsity trainable, its speed or its
statistics?  To ask, the offset is a choice; each is a
:class:`~refnet.ops.operator.FixedOperator` with an exact adjoint:

==================  =================================================  ============  ===========
name                ``O`` (``m x n``, ``q = max(m, n)``)                 cost per row  stored
==================  =================================================  ============  ===========
``dct``             ``C[:m, :n]``, ``C`` the orthonormal DCT-II          O(q log q)    nothing
``randomized-dct``  ``P_out @ C[:m, :n] @ diag(s) @ P_in``, seeded         O(q log q)    3 vectors
``orthogonal``      a Haar-random matrix with orthonormal rows or         O(m n)        m n numbers
                    columns (QR of a Gaussian, sign-corrected), seeded
``identity``        ``I[:m, :n]``: the truncated or zero-padded identity  O(m + n)      nothing
``none``            no offset: a plain sparse layer                       -             -
==================  =================================================  ============  ===========

All but ``none`` have orthonormal rows (``m <= n``) or orthonormal columns
(``m >= n``): every one of their ``min(m, n)`` singular values is exactly 1,
so at ``S = 0`` a layer is ``alpha`` times a partial isometry whatever the
offset.  They differ in what they mix: the DCT and its randomised version
spread every input over every output, as a dense random orthogonal matrix
does; the identity connects input ``j`` to output ``j`` alone.

Random offsets (:data:`RANDOM_OFFSETS`) take an explicit seed (an int or a
``numpy.random.Generator``); the same seed gives bitwise the same operator.

Examples
--------
>>> import numpy as np
>>> O = make_offset("randomized-dct", 6, 4, seed=0)
>>> np.allclose(O.matrix() @ O.matrix().T, np.eye(4))        # orthonormal rows
True
>>> make_offset("none", 6, 4) is None
True
"""
from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.sparse as sp

from .._checks import as_rng
from ..initializers import orthogonal
from .dct import TruncatedDCT
from .operator import FixedOperator

__all__ = ["OFFSETS", "RANDOM_OFFSETS", "make_offset", "check_offset_name", "RandomizedDCT",
           "RandomOrthogonal", "TruncatedIdentity"]

#: Every offset name, the paper's first.
OFFSETS = ("dct", "randomized-dct", "orthogonal", "identity", "none")
#: The offsets drawn at random from a seed.
RANDOM_OFFSETS = ("randomized-dct", "orthogonal")


class RandomizedDCT(FixedOperator):
    """The truncated DCT between a random permutation with sign flips and a random permutation.

    Parameters
    ----------
    n_in : int
        Input features ``n``.
    n_out : int
        Output features ``m``.
    rng : numpy.random.Generator or int
        Draws, in this order, ``perm_in = rng.permutation(n)``, the signs
        ``s = 1 - 2 * rng.integers(0, 2, n)`` and ``perm_out =
        rng.permutation(m)``.

    Notes
    -----
    With ``q = max(m, n)``, ``D = C[:m, :n]`` the truncated orthonormal
    DCT-II (:class:`~refnet.ops.dct.TruncatedDCT`) and the fixed random
    choices above::

        O = P_out @ D @ diag(s) @ P_in                 # (m, n)
        (P_in @ x)[j]  = x[perm_in[j]]                 # permute the n inputs
        (P_out @ z)[i] = z[perm_out[i]]                # permute the m outputs
        O[i, perm_in[j]] = D[perm_out[i], j] * s[j]

    Forward, on the last axis, in ``O(q log q)`` per row and with nothing of
    size ``m x n`` stored (three vectors: ``perm_in``, ``s``, ``perm_out``)::

        O @ x = dct(x[..., perm_in] * s, n=q)[..., perm_out]         # (..., n) -> (..., m)

    (``perm_out`` takes ``m`` of the first ``m`` frequencies, so the gather
    is also the truncation.)  Adjoint: permutations are orthogonal, ``P.T =
    P^-1``, so ``O.T = P_in.T @ diag(s) @ D.T @ P_out.T`` and, with ``inv =
    argsort(perm)`` (``P.T @ v = v[..., inv]``)::

        z_bar = pad(y_bar[..., inv_out], q)                          # P_out.T, then pad
        O.T @ y_bar = (idct(z_bar)[..., :n] * s)[..., inv_in]        # (..., m) -> (..., n)

    and ``(v * s)[..., inv_in] = v[..., inv_in] * s[inv_in]``: one gather,
    one product with the signs in input order.  Every step is exact or the
    DCT's exact transpose, so the adjoint is exact.

    Singular values: ``P_out``, ``diag(s)`` and ``P_in`` are orthogonal, so
    ``O`` has the singular values of ``D``, all ``min(m, n)`` of them 1.

    What the randomisation removes: the DCT orders its outputs by frequency
    and, applied to a smooth input (neighbouring pixels alike), puts most of
    the energy in the first outputs.  After a random permutation with random
    signs, ``v = diag(s) @ P_in @ x`` has no smoothness left: over the draws
    of ``s`` and ``perm_in``, ``E[v[j] * v[l]] = 0`` for ``j != l`` and
    ``E[v[j]**2] = |x|**2 / n``, so for output ``i`` reading row ``k =
    perm_out[i]`` of ``D``::

        E[(O @ x)[i]**2] = sum_j D[k, j]**2 * |x|**2 / n

    which is ``|x|**2 / n`` for EVERY output when ``m <= n`` (a row of ``D``
    is a whole row of the orthogonal ``C``), whatever ``x``.  When ``m > n``
    the rows of ``D`` have unequal norms (their squares sum to ``n``) and
    ``perm_out`` shuffles which output gets which.
    """

    name = "randomized-dct"

    def __init__(self, n_in: int, n_out: int, rng):
        super().__init__(n_in, n_out)
        rng = as_rng(rng)
        self.q = max(self.n_in, self.n_out)
        self.perm_in = rng.permutation(self.n_in)
        self.signs = 1.0 - 2.0 * rng.integers(0, 2, size=self.n_in)
        self.perm_out = rng.permutation(self.n_out)
        self.inv_in = np.argsort(self.perm_in)
        self.inv_out = np.argsort(self.perm_out)
        self.signs_in_order = self.signs[self.inv_in]       # s[inv_in], for the adjoint
        for a in (self.perm_in, self.signs, self.perm_out, self.inv_in, self.inv_out,
                  self.signs_in_order):
            a.flags.writeable = False

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``O @ x`` on the last axis; returns a new C-contiguous ``(..., n_out)`` array."""
        x = self._check_last_axis("x", x, self.n_in)
        # P_in @ x, a new array; integers become floats so that the signs fit in place
        v = np.take(x, self.perm_in, axis=-1).astype(np.result_type(x, 1.0), copy=False)
        v *= self.signs
        z = scipy.fft.dct(v, type=2, n=self.q, axis=-1, norm="ortho", overwrite_x=True)
        return np.take(z, self.perm_out, axis=-1)                  # truncate and P_out

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``O.T @ y`` on the last axis; returns a new C-contiguous ``(..., n_in)`` array."""
        y = self._check_last_axis("y", y, self.n_out)
        z_bar = np.take(y, self.inv_out, axis=-1)                  # P_out.T @ y, a new array
        w = scipy.fft.idct(z_bar, type=2, n=self.q, axis=-1, norm="ortho", overwrite_x=True)
        x_bar = np.take(w[..., :self.n_in], self.inv_in, axis=-1)  # truncate and P_in.T
        x_bar *= self.signs_in_order
        return x_bar


class RandomOrthogonal(FixedOperator):
    """A stored Haar-random ``(m, n)`` matrix with orthonormal rows (m <= n) or columns (m >= n).

    Parameters
    ----------
    n_in : int
        Input features ``n``.
    n_out : int
        Output features ``m``.
    rng : numpy.random.Generator or int
        Draws the Gaussian matrix ``G``.

    Notes
    -----
    With ``t = max(m, n)`` and ``w = min(m, n)``::

        G = rng.standard_normal((t, w))
        Q, R = numpy.linalg.qr(G)                      # Q (t, w), orthonormal columns
        Q = Q * sign(diag(R))                          # column k times the sign of R[k, k]
        O = Q if m >= n else Q.T                       # (m, n)

    Without the sign correction the distribution of ``Q`` depends on the
    sign convention of the QR routine; with it (making ``R``'s diagonal
    positive, the unique QR with that property) ``Q`` is distributed
    uniformly (Haar) over the matrices with orthonormal columns (Mezzadri,
    "How to generate random matrices from the classical compact groups",
    2007); it is the draw of :func:`refnet.initializers.orthogonal`.  ``O``
    is stored, ``m * n`` numbers, and applied by matrix products in
    ``O(m n)`` per row::

        O @ x   = x @ O.T                              # (..., n) -> (..., m)
        O.T @ y = y @ O                                # (..., m) -> (..., n)

    The adjoint is the same stored matrix transposed: exact.  All
    ``min(m, n)`` singular values are 1.  This is the statistical reference
    for the DCT: a dense orthonormal offset with no structure at all.
    """

    name = "orthogonal"

    def __init__(self, n_in: int, n_out: int, rng):
        super().__init__(n_in, n_out)
        self._O = np.ascontiguousarray(orthogonal((self.n_out, self.n_in), as_rng(rng)))
        self._O.flags.writeable = False

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``x @ O.T`` on the last axis; a new C-contiguous ``(..., n_out)`` array."""
        x = self._check_last_axis("x", x, self.n_in)
        return _matmul_last(x, self._O.T)

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``y @ O`` on the last axis; a new C-contiguous ``(..., n_in)`` array."""
        y = self._check_last_axis("y", y, self.n_out)
        return _matmul_last(y, self._O)

    def matrix(self) -> np.ndarray:
        """A copy of the stored ``(n_out, n_in)`` matrix."""
        return self._O.copy()


def _matmul_last(a: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``a @ M`` on the last axis with one 2-D BLAS product (leading axes folded)."""
    lead = a.shape[:-1]
    a2 = a.reshape(-1, a.shape[-1])         # a copy only when the leading axes are strided
    return (a2 @ M).reshape(lead + (M.shape[1],))


class TruncatedIdentity(FixedOperator):
    """``I[:m, :n]``: the first ``min(m, n)`` inputs copied to the first outputs, the rest zero.

    Parameters
    ----------
    n_in : int
        Input features ``n``.
    n_out : int
        Output features ``m``.

    Notes
    -----
    With ``k = min(m, n)``::

        (O @ x)[..., :k] = x[..., :k],    (O @ x)[..., k:] = 0      # drop or zero-pad
        (O.T @ y)[..., :k] = y[..., :k],  (O.T @ y)[..., k:] = 0

    Truncation and zero-padding are each other's transposes, so the adjoint
    is exact.  Rows (``m <= n``) or columns (``m >= n``) are orthonormal: all
    ``k`` singular values are 1, like the DCT's.  Unlike the DCT it mixes
    nothing: output ``i`` sees input ``i`` alone, and when ``m > n`` the
    outputs ``n..m-1`` see no input at all through the offset.  A control.
    """

    name = "identity"

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``I[:m, :n] @ x`` on the last axis; a new ``(..., n_out)`` array."""
        x = self._check_last_axis("x", x, self.n_in)
        return _copy_prefix(x, self.n_out)

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``I[:n, :m] @ y`` on the last axis; a new ``(..., n_in)`` array."""
        y = self._check_last_axis("y", y, self.n_out)
        return _copy_prefix(y, self.n_in)

    def structure(self) -> sp.csr_matrix:
        """The diagonal ``I[:m, :n]`` as a 0/1 pattern."""
        return sp.eye(self.n_out, self.n_in, dtype=np.int8, format="csr")


def _copy_prefix(a: np.ndarray, size: int) -> np.ndarray:
    """A new ``(..., size)`` array: ``a``'s first entries on the last axis, zeros after."""
    k = min(size, a.shape[-1])
    out = np.zeros(a.shape[:-1] + (size,), dtype=np.result_type(a, 1.0))
    out[..., :k] = a[..., :k]
    return out


def check_offset_name(offset, owner: str) -> str:
    """Return ``offset`` if it is one of :data:`OFFSETS`, else raise ValueError listing them."""
    if not isinstance(offset, str) or offset not in OFFSETS:
        raise ValueError(f"{owner}: offset must be one of {', '.join(OFFSETS)}, got {offset!r}")
    return offset


def make_offset(name: str, n_in: int, n_out: int, seed=None) -> FixedOperator | None:
    """The offset called ``name`` for ``n_in`` inputs and ``n_out`` outputs.

    Parameters
    ----------
    name : str
        One of :data:`OFFSETS`.
    n_in, n_out : int
    seed : int or numpy.random.Generator, optional
        Required for the random offsets (:data:`RANDOM_OFFSETS`), refused for
        the others (so a seed is never silently ignored).

    Returns
    -------
    FixedOperator or None
        None for ``"none"``.

    Raises
    ------
    ValueError
        For an unknown name, or a seed given to an offset that is not random.
    TypeError
        For a random offset without a seed.
    """
    owner = "make_offset"
    check_offset_name(name, owner)
    if name in RANDOM_OFFSETS:
        if seed is None:
            raise TypeError(f"{owner}: the {name!r} offset is random and needs a seed (an int "
                            f"or a numpy.random.Generator)")
        return {"randomized-dct": RandomizedDCT, "orthogonal": RandomOrthogonal}[name](
            n_in, n_out, seed)
    if seed is not None:
        raise ValueError(f"{owner}: the {name!r} offset is not random; its seed must be None, "
                         f"got {seed!r}")
    if name == "none":
        return None
    return {"dct": TruncatedDCT, "identity": TruncatedIdentity}[name](n_in, n_out)
