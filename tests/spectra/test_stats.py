"""Spectrum statistics: hand-computed cases, the zero atom, per-example and pooled; the
extreme singular values of a Jacobian operator (svds with an exact fallback)."""
import math

import numpy as np
import pytest

from refnet import Sequential
from refnet.jacobian import dense_matrix, jacobian_operator
from refnet.layers import Linear, Tanh
from refnet.spectra import (SVDS_MIN_RELATIVE, extreme_singular_values, pooled_nonzero,
                            pooled_spectrum_stats, singular_values, spectrum_stats,
                            zero_tolerance)
from refnet.testing import relative_error

EPS = np.finfo(float).eps


def test_hand_computed_statistics():
    s = spectrum_stats([4.0, 0.0, 1.0, 2.0], shape=(4, 6))
    assert s.n_values == 4 and s.rank == 3
    assert s.frac_zero == 0.25
    assert s.sv_max == 4.0 and s.sv_min == 1.0 and s.cond == 4.0
    assert s.mean_sq_sv == pytest.approx((16 + 1 + 4) / 3, rel=1e-15)
    assert s.mean_sq_sv_all == pytest.approx((16 + 1 + 4) / 4, rel=1e-15)
    assert s.mean_log_sv == pytest.approx((math.log(4) + math.log(2)) / 3, rel=1e-15)
    assert s.stable_rank == pytest.approx(21 / 16, rel=1e-15)
    assert s.tol == 6 * EPS * 4.0
    assert all(isinstance(v, (int, float)) for v in s)


def test_default_zero_tolerance_is_numpys_matrix_rank_rule():
    rng = np.random.default_rng(0)
    for rank in (1, 3, 5):
        # an exact low-rank product: the zero singular values are rounding noise
        J = rng.standard_normal((7, rank)) @ rng.standard_normal((rank, 5))
        s = spectrum_stats(singular_values(J), shape=J.shape)
        assert s.rank == rank == np.linalg.matrix_rank(J)
        assert s.frac_zero == pytest.approx(1 - rank / 5)
        assert s.sv_min > 1e-3          # the smallest NONZERO value, not the noise


def test_user_tolerances():
    sigma = np.array([1.0, 1e-3, 1e-6, 0.0])
    assert spectrum_stats(sigma, (4, 4)).rank == 3
    assert spectrum_stats(sigma, (4, 4), rtol=1e-4).rank == 2
    assert spectrum_stats(sigma, (4, 4), atol=1e-2).rank == 1
    assert spectrum_stats(sigma, (4, 4), rtol=1e-4, atol=1e-2).rank == 1   # the larger wins
    assert spectrum_stats(sigma * 10, (4, 4), rtol=1e-4).rank == 2         # relative: scale-free
    assert zero_tolerance(sigma, (4, 4), rtol=0.5) == 0.5
    with pytest.raises(ValueError, match="rtol"):
        spectrum_stats(sigma, (4, 4), rtol=-1.0)


def test_stable_rank_examples():
    assert spectrum_stats(np.ones(6), (6, 6)).stable_rank == 6.0
    assert spectrum_stats([3.0, 0.0, 0.0], (3, 3)).stable_rank == 1.0
    J = np.random.default_rng(1).standard_normal((8, 5))
    s = spectrum_stats(singular_values(J), J.shape)
    assert s.stable_rank == pytest.approx(np.linalg.norm(J, "fro") ** 2
                                          / np.linalg.norm(J, 2) ** 2, rel=1e-12)
    assert s.mean_sq_sv_all == pytest.approx(np.linalg.norm(J, "fro") ** 2 / 5, rel=1e-12)
    assert 1.0 <= s.stable_rank <= s.rank


def test_zero_matrix_gives_nan_for_nonzero_statistics():
    s = spectrum_stats(np.zeros(3), (3, 4))
    assert s.rank == 0 and s.frac_zero == 1.0 and s.sv_max == 0.0
    assert all(math.isnan(v) for v in (s.sv_min, s.cond, s.mean_sq_sv, s.mean_log_sv,
                                       s.stable_rank))


def test_per_example_statistics_of_a_stack():
    rng = np.random.default_rng(2)
    J = rng.standard_normal((4, 6, 3))
    J[1, :, 0] = 0.0                      # example 1 has rank 2
    sigma = singular_values(J)
    assert sigma.shape == (4, 3)
    stack = spectrum_stats(sigma, (6, 3))
    assert stack.rank.tolist() == [3, 2, 3, 3]
    for b in range(4):
        one = spectrum_stats(sigma[b], (6, 3))
        for field, value in one._asdict().items():
            assert getattr(stack, field)[b] == pytest.approx(value, rel=1e-15), field


def test_pooled_statistics_are_those_of_the_multiset():
    sigma = np.array([[2.0, 1.0, 0.0], [8.0, 4.0, 1e-20]])
    pooled = pooled_spectrum_stats(sigma, (3, 3))
    assert pooled.n_values == 6 and pooled.rank == 4
    assert pooled.frac_zero == pytest.approx(2 / 6)
    assert pooled.sv_max == 8.0 and pooled.sv_min == 1.0 and pooled.cond == 8.0
    assert pooled.mean_sq_sv == pytest.approx((4 + 1 + 64 + 16) / 4)
    assert pooled.mean_sq_sv_all == pytest.approx((4 + 1 + 64 + 16) / 6)
    assert pooled.mean_log_sv == pytest.approx((math.log(2) + math.log(8) + math.log(4)) / 4)
    assert pooled.stable_rank == pytest.approx((5 / 4 + 80 / 64) / 2)
    values, n_zero, count = pooled_nonzero(sigma, (3, 3))
    assert sorted(values.tolist()) == [1.0, 2.0, 4.0, 8.0] and (n_zero, count) == (2, 6)


