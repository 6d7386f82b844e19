"""Random sparse supports: which entries of a weight are trainable.

A weight of shape ``(out, in, *kernel)`` is seen as the matrix
``(m, n) = (out, in * prod(kernel))`` that a sparse layer stores in CSR form
(one row per output filter/unit).  A support is the pair ``(rows, cols)`` of
int64 arrays of its ``nnz`` positions, sorted in CSR order: by row, then by
column within a row (equivalently, by the linear index ``rows * n + cols``),
all distinct.

Two samplers:

* :func:`sample_support`: ``nnz`` distinct positions uniform without
  replacement over the whole matrix: every set of ``nnz`` positions is equally
  likely.
* :func:`sample_support_per_row`: the EPF support, an equal number of
  nonzeros in every row (output filter), each row uniform without replacement.

Both draw only from the given ``rng`` (a ``numpy.random.Generator`` or an int
seed), so the same seed gives bitwise the same support (for a given NumPy
version, whose ``Generator`` streams NumPy does not promise to keep forever).
Memory is O(nnz), never O(m * n): a support of 1000 positions in a
10^6 x 10^6 matrix costs kilobytes.

Notes
-----
Distinct indices from ``range(M)`` (:func:`_distinct_indices`) are drawn in
one of two ways, both uniform over the k-subsets:

* ``M <= 8 * k``: the first ``k`` entries of ``rng.permutation(M)``
  (O(M) = O(k) memory).
* otherwise: i.i.d. draws ``rng.integers(0, M)`` in batches, keeping the
  first ``k`` DISTINCT values in draw order.  Sampling with replacement and
  skipping repeats is sampling without replacement, so every k-subset is
  equally likely.  Each draw is new with probability at least 7/8, so a few
  batches suffice; memory is O(k).
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np

from .._checks import as_rng, check_positive_int
from .distributions import Allocation, check_weight_shape

__all__ = ["sample_support", "sample_support_per_row", "row_counts", "sample_supports",
           "matrix_shape"]

#: Populations at most this many times the sample use a permutation.
_DENSE_FACTOR = 8


def matrix_shape(shape: Sequence[int]) -> tuple[int, int]:
    """The CSR matrix shape ``(out, prod(rest))`` of a weight of shape ``(out, in, *kernel)``.

    Raises
    ------
    ValueError
        Unless ``shape`` is two or more positive integers.
    """
    dims = check_weight_shape(shape, "support")
    return dims[0], math.prod(dims[1:])


def sample_support(shape: Sequence[int], nnz: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``nnz`` distinct positions of a weight, uniform without replacement.

    Parameters
    ----------
    shape : tuple of int
        The weight's shape ``(out, in, *kernel)``; positions index the matrix
        ``(m, n) = (out, in * prod(kernel))``.
    nnz : int
        Number of positions, ``0 <= nnz <= m * n``.
    rng : numpy.random.Generator or int
        The source of randomness (an int is a seed).

    Returns
    -------
    rows, cols : ndarray of int64, shape (nnz,)
        The positions in CSR order (row-major, strictly increasing
        ``rows * n + cols``).

    Raises
    ------
    ValueError
        For a bad shape or ``nnz`` outside ``[0, m * n]``.
    TypeError
        If ``rng`` is neither a Generator nor an int.

    Examples
    --------
    >>> rows, cols = sample_support((3, 4), 5, rng=0)
    >>> len(rows), bool(((rows * 4 + cols)[1:] > (rows * 4 + cols)[:-1]).all())
    (5, True)
    """
    m, n = matrix_shape(shape)
    nnz = _check_nnz(nnz, m * n, shape)
    rng = as_rng(rng)
    flat = _distinct_indices(m * n, nnz, rng)
    return flat // n, flat % n


