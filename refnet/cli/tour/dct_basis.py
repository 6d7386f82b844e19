"""Tour section: the orthonormal DCT-II matrix, shown and checked to be orthogonal."""
from __future__ import annotations

from refnet.cli.tour.figures import dct_matrix_figure
from refnet.cli.tour.notebook import Notebook

__all__ = ["TITLE", "run"]

TITLE = "The DCT-II matrix"


def run(nb: Notebook, settings) -> None:
    """Write the section into ``nb`` (``settings`` is unused: nothing here is random)."""
    nb.section(TITLE)
    nb.prose("""
        The orthonormal DCT-II (discrete cosine transform, type II) maps a vector `v` of length
        `q` to the coefficients of `v` on `q` sampled cosines:
    """)
    nb.formulas("""
        dct(v)[k] = s[k] * sum_j v[j] * cos(pi * (2*j + 1) * k / (2*q))     k, j = 0, ..., q - 1
        s[0] = sqrt(1 / q),   s[k] = sqrt(2 / q) for k > 0

        as a matrix:  dct(v) = C @ v   with   C[k, j] = s[k] * cos(pi * (2*j + 1) * k / (2*q))
    """)
    nb.prose("""
        Row `k` of `C` is a cosine with `k` half periods over the `q` positions: row 0 is
        constant, the last row alternates fastest. `refnet.ops.dct_matrix(q)` builds `C` as
        `scipy.fft.dct(np.eye(q), norm="ortho", axis=0)` (the DCT of every column of the
        identity); it exists for tests and teaching, since the layers never store `C`. Here
        is `q = 8`, built three ways.
    """)
    nb.cell("""
        import numpy as np
        import scipy.fft
        from refnet.ops import dct_matrix

        q = 8
        C = dct_matrix(q)
        k, j = np.meshgrid(np.arange(q), np.arange(q), indexing="ij")
        s = np.where(k == 0, np.sqrt(1 / q), np.sqrt(2 / q))
        C_formula = s * np.cos(np.pi * (2 * j + 1) * k / (2 * q))
        v = np.random.default_rng(0).standard_normal(q)
        print(np.array2string(C, precision=3, suppress_small=True))
    """)
    nb.check_close("refnet's matrix is the cosine formula", "C", "C_formula")
    nb.check_close("multiplying by C is scipy's fast transform", "C @ v",
                   'scipy.fft.dct(v, norm="ortho")')
    nb.figure(dct_matrix_figure(nb.value("C")), "dct_matrix.png",
              "the 8 x 8 DCT-II matrix C (left) and its first four rows as sampled cosines "
              "(right)")
    nb.prose("""
        With the factors `s[k]` (`norm="ortho"`), the rows of `C` have unit length and are
        mutually perpendicular, so `C` is orthogonal: `C @ C.T = C.T @ C = I`, and its inverse
        is its transpose. The inverse is scipy's `idct(..., norm="ortho")` (the DCT-III).
    """)
    nb.check_small("the rows of C are orthonormal", "np.max(np.abs(C @ C.T - np.eye(q)))")
    nb.check_small("the columns of C are orthonormal", "np.max(np.abs(C.T @ C - np.eye(q)))")
    nb.check_close("idct undoes dct (C.T is the inverse)", 'scipy.fft.idct(C @ v, norm="ortho")',
                   "v")
    nb.check_close("all singular values of C are 1", "np.linalg.svd(C, compute_uv=False)",
                   "np.ones(q)")
    nb.prose("""
        Two consequences carry through the whole tour. An orthogonal matrix neither amplifies
        nor loses any direction (every singular value is 1), so a network of DCT layers passes
        every input direction through. And the backward pass of `C`, its transpose, is its
        inverse: another fast transform, `O(q log q)` instead of the `O(q^2)` of a matrix
        product.
    """)
