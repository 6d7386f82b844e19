"""The truncated DCT operator against its explicit matrix and the original's definition."""
import numpy as np
import pytest
import scipy.fft
import scipy.fftpack
from hypothesis import given
from hypothesis import strategies as st

from refnet.ops import FixedOperator, TruncatedDCT, dct_matrix

sizes = st.integers(1, 40)


def explicit(n, m):
    q = max(m, n)
    return scipy.fft.dct(np.eye(q), type=2, norm="ortho", axis=0)[:m, :n]


@given(n=sizes, m=sizes, seed=st.integers(0, 2**32 - 1))
def test_apply_and_adjoint_equal_the_explicit_matrix(n, m, seed):
    rng = np.random.default_rng(seed)
    D = TruncatedDCT(n, m)
    C = explicit(n, m)
    x = rng.standard_normal((3, n))
    y = rng.standard_normal((3, m))
    np.testing.assert_allclose(D.apply(x), x @ C.T, rtol=0, atol=1e-13 * np.sqrt(max(n, m)))
    np.testing.assert_allclose(D.adjoint(y), y @ C, rtol=0, atol=1e-13 * np.sqrt(max(n, m)))
    np.testing.assert_array_equal(D.matrix(), C)


@given(n=sizes, m=sizes, seed=st.integers(0, 2**32 - 1))
def test_equals_the_original_weight(n, m, seed):
    """The DCTpS code's frozen weight: ``dct(eye(q), norm='ortho')[:n, :m]`` as ``y = x @ f``."""
    q = max(n, m)
    f = scipy.fftpack.dct(np.eye(q), norm="ortho")[:n, :m]
    x = np.random.default_rng(seed).standard_normal((4, n))
    np.testing.assert_allclose(TruncatedDCT(n, m).apply(x), x @ f, rtol=0, atol=1e-13 * np.sqrt(q))
    np.testing.assert_allclose(TruncatedDCT(n, m).matrix(), f.T, rtol=0, atol=1e-15)


@given(n=sizes, m=sizes, seed=st.integers(0, 2**32 - 1))
def test_adjoint_is_exact(n, m, seed):
    rng = np.random.default_rng(seed)
    D = TruncatedDCT(n, m)
    x, y = rng.standard_normal((5, n)), rng.standard_normal((5, m))
    lhs = np.sum(D.apply(x) * y)
    rhs = np.sum(x * D.adjoint(y))
    scale = np.sum(np.abs(D.apply(x) * y)) + np.sum(np.abs(x * D.adjoint(y)))
    assert abs(lhs - rhs) <= 1e-14 * scale


@pytest.mark.parametrize("n, m", [(1, 1), (7, 7), (64, 64), (5, 9), (9, 5)])
def test_singular_values_are_one(n, m):
    """Square: orthogonal.  Rectangular: orthonormal rows or columns, min(m, n) ones."""
    sv = np.linalg.svd(TruncatedDCT(n, m).matrix(), compute_uv=False)
    assert sv.shape == (min(m, n),)
    np.testing.assert_allclose(sv, 1.0, rtol=0, atol=1e-13)


def test_leading_axes_are_kept():
    rng = np.random.default_rng(0)
    D = TruncatedDCT(6, 4)
    x = rng.standard_normal((2, 3, 5, 6))
    y = D.apply(x)
    assert y.shape == (2, 3, 5, 4) and y.flags.c_contiguous
    np.testing.assert_allclose(y, x @ D.matrix().T, atol=1e-14)
    g = rng.standard_normal((2, 3, 5, 4))
    np.testing.assert_allclose(D.adjoint(g), g @ D.matrix(), atol=1e-14)
    np.testing.assert_allclose(D.apply(x[0, 0, 0]), D.matrix() @ x[0, 0, 0], atol=1e-14)


@pytest.mark.parametrize("n, m", [(4, 4), (3, 6), (6, 3)])
def test_results_are_fresh_and_inputs_untouched(n, m):
    D = TruncatedDCT(n, m)
    x = np.random.default_rng(0).standard_normal((2, n))
    x_copy = x.copy()
    y = D.apply(x)
    y[...] = 7.0                # the caller owns the result
    np.testing.assert_array_equal(x, x_copy)
    g = np.ones((2, m))
    out = D.adjoint(g)
    assert not np.shares_memory(out, g)
    np.testing.assert_array_equal(g, 1.0)


def test_dct_matrix_is_orthogonal():
    C = dct_matrix(12)
    np.testing.assert_allclose(C @ C.T, np.eye(12), atol=1e-14)


def test_errors_name_the_argument():
    D = TruncatedDCT(4, 3)
    with pytest.raises(ValueError, match=r"x has shape \(2, 5\), expected \(\.\.\., 4\)"):
        D.apply(np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"y has shape"):
        D.adjoint(np.ones(4))
    with pytest.raises(ValueError, match="n_in must be an integer >= 1"):
        TruncatedDCT(0, 3)
    assert isinstance(D, FixedOperator) and D.shape == (3, 4) and D.q == 4
