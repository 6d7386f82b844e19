"""DCTpS layers and models with every offset: the dense formula, the conv's per-patch offset,
the 'none' offset as a plain sparse layer, specs that rebuild the same offsets, and errors."""
import json

import numpy as np
import pytest

from refnet.layers import DCTpSConv2d, DCTpSLinear, SparseLinear
from refnet.models import build_model, rebuild, supports_of
from refnet.ops import OFFSETS, RANDOM_OFFSETS, RandomizedDCT, TruncatedDCT

from layers.test_sparse import direct_conv


def seed_of(name, seed=7):
    return seed if name in RANDOM_OFFSETS else None


def random_params(layer, rng):
    params = layer.init(rng)
    params["S"] = rng.standard_normal(layer.nnz)
    if "alpha" in params:
        params["alpha"] = np.array(0.6)
    if "b" in params:
        params["b"] = rng.standard_normal(params["b"].shape)
    return params


@pytest.mark.parametrize("name", OFFSETS)
@pytest.mark.parametrize("n, m", [(9, 4), (4, 11), (7, 7)])
def test_linear_is_alpha_o_plus_s(name, n, m):
    rng = np.random.default_rng(0)
    layer = DCTpSLinear(n, m, nnz=6, rng=1, offset=name, offset_seed=seed_of(name))
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
    layer = DCTpSConv2d(cin, cout, (kh, kw), 2, 1, nnz=7, rng=1, offset=name,
                        offset_seed=seed_of(name))
    rng = np.random.default_rng(0)
    params = random_params(layer, rng)
    W = layer.dense_matrix(params)                                 # (cout, P), P channel fastest
    kernel = W.reshape(cout, kh, kw, cin).transpose(0, 3, 1, 2)
    x = rng.standard_normal((2, cin, 6, 5))
    np.testing.assert_allclose(layer(params, x),
                               direct_conv(x, kernel, 2, 1) + params["b"][:, None, None],
                               rtol=0, atol=1e-12)


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
    params = layer.init(0)
    for key, value in sparse.init(0).items():
        np.testing.assert_array_equal(params[key], value)
    x = np.random.default_rng(1).standard_normal((3, 8))
    np.testing.assert_array_equal(layer(params, x), sparse(params, x))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(offset="fourier"), ValueError, "offset must be one of dct, randomized-dct"),
    (dict(offset="orthogonal"), TypeError, "needs offset_seed="),
    (dict(offset="dct", offset_seed=3), ValueError, "'dct' offset is not random"),
    (dict(offset="randomized-dct", offset_seed=1.5), TypeError, "offset_seed must be an int"),
    (dict(offset="none", alpha=0.5), ValueError, "offset 'none' has no alpha"),
    (dict(offset="none", train_alpha=False), ValueError, "offset 'none' has no alpha"),
    (dict(offset=TruncatedDCT(4, 4)), ValueError, r"offset has shape \(4, 4\), expected \(3, 4\)"),
    (dict(offset=RandomizedDCT(4, 3, 0), offset_seed=1), ValueError, "takes none"),
])
def test_bad_offsets_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        DCTpSLinear(4, 3, nnz=2, rng=0, **kwargs)


# -- models ---------------------------------------------------------------------------
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
