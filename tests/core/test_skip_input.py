"""``need_input=False``: no cotangent of the network's input, the same parameter cotangents."""
import numpy as np
import pytest

from refnet import Graph, Sequential
from refnet.core.tree import tree_leaves
from refnet.layers import Add, DCTpSLinear, Linear, SparseLinear, Tanh
from refnet.ops import fast
from refnet.train import value_and_grad


def _nets():
    yield Sequential([("fc1", Linear(6, 5)), ("act", Tanh()), ("fc2", Linear(5, 3))])
    yield Sequential([("fc1", SparseLinear(6, 5, nnz=9, rng=0)), ("act", Tanh()),
                      ("fc2", DCTpSLinear(5, 3, nnz=4, rng=1))])
    yield Sequential([("fc1", DCTpSLinear(6, 5, nnz=7, rng=2)), ("fc2", Linear(5, 3))])
    # the input feeds a layer that can skip it and one that cannot
    yield Graph([("a", DCTpSLinear(6, 3, nnz=5, rng=3), "input"), ("t", Tanh(), "input"),
                 ("b", Linear(6, 3), "t"), ("sum", Add(), ("a", "b"))])


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("net", list(_nets()), ids=lambda n: type(n).__name__)
def test_need_input_false_gives_the_same_parameter_cotangents(net, enabled, monkeypatch):
    monkeypatch.setattr(fast, "ENABLED", enabled)
    rng = np.random.default_rng(0)
    params = net.init(rng)
    params = {k: {n: v + rng.standard_normal(np.shape(v)) for n, v in p.items()}
              for k, p in params.items()}
    x, y_bar = rng.standard_normal((4, 6)), rng.standard_normal((2, 4, 3))
    _, cache = net.forward(params, x)
    x_bar, full = net.vjp(params, cache, y_bar)
    skipped, grads = net.vjp(params, cache, y_bar, need_input=False)
    assert x_bar.shape == (2, 4, 6) and skipped is None
    assert [p for p, _ in tree_leaves(grads)] == [p for p, _ in tree_leaves(full)]
    for (_, a), (_, b) in zip(tree_leaves(grads), tree_leaves(full)):
        assert np.array_equal(a, b)
    # training asks for no input cotangent, and its gradients are the full VJP's
    labels = np.array([0, 2, 1, 1])
    _, train_grads, out = value_and_grad(net, params, x, labels)
    from refnet.losses import LOSSES
    _, out_bar = LOSSES["cross-entropy"](out, labels)
    for (_, a), (_, b) in zip(tree_leaves(train_grads), tree_leaves(net.vjp(params, cache,
                                                                            out_bar)[1])):
        assert np.array_equal(a, b)
