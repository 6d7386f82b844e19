"""Statistics of singular-value spectra, one matrix at a time or pooled over a batch.

"Zero" means at most :func:`zero_tolerance`; "nonzero" above it, and ``rank``
counts those.  Also the extreme singular values of a matrix-free operator.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.sparse.linalg import ArpackNoConvergence, aslinearoperator, svds

from .._checks import as_rng, check_positive_int
from ..jacobian import dense_matrix

__all__ = ["singular_values", "zero_tolerance", "SpectrumStats", "spectrum_stats",
           "pooled_spectrum_stats", "pooled_nonzero", "ExtremeSingularValues",
           "extreme_singular_values", "SVDS_MIN_RELATIVE"]

_EPS = np.finfo(np.float64).eps


def singular_values(J) -> np.ndarray:
    """Singular values ``(..., min(m, n))`` of a stack of matrices ``(..., m, n)``, descending."""
    J = np.asarray(J)
    if J.ndim < 2:
        raise ValueError(f"singular_values: J has shape {J.shape}, expected (..., m, n)")
    return np.linalg.svd(J, compute_uv=False)


def _check_sigma(sigma, shape) -> tuple[np.ndarray, int, int]:
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.ndim < 1:
        raise ValueError(f"sigma has shape {sigma.shape}, expected (..., min(m, n))")
    try:
        m, n = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"shape must be the matrix shape (m, n), got {shape!r}") from None
    if m < 1 or n < 1:
        raise ValueError(f"shape must be two positive sizes (m, n), got {shape!r}")
    if sigma.shape[-1] != min(m, n):
        raise ValueError(f"sigma has {sigma.shape[-1]} values per matrix, but an {m} x {n} "
                         f"matrix has min(m, n) = {min(m, n)}; statistics of the zero atom "
                         "need all of them")
    if not np.all(np.isfinite(sigma)) or np.any(sigma < 0):
        raise ValueError("sigma must hold finite non-negative singular values")
    return sigma, m, n


def zero_tolerance(sigma, shape, *, rtol: float | None = None,
                   atol: float | None = None) -> np.ndarray:
    """The threshold at or below which a singular value counts as zero, per matrix.

    ``sigma`` (..., min(m, n)) holds ALL singular values of each ``(m, n) =
    shape`` matrix; returns ``tol`` (...).  ``rtol * sigma_max`` and ``atol``:
    the larger applies.  Without either it is numpy's ``matrix_rank`` rule::

        tol = max(m, n) * eps * sigma_max          # eps = 2.2e-16 for float64

    the rounding error of an SVD of an (m, n) matrix, so an exact zero (a
    disconnected unit) is never mistaken for a small but real value.
    """
    sigma, m, n = _check_sigma(sigma, shape)
    sigma_max = sigma.max(axis=-1)
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value is not None and not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if rtol is None and atol is None:
        return max(m, n) * _EPS * sigma_max
    tol = np.zeros_like(sigma_max) if rtol is None else rtol * sigma_max
    return np.maximum(tol, 0.0 if atol is None else atol)


class SpectrumStats(NamedTuple):
    """Summary of a spectrum: ``sigma`` all ``min(m, n)`` singular values, ``nz`` those
    above ``tol``.  Scalars for one matrix, per-matrix arrays for a stack."""

    n_values: int | np.ndarray        #: min(m, n), the number of singular values
    rank: int | np.ndarray            #: len(nz), the numerical rank
    frac_zero: float | np.ndarray     #: 1 - rank / n_values, the zero atom
    sv_max: float | np.ndarray        #: max(sigma), the spectral norm
    sv_min: float | np.ndarray        #: min(nz), the smallest NONZERO singular value
    cond: float | np.ndarray          #: sv_max / sv_min, over the nonzero values
    mean_sq_sv: float | np.ndarray    #: mean(nz**2), over the nonzero values
    mean_sq_sv_all: float | np.ndarray  #: mean(sigma**2) = ||J||_F**2 / min(m, n)
    mean_log_sv: float | np.ndarray   #: mean(log(nz)), natural log, over the nonzero values
    stable_rank: float | np.ndarray   #: sum(sigma**2) / sv_max**2 = ||J||_F**2 / ||J||_2**2
    tol: float | np.ndarray           #: the zero tolerance used


def _stats(sigma: np.ndarray, tol: np.ndarray) -> SpectrumStats:
    """Statistics along the last axis of ``sigma`` (..., k) with per-row ``tol`` (...)."""
    nonzero = sigma > tol[..., None]
    count = sigma.shape[-1]
    rank = nonzero.sum(axis=-1)
    sq = sigma ** 2
    sv_max = sigma.max(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sv_min = np.where(rank > 0, np.where(nonzero, sigma, np.inf).min(axis=-1), np.nan)
        log_sum = np.where(nonzero, np.log(np.where(nonzero, sigma, 1.0)), 0.0).sum(axis=-1)
        stats = SpectrumStats(
            n_values=np.full(rank.shape, count),
            rank=rank,
            frac_zero=1.0 - rank / count,
            sv_max=sv_max,
            sv_min=sv_min,
            cond=sv_max / sv_min,
            mean_sq_sv=np.where(rank > 0, np.where(nonzero, sq, 0.0).sum(axis=-1) / rank, np.nan),
            mean_sq_sv_all=sq.mean(axis=-1),
            mean_log_sv=np.where(rank > 0, log_sum / rank, np.nan),
            stable_rank=np.where(sv_max > 0, sq.sum(axis=-1) / sv_max ** 2, np.nan),
            tol=tol,
        )
    return stats


def _scalar(stats: SpectrumStats) -> SpectrumStats:
    return SpectrumStats(*(v.item() for v in stats))


def spectrum_stats(sigma, shape, *, rtol: float | None = None,
                   atol: float | None = None) -> SpectrumStats:
    """:class:`SpectrumStats` of each matrix, from ALL its singular values (any order).

    Arguments as :func:`zero_tolerance`'s.  The statistics over the nonzero
    values are NaN when there is none, ``stable_rank`` for the zero matrix.
    The stable rank needs no threshold: at most the rank, and close to it when
    the nonzero values are of one size.

    Examples
    --------
    >>> s = spectrum_stats([2.0, 1.0, 0.0], shape=(3, 3))
    >>> s.rank, round(s.frac_zero, 4), s.cond, s.mean_sq_sv, s.stable_rank
    (2, 0.3333, 2.0, 2.5, 1.25)
    """
    sigma, m, n = _check_sigma(sigma, shape)
    stats = _stats(sigma, zero_tolerance(sigma, (m, n), rtol=rtol, atol=atol))
    return _scalar(stats) if sigma.ndim == 1 else stats


def pooled_nonzero(sigma, shape, *, rtol: float | None = None,
                   atol: float | None = None) -> tuple[np.ndarray, int, int]:
    """``(values, n_zero, count)``: a stack's nonzero singular values in one flat array.

    Arguments as :func:`zero_tolerance`'s, each matrix with its own tolerance;
    ``n_zero`` values were zero of ``count``.
    """
    sigma, m, n = _check_sigma(sigma, shape)
    tol = zero_tolerance(sigma, (m, n), rtol=rtol, atol=atol)
    nonzero = sigma > tol[..., None]
    return sigma[nonzero], int(sigma.size - nonzero.sum()), int(sigma.size)


def pooled_spectrum_stats(sigma, shape, *, rtol: float | None = None,
                          atol: float | None = None) -> SpectrumStats:
    """Python-scalar statistics of the POOLED spectra of a stack of matrices.

    Which values are zero is decided per matrix; then every value of every
    matrix goes into one multiset (what a histogram of all spectra shows),
    whose statistics these are: ``cond`` is the largest value over the
    smallest nonzero value of ANY matrix, ``n_values`` and ``rank`` are
    totals.  ``stable_rank`` and ``tol`` are the means of the per-matrix values.
    """
    sigma, m, n = _check_sigma(sigma, shape)
    flat = sigma.reshape(-1, sigma.shape[-1])
    tol = zero_tolerance(flat, (m, n), rtol=rtol, atol=atol)
    nonzero = flat > tol[:, None]
    # the multiset as one spectrum whose zero atom is already decided: tolerance 0
    pooled = np.concatenate([flat[nonzero], np.zeros(flat.size - nonzero.sum())])
    return _scalar(_stats(pooled, np.array(0.0)))._replace(
        stable_rank=float(np.mean(_stats(flat, tol).stable_rank)), tol=float(np.mean(tol)))


class ExtremeSingularValues(NamedTuple):
    """Result of :func:`extreme_singular_values`."""

    largest: np.ndarray      #: the k largest singular values, descending
    smallest: np.ndarray     #: the k smallest of the min(m, n) singular values, ascending
    method_largest: str      #: "svds" or "exact"
    method_smallest: str     #: "svds" or "exact"


#: The smallest ``sigma / sigma_max`` that ``svds`` resolves to about 1e-6 relative
#: (:func:`extreme_singular_values`, Notes).
SVDS_MIN_RELATIVE = math.sqrt(np.finfo(np.float64).eps / (2 * 1e-6))


def extreme_singular_values(op, k: int = 1, *, method: str = "auto",
                            seed=0) -> ExtremeSingularValues:
    """The ``k`` largest and ``k`` smallest singular values of a linear operator.

    ``op`` is a LinearOperator, array or sparse matrix.  ``method="exact"``:
    the full SVD of :func:`dense_matrix`; ``"svds"``: ``scipy.sparse.linalg.svds``
    (ARPACK, starting vectors from ``seed``) at both ends; ``"auto"``: svds,
    but the smallest from the exact SVD when ARPACK does not converge or
    returns one below ``SVDS_MIN_RELATIVE * sigma_max``.  All use the exact
    SVD when ``k = min(m, n)``.

    Notes
    -----
    ARPACK finds eigenvalues of the Gram matrix ``J.T @ J`` to an absolute error
    of about ``eps * sigma_max**2``, so ``sigma`` has a relative error of about
    ``eps * sigma_max**2 / (2 * sigma**2)``: 1e-6 at ``sigma = sqrt(eps / 2e-6) *
    sigma_max`` (:data:`SVDS_MIN_RELATIVE`, 1.05e-5).  And ``which="SM"`` runs
    without the shift-invert a matrix-free operator cannot give, so it converges
    slowly or never on a cluster near zero (SciPy 1.17, 200 x 250: a null space
    of 150 did not converge in 1 s; a cluster at 1e-7 came out 2e-4 off).
    ``"auto"`` cannot see ARPACK miss part of a cluster; ``"exact"`` is the reference.

    Examples
    --------
    >>> ev = extreme_singular_values(np.diag([5.0, 4.0, 3.0, 2.0, 1.0]), k=2)
    >>> ev.largest.round(12), ev.smallest.round(12)
    (array([5., 4.]), array([1., 2.]))
    """
    if method not in ("auto", "svds", "exact"):
        raise ValueError(f"extreme_singular_values: method must be one of ['auto', 'svds', "
                         f"'exact'], got {method!r}")
    op = aslinearoperator(op)
    r = min(op.shape)
    k = check_positive_int("k", k, "extreme_singular_values")
    if k > r:
        raise ValueError(f"extreme_singular_values: k must be at most min(m, n) = {r}, got {k}")
    rng = as_rng(seed)

    def exact():
        return np.linalg.svd(dense_matrix(op), compute_uv=False)

    if method == "exact" or k >= r:
        s = exact()
        return ExtremeSingularValues(s[:k].copy(), s[::-1][:k].copy(), "exact", "exact")

    def run_svds(which):
        s = svds(op, k=k, which=which, v0=rng.standard_normal(r), return_singular_vectors=False)
        return np.sort(np.asarray(s, dtype=np.float64))

    largest = run_svds("LM")[::-1].copy()
    try:
        smallest = run_svds("SM")
    except ArpackNoConvergence:
        if method == "svds":
            raise
        smallest = None
    if method == "auto" and (smallest is None or smallest[0] < SVDS_MIN_RELATIVE * largest[0]):
        return ExtremeSingularValues(largest, exact()[::-1][:k].copy(), "svds", "exact")
    return ExtremeSingularValues(largest, smallest, "svds", "svds")
