"""The interface of a fixed (non-trainable) linear operator with an exact adjoint.

A DCTpS layer computes ``y = alpha * O @ x + S @ x + b`` where ``O`` is a fixed
``(m, n)`` operator, the *offset*.  The layer never looks inside ``O``: it only
calls ``O.apply`` (the forward product and the JVP) and ``O.adjoint`` (the
VJP).  The truncated DCT of :mod:`refnet.ops.dct` is the paper's offset; other
offsets (a randomised DCT, a stored orthogonal matrix, the identity:
:mod:`refnet.ops.offsets`) plug in by implementing the same three methods.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._checks import check_positive_int

__all__ = ["FixedOperator"]


class FixedOperator:
    """A fixed linear map from ``n_in`` to ``n_out`` features, applied on the last axis.

    Subclasses implement :meth:`apply` and :meth:`adjoint`; :meth:`matrix` is
    derived from :meth:`apply` and is meant for tests and teaching only.

    Parameters
    ----------
    n_in : int
        Input features ``n``.
    n_out : int
        Output features ``m``.

    Notes
    -----
    The contract, for any leading axes ``...``:

    * ``apply(x)``: ``x`` of shape ``(..., n)`` to ``O @ x`` of shape ``(..., m)``;
    * ``adjoint(y)``: ``y`` of shape ``(..., m)`` to ``O.T @ y`` of shape ``(..., n)``;
    * both return NEW arrays that the caller may overwrite in place (they never
      alias the argument), and never modify their argument;
    * ``<O @ x, y> == <x, O.T @ y>`` up to rounding (the adjoint is exact).
    """

    #: Short name of the operator family (for reports and ``repr``).
    name: str = "operator"

    def __init__(self, n_in: int, n_out: int):
        owner = type(self).__name__
        self.n_in = check_positive_int("n_in", n_in, owner)
        self.n_out = check_positive_int("n_out", n_out, owner)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_out, n_in)``, the shape of the matrix ``O``."""
        return (self.n_out, self.n_in)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``O @ x`` along the last axis: ``(..., n_in)`` to ``(..., n_out)``."""
        raise NotImplementedError

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``O.T @ y`` along the last axis: ``(..., n_out)`` to ``(..., n_in)``."""
        raise NotImplementedError

    def matrix(self) -> np.ndarray:
        """The explicit ``(n_out, n_in)`` matrix, built column by column with :meth:`apply`.

        For tests and teaching: it costs ``n_out * n_in`` memory, which is
        exactly what the operator exists to avoid.
        """
        return np.ascontiguousarray(self.apply(np.eye(self.n_in)).T)

    def structure(self) -> sp.csr_matrix:
        """Where ``O`` may be nonzero: a 0/1 int8 ``(n_out, n_in)`` pattern.

        For structural bounds (:func:`refnet.models.structural_supports`): a
        superset of the true nonzeros is valid.  Dense by default (the DCT and
        a random orthogonal matrix have a nonzero almost everywhere); sparse
        offsets override it.
        """
        return sp.csr_matrix(np.ones(self.shape, dtype=np.int8))

    def _check_last_axis(self, name: str, a: np.ndarray, size: int) -> np.ndarray:
        a = np.asarray(a)
        if a.ndim < 1 or a.shape[-1] != size:
            raise ValueError(f"{type(self).__name__}: {name} has shape {a.shape}, "
                             f"expected (..., {size})")
        return a

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_in={self.n_in}, n_out={self.n_out})"
