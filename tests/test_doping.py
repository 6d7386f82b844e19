"""DopingLinear: the Kronecker product by reshaping against ``np.kron``, the factor
helpers, the errors, the initialisation, and the planted bugs the checker must catch."""
import math

import numpy as np
import pytest

from refnet.doping import (DopingLinear, compact_factors, factor_pairs,
                           kronecker_factorizations, kronecker_weights)
from refnet.ops.csr import CSRSupport
from refnet.testing import check_layer
from refnet.testing import perturbed_params as perturbed_init

from test_mutation import drop_sparse_term, swap_kron_order
from test_mutation import Mutant

# (n1, n2), (m1, m2): every factor non-square, and A and B of different shapes
NON_SQUARE = [((2, 3), (5, 2)), ((4, 3), (2, 5)), ((1, 7), (3, 2)), ((3, 2), (2, 4))]


def _point(factors, nnz, seed=0, batch=4):
    (n1, n2), (m1, m2) = factors
    layer = DopingLinear(n1 * n2, m1 * m2, factors=factors, nnz=nnz, rng=seed)
    rng = np.random.default_rng(seed)
    return layer, perturbed_init(layer, rng), rng.standard_normal((batch, n1 * n2)), rng


@pytest.mark.parametrize("factors", NON_SQUARE)
def test_forward_is_np_kron_plus_sparse(factors):
    layer, params, x, _ = _point(factors, nnz=5)
    W = np.kron(params["A"], params["B"]) + layer.support.to_dense(params["S"])
    np.testing.assert_allclose(layer(params, x), x @ W.T + params["b"], rtol=0, atol=1e-13)


@pytest.mark.parametrize("factors", NON_SQUARE)
def test_reshape_identity_and_its_vec_convention(factors):
    """``(A kron B) @ x == (A @ X @ B.T).reshape(m)`` with X the ROW-major reshape of
    x to (n1, n2); the column-major form of the identity, ``vec(B @ Z @ A.T)`` with Z
    the column-major reshape of x to (n2, n1), is the same vector; reading the
    row-major reshape with the column-major identity gives ``B kron A`` instead."""
    (n1, n2), (m1, m2) = factors
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((m1, n1)), rng.standard_normal((m2, n2))
    x = rng.standard_normal(n1 * n2)
    expected = np.kron(A, B) @ x
    np.testing.assert_allclose((A @ x.reshape(n1, n2) @ B.T).reshape(-1), expected,
                               rtol=0, atol=1e-13)
    Z = x.reshape((n2, n1), order="F")
    np.testing.assert_allclose((B @ Z @ A.T).reshape(-1, order="F"), expected,
                               rtol=0, atol=1e-13)
    # the planted-bug version: B @ X' @ A.T with X' = x.reshape(n2, n1) row-major
    wrong = (B @ x.reshape(n2, n1) @ A.T).reshape(-1)
    np.testing.assert_allclose(wrong, np.kron(B, A) @ x, rtol=0, atol=1e-13)
    assert not np.allclose(wrong, expected)


