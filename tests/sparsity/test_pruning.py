"""Pruning at initialisation: SNIP by hand, exact counts, FORCE returns, SynFlow conservation."""
import numpy as np
import pytest

from refnet import Sequential
from refnet.layers import AvgPool2d, Conv2d, Flatten, Linear, ReLU, Tanh
from refnet.models import build_model, density_of, rebuild, supports_of
from refnet.sparsity import (exponential_schedule, force, iterative_snip, keep_top,
                             mask_gradient, snip, synflow, synflow_scores, target_nnz)
from refnet.sparsity.pruning import top_k
from refnet.testing import check_value_and_grad

METHODS = {
    "snip": lambda net, p, b, d: snip(net, p, b, d),
    "iterative-snip": lambda net, p, b, d: iterative_snip(net, p, b, d, steps=4),
    "force": lambda net, p, b, d: force(net, p, b, d, steps=4),
    "synflow": lambda net, p, b, d: synflow(net, p, d, iterations=20),
}


def toy():
    """y = c * (a * x1 + b * x2): two linear layers, no biases, no activation."""
    net = Sequential([("fc1", Linear(2, 1, bias=False)), ("fc2", Linear(1, 1, bias=False))],
                     input_shape=(2,))
    params = {"fc1": {"W": np.array([[1.0, 2.0]])}, "fc2": {"W": np.array([[0.5]])}}
    batch = (np.array([[1.0, -3.0]]), np.array([[0.5]]))
    return net, params, batch


@pytest.mark.parametrize("method", [snip, iterative_snip, force])
def test_an_empty_batch_is_refused_not_scored(method):
    net, params, (x, t) = toy()
    with pytest.raises(ValueError, match="a batch holds no example"):
        method(net, params, [(x, t), (x[:0], t[:0])], 0.5, loss="mse")
    with pytest.raises(ValueError, match=f"^{method.__name__}: a batch holds no example"):
        method(net, params, (x[:0], t[:0]), 0.5, loss="mse")


def test_mask_gradient_refuses_one_empty_pair_as_it_does_a_list_of_one():
    net, params, (x, t) = toy()
    masks = {"fc1": np.ones((1, 2)), "fc2": np.ones((1, 1))}
    for batches in ((x[:0], t[:0]), [(x[:0], t[:0])]):
        with pytest.raises(ValueError, match="^mask_gradient: a batch holds no example"):
            mask_gradient(net, params, masks, batches, loss="mse")


def test_snip_on_a_toy_by_hand():
    # h = a x1 + b x2 = 1 - 6 = -5, y = c h = -2.5, dL/dy = 2 (y - t) = -6 (MSE, one entry)
    # |w dL/dw|: a: |1 * (c x1) * -6| = 3, b: |2 * (c x2) * -6| = 18, c: |0.5 * h * -6| = 15
    net, params, batch = toy()
    result = snip(net, params, batch, 2 / 3, loss="mse")
    np.testing.assert_allclose(result.scores["fc1"], [[3.0, 18.0]], rtol=1e-15)
    np.testing.assert_allclose(result.scores["fc2"], [[15.0]], rtol=1e-15)
    # round(2/3 * 3) = 2 kept: b and c, the best two over BOTH layers
    assert [r.tolist() for r in result.supports["fc1"]] == [[0], [1]]
    assert [r.tolist() for r in result.supports["fc2"]] == [[0], [0]]
    assert result.params == {"fc1": {"S": np.array([2.0])}, "fc2": {"S": np.array([0.5])}}
    one = snip(net, params, batch, 1 / 3, loss="mse")
    assert one.supports["fc1"][1].tolist() == [1] and one.supports["fc2"][0].size == 0
    x = np.array([[0.3, -0.7]])
    assert one.net(one.params, x)[0, 0] == 0.0           # fc2 pruned away entirely
    np.testing.assert_allclose(result.net(result.params, x), 0.5 * (2.0 * -0.7))


def _small_mlp(activation="tanh"):
    return build_model("mlp", sizes=[10, 8, 6, 4], activation=activation)


def _batch(seed=0, n=16, features=10, classes=4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)), rng.integers(0, classes, n)


