"""The Jacobian of one example as a matrix-free ``scipy.sparse.linalg.LinearOperator``.

A layer's JVP is a matrix-vector product with its Jacobian and its VJP is one
with the transpose, which is exactly what SciPy's ``LinearOperator`` asks for
(``matvec`` and ``rmatvec``).  Leading tangent axes give ``matmat`` and
``rmatmat`` in one call each.  Iterative methods such as ``svds`` then find
extreme singular values without ever forming the matrix.

:func:`extreme_singular_values` wraps ``svds`` with the one caveat that matters
for Jacobians of sparse networks: its smallest singular values are unreliable
when the operator is (nearly) rank deficient, and then the exact SVD of the
materialised matrix is used instead.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, aslinearoperator, svds

from .._checks import as_rng, check_positive_int
from ..core.layer import Layer
from .jacobian import linearize

__all__ = ["JacobianOperator", "jacobian_operator", "dense_matrix",
           "ExtremeSingularValues", "extreme_singular_values", "SVDS_MIN_RELATIVE"]

#: The smallest ``sigma / sigma_max`` that ``svds`` can resolve to a relative
#: accuracy of about 1e-6 (see :func:`extreme_singular_values`, Notes).
SVDS_MIN_RELATIVE = math.sqrt(np.finfo(np.float64).eps / (2 * 1e-6))


class JacobianOperator(LinearOperator):
    """The Jacobian ``J = d target / d source`` of ONE example, matrix-free.

    Build it with :func:`jacobian_operator`.  Shape ``(m, n)``: ``n`` and
    ``m`` are the per-example sizes of the source and target values,
    flattened in C order, as in :func:`~refnet.spectra.jacobian`.

    Notes
    -----
    With ``s`` the per-example source shape and ``t`` the target's
    (so ``n = prod(s)``, ``m = prod(t)``), and a batch of one::

        J @ u   = jvp(params, cache, u.reshape(1, *s)).ravel()            # matvec, (m,)
        J.T @ v = vjp(params, cache, v.reshape(1, *t)).ravel()            # rmatvec, (n,)
        J @ U   = jvp(params, cache, U.T.reshape(k, 1, *s)).reshape(k, m).T   # matmat, (m, k)
        J.T @ V = vjp(params, cache, V.T.reshape(k, 1, *t)).reshape(k, n).T   # rmatmat, (n, k)

    The block products put the ``k`` columns on the leading tangent axis, so
    each is ONE call.  ``U.T`` is copied to a C-contiguous array first.
    """

    def __init__(self, layer: Layer, params, x, *, source=None, target=None):
        x = np.asarray(x)
        if x.ndim < 1 or x.shape[0] != 1:
            raise ValueError(f"jacobian_operator: x has shape {x.shape}, expected one example "
                             "with its batch axis, (1, *in_shape); pass x[i:i + 1]")
        self.layer = layer
        self.params = params
        self._lin = linearize(layer, params, x, source=source, target=target)
        self.source_shape = self._lin.source_shape
        self.target_shape = self._lin.target_shape
        n = math.prod(self.source_shape[1:])
        m = math.prod(self.target_shape[1:])
        super().__init__(dtype=np.dtype(np.float64), shape=(m, n))

    def _jvp(self, x_dot):
        return np.asarray(self.layer.jvp(self.params, self._lin.cache, x_dot, **self._lin.kwargs))

    def _vjp(self, y_bar):
        x_bar, _ = self.layer.vjp(self.params, self._lin.cache, y_bar, need_params=False,
                                  **self._lin.kwargs)
        return np.asarray(x_bar)

    def _matvec(self, u):
        return self._jvp(np.ascontiguousarray(u, dtype=np.float64).reshape(
            self.source_shape)).ravel()

    def _rmatvec(self, v):
        return self._vjp(np.ascontiguousarray(v, dtype=np.float64).reshape(
            self.target_shape)).ravel()

    def _matmat(self, U):
        k = U.shape[1]
        x_dot = np.ascontiguousarray(np.asarray(U, dtype=np.float64).T).reshape(
            (k,) + self.source_shape)
        return self._jvp(x_dot).reshape(k, self.shape[0]).T

    def _rmatmat(self, V):
        k = V.shape[1]
        y_bar = np.ascontiguousarray(np.asarray(V, dtype=np.float64).T).reshape(
            (k,) + self.target_shape)
        return self._vjp(y_bar).reshape(k, self.shape[1]).T

    def _adjoint(self):
        # LinearOperator's default adjoint calls rmatvec/matvec, but not our
        # block products; spelling it out keeps J.T @ V one call.
        return _Transposed(self)

    _transpose = _adjoint


class _Transposed(LinearOperator):
    def __init__(self, op: JacobianOperator):
        self._op = op
        super().__init__(dtype=op.dtype, shape=(op.shape[1], op.shape[0]))

    def _matvec(self, v):
        return self._op._rmatvec(v)

    def _rmatvec(self, u):
        return self._op._matvec(u)

    def _matmat(self, V):
        return self._op._rmatmat(V)

    def _rmatmat(self, U):
        return self._op._matmat(U)

    def _adjoint(self):
        return self._op

    _transpose = _adjoint


def jacobian_operator(layer: Layer, params, x, *, source: str | None = None,
                      target: str | None = None) -> JacobianOperator:
    """The Jacobian of one example as a ``LinearOperator`` (matvec = JVP, rmatvec = VJP).

    Parameters
    ----------
    layer : Layer
        Any single-input refnet layer or container.
    params : dict
    x : ndarray, shape (1, *in_shape)
        ONE example, with its batch axis of length 1.
    source, target : str, optional
        For a :class:`~refnet.Graph`: the partial Jacobian between two named
        values (see :func:`~refnet.spectra.jacobian`).

    Returns
    -------
    JacobianOperator
        Shape (m, n); the forward pass runs once, here.

    Examples
    --------
    >>> import numpy as np
    >>> from refnet.layers import Linear
    >>> layer = Linear(3, 2)
    >>> params = layer.init(np.random.default_rng(0))
    >>> op = jacobian_operator(layer, params, np.ones((1, 3)))
    >>> op.shape
    (2, 3)
    >>> bool(np.allclose(op @ np.eye(3), params["W"]))
    True
    """
    return JacobianOperator(layer, params, x, source=source, target=target)


def dense_matrix(op) -> np.ndarray:
    """Materialise a linear operator as a dense (m, n) array with ONE block product.

    Uses ``rmatmat`` with the (m, m) identity when ``m <= n`` and ``matmat``
    with the (n, n) identity otherwise, so the block is ``min(m, n)`` wide.
    """
    op = aslinearoperator(op)
    m, n = op.shape
    if m <= n:
        return np.asarray(op.rmatmat(np.eye(m))).T.copy()
    return np.asarray(op.matmat(np.eye(n)))


class ExtremeSingularValues(NamedTuple):
    """Result of :func:`extreme_singular_values`."""

    largest: np.ndarray      #: the k largest singular values, descending
    smallest: np.ndarray     #: the k smallest of the min(m, n) singular values, ascending
    method_largest: str      #: "svds" or "exact"
    method_smallest: str     #: "svds" or "exact"


_METHODS = ("auto", "svds", "exact")


def extreme_singular_values(op, k: int = 1, *, method: str = "auto",
                            seed=0) -> ExtremeSingularValues:
    """The ``k`` largest and ``k`` smallest singular values of a linear operator.

    Parameters
    ----------
    op : LinearOperator, ndarray or sparse matrix, shape (m, n)
        For example :func:`jacobian_operator`.
    k : int, default 1
        How many at each end; at most ``min(m, n)``.
    method : {"auto", "svds", "exact"}, default "auto"
        ``"exact"``: materialise the matrix (:func:`dense_matrix`) and take
        its full SVD.  ``"svds"``: ``scipy.sparse.linalg.svds`` (ARPACK) for
        both ends, whatever it returns.  ``"auto"``: ``svds`` for the largest;
        ``svds`` for the smallest, accepted only if all of them are at least
        ``SVDS_MIN_RELATIVE * sigma_max`` and ARPACK converged, otherwise the
        exact SVD.  ``"auto"`` and ``"svds"`` fall back to ``"exact"`` when
        ``k >= min(m, n)``, which ARPACK cannot do.
    seed : int or numpy.random.Generator, default 0
        Source of ARPACK's starting vectors, so results are reproducible.

    Returns
    -------
    ExtremeSingularValues

    Raises
    ------
    ValueError
        For an unknown ``method`` or ``k`` outside ``1 .. min(m, n)``.

    Notes
    -----
    ``svds`` with ARPACK computes eigenvectors of the Gram matrix ``G = J.T
    @ J`` (the smaller of the two), then singular values of ``J`` on them.  In
    floating point an eigenvalue of ``G`` carries an absolute error of about
    ``eps * ||G|| = eps * sigma_max**2``, so a small ``sigma`` is resolved
    only to a relative error of about::

        eps * sigma_max**2 / (2 * sigma**2)

    which reaches 1e-6 at ``sigma = sqrt(eps / 2e-6) * sigma_max``, about
    1.05e-5 * sigma_max (:data:`SVDS_MIN_RELATIVE`).  Worse, ``which="SM"``
    runs ARPACK without the shift-invert factorisation that a matrix-free
    operator cannot provide, and it converges slowly or not at all on a
    cluster of eigenvalues at or near zero.  Measured with SciPy 1.17 on
    200 x 250 matrices (k = 3): a 150-dimensional null space and spectra
    graded down to 1e-8 or 1e-12 raised ``ArpackNoConvergence`` after about
    1 s; a 50-dimensional null space converged to values of order
    ``eps * sigma_max``; a cluster at 1e-7 converged with a relative error of
    2e-4.  So for rank-deficient and nearly rank-deficient operators the
    smallest values from ``svds`` are unreliable.  ``"auto"`` detects both
    cases (no convergence, or a smallest value below ``SVDS_MIN_RELATIVE *
    sigma_max``) and then computes the exact SVD of the materialised matrix,
    whose errors are about ``eps * sigma_max`` absolute.  The largest values
    from ``svds`` are accurate to about ``eps`` relative and are always kept.

    ``"auto"`` cannot detect ARPACK converging to values that are not the
    smallest (missing some of a cluster); ``"exact"`` is the reference.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.diag([5.0, 4.0, 3.0, 2.0, 1.0])
    >>> ev = extreme_singular_values(A, k=2)
    >>> ev.largest.round(12), ev.smallest.round(12)
    (array([5., 4.]), array([1., 2.]))
    """
    if method not in _METHODS:
        raise ValueError(f"extreme_singular_values: method must be one of {list(_METHODS)}, "
                         f"got {method!r}")
    op = aslinearoperator(op)
    m, n = op.shape
    r = min(m, n)
    k = check_positive_int("k", k, "extreme_singular_values")
    if k > r:
        raise ValueError(f"extreme_singular_values: k must be at most min(m, n) = {r}, got {k}")
    rng = as_rng(seed)
    if method == "exact" or k >= r:
        s = np.linalg.svd(dense_matrix(op), compute_uv=False)
        return ExtremeSingularValues(s[:k].copy(), s[::-1][:k].copy(), "exact", "exact")

    def run_svds(which):
        v0 = rng.standard_normal(r)
        s = svds(op, k=k, which=which, v0=v0, return_singular_vectors=False)
        return np.sort(np.asarray(s, dtype=np.float64))

    largest = run_svds("LM")[::-1].copy()
    try:
        smallest = run_svds("SM")
    except ArpackNoConvergence:
        if method == "svds":
            raise
        smallest = None
    if method == "auto" and (smallest is None
                             or smallest[0] < SVDS_MIN_RELATIVE * largest[0]):
        s = np.linalg.svd(dense_matrix(op), compute_uv=False)
        return ExtremeSingularValues(largest, s[::-1][:k].copy(), "svds", "exact")
    return ExtremeSingularValues(largest, smallest, "svds", "svds")
