"""A fixed sparse support in CSR order, and the gradient of the values on it.

A sparse weight ``S`` of shape ``(m, n)`` is a FIXED set of ``nnz`` distinct
positions ``(rows[k], cols[k])`` (structure, held by a layer) and ``nnz`` values
(the trainable parameter, owned by the caller), in CSR order: sorted by row,
then column, so ``values[k]`` is the ``k``-th stored entry of
``csr_matrix((values, cols, indptr), shape=(m, n))``.  Nothing here allocates
anything of size ``m * n``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.sparse

from ._args import as_rng, positive_int

__all__ = ["CSRSupport", "nnz_from_density"]


def nnz_from_density(shape: tuple[int, int], density: float, owner: str = "density") -> int:
    """``density * m * n`` rounded half up, at least 1 (``nnz=0`` is none), density in (0, 1]."""
    if isinstance(density, bool) or not isinstance(density, numbers.Real) \
            or not 0.0 < float(density) <= 1.0:
        raise ValueError(f"{owner}: density must be a number in (0, 1], got {density!r}")
    size = int(shape[0]) * int(shape[1])
    return min(size, max(1, math.floor(float(density) * size + 0.5)))


def _sample_distinct(population: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct sorted integers, uniformly from ``[0, population)``, in ``O(k)`` memory:
    the first ``k`` distinct draws with replacement; for ``k > population / 2`` the complement."""
    if k > population // 2:
        keep = np.ones(population, dtype=bool)
        keep[_sample_distinct(population, population - k, rng)] = False
        return np.flatnonzero(keep).astype(np.int64)
    drawn = np.empty(0, dtype=np.int64)
    while drawn.size < k:
        extra = rng.integers(0, population, size=2 * (k - drawn.size) + 16, dtype=np.int64)
        both = np.concatenate([drawn, extra])
        _, first = np.unique(both, return_index=True)
        drawn = both[np.sort(first)]
    return np.sort(drawn[:k])


