"""build_model and rebuild: exact nnz, weight counts, density, bitwise rebuilds, Fixup, errors."""
import json
import math

import numpy as np
import pytest

from refnet import Graph, Sequential
from refnet.layers import (Conv2d, DCTpSConv2d, DCTpSLinear, Linear, ReLU, SparseConv2d,
                           SparseLinear)
from refnet.models import (KINDS, MODELS, ConvWeight, LinearWeight, Model, build_model,
                           density_of, fixup_scale, prunable_weights, rebuild, support_arrays,
                           supports_of, to_sparse)
from refnet.sparsity import DISTRIBUTIONS, allocate, target_nnz
from refnet.train import TrainState, load_checkpoint, save_checkpoint

# every model at sizes that keep the tests fast (lenet5-cifar needs its 32 x 32)
SMALL = {
    "mlp": dict(sizes=[12, 9, 7, 4]),
    "lenet300": dict(in_shape=(1, 8, 8)),
    "lenet5": dict(in_shape=(1, 12, 12), classes=5),
    "lenet5-cifar": dict(),
    "resnet-small": dict(in_shape=(2, 6, 6), width=2, blocks=(1, 2)),
}
DEFAULT_ARGS = {"mlp": dict(sizes=[784, 300, 100, 10])}


def _build(name, kind, density=0.1, distribution="uniform", seed=0, **extra):
    options = {} if kind == "dense" else dict(density=density, distribution=distribution,
                                              rng=seed)
    return build_model(name, kind=kind, **options, **SMALL[name], **extra)


def test_small_table_covers_every_model():
    assert set(SMALL) == set(MODELS)


@pytest.mark.parametrize("name,total", [("lenet5-cifar", 61510), ("lenet5", 61470),
                                        ("lenet300", 266200), ("resnet-small", 30344),
                                        ("mlp", 266200)])
def test_prunable_weight_counts_at_default_sizes(name, total):
    model = build_model(name, **DEFAULT_ARGS.get(name, {}))
    assert sum(math.prod(shape) for _, shape in prunable_weights(model)) == total


def test_lenet5_cifar_is_the_originals_layers():
    assert prunable_weights(build_model("lenet5-cifar")) == [
        ("conv1", (6, 3, 5, 5)), ("conv2", (16, 6, 5, 5)), ("conv3", (120, 16, 5, 5)),
        ("fc1", (82, 120)), ("fc2", (10, 82))]
    model = build_model("lenet5-cifar")
    assert all(not getattr(node.layer, "bias", False) for node in model.nodes)
    assert model.output_shape((3, 32, 32)) == (10,)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("kind", KINDS)
def test_every_model_builds_with_the_allocated_nnz(name, kind):
    distribution = "epf" if name == "lenet5" else "erk"
    model = _build(name, kind, density=0.05, distribution=distribution, seed=3)
    shapes = prunable_weights(model)
    layer_types = {type(node.layer) for node in model.nodes}
    expected_types = {"dense": {Linear, Conv2d}, "sparse": {SparseLinear, SparseConv2d},
                      "dctps": {DCTpSLinear, DCTpSConv2d}}[kind]
    assert layer_types & {Linear, Conv2d, SparseLinear, SparseConv2d, DCTpSLinear,
                          DCTpSConv2d} <= expected_types
    x = np.random.default_rng(0).standard_normal((2,) + model.input_shape)
    assert model(model.init(0), x).shape == (2, model.spec["args"].get("classes", 4))
    if kind == "dense":
        assert supports_of(model) == {} and density_of(model) == 1.0
        return
    allocation = allocate(shapes, 0.05, distribution)
    supports = supports_of(model)
    assert {p: rows.size for p, (rows, _) in supports.items()} == allocation.nnz()
    assert [layer["nnz"] for layer in model.spec["layers"]] == list(allocation.nnz().values())
    for path, shape in shapes:
        rows, cols = supports[path]
        m, n = shape[0], math.prod(shape[1:])
        flat = rows * n + cols
        assert np.all(np.diff(flat) > 0) and (flat.size == 0 or (flat[0] >= 0 and
                                                                  flat[-1] < m * n))
    if distribution == "epf":
        for path, shape in shapes:
            counts = np.bincount(supports[path][0], minlength=shape[0])
            assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("density", [1.0, 1e-2, 1e-3, 1e-4])