def test_zero_atom_is_decided_per_matrix():
    # 1e-10 is zero next to 1e8 but not in a matrix whose largest value is 1
    sigma = np.array([[1e8, 1e-10], [1.0, 1e-10]])
    assert spectrum_stats(sigma, (2, 2)).rank.tolist() == [1, 2]
    assert pooled_spectrum_stats(sigma, (2, 2)).rank == 3


def test_bad_spectra_raise():
    with pytest.raises(ValueError, match="min\\(m, n\\)"):
        spectrum_stats(np.ones(3), (4, 5))            # 4 values expected
    with pytest.raises(ValueError, match="non-negative"):
        spectrum_stats([1.0, -1.0], (2, 2))
    with pytest.raises(ValueError, match="non-negative"):
        spectrum_stats([1.0, np.nan], (2, 2))
    with pytest.raises(TypeError, match="shape"):
        spectrum_stats([1.0, 1.0], 2)
    with pytest.raises(ValueError, match="m, n"):
        singular_values(np.ones(3))


def tanh_net(n_in, hidden, n_out, seed=0):
    net = Sequential([("fc1", Linear(n_in, hidden)), ("act", Tanh()),
                      ("fc2", Linear(hidden, n_out))])
    rng = np.random.default_rng(seed)
    return net, net.init(rng), 0.5 * rng.standard_normal((1, n_in))


def exact_singular_values(op):
    return np.linalg.svd(dense_matrix(op), compute_uv=False)


def test_svds_extremes_match_the_exact_svd_when_full_rank():
    net, params, x = tanh_net(20, 40, 30)
    op = jacobian_operator(net, params, x)
    s = exact_singular_values(op)
    assert s[-1] > SVDS_MIN_RELATIVE * s[0]        # well within svds' reach
    for method in ("svds", "auto"):
        ev = extreme_singular_values(op, k=3, method=method, seed=0)
        assert (ev.method_largest, ev.method_smallest) == ("svds", "svds")
        assert relative_error(ev.largest, s[:3]) <= 1e-10
        # the Gram matrix squares the condition number: error ~ eps * (s_max / s)**2
        assert relative_error(ev.smallest, s[::-1][:3]) <= 1e-9


def test_rank_deficient_operator_falls_back_to_the_exact_svd():
    # a 3-unit linear bottleneck: rank 3 out of 12
    net = Sequential([("fc1", Linear(12, 3, bias=False)), ("fc2", Linear(3, 12, bias=False))])
    params = net.init(0)
    op = jacobian_operator(net, params, np.ones((1, 12)))
    s = exact_singular_values(op)
    ev = extreme_singular_values(op, k=2, method="auto", seed=0)
    assert ev.method_smallest == "exact"
    np.testing.assert_array_equal(ev.smallest, s[::-1][:2])
    assert np.all(ev.smallest <= 12 * np.finfo(float).eps * s[0])
    assert relative_error(ev.largest, s[:2]) <= 1e-10


def test_exact_method_and_k_at_the_limit():
    net, params, x = tanh_net(6, 10, 4)
    op = jacobian_operator(net, params, x)
    s = exact_singular_values(op)
    ev = extreme_singular_values(op, k=4)          # k = min(m, n): ARPACK cannot, exact can
    assert ev.method_largest == ev.method_smallest == "exact"
    np.testing.assert_array_equal(ev.largest, s)
    np.testing.assert_array_equal(ev.smallest, s[::-1])
    with pytest.raises(ValueError, match="at most"):
        extreme_singular_values(op, k=5)
    with pytest.raises(ValueError, match="method"):
        extreme_singular_values(op, method="lanczos")


def test_svds_is_reproducible_with_a_seed():
    net, params, x = tanh_net(20, 40, 30)
    op = jacobian_operator(net, params, x)
    a = extreme_singular_values(op, k=2, method="svds", seed=3)
    b = extreme_singular_values(op, k=2, method="svds", seed=3)
    np.testing.assert_array_equal(a.largest, b.largest)
    np.testing.assert_array_equal(a.smallest, b.smallest)


def test_no_convergence_of_the_smallest_falls_back_to_the_exact_svd(monkeypatch):
    # ARPACK really does fail on large zero clusters (about 0.7 s for a 100 x 110
    # matrix of rank 25); a stand-in that always fails keeps this test fast
    import refnet.spectra.stats as operator
    from scipy.sparse.linalg import ArpackNoConvergence
    real_svds = operator.svds

    def failing_svds(A, k, which, **kw):
        if which == "SM":
            raise ArpackNoConvergence("no convergence (stand-in)", np.zeros(0), np.zeros(0))
        return real_svds(A, k=k, which=which, **kw)

    monkeypatch.setattr(operator, "svds", failing_svds)
    net, params, x = tanh_net(20, 40, 30)
    op = jacobian_operator(net, params, x)
    s = exact_singular_values(op)
    ev = extreme_singular_values(op, k=2)
    assert (ev.method_largest, ev.method_smallest) == ("svds", "exact")
    np.testing.assert_array_equal(ev.smallest, s[::-1][:2])
    with pytest.raises(ArpackNoConvergence):
        extreme_singular_values(op, k=2, method="svds")
