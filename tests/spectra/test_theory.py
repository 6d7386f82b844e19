"""Random-matrix theory as tests: refnet's Jacobians reproduce the known laws.

Tolerances
----------
* Orthogonal products: exact in exact arithmetic; each factor's rounding adds
  about eps, so 1e-12 over a dozen layers.
* Moments pooled over seeds: each seed gives one independent estimate, so the
  standard error (SE) is their standard deviation over sqrt(seeds), and a
  sample is compared with the EXACT finite-N expectation
  (:func:`gaussian_product_moments`, :func:`marchenko_pastur_finite_second_moment`)
  within 4 SE.  The finite-N bias of ``E[mean sigma**4]`` with respect to the
  limit ``L + 1`` is ``L * (L + 1) / (2 * N) + O(L**3 / N**2)`` (from the exact
  recursion), so against ``L + 1`` the tolerance is that bias plus 4 SE.
* Marchenko-Pastur, Kolmogorov-Smirnov distance of the pooled empirical
  distribution to the law: eigenvalues of one Wishart matrix are rigid, so the
  distance shrinks like 1/N (up to logarithms; Goetze-Tikhomirov), not like
  the 1/sqrt(samples) of i.i.d. draws.  Measured: 1.1/N to 1.6/N for N = 100
  to 400.  The tolerance is 3/N; a ratio off by 10% gives 5/N or more (the
  tests check that too, so the statistic can fail).
"""
import math

import numpy as np
import pytest
from scipy.integrate import quad, trapezoid

from refnet import Sequential
from refnet.layers import Linear
from refnet.spectra import (fuss_catalan_curve, fuss_catalan_edges, fuss_catalan_moments,
                            fuss_catalan_pdf, gaussian_product_moments, jacobian,
                            marchenko_pastur_cdf, marchenko_pastur_edges,
                            marchenko_pastur_finite_second_moment, marchenko_pastur_moments,
                            marchenko_pastur_pdf, orthogonal_relu_atoms, orthogonal_relu_curve,
                            orthogonal_relu_moments, singular_values, spectrum_stats,
                            sq_sv_density_to_log10)


def deep_linear(width, depth, init="orthogonal"):
    return Sequential([(f"fc{i}", Linear(width, width, bias=False, init=init))
                       for i in range(depth)], input_shape=(width,))


def test_orthogonal_deep_linear_network_is_an_isometry():
    net = deep_linear(32, 12)
    params = net.init(0)
    x = np.random.default_rng(1).standard_normal((2, 32))
    sigma = singular_values(jacobian(net, params, x))
    np.testing.assert_allclose(sigma, 1.0, rtol=0, atol=1e-12)
    stats = spectrum_stats(sigma, (32, 32))
    assert np.all(stats.frac_zero == 0) and np.allclose(stats.cond, 1.0, atol=1e-11)


