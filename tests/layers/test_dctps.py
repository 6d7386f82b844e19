"""DCTpSLinear and DCTpSConv2d against the original implementation's dense construction."""
import tracemalloc

import numpy as np
import pytest
import scipy.fftpack
from hypothesis import given
from hypothesis import strategies as st

from refnet.layers import DCTpSConv2d, DCTpSLinear, SparseLinear
from refnet.ops import FixedOperator, TruncatedDCT

from layers.test_sparse import direct_conv


def original_dct_weight(n_in, n_out):
    """The original code's frozen ``(in, out)`` weight ``f``, used as ``y = x @ f``."""
    q = max(n_in, n_out)
    return scipy.fftpack.dct(np.eye(q), norm="ortho")[:n_in, :n_out]


def original_dct_kernel(cin, cout, kh, kw):
    """The original DCTconv2d kernel: ``f`` reshaped to (kh, kw, cin, cout), then to
    (cout, cin, kh, kw).  (The original only has square kernels; the same reshape
    defines the rectangular case.)"""
    f = original_dct_weight(kh * kw * cin, cout)
    return np.transpose(f.reshape(kh, kw, cin, cout), (3, 2, 0, 1))


def random_params(layer, rng):
    params = layer.init(rng)
    params["S"] = rng.standard_normal(layer.nnz)
    if "alpha" in params:
        params["alpha"] = np.array(0.6)
    if "b" in params:
        params["b"] = rng.standard_normal(params["b"].shape)
    return params


