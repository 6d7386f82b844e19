"""relu_active_fractions: the share of positive inputs at every ReLU, nested graphs included."""
import numpy as np
import pytest

from refnet import Sequential
from refnet.layers import Linear, ReLU, Tanh
from refnet.spectra import relu_active_fractions


def test_fractions_are_the_share_of_positive_outputs_of_each_relu():
    inner = Sequential([("fc", Linear(5, 5)), ("act", ReLU())])
    net = Sequential([("fc1", Linear(4, 5)), ("act1", ReLU()), ("block", inner),
                      ("fc2", Linear(5, 3)), ("tanh", Tanh())], input_shape=(4,))
    params = net.init(np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((7, 4))
    before = x.copy()
    fractions = relu_active_fractions(net, params, x)
    values, _ = net.forward_all(params, x)
    inner_out, _ = inner.forward(params["block"], values["act1"])
    assert fractions == {"act1": np.mean(values["act1"] > 0),
                         "block/act": np.mean(inner_out > 0)}
    assert 0 < fractions["act1"] < 1 and 0 < fractions["block/act"] < 1
    np.testing.assert_array_equal(x, before)


def test_a_network_without_relu_has_none_and_a_non_layer_is_refused():
    net = Sequential([("fc", Linear(2, 2)), ("tanh", Tanh())])
    assert relu_active_fractions(net, net.init(0), np.ones((1, 2))) == {}
    with pytest.raises(TypeError, match="net must be a refnet Layer, got dict"):
        relu_active_fractions({}, {}, np.ones((1, 2)))