def row_counts(n_rows: int, nnz: int, rng=None, *, extra_rows: str = "random") -> np.ndarray:
    """Equal nnz per row: ``nnz // n_rows`` each, the remainder one more in some rows.

    Parameters
    ----------
    n_rows : int
        Number of rows ``m``.
    nnz : int
        Total count, ``>= 0``.
    rng : numpy.random.Generator or int, optional
        Chooses the rows with one more when ``extra_rows="random"``.
    extra_rows : {"random", "first"}, default "random"
        Which ``nnz % n_rows`` rows get ``nnz // n_rows + 1``: rows drawn
        uniformly without replacement from ``rng`` (no filter is favoured on
        average), or the first ones (deterministic, no ``rng`` needed).

    Returns
    -------
    ndarray of int64, shape (n_rows,)
        Counts adding up to ``nnz``, any two differing by at most one.
    """
    n_rows = check_positive_int("n_rows", n_rows, "row_counts")
    if isinstance(nnz, bool) or not isinstance(nnz, numbers.Integral) or nnz < 0:
        raise ValueError(f"row_counts: nnz must be an integer >= 0, got {nnz!r}")
    base, extra = divmod(int(nnz), n_rows)
    counts = np.full(n_rows, base, dtype=np.int64)
    if extra_rows == "first":
        counts[:extra] += 1
    elif extra_rows == "random":
        counts[_distinct_indices(n_rows, extra, as_rng(rng))] += 1
    else:
        raise ValueError(f"row_counts: extra_rows must be 'random' or 'first', "
                         f"got {extra_rows!r}")
    return counts


def sample_support_per_row(shape: Sequence[int], nnz: int, rng, *,
                           extra_rows: str = "random") -> tuple[np.ndarray, np.ndarray]:
    """The EPF support: equal nnz in every row (output filter), uniform within each row.

    Parameters
    ----------
    shape : tuple of int
        The weight's shape ``(out, in, *kernel)``; row ``i`` is output filter
        or unit ``i``, of length ``n = in * prod(kernel)``.
    nnz : int
        Number of positions, ``0 <= nnz <= m * n``.
    rng : numpy.random.Generator or int
        The source of randomness (an int is a seed).
    extra_rows : {"random", "first"}, default "random"
        Which rows get one more when ``m`` does not divide ``nnz``
        (:func:`row_counts`).

    Returns
    -------
    rows, cols : ndarray of int64, shape (nnz,)
        The positions in CSR order.

    Notes
    -----
    The rng is used first for the rows that get one more (``"random"`` only),
    then for each row in order: ``counts[i]`` distinct columns uniform without
    replacement.  ``counts[i] <= n`` always, since ``nnz <= m * n``.
    """
    m, n = matrix_shape(shape)
    nnz = _check_nnz(nnz, m * n, shape)
    rng = as_rng(rng)
    counts = row_counts(m, nnz, rng, extra_rows=extra_rows)
    cols = [_distinct_indices(n, int(k), rng) for k in counts]
    rows = np.repeat(np.arange(m, dtype=np.int64), counts)
    return rows, (np.concatenate(cols) if cols else np.empty(0, dtype=np.int64))


def sample_supports(allocation: Allocation, rng, *, per_row: bool | None = None) -> dict:
    """A support for every layer of an allocation, drawn in layer order from one rng.

    Parameters
    ----------
    allocation : Allocation
        What :func:`refnet.sparsity.allocate` returned.
    rng : numpy.random.Generator or int
        The source of randomness (an int is a seed).
    per_row : bool, optional
        Sample per row (:func:`sample_support_per_row`) or over the whole
        matrix (:func:`sample_support`).  Default: per row exactly when the
        distribution is ``"epf"``.

    Returns
    -------
    dict
        ``{name: (rows, cols)}`` in layer order.
    """
    if not isinstance(allocation, Allocation):
        raise TypeError(f"sample_supports: allocation must be an Allocation, "
                        f"got {type(allocation).__name__}")
    rng = as_rng(rng)
    if per_row is None:
        per_row = allocation.distribution == "epf"
    sampler = sample_support_per_row if per_row else sample_support
    return {layer.name: sampler(layer.shape, layer.nnz, rng) for layer in allocation.layers}


def _check_nnz(nnz, size: int, shape) -> int:
    if isinstance(nnz, bool) or not isinstance(nnz, numbers.Integral) or not 0 <= nnz <= size:
        raise ValueError(f"support: nnz must be an integer in [0, {size}] for shape "
                         f"{tuple(shape)}, got {nnz!r}")
    return int(nnz)


def _distinct_indices(population: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct sorted int64 indices from ``range(population)``, uniform over k-subsets.

    Memory O(k) (see the module Notes for the two regimes).
    """
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if population <= _DENSE_FACTOR * k:
        return np.sort(rng.permutation(population)[:k].astype(np.int64, copy=False))
    picked = np.empty(0, dtype=np.int64)
    while picked.size < k:
        short = k - picked.size
        draws = rng.integers(0, population, size=short + short // 4 + 16, dtype=np.int64)
        candidates = np.concatenate([picked, draws])
        # keep first occurrences in draw order: `picked` are distinct and come first
        _, first = np.unique(candidates, return_index=True)
        picked = candidates[np.sort(first)[:k]]
    return np.sort(picked)
