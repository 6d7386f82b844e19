"""AvgPool2d and MaxPool2d against direct loops; MaxPool2d's tie rule on hand-made ties."""
import numpy as np
import pytest

from refnet.layers import AvgPool2d, MaxPool2d
from refnet.testing import check_layer, distinct_values

# (kernel, stride, padding, (C, H, W)): default stride, overlapping, gapped, sizes of 1
CONFIGS = [
    (1, None, 0, (1, 1, 1)),
    (2, None, 0, (2, 4, 5)),
    (3, 1, 1, (2, 4, 3)),
    ((3, 2), (2, 3), (1, 1), (3, 5, 7)),
    ((2, 3), 1, (1, 0), (1, 2, 3)),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _geometry(kernel, stride, padding):
    kernel = _pair(kernel)
    return kernel, kernel if stride is None else _pair(stride), _pair(padding)


def _windows(x, kernel, stride, padding, fill):
    """Yield (index, window, (row0, col0)) of every output, padded with ``fill``."""
    (kh, kw), (sh, sw), (ph, pw) = _geometry(kernel, stride, padding)
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), fill)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    for s, ch, i, j in np.ndindex(n, c, ho, wo):
        yield (s, ch, i, j), xp[s, ch, i * sh:i * sh + kh, j * sw:j * sw + kw], \
            (i * sh - ph, j * sw - pw)


def avgpool_loop(x, kernel, stride, padding):
    out = {}
    for idx, window, _ in _windows(x, kernel, stride, padding, 0.0):
        out[idx] = window.sum() / window.size          # zero padding counted
    return out


def maxpool_loop(x, y_bar, kernel, stride, padding):
    """Forward values and x_bar, choosing the FIRST maximum in row-major window order."""
    out, x_bar = {}, np.zeros_like(x)
    kw = _pair(kernel)[1]
    for idx, window, (r0, c0) in _windows(x, kernel, stride, padding, -np.inf):
        best = None
        for a, b in np.ndindex(*window.shape):        # row-major order
            if best is None or window[a, b] > window[best]:
                best = (a, b)
        out[idx] = window[best]
        x_bar[idx[0], idx[1], r0 + best[0], c0 + best[1]] += y_bar[idx]
    return out, x_bar


def _as_array(values, shape):
    y = np.empty(shape)
    for idx, v in values.items():
        y[idx] = v
    return y


@pytest.mark.parametrize("config", CONFIGS)
def test_avgpool_matches_the_loop(config):
    kernel, stride, padding, shape = config
    layer = AvgPool2d(kernel, stride, padding)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2,) + shape)
    y, cache = layer.forward({}, x)
    assert y.shape == (2,) + layer.output_shape(shape)
    np.testing.assert_allclose(y, _as_array(avgpool_loop(x, kernel, stride, padding), y.shape),
                               rtol=1e-13, atol=1e-15)
    # the VJP is the transpose: <y_bar, pool(e_k)> for every unit vector e_k
    y_bar = rng.standard_normal(y.shape)
    x_bar, grads = layer.vjp({}, cache, y_bar)
    assert grads == {}
    expected = np.zeros_like(x)
    for k in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[k] = 1.0
        expected[k] = np.sum(y_bar * _as_array(avgpool_loop(e, kernel, stride, padding), y.shape))
    np.testing.assert_allclose(x_bar, expected, rtol=1e-13, atol=1e-15)


def test_avgpool_counts_the_zero_padding():
    y = AvgPool2d(3, stride=1, padding=1)({}, np.ones((1, 1, 3, 3)))
    np.testing.assert_allclose(y[0, 0], np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 9)


@pytest.mark.parametrize("config", CONFIGS)
def test_maxpool_matches_the_loop(config):
    kernel, stride, padding, shape = config
    layer = MaxPool2d(kernel, stride, padding)
    rng = np.random.default_rng(1)
    x = distinct_values(rng, (2,) + shape) - 100.0     # all negative: zero padding would win
    y, cache = layer.forward({}, x)
    y_bar = rng.standard_normal(y.shape)
    values, x_bar_loop = maxpool_loop(x, y_bar, kernel, stride, padding)
    np.testing.assert_array_equal(y, _as_array(values, y.shape))
    x_bar, grads = layer.vjp({}, cache, y_bar)
    np.testing.assert_allclose(x_bar, x_bar_loop, rtol=1e-14, atol=0)   # sums in another order
    assert grads == {}
    x_dot = rng.standard_normal(x.shape)
    # the JVP picks the tangent at each window's winner: <y_bar, y_dot> = <x_bar, x_dot>
    y_dot = layer.jvp({}, cache, x_dot)
    assert np.isclose(np.sum(y_bar * y_dot), np.sum(x_bar_loop * x_dot), rtol=1e-13)


def test_maxpool_ties_go_to_the_first_maximum_in_row_major_order():
    layer = MaxPool2d(2)
    x = np.array([[[[1.0, 5.0, 7.0, 7.0],
                    [5.0, 2.0, 7.0, 7.0]]]])            # window 1: a 2-way tie, window 2: 4-way
    y, cache = layer.forward({}, x)
    np.testing.assert_array_equal(y, [[[[5.0, 7.0]]]])
    x_bar, _ = layer.vjp({}, cache, np.array([[[[10.0, 20.0]]]]))
    np.testing.assert_array_equal(x_bar, [[[[0.0, 10.0, 20.0, 0.0],
                                            [0.0, 0.0, 0.0, 0.0]]]])
    x_dot = np.arange(8.0).reshape(x.shape)
    np.testing.assert_array_equal(layer.jvp({}, cache, x_dot), [[[[1.0, 2.0]]]])