def gaussian_product_spectra(L, N, seeds):
    """Squared singular values of refnet's Jacobian of a deep linear network
    whose weights are i.i.d. N(0, 1/N): the product W_L @ ... @ W_1."""
    net = deep_linear(N, L, init="zeros")
    m1, m2 = [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        params = {name: {"W": rng.normal(0.0, 1.0 / math.sqrt(N), (N, N))} for name in
                  (f"fc{i}" for i in range(L))}
        sq = singular_values(jacobian(net, params, np.zeros((1, N))))[0] ** 2
        m1.append(sq.mean())
        m2.append((sq ** 2).mean())
    return np.array(m1), np.array(m2)


@pytest.mark.parametrize("L", [1, 2, 4])
def test_gaussian_products_follow_fuss_catalan_moments(L):
    N, seeds = 160, 12
    m1, m2 = gaussian_product_spectra(L, N, seeds)
    se1, se2 = m1.std(ddof=1) / math.sqrt(seeds), m2.std(ddof=1) / math.sqrt(seeds)
    exact1, exact2 = gaussian_product_moments(L, N)
    assert exact1 == 1.0 == fuss_catalan_moments(L, 1)
    assert abs(m1.mean() - 1.0) <= 4 * se1
    assert abs(m2.mean() - exact2) <= 4 * se2
    bias = L * (L + 1) / (2 * N)
    assert abs((exact2 - (L + 1)) - bias) <= L ** 3 / N ** 2
    assert abs(m2.mean() - fuss_catalan_moments(L, 2)) <= bias + 4 * se2
    # the statistic has the power to tell depth L from depth L + 1
    assert abs(m2.mean() - fuss_catalan_moments(L + 1, 2)) > bias + 4 * se2


def test_finite_size_recursion():
    N = 50
    assert gaussian_product_moments(1, N)[1] == pytest.approx(
        marchenko_pastur_finite_second_moment(N, N), rel=1e-15)
    assert gaussian_product_moments(1, N)[1] == pytest.approx(2 + 1 / N, rel=1e-15)
    for L in (1, 3, 6):
        assert gaussian_product_moments(L, 10 ** 7)[1] == pytest.approx(L + 1, rel=1e-5)


def ks_distance(sorted_values, cdf_values):
    n = sorted_values.size
    return max(np.max(np.arange(1, n + 1) / n - cdf_values), np.max(cdf_values - np.arange(n) / n))


def wishart_eigenvalues(n_rows, n_cols, seeds):
    """Nonzero eigenvalues of X @ X.T, X of N(0, 1/n_cols) entries, pooled over seeds."""
    pooled = []
    for seed in range(seeds):
        X = np.random.default_rng(seed).normal(0.0, 1.0 / math.sqrt(n_cols), (n_rows, n_cols))
        pooled.append(singular_values(X) ** 2)       # min(n_rows, n_cols) values
    return np.sort(np.concatenate(pooled))


@pytest.mark.parametrize("n_rows,n_cols", [(300, 600), (400, 200)])
def test_rectangular_gaussian_follows_marchenko_pastur(n_rows, n_cols):
    ratio = n_rows / n_cols
    lam = wishart_eigenvalues(n_rows, n_cols, seeds=4)

    def distance(c):
        # the nonzero eigenvalues: the law without its atom at 0 (ratio > 1)
        atom = max(0.0, 1.0 - 1.0 / c)
        return ks_distance(lam, (marchenko_pastur_cdf(lam, c) - atom) / (1.0 - atom))

    tol = 3.0 / min(n_rows, n_cols)
    assert distance(ratio) <= tol
    assert distance(1.1 * ratio) > 1.5 * tol and distance(ratio / 1.1) > 1.5 * tol
    a, b = marchenko_pastur_edges(ratio)
    assert a - 0.05 < lam[0] and lam[-1] < b + 0.05        # edges: N^(-2/3) fluctuations


def test_marchenko_pastur_second_moment_at_finite_size():
    n_rows, n_cols, seeds = 120, 240, 16
    estimates = []
    for seed in range(seeds):
        X = np.random.default_rng(seed).normal(0.0, 1.0 / math.sqrt(n_cols), (n_rows, n_cols))
        estimates.append(np.mean(singular_values(X) ** 4))
    estimates = np.array(estimates)
    se = estimates.std(ddof=1) / math.sqrt(seeds)
    exact = marchenko_pastur_finite_second_moment(n_rows, n_cols)
    assert abs(estimates.mean() - exact) <= 4 * se
    assert exact - marchenko_pastur_moments(0.5, 2) == pytest.approx(1 / n_cols)


@pytest.mark.parametrize("ratio", [0.1, 0.5, 1.0, 2.0, 4.0])
def test_marchenko_pastur_pdf_cdf_and_moments_agree(ratio):
    a, b = marchenko_pastur_edges(ratio, variance=1.5)
    atom = max(0.0, 1.0 - 1.0 / ratio)

    def pdf(t):
        return float(marchenko_pastur_pdf(t, ratio, variance=1.5))

    mass = quad(pdf, a, b, limit=200)[0]
    assert mass == pytest.approx(min(1.0, 1.0 / ratio), rel=1e-7)
    for x in np.linspace(a, b, 7)[1:-1]:
        integral = quad(pdf, a, x, limit=200)[0]
        assert float(marchenko_pastur_cdf(x, ratio, variance=1.5)) == pytest.approx(
            atom + integral, abs=1e-7)
    np.testing.assert_allclose(marchenko_pastur_cdf([-1.0, 0.0, a, b, 2 * b], ratio, 1.5),
                               [0.0, atom, atom, 1.0, 1.0], rtol=0, atol=1e-14)
    for k in (1, 2, 3, 4):
        moment = quad(lambda t: t ** k * pdf(t), a, b, limit=200)[0]
        assert moment == pytest.approx(marchenko_pastur_moments(ratio, k, variance=1.5),
                                       rel=1e-7)
    assert marchenko_pastur_moments(ratio, 2) == pytest.approx(1 + ratio)


def test_fuss_catalan_numbers():
    assert fuss_catalan_moments(1, [0, 1, 2, 3, 4]).tolist() == [1, 1, 2, 5, 14]   # Catalan
    assert fuss_catalan_moments(2, [1, 2, 3, 4]).tolist() == [1, 3, 12, 55]
    assert fuss_catalan_moments(3, [1, 2, 3, 4]).tolist() == [1, 4, 22, 140]
    assert fuss_catalan_moments(7, 2) == 8


@pytest.mark.parametrize("L", [1, 2, 3, 5])
def test_fuss_catalan_density_has_the_fuss_catalan_moments(L):
    _, upper = fuss_catalan_edges(L)
    # x = u**(L + 1) removes the x**(-L / (L + 1)) singularity at 0
    for k in range(4):
        moment = quad(lambda u: float(fuss_catalan_pdf(u ** (L + 1), L)) * u ** ((L + 1) * k)
                      * (L + 1) * u ** L, 0.0, upper ** (1 / (L + 1)), limit=200)[0]
        assert moment == pytest.approx(fuss_catalan_moments(L, k), rel=1e-6)
    x, pdf = fuss_catalan_curve(L, 50)
    assert np.all(np.diff(x) > 0) and x[0] > 0 and x[-1] < upper
    np.testing.assert_allclose(fuss_catalan_pdf(x, L), pdf, rtol=1e-9)


def test_fuss_catalan_of_order_one_is_marchenko_pastur_square():
    x = np.linspace(0.01, 3.99, 37)
    np.testing.assert_allclose(fuss_catalan_pdf(x, 1), marchenko_pastur_pdf(x, 1.0),
                               rtol=1e-10)


def test_log10_change_of_variables_keeps_the_mass():
    a, b = marchenko_pastur_edges(0.5)
    lam = np.linspace(a, b, 20001)[1:-1]
    u, pdf_u = sq_sv_density_to_log10(lam, marchenko_pastur_pdf(lam, 0.5))
    assert trapezoid(pdf_u, u) == pytest.approx(1.0, abs=2e-3)
    with pytest.raises(ValueError, match="> 0"):
        sq_sv_density_to_log10([0.0, 1.0], [1.0, 1.0])


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="ratio"):
        marchenko_pastur_pdf(1.0, 0.0)
    with pytest.raises(ValueError, match="variance"):
        marchenko_pastur_cdf(1.0, 0.5, variance=-1.0)
    with pytest.raises(ValueError, match="L"):
        fuss_catalan_moments(0, 2)
    with pytest.raises(ValueError, match="k"):
        marchenko_pastur_moments(0.5, 0)


