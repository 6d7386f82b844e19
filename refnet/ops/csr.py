"""A fixed sparse support in CSR order, and the three products a sparse layer needs.

A sparse weight ``S`` of shape ``(m, n)`` is a FIXED set of ``nnz`` distinct
positions ``(rows[k], cols[k])`` (the *support*, structure held by a layer) and
a vector of ``nnz`` values (the trainable parameter, owned by the caller).  The
positions are stored in CSR order: sorted by row, then by column (row-major),
so ``values[k]`` is the ``k``-th stored entry of
``scipy.sparse.csr_matrix((values, cols, indptr), shape=(m, n))``.

Everything is written for FEATURE-MAJOR operands, ``xt`` of shape ``(n, N)``
and ``yt`` of shape ``(m, N)`` (one column per example): CSR products read
whole contiguous rows of the dense operand, about 2.5x faster than on a
batch-major one::

    S @ xt                         matmat(values, xt)          # (m, N)
    S.T @ yt                       rmatmat(values, yt)         # (n, N)
    sum_b yt[rows, b] * xt[cols, b] value_cotangent(yt, xt)    # (nnz,)

The last one is the gradient of ``<yt, S @ xt>`` with respect to the values:
``d/d values[k] sum_{i, b} yt[i, b] * (S @ xt)[i, b] = sum_b yt[rows[k], b] *
xt[cols[k], b]``.  It is a *sampled* product: only the ``nnz`` entries of
``yt @ xt.T`` on the support, computed by gathering the needed rows, in
``O(N nnz)`` time and cache-sized chunks, never as a dense ``m x n`` array.

Nothing here allocates anything of size ``m * n``: sampling a support draws
``O(nnz)`` integers, so a ``16384 x 16384`` layer at density ``1e-4`` costs a few
megabytes.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.sparse

from .._checks import as_rng, check_positive_int

__all__ = ["CSRSupport", "nnz_from_density", "GATHER_CHUNK_BYTES"]

#: Bytes of one gathered block in :meth:`CSRSupport.value_cotangent`.  Two
#: blocks (rows of ``xt`` and of ``yt``) of 512 KiB stay in a core's L2 cache;
#: one unchunked gather of every entry was 3-6x slower in refnet's measurements
#: because the gathered copies spill to main memory.
GATHER_CHUNK_BYTES = 1 << 19


def nnz_from_density(shape: tuple[int, int], density: float, owner: str = "density") -> int:
    """Number of stored entries for a ``density`` in (0, 1] of an ``(m, n)`` weight.

    ``nnz = max(1, floor(density * m * n + 0.5))``: rounded half up, and at
    least one entry, because a positive density asks for some trainable
    weights.  (To build a layer with no entry at all, pass ``nnz=0``.)

    Raises
    ------
    ValueError
        If ``density`` is not a real number in (0, 1].
    """
    if isinstance(density, bool) or not isinstance(density, numbers.Real) \
            or not 0.0 < float(density) <= 1.0:
        raise ValueError(f"{owner}: density must be a number in (0, 1], got {density!r}")
    size = int(shape[0]) * int(shape[1])
    return min(size, max(1, math.floor(float(density) * size + 0.5)))


def _sample_distinct(population: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct integers drawn uniformly without replacement from ``[0, population)``.

    Memory ``O(k)`` when ``k <= population / 2``: integers are drawn with
    replacement and the first ``k`` DISTINCT ones in order of appearance are
    kept, which is exactly sequential sampling without replacement.  Larger
    ``k`` samples the complement instead (then ``population <= 2 k``, so a
    boolean mask of the population is itself ``O(k)``).  Returns a sorted int64
    array.
    """
    if k > population // 2:
        excluded = _sample_distinct(population, population - k, rng)
        keep = np.ones(population, dtype=bool)
        keep[excluded] = False
        return np.flatnonzero(keep).astype(np.int64)
    drawn = np.empty(0, dtype=np.int64)
    while drawn.size < k:
        need = k - drawn.size
        # expected fresh values per draw >= (population - k) / population >= 1/2
        extra = rng.integers(0, population, size=2 * need + 16, dtype=np.int64)
        both = np.concatenate([drawn, extra])
        _, first = np.unique(both, return_index=True)
        drawn = both[np.sort(first)]       # distinct, in order of first appearance
    return np.sort(drawn[:k])