def test_maxpool_tie_across_overlapping_windows():
    # windows (stride 1) [3, 3] and [3, 3]: each picks its own first entry
    layer = MaxPool2d((1, 2), stride=1)
    y, cache = layer.forward({}, np.array([[[[3.0, 3.0, 3.0]]]]))
    x_bar, _ = layer.vjp({}, cache, np.ones_like(y))
    np.testing.assert_array_equal(x_bar, [[[[1.0, 1.0, 0.0]]]])


def test_maxpool_pixel_winning_several_windows_collects_their_sum():
    layer = MaxPool2d(2, stride=1)
    x = np.array([[[[0.0, 1.0, 0.0], [2.0, 9.0, 3.0], [0.0, 4.0, 0.0]]]])
    y, cache = layer.forward({}, x)
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 2), 9.0))
    x_bar, _ = layer.vjp({}, cache, np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert x_bar[0, 0, 1, 1] == 10.0 and np.count_nonzero(x_bar) == 1


def test_maxpool_pads_with_minus_infinity():
    y = MaxPool2d(3, stride=1, padding=1)({}, -np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(y, -np.ones((1, 1, 2, 2)))


@pytest.mark.parametrize("cls", [AvgPool2d, MaxPool2d])
def test_two_leading_tangent_axes(cls):
    layer = cls(2, stride=1, padding=1)
    rng = np.random.default_rng(2)
    x = distinct_values(rng, (2, 3, 3, 4))
    y, cache = layer.forward({}, x)
    y_bar = rng.standard_normal((2, 3) + y.shape)
    x_dot = rng.standard_normal((2, 3) + x.shape)
    x_bar, _ = layer.vjp({}, cache, y_bar)
    y_dot = layer.jvp({}, cache, x_dot)
    assert x_bar.shape == (2, 3) + x.shape and y_dot.shape == (2, 3) + y.shape
    for k in np.ndindex(2, 3):
        np.testing.assert_allclose(x_bar[k], layer.vjp({}, cache, y_bar[k])[0], rtol=1e-14)
        np.testing.assert_allclose(y_dot[k], layer.jvp({}, cache, x_dot[k]), rtol=1e-14)
    assert layer.vjp({}, cache, y_bar, need_params=False)[1] is None


@pytest.mark.parametrize("cls", [AvgPool2d, MaxPool2d])
@pytest.mark.parametrize("config", CONFIGS)
def test_passes_the_checker(cls, config):
    kernel, stride, padding, shape = config
    x = distinct_values(np.random.default_rng(3), (2,) + shape)
    report = check_layer(cls(kernel, stride, padding), x, seed=4)
    assert report.passed, str(report)
    assert ("adjoint" in {r.check for r in report.results}) == (cls is AvgPool2d)


@pytest.mark.parametrize("cls", [AvgPool2d, MaxPool2d])
def test_default_stride_is_the_kernel(cls):
    assert cls((2, 3)).stride == (2, 3)
    assert cls(2, stride=1).stride == (1, 1)


@pytest.mark.parametrize("cls", [AvgPool2d, MaxPool2d])
def test_errors_name_the_argument(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=f"{name}: padding must be at most half the kernel"):
        cls(3, padding=2)
    with pytest.raises(ValueError, match=f"{name}: kernel_size must be .* got 0"):
        cls(0)
    with pytest.raises(ValueError, match=f"{name}: stride must be .* got \\(1, 0\\)"):
        cls(2, stride=(1, 0))
    layer = cls(3)
    with pytest.raises(ValueError, match=fr"{name}: input shape \(1, 2, 4\): kernel 3 is larger"):
        layer.forward({}, np.zeros((1, 1, 2, 4)))
    with pytest.raises(ValueError,
                       match=fr"{name}: x has shape \(2, 4, 4\), expected \(B, C, H, W\)"):
        layer.forward({}, np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="params has keys"):
        layer.forward({"W": np.zeros(1)}, np.zeros((1, 1, 3, 3)))


def test_distinct_values():
    v = distinct_values(0, (4, 5, 6), gap=0.3)
    assert v.shape == (4, 5, 6)
    assert np.min(np.diff(np.sort(v.ravel()))) >= 0.3
    np.testing.assert_array_equal(v, distinct_values(0, (4, 5, 6), gap=0.3))
    assert not np.array_equal(v, distinct_values(1, (4, 5, 6), gap=0.3))
    for gap in (0, -1.0, np.inf, True):
        with pytest.raises(ValueError, match="gap must be a positive finite number"):
            distinct_values(0, (2,), gap=gap)


def test_maxpool_of_an_integer_image_is_that_of_its_float_copy():
    """Padding with -inf needs floats; an integer image is pooled as its float64 copy."""
    x = np.random.default_rng(0).integers(-9, 10, (2, 3, 4, 5))
    layer = MaxPool2d(3, stride=2, padding=1)
    y, cache = layer.forward({}, x)
    y64, cache64 = layer.forward({}, x.astype(np.float64))
    np.testing.assert_array_equal(y, y64)
    np.testing.assert_array_equal(cache.argmax, cache64.argmax)