def test_density_of_is_the_requested_rounding(distribution, density):
    model = build_model("lenet5-cifar", kind="sparse", density=density,
                        distribution=distribution, rng=1)
    allocation = allocate(prunable_weights(model), density, distribution)
    assert density_of(model) == allocation.total_nnz / 61510
    if distribution != "erk-clipped" or density <= 1e-2:
        assert density_of(model) == target_nnz(density, 61510) / 61510


def test_dctps_density_counts_only_s():
    model = build_model("lenet300", kind="dctps", density=1e-3, distribution="epl", rng=0)
    assert density_of(model) == 266 / 266200
    params = model.init(0)
    assert all(float(params[p]["alpha"]) == 1.0 for p in ("fc1", "fc2", "fc3"))
    assert all(not np.any(params[p]["S"]) for p in ("fc1", "fc2", "fc3"))


def test_same_seed_same_supports_other_seed_other_supports():
    a = supports_of(build_model("lenet5", kind="sparse", density=0.01, rng=5))
    b = supports_of(build_model("lenet5", kind="sparse", density=0.01, rng=5))
    c = supports_of(build_model("lenet5", kind="sparse", density=0.01, rng=6))
    assert all(np.array_equal(a[p][i], b[p][i]) for p in a for i in (0, 1))
    assert any(not np.array_equal(a[p][0], c[p][0]) or not np.array_equal(a[p][1], c[p][1])
               for p in a)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("kind", KINDS)
def test_rebuild_gives_bitwise_identical_outputs(name, kind):
    model = _build(name, kind, density=0.2, distribution="epl", seed=7,
                   **({"train_alpha": False} if kind == "dctps" else {}))
    spec = json.loads(json.dumps(model.spec))          # what a checkpoint stores
    again = rebuild(spec, supports_of(model) if kind != "dense" else None)
    assert isinstance(again, Model) and again.spec == model.spec
    params = model.init(11)
    x = np.random.default_rng(2).standard_normal((3,) + model.input_shape)
    assert np.array_equal(model(params, x), again(params, x))
    for (path, a), (_, b) in zip(sorted(supports_of(model).items()),
                                 sorted(supports_of(again).items())):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    init_a, init_b = model.init(4), again.init(4)
    assert all(np.array_equal(init_a[n][k], init_b[n][k]) for n in init_a for k in init_a[n])


def test_rebuild_through_a_checkpoint(tmp_path):
    model = build_model("lenet5-cifar", kind="dctps", density=1e-2, distribution="erk", rng=3)
    params = model.init(0)
    path = tmp_path / "run.npz"
    save_checkpoint(path, TrainState(params, {}, 0, 0, {}), meta={"model": model.spec},
                    arrays={"supports": support_arrays(supports_of(model))})
    loaded = load_checkpoint(path)
    again = rebuild(loaded.meta["model"], loaded.arrays["supports"])
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32))
    assert np.array_equal(model(params, x), again(loaded.state.params, x))