class CSRSupport:
    """The fixed support of a sparse ``(m, n)`` weight, in CSR (row-major sorted) order.

    Build one with :meth:`sample` or :meth:`from_positions`; the constructor takes
    positions already distinct and sorted (``CSRSupport(W.shape, *np.nonzero(W))``).  It
    holds ``shape``, ``nnz`` and read-only index arrays: ``rows``, ``cols`` (intp, (nnz,)),
    ``indptr`` (row ``i``'s entries are ``indptr[i]:indptr[i + 1]``) and ``indices``, the
    ``cols`` in scipy's index dtype, so that :meth:`csr` copies nothing.

    Examples
    --------
    >>> import numpy as np
    >>> s = CSRSupport.from_positions((2, 3), rows=[1, 0], cols=[2, 1])
    >>> s.rows, s.cols
    (array([0, 1]), array([1, 2]))
    >>> s.to_dense(np.array([5.0, 7.0]))
    array([[0., 5., 0.],
           [0., 0., 7.]])
    """

    def __init__(self, shape, rows, cols):
        (m, n), flat = _checked_flat(shape, rows, cols)
        if np.any(np.diff(flat) <= 0):
            raise ValueError("CSRSupport: positions must be distinct and sorted row-major "
                             "(CSR order); use CSRSupport.from_positions for any order")
        self.shape, self.nnz = (m, n), int(flat.size)
        index_dtype = np.int32 if max(m, n, self.nnz) <= np.iinfo(np.int32).max else np.int64
        rows, cols = np.divmod(flat, n)
        self.rows, self.cols = _readonly(rows.astype(np.intp)), _readonly(cols.astype(np.intp))
        self.indices = _readonly(cols.astype(index_dtype))
        indptr = np.zeros(m + 1, dtype=index_dtype)
        np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
        self.indptr = _readonly(indptr)

    @classmethod
    def sample(cls, shape, nnz: int, rng) -> "CSRSupport":
        """``nnz`` distinct positions, every set of ``nnz`` equally likely; ``O(nnz)`` memory."""
        m = positive_int("shape[0]", shape[0], "CSRSupport.sample")
        n = positive_int("shape[1]", shape[1], "CSRSupport.sample")
        nnz = positive_int("nnz", nnz, "CSRSupport.sample", minimum=0)
        if nnz > m * n:
            raise ValueError(f"CSRSupport.sample: nnz must be at most m * n = {m * n} "
                             f"for shape {(m, n)}, got {nnz}")
        flat = _sample_distinct(m * n, nnz, as_rng(rng))
        return cls((m, n), flat // n, flat % n)

    @classmethod
    def from_positions(cls, shape, rows, cols) -> "CSRSupport":
        """A support from distinct positions in any order (validated, then sorted)."""
        (m, n), flat = _checked_flat(shape, rows, cols)
        flat = np.sort(flat)
        dup = np.flatnonzero(np.diff(flat) == 0)
        if dup.size:
            r, c = divmod(int(flat[dup[0]]), n)
            raise ValueError(f"CSRSupport: position ({r}, {c}) appears more than once; "
                             f"a support holds distinct positions")
        return cls((m, n), flat // n, flat % n)

    def row_counts(self) -> np.ndarray:
        """Stored entries in each row, shape (m,)."""
        return np.diff(self.indptr).astype(np.intp)

    def flat_index(self) -> np.ndarray:
        """``rows * n + cols`` as int64, ascending."""
        return self.rows.astype(np.int64) * self.shape[1] + self.cols

    def locate(self, rows, cols) -> np.ndarray:
        """Index ``k`` of each position ``(rows[i], cols[i])`` in this support, or -1."""
        want = np.asarray(rows, dtype=np.int64) * self.shape[1] + np.asarray(cols, np.int64)
        if not self.nnz:
            return np.full(want.shape, -1)
        flat = self.flat_index()
        k = np.minimum(np.searchsorted(flat, want), self.nnz - 1)
        return np.where(flat[k] == want, k, -1)

    def __eq__(self, other) -> bool:
        return (isinstance(other, CSRSupport) and self.shape == other.shape
                and np.array_equal(self.rows, other.rows)
                and np.array_equal(self.cols, other.cols))

    __hash__ = None

    def __repr__(self) -> str:
        return f"CSRSupport(shape={self.shape}, nnz={self.nnz})"

    def _check_values(self, values) -> np.ndarray:
        values = np.asarray(values)
        if values.shape != (self.nnz,):
            raise ValueError(f"CSRSupport: values has shape {values.shape}, expected "
                             f"({self.nnz},) for a support with nnz = {self.nnz}")
        return values

    def gather(self, dense) -> np.ndarray:
        """The entries of a dense ``(m, n)`` array on the support, in CSR order."""
        dense = np.asarray(dense)
        if dense.shape != self.shape:
            raise ValueError(f"CSRSupport.gather: dense has shape {dense.shape}, expected "
                             f"{self.shape}")
        return dense[self.rows, self.cols]

    def to_dense(self, values) -> np.ndarray:
        """The dense ``(m, n)`` matrix ``S`` (tests and teaching: ``m * n`` memory)."""
        values = self._check_values(values)
        dense = np.zeros(self.shape, dtype=np.result_type(values, np.float64))
        dense[self.rows, self.cols] = values
        return dense

    def csr(self, values) -> scipy.sparse.csr_matrix:
        """``S`` as a ``csr_matrix`` in O(1): it SHARES ``values`` (no copy, no scan)."""
        return scipy.sparse.csr_matrix((self._check_values(values), self.indices, self.indptr),
                                       shape=self.shape, copy=False)

    def csr_transpose(self, values) -> scipy.sparse.csc_matrix:
        """``S.T`` as a ``csc_matrix`` in O(1), sharing ``values``: S's CSR arrays read as CSC."""
        return scipy.sparse.csc_matrix((self._check_values(values), self.indices, self.indptr),
                                       shape=self.shape[::-1], copy=False)

    def value_cotangent(self, y_bar, x) -> np.ndarray:
        """The values' cotangent ``S_bar[..., k] = sum_b y_bar[..., b, rows[k]] * x[b, cols[k]]``.

        ``y_bar`` (*lead, B, m) are cotangents of ``y = x @ S.T``, ``x`` (B, n); the
        result is (*lead, nnz).  ``<y_bar, x @ S.T> = sum_{b, i, j} y_bar[b, i] * S[i, j]
        * x[b, j]`` and only ``S[rows[k], cols[k]] = values[k]`` depends on
        ``values[k]``: its derivative is the sum above, the dense gradient ``y_bar.T @ x``
        read on the support.  One gather-and-sum, ``O(B nnz)``; a wrong index raises.
        The fast equivalent is :func:`refnet.ops.fast.value_cotangent`.
        """
        y_bar, x = np.asarray(y_bar), np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.shape[1] or y_bar.shape[-2:] != (
                x.shape[0], self.shape[0]):
            raise ValueError(f"CSRSupport.value_cotangent: y_bar {y_bar.shape} and x "
                             f"{x.shape} are not (..., B, {self.shape[0]}) and "
                             f"(B, {self.shape[1]})")
        return (y_bar[..., self.rows] * x[:, self.cols]).sum(axis=-2)


def _index_array(name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"CSRSupport: {name} must be integers, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"CSRSupport: {name} must be 1-D, got shape {a.shape}")
    return a.astype(np.int64)


def _checked_flat(shape, rows, cols):
    """Validate ``shape`` and the positions; return ``((m, n), rows * n + cols)``."""
    m = positive_int("shape[0]", shape[0], "CSRSupport")
    n = positive_int("shape[1]", shape[1], "CSRSupport")
    rows, cols = _index_array("rows", rows), _index_array("cols", cols)
    if rows.shape != cols.shape:
        raise ValueError(f"CSRSupport: rows and cols must have the same length, got "
                         f"{rows.size} and {cols.size}")
    for name, a, size in (("rows", rows, m), ("cols", cols, n)):
        bad = np.flatnonzero((a < 0) | (a >= size))
        if bad.size:
            raise ValueError(f"CSRSupport: {name}[{bad[0]}] = {a[bad[0]]} is out of "
                             f"range [0, {size}) for shape {(m, n)}")
    return (m, n), rows * n + cols


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True, order="C")
    a.flags.writeable = False
    return a