@given(n=st.integers(1, 12), m=st.integers(1, 12), batch=st.integers(1, 4),
       train_alpha=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_linear_equals_the_original_method(n, m, batch, train_alpha, seed):
    """Forward and every cotangent against alpha * x @ f + x @ (S * mask).T, to 1e-12."""
    rng = np.random.default_rng(seed)
    layer = DCTpSLinear(n, m, nnz=int(rng.integers(1, n * m + 1)), rng=rng,
                        alpha=-1.7, train_alpha=train_alpha)
    params = random_params(layer, rng)
    alpha = 0.6 if train_alpha else -1.7
    f = original_dct_weight(n, m)
    mask = np.zeros((m, n))
    mask[layer.rows, layer.cols] = 1.0
    S = layer.support.to_dense(params["S"])
    x, y_bar = rng.standard_normal((batch, n)), rng.standard_normal((batch, m))
    y, cache = layer.forward(params, x)
    np.testing.assert_allclose(y, alpha * (x @ f) + x @ (S * mask).T + params["b"],
                               rtol=0, atol=1e-12)
    x_bar, grads = layer.vjp(params, cache, y_bar)
    np.testing.assert_allclose(x_bar, alpha * (y_bar @ f.T) + y_bar @ (S * mask),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(grads["S"], ((y_bar.T @ x) * mask)[layer.rows, layer.cols],
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(grads["b"], y_bar.sum(0), rtol=0, atol=1e-12)
    if train_alpha:
        np.testing.assert_allclose(grads["alpha"], np.sum(y_bar * (x @ f)), rtol=0, atol=1e-12)
        assert grads["alpha"].shape == ()
    else:
        assert set(grads) == {"S", "b"}


@pytest.mark.parametrize("cin, cout, kernel, stride, padding", [
    (3, 8, (3, 3), 1, 1),      # P = 27 > cout: the DCT truncates
    (2, 40, (3, 3), 2, 0),     # P = 18 < cout: the patch is zero-padded
    (4, 36, (3, 3), 1, 2),     # P = cout: square
    (3, 5, (2, 3), 2, 1),      # rectangular kernel
])
def test_conv_equals_a_direct_convolution_with_the_original_kernel(cin, cout, kernel, stride,
                                                                     padding):
    rng = np.random.default_rng(0)
    layer = DCTpSConv2d(cin, cout, kernel, stride, padding, density=0.2, rng=1)
    params = random_params(layer, rng)
    kh, kw = kernel
    S_kernel = np.zeros((cout, kh, kw, cin))             # the sparse part, densified
    S_kernel.reshape(cout, -1)[layer.rows, layer.cols] = params["S"]
    S_kernel = S_kernel.transpose(0, 3, 1, 2)
    dense = 0.6 * original_dct_kernel(cin, cout, kh, kw) + S_kernel
    x = rng.standard_normal((2, cin, 7, 6))
    expected = direct_conv(x, dense, stride, padding) + params["b"][:, None, None]
    y, cache = layer.forward(params, x)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)
    # the VJP against the same dense kernel: <y_bar, conv(x_dir)> = <x_bar, x_dir>
    y_bar = rng.standard_normal(y.shape)
    x_bar, grads = layer.vjp(params, cache, y_bar)
    x_dir = rng.standard_normal(x.shape)
    assert abs(np.sum(y_bar * direct_conv(x_dir, dense, stride, padding))
               - np.sum(x_bar * x_dir)) < 1e-11 * np.sum(np.abs(x_bar * x_dir))
    alpha_bar = np.sum(y_bar * direct_conv(x, original_dct_kernel(cin, cout, kh, kw),
                                           stride, padding))
    np.testing.assert_allclose(grads["alpha"], alpha_bar, rtol=1e-12)


def test_alpha_is_a_parameter_or_a_fixed_attribute():
    trained = DCTpSLinear(4, 3, nnz=2, rng=0)
    assert trained.param_shapes() == {"S": (2,), "alpha": (), "b": (3,)}
    params = trained.init(0)
    assert params["alpha"].shape == () and params["alpha"] == 1.0
    np.testing.assert_array_equal(params["S"], 0.0)          # the paper's S = 0
    frozen = DCTpSLinear(4, 3, nnz=2, rng=0, alpha=2.0, train_alpha=False)
    assert frozen.param_shapes() == {"S": (2,), "b": (3,)} and frozen.alpha == 2.0
    x = np.random.default_rng(0).standard_normal((2, 4))
    np.testing.assert_allclose(frozen(frozen.init(0), x), 2.0 * trained(params, x), atol=1e-14)
    with pytest.raises(ValueError, match="alpha must be a finite number"):
        DCTpSLinear(4, 3, nnz=2, rng=0, alpha=float("nan"))


def test_alpha_after_an_update_step_is_accepted():
    """``alpha - lr * alpha_bar`` on 0-d arrays is a numpy scalar: the layer takes it."""
    layer = DCTpSLinear(4, 3, nnz=2, rng=0)
    params = layer.init(0)
    x = np.ones((2, 4))
    y, cache = layer.forward(params, x)
    _, grads = layer.vjp(params, cache, np.ones_like(y))
    stepped = {k: params[k] - 0.1 * grads[k] for k in params}
    assert isinstance(stepped["alpha"], np.float64)
    y2, _ = layer.forward(stepped, x)
    assert y2.shape == y.shape
    with pytest.raises(ValueError, match=r"params\['alpha'\] has shape \(1,\)"):
        layer.forward(dict(params, alpha=np.ones(1)), x)


def test_one_vjp_call_gives_the_whole_jacobian():
    layer = DCTpSLinear(5, 7, nnz=6, rng=0, alpha=0.8, train_alpha=False)
    params = random_params(layer, np.random.default_rng(1))
    x = np.random.default_rng(2).standard_normal((3, 5))
    y, cache = layer.forward(params, x)
    eye = np.broadcast_to(np.eye(7)[:, None, :], (7, 3, 7))      # lead axis of 7 outputs
    x_bar, _ = layer.vjp(params, cache, eye, need_params=False)
    W = layer.dense_matrix(params)
    for b in range(3):
        np.testing.assert_allclose(x_bar[:, b, :], W, atol=1e-14)
    x_dot = np.broadcast_to(np.eye(5)[:, None, :], (5, 3, 5))
    np.testing.assert_allclose(layer.jvp(params, cache, x_dot)[:, 0, :], W.T, atol=1e-14)


def test_zero_s_is_exactly_alpha_times_the_dct():
    """At the paper's initialisation the layer is alpha * D, whatever the density."""
    x = np.random.default_rng(0).standard_normal((4, 9))
    D = TruncatedDCT(9, 6)
    for density in (1e-2, 0.5, 1.0):
        layer = DCTpSLinear(9, 6, density=density, rng=0, bias=False)
        np.testing.assert_allclose(layer(layer.init(0), x), D.apply(x), atol=1e-15)


def test_forward_and_vjp_never_allocate_anything_m_by_n():
    """n = m = 16384, density 1e-4, batch 8: the traced peak stays under 64 MiB.

    A dense D would be 16384**2 * 8 B = 2 GiB, and ANY array of m * n entries,
    even a boolean mask, is 256 MiB, so the bound catches a single m x n
    allocation of any dtype.  What the layer legitimately allocates is
    O(B q + nnz): x, x.T, y, y_bar, y_bar.T, x_bar and the DCT outputs are
    1 MiB each at B = 8, q = 16384; the 26,844 support positions with their
    index arrays are under 1 MiB; sampling them draws O(nnz) integers; the
    gather blocks are 2 x 1 MiB at most.  About 10-15 MiB in all, so 64 MiB
    leaves room for numpy's and scipy's own temporaries.
    """
    n = m = 16384
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, n))
    y_bar = rng.standard_normal((8, m))
    tracemalloc.start()
    try:
        layer = DCTpSLinear(n, m, density=1e-4, rng=1)
        params = layer.init(2)
        params["S"] = rng.standard_normal(layer.nnz)
        params["alpha"] = np.array(0.7)
        y, cache = layer.forward(params, x)
        x_bar, grads = layer.vjp(params, cache, y_bar)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert layer.nnz == 26844
    assert peak < 64 * 2**20, f"traced peak {peak / 2**20:.1f} MiB"
    # and the numbers are right: the exact adjoint identity of the linear part
    lhs, rhs = np.sum(y_bar * (y - params["b"])), np.sum(x_bar * x)
    assert abs(lhs - rhs) < 1e-12 * (np.sum(np.abs(y_bar * y)) + np.sum(np.abs(x_bar * x)))
    assert grads["S"].shape == (26844,) and grads["alpha"].shape == ()


