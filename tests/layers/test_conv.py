"""Conv2d against a direct nested-loop convolution, and its checks of arguments."""
import numpy as np
import pytest

from refnet.layers import Conv2d
from refnet.ops import im2col
from refnet.testing import check_layer, full_jacobians

# (in, out, kernel, stride, padding, bias, (H, W))
CONFIGS = [
    (1, 1, 1, 1, 0, True, (1, 1)),
    (2, 3, 3, 1, 1, True, (5, 4)),
    (3, 2, (2, 3), (2, 1), (0, 1), False, (6, 5)),
    (2, 2, (3, 1), 2, (1, 0), True, (3, 2)),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_loop(x, W, b, stride, padding):
    """PyTorch's definition, with xp the zero-padded x:

    y[n, o, i, j] = b[o] + sum_{c,a,b} W[o, c, a, b] * xp[n, c, i*sh + a, j*sw + b]
    """
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    n, c, h, w = x.shape
    o, _, kh, kw = W.shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + w] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n, o, ho, wo))
    for s in range(n):
        for q in range(o):
            for i in range(ho):
                for j in range(wo):
                    y[s, q, i, j] = np.sum(W[q] * xp[s, :, i * sh:i * sh + kh, j * sw:j * sw + kw])
                    if b is not None:
                        y[s, q, i, j] += b[q]
    return y