def test_rebuild_rejects_what_does_not_fit():
    model = build_model("mlp", sizes=[5, 4, 3], kind="sparse", density=0.5, rng=0)
    spec, supports = model.spec, supports_of(model)
    with pytest.raises(ValueError, match="nnz"):
        rebuild(spec, dict(supports, fc1=(supports["fc1"][0][:-1], supports["fc1"][1][:-1])))
    with pytest.raises(ValueError, match="prunable layers"):
        rebuild(spec, {"fc1": supports["fc1"]})
    with pytest.raises(ValueError, match="needs supports"):
        rebuild(spec)
    with pytest.raises(ValueError, match="more than once"):
        rows, cols = supports["fc2"]
        repeated = (np.full_like(rows, rows[0]), np.full_like(cols, cols[0]))
        rebuild(spec, dict(supports, fc2=repeated))
    with pytest.raises(ValueError, match="not a refnet model"):
        rebuild({"name": "mlp"})
    with pytest.raises(ValueError, match="version"):
        rebuild(dict(spec, version=99), supports)
    dense = build_model("mlp", sizes=[5, 4, 3])
    with pytest.raises(ValueError, match="no supports"):
        rebuild(dense.spec, supports)
    with pytest.raises(ValueError, match="do not match"):
        rebuild(dict(spec, args=dict(spec["args"], sizes=[5, 6, 3])), supports)


@pytest.mark.parametrize("kind", KINDS)
def test_resnet_small_fixup_initialisation(kind):
    model = _build("resnet-small", kind, density=0.5)
    scale = fixup_scale(3)                                # blocks (1, 2): L = 3
    assert scale == 3 ** -0.5
    params = model.init(0)
    plain = Graph.init(model, 0)                          # the layers' own initialisers
    key = "W" if kind == "dense" else "S"
    for k in (1, 2, 3):
        assert not np.any(params[f"block{k}_conv2"][key])
        assert np.array_equal(params[f"block{k}_conv1"][key],
                              scale * plain[f"block{k}_conv1"][key])
    assert not np.any(params["fc"][key])
    assert np.array_equal(params["stem"][key], plain["stem"][key])
    if kind == "dctps":
        assert float(params["block1_conv1"]["alpha"]) == scale
        assert float(params["block2_conv2"]["alpha"]) == 0.0
        assert float(params["fc"]["alpha"]) == 0.0
        assert float(params["stem"]["alpha"]) == 1.0
    else:
        assert np.any(params["block1_conv1"][key])
    # the branches and the classifier start at zero: so does the output, not its gradient
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 6))
    y, cache = model.forward(params, x)
    assert not np.any(y)
    _, grads = model.vjp(params, cache, np.ones_like(y))
    assert np.any(grads["fc"][key])


def test_resnet_is_a_graph_with_residual_adds():
    model = build_model("resnet-small")
    adds = [node for node in model.nodes if node.name.endswith("_add")]
    assert [node.inputs for node in adds] == [("stem_act", "block1_conv2"),
                                              ("down2_act", "block2_conv2"),
                                              ("down3_act", "block3_conv2")]
    assert model.output_shape((1, 28, 28)) == (10,)


def test_input_shapes_and_classes():
    lenet300 = build_model("lenet300", in_shape=(1, 28, 28), classes=3)
    assert lenet300.nodes[0].name == "flatten"
    assert lenet300(lenet300.init(0), np.zeros((2, 1, 28, 28))).shape == (2, 3)
    assert prunable_weights(build_model("lenet5-cifar", in_shape=(1, 32, 32)))[0] == \
        ("conv1", (6, 1, 5, 5))
    assert sum(math.prod(s) for _, s in prunable_weights(
        build_model("lenet5-cifar", in_shape=(1, 32, 32)))) == 61210
    assert build_model("lenet5", in_shape=(1, 12, 12)).output_shape((1, 12, 12)) == (10,)
    with pytest.raises(ValueError, match="padding to 32"):
        build_model("lenet5-cifar", in_shape=(1, 28, 28))
    with pytest.raises(ValueError, match="at least 12"):
        build_model("lenet5", in_shape=(1, 11, 11))
    with pytest.raises(ValueError, match="entries"):
        build_model("mlp", sizes=[10, 3], in_shape=(3, 3))


