"""Doping networks at a density's budget: the documented lenet300 plans, the built
networks' trainable counts, reproducibility and the errors."""
import numpy as np
import pytest

from refnet.doping import DopingLinear
from refnet.models import (blueprint_of, build_doping, density_of, doping_plan, doping_weights,
                           prunable_layers, rebuild)

LENET300 = [("fc1", (300, 784)), ("fc2", (100, 300)), ("fc3", (10, 100))]
LENET300_FACTORS = {"fc1": ((49, 16), (10, 30)),    # A 10 x 49, B 30 x 16: 970 weights
                    "fc2": ((15, 20), (10, 10)),    # A 10 x 15, B 10 x 20: 350
                    "fc3": ((20, 5), (2, 5))}       # A 2 x 20,  B 5 x 5:    65

#: density -> (budget, entries of S per layer, trainable weights): the module docstring's table
LENET300_PLANS = {1e-2: (2662, (1128, 144, 5), 2662),
                  1e-3: (266, (0, 0, 0), 1385),
                  1e-4: (27, (0, 0, 0), 1385)}


def test_lenet300_weights():
    assert doping_weights("lenet300") == LENET300


@pytest.mark.parametrize("density", sorted(LENET300_PLANS))
def test_lenet300_plan_is_the_documented_one(density):
    budget, nnz, trainable = LENET300_PLANS[density]
    plan = doping_plan(LENET300, density)
    assert plan.total_size == 266200 and plan.budget == budget
    assert {layer.name: layer.factors for layer in plan.layers} == LENET300_FACTORS
    assert tuple(layer.nnz for layer in plan.layers) == nnz
    assert plan.trainable == trainable
    assert plan.over_budget == (trainable > budget)
    text = plan.describe()
    assert "fc1 A 10x49, B 30x16" in text and f"{trainable:,} trainable weights" in text
    assert ("OVER BUDGET" in text) == plan.over_budget


@pytest.mark.parametrize("density", sorted(LENET300_PLANS))
def test_built_lenet300_trains_the_planned_weights(density):
    budget, nnz, trainable = LENET300_PLANS[density]
    net = build_doping("lenet300", density=density, rng=0)
    layers = dict(prunable_layers(net))
    assert all(isinstance(layer, DopingLinear) for layer in layers.values())
    assert {name: layer.factors for name, layer in layers.items()} == LENET300_FACTORS
    assert tuple(layer.nnz for layer in layers.values()) == nnz
    params = net.init(1)
    weights = sum(params[name][key].size for name in layers for key in ("A", "B", "S"))
    assert weights == trainable == sum(layer.trainable_weights for layer in layers.values())
    assert density_of(net) == trainable / 266200
    spec = net.spec
    assert spec["kind"] == "doping" and spec["plan"]["budget"] == budget
    assert spec["plan"]["trainable"] == trainable
    with pytest.raises(ValueError, match="kind 'doping'"):
        rebuild(spec, {})


def test_same_seed_same_network_and_parameters():
    a, b = (build_doping("mlp", sizes=[12, 8, 4], density=0.5, rng=3) for _ in range(2))
    for (_, la), (_, lb) in zip(prunable_layers(a), prunable_layers(b)):
        assert la.support == lb.support
    x = np.random.default_rng(0).standard_normal((3, 12))
    np.testing.assert_array_equal(a(a.init(4), x), b(b.init(4), x))


def test_s_gets_exactly_the_rest_of_the_budget():
    # mlp 64-16-10: Kronecker 64 + 26 weights; 20% of 1184 is 237, so S gets 147
    plan = doping_plan(doping_weights("mlp", sizes=[64, 16, 10]), 0.2)
    assert plan.budget == 237 and plan.trainable == 237
    assert sum(layer.nnz for layer in plan.layers) == 237 - 90
    epl = doping_plan(doping_weights("mlp", sizes=[64, 16, 10]), 0.2, "epl")
    assert [layer.nnz for layer in epl.layers] == [74, 73]


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"convolution layers \['conv1', 'conv2'"):
        build_doping("lenet5", density=0.1, rng=0)
    with pytest.raises(ValueError, match="not 2-D"):
        doping_plan([("conv", (6, 1, 5, 5))], 0.1)
    with pytest.raises(ValueError, match="distribution must be one of"):
        doping_plan(LENET300, 0.1, "erk-clipped")
    with pytest.raises(ValueError, match="density"):
        doping_plan(LENET300, 0.0)
    # shapes and names are checked, not coerced: (10.7, 100) is not silently (10, 100)
    with pytest.raises(ValueError, match=r"doping_plan: layers\[0\] \('fc'\) shape\[0\] must be "
                                         r"an integer >= 1, got 10.7"):
        doping_plan([("fc", (10.7, 100))], 0.5)
    with pytest.raises(ValueError, match=r"shape\[0\] must be an integer >= 1, got -10"):
        doping_plan([("fc", (-10, 100))], 0.5)
    with pytest.raises(TypeError, match=r"doping_plan: layers\[0\] name must be a str"):
        doping_plan([(3, (10, 100))], 0.5)
    with pytest.raises(ValueError, match="repeats the name 'fc'"):
        doping_plan([("fc", (10, 100)), ("fc", (10, 100))], 1e-3)     # over budget: S empty
    with pytest.raises(ValueError, match="doping_plan: layers is empty"):
        doping_plan([], 0.5)
    assert blueprint_of("lenet300").slots()    # the blueprint itself is untouched
