"""The offsets of refnet.offsets: explicit matrices, exact adjoints, unit singular values,
bitwise-reproducible seeds, the errors of make_offset; DCTpS layers and models with every
offset: the dense formula, the conv's per-patch offset, specs that rebuild the same offsets."""
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refnet.layers import DCTpSConv2d, DCTpSLinear
from refnet.models import build_model, rebuild, supports_of
from refnet.offsets import (OFFSETS, RANDOM_OFFSETS, ImageDCT, RandomizedDCT, RandomOrthogonal,
                            RandomPermutation, RandomSigns, TruncatedIdentity, make_offset)
from refnet.ops import TruncatedDCT, dct_matrix

from layers.test_dctps import random_params
from layers.test_sparse import direct_conv

sizes = st.integers(1, 24)
ORTHONORMAL = [name for name in OFFSETS if name != "none"]


def offset(name, n, m, seed=0):
    return make_offset(name, n, m, seed if name in RANDOM_OFFSETS else None)


@pytest.mark.parametrize("name", ORTHONORMAL)
@given(n=sizes, m=sizes, seed=st.integers(0, 2**32 - 1))
def test_apply_and_adjoint_are_the_matrix_and_its_transpose(name, n, m, seed):
    """``matrix()`` comes from ``apply``; the adjoint must be its exact transpose, leading
    axes kept, nothing aliased or modified."""
    rng = np.random.default_rng(seed)
    O = offset(name, n, m, seed)
    M = O.matrix()
    assert M.shape == (m, n) == O.shape
    x, y = rng.standard_normal((2, 3, n)), rng.standard_normal((2, 3, m))
    x0, y0 = x.copy(), y.copy()
    Ox, OTy = O.apply(x), O.adjoint(y)
    tol = 1e-13 * np.sqrt(max(m, n))
    np.testing.assert_allclose(Ox, x @ M.T, rtol=0, atol=tol)
    np.testing.assert_allclose(OTy, y @ M, rtol=0, atol=tol)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
    assert Ox.flags.c_contiguous and OTy.flags.c_contiguous
    assert not np.shares_memory(Ox, x) and not np.shares_memory(OTy, y)
    # the adjoint identity on the operators themselves, no matrix involved
    lhs, rhs = np.sum(Ox * y), np.sum(x * OTy)
    assert abs(lhs - rhs) <= 1e-14 * (np.sum(np.abs(Ox * y)) + np.sum(np.abs(x * OTy)))


@pytest.mark.parametrize("name", ORTHONORMAL)
@pytest.mark.parametrize("n, m", [(1, 1), (16, 16), (33, 33), (12, 5), (5, 12)])
def test_all_singular_values_are_one(name, n, m):
    """Square: orthogonal.  Rectangular: orthonormal rows (m < n) or columns (m > n)."""
    M = offset(name, n, m).matrix()
    sv = np.linalg.svd(M, compute_uv=False)
    assert sv.shape == (min(m, n),)
    np.testing.assert_allclose(sv, 1.0, rtol=0, atol=1e-13)
    gram = M @ M.T if m <= n else M.T @ M
    np.testing.assert_allclose(gram, np.eye(min(m, n)), rtol=0, atol=1e-13)


@pytest.mark.parametrize("n, m", [(9, 9), (11, 4), (4, 11)])
def test_layer_scaled_offset_has_singular_values_alpha(n, m):
    """A DCTpS layer at S = 0 is alpha * O: all its singular values are |alpha|."""
    for name in ORTHONORMAL:
        layer = DCTpSLinear(n, m, nnz=3, rng=0, alpha=-1.7, train_alpha=False,
                            offset=offset(name, n, m, 5))
        sv = np.linalg.svd(layer.dense_matrix(layer.init(0)), compute_uv=False)
        np.testing.assert_allclose(sv, 1.7, rtol=0, atol=1e-13)


@given(n=sizes, m=sizes, seed=st.integers(0, 2**32 - 1))
def test_randomized_dct_is_the_stated_product(n, m, seed):
    """``O = P_out @ C[:m, :n] @ diag(s) @ P_in`` with (P @ x)[j] = x[perm[j]]."""
    O = RandomizedDCT(n, m, seed)
    D = dct_matrix(max(m, n))[:m, :n]
    P_in = np.eye(n)[O.perm_in]
    P_out = np.eye(m)[O.perm_out]
    np.testing.assert_allclose(O.matrix(), P_out @ D @ np.diag(O.signs) @ P_in, rtol=0,
                               atol=1e-13)
    assert set(np.unique(O.signs)) <= {-1.0, 1.0}
    # the draws, in the documented order
    rng = np.random.default_rng(seed)
    np.testing.assert_array_equal(O.perm_in, rng.permutation(n))
    np.testing.assert_array_equal(O.signs, 1.0 - 2.0 * rng.integers(0, 2, size=n))
    np.testing.assert_array_equal(O.perm_out, rng.permutation(m))