def conv_grads_loop(x, W, y_bar, stride, padding):
    """x_bar and W_bar by the chain rule applied entry by entry."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    n, c, h, w = x.shape
    o, _, kh, kw = W.shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + w] = x
    xp_bar, W_bar = np.zeros_like(xp), np.zeros_like(W)
    for s in range(n):
        for q in range(o):
            for i in range(y_bar.shape[2]):
                for j in range(y_bar.shape[3]):
                    window = (s, slice(None), slice(i * sh, i * sh + kh),
                              slice(j * sw, j * sw + kw))
                    xp_bar[window] += y_bar[s, q, i, j] * W[q]
                    W_bar[q] += y_bar[s, q, i, j] * xp[window]
    return xp_bar[:, :, ph:ph + h, pw:pw + w], W_bar


def _setup(config, batch=2, seed=0):
    c_in, c_out, kernel, stride, padding, bias, (h, w) = config
    layer = Conv2d(c_in, c_out, kernel, stride, padding, bias=bias)
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(v.shape) for k, v in layer.init(rng).items()}
    x = rng.standard_normal((batch, c_in, h, w))
    return layer, params, x, rng


@pytest.mark.parametrize("config", CONFIGS)
def test_forward_matches_the_loop(config):
    layer, params, x, _ = _setup(config)
    y, _ = layer.forward(params, x)
    expected = conv_loop(x, params["W"], params.get("b"), layer.stride, layer.padding)
    assert y.shape == (x.shape[0],) + layer.output_shape(x.shape[1:])
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12 * np.max(np.abs(expected)))


@pytest.mark.parametrize("config", CONFIGS)
def test_vjp_matches_the_loop(config):
    layer, params, x, rng = _setup(config)
    y, cache = layer.forward(params, x)
    y_bar = rng.standard_normal(y.shape)
    x_bar, grads = layer.vjp(params, cache, y_bar)
    x_bar_loop, W_bar_loop = conv_grads_loop(x, params["W"], y_bar, layer.stride, layer.padding)
    np.testing.assert_allclose(x_bar, x_bar_loop, rtol=0, atol=1e-12 * np.max(np.abs(x_bar_loop)))
    np.testing.assert_allclose(grads["W"], W_bar_loop, rtol=0,
                               atol=1e-12 * np.max(np.abs(W_bar_loop)))
    if layer.bias:
        np.testing.assert_allclose(grads["b"], y_bar.sum(axis=(0, 2, 3)), rtol=1e-13)
    assert set(grads) == set(params)


@pytest.mark.parametrize("config", CONFIGS)
def test_jvp_is_the_forward_without_bias(config):
    layer, params, x, rng = _setup(config)
    _, cache = layer.forward(params, x)
    x_dot = rng.standard_normal(x.shape)
    expected = conv_loop(x_dot, params["W"], None, layer.stride, layer.padding)
    np.testing.assert_allclose(layer.jvp(params, cache, x_dot), expected, rtol=0,
                               atol=1e-12 * np.max(np.abs(expected)))


def test_weight_matrix_is_the_channel_fastest_patch_layout():
    layer, params, x, _ = _setup(CONFIGS[2])
    w_mat = layer.weight_matrix(params)
    np.testing.assert_array_equal(w_mat, params["W"].transpose(0, 2, 3, 1).reshape(2, -1))
    cols = im2col(x, layer.kernel_size, layer.stride, layer.padding)
    y = layer(params, x)
    np.testing.assert_allclose(np.moveaxis(cols @ w_mat.T, -1, 1), y, rtol=1e-13, atol=1e-13)


def test_two_leading_tangent_axes():
    layer, params, x, rng = _setup(CONFIGS[1])
    y, cache = layer.forward(params, x)
    y_bar = rng.standard_normal((2, 3) + y.shape)
    x_bar, grads = layer.vjp(params, cache, y_bar)
    x_dot = rng.standard_normal((2, 3) + x.shape)
    y_dot = layer.jvp(params, cache, x_dot)
    assert x_bar.shape == (2, 3) + x.shape and y_dot.shape == (2, 3) + y.shape
    assert grads["W"].shape == (2, 3) + params["W"].shape and grads["b"].shape == (2, 3, 3)
    for k in np.ndindex(2, 3):
        xk, gk = layer.vjp(params, cache, y_bar[k])
        np.testing.assert_allclose(x_bar[k], xk, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(grads["W"][k], gk["W"], rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(grads["b"][k], gk["b"], rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(y_dot[k], layer.jvp(params, cache, x_dot[k]),
                                   rtol=1e-13, atol=1e-14)
    x_only, none = layer.vjp(params, cache, y_bar, need_params=False)
    assert none is None
    np.testing.assert_array_equal(x_only, x_bar)


def test_full_jacobian_against_finite_differences():
    layer, params, x, _ = _setup(CONFIGS[3], batch=1)
    exact, fd = full_jacobians(layer, params, x)
    np.testing.assert_allclose(exact, fd, rtol=0, atol=1e-7)


@pytest.mark.parametrize("config", CONFIGS)
def test_passes_the_checker(config):
    layer, params, x, _ = _setup(config)
    report = check_layer(layer, x, params, seed=1)
    assert "adjoint" in {r.check for r in report.results}
    assert report.passed, str(report)


def test_init_shapes_and_fan_in():
    layer = Conv2d(4, 64, (3, 5))
    params = layer.init(0)
    assert params["W"].shape == (64, 4, 3, 5) and params["W"].dtype == np.float64
    np.testing.assert_array_equal(params["b"], np.zeros(64))
    # kaiming-normal: std = sqrt(2 / fan_in), fan_in = 4 * 3 * 5
    assert abs(params["W"].std() / np.sqrt(2 / 60) - 1) < 0.05
    assert set(Conv2d(1, 2, 3, bias=False).init(0)) == {"W"}
    np.testing.assert_array_equal(Conv2d(2, 3, 2).init(7)["W"], Conv2d(2, 3, 2).init(7)["W"])


@pytest.mark.parametrize("args, kwargs, match", [
    ((0, 2, 3), {}, "Conv2d: in_channels must be an integer >= 1, got 0"),
    ((1, 2.5, 3), {}, "Conv2d: out_channels must be an integer >= 1, got 2.5"),
    ((1, 2, (3, 0)), {}, r"Conv2d: kernel_size must be .* got \(3, 0\)"),
    ((1, 2, 3), {"stride": 0}, "Conv2d: stride must be .* got 0"),
    ((1, 2, 3), {"padding": -1}, "Conv2d: padding must be .*>= 0, got -1"),
    ((1, 2, 3), {"init": "he"}, "init must be one of .* got 'he'"),
])
def test_constructor_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Conv2d(*args, **kwargs)


def test_shape_errors_name_what_was_expected():
    layer = Conv2d(3, 2, 3)
    params = layer.init(0)
    with pytest.raises(ValueError, match=r"Conv2d: input shape \(2, 5, 5\), expected \(3, H, W\)"):
        layer.forward(params, np.zeros((1, 2, 5, 5)))
    with pytest.raises(ValueError,
                       match=r"Conv2d: x has shape \(3, 5, 5\), expected \(B, 3, H, W\)"):
        layer.forward(params, np.zeros((3, 5, 5)))
    with pytest.raises(ValueError, match=r"Conv2d: input shape \(3, 2, 5\): kernel 3 is larger"):
        layer.output_shape((3, 2, 5))
    with pytest.raises(ValueError, match=r"params\['W'\] has shape \(2, 3, 2, 2\)"):
        layer.forward({"W": np.zeros((2, 3, 2, 2)), "b": np.zeros(2)}, np.zeros((1, 3, 5, 5)))
    _, cache = layer.forward(params, np.zeros((1, 3, 5, 5)))
    with pytest.raises(ValueError, match="Conv2d: y_bar has shape"):
        layer.vjp(params, cache, np.zeros((1, 2, 3, 4)))
    with pytest.raises(ValueError, match="Conv2d: x_dot has shape"):
        layer.jvp(params, cache, np.zeros((1, 3, 5, 4)))
