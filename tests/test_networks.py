"""Whole networks: an MLP, a small CNN and a residual Graph with fan-out, with the loss.

Each network passes ``check_layer`` (input and every parameter), and the
gradient of the scalar loss with respect to every parameter, computed as
``net.vjp(params, cache, d loss / d logits)``, passes
``check_value_and_grad``.  Points are checked to be away from kinks first
(ReLU inputs and max-pool runner-ups at least ``MARGIN`` away), so a failure
is a wrong derivative, not a finite difference across a kink.
"""
import numpy as np
import pytest

from refnet import Graph, Sequential
from refnet.core.tree import tree_map
from refnet.layers import (Add, AvgPool2d, Concat, Conv2d, Flatten, Linear, MaxPool2d, ReLU,
                           Tanh)
from refnet.losses import softmax_cross_entropy
from refnet.ops import im2col
from refnet.optim import SGD
from refnet.testing import check_layer, check_value_and_grad

MARGIN = 1e-4


def mlp():
    return Sequential([("fc1", Linear(4, 8)), ("relu", ReLU()), ("fc2", Linear(8, 8)),
                       ("tanh", Tanh()), ("fc3", Linear(8, 3))], input_shape=(4,))


def cnn():
    return Sequential([("conv1", Conv2d(2, 3, 3, padding=1)), ("relu", ReLU()),
                       ("maxpool", MaxPool2d(2)),
                       ("conv2", Conv2d(3, 4, (2, 3), padding=(0, 1))),
                       ("avgpool", AvgPool2d(3, stride=1, padding=1)), ("flatten", Flatten()),
                       ("fc", Linear(4 * 3 * 4, 3))], input_shape=(2, 8, 8))


def residual():
    """act1 feeds fc2 and the sum (a residual block); the input feeds fc1 and skip."""
    return Graph([("fc1", Linear(5, 6), "input"), ("act1", Tanh(), "fc1"),
                  ("fc2", Linear(6, 6), "act1"), ("res", Add(), ("act1", "fc2")),
                  ("relu", ReLU(), "res"), ("skip", Linear(5, 6), "input"),
                  ("cat", Concat(), ("relu", "skip")), ("head", Linear(12, 3), "cat")],
                 input_shape=(5,))


NETWORKS = {"mlp": (mlp, (4,)), "cnn": (cnn, (2, 8, 8)), "residual": (residual, (5,))}


def _point(name, batch=3, seed=0):
    build, in_shape = NETWORKS[name]
    net = build()
    rng = np.random.default_rng(seed)
    params = tree_map(lambda w: w + 0.1 * rng.standard_normal(w.shape), net.init(rng))
    x = rng.standard_normal((batch,) + in_shape)
    labels = rng.integers(0, 3, batch)
    _assert_away_from_kinks(net, params, x)
    return net, params, x, labels


def _assert_away_from_kinks(net, params, x):
    values, _ = net.forward_all(params, x)
    for node in net.nodes:
        inputs = [values[i] for i in node.inputs]
        if isinstance(node.layer, ReLU):
            assert np.min(np.abs(inputs[0])) > MARGIN, f"{node.name}: input near the kink"
        if isinstance(node.layer, MaxPool2d):
            pool = node.layer
            windows = im2col(inputs[0][..., None, :, :], pool.kernel_size, pool.stride,
                             pool.padding)
            top2 = np.sort(windows, axis=-1)[..., -2:]
            # all-zero windows after a ReLU tie, but every entry there has slope 0
            live = top2[..., 1] > 0
            assert np.all(top2[..., 1][live] - top2[..., 0][live] > MARGIN), \
                f"{node.name}: a near-tie in a window"


def _loss(net, x, labels):
    def value_and_grad(params):
        logits, cache = net.forward(params, x)
        value, logits_bar = softmax_cross_entropy(logits, labels)
        _, grads = net.vjp(params, cache, logits_bar)
        return value, grads
    return value_and_grad


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_network_passes_check_layer(name):
    net, params, x, _ = _point(name)
    report = check_layer(net, x, params, seed=1)
    assert report.passed, "\n" + str(report)
    checked = {r.param for r in report.results if r.check == "vjp_fd"}
    assert checked == {"x"} | {f"{node.name}/{p}" for node in net.nodes
                               for p in node.layer.param_shapes()}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_loss_gradient_of_every_parameter(name):
    net, params, x, labels = _point(name)
    report = check_value_and_grad(_loss(net, x, labels), params, seed=2, name=name)
    assert report.passed, "\n" + str(report)
    assert len(report.results) == sum(len(node.layer.param_shapes()) for node in net.nodes)


def test_sgd_on_the_mlp_lowers_the_loss():
    net, params, x, labels = _point("mlp", batch=8)
    fun, opt = _loss(net, x, labels), SGD(0.1, momentum=0.9)
    state = opt.init(params)
    first, grads = fun(params)
    for _ in range(20):
        params, state = opt.update(params, grads, state)
        value, grads = fun(params)
    assert value < 0.5 * first


# -- refnet.networks: walking, replacing and sparsifying a network -----------------------------

def test_iter_layers_layer_at_and_replace_layers_on_a_nested_graph():
    from refnet.networks import iter_layers, layer_at, prunable_weights, replace_layers
    net = Sequential([("block", residual()), ("out", Linear(3, 2))], input_shape=(5,))
    paths = [path for path, _ in iter_layers(net)]
    assert paths[0] == "block/fc1" and "block/act1" in paths and paths[-1] == "out"
    assert prunable_weights(net)[-2:] == [("block/head", (3, 12)), ("out", (2, 3))]
    new = replace_layers(net, {"block/fc2": Tanh()})
    assert isinstance(layer_at(new, "block/fc2"), Tanh)
    assert isinstance(layer_at(net, "block/fc2"), Linear)          # the original is unchanged
    assert type(new) is Sequential and layer_at(new, "out") is layer_at(net, "out")
    with pytest.raises(ValueError, match="no layer at path"):
        replace_layers(net, {"block/nope": Tanh()})


@pytest.mark.parametrize("name", ["mlp", "lenet5", "resnet-small"])
def test_to_sparse_of_a_model_is_what_rebuild_makes(name):
    """to_sparse builds the sparse Model directly; rebuild of its spec is the same network
    (Fixup's zero-initialised layers stay zero-initialised)."""
    from refnet.core.tree import tree_equal
    from refnet.models import build_model, rebuild, supports_of, to_sparse
    from refnet.networks import prunable_weights
    from refnet.supports import allocate, sample_supports
    net = build_model(name, **({"sizes": [6, 5, 3]} if name == "mlp" else {}))
    params = net.init(0)
    supports = sample_supports(allocate(prunable_weights(net), 0.1, "erk"), 1)
    sparse, sparse_params = to_sparse(net, params, supports, method="snip", density=0.1)
    again = rebuild(sparse.spec, supports_of(sparse))
    assert repr(sparse) == repr(again) and sparse.init_scales == again.init_scales
    assert sparse.spec["support"] == "snip" and sparse.spec["kind"] == "sparse"
    assert tree_equal(sparse.init(3), again.init(3))
    x = np.random.default_rng(0).standard_normal((2,) + tuple(net.input_shape))
    np.testing.assert_array_equal(sparse(sparse_params, x), again(sparse_params, x))