def test_mask_gradient_against_finite_differences():
    net = _small_mlp()
    params = net.init(0)
    batches = [_batch(1), _batch(2)]
    rng = np.random.default_rng(3)
    masks = {p: rng.uniform(0.2, 1.0, s) for p, s in (("fc1", (8, 10)), ("fc2", (6, 8)),
                                                      ("fc3", (4, 6)))}
    report = check_value_and_grad(lambda m: mask_gradient(net, params, m, batches), masks)
    assert report.passed, "\n" + str(report)

    # and with respect to the unmasked weights w, at a fixed mask: c * dL/dv
    def loss_of_weights(weights):
        p = {k: dict(v, W=weights[k]) if k in weights else v for k, v in params.items()}
        return mask_gradient(net, p, masks, batches, wrt="weight")
    report = check_value_and_grad(loss_of_weights, {k: params[k]["W"] for k in masks})
    assert report.passed, "\n" + str(report)
    # a convolution's mask is indexed like its (out, kh * kw * in) matrix
    cnn = Sequential([("conv", Conv2d(2, 3, 3, padding=1)), ("pool", AvgPool2d(2)),
                      ("flat", Flatten()), ("fc", Linear(12, 3))], input_shape=(2, 4, 4))
    p = cnn.init(4)
    x, labels = rng.standard_normal((5, 2, 4, 4)), rng.integers(0, 3, 5)
    masks = {"conv": rng.uniform(0.2, 1.0, (3, 18)), "fc": rng.uniform(0.2, 1.0, (3, 12))}
    report = check_value_and_grad(lambda m: mask_gradient(cnn, p, m, (x, labels)), masks)
    assert report.passed, "\n" + str(report)


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("density", [0.5, 0.1, 0.013, 0.002])
def test_exact_global_nnz_and_values_kept(method, density):
    net = build_model("mlp", sizes=[30, 20, 10, 5], activation="relu")
    params = net.init(0)
    result = METHODS[method](net, params, [_batch(0, features=30, classes=5)], density)
    total = 30 * 20 + 20 * 10 + 10 * 5
    kept = sum(rows.size for rows, _ in result.supports.values())
    assert kept == target_nnz(density, total) == result.schedule[-1]
    assert density_of(result.net) == kept / total
    spec = result.net.spec
    assert spec["kind"] == "sparse" and spec["support"] == method and spec["density"] == density
    for path, (rows, cols) in result.supports.items():
        np.testing.assert_array_equal(result.params[path]["S"], params[path]["W"][rows, cols])
        np.testing.assert_array_equal(result.params[path]["b"], params[path]["b"])
    # the sparse network is the dense one with the pruned weights set to zero
    x = np.random.default_rng(5).standard_normal((3, 30))
    masked = {p: dict(v) for p, v in params.items()}
    for path, (rows, cols) in result.supports.items():
        W = np.zeros_like(params[path]["W"])
        W[rows, cols] = params[path]["W"][rows, cols]
        masked[path]["W"] = W
    np.testing.assert_allclose(result.net(result.params, x), net(masked, x), rtol=1e-12,
                               atol=1e-12)
    again = rebuild(spec, supports_of(result.net))
    assert np.array_equal(again(result.params, x), result.net(result.params, x))


def test_force_lets_weights_return_and_iterative_snip_does_not():
    net = build_model("mlp", sizes=[20, 16, 12, 4])
    params = net.init(1)
    batches = [_batch(3, n=32, features=20)]
    density = 0.1
    # with two rounds, round one keeps round(sqrt(d) * N): exactly what SNIP at sqrt(d) keeps
    first = snip(net, params, batches, density ** 0.5).supports
    forced = force(net, params, batches, density, steps=2).supports
    iterated = iterative_snip(net, params, batches, density, steps=2).supports

    def positions(supports):
        return {(p, r, c) for p, (rows, cols) in supports.items() for r, c in zip(rows, cols)}
    assert positions(iterated) <= positions(first)
    returned = positions(forced) - positions(first)
    assert returned, "FORCE kept no weight that its first round had pruned"
    assert len(positions(forced)) == len(positions(iterated)) == target_nnz(density, 560)


def test_pruned_weights_keep_a_force_score():
    net = _small_mlp("relu")
    params = net.init(1)
    result = force(net, params, [_batch(3, n=32)], 0.1, steps=3)
    pruned_scores = np.concatenate([np.asarray(s).ravel()[~np.isin(
        np.arange(s.size), result.supports[p][0] * s.shape[1] + result.supports[p][1])]
        for p, s in result.scores.items()])
    assert np.isfinite(pruned_scores).all() and np.any(pruned_scores > 0)
    snipped = iterative_snip(net, params, [_batch(3, n=32)], 0.1, steps=3)
    assert np.isinf(np.concatenate([s.ravel() for s in snipped.scores.values()])).any()


