"""SGD and Adam: a few steps against the documented formulas worked out by hand; purity."""
import copy

import numpy as np
import pytest

from refnet.core.tree import tree_equal, tree_get, tree_leaves, tree_map
from refnet.optim import SGD, Adam, make_optimizer

W0 = np.array([1.0, -2.0])
G1 = np.array([0.5, 1.0])
G2 = np.array([-1.0, 0.0])


def _two_steps(opt):
    params = {"layer": {"w": W0.copy()}, "act": {}}
    state = opt.init(params)
    out = []
    for g in (G1, G2):
        params, state = opt.update(params, {"layer": {"w": g}, "act": {}}, state)
        out.append(params["layer"]["w"])
    assert state["step"] == 2
    return out


@pytest.mark.parametrize("opt, expected", [
    # w = w - lr * g
    (SGD(0.1), [[0.95, -2.1], [1.05, -2.1]]),
    # v1 = g1 = [.5, 1]; v2 = .9 v1 + g2 = [-.55, .9]
    (SGD(0.1, momentum=0.9), [[0.95, -2.1], [1.005, -2.19]]),
    # step1 = g1 + .9 v1 = [.95, 1.9]; step2 = g2 + .9 v2 = [-1.495, .81]
    (SGD(0.1, momentum=0.9, nesterov=True), [[0.905, -2.19], [1.0545, -2.271]]),
    # g = grad + .5 w: [1, 0] then [-.55, -1]
    (SGD(0.1, weight_decay=0.5), [[0.9, -2.0], [0.955, -1.9]]),
])
def test_sgd_by_hand(opt, expected):
    for got, want in zip(_two_steps(opt), expected):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


def test_adam_by_hand():
    lr, eps = 0.1, 1e-8
    # step 1: m = .1 g1, v = .001 g1^2; bias-corrected m_hat = g1, v_hat = g1^2
    w1 = [1.0 - lr * 0.5 / (0.5 + eps), -2.0 - lr * 1.0 / (1.0 + eps)]
    # step 2: m = .9 m + .1 g2 = [-.055, .09]; v = .999 v + .001 g2^2 = [.00124975, .000999];
    # corrections 1 - .9**2 = .19 and 1 - .999**2 = .001999
    m_hat = [-0.055 / 0.19, 0.09 / 0.19]
    v_hat = [0.00124975 / 0.001999, 0.000999 / 0.001999]
    w2 = [w1[k] - lr * m_hat[k] / (np.sqrt(v_hat[k]) + eps) for k in range(2)]
    got1, got2 = _two_steps(Adam(lr=lr, eps=eps))
    np.testing.assert_allclose(got1, w1, rtol=1e-14)
    np.testing.assert_allclose(got2, w2, rtol=1e-12)


def test_adam_bias_correction_makes_the_first_step_lr_whatever_the_gradient_scale():
    for scale in (1e-6, 1.0, 1e3):
        opt = Adam(lr=0.01, eps=1e-30)
        params = {"w": np.array([0.0, 0.0])}
        new, state = opt.update(params, {"w": scale * np.array([1.0, -3.0])}, opt.init(params))
        np.testing.assert_allclose(new["w"], [-0.01, 0.01], rtol=1e-12)
        assert state["step"] == 1


def test_adam_weight_decay_is_added_to_the_gradient():
    opt = Adam(lr=0.1, weight_decay=2.0, eps=1e-30)
    params = {"w": np.array([1.0])}
    # g = 0 + 2 * 1 = 2 > 0, so the first step is -lr
    new, _ = opt.update(params, {"w": np.array([0.0])}, opt.init(params))
    np.testing.assert_allclose(new["w"], [0.9], rtol=1e-14)


@pytest.mark.parametrize("opt", [SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
                                 Adam(lr=0.1, weight_decay=0.1)])
def test_updates_are_pure(opt):
    params = {"fc": {"W": np.ones((2, 2)), "b": np.zeros(2)}}
    grads = {"fc": {"W": np.full((2, 2), 0.5), "b": np.ones(2)}}
    state = opt.update(params, grads, opt.init(params))[1]
    before = copy.deepcopy((params, grads, state))
    new_params, new_state = opt.update(params, grads, state)
    assert tree_equal(params, before[0]) and tree_equal(grads, before[1])
    assert state["step"] == before[2]["step"]
    for key in state:
        if key != "step":
            assert tree_equal(state[key], before[2][key])
    assert not tree_equal(new_params, params) and new_state["step"] == state["step"] + 1
    # replaying the same step gives bitwise the same result
    again = opt.update(params, grads, state)
    assert tree_equal(again[0], new_params)