def test_derivatives_against_the_formed_matrix_with_leading_axes():
    layer, params, x, rng = _point(((4, 3), (2, 5)), nnz=11, seed=3)
    W = layer.dense_matrix(params)
    y, cache = layer.forward(params, x)
    y_bar = rng.standard_normal((2, 3) + y.shape)
    x_bar, grads = layer.vjp(params, cache, y_bar)
    np.testing.assert_allclose(x_bar, y_bar @ W, rtol=0, atol=1e-12)
    W_bar = np.einsum("klbm,bn->klmn", y_bar, x)                  # dense gradient of W
    # the chain rule through W = kron(A, B) + S, written with the formed product
    m1, n1 = layer.a_shape
    m2, n2 = layer.b_shape
    W4 = W_bar.reshape(2, 3, m1, m2, n1, n2)                       # [p, q, i, j]
    np.testing.assert_allclose(grads["A"], np.einsum("klpqij,qj->klpi", W4, params["B"]),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(grads["B"], np.einsum("klpqij,pi->klqj", W4, params["A"]),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(grads["S"], W_bar[..., layer.rows, layer.cols], rtol=0,
                               atol=1e-12)
    np.testing.assert_allclose(grads["b"], y_bar.sum(axis=2), rtol=0, atol=1e-12)
    x_dot = rng.standard_normal((5,) + x.shape)
    np.testing.assert_allclose(layer.jvp(params, cache, x_dot), x_dot @ W.T, rtol=0,
                               atol=1e-12)


@pytest.mark.parametrize("mutant", [drop_sparse_term, swap_kron_order])
def test_checker_catches_the_spec_mutants(mutant):
    layer, params, x, _ = _point(((2, 3), (5, 2)), nnz=8, seed=4)
    assert check_layer(layer, x, params, seed=0).passed
    report = check_layer(Mutant(layer, vjp=mutant), x, params, seed=0)
    assert not report.passed
    failed = {r.param for r in report.results if not r.passed}
    assert "x" in failed


def test_factor_helpers():
    assert factor_pairs(12) == [(1, 12), (2, 6), (3, 4), (4, 3), (6, 2), (12, 1)]
    assert factor_pairs(7) == [(1, 7), (7, 1)]
    options = kronecker_factorizations(784, 300)
    assert len(options) == 15 * 18
    assert all(n1 * n2 == 784 and m1 * m2 == 300 for (n1, n2), (m1, m2) in options)
    weights = [kronecker_weights(f) for f in options]
    assert weights == sorted(weights)
    # the lenet300 layers (documented in refnet.models.doping): the fewest weights,
    # each at least 2 sqrt(m n), and among those the highest rank bound
    for (n, m), best, count in [((784, 300), ((49, 16), (10, 30)), 970),
                                ((300, 100), ((15, 20), (10, 10)), 350),
                                ((100, 10), ((20, 5), (2, 5)), 65)]:
        assert compact_factors(n, m) == best
        every = [kronecker_weights(f) for f in kronecker_factorizations(n, m)]
        assert kronecker_weights(best) == count == min(every)
        assert count >= 2 * math.sqrt(m * n)
    assert DopingLinear(784, 300, nnz=0, rng=0).factors == ((49, 16), (10, 30))


def test_factors_that_do_not_factor_list_those_that_do():
    with pytest.raises(ValueError) as err:
        DopingLinear(784, 300, factors=((28, 27), (20, 15)), nnz=0, rng=0)
    message = str(err.value)
    assert "28 * 27 = 756 is not n_in = 784" in message
    assert "(28, 28)" in message and "(16, 49)" in message and "(15, 20)" in message
    assert "factors=((49, 16), (10, 30))" in message
    with pytest.raises(ValueError, match=r"m1 \* m2 = 4 \* 4 = 16 is not n_out = 15"):
        DopingLinear(6, 15, factors=((2, 3), (4, 4)), nnz=0, rng=0)
    with pytest.raises(ValueError, match=r"\(1, 7\), \(7, 1\)"):
        DopingLinear(7, 4, factors=(7, 4), nnz=0, rng=0)
    with pytest.raises(ValueError, match="positive integers"):
        DopingLinear(6, 4, factors=((2.0, 3), (2, 2)), nnz=0, rng=0)


def test_support_options_and_errors():
    a = DopingLinear(6, 4, factors=((2, 3), (2, 2)), density=0.25, rng=5)
    b = DopingLinear(6, 4, factors=((2, 3), (2, 2)), support=a.support)
    assert a.nnz == 6 and b.support == a.support
    c = DopingLinear(6, 4, factors=((2, 3), (2, 2)), support=([0, 3], [5, 1]))
    assert c.support == CSRSupport.from_positions((4, 6), [0, 3], [5, 1])
    assert a.param_shapes() == {"A": (2, 2), "B": (2, 3), "S": (6,), "b": (4,)}
    assert a.trainable_weights == 4 + 6 + 6
    with pytest.raises(ValueError, match="exactly one of nnz=, density= or support="):
        DopingLinear(6, 4, nnz=2, density=0.1, rng=0)
    with pytest.raises(TypeError, match="needs rng="):
        DopingLinear(6, 4, nnz=2)
    with pytest.raises(ValueError, match="nnz must be at most 4 \\* 6 = 24"):
        DopingLinear(6, 4, nnz=25, rng=0)
    with pytest.raises(ValueError, match="support has shape"):
        DopingLinear(6, 4, support=CSRSupport.from_positions((6, 4), [0], [0]))
    with pytest.raises(ValueError, match=r"input shape \(5,\), expected \(6,\)"):
        a.output_shape((5,))
    with pytest.raises(ValueError, match="x has shape"):
        a.forward(a.init(0), np.zeros((2, 5)))


def test_init_is_kaiming_for_the_product_and_reproducible():
    layer = DopingLinear(784, 300, nnz=50, rng=0)
    params = layer.init(7)
    np.testing.assert_array_equal(params["S"], 0.0)
    np.testing.assert_array_equal(params["b"], 0.0)
    (n1, n2), _ = layer.factors
    assert np.var(params["A"]) == pytest.approx(2 / n1, rel=0.15)
    assert np.var(params["B"]) == pytest.approx(1 / n2, rel=0.15)
    # through the layer: mean(y^2) ~ 2 mean(x^2), as for a Kaiming dense weight
    x = np.random.default_rng(8).standard_normal((400, 784))
    ratios = [np.mean(layer(layer.init(s), x) ** 2) / np.mean(x ** 2) for s in range(8)]
    assert np.mean(ratios) == pytest.approx(2.0, rel=0.2)
    again = layer.init(7)
    for key in params:
        np.testing.assert_array_equal(params[key], again[key])
