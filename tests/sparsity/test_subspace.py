"""Random-subspace training: U = identity trains exactly like the plain model; projections."""
import numpy as np
import pytest
import scipy.sparse

from refnet.core.tree import tree_flatten
from refnet.models import build_model
from refnet.sparsity import SubspaceNetwork, matched_dim, random_projection
from refnet.train import TrainConfig, evaluate, train


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 0.5)


@pytest.mark.parametrize("identity", [lambda size: scipy.sparse.identity(size, format="csr"),
                                      np.eye], ids=["sparse", "dense"])
@pytest.mark.parametrize("kind", ["dense", "dctps"])
def test_identity_subspace_trains_exactly_like_the_plain_model(identity, kind):
    options = {} if kind == "dense" else dict(density=0.3, rng=0)
    net = build_model("mlp", sizes=[5, 7, 3], kind=kind, **options)
    params0, data = net.init(1), _data()
    config = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.9, epochs=3, batch_size=16, seed=2)
    plain = train(net, params0, data, config, eval_data={"train": data}, quiet=True)
    d, _ = tree_flatten(params0)
    sub = SubspaceNetwork(net, params0, projection=identity(d.size))
    assert sub.dim == d.size
    run = train(sub, sub.init(0), data, config, eval_data={"train": data}, quiet=True)
    w_plain, _ = tree_flatten(plain.state.params)
    w_sub = d + run.state.params["theta"]
    # the same steps; only the rounding of d + theta differs from w
    np.testing.assert_allclose(w_sub, w_plain, rtol=0, atol=1e-12 * np.abs(w_plain).max())
    for a, b in zip(plain.history, run.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-12)
        assert a["train_accuracy"] == b["train_accuracy"]


def test_theta_bar_is_u_transpose_w_bar():
    net = build_model("mlp", sizes=[5, 4, 3], activation="tanh")
    params0 = net.init(0)
    sub = SubspaceNetwork(net, params0, 6, projection="dense", rng=1)
    theta = {"theta": np.random.default_rng(2).standard_normal(6)}
    x = _data(4)[0]
    y, cache = sub.forward(theta, x)
    y_bar = np.random.default_rng(3).standard_normal((2,) + y.shape)      # two leading copies
    x_bar, grads = sub.vjp(theta, cache, y_bar)
    weights = sub.weights(theta)
    for k in range(2):
        inner_x_bar, w_bar = net.vjp(weights, net.forward(weights, x)[1], y_bar[k])
        np.testing.assert_allclose(grads["theta"][k], sub.U.T @ tree_flatten(w_bar)[0],
                                   rtol=1e-13)
        np.testing.assert_array_equal(x_bar[k], inner_x_bar)
    # theta = 0 is the plain network at d, and d is never changed by training
    zero = sub.init(0)
    np.testing.assert_array_equal(sub(zero, x), net(params0, x))
    run = train(sub, zero, _data(), TrainConfig(lr=1e-2, epochs=2, batch_size=16), quiet=True)
    np.testing.assert_array_equal(sub.d, tree_flatten(params0)[0])
    assert np.any(run.state.params["theta"] != 0)
    assert evaluate(sub, run.state.params, *_data())["loss"] < evaluate(sub, zero, *_data())["loss"]


def test_random_projections():
    dense = random_projection(4000, 50, "dense", rng=0)
    assert dense.shape == (4000, 50)
    norms = np.sum(dense ** 2, axis=0)                  # E = 1, sd = sqrt(2 / 4000)
    assert abs(norms.mean() - 1) < 0.02 and np.all(np.abs(norms - 1) < 0.15)
    sparse = random_projection(4000, 50, "sparse", rng=0)
    assert scipy.sparse.issparse(sparse) and sparse.shape == (4000, 50)
    counts = np.diff(sparse.indptr)
    assert np.all(counts == 64)                         # ceil(sqrt(4000))
    np.testing.assert_allclose(np.asarray(sparse.multiply(sparse).sum(axis=0)).ravel(), 1.0,
                               rtol=1e-14)
    assert set(np.abs(sparse.data).round(12)) == {round(1 / 8, 12)}
    for j in range(50):                                 # distinct rows in every column
        rows = sparse.indices[sparse.indptr[j]:sparse.indptr[j + 1]]
        assert len(set(rows.tolist())) == 64
    again = random_projection(4000, 50, "sparse", rng=0)
    assert (sparse != again).nnz == 0
    three = random_projection(100, 5, "sparse", rng=1, nnz_per_column=3)
    assert np.all(np.diff(three.indptr) == 3)


def test_matched_dim_counts_trainable_numbers_of_the_sparse_network():
    net = build_model("lenet300")
    # round(d * 266,200) weights + 410 biases
    assert [matched_dim(net, d) for d in (1e-2, 1e-3, 1e-4)] == [3072, 676, 437]
    assert [matched_dim(net, d, include_biases=False) for d in (1e-2, 1e-3, 1e-4)] == \
        [2662, 266, 27]
    sparse = build_model("lenet300", kind="sparse", density=1e-3, rng=0)
    assert sum(np.size(v) for p in sparse.init(0).values() for v in p.values()) == 676
    # the formula needs the dense network: a sparse one used to give -262,862
    for kind in ("sparse", "dctps"):
        with pytest.raises(ValueError, match=r"matched_dim: layer 'fc1' is .*DENSE network"):
            matched_dim(build_model("lenet300", kind=kind, density=1e-2, rng=0), 1e-3)


def test_subspace_errors():
    net = build_model("mlp", sizes=[3, 2])
    params0 = net.init(0)
    with pytest.raises(ValueError, match="params0"):
        SubspaceNetwork(net, {"fc1": {"W": np.zeros((2, 3))}}, 2, rng=0)
    with pytest.raises(TypeError, match="rng"):
        SubspaceNetwork(net, params0, 2)
    with pytest.raises(ValueError, match="dim"):
        SubspaceNetwork(net, params0, projection="sparse", rng=0)
    with pytest.raises(ValueError, match=r"expected \(8, dim\)"):
        SubspaceNetwork(net, params0, projection=np.eye(7))
    with pytest.raises(ValueError, match="projection must be one of"):
        SubspaceNetwork(net, params0, 2, projection="fastfood", rng=0)
    with pytest.raises(ValueError, match="2 columns"):
        SubspaceNetwork(net, params0, 3, projection=np.ones((8, 2)))


def test_weights_projection_of_a_bare_layer_projects_its_weight_and_keeps_its_bias():
    from refnet.layers import Linear
    from refnet.sparsity import weights_projection
    layer = Linear(5, 3)
    params = layer.init(np.random.default_rng(0))
    U = weights_projection(layer, params, 4, np.random.default_rng(1))
    assert U.shape == (15 + 3, 4 + 3)
    _, spec = tree_flatten(params)
    assert spec.paths == ("W", "b") or spec.paths == ["W", "b"]
    assert abs(U[:15, :4]).sum() > 0 and (U[15:, 4:].toarray() == np.eye(3)).all()
