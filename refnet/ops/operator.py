"""The interface of a fixed linear operator ``O`` with an exact adjoint (a DCTpS offset)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._args import positive_int

__all__ = ["FixedOperator"]


class FixedOperator:
    """A fixed linear map ``O`` of shape ``(n_out, n_in)``, applied on the last axis.

    Subclasses implement ``apply(x)``: ``(..., n_in) -> O @ x`` of shape
    ``(..., n_out)``, and ``adjoint(y)``: ``(..., n_out) -> O.T @ y`` of shape
    ``(..., n_in)``.  Both return NEW arrays (never views of or writes into
    their argument), and ``<O @ x, y> == <x, O.T @ y>`` up to rounding.
    """

    #: Short name of the operator family (for reports and ``repr``).
    name: str = "operator"

    def __init__(self, n_in: int, n_out: int):
        self.n_in = positive_int("n_in", n_in, type(self).__name__)
        self.n_out = positive_int("n_out", n_out, type(self).__name__)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_out, n_in)``, the shape of the matrix ``O``."""
        return (self.n_out, self.n_in)

    def apply(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def matrix(self) -> np.ndarray:
        """The explicit ``(n_out, n_in)`` matrix, column by column (tests and teaching only)."""
        return np.ascontiguousarray(self.apply(np.eye(self.n_in)).T)

    def structure(self) -> sp.csr_matrix:
        """Where ``O`` may be nonzero, a 0/1 int8 pattern (a superset is valid); dense here."""
        return sp.csr_matrix(np.ones(self.shape, dtype=np.int8))

    def _check_last_axis(self, name: str, a, size: int) -> np.ndarray:
        a = np.asarray(a)
        if a.ndim < 1 or a.shape[-1] != size:
            raise ValueError(f"{type(self).__name__}: {name} has shape {a.shape}, "
                             f"expected (..., {size})")
        return a

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_in={self.n_in}, n_out={self.n_out})"
