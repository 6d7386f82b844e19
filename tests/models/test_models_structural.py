"""structural_supports: each pattern is exactly where that layer's Jacobian can be nonzero."""
import numpy as np
import pytest

from refnet import Sequential
from refnet.layers import (AvgPool2d, Conv2d, DCTpSConv2d, DCTpSLinear, Flatten, Linear,
                           MaxPool2d, ReLU, SparseConv2d, SparseLinear, Tanh)
from refnet.models import build_model, structural_supports
from refnet.spectra import structural_rank


def _layer_jacobian(layer, params, x):
    """d y / d x of one example, from one VJP on the identity: (y.size, x.size)."""
    y, cache = layer.forward(params, x)
    eye = np.eye(y.size).reshape((y.size,) + y.shape)
    x_bar, _ = layer.vjp(params, cache, eye, need_params=False)
    return x_bar.reshape(y.size, x.size)


def chain():
    return Sequential([
        ("conv", Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1)), ("tanh", Tanh()),
        ("sconv", SparseConv2d(3, 4, 3, stride=1, padding=1, density=0.3, rng=0)),
        ("avg", AvgPool2d(3, stride=2, padding=1)),
        ("dconv", DCTpSConv2d(4, 3, 2, density=0.2, rng=1)),
        ("max", MaxPool2d(2, stride=1)), ("flat", Flatten()),
        ("fc", Linear(6, 7)), ("relu", ReLU()),
        ("sfc", SparseLinear(7, 6, density=0.3, rng=2)),
        ("dfc", DCTpSLinear(6, 5, density=0.2, rng=3))], input_shape=(2, 9, 7))


def test_patterns_match_each_layers_jacobian():
    net = chain()
    rng = np.random.default_rng(0)
    params = {k: {n: v + 0.5 * rng.standard_normal(np.shape(v)) for n, v in p.items()}
              for k, p in net.init(rng).items()}
    supports = structural_supports(net)
    values, _ = net.forward_all(params, rng.standard_normal((1, 2, 9, 7)))
    mixing = [node for node in net.nodes
              if not isinstance(node.layer, (Tanh, ReLU, Flatten))]
    assert len(supports) == len(mixing)
    for node, pattern in zip(mixing, supports):
        jac = _layer_jacobian(node.layer, params[node.name], values[node.inputs[0]])
        pattern = pattern.toarray().astype(bool)
        assert pattern.shape == jac.shape, node.name
        nonzero = np.abs(jac) > 1e-14
        assert not np.any(nonzero & ~pattern), f"{node.name}: Jacobian outside its pattern"
        if isinstance(node.layer, MaxPool2d):
            # one winner per window: a point picks one entry of each pattern row
            assert np.all(nonzero.sum(axis=1) == 1)
        elif not isinstance(node.layer, (DCTpSConv2d, DCTpSLinear)):
            # generic values: every patterned entry is really used
            assert np.array_equal(nonzero, pattern), node.name


def test_dense_sparse_and_dctps_lenet300():
    dense = structural_rank(structural_supports(build_model("lenet300")))
    assert dense.rank_bound == 10
    for density in (1e-2, 1e-4):
        dctps = build_model("lenet300", kind="dctps", density=density, rng=0)
        assert structural_rank(structural_supports(dctps)).rank_bound == 10
    sparse = build_model("lenet300", kind="sparse", density=1e-4, rng=0)   # 27 weights
    result = structural_rank(structural_supports(sparse))
    assert result.rank_bound < 10 and result.reachable_outputs.sum() < 10
    assert [s.nnz for s in structural_supports(sparse)] == [
        layer["nnz"] for layer in sparse.spec["layers"]]


def test_lenet5_cifar_shapes():
    supports = structural_supports(build_model("lenet5-cifar", kind="sparse", density=1e-3,
                                               rng=0))
    assert [s.shape for s in supports] == [(6 * 28 * 28, 3 * 32 * 32), (6 * 14 * 14, 6 * 28 * 28),
                                           (16 * 10 * 10, 6 * 14 * 14), (16 * 5 * 5, 16 * 10 * 10),
                                           (120, 400), (82, 120), (10, 82)]


def test_non_chains_and_unknown_layers_are_refused():
    with pytest.raises(ValueError, match="only chain networks"):
        structural_supports(build_model("resnet-small"))
    with pytest.raises(ValueError, match="no input_shape"):
        structural_supports(Sequential([("fc", Linear(3, 2))]))
    assert structural_supports(Sequential([("fc", Linear(3, 2))]), in_shape=(3,))[0].shape \
        == (2, 3)