def test_sparse_linear_is_a_dctps_layer_without_the_offset():
    layer = DCTpSLinear(6, 5, nnz=8, rng=3)
    sparse = SparseLinear(6, 5, support=layer.support)
    params = random_params(layer, np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((2, 6))
    expected = sparse({"S": params["S"], "b": params["b"]}, x) + 0.6 * TruncatedDCT(6, 5).apply(x)
    np.testing.assert_allclose(layer(params, x), expected, atol=1e-14)


def test_dct_is_the_default_and_unchanged():
    """offset="dct" is what a DCTpS layer always was: the same numbers, bitwise."""
    rng = np.random.default_rng(3)
    default = DCTpSLinear(10, 6, nnz=9, rng=4)
    explicit = DCTpSLinear(10, 6, nnz=9, rng=4, offset=TruncatedDCT(10, 6))
    assert type(default.offset) is TruncatedDCT and default.offset_name == "dct"
    assert default.init_name == "zeros"
    params = random_params(default, rng)
    x = rng.standard_normal((4, 10))
    np.testing.assert_array_equal(default(params, x), explicit(params, x))


def test_none_is_a_sparse_layer():
    """No offset, no alpha, Kaiming (dense) values by default: bitwise SparseLinear."""
    layer = DCTpSLinear(8, 5, density=0.3, rng=2, offset="none")
    sparse = SparseLinear(8, 5, density=0.3, rng=2)
    assert layer.offset is None and layer.param_shapes() == sparse.param_shapes()
    assert layer.offset_name == "none"
    params = layer.init(0)
    for key, value in sparse.init(0).items():
        np.testing.assert_array_equal(params[key], value)
    x = np.random.default_rng(1).standard_normal((3, 8))
    np.testing.assert_array_equal(layer(params, x), sparse(params, x))


def test_any_fixed_operator_is_an_offset():
    """A FixedOperator of the right shape takes the DCT's place; its name is the layer's."""
    class Flip(FixedOperator):
        name = "flip"

        def apply(self, x):
            return np.ascontiguousarray(x[..., ::-1])

        adjoint = apply

    layer = DCTpSConv2d(1, 4, (2, 2), nnz=3, rng=0, offset=Flip(4, 4))
    assert layer.offset_name == "flip"
    params = random_params(layer, np.random.default_rng(0))
    np.testing.assert_allclose(layer.dense_matrix(params), 0.6 * np.eye(4)[::-1]
                               + layer.support.to_dense(params["S"]), atol=1e-15)


@pytest.mark.parametrize("kwargs, message", [
    (dict(offset="fourier"), "offset must be 'dct', 'none' or a FixedOperator"),
    (dict(offset="orthogonal"), "refnet.offsets.make_offset"),
    (dict(offset=None), "offset must be 'dct', 'none' or a FixedOperator"),
    (dict(offset="none", alpha=0.5), "offset 'none' has no alpha"),
    (dict(offset="none", train_alpha=False), "offset 'none' has no alpha"),
    (dict(offset=TruncatedDCT(4, 4)), r"offset has shape \(4, 4\), expected \(3, 4\)"),
    (dict(alpha=np.inf), "alpha must be a finite number"),
])
def test_bad_offsets_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DCTpSLinear(4, 3, nnz=2, rng=0, **kwargs)
