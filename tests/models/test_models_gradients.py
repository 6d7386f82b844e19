"""Every reference model, in every kind, passes the gradient checker, and so does its loss.

Points come from ``refnet.models.check_point``: every ReLU input at least 1e-4
from its kink, parameters perturbed off their initial values (so zero-initialised
S, biases and Fixup's zeroed layers take part in every derivative).
"""
import numpy as np
import pytest

from refnet.core.tree import tree_map
from refnet.layers import ReLU
from refnet.losses import softmax_cross_entropy
from refnet.models import KINDS, MODELS, build_model, check_point, relu_margin
from refnet.testing import check_layer, check_value_and_grad

from models.test_models_build import SMALL


def _model(name, kind):
    options = {} if kind == "dense" else dict(density=0.3, distribution="erk", rng=1)
    return build_model(name, kind=kind, **options, **SMALL[name])


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("kind", KINDS)
def test_checker_passes_on_every_model_and_kind(name, kind):
    model = _model(name, kind)
    rng = np.random.default_rng(0)
    x, params = check_point(model, rng, batch=2)
    report = check_layer(model, x, params, seed=rng, name=f"{name}-{kind}")
    assert report.passed, "\n" + str(report)
    paths = {r.param for r in report.results if r.check == "vjp_fd"}
    assert {f"{n}/{k}" for n, p in params.items() for k in p} <= paths


@pytest.mark.parametrize("name", ["lenet5", "resnet-small"])
@pytest.mark.parametrize("kind", ["sparse", "dctps"])
def test_loss_gradient_of_every_parameter(name, kind):
    model = _model(name, kind)
    rng = np.random.default_rng(3)
    x, params = check_point(model, rng, batch=3)
    labels = rng.integers(0, model.output_shape(model.input_shape)[0], 3)

    def value_and_grad(p):
        logits, cache = model.forward(p, x)
        value, logits_bar = softmax_cross_entropy(logits, labels)
        return value, model.vjp(p, cache, logits_bar)[1]
    report = check_value_and_grad(value_and_grad, params, seed=4)
    assert report.passed, "\n" + str(report)


def test_check_point_keeps_away_from_kinks_and_skips_exact_zeros():
    model = build_model("lenet5-cifar", kind="sparse", density=0.02, rng=0)
    x, params = check_point(model, np.random.default_rng(0), batch=2)
    assert relu_margin(model, params, x) >= 1e-4
    values, _ = model.forward_all(params, x)
    relu_inputs = [values[node.inputs[0]] for node in model.nodes
                   if isinstance(node.layer, ReLU)]
    # a sparse conv1 at 2% leaves channels with no weight: exact zeros that no step moves
    assert any(np.any(v == 0) for v in relu_inputs)
    assert min(np.min(np.abs(v[v != 0])) for v in relu_inputs) >= 1e-4
    zero = tree_map(np.zeros_like, params)
    assert relu_margin(model, zero, x) == np.inf
    with pytest.raises(RuntimeError, match="margin|from 0"):
        check_point(model, np.random.default_rng(0), margin=10.0, attempts=3)
