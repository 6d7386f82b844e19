"""RigL: drop/grow choices, exact nnz, remapped optimizer state, dense gradient, DCTpS + RigL."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refnet import Sequential
from refnet.core.tree import tree_leaves
from refnet.layers import DCTpSConv2d, DCTpSLinear, Flatten, Linear, SparseLinear, Tanh
from refnet.losses import softmax_cross_entropy
from refnet.models import build_model, rebuild, supports_of
from refnet.ops import im2col
from refnet.ops.csr import CSRSupport
from refnet.sparsity import (RigL, dense_weight_gradients, drop_fraction, remap_values,
                             rigl_layer_update)
from refnet.train import TrainConfig, train


def _data(n=48, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)), rng.integers(0, classes, n)


def test_drop_and_grow_on_a_hand_made_layer():
    #      stored values              |dL/dW|
    #  [[0.5,  .  , -0.1],        [[9, 1, 7],
    #   [ . , 2.0 , 0.05]]         [6, 9, 3]]
    support = CSRSupport.from_positions((2, 3), [0, 0, 1, 1], [0, 2, 1, 2])
    values = np.array([0.5, -0.1, 2.0, 0.05])
    grad = np.array([[9.0, 1.0, -7.0], [6.0, 9.0, 3.0]])
    change = rigl_layer_update(support, values, grad, 2, rng=0)
    # drop the two smallest |S|: (1, 2) = 0.05 and (0, 2) = -0.1; keep (0, 0) and (1, 1)
    assert change.dropped.tolist() == [2, 5]
    # grow among the positions not kept, (0, 1) (0, 2) (1, 0) (1, 2), the two largest |G|:
    # (0, 2) with 7 (a just-dropped position) and (1, 0) with 6; the large |G| of the kept
    # (0, 0) and (1, 1) do not count
    assert change.grown.tolist() == [2, 3]
    assert change.support.rows.tolist() == [0, 0, 1, 1]
    assert change.support.cols.tolist() == [0, 2, 0, 1]
    # (0, 2) was dropped and grown again: it keeps its value; (1, 0) is new: 0
    assert change.source.tolist() == [0, 1, -1, 2]
    np.testing.assert_array_equal(remap_values(values, change.source), [0.5, -0.1, 0.0, 2.0])
    assert change.new_positions == 1


@given(m=st.integers(1, 6), n=st.integers(1, 7), data=st.data())
def test_rigl_update_keeps_nnz_and_follows_the_rules(m, n, data):
    nnz = data.draw(st.integers(0, m * n), label="nnz")
    n_move = data.draw(st.integers(0, nnz), label="n_move")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    support = CSRSupport.sample((m, n), nnz, rng)
    # rounded values: many ties (zeros included), as in a zero-initialised DCTpS S
    values = np.round(rng.standard_normal(nnz), 1) * rng.integers(0, 2, nnz)
    grad = np.round(rng.standard_normal((m, n)), 1)
    change = rigl_layer_update(support, values, grad, n_move, rng)
    assert change.support.nnz == nnz and change.support.shape == (m, n)
    old = set(support.flat_index().tolist())
    new = set(change.support.flat_index().tolist())
    dropped, grown = set(change.dropped.tolist()), set(change.grown.tolist())
    kept = old - dropped
    assert len(dropped) == len(grown) == n_move and dropped <= old
    assert new == kept | grown and not kept & grown
    value_at = dict(zip(support.flat_index().tolist(), values))
    magnitude = {p: abs(v) for p, v in value_at.items()}
    if dropped and kept:
        assert max(magnitude[p] for p in dropped) <= min(magnitude[p] for p in kept)
    candidates = set(range(m * n)) - kept - grown
    if grown and candidates:
        assert min(abs(grad.flat[p]) for p in grown) >= max(abs(grad.flat[p])
                                                            for p in candidates)
    # values follow their positions; new positions start at 0
    remapped = dict(zip(change.support.flat_index().tolist(),
                        remap_values(values, change.source)))
    assert remapped == {p: value_at.get(p, 0.0) for p in new}


def test_rigl_ties_are_broken_by_the_rng_not_by_position():
    support = CSRSupport.from_positions((1, 8), [0] * 4, [0, 1, 2, 3])
    values, grad = np.zeros(4), np.zeros((1, 8))
    drops = {tuple(rigl_layer_update(support, values, grad, 1, seed).dropped) for seed in range(40)}
    assert len(drops) == 4          # every zero is as likely to go
    a = rigl_layer_update(support, values, grad, 2, 7)
    b = rigl_layer_update(support, values, grad, 2, 7)
    assert a.support == b.support   # and the same seed makes the same choice


def test_drop_fraction_schedule():
    assert drop_fraction(0, 100) == pytest.approx(0.3)
    assert drop_fraction(50, 100) == pytest.approx(0.15)
    assert drop_fraction(100, 100) == pytest.approx(0.0)
    x, y = _data()
    net = build_model("mlp", sizes=[6, 5, 3], kind="sparse", density=0.5, rng=0)
    hook = RigL(net, (x, y), TrainConfig(epochs=10, batch_size=16), delta_t=4)
    assert hook.total_steps == 30 and hook.end_step == 22          # int(0.75 * 30)
    assert [t for t in range(40) if hook.is_update_step(t)] == [4, 8, 12, 16, 20]


def _mlp_reference_loss(weights, biases, x, labels):
    """Cross-entropy of a tanh MLP written with plain numpy (no refnet layer)."""
    h = x
    for i, (W, b) in enumerate(zip(weights, biases)):
        h = h @ W.T + b
        if i < len(weights) - 1:
            h = np.tanh(h)
    return softmax_cross_entropy(h, labels)[0]


@pytest.mark.parametrize("kind", ["sparse", "dctps"])
def test_dense_gradient_against_finite_differences_mlp(kind):
    net = build_model("mlp", sizes=[7, 6, 4], activation="tanh", kind=kind, density=0.3,
                      rng=1)
    rng = np.random.default_rng(2)
    params = {k: {n: v + 0.3 * rng.standard_normal(np.shape(v)) for n, v in p.items()}
              for k, p in net.init(3).items()}
    x, labels = rng.standard_normal((5, 7)), rng.integers(0, 4, 5)
    value, grads = dense_weight_gradients(net, params, x, labels)
    paths = ["fc1", "fc2"]
    weights = [net[p].dense_matrix(params[p]) for p in paths]
    biases = [params[p]["b"] for p in paths]
    assert value == pytest.approx(_mlp_reference_loss(weights, biases, x, labels), rel=1e-13)
    h = 1e-6
    for i, path in enumerate(paths):
        u = rng.standard_normal(weights[i].shape)          # dense: on AND off the support
        plus = [w + h * u if j == i else w for j, w in enumerate(weights)]
        minus = [w - h * u if j == i else w for j, w in enumerate(weights)]
        fd = (_mlp_reference_loss(plus, biases, x, labels)
              - _mlp_reference_loss(minus, biases, x, labels)) / (2 * h)
        assert np.vdot(grads[path], u) == pytest.approx(fd, rel=1e-7, abs=1e-10)


def test_dense_gradient_against_finite_differences_dctps_conv():
    conv = DCTpSConv2d(2, 3, 3, stride=1, padding=1, density=0.3, rng=0)
    fc = SparseLinear(3 * 4 * 4, 4, density=0.2, rng=1)
    net = Sequential([("conv", conv), ("act", Tanh()), ("flat", Flatten()), ("fc", fc)])
    rng = np.random.default_rng(5)
    params = {"conv": dict(conv.init(rng), S=rng.standard_normal(conv.nnz), alpha=np.array(0.7),
                           b=rng.standard_normal(3)),
              "act": {}, "flat": {}, "fc": dict(fc.init(rng), b=rng.standard_normal(4))}
    x, labels = rng.standard_normal((3, 2, 4, 4)), rng.integers(0, 4, 3)

    def loss(w_conv, w_fc):
        # the network written out: patches (channel fastest), matrix product, tanh, fc
        cols = im2col(x, (3, 3), 1, 1)                             # (B, 4, 4, 18)
        hidden = np.tanh(cols @ w_conv.T + params["conv"]["b"])    # (B, 4, 4, 3)
        flat = hidden.transpose(0, 3, 1, 2).reshape(3, -1)
        return softmax_cross_entropy(flat @ w_fc.T + params["fc"]["b"], labels)[0]

    value, grads = dense_weight_gradients(net, params, x, labels)
    w_conv, w_fc = conv.dense_matrix(params["conv"]), fc.dense_matrix(params["fc"])
    assert value == pytest.approx(loss(w_conv, w_fc), rel=1e-13)
    h = 1e-6
    u = rng.standard_normal(w_conv.shape)
    fd = (loss(w_conv + h * u, w_fc) - loss(w_conv - h * u, w_fc)) / (2 * h)
    assert np.vdot(grads["conv"], u) == pytest.approx(fd, rel=1e-7)
    u = rng.standard_normal(w_fc.shape)
    fd = (loss(w_conv, w_fc + h * u) - loss(w_conv, w_fc - h * u)) / (2 * h)
    assert np.vdot(grads["fc"], u) == pytest.approx(fd, rel=1e-7)


def _trained_state(kind, optimizer="adam", steps=3):
    x, y = _data()
    net = build_model("mlp", sizes=[6, 8, 3], kind=kind, density=0.3, rng=4)
    config = TrainConfig(optimizer=optimizer, lr=1e-2, epochs=1, batch_size=16)
    result = train(net, net.init(0), (x, y), config, quiet=True)
    assert result.state.step == steps
    return net, result.state, (x, y), config


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_optimizer_state_follows_the_positions(optimizer):
    net, state, data, config = _trained_state("sparse", optimizer)
    hook = RigL(net, data, config, alpha=0.9, total_steps=100, delta_t=1)
    new_net, params, opt_state, record = hook.update(net, state.params, state.opt_state, 3)
    assert record["new_positions"]["fc1"] > 0
    assert opt_state["step"] == state.opt_state["step"]
    trees = ["m", "v"] if optimizer == "adam" else ["velocity"]
    for path in ["fc1", "fc2"]:
        old, new = net[path].support, new_net[path].support
        source = old.locate(new.rows, new.cols)
        for name in trees:
            before, after = state.opt_state[name][path]["S"], opt_state[name][path]["S"]
            assert after.shape == (old.nnz,)
            np.testing.assert_array_equal(after[source >= 0], before[source[source >= 0]])
            np.testing.assert_array_equal(after[source < 0], 0.0)
            # biases are not rewired: their state is untouched
            np.testing.assert_array_equal(opt_state[name][path]["b"],
                                          state.opt_state[name][path]["b"])
        np.testing.assert_array_equal(params[path]["b"], state.params[path]["b"])


def test_dctps_rigl_only_touches_s():
    net, state, data, config = _trained_state("dctps")
    hook = RigL(net, data, config, alpha=0.9, total_steps=100, delta_t=1)
    new_net, params, _, record = hook.update(net, state.params, state.opt_state, 3)
    assert sum(record["new_positions"].values()) > 0
    for path in ["fc1", "fc2"]:
        old_layer, new_layer = net[path], new_net[path]
        assert type(new_layer) is DCTpSLinear and new_layer.offset is old_layer.offset
        assert new_layer.nnz == old_layer.nnz and new_layer.support != old_layer.support
        for key in ["alpha", "b"]:
            np.testing.assert_array_equal(params[path][key], state.params[path][key])
    # the DCT part computes the same thing before and after: with S = 0 both layers agree
    x = data[0][:4]
    zero = {"alpha": np.array(0.8), "b": np.zeros(8), "S": np.zeros(net["fc1"].nnz)}
    np.testing.assert_array_equal(net["fc1"](zero, x), new_net["fc1"](zero, x))


def test_rigl_training_keeps_exact_nnz_every_step_and_resumes_exactly():
    x, y = _data(n=64)
    net = build_model("mlp", sizes=[6, 10, 3], kind="sparse", density=0.4, distribution="erk",
                      rng=0)
    config = TrainConfig(lr=1e-2, epochs=4, batch_size=16, seed=3)
    options = dict(delta_t=3, debug=True)       # debug: nnz asserted after every step
    hook = RigL(net, (x, y), config, **options)
    full = train(net, net.init(0), (x, y), config, step_hook=hook, quiet=True)
    final = hook.net
    assert [u["step"] for u in hook.updates] == [3, 6, 9]          # end_step = 12
    assert {p: final[p].nnz for p in ["fc1", "fc2"]} == {"fc1": net["fc1"].nnz,
                                                          "fc2": net["fc2"].nnz}
    assert final["fc1"].support != net["fc1"].support and final.spec["support"] == "rigl"
    # stop after epoch 2, rebuild the network from spec + supports (a checkpoint), resume
    hook1 = RigL(net, (x, y), config, **options)
    first = train(net, net.init(0), (x, y), config, until_epoch=2, step_hook=hook1, quiet=True)
    restored = rebuild(hook1.net.spec, supports_of(hook1.net))
    hook2 = RigL(restored, (x, y), config, **options)
    second = train(restored, None, (x, y), config, resume=first.state, step_hook=hook2, quiet=True)
    again = hook2.net
    assert second.state.step == full.state.step
    for (p1, a), (p2, b) in zip(tree_leaves(full.state.params), tree_leaves(second.state.params)):
        assert p1 == p2
        np.testing.assert_array_equal(a, b)
    for path, (rows, cols) in supports_of(final).items():
        np.testing.assert_array_equal(supports_of(again)[path][0], rows)
        np.testing.assert_array_equal(supports_of(again)[path][1], cols)


def test_debug_check_catches_a_wrong_nnz():
    x, y = _data()
    net = build_model("mlp", sizes=[6, 5, 3], kind="sparse", density=0.5, rng=0)
    config = TrainConfig(epochs=1, batch_size=16)
    hook = RigL(net, (x, y), config, debug=True)
    other = build_model("mlp", sizes=[6, 5, 3], kind="sparse", density=0.3, rng=0)
    params = other.init(0)
    state = train(other, params, (x, y), config, quiet=True).state
    with pytest.raises(AssertionError, match="nnz"):
        hook(other, state)


def test_rigl_errors():
    x, y = _data()
    config = TrainConfig(epochs=1, batch_size=16)
    dense = Sequential([Linear(6, 3)])
    with pytest.raises(ValueError, match="no sparse or DCTpS layer"):
        RigL(dense, (x, y), config)
    net = build_model("mlp", sizes=[6, 5, 3], kind="sparse", density=0.5, rng=0)
    with pytest.raises(ValueError, match="alpha"):
        RigL(net, (x, y), config, alpha=1.5)
    with pytest.raises(ValueError, match="not sparse or DCTpS"):
        RigL(net, (x, y), config, paths=["act1"])
    support = CSRSupport.from_positions((2, 2), [0], [1])
    with pytest.raises(ValueError, match="n_move"):
        rigl_layer_update(support, np.ones(1), np.ones((2, 2)), 2, 0)
    with pytest.raises(ValueError, match="NaN"):
        rigl_layer_update(support, np.ones(1), np.full((2, 2), math.nan), 1, 0)