def _linear_chain(seed=0):
    net = Sequential([("fc1", Linear(7, 5, bias=False)), ("fc2", Linear(5, 6, bias=False)),
                      ("fc3", Linear(6, 3, bias=False))], input_shape=(7,))
    return net, net.init(seed)


def test_synflow_conserves_flow_layer_by_layer():
    net, params = _linear_chain()
    R, scores = synflow_scores(net, params)
    # R = 1^T |W3| |W2| |W1| 1, and every layer's scores add up to R
    W = [np.abs(params[p]["W"]) for p in ("fc1", "fc2", "fc3")]
    np.testing.assert_allclose(R, np.ones(3) @ W[2] @ W[1] @ W[0] @ np.ones(7), rtol=1e-13)
    for path, s in scores.items():
        assert abs(s.sum() - R) <= 1e-10 * R, path
    # ReLU networks with biases (zeroed while scoring) and convolutions conserve it too
    for model in (build_model("lenet300"), build_model("lenet5-cifar")):
        R, scores = synflow_scores(model, model.init(0))
        for path, s in scores.items():
            assert abs(s.sum() - R) <= 1e-10 * R, path


def test_synflow_scores_against_finite_differences():
    net, params = _linear_chain(2)
    rng = np.random.default_rng(0)
    masks = {p: rng.uniform(0.2, 1.0, params[p]["W"].shape) for p in params}

    def flow(m):          # dR/dc = score / c
        R, scores = synflow_scores(net, params, m)
        return R, {p: scores[p] / m[p] for p in m}
    report = check_value_and_grad(flow, masks)
    assert report.passed, "\n" + str(report)


def test_synflow_needs_no_data_and_is_deterministic():
    model = build_model("lenet5-cifar")
    params = model.init(0)
    a = synflow(model, params, 1e-2, iterations=10)
    b = synflow(model, params, 1e-2, iterations=10)
    assert sum(r.size for r, _ in a.supports.values()) == 615
    assert all(np.array_equal(a.supports[p][i], b.supports[p][i]) for p in a.supports
               for i in (0, 1))
    assert len(a.schedule) == 10 and a.schedule == sorted(a.schedule, reverse=True)


def test_exponential_schedule():
    assert exponential_schedule(0.01, 1000, 2) == [100, 10]
    assert exponential_schedule(1e-3, 61510, 1) == [62]
    steps = exponential_schedule(1e-4, 61510, 100)
    assert steps[-1] == 6 and steps == sorted(steps, reverse=True) and len(steps) == 100
    # a schedule of no rounds, or of a fraction of rounds, is an error, not one silent round
    for bad in (0, -3, 2.7, True):
        with pytest.raises(ValueError, match=r"exponential_schedule: steps must be an integer"):
            exponential_schedule(0.1, 100, bad)


def test_keep_top_ties_and_errors():
    scores = {"a": np.array([[1.0, 2.0]]), "b": np.array([[2.0, 0.0, 2.0]])}
    masks = keep_top(scores, 2)
    assert masks["a"].tolist() == [[False, True]] and masks["b"].tolist() == [[True, False,
                                                                              False]]
    assert sum(m.sum() for m in keep_top(scores, 5).values()) == 5
    with pytest.raises(ValueError, match="NaN"):
        keep_top({"a": np.array([np.nan])}, 1)
    with pytest.raises(ValueError, match="k must be"):
        keep_top(scores, 6)
    with pytest.raises(ValueError, match="keep_top: scores is empty"):
        keep_top({}, 0)


