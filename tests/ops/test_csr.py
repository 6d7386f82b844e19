"""The CSR support: sampling, validation, its products and the values' cotangent."""
import numpy as np
import pytest
import scipy.sparse
from hypothesis import given
from hypothesis import strategies as st

from refnet.ops import CSRSupport, nnz_from_density


@st.composite
def supports(draw):
    m, n = draw(st.integers(1, 9), label="m"), draw(st.integers(1, 9), label="n")
    nnz = draw(st.integers(0, m * n), label="nnz")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    return CSRSupport.sample((m, n), nnz, seed), seed


@given(supports())
def test_sampled_support_is_exact_distinct_sorted(case):
    s, seed = case
    m, n = s.shape
    flat = s.rows * n + s.cols
    assert s.rows.size == s.cols.size == s.nnz
    assert np.all(np.diff(flat) > 0)                       # distinct, CSR order
    assert np.all((0 <= s.rows) & (s.rows < m) & (0 <= s.cols) & (s.cols < n))
    np.testing.assert_array_equal(np.diff(s.indptr), np.bincount(s.rows, minlength=m))
    again = CSRSupport.sample((m, n), s.nnz, seed)
    assert again == s                                      # same seed, same support


def test_sampling_is_uniform_over_positions():
    """Each of 12 positions is kept with probability 5/12, low and high density alike."""
    rng = np.random.default_rng(0)
    for nnz in (5, 9):                                     # 9 > 12 / 2 samples the complement
        counts = np.zeros((3, 4))
        trials = 3000
        for _ in range(trials):
            s = CSRSupport.sample((3, 4), nnz, rng)
            counts[s.rows, s.cols] += 1
        p = nnz / 12
        sigma = np.sqrt(trials * p * (1 - p))
        assert np.max(np.abs(counts - trials * p)) < 5 * sigma


def test_sampling_pairs_are_uniform():
    """Uniform over SETS, not just marginals: every pair of 2 of 4 positions equally likely."""
    rng = np.random.default_rng(1)
    seen = {}
    for _ in range(6000):
        s = CSRSupport.sample((2, 2), 2, rng)
        key = tuple(s.flat_index())
        seen[key] = seen.get(key, 0) + 1
    assert len(seen) == 6
    assert max(abs(c - 1000) for c in seen.values()) < 5 * np.sqrt(1000 * 5 / 6)


def test_sampling_edge_counts():
    assert CSRSupport.sample((3, 4), 0, 0).nnz == 0
    full = CSRSupport.sample((3, 4), 12, 0)
    np.testing.assert_array_equal(full.flat_index(), np.arange(12))
    with pytest.raises(ValueError, match="nnz must be at most m \\* n = 12"):
        CSRSupport.sample((3, 4), 13, 0)
    with pytest.raises(TypeError, match="rng must be"):
        CSRSupport.sample((3, 4), 2, None)


def test_from_positions_sorts_and_validates():
    s = CSRSupport.from_positions((3, 4), rows=[2, 0, 0], cols=[1, 3, 0])
    np.testing.assert_array_equal(s.rows, [0, 0, 2])
    np.testing.assert_array_equal(s.cols, [0, 3, 1])
    assert s.rows.flags.writeable is False
    with pytest.raises(ValueError, match=r"rows\[1\] = 3 is out of range \[0, 3\)"):
        CSRSupport.from_positions((3, 4), [0, 3], [0, 0])
    with pytest.raises(ValueError, match=r"cols\[0\] = -1"):
        CSRSupport.from_positions((3, 4), [0], [-1])
    with pytest.raises(ValueError, match=r"position \(1, 2\) appears more than once"):
        CSRSupport.from_positions((3, 4), [1, 0, 1], [2, 0, 2])
    with pytest.raises(ValueError, match="same length"):
        CSRSupport.from_positions((3, 4), [1, 0], [2])
    with pytest.raises(TypeError, match="rows must be integers"):
        CSRSupport.from_positions((3, 4), [1.0], [2])
    with pytest.raises(ValueError, match="sorted row-major"):
        CSRSupport((3, 4), [1, 0], [0, 0])