def test_adam_is_its_formula_bit_for_bit():
    # nested trees, 0-d leaves and float32: each step rounds exactly like the documented
    # expression (a faster rewrite must keep every rounding)
    rng = np.random.default_rng(0)
    for dtypes in ((np.float64,) * 3, (np.float32,) * 3, (np.float32, np.float64, np.float32)):
        opt, t = Adam(lr=3e-3, weight_decay=0.01), 5
        params = {"w": rng.standard_normal((5, 10)).astype(dtypes[0]),
                  "b": {"c": rng.standard_normal(20).astype(dtypes[1]), "d": {}},
                  "a": np.array(0.7, dtypes[2])}
        grads = tree_map(lambda w: rng.standard_normal(np.shape(w)).astype(w.dtype), params)
        state = {"step": t - 1, "m": tree_map(lambda w: rng.standard_normal(w.shape).astype(
            w.dtype), params), "v": tree_map(lambda w: rng.random(w.shape).astype(w.dtype), params)}
        new, new_state = opt.update(params, grads, state)
        for k, w in tree_leaves(params):
            g = tree_get(grads, k) + 0.01 * w
            m = 0.9 * tree_get(state["m"], k) + (1 - 0.9) * g
            v = 0.999 * tree_get(state["v"], k) + (1 - 0.999) * g * g
            want = w - 3e-3 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
            for got, ref in ((new, want), (new_state["m"], m), (new_state["v"], v)):
                got = tree_get(got, k)
                assert got.dtype == w.dtype and got.shape == w.shape
                assert got.tobytes() == np.asarray(ref).tobytes()


@pytest.mark.parametrize("opt", [SGD(0.1), Adam()])
@pytest.mark.parametrize("lr", [0, -1.0, float("nan"), True, "0.1"])
def test_update_refuses_a_bad_lr(opt, lr):
    params = {"w": np.ones(2)}
    with pytest.raises(ValueError, match=r"\.update: lr must lie in \(0.0, inf\], got "):
        opt.update(params, {"w": np.ones(2)}, opt.init(params), lr=lr)


def test_numpy_float_hyper_parameters_are_accepted():
    params = {"w": np.ones(2)}
    for opt in (SGD(np.float32(0.5)), Adam(lr=np.float32(0.1), beta1=np.float64(0.8))):
        new, _ = opt.update(params, {"w": np.ones(2)}, opt.init(params), lr=np.float32(0.5))
        assert np.all(new["w"] < 1.0)


def test_lr_override_for_schedules():
    opt = SGD(0.1)
    params = {"w": np.array([1.0])}
    new, _ = opt.update(params, {"w": np.array([1.0])}, opt.init(params), lr=0.5)
    np.testing.assert_allclose(new["w"], [0.5])


@pytest.mark.parametrize("make, match", [
    (lambda: SGD(0.0), r"SGD: lr must lie in \(0.0, inf\], got 0.0"),
    (lambda: SGD(0.1, momentum=1.5), r"SGD: momentum must lie in \[0.0, 1.0\], got 1.5"),
    (lambda: SGD(0.1, weight_decay=-1.0), "SGD: weight_decay must lie in"),
    (lambda: SGD(0.1, nesterov=True), "SGD: nesterov=True needs momentum > 0"),
    (lambda: Adam(beta1=1.0), "Adam: beta1 and beta2 must be < 1"),
    (lambda: Adam(eps=0.0 - 1), "Adam: eps must lie in"),
    (lambda: Adam(lr=float("nan")), "Adam: lr must lie in"),
    (lambda: make_optimizer("rmsprop"),
     r"optimizer must be one of \['adam', 'sgd'\], got 'rmsprop'"),
])
def test_bad_hyper_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("opt", [SGD(0.1), Adam()])
def test_grads_must_match_params(opt):
    params = {"w": np.ones(3)}
    with pytest.raises(ValueError, match=r"grads does not match params at 'w': shape \(2, 3\), "
                                         r"expected \(3,\)"):
        opt.update(params, {"w": np.ones((2, 3))}, opt.init(params))
    with pytest.raises(ValueError, match="parameter trees differ"):
        opt.update(params, {"v": np.ones(3)}, opt.init(params))


def test_make_optimizer():
    assert make_optimizer("sgd", lr=0.1, momentum=0.9) == SGD(0.1, momentum=0.9)
    assert make_optimizer("adam", lr=1e-3) == Adam(lr=1e-3)