# -- orthogonal ReLU networks: free products of projections ------------------------------------

def haar(rng, n):
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))


def relu_like_moments(active, out_fraction, n, seeds):
    """(mean, standard error) over seeds of mean(sigma**2) and mean(sigma**4) of
    P_q @ O_L @ D_{L-1} @ ... @ D_1 @ O_1: Haar orthogonal O, 0/1 diagonal D with
    Bernoulli(p_l) entries, P_q the first round(q * n) rows."""
    samples = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        J = haar(rng, n)
        for p in active:
            J = haar(rng, n) @ ((rng.random(n) < p)[:, None] * J)
        lam = np.linalg.svd(J[:round(out_fraction * n)], compute_uv=False) ** 2
        samples.append([lam.mean(), (lam ** 2).mean()])
    samples = np.array(samples)
    return samples.mean(axis=0), samples.std(axis=0, ddof=1) / math.sqrt(seeds)


def test_orthogonal_relu_moments_match_monte_carlo_and_reject_other_fractions():
    """E[mean sigma**2] is exact at finite n (E trace(P A) = trace(P) trace(A) / n for a Haar
    rotation); E[mean sigma**4] has a finite-n bias of order 1/n, far below 4 SE here."""
    active, q = (0.5, 0.6, 0.7), 0.25
    mean, se = relu_like_moments(active, q, 128, 12)
    theory = orthogonal_relu_moments(active, [1, 2], q)
    assert np.all(np.abs(mean - theory) < 4 * se), (mean, theory, se)
    other = orthogonal_relu_moments((0.5, 0.5, 0.5), [1, 2], q)   # a network half active
    assert np.all(np.abs(mean - other) > 4 * se), (mean, other, se)