def test_randomized_dct_prefers_no_output():
    """The DCT puts a smooth input's energy in its first outputs; the randomised DCT
    spreads it: the largest share of |O x|^2 on one output is small."""
    n = m = 256
    x = np.cos(np.linspace(0, 1, n))[None, :]              # smooth
    share = lambda y: np.max(y ** 2) / np.sum(y ** 2)      # noqa: E731
    assert share(TruncatedDCT(n, m).apply(x)) > 0.9
    assert share(RandomizedDCT(n, m, 0).apply(x)) < 0.1


@given(n=sizes, m=sizes, seed=st.integers(0, 2**32 - 1))
def test_orthogonal_is_the_sign_corrected_qr_of_a_gaussian(n, m, seed):
    """``Q.T @ G`` is R with a positive diagonal: the Haar-distributed choice."""
    O = RandomOrthogonal(n, m, seed).matrix()
    G = np.random.default_rng(seed).standard_normal((max(m, n), min(m, n)))
    Q = O if m >= n else O.T
    R = Q.T @ G
    np.testing.assert_allclose(np.tril(R, -1), 0.0, rtol=0, atol=1e-12 * np.abs(G).max())
    assert np.all(np.diag(R) > 0)


def test_identity_is_the_truncated_or_padded_identity():
    np.testing.assert_array_equal(TruncatedIdentity(5, 3).matrix(), np.eye(3, 5))
    np.testing.assert_array_equal(TruncatedIdentity(3, 5).matrix(), np.eye(5, 3))
    np.testing.assert_array_equal(TruncatedIdentity(3, 5).structure().toarray(), np.eye(5, 3))
    assert TruncatedDCT(3, 5).structure().toarray().all()


@given(n=sizes, m=sizes, seed=st.integers(0, 2**32 - 1))
def test_permutation_and_signs_are_the_stated_matrices(n, m, seed):
    """``P[:m, :n]`` with ``P = eye(q)[perm]``; ``I[:m, :n] @ diag(s)``; their patterns."""
    P, S = RandomPermutation(n, m, seed), RandomSigns(n, m, seed)
    q = max(m, n)
    np.testing.assert_array_equal(P.perm, np.random.default_rng(seed).permutation(q))
    np.testing.assert_array_equal(P.matrix(), np.eye(q)[P.perm][:m, :n])
    np.testing.assert_array_equal(P.structure().toarray(), P.matrix() != 0)
    np.testing.assert_array_equal(
        S.signs, 1.0 - 2.0 * np.random.default_rng(seed).integers(0, 2, size=n))
    np.testing.assert_array_equal(S.matrix(), np.eye(m, n) @ np.diag(S.signs))
    np.testing.assert_array_equal(S.structure().toarray(), S.matrix() != 0)


