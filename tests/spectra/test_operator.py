"""The Jacobian as a LinearOperator (matvec = JVP, rmatvec = VJP); extreme singular values."""
import numpy as np
import pytest

from refnet import Sequential
from refnet.layers import Linear, Tanh
from refnet.spectra import (SVDS_MIN_RELATIVE, dense_matrix, extreme_singular_values,
                            jacobian, jacobian_operator)
from refnet.testing import inner_product_error, relative_error

from spectra.test_jacobian import NETS, setup

# Matvec and rmatvec are two hand-written derivatives of one map; the adjoint
# identity then holds to rounding (the checker's "consistency" tolerance is 1e-11).
ADJOINT_TOL = 1e-12


CASES = [(name, {}) for name in NETS] + [
    ("relu-mlp", {"source": "act1", "target": "act2"}),
    ("residual-graph", {"source": "act", "target": "out"}),
]


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{'-'.join(k.values()) or 'io'}"
                                                for n, k in CASES])
def test_adjoint_identity(name, kw):
    net, params, x = setup(name, batch=1)
    op = jacobian_operator(net, params, x, **kw)
    rng = np.random.default_rng(1)
    m, n = op.shape
    for _ in range(3):
        u, v = rng.standard_normal(n), rng.standard_normal(m)
        assert inner_product_error(op.matvec(u) * v, u * op.rmatvec(v)) <= ADJOINT_TOL


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{'-'.join(k.values()) or 'io'}"
                                                for n, k in CASES])
def test_operator_products_equal_the_dense_jacobian(name, kw):
    net, params, x = setup(name, batch=1)
    op = jacobian_operator(net, params, x, **kw)
    J = jacobian(net, params, x, **kw)[0]
    assert op.shape == J.shape
    rng = np.random.default_rng(2)
    U = rng.standard_normal((op.shape[1], 4))
    V = rng.standard_normal((op.shape[0], 4))
    assert relative_error(op.matmat(U), J @ U) <= 1e-13
    assert relative_error(op.rmatmat(V), J.T @ V) <= 1e-13
    assert relative_error(op.T.matmat(V), J.T @ V) <= 1e-13
    assert relative_error(op.H.rmatmat(U), J @ U) <= 1e-13
    assert relative_error(np.column_stack([op.matvec(c) for c in U.T]), op.matmat(U)) <= 1e-13
    assert relative_error(dense_matrix(op), J) <= 1e-13
    assert relative_error(dense_matrix(op.T), J.T) <= 1e-13


def test_block_products_are_one_call_each(monkeypatch):
    net, params, x = setup("relu-mlp", batch=1)
    op = jacobian_operator(net, params, x)
    calls = []
    original_jvp, original_vjp = Sequential.jvp, Sequential.vjp
    monkeypatch.setattr(Sequential, "jvp",
                        lambda self, *a, **k: calls.append("jvp") or original_jvp(self, *a, **k))
    monkeypatch.setattr(Sequential, "vjp",
                        lambda self, *a, **k: calls.append("vjp") or original_vjp(self, *a, **k))
    op.matmat(np.ones((5, 6)))
    op.rmatmat(np.ones((3, 6)))
    assert calls == ["jvp", "vjp"]


def test_operator_needs_exactly_one_example():
    net, params, x = setup("relu-mlp", batch=2)
    with pytest.raises(ValueError, match="one example"):
        jacobian_operator(net, params, x)


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
    import refnet.spectra.operator as operator
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