def test_orthogonal_relu_moments_closed_forms():
    # one projection: lambda is 0 or 1; the mean is the product of the fractions
    np.testing.assert_allclose(orthogonal_relu_moments([0.3], [1, 2, 5]), 0.3, rtol=1e-14)
    np.testing.assert_allclose(orthogonal_relu_moments([0.5] * 6, 1, 10 / 256), 2.0 ** -6,
                               rtol=1e-12)
    # two free projections of fraction 1/2: half at 0, half arcsine, moments C(2k, k) / 4**k
    k = np.arange(1, 7)
    expected = [0.5 * math.comb(2 * o, o) / 4 ** o for o in k]
    np.testing.assert_allclose(orthogonal_relu_moments([0.5, 0.5], k), expected, rtol=1e-12)
    # q compresses: the law of an m x m Jacobian from fraction q of a square one
    assert orthogonal_relu_moments([0.5], 2, 0.5) == pytest.approx(2 * 3 / 16, rel=1e-12)


def test_orthogonal_relu_curve_is_the_arcsine_law_and_carries_the_moments():
    lam, pdf = orthogonal_relu_curve([0.5, 0.5], n_points=400)
    arcsine = 0.5 / (np.pi * np.sqrt(lam * (1 - lam)))
    np.testing.assert_allclose(pdf, arcsine, rtol=1e-6)
    for active, q in (((0.8, 0.9), 1.0), ((0.3, 0.9, 0.6), 0.5), ((0.5,) * 6, 10 / 256)):
        lam, pdf = orthogonal_relu_curve(active, q)
        at0, at1 = orthogonal_relu_atoms(active, q)
        x, y = lam[::-1], pdf[::-1]
        assert trapezoid(y, x) + at0 + at1 == pytest.approx(1, abs=2e-3)
        for k in (1, 2):
            assert trapezoid(y * x ** k, x) + at1 == pytest.approx(
                orthogonal_relu_moments(active, k, q), rel=3e-3)
    assert orthogonal_relu_atoms((0.8, 0.9)) == pytest.approx((0.2, 0.7))
    assert orthogonal_relu_atoms((0.5,) * 6, 10 / 256) == (0.0, 0.0)


@pytest.mark.parametrize("active, q, match", [
    ([], 1.0, "active must be a non-empty"), ([0.5, 1.5], 1.0, "active must be"),
    ([[0.5]], 1.0, "active must be"), (["a"], 1.0, "active must be"),
    ([0.5], 0.0, "out_fraction must be"), ([0.5], True, "out_fraction must be")])
def test_orthogonal_relu_refuses_bad_fractions(active, q, match):
    for call in (lambda: orthogonal_relu_moments(active, 1, q),
                 lambda: orthogonal_relu_atoms(active, q),
                 lambda: orthogonal_relu_curve(active, q)):
        with pytest.raises(ValueError, match=match):
            call()