def image_dct_matrix(m):
    """``T_m @ Q @ kron(C, C)`` built densely: the rows of the 2-D DCT by (k1 + k2, k1)."""
    C = dct_matrix(28)
    order = sorted(range(784), key=lambda i: (i // 28 + i % 28, i // 28))
    return np.eye(m, 784) @ np.kron(C, C)[order]


@pytest.mark.parametrize("m", [300, 784, 800])
def test_image_dct_is_the_2d_dct_by_total_frequency(m):
    """At 784 inputs: the stated matrix, exact adjoint, orthonormal rows or columns, and
    not the 1-D DCT; elsewhere exactly the 1-D DCT."""
    O, M = ImageDCT(784, m), image_dct_matrix(m)
    np.testing.assert_allclose(O.matrix(), M, rtol=0, atol=1e-13)
    y = np.random.default_rng(m).standard_normal((2, m))
    np.testing.assert_allclose(O.adjoint(y), y @ M, rtol=0, atol=1e-13)
    gram = M @ M.T if m <= 784 else M.T @ M
    np.testing.assert_allclose(gram, np.eye(min(m, 784)), rtol=0, atol=1e-12)
    assert not np.allclose(M, TruncatedDCT(784, m).matrix())
    # a smooth image's energy lands in the first coefficients
    i, j = np.indices((28, 28)) / 27
    x = np.cos(i + 2 * j).ravel()
    assert np.sum(O.apply(x)[:15] ** 2) > 0.99 * np.sum(x ** 2)


@pytest.mark.parametrize("n, m", [(783, 300), (100, 10), (27, 784)])
def test_image_dct_of_other_sizes_is_the_1d_dct(n, m):
    np.testing.assert_array_equal(ImageDCT(n, m).matrix(), TruncatedDCT(n, m).matrix())


@pytest.mark.parametrize("name", RANDOM_OFFSETS)
def test_random_offsets_are_bitwise_reproducible(name):
    first = make_offset(name, 13, 7, seed=42).matrix()
    np.testing.assert_array_equal(first, make_offset(name, 13, 7, seed=42).matrix())
    np.testing.assert_array_equal(
        first, make_offset(name, 13, 7, seed=np.random.default_rng(42)).matrix())
    assert not np.array_equal(first, make_offset(name, 13, 7, seed=43).matrix())


def test_make_offset_names_and_errors():
    assert make_offset("none", 4, 3) is None
    assert type(make_offset("dct", 4, 3)) is TruncatedDCT
    assert [make_offset(n, 4, 3, 0 if n in RANDOM_OFFSETS else None).name
            for n in ORTHONORMAL] == ORTHONORMAL
    with pytest.raises(ValueError, match="offset must be one of dct, randomized-dct"):
        make_offset("fourier", 4, 3)
    with pytest.raises(TypeError, match="'orthogonal' offset is random and needs a seed"):
        make_offset("orthogonal", 4, 3)
    with pytest.raises(ValueError, match="'identity' offset is not random"):
        make_offset("identity", 4, 3, seed=1)
    with pytest.raises(TypeError, match="seed must be an int or a numpy.random.Generator"):
        make_offset("randomized-dct", 4, 3, seed=1.5)
    with pytest.raises(ValueError, match=r"x has shape \(2, 5\), expected \(\.\.\., 4\)"):
        make_offset("randomized-dct", 4, 3, 0).apply(np.ones((2, 5)))


@pytest.mark.parametrize("name", ORTHONORMAL)
def test_integer_arguments_give_the_float64_products(name):
    """Every offset takes integer arrays as numpy does, as floats (the randomised DCT
    used to fail multiplying its signs into an integer array in place)."""
    O = offset(name, 5, 4, seed=3)
    x, y = np.arange(10).reshape(2, 5) - 4, np.arange(8).reshape(2, 4) - 3
    np.testing.assert_array_equal(O.apply(x), O.apply(x.astype(np.float64)))
    np.testing.assert_array_equal(O.adjoint(y), O.adjoint(y.astype(np.float64)))


@pytest.mark.parametrize("name", [o for o in OFFSETS if o not in ("none", "orthogonal")])
@pytest.mark.parametrize("n_in, n_out", [(7, 4), (4, 7)])
def test_every_matrix_free_offset_keeps_float32_in_both_directions(name, n_in, n_out):
    op = make_offset(name, n_in, n_out, seed=0 if name in RANDOM_OFFSETS else None)
    x, y = np.ones((2, n_in), np.float32), np.ones((2, n_out), np.float32)
    assert op.apply(x).dtype == np.float32 and op.adjoint(y).dtype == np.float32
    np.testing.assert_allclose(op.apply(x), x @ op.matrix().T, rtol=1e-6, atol=1e-6)


# -- DCTpS layers and models with every offset ----------------------------------------
@pytest.mark.parametrize("name", OFFSETS)
@pytest.mark.parametrize("n, m", [(9, 4), (4, 11), (7, 7)])
def test_linear_is_alpha_o_plus_s(name, n, m):
    rng = np.random.default_rng(0)
    layer = DCTpSLinear(n, m, nnz=6, rng=1, offset=offset(name, n, m, 7) or "none")
    assert layer.offset_name == name
    params = random_params(layer, rng)
    O = np.zeros((m, n)) if layer.offset is None else layer.offset.matrix()
    alpha = params.get("alpha", 0.0)
    W = alpha * O + layer.support.to_dense(params["S"])
    x, y_bar = rng.standard_normal((3, n)), rng.standard_normal((3, m))
    y, cache = layer.forward(params, x)
    np.testing.assert_allclose(y, x @ W.T + params["b"], rtol=0, atol=1e-13)
    x_bar, grads = layer.vjp(params, cache, y_bar)
    np.testing.assert_allclose(x_bar, y_bar @ W, rtol=0, atol=1e-13)
    if layer.offset is not None:
        np.testing.assert_allclose(grads["alpha"], np.sum(y_bar * (x @ O.T)), rtol=1e-13)
    else:
        assert set(grads) == {"S", "b"}


@pytest.mark.parametrize("name", OFFSETS)
def test_conv_applies_the_offset_to_every_patch(name):
    """Kernel of the offset part: O (cout, P) reshaped like the DCT's, channel fastest."""
    cin, cout, kh, kw = 2, 5, 3, 2
    layer = DCTpSConv2d(cin, cout, (kh, kw), 2, 1, nnz=7, rng=1,
                        offset=offset(name, kh * kw * cin, cout, 7) or "none")
    rng = np.random.default_rng(0)
    params = random_params(layer, rng)
    W = layer.dense_matrix(params)                                 # (cout, P), P channel fastest
    kernel = W.reshape(cout, kh, kw, cin).transpose(0, 3, 1, 2)
    x = rng.standard_normal((2, cin, 6, 5))
    np.testing.assert_allclose(layer(params, x),
                               direct_conv(x, kernel, 2, 1) + params["b"][:, None, None],
                               rtol=0, atol=1e-12)


def small(offset, rng=0, **kwargs):
    return build_model("mlp", sizes=[12, 9, 4], kind="dctps", density=0.2, rng=rng,
                       offset=offset, **kwargs)


@pytest.mark.parametrize("name", OFFSETS)
def test_spec_rebuilds_the_same_offsets(name):
    model = small(name)
    spec = model.spec
    assert spec["offset"] == name
    assert (spec["offset_seed"] is None) == (name not in RANDOM_OFFSETS)
    again = rebuild(json.loads(json.dumps(spec)), supports_of(model))
    for path in ("fc1", "fc2"):
        assert model[path].offset_name == again[path].offset_name == name
        if name != "none":
            np.testing.assert_array_equal(model[path].offset.matrix(),
                                          again[path].offset.matrix())
    # the supports do not depend on the offset: the random offsets' seed comes after them
    dct = small("dct")
    for path, (rows, cols) in supports_of(dct).items():
        np.testing.assert_array_equal(supports_of(model)[path][0], rows)
        np.testing.assert_array_equal(supports_of(model)[path][1], cols)


def test_random_offsets_differ_between_layers_and_seeds():
    a, b = small("orthogonal", offset_seed=11), small("orthogonal", offset_seed=12)
    assert a.spec["offset_seed"] == 11
    assert not np.array_equal(a["fc1"].offset.matrix(), b["fc1"].offset.matrix())
    np.testing.assert_array_equal(a["fc1"].offset.matrix(),
                                  small("orthogonal", offset_seed=11)["fc1"].offset.matrix())
    # the default seed is a function of rng alone
    assert small("randomized-dct", rng=5).spec["offset_seed"] == \
        small("orthogonal", rng=5).spec["offset_seed"] != small("orthogonal", rng=6).spec[
            "offset_seed"]


def test_an_old_spec_without_offset_means_the_dct():
    model = small("dct")
    old = {k: v for k, v in model.spec.items() if k not in ("offset", "offset_seed")}
    again = rebuild(old, supports_of(model))
    assert type(again["fc1"].offset) is TruncatedDCT


def test_none_model_is_the_sparse_model():
    sparse = build_model("mlp", sizes=[12, 9, 4], kind="sparse", density=0.2, rng=0)
    none = small("none")
    assert none.spec["sparse_init"] == "kaiming-dense"
    x = np.random.default_rng(0).standard_normal((2, 12))
    np.testing.assert_array_equal(none(none.init(1), x), sparse(sparse.init(1), x))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(kind="sparse", offset="identity"), ValueError, "apply to kind='dctps'"),
    (dict(kind="dctps", offset="dct", offset_seed=1), ValueError, "not random"),
    (dict(kind="dctps", offset="orthogonal", offset_seed=-1), TypeError, "non-negative int"),
    (dict(kind="dctps", offset="eye"), ValueError, "offset must be one of"),
])
def test_build_model_refuses_bad_offsets(kwargs, error, message):
    with pytest.raises(error, match=message):
        build_model("mlp", sizes=[6, 3], density=0.5, rng=0, **kwargs)


def test_rebuild_refuses_a_random_offset_without_seed():
    model = small("orthogonal")
    with pytest.raises(ValueError, match="no offset_seed"):
        rebuild(dict(model.spec, offset_seed=None), supports_of(model))
