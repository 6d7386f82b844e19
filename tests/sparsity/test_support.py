"""Support sampling: exact counts, distinct positions in CSR order, uniformity, determinism."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from refnet.sparsity import (allocate, matrix_shape, row_counts, sample_support,
                             sample_support_per_row, sample_supports)


def _assert_valid_support(rows, cols, shape, nnz):
    m, n = shape[0], math.prod(shape[1:])
    assert rows.dtype == np.int64 and cols.dtype == np.int64
    assert rows.shape == cols.shape == (nnz,)
    if nnz:
        assert rows.min() >= 0 and rows.max() < m
        assert cols.min() >= 0 and cols.max() < n
        flat = rows * n + cols
        assert np.all(np.diff(flat) > 0)        # distinct AND sorted: CSR order


def _shapes():
    linear = st.tuples(st.integers(1, 30), st.integers(1, 30))
    conv = st.tuples(st.integers(1, 8), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3))
    return st.one_of(linear, conv)


@settings(max_examples=60)    # ~1 ms per example: affordable beyond the suite-wide default
@given(shape=_shapes(), fraction=st.floats(0, 1), seed=st.integers(0, 2**32 - 1),
       per_row=st.booleans())
def test_support_invariants(shape, fraction, seed, per_row):
    size = math.prod(shape)
    nnz = int(round(fraction * size))
    sampler = sample_support_per_row if per_row else sample_support
    rows, cols = sampler(shape, nnz, seed)
    _assert_valid_support(rows, cols, shape, nnz)
    again = sampler(shape, nnz, np.random.default_rng(seed))   # same seed, as a Generator
    np.testing.assert_array_equal(rows, again[0])
    np.testing.assert_array_equal(cols, again[1])
    if per_row:
        counts = np.bincount(rows, minlength=shape[0])
        assert counts.max() - counts.min() <= 1
        assert counts.sum() == nnz


def test_same_seed_bitwise_same_different_seed_different():
    a = sample_support((64, 3, 3, 3), 500, 7)
    b = sample_support((64, 3, 3, 3), 500, 7)
    c = sample_support((64, 3, 3, 3), 500, 8)
    assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
    assert not (np.array_equal(a[0], c[0]) and np.array_equal(a[1], c[1]))


def test_a_generator_advances_so_consecutive_supports_differ():
    rng = np.random.default_rng(0)
    first = sample_support((50, 50), 20, rng)
    second = sample_support((50, 50), 20, rng)
    assert not np.array_equal(first[0] * 50 + first[1], second[0] * 50 + second[1])


def test_huge_matrix_is_memory_safe():
    # 10^12 entries: a dense mask or a permutation of the population would need terabytes.
    rows, cols = sample_support((10**6, 10**6), 1000, 0)
    _assert_valid_support(rows, cols, (10**6, 10**6), 1000)
    rows, cols = sample_support_per_row((1000, 10**9), 2500, 0)
    _assert_valid_support(rows, cols, (1000, 10**9), 2500)


def test_full_and_empty_supports():
    rows, cols = sample_support((3, 2, 2, 1), 12, 0)
    np.testing.assert_array_equal(rows, np.repeat(np.arange(3), 4))
    np.testing.assert_array_equal(cols, np.tile(np.arange(4), 3))
    for sampler in (sample_support, sample_support_per_row):
        rows, cols = sampler((5, 5), 0, 0)
        assert rows.shape == cols.shape == (0,) and rows.dtype == np.int64


def _subset_frequencies(shape, nnz, trials, sampler, seed):
    rng = np.random.default_rng(seed)
    n = math.prod(shape[1:])
    counts = {}
    for _ in range(trials):
        rows, cols = sampler(shape, nnz, rng)
        key = tuple(rows * n + cols)
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize("shape, nnz", [
    ((2, 3), 3),     # population 6 <= 8 * 3: the permutation branch; C(6, 3) = 20 subsets
    ((4, 5), 2),     # population 20 > 8 * 2: the draw-and-skip-repeats branch; C(20, 2) = 190
])
def test_every_subset_is_equally_likely(shape, nnz):
    population = math.prod(shape)
    subsets = list(itertools.combinations(range(population), nnz))
    trials = 60 * len(subsets)
    counts = _subset_frequencies(shape, nnz, trials, sample_support, seed=1234)
    assert set(counts) <= set(subsets)
    observed = [counts.get(s, 0) for s in subsets]
    # Fixed seed, so deterministic; a biased sampler (e.g. one favouring low indices) fails.
    assert stats.chisquare(observed).pvalue > 1e-3


def test_per_row_sampling_is_uniform_within_rows_and_over_extra_rows():
    # 3 rows of 6, nnz = 4: counts (2, 1, 1) in some order.  Each row's columns: every pair
    # (or single) equally likely; each row gets the extra unit 1/3 of the time.
    rng = np.random.default_rng(99)
    trials = 6000
    extra = np.zeros(3)
    col_hits = np.zeros((3, 6))
    for _ in range(trials):
        rows, cols = sample_support_per_row((3, 6), 4, rng)
        counts = np.bincount(rows, minlength=3)
        assert sorted(counts) == [1, 1, 2]
        extra[np.argmax(counts)] += 1
        np.add.at(col_hits, (rows, cols), 1)
    assert stats.chisquare(extra).pvalue > 1e-3
    for r in range(3):
        assert stats.chisquare(col_hits[r]).pvalue > 1e-3


def test_row_counts():
    np.testing.assert_array_equal(row_counts(4, 8, 0), [2, 2, 2, 2])
    random_counts = row_counts(5, 13, 3)
    assert random_counts.sum() == 13 and sorted(random_counts) == [2, 2, 3, 3, 3]
    np.testing.assert_array_equal(row_counts(5, 13, 3), random_counts)


def test_matrix_shape():
    assert matrix_shape((120, 16, 5, 5)) == (120, 400)
    assert matrix_shape((82, 120)) == (82, 120)


def test_sample_supports_follows_the_allocation():
    layers = [("conv1", (6, 3, 5, 5)), ("conv2", (16, 6, 5, 5)), ("fc", (10, 84))]
    for distribution in ("uniform", "epf"):
        allocation = allocate(layers, 0.05, distribution)
        supports = sample_supports(allocation, 5)
        assert list(supports) == ["conv1", "conv2", "fc"]
        for layer in allocation.layers:
            rows, cols = supports[layer.name]
            _assert_valid_support(rows, cols, layer.shape, layer.nnz)
            if distribution == "epf":     # per row by default for epf
                counts = np.bincount(rows, minlength=layer.shape[0])
                assert counts.max() - counts.min() <= 1
        again = sample_supports(allocation, 5)
        for name in supports:
            np.testing.assert_array_equal(supports[name][1], again[name][1])
    # 8 nonzeros in 6 rows: per row, the counts are (2, 2, 1, 1, 1, 1) in some order, so no
    # row is ever empty; drawn over the whole matrix instead, some row is often empty.
    allocation = allocate([("w", (6, 75))], 8 / 450, "epf")
    uneven = sum(np.bincount(sample_supports(allocation, s, per_row=False)["w"][0],
                             minlength=6).min() == 0 for s in range(20))
    even = sum(np.bincount(sample_supports(allocation, s)["w"][0], minlength=6).min() == 0
               for s in range(20))
    assert even == 0 and uneven > 0


@pytest.mark.parametrize("shape, nnz, match", [
    ((3, 4), 13, r"nnz must be an integer in \[0, 12\]"),
    ((3, 4), -1, r"nnz must be an integer in \[0, 12\]"),
    ((3, 4), 2.0, r"nnz must be an integer in \[0, 12\]"),
    ((3, 0), 0, r"shape\[1\] must be an integer >= 1"),
    ((3,), 1, r"has 1 dimension"),
    (5, 1, "shape must be a tuple"),
])
def test_bad_arguments(shape, nnz, match):
    for sampler in (sample_support, sample_support_per_row):
        with pytest.raises(ValueError, match=match):
            sampler(shape, nnz, 0)


def test_rng_must_be_explicit():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator or an int seed"):
        sample_support((3, 4), 2, None)
    with pytest.raises(TypeError, match="rng must be"):
        sample_support_per_row((3, 4), 2, np.random)
    with pytest.raises(TypeError, match="allocation must be an Allocation"):
        sample_supports({"w": 3}, 0)
