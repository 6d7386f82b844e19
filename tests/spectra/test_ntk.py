"""refnet.spectra.ntk: the parameter JVP and the matrix-free NTK against the explicit
parameter Jacobian, and the kernel's spectrum summaries."""
import numpy as np
import pytest

from refnet.doping import DopingLinear
from refnet.models import build_model
from refnet.sparsity import SubspaceNetwork
from refnet.spectra import (dense_matrix, kernel_spectrum, parameter_jacobian, parameter_jvp,
                            tangent_kernel)
from refnet.testing import perturbed_params

NETS = {
    "dense mlp": lambda: build_model("mlp", sizes=[7, 6, 5, 3]),
    "sparse mlp": lambda: build_model("mlp", sizes=[7, 6, 5, 3], kind="sparse", density=0.3,
                                      rng=0),
    "dctps mlp": lambda: build_model("mlp", sizes=[7, 6, 5, 3], kind="dctps", density=0.2,
                                     rng=1),
    "dctps mlp, alpha frozen at 1.5": lambda: build_model(
        "mlp", sizes=[7, 6, 5, 3], kind="dctps", density=0.2, rng=1, train_alpha=False),
    "dctps mlp, signs offset": lambda: build_model(
        "mlp", sizes=[7, 6, 5, 3], kind="dctps", density=0.2, rng=1, offset="signs"),
    "dctps lenet5": lambda: build_model("lenet5", kind="dctps", density=0.05, rng=2),
}


def point(name, batch=3):
    net = NETS[name]()
    rng = np.random.default_rng(5)
    params = perturbed_params(net, rng)
    if "frozen" in name:
        for layer in (n.layer for n in net.nodes if hasattr(n.layer, "alpha")):
            layer.alpha = 1.5                 # an offset term that is no parameter
    return net, params, rng.standard_normal((batch,) + tuple(net.input_shape)), rng


@pytest.mark.parametrize("name", NETS)
def test_kernel_and_jvp_are_the_explicit_products(name):
    net, params, x, rng = point(name)
    J = parameter_jacobian(net, params, x).matrix
    J = J.reshape(-1, J.shape[-1])
    u = perturbed_params(net, rng)               # any tangent of the parameters' shapes
    u_flat = np.concatenate([np.ravel(v) for _, v in _leaves(u)])
    np.testing.assert_allclose(parameter_jvp(net, params, x, u).ravel(), J @ u_flat,
                               rtol=1e-12, atol=1e-12 * np.abs(J).max() * np.abs(u_flat).sum())
    K = dense_matrix(tangent_kernel(net, params, x))
    np.testing.assert_allclose(K, J @ J.T, rtol=0, atol=1e-12 * np.abs(J @ J.T).max())


def _leaves(tree):
    from refnet.core.tree import tree_leaves
    return tree_leaves(tree)


def test_subspace_kernel_is_j_u_ut_jt():
    net = build_model("mlp", sizes=[5, 4, 3])
    sub = SubspaceNetwork(net, net.init(0), 6, projection="sparse", rng=1)
    theta = {"theta": np.random.default_rng(2).standard_normal(6)}
    x = np.random.default_rng(3).standard_normal((2, 5))
    J = parameter_jacobian(sub, theta, x).matrix.reshape(6, 6)
    np.testing.assert_allclose(dense_matrix(tangent_kernel(sub, theta, x)), J @ J.T,
                               rtol=0, atol=1e-12 * np.abs(J).max() ** 2)


def test_unsupported_layer_is_one_clear_error():
    layer = DopingLinear(4, 4, nnz=3, rng=0)
    with pytest.raises(TypeError, match="DopingLinear is not affine in its parameters"):
        tangent_kernel(layer, layer.init(0), np.ones((1, 4)))


def test_kernel_spectrum_summaries():
    s = kernel_spectrum(np.diag([4.0, 4.0, 4.0]))
    assert (s.rank, s.condition) == (3, 1.0) and s.effective_rank == pytest.approx(3.0)
    s = kernel_spectrum(np.diag([1.0, 1e-30, 9.0]))
    np.testing.assert_array_equal(s.eigenvalues, [9.0, 1.0, 1e-30])
    assert (s.rank, s.condition) == (2, np.inf)
    assert 1.0 < s.effective_rank < 2.0
    with pytest.raises(ValueError, match=r"K has shape \(2, 3\)"):
        kernel_spectrum(np.ones((2, 3)))