def test_top_k_is_the_full_sort_bit_for_bit():
    # heavy ties (a few distinct levels, +-0, +-inf) and random tiebreaks with ties of their own
    rng = np.random.default_rng(18)
    levels = np.array([-np.inf, -1.5, -0.0, 0.0, 1e-300, 2.0, 2.0 + 2e-16, np.inf])
    for trial in range(400):
        size = int(rng.integers(1, 300))
        score = rng.choice(levels[:int(rng.integers(1, 9))], size=size)
        if trial % 3 == 0:
            score = score + rng.integers(0, 3, size) * 0.25
        tiebreak = rng.integers(0, 4, size) / 4.0
        for k in {0, 1, size // 3, size - 1, size, int(rng.integers(0, size + 1))}:
            k = max(0, k)
            full = np.sort(np.argsort(-score, kind="stable")[:k])
            assert np.array_equal(top_k(score, k), full)
            full = np.sort(np.lexsort((tiebreak, -score))[:k])
            assert np.array_equal(top_k(score, k, tiebreak), full)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_errors(method):
    prune = METHODS[method]
    net = _small_mlp()
    params = net.init(0)
    for bad in (0.0, 1.5, -1e-3, float("nan")):
        with pytest.raises(ValueError, match="density must be a number in"):
            prune(net, params, [_batch()], bad)
    sparse = build_model("mlp", sizes=[10, 8, 6, 4], kind="sparse", density=0.5, rng=0)
    with pytest.raises(ValueError, match="starts from a dense network"):
        prune(sparse, sparse.init(0), [_batch()], 0.1)
    empty = Sequential([("act", ReLU())], input_shape=(10,))
    with pytest.raises(ValueError, match="no prunable layer"):
        prune(empty, {"act": {}}, [_batch()], 0.1)


def test_batch_and_loss_errors():
    net = _small_mlp()
    params = net.init(0)
    with pytest.raises(ValueError, match="batches"):
        snip(net, params, [], 0.1)
    with pytest.raises(ValueError, match="loss must be one of"):
        snip(net, params, _batch(), 0.1, loss="hinge")
    with pytest.raises(ValueError, match="steps"):
        force(net, params, _batch(), 0.1, steps=0)
    with pytest.raises(ValueError, match="input_shape"):
        synflow(Sequential([("fc", Linear(3, 2))]), {"fc": Linear(3, 2).init(0)}, 0.5)


def test_pruning_does_not_mutate_its_inputs():
    net = _small_mlp()
    params = net.init(0)
    before = {p: {k: v.copy() for k, v in d.items()} for p, d in params.items()}
    batch = _batch()
    x_copy = batch[0].copy()
    force(net, params, batch, 0.1, steps=3)
    synflow(net, params, 0.1, iterations=5)
    assert all(np.array_equal(before[p][k], params[p][k]) for p in params for k in params[p])
    assert np.array_equal(batch[0], x_copy)


def test_plain_graphs_become_plain_sparse_graphs():
    net = Sequential([("fc1", Linear(6, 5)), ("act", Tanh()), ("fc2", Linear(5, 3))],
                     input_shape=(6,))
    params = net.init(0)
    result = snip(net, params, _batch(0, features=6, classes=3), 0.5)
    assert type(result.net) is Sequential
    assert [type(layer).__name__ for layer in result.net.layers] == ["SparseLinear", "Tanh",
                                                                     "SparseLinear"]
    assert sum(r.size for r, _ in supports_of(result.net).values()) == target_nnz(0.5, 45)


def test_a_model_inside_a_plain_graph_becomes_a_plain_sparse_graph():
    # a Model nested in a container is rewired like any Graph; its dense spec would no longer
    # describe it, so it becomes a plain Graph (this used to fail with a KeyError)
    model = build_model("mlp", sizes=[6, 5, 3], activation="tanh")
    net = Sequential([("body", model), ("act", Tanh())], input_shape=(6,))
    params = net.init(0)
    result = snip(net, params, _batch(0, features=6, classes=3), 0.5)
    body = result.net["body"]
    assert type(result.net) is Sequential and type(body) is not type(model)
    assert [type(body[n]).__name__ for n in ("fc1", "fc2")] == ["SparseLinear", "SparseLinear"]
    assert sum(r.size for r, _ in result.supports.values()) == target_nnz(0.5, 45)
    masked = {k: dict(v) for k, v in params["body"].items()}
    for name in ("fc1", "fc2"):
        rows, cols = result.supports[f"body/{name}"]
        W = np.zeros_like(params["body"][name]["W"])
        W[rows, cols] = params["body"][name]["W"][rows, cols]
        masked[name]["W"] = W
    x = np.random.default_rng(1).standard_normal((4, 6))
    np.testing.assert_allclose(result.net(result.params, x), np.tanh(model(masked, x)),
                               rtol=1e-13, atol=1e-15)
