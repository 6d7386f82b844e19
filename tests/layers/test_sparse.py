"""SparseLinear and SparseConv2d: construction, inits, dense oracles, the API later issues use."""
import numpy as np
import pytest

from refnet.layers import DCTpSLinear, SparseConv2d, SparseLinear
from refnet.ops import CSRSupport


def direct_conv(x, kernel, stride, padding):
    """Cross-correlation of NCHW ``x`` with a (cout, cin, kh, kw) kernel, one output pixel
    at a time: an oracle that shares no code with im2col."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cout, _, kh, kw = kernel.shape
    ho = (xp.shape[2] - kh) // stride + 1
    wo = (xp.shape[3] - kw) // stride + 1
    y = np.zeros((x.shape[0], cout, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.einsum("bcuv,ocuv->bo", patch, kernel)
    return y


# -- construction -------------------------------------------------------------------
def test_exactly_one_way_to_give_the_support():
    with pytest.raises(ValueError, match="exactly one of nnz=, density= or support="):
        SparseLinear(4, 3, rng=0)
    with pytest.raises(ValueError, match=r"got \['nnz', 'density'\]"):
        SparseLinear(4, 3, nnz=2, density=0.1, rng=0)
    with pytest.raises(TypeError, match="needs rng="):
        SparseLinear(4, 3, nnz=2)
    with pytest.raises(ValueError, match="rng= samples a support, but support= was given"):
        SparseLinear(4, 3, support=([0], [1]), rng=0)
    with pytest.raises(ValueError, match=r"nnz must be at most 3 \* 4 = 12, got 13"):
        SparseLinear(4, 3, nnz=13, rng=0)
    with pytest.raises(ValueError, match="density must be a number in"):
        SparseLinear(4, 3, density=0.0, rng=0)
    with pytest.raises(ValueError, match="init must be one of"):
        SparseLinear(4, 3, nnz=2, rng=0, init="kaiming-normal")
    with pytest.raises(ValueError, match=r"support has shape \(4, 3\), expected \(3, 4\)"):
        SparseLinear(4, 3, support=CSRSupport.sample((4, 3), 2, 0))
    with pytest.raises(ValueError, match="out of range"):
        SparseLinear(4, 3, support=([3], [0]))


def test_density_and_explicit_support():
    layer = SparseLinear(40, 30, density=0.01, rng=0)
    assert layer.nnz == 12 and layer.shape == (30, 40)
    explicit = SparseLinear(4, 3, support=([2, 0, 0], [1, 3, 0]))
    np.testing.assert_array_equal(explicit.rows, [0, 0, 2])
    np.testing.assert_array_equal(explicit.cols, [0, 3, 1])
    assert explicit.param_shapes() == {"S": (3,), "b": (3,)}


def test_same_seed_same_layer_bitwise():
    a, b = SparseLinear(50, 40, density=0.05, rng=7), SparseLinear(50, 40, density=0.05, rng=7)
    assert a.support == b.support
    pa, pb = a.init(3), b.init(3)
    x = np.random.default_rng(0).standard_normal((4, 50))
    np.testing.assert_array_equal(a(pa, x), b(pb, x))
    assert SparseLinear(50, 40, density=0.05, rng=8).support != a.support


def test_zero_entries_is_allowed():
    layer = SparseLinear(3, 2, nnz=0, rng=0)
    params = layer.init(0)
    y, cache = layer.forward(params, np.ones((2, 3)))
    np.testing.assert_array_equal(y, 0.0)
    x_bar, grads = layer.vjp(params, cache, np.ones((2, 2)))
    assert x_bar.shape == (2, 3) and grads["S"].shape == (0,)


# -- initialisation ---------------------------------------------------------------------
def test_kaiming_dense_uses_the_dense_fan_in():
    layer = SparseLinear(300, 200, density=0.5, rng=0, init="kaiming-dense")
    values = layer.init(1)["S"]
    assert values.shape == (30000,)
    assert abs(values.std() / np.sqrt(2 / 300) - 1) < 0.03


def test_kaiming_sparse_uses_each_rows_actual_fan_in():
    layer = SparseLinear(1000, 400, density=0.02, rng=0, init="kaiming-sparse")
    values = layer.init(1)["S"]
    fan = np.diff(layer.support.indptr)[layer.rows]
    z = values / np.sqrt(2.0 / fan)
    assert abs(z.std() - 1) < 0.03 and abs(z.mean()) < 0.03
    # each output's pre-activation variance for unit inputs is 2, whatever its fan-in
    per_row = np.bincount(layer.rows, weights=values ** 2, minlength=400)
    assert abs(per_row[np.diff(layer.support.indptr) > 0].mean() - 2) < 0.1


def test_zeros_init_and_bias():
    params = SparseLinear(5, 4, nnz=6, rng=0, init="zeros").init(0)
    np.testing.assert_array_equal(params["S"], 0.0)
    np.testing.assert_array_equal(params["b"], 0.0)


# -- dense oracles -------------------------------------------------------------------
def test_sparse_linear_equals_the_masked_dense_layer():
    rng = np.random.default_rng(0)
    layer = SparseLinear(9, 7, density=0.3, rng=1)
    params = {"S": rng.standard_normal(layer.nnz), "b": rng.standard_normal(7)}
    S = np.zeros((7, 9))
    S[layer.rows, layer.cols] = params["S"]
    x, y_bar = rng.standard_normal((5, 9)), rng.standard_normal((5, 7))
    y, cache = layer.forward(params, x)
    np.testing.assert_allclose(y, x @ S.T + params["b"], rtol=0, atol=1e-13)
    x_bar, grads = layer.vjp(params, cache, y_bar)
    np.testing.assert_allclose(x_bar, y_bar @ S, rtol=0, atol=1e-13)
    mask = S != 0
    np.testing.assert_allclose(grads["S"], ((y_bar.T @ x) * mask)[layer.rows, layer.cols],
                               rtol=0, atol=1e-13)
    np.testing.assert_allclose(grads["b"], y_bar.sum(0), rtol=0, atol=1e-13)
    np.testing.assert_array_equal(layer.csr(params).toarray(), S)
    np.testing.assert_array_equal(layer.dense_matrix(params), S)


@pytest.mark.parametrize("stride, padding, kernel", [(1, 0, 3), (2, 1, 3), (1, 1, (2, 3)),
                                                     (3, 2, 1)])
def test_sparse_conv_equals_a_direct_convolution(stride, padding, kernel):
    rng = np.random.default_rng(0)
    layer = SparseConv2d(3, 4, kernel, stride, padding, density=0.4, rng=2)
    params = layer.init(rng)
    params["b"] = rng.standard_normal(4)
    dense = layer.matrix_to_kernel(layer.support.to_dense(params["S"]))
    assert dense.shape == layer.weight_shape
    x = rng.standard_normal((2, 3, 7, 6))
    expected = direct_conv(x, dense, stride, padding) + params["b"][:, None, None]
    np.testing.assert_allclose(layer(params, x), expected, rtol=0, atol=1e-12)


def test_sparse_conv_vjp_equals_the_dense_kernel_gradient():
    """S_bar is the dense kernel gradient read on the support (patch order kh, kw, cin)."""
    rng = np.random.default_rng(1)
    layer = SparseConv2d(2, 3, (3, 2), 2, 1, density=0.5, rng=0, bias=False)
    params = layer.init(rng)
    x = rng.standard_normal((2, 2, 5, 5))
    y, cache = layer.forward(params, x)
    y_bar = rng.standard_normal(y.shape)
    _, grads = layer.vjp(params, cache, y_bar)
    full = np.zeros(layer.weight_shape)
    kernel = layer.matrix_to_kernel(layer.support.to_dense(params["S"]))
    for idx in np.ndindex(*layer.weight_shape):   # the dense gradient, by linearity in W
        e = np.zeros(layer.weight_shape)
        e[idx] = 1.0
        full[idx] = np.sum(y_bar * direct_conv(x, e, 2, 1))
    expected = layer.support.gather(full.transpose(0, 2, 3, 1).reshape(full.shape[0], -1))
    np.testing.assert_allclose(grads["S"], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(y, direct_conv(x, kernel, 2, 1), atol=1e-12)


# -- the API for pruning, RigL and sparsity statistics -----------------------------
def test_with_support_builds_a_new_layer():
    layer = DCTpSLinear(6, 4, nnz=5, rng=0, alpha=0.3, train_alpha=False, bias=False)
    new_support = CSRSupport.sample((4, 6), 7, 1)
    moved = layer.with_support(new_support)
    assert moved.support is new_support and moved.nnz == 7 and layer.nnz == 5
    assert moved.alpha == 0.3 and moved.offset is layer.offset and not moved.bias
    assert layer.with_support((new_support.rows, new_support.cols)).support == new_support
    with pytest.raises(ValueError, match="support has shape"):
        layer.with_support(CSRSupport.sample((6, 4), 7, 1))


def test_vjp_of_a_float32_or_integer_input():
    """Data often comes as float32 (or integers); the parameter cotangents are then those
    of the same input in float64 (they used to fail in the gather of S's cotangent)."""
    from refnet.doping import DopingLinear
    from refnet.layers import DCTpSConv2d
    rng = np.random.default_rng(0)
    cases = [(SparseLinear(5, 4, nnz=7, rng=0), (3, 5)),
             (DCTpSLinear(5, 4, nnz=7, rng=0), (3, 5)),
             (DopingLinear(4, 6, nnz=5, rng=0), (3, 4)),
             (SparseConv2d(2, 3, 2, nnz=5, rng=0), (2, 2, 3, 3)),
             (DCTpSConv2d(2, 3, 2, nnz=5, rng=0), (2, 2, 3, 3))]
    for layer, shape in cases:
        params = layer.init(rng)
        params["S"] = rng.standard_normal(layer.nnz)
        for x in (rng.standard_normal(shape).astype(np.float32), rng.integers(-3, 4, shape)):
            x64 = x.astype(np.float64)
            y, cache = layer.forward(params, x)
            y_bar = rng.standard_normal((2,) + y.shape)
            x_bar, p_bar = layer.vjp(params, cache, y_bar)
            x_bar64, p_bar64 = layer.vjp(params, layer.forward(params, x64)[1], y_bar)
            np.testing.assert_allclose(x_bar, x_bar64, rtol=1e-13, atol=1e-13)
            for key in p_bar64:
                assert p_bar[key].dtype == np.float64
                np.testing.assert_allclose(p_bar[key], p_bar64[key], rtol=1e-13, atol=1e-13)


def test_an_image_smaller_than_the_kernel_is_refused_by_name():
    """As Conv2d does: the error names the layer and the input shape, not only the sizes."""
    from refnet.layers import DCTpSConv2d
    for cls in (SparseConv2d, DCTpSConv2d):
        layer = cls(1, 2, (3, 2), padding=0, nnz=2, rng=0)
        with pytest.raises(ValueError, match=rf"{cls.__name__}: input shape \(1, 2, 5\): "
                                             r"kernel 3 is larger than the padded input 2"):
            layer.forward(layer.init(0), np.ones((1, 1, 2, 5)))
        with pytest.raises(ValueError, match=rf"{cls.__name__}: input shape \(1, 4, 1\)"):
            layer.output_shape((1, 4, 1))
