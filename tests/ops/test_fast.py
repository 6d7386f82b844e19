"""The fast path of refnet.ops.fast: equal to the plain reference, whatever the blocks
and threads."""
import numpy as np
import pytest

from refnet.layers import DCTpSConv2d, DCTpSLinear, SparseConv2d, SparseLinear
from refnet.offsets import RandomizedDCT
from refnet.ops import CSRSupport, fast
from refnet.ops.fast import map_blocks, row_blocks, set_num_threads

from refnet.testing import perturbed_params as perturbed_init


def test_row_blocks_cover_the_rows_in_order():
    assert row_blocks(10, fast.BLOCK_BYTES // 3) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert row_blocks(5, 1) == [(0, 5)]
    assert row_blocks(0, 8) == []
    assert row_blocks(3, 10 * fast.BLOCK_BYTES) == [(0, 1), (1, 2), (2, 3)]


@pytest.mark.parametrize("threads", [1, 2])
def test_map_blocks_returns_results_in_block_order(threads, monkeypatch):
    monkeypatch.setattr(fast, "_num_threads", threads)
    blocks = row_blocks(7, fast.BLOCK_BYTES // 2)
    assert map_blocks(lambda i, a, b: (i, a, b), blocks) == [
        (i, a, b) for i, (a, b) in enumerate(blocks)]
    # a call from inside a block runs serially instead of waiting for a busy pool
    nested = map_blocks(lambda i, a, b: map_blocks(lambda j, c, d: j, blocks), blocks)
    assert nested == [list(range(len(blocks)))] * len(blocks)


def test_set_num_threads_validates():
    with pytest.raises(ValueError, match="n must be 1 or 2"):
        set_num_threads(3)


LAYERS = [(DCTpSLinear(12, 9, nnz=30, rng=0), (12,)),
          (DCTpSLinear(7, 15, nnz=20, rng=1, train_alpha=False, alpha=-0.4), (7,)),
          (SparseLinear(10, 6, nnz=25, rng=2), (10,)),
          (DCTpSConv2d(2, 5, 3, 1, 1, nnz=20, rng=3), (2, 5, 4)),
          (SparseConv2d(3, 4, 2, 2, 0, nnz=15, rng=4), (3, 6, 5))]


@pytest.mark.parametrize("layer, in_shape", LAYERS,
                         ids=[f"{type(layer).__name__}-{i}" for i, (layer, _) in enumerate(LAYERS)])
def test_threads_and_blocks_give_bitwise_the_same_numbers(layer, in_shape, monkeypatch):
    """One thread or two, the same blocks give identical results; many small blocks
    give the same numbers as one block to rounding (sums over blocks reassociate)."""
    rng = np.random.default_rng(0)
    params = perturbed_init(layer, rng)
    x = rng.standard_normal((6,) + in_shape)
    y_probe = layer(params, x)
    y_bar = rng.standard_normal((3,) + y_probe.shape)        # with a leading axis
    x_dot = rng.standard_normal((2,) + x.shape)

    def run():
        y, cache = layer.forward(params, x)
        x_bar, grads = layer.vjp(params, cache, y_bar)
        return [y, x_bar, layer.jvp(params, cache, x_dot)] + [grads[k] for k in sorted(grads)]

    monkeypatch.setattr(fast, "BLOCK_BYTES", 1)          # one row per block
    monkeypatch.setattr(fast, "_num_threads", 1)
    serial = run()
    monkeypatch.setattr(fast, "_num_threads", 2)
    for a, b in zip(serial, run()):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(fast, "BLOCK_BYTES", 1 << 30)    # a single block
    for i, (a, b) in enumerate(zip(serial, run())):
        if i in (0, 2):     # y and y_dot are computed row by row: the blocks change no bit
            np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def _pass(layer, params, x, y_bar, x_dot):
    y, cache = layer.forward(params, x)
    x_bar, grads = layer.vjp(params, cache, y_bar)
    x_bar_only, none = layer.vjp(params, cache, y_bar, need_params=False)
    assert none is None
    return [y, x_bar, x_bar_only, layer.jvp(params, cache, x_dot)] + [
        grads[k] for k in sorted(grads)]


SUPPORTS = [(n_in, n_out, nnz, seed) for seed, (n_in, n_out, nnz) in enumerate(
    [(12, 9, 30), (7, 15, 0), (40, 33, 200), (33, 40, 1320), (64, 48, 500)])]


@pytest.mark.parametrize("n_in, n_out, nnz, seed", SUPPORTS)
@pytest.mark.parametrize("offset", ["dct", "randomized-dct", "none"])
@pytest.mark.parametrize("batch", [0, 1, 5, 70])
def test_fast_equals_plain_on_random_supports(n_in, n_out, nnz, seed, offset, batch,
                                              monkeypatch):
    """Every output of forward, VJP (with and without parameters) and JVP, with two
    leading tangent axes, to 1e-12; also with tiny blocks and chunks (many of them)."""
    rng = np.random.default_rng(seed)
    if offset == "randomized-dct":
        offset = RandomizedDCT(n_in, n_out, seed)
    layer = DCTpSLinear(n_in, n_out, nnz=nnz, rng=seed, offset=offset)
    params = perturbed_init(layer, rng)
    x = rng.standard_normal((batch, n_in))
    y_bar = rng.standard_normal((2, 3, batch, n_out))
    x_dot = rng.standard_normal((2, batch, n_in))
    monkeypatch.setattr(fast, "ENABLED", False)
    plain = _pass(layer, params, x, y_bar, x_dot)
    monkeypatch.setattr(fast, "ENABLED", True)
    for block, chunk in ((fast.BLOCK_BYTES, fast.GATHER_CHUNK_BYTES), (8 * 80, 64)):
        monkeypatch.setattr(fast, "BLOCK_BYTES", block)
        monkeypatch.setattr(fast, "GATHER_CHUNK_BYTES", chunk)
        for a, b in zip(plain, _pass(layer, params, x, y_bar, x_dot)):
            assert a.shape == b.shape
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def test_fast_value_cotangent_equals_the_plain_gather():
    s = CSRSupport.sample((40, 30), 333, 0)
    rng = np.random.default_rng(1)
    x, y_bar = rng.standard_normal((16, 30)), rng.standard_normal((2, 16, 40))
    yt = np.ascontiguousarray(y_bar.reshape(32, 40).T)
    np.testing.assert_allclose(fast.value_cotangent(s, yt, np.ascontiguousarray(x.T)),
                               s.value_cotangent(y_bar, x), rtol=1e-12, atol=1e-12)


def test_the_used_columns_give_the_same_bits():
    s = CSRSupport.sample((40, 300), 50, 0)           # 50 entries in fewer than 50 columns
    rng = np.random.default_rng(2)
    values, xt, yt = rng.standard_normal(50), rng.standard_normal((300, 8)), \
        rng.standard_normal((40, 16))
    S_used, used = fast.matrix(s, values, columns=True)
    assert len(used) < 50 and np.array_equal(used, np.unique(s.cols))
    assert np.array_equal(S_used @ xt[used], s.csr(values) @ xt)
    assert np.array_equal(fast.value_cotangent(s, yt, xt[used], S_used.indices),
                          fast.value_cotangent(s, yt, xt))
    dense = CSRSupport.sample((40, 30), 333, 0)        # most columns: S itself
    S, used = fast.matrix(dense, np.ones(333), columns=True)
    assert used is None and np.array_equal(S.indices, dense.cols)


@pytest.mark.parametrize("layer, in_shape", LAYERS,
                         ids=[f"{type(layer).__name__}-{i}" for i, (layer, _) in enumerate(LAYERS)])
def test_fast_equals_plain_for_every_sparse_layer(layer, in_shape, monkeypatch):
    rng = np.random.default_rng(1)
    params = perturbed_init(layer, rng)
    x = rng.standard_normal((4,) + in_shape)
    y_shape = layer(params, x).shape
    y_bar, x_dot = rng.standard_normal((3,) + y_shape), rng.standard_normal((2,) + x.shape)
    monkeypatch.setattr(fast, "ENABLED", False)
    plain = _pass(layer, params, x, y_bar, x_dot)
    monkeypatch.setattr(fast, "ENABLED", True)
    for a, b in zip(plain, _pass(layer, params, x, y_bar, x_dot)):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def test_cached_matrices_follow_the_values_support_and_dtype(monkeypatch):
    # one support, values changing from call to call (as in training), other dtypes, and more
    # supports than the cache holds: always the plain products
    monkeypatch.setattr(fast, "MATRIX_CACHE_SIZE", 3)
    rng = np.random.default_rng(5)
    supports = [CSRSupport.sample((7, 11), 20, rng) for _ in range(5)]
    x = rng.standard_normal((11, 4))
    for _ in range(3):
        for support in supports:
            for dtype in (np.float64, np.float32):
                values = rng.standard_normal(20).astype(dtype)
                S, S_T = fast.matrix(support, values), fast.matrix(support, values, True)
                assert S.dtype == dtype and S_T.dtype == dtype
                assert np.array_equal(S @ x, support.csr(values) @ x)
                assert np.array_equal(S_T @ x[:7], support.csr_transpose(values) @ x[:7])
    with pytest.raises(ValueError, match=r"values has shape \(3,\)"):
        fast.matrix(supports[0], np.ones(3))
