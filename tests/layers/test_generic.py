"""ONE generic test runs every check of the gradient checker on every specimen.

The specimens are ``refnet.specimens.SPECIMENS``; here hypothesis answers their
``draw(label, choices)`` (:func:`draw_case`), so sizes, options and seeds are explored.
"""
import importlib
import inspect
import pkgutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet
import refnet.layers
from refnet.core.layer import Layer
from refnet.layers import Tanh
from refnet.core.tree import tree_leaves
from refnet.specimens import SPECIMENS, case
from refnet.testing import check_layer


def draw_case(specimen, draw):
    """``refnet.specimens.case`` with hypothesis's ``draw`` (``data.draw``) choosing."""
    return case(specimen, lambda label, choices: draw(st.sampled_from(choices), label=label))


@pytest.mark.parametrize("spec", SPECIMENS, ids=lambda s: s.name)
@given(data=st.data())
def test_layer_gradients(spec, data):
    layer, x, params, rng = draw_case(spec, data.draw)
    report = check_layer(layer, x, params, seed=rng, tol=spec.tol, name=spec.name)
    expected = {"structure", "vjp_fd", "jvp_fd", "consistency", "batched"}
    if layer.is_linear:
        expected.add("adjoint")
    assert {r.check for r in report.results} == expected
    assert report.passed, "\n" + str(report)


def _snapshot(value):
    return [np.array(leaf, copy=True) for _, leaf in tree_leaves({"v": value})] \
        if not isinstance(value, tuple) else [np.array(v, copy=True) for v in value]


@pytest.mark.parametrize("spec", SPECIMENS, ids=lambda s: s.name)
@given(data=st.data())
def test_layer_does_not_mutate_its_arguments(spec, data):
    layer, x, params, rng = draw_case(spec, data.draw)
    before_x, before_p = _snapshot(x), _snapshot(params)
    y, cache = layer.forward(params, x)
    y_copy = np.array(y, copy=True)
    y_bar = rng.standard_normal(np.shape(y))
    y_bar_copy = y_bar.copy()
    layer.vjp(params, cache, y_bar)
    x_dot = tuple(rng.standard_normal(np.shape(p)) for p in x) if isinstance(x, tuple) \
        else rng.standard_normal(np.shape(x))
    x_dot_copy = _snapshot(x_dot)
    layer.jvp(params, cache, x_dot)
    for a, b in zip(before_x + before_p, _snapshot(x) + _snapshot(params)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(y_bar, y_bar_copy)
    np.testing.assert_array_equal(y, y_copy)
    for a, b in zip(x_dot_copy, _snapshot(x_dot)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("spec", SPECIMENS, ids=lambda s: s.name)
@given(data=st.data())
def test_an_empty_batch(spec, data):
    """A batch of no example (an empty split) goes through every pass: results with a
    batch axis of length 0, zero parameter cotangents of the right shapes."""
    layer, x, params, rng = draw_case(spec, data.draw)
    parts = x if isinstance(x, tuple) else (x,)
    empty = tuple(p[:0] for p in parts)
    y, cache = layer.forward(params, empty if isinstance(x, tuple) else empty[0])
    assert np.shape(y) == (0,) + np.shape(layer.forward(params, x)[0])[1:]
    x_bar, p_bar = layer.vjp(params, cache, np.zeros((2,) + np.shape(y)))
    x_bar = x_bar if isinstance(x, tuple) else (x_bar,)
    assert [np.shape(a) for a in x_bar] == [(2,) + p.shape for p in empty]
    grads = dict(tree_leaves(p_bar))
    for path, leaf in tree_leaves(params):
        assert grads[path].shape == (2,) + np.shape(leaf) and not np.any(grads[path])
    x_dot = tuple(np.zeros((2,) + p.shape) for p in empty)
    y_dot = layer.jvp(params, cache, x_dot if isinstance(x, tuple) else x_dot[0])
    assert np.shape(y_dot) == (2,) + np.shape(y)


@pytest.mark.parametrize("spec", SPECIMENS, ids=lambda s: s.name)
@pytest.mark.parametrize("dtype", [complex, object])
def test_complex_or_object_input_is_refused(spec, dtype):
    """No layer's math is written for complex or object input (ReLU's ``x > 0``, the DCT):
    one TypeError naming the dtype, from the layer itself or, in a network, the graph."""
    layer, x, params, _ = case(spec, lambda label, choices: choices[0])
    bad = tuple(p.astype(dtype) for p in x) if isinstance(x, tuple) else x.astype(dtype)
    with pytest.raises(TypeError, match=f"must be a real array, got dtype {np.dtype(dtype)}"):
        layer.forward(params, bad)


def _public_layer_classes():
    found = set()
    for info in pkgutil.walk_packages(refnet.__path__, prefix="refnet."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, Layer) and obj.__module__ == module.__name__
                    and not name.startswith("_") and not obj.__dict__.get("_abstract", False)):
                found.add(obj)
    return found


def test_registry_complete():
    covered = {spec.layer_type for spec in SPECIMENS}
    missing = sorted(cls.__qualname__ for cls in _public_layer_classes() - covered)
    assert not missing, f"public layers without a specimen in refnet/specimens.py: {missing}"


def test_registry_completeness_fails_for_a_layer_without_a_specimen(monkeypatch):
    """The completeness test itself: a new public layer with no specimen makes it fail."""
    class Softsign(Tanh):
        pass

    Softsign.__module__ = "refnet.layers"
    monkeypatch.setattr(refnet.layers, "Softsign", Softsign, raising=False)
    with pytest.raises(AssertionError, match=r"without a specimen .*Softsign'\]"):
        test_registry_complete()


def test_every_specimen_has_unique_names_and_builds_its_examples():
    names = [spec.name for spec in SPECIMENS]
    assert len(names) == len(set(names))
    for spec in SPECIMENS:
        assert spec.examples, f"{spec.name} has no example for refnet gradcheck"
        for values in spec.examples.values():
            asked = set()
            layer = spec.build(lambda label, choices: asked.add(label) or
                               values.get(label, choices[0]))[0]
            assert isinstance(layer, spec.layer_type)
            unused = set(values) - asked - {"batch", "seed"}
            assert not unused, f"{spec.name}: example values never drawn: {sorted(unused)}"


def test_registry_finds_the_layers_we_know():
    # guards the completeness test itself against finding nothing
    from refnet.layers import Linear, ReLU
    assert {Linear, ReLU, refnet.Graph, refnet.Sequential} <= _public_layer_classes()