class CSRSupport:
    """The fixed support of a sparse ``(m, n)`` weight, in CSR (row-major sorted) order.

    Build one with :meth:`sample`, :meth:`from_positions` or :meth:`from_mask`.
    The index arrays are read-only; a new support (for example after a
    RigL update) is a new object.

    Parameters
    ----------
    shape : (int, int)
        ``(m, n)``: output and input features.
    rows, cols : array of int, shape (nnz,)
        The positions, already distinct and sorted row-major.  Use
        :meth:`from_positions` for positions in any order (it validates and
        sorts).

    Attributes
    ----------
    shape : (int, int)
    nnz : int
    rows, cols : ndarray of intp, shape (nnz,)
        Row and column of every stored entry, in CSR order.
    indptr : ndarray, shape (m + 1,)
        Row ``i``'s entries are ``indptr[i]:indptr[i + 1]``.
    indices : ndarray, shape (nnz,)
        ``cols`` in scipy's index dtype (int32 when it fits), so that
        :meth:`csr` builds a matrix without copying or scanning anything.

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
        self.shape = (m, n)
        self.nnz = int(flat.size)
        index_dtype = np.int32 if max(m, n, self.nnz) <= np.iinfo(np.int32).max else np.int64
        rows, cols = np.divmod(flat, n)
        self.rows = _readonly(rows.astype(np.intp))
        self.cols = _readonly(cols.astype(np.intp))
        self.indices = _readonly(cols.astype(index_dtype))
        indptr = np.zeros(m + 1, dtype=index_dtype)
        np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
        self.indptr = _readonly(indptr)

    # -- construction --------------------------------------------------------
    @classmethod
    def sample(cls, shape, nnz: int, rng) -> "CSRSupport":
        """``nnz`` distinct positions drawn uniformly without replacement.

        Every set of ``nnz`` positions of the ``m x n`` grid is equally likely;
        the same seed gives the same support.  Memory is ``O(nnz)``: the grid
        is never materialised.

        Parameters
        ----------
        shape : (int, int)
        nnz : int
            ``0 <= nnz <= m * n``.
        rng : numpy.random.Generator or int
        """
        m = check_positive_int("shape[0]", shape[0], "CSRSupport.sample")
        n = check_positive_int("shape[1]", shape[1], "CSRSupport.sample")
        nnz = check_positive_int("nnz", nnz, "CSRSupport.sample", minimum=0)
        if nnz > m * n:
            raise ValueError(f"CSRSupport.sample: nnz must be at most m * n = {m * n} "
                             f"for shape {(m, n)}, got {nnz}")
        flat = _sample_distinct(m * n, nnz, as_rng(rng))
        return cls((m, n), flat // n, flat % n)

    @classmethod
    def from_positions(cls, shape, rows, cols) -> "CSRSupport":
        """A support from explicit positions in any order, validated and sorted.

        Raises
        ------
        TypeError
            If ``rows`` or ``cols`` are not integer arrays.
        ValueError
            If they are not 1-D of equal length, a position is out of range, or
            a position appears twice.
        """
        (m, n), flat = _checked_flat(shape, rows, cols)
        flat = np.sort(flat)
        dup = np.flatnonzero(np.diff(flat) == 0)
        if dup.size:
            r, c = divmod(int(flat[dup[0]]), n)
            raise ValueError(f"CSRSupport: position ({r}, {c}) appears more than once; "
                             f"a support holds distinct positions")
        return cls((m, n), flat // n, flat % n)

    @classmethod
    def from_mask(cls, mask) -> "CSRSupport":
        """The positions where a dense 2-D ``mask`` is nonzero (or True)."""
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"CSRSupport.from_mask: mask must be 2-D, got shape {mask.shape}")
        rows, cols = np.nonzero(mask)      # already row-major sorted
        return cls(mask.shape, rows, cols)

    # -- inspection ----------------------------------------------------------
    @property
    def density(self) -> float:
        """``nnz / (m * n)``."""
        return self.nnz / (self.shape[0] * self.shape[1])

    def row_counts(self) -> np.ndarray:
        """Stored entries in each row (the sparse fan-in of each output), shape (m,)."""
        return np.diff(self.indptr).astype(np.intp)

    def flat_index(self) -> np.ndarray:
        """``rows * n + cols`` as int64: sorted ascending, one integer per position."""
        return self.rows.astype(np.int64) * self.shape[1] + self.cols

    def locate(self, rows, cols) -> np.ndarray:
        """Index ``k`` of each position ``(rows[i], cols[i])`` in this support, or -1.

        Lets a caller carry values over to a changed support (RigL, pruning).
        """
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        want = rows * self.shape[1] + cols
        flat = self.flat_index()
        k = np.searchsorted(flat, want)
        found = (k < self.nnz) & (flat[np.minimum(k, max(self.nnz - 1, 0))] == want) \
            if self.nnz else np.zeros(want.shape, dtype=bool)
        return np.where(found, k, -1)

    def __eq__(self, other) -> bool:
        return (isinstance(other, CSRSupport) and self.shape == other.shape
                and np.array_equal(self.rows, other.rows)
                and np.array_equal(self.cols, other.cols))

    __hash__ = None

    def __repr__(self) -> str:
        return f"CSRSupport(shape={self.shape}, nnz={self.nnz})"

    # -- values <-> matrices ---------------------------------------------------
    def _check_values(self, values) -> np.ndarray:
        values = np.asarray(values)
        if values.shape != (self.nnz,):
            raise ValueError(f"CSRSupport: values has shape {values.shape}, expected "
                             f"({self.nnz},) for a support with nnz = {self.nnz}")
        return values

    def gather(self, dense) -> np.ndarray:
        """The values of a dense ``(m, n)`` array on the support, in CSR order."""
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
        """``S`` as a ``scipy.sparse.csr_matrix``, in O(1): it SHARES ``values``.

        The matrix reads ``values`` in place (no copy, no scan); do not write
        into its ``data`` unless you mean to change ``values``.
        """
        values = self._check_values(values)
        return scipy.sparse.csr_matrix((values, self.indices, self.indptr),
                                       shape=self.shape, copy=False)

    def csr_transpose(self, values) -> scipy.sparse.csc_matrix:
        """``S.T`` as a ``scipy.sparse.csc_matrix`` of shape ``(n, m)``, in O(1).

        The CSR arrays of ``S`` read column by column ARE ``S.T``; like
        :meth:`csr`, the matrix shares ``values``.
        """
        values = self._check_values(values)
        return scipy.sparse.csc_matrix((values, self.indices, self.indptr),
                                       shape=self.shape[::-1], copy=False)

    # -- the three products ---------------------------------------------------
    def matmat(self, values, xt) -> np.ndarray:
        """``S @ xt`` for a feature-major ``xt`` of shape ``(n, N)``: returns ``(m, N)``."""
        return self.csr(values) @ _feature_major("xt", xt, self.shape[1])

    def rmatmat(self, values, yt) -> np.ndarray:
        """``S.T @ yt`` for a feature-major ``yt`` of shape ``(m, N)``: returns ``(n, N)``."""
        return self.csr_transpose(values) @ _feature_major("yt", yt, self.shape[0])

    def value_cotangent(self, yt, xt) -> np.ndarray:
        """The cotangent of the values: ``out[l, k] = sum_b yt[rows[k], l*N + b] * xt[cols[k], b]``.

        Parameters
        ----------
        yt : ndarray, shape (m, K * N)
            Feature-major output cotangents; ``K`` stacked copies of the batch
            (leading tangent axes folded in front of the batch, column
            ``l * N + b``).
        xt : ndarray, shape (n, N)
            Feature-major inputs.

        Returns
        -------
        ndarray, shape (K, nnz)
            Row ``l`` is the gradient of ``<yt[:, l*N:(l+1)*N], S @ xt>`` with
            respect to the values.

        Notes
        -----
        ``O(K N nnz)`` time.  The rows ``xt[cols[k]]`` and ``yt[rows[k]]`` are
        gathered (``np.take`` into two preallocated blocks of about
        :data:`GATHER_CHUNK_BYTES`), multiplied and summed over the batch row by
        row (``np.vecdot``).  No ``m x n`` array exists at any time, and no
        multi-threaded BLAS call is made (see :func:`_rowwise_dot`).
        """
        xt = _feature_major("xt", xt, self.shape[1])
        yt = _feature_major("yt", yt, self.shape[0])
        batch = xt.shape[1]
        if batch == 0:
            raise ValueError("CSRSupport.value_cotangent: xt has no columns (empty batch)")
        if yt.shape[1] % batch:
            raise ValueError(f"CSRSupport.value_cotangent: yt has {yt.shape[1]} columns, "
                             f"not a multiple of the batch {batch} of xt")
        k_lead = yt.shape[1] // batch
        dtype = np.result_type(xt, yt)
        # np.take(..., out=) refuses to cast, so both operands are gathered from arrays
        # of the result's dtype (no copy in the usual float64 case)
        xt, yt = xt.astype(dtype, copy=False), yt.astype(dtype, copy=False)
        out = np.empty((self.nnz, k_lead), dtype=dtype)
        if self.nnz == 0:
            return np.ascontiguousarray(out.T)
        if batch == 1:                    # one product per entry: no row to gather
            np.multiply(yt[self.rows], xt[self.cols], out=out)
            return np.ascontiguousarray(out.T)
        chunk = min(self.nnz, max(1, GATHER_CHUNK_BYTES // (dtype.itemsize * yt.shape[1])))
        xg = np.empty((chunk, batch), dtype=dtype)
        yg = np.empty((chunk, yt.shape[1]), dtype=dtype)
        for lo in range(0, self.nnz, chunk):
            hi = min(lo + chunk, self.nnz)
            size = hi - lo
            # mode="clip": the indices are valid by construction, and mode="raise"
            # would make numpy buffer the output (a second copy of every block)
            np.take(xt, self.cols[lo:hi], axis=0, out=xg[:size], mode="clip")
            np.take(yt, self.rows[lo:hi], axis=0, out=yg[:size], mode="clip")
            _rowwise_dot(yg[:size].reshape(size, k_lead, batch), xg[:size, None, :],
                         out=out[lo:hi])
        return np.ascontiguousarray(out.T)


def _index_array(name: str, a) -> np.ndarray:
    """``a`` as a 1-D int64 array, or a clear error."""
    a = np.asarray(a)
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"CSRSupport: {name} must be integers, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"CSRSupport: {name} must be 1-D, got shape {a.shape}")
    return a.astype(np.int64)


def _checked_flat(shape, rows, cols):
    """Validate ``shape`` and the positions; return ``((m, n), rows * n + cols)``."""
    m = check_positive_int("shape[0]", shape[0], "CSRSupport")
    n = check_positive_int("shape[1]", shape[1], "CSRSupport")
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


def _rowwise_dot(a, b, out):
    """``out[...] = sum(a * b, axis=-1)`` (broadcasting), single-threaded.

    numpy >= 2 has ``vecdot``, a loop of short dot products; older numpy gets
    the same from ``einsum``.  A stacked ``matmul`` would also do, but long
    products there go to a multi-threaded BLAS whose spinning worker thread
    slowed everything else in a DCTpS pass by 1.5-2x on a 2-core machine.
    """
    if _VECDOT is not None:
        return _VECDOT(a, b, out=out)
    return np.einsum("...i,...i->...", a, b, out=out)


_VECDOT = getattr(np, "vecdot", None)


def _readonly(a: np.ndarray) -> np.ndarray:
    """A private read-only copy (never the caller's array: its flags stay untouched)."""
    a = np.array(a, copy=True, order="C")
    a.flags.writeable = False
    return a


def _feature_major(name: str, a, features: int) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[0] != features:
        raise ValueError(f"CSRSupport: {name} has shape {a.shape}, expected ({features}, N) "
                         f"(feature-major: one column per example)")
    return a