@pytest.mark.parametrize("make, message", [
    (lambda: LinearWeight(0, 3), r"LinearWeight: n_in must be an integer >= 1, got 0"),
    (lambda: LinearWeight(2, 3.5), r"LinearWeight: n_out must be an integer >= 1"),
    (lambda: LinearWeight(2, 3, init_scale=float("nan")), "LinearWeight: init_scale must be"),
    (lambda: ConvWeight(1, 2, 0), "ConvWeight: kernel_size must be"),
    (lambda: ConvWeight(1, 2, 3, padding=-1), "ConvWeight: padding must be an integer >= 0"),
    (lambda: ConvWeight(1, 2, 3, stride=0), "ConvWeight: stride must be an integer >= 1"),
    (lambda: ConvWeight(1, 2, 3, init_scale=True), "ConvWeight: init_scale must be"),
])
def test_weight_slots_are_checked_when_made(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown model 'lenet7'.*lenet5-cifar"):
        build_model("lenet7")
    with pytest.raises(ValueError, match="kind must be one of"):
        build_model("lenet5", kind="pruned")
    with pytest.raises(ValueError, match="unknown distribution"):
        build_model("lenet5", kind="sparse", density=0.1, distribution="gaussian", rng=0)
    for bad in (0.0, -0.1, 1.5, float("nan"), True, "0.1"):
        with pytest.raises(ValueError, match="density must be a number in"):
            build_model("lenet5", kind="sparse", density=bad, rng=0)
    with pytest.raises(ValueError, match="density must be 1"):
        build_model("lenet5", density=0.5)
    with pytest.raises(ValueError, match="sparse_init"):
        build_model("lenet5", sparse_init="zeros")
    with pytest.raises(ValueError, match="sparse_init"):
        build_model("lenet5", kind="sparse", density=0.5, rng=0, sparse_init="orthogonal")
    with pytest.raises(TypeError, match="rng"):
        build_model("lenet5", kind="dctps", density=0.5)
    with pytest.raises(TypeError, match="takes no argument.*sizes"):
        build_model("lenet5", sizes=[3, 4])
    with pytest.raises(TypeError, match="needs argument.*sizes"):
        build_model("mlp")
    with pytest.raises(ValueError, match="no prunable layer|at least one prunable"):
        build_model("mlp", sizes=[5])
    with pytest.raises(ValueError, match="min_per_layer"):
        build_model("lenet5-cifar", kind="sparse", density=1e-4, rng=0, min_per_layer=5)
    with pytest.raises(ValueError, match="no prunable layer"):
        density_of(Sequential([("act", ReLU())]))
    assert prunable_weights(Sequential([("act", ReLU())])) == []


def test_min_per_layer_gives_every_layer_weights():
    model = build_model("lenet5-cifar", kind="sparse", density=1e-4, rng=0, min_per_layer=1)
    assert all(layer["nnz"] >= 1 for layer in model.spec["layers"])
    assert sum(layer["nnz"] for layer in model.spec["layers"]) == 6


def test_spec_is_json_and_a_copy():
    model = build_model("resnet-small", kind="sparse", density=0.01, distribution="erk",
                        rng=0, sparse_init="kaiming-sparse")
    spec = model.spec
    assert json.loads(json.dumps(spec)) == spec
    assert spec["kind"] == "sparse" and spec["sparse_init"] == "kaiming-sparse"
    assert spec["support"] == "random" and spec["distribution"] == "erk"
    spec["kind"] = "dense"
    assert model.spec["kind"] == "sparse" and model.kind == "sparse"
    assert model.name == "resnet-small"


def test_to_sparse_records_only_a_valid_density():
    model = build_model("mlp", sizes=[4, 3, 2])
    supports = {"fc1": ([0, 2], [1, 3]), "fc2": ([1], [0])}
    net, _ = to_sparse(model, model.init(0), supports, method="snip", density=0.25)
    assert net.spec["density"] == 0.25 and net.spec["support"] == "snip"
    net, _ = to_sparse(model, model.init(0), supports)
    assert net.spec["density"] == 3 / 18 == density_of(net)
    # the spec used to record any number given, 2.0 included
    for bad in (2.0, 0.0, -0.5, "0.1"):
        with pytest.raises(ValueError, match="to_sparse: density must be a number in"):
            to_sparse(model, model.init(0), supports, density=bad)
