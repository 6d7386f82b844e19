"""Initializers: shapes, variances within statistical bounds, orthogonality, seeds, errors."""
import math

import numpy as np
import pytest

from refnet.initializers import INITIALIZERS, fans, initialize
from refnet.layers import Linear

SHAPES = [(7,), (5, 3), (3, 5), (4, 2, 3, 3)]


@pytest.mark.parametrize("name, shape", [(name, shape) for name in sorted(INITIALIZERS)
                                         for shape in SHAPES
                                         if name != "orthogonal" or len(shape) >= 2])
def test_shape_dtype_and_determinism(name, shape):
    w = initialize(name, shape, 3)
    assert w.shape == shape and w.dtype == np.float64
    np.testing.assert_array_equal(w, initialize(name, shape, np.random.default_rng(3)))
    if name != "zeros":
        assert not np.array_equal(w, initialize(name, shape, 4))


def test_fans_follow_pytorch():
    assert fans((5, 3)) == (3, 5)
    assert fans((16, 8, 3, 2)) == (8 * 6, 16 * 6)
    assert fans((7,)) == (7, 7)
    with pytest.raises(ValueError, match=r"fans: shape must have at least one axis, got \(\)"):
        fans(())


# (name, expected variance as a function of (fan_in, fan_out), expected max |w| or None)
VARIANCES = [
    ("kaiming-normal", lambda fi, fo: 2 / fi, None),
    ("kaiming-uniform", lambda fi, fo: 2 / fi, lambda fi, fo: math.sqrt(6 / fi)),
    ("glorot-normal", lambda fi, fo: 2 / (fi + fo), None),
    ("glorot-uniform", lambda fi, fo: 2 / (fi + fo), lambda fi, fo: math.sqrt(6 / (fi + fo))),
]


@pytest.mark.parametrize("name, variance, bound", VARIANCES)
@pytest.mark.parametrize("shape", [(200, 150), (64, 32, 3, 3)])
def test_variance_within_statistical_bounds(name, variance, bound, shape):
    w = initialize(name, shape, 0)
    fi, fo = fans(shape)
    n = w.size
    # the sample variance has relative std <= sqrt(2 / n) for these laws: allow 5 of them
    assert abs(w.var() / variance(fi, fo) - 1) < 5 * math.sqrt(2 / n)
    assert abs(w.mean()) < 5 * math.sqrt(variance(fi, fo) / n)
    if bound is not None:
        assert np.max(np.abs(w)) <= bound(fi, fo)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 2, 2, 2), (8, 2, 2, 1), (4, 4)])
def test_orthogonal(shape):
    w = initialize("orthogonal", shape, 1).reshape(shape[0], -1)
    small = min(w.shape)
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-13)
    w2 = INITIALIZERS["orthogonal"]((3, 5), np.random.default_rng(1), gain=2.0)
    np.testing.assert_allclose(w2 @ w2.T, 4 * np.eye(3), atol=1e-13)


def test_orthogonal_needs_a_matrix():
    with pytest.raises(ValueError,
                       match=r"orthogonal: shape must have at least 2 axes, got \(3,\)"):
        initialize("orthogonal", (3,), 0)


def test_unknown_names():
    with pytest.raises(ValueError, match=r"init must be one of \[.*'kaiming-normal'.*\], got 'he'"):
        initialize("he", (2, 2), 0)
    with pytest.raises(ValueError, match="init must be one of .* got 'xavier'"):
        Linear(2, 3, init="xavier")


def test_rng_must_be_explicit():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator or an int seed"):
        initialize("kaiming-normal", (2, 2), None)