def test_callers_arrays_are_left_alone():
    rows, cols = np.array([0, 1]), np.array([1, 2])
    s = CSRSupport((2, 3), rows, cols)
    assert rows.flags.writeable and not np.shares_memory(s.rows, rows)


def test_nonzeros_and_gather_and_locate():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, 5)) * (rng.random((4, 5)) < 0.4)
    s = CSRSupport(W.shape, *np.nonzero(W))
    np.testing.assert_array_equal(s.to_dense(s.gather(W)), W)
    k = s.locate(s.rows[::-1], s.cols[::-1])
    np.testing.assert_array_equal(k, np.arange(s.nnz)[::-1])
    absent = np.argwhere(W == 0)[0]
    assert s.locate([absent[0]], [absent[1]])[0] == -1
    assert CSRSupport((2, 2), [], []).locate([0], [0])[0] == -1


def test_csr_shares_the_values_and_builds_no_copy():
    s = CSRSupport.sample((6, 7), 10, 0)
    values = np.arange(10.0)
    S = s.csr(values)
    assert isinstance(S, scipy.sparse.csr_matrix)
    assert np.shares_memory(S.data, values) and np.shares_memory(S.indices, s.indices)
    np.testing.assert_array_equal(S.toarray(), s.to_dense(values))
    with pytest.raises(ValueError, match=r"values has shape \(9,\), expected \(10,\)"):
        s.csr(np.zeros(9))


@given(supports(), st.integers(0, 5), st.integers(1, 3))
def test_products_and_value_cotangent_equal_dense_algebra(case, batch, k_lead):
    s, seed = case
    rng = np.random.default_rng(seed)
    m, n = s.shape
    values = rng.standard_normal(s.nnz)
    S = s.to_dense(values)
    x = rng.standard_normal((batch, n))
    y_bar = rng.standard_normal((k_lead, batch, m))
    np.testing.assert_allclose(s.csr(values) @ x.T, S @ x.T, atol=1e-13)
    np.testing.assert_allclose(s.csr_transpose(values) @ y_bar[0].T, S.T @ y_bar[0].T,
                               atol=1e-13)
    got = s.value_cotangent(y_bar, x)
    assert got.shape == (k_lead, s.nnz)
    for l in range(k_lead):
        np.testing.assert_allclose(got[l], (y_bar[l].T @ x)[s.rows, s.cols], atol=1e-13)


def test_value_cotangent_checks_shapes_and_raises_on_a_bad_index():
    s = CSRSupport.sample((4, 3), 5, 0)
    with pytest.raises(ValueError, match=r"are not \(\.\.\., B, 4\) and \(B, 3\)"):
        s.value_cotangent(np.ones((2, 4)), np.ones((3, 3)))
    broken = CSRSupport.sample((4, 3), 5, 0)
    broken.rows = np.array([0, 1, 2, 3, 9])       # what a clamping gather would hide
    with pytest.raises(IndexError):
        broken.value_cotangent(np.ones((2, 4)), np.ones((2, 3)))


def test_nnz_from_density_rounds_half_up_with_at_least_one():
    assert nnz_from_density((3, 3), 0.5) == 5            # 4.5 -> 5
    assert nnz_from_density((10, 10), 0.014) == 1        # 1.4 -> 1
    assert nnz_from_density((10, 10), 0.015) == 2        # 1.5 -> 2
    assert nnz_from_density((100, 100), 1e-9) == 1       # at least one entry
    assert nnz_from_density((7, 3), 1.0) == 21
    for bad in (0.0, -0.1, 1.5, float("nan"), True, "0.1"):
        with pytest.raises(ValueError, match="density must be a number in \\(0, 1\\]"):
            nnz_from_density((3, 3), bad)


def test_value_cotangent_of_operands_of_different_dtypes():
    """A float32 (or integer) input against a float64 cotangent gives the result of the
    float64 copy of the input."""
    s = CSRSupport.sample((5, 4), 9, 0)
    rng = np.random.default_rng(2)
    y_bar = rng.standard_normal((2, 3, 5))
    for x in (rng.standard_normal((3, 4)).astype(np.float32), rng.integers(-3, 4, (3, 4))):
        got = s.value_cotangent(y_bar, x)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, s.value_cotangent(y_bar, x.astype(np.float64)))
