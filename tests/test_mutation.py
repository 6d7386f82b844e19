"""The checker must not be foolable: planted bugs in every layer's VJP are caught.

For each registered layer, typical hand-derivation mistakes are planted in a
wrapper around it (the layer's own code is untouched):

* ``scale``: a cotangent off by 1% (a wrong constant);
* ``transpose``: a cotangent with its per-example entries reversed (a
  transposed weight, a wrong index order);
* ``drop-term``: the input cotangent computed as if one parameter were zero
  (a forgotten term, such as ``S.T @ y_bar`` in a DCTpS layer);
* ``no-chain``: the input cotangent equal to the output cotangent (a
  forgotten chain-rule factor);
* ``nan-x``: one entry of the input cotangent NaN (an overflow, a 0 / 0);
* ``drop-input``: for a merge layer, no cotangent for one input;
* ``jvp-scale``: a tangent off by 1%;
* the spec's own ``mutants``.

A mutant that happens to compute the right answer at the drawn point (a
reversal of a size-1 axis, say) is not applicable and skipped; every other
must make the checker fail.
"""
import numpy as np
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from refnet.core.layer import Layer
from refnet.core.tree import tree_leaves, tree_map
from refnet.testing import BELOW_RESOLUTION, check_layer

from layer_specs import SPECS, draw_case


def _tuple(x):
    return tuple(x) if isinstance(x, tuple) else (x,)


def _untuple(parts, like):
    return tuple(parts) if isinstance(like, tuple) else parts[0]


def _replace(tree, path, fn):
    head, _, rest = path.partition("/")
    out = dict(tree)
    out[head] = _replace(tree[head], rest, fn) if rest else fn(tree[head])
    return out


class Mutant(Layer):
    """``inner`` with its vjp (or jvp) replaced by a planted bug."""

    def __init__(self, inner, vjp=None, jvp=None):
        self.inner, self._vjp, self._jvp = inner, vjp, jvp
        self.is_linear, self.n_inputs = inner.is_linear, inner.n_inputs

    def param_shapes(self):
        return self.inner.param_shapes()

    def init(self, rng):
        return self.inner.init(rng)

    def forward(self, params, x):
        return self.inner.forward(params, x)

    def vjp(self, params, cache, y_bar, *, need_params=True):
        if self._vjp is None:
            return self.inner.vjp(params, cache, y_bar, need_params=need_params)
        x_bar, p_bar = self._vjp(self.inner, params, cache, y_bar)
        return x_bar, (p_bar if need_params else None)

    def jvp(self, params, cache, x_dot):
        if self._jvp is None:
            return self.inner.jvp(params, cache, x_dot)
        return self._jvp(self.inner, params, cache, x_dot)


def vjp_mutants(layer, params, x):
    """Yield ``(label, vjp_fn)`` planted bugs for this layer."""
    def scale_x(inner, p, c, y_bar):
        x_bar, p_bar = inner.vjp(p, c, y_bar)
        return _untuple([1.01 * t for t in _tuple(x_bar)], x_bar), p_bar
    yield "scale-x", scale_x

    def transpose_x(inner, p, c, y_bar):
        x_bar, p_bar = inner.vjp(p, c, y_bar)
        lead = np.ndim(y_bar) - np.ndim(inner.forward(p, x)[0])
        out = []
        for t in _tuple(x_bar):
            t = np.asarray(t)
            flat = t.reshape(t.shape[:lead + 1] + (-1,))
            out.append(flat[..., ::-1].reshape(t.shape))
        return _untuple(out, x_bar), p_bar
    yield "transpose-x", transpose_x

    def no_chain(inner, p, c, y_bar):
        x_bar, p_bar = inner.vjp(p, c, y_bar)
        parts = _tuple(x_bar)
        if any(np.shape(t) != np.shape(y_bar) for t in parts):
            return x_bar, p_bar
        return _untuple([y_bar for _ in parts], x_bar), p_bar
    yield "no-chain", no_chain

    def nan_x(inner, p, c, y_bar):
        x_bar, p_bar = inner.vjp(p, c, y_bar)
        parts = [np.array(t, dtype=np.float64, copy=True) for t in _tuple(x_bar)]
        parts[0].reshape(-1)[0] = np.nan
        return _untuple(parts, x_bar), p_bar
    yield "nan-x", nan_x

    if isinstance(x, tuple):
        def drop_input(inner, p, c, y_bar):
            x_bar, p_bar = inner.vjp(p, c, y_bar)
            parts = list(x_bar)
            parts[-1] = np.zeros_like(parts[-1])
            return tuple(parts), p_bar
        yield "drop-input", drop_input

    for path, _ in tree_leaves(params):
        def scale_param(inner, p, c, y_bar, path=path):
            x_bar, p_bar = inner.vjp(p, c, y_bar)
            return x_bar, _replace(p_bar, path, lambda g: 1.01 * g)
        yield f"scale-{path}", scale_param

        def drop_term(inner, p, c, y_bar, path=path):
            # x_bar as if parameter `path` were zero, i.e. its term forgotten
            zeroed = _replace(p, path, np.zeros_like)
            x_bar, _ = inner.vjp(zeroed, c, y_bar, need_params=False)
            _, p_bar = inner.vjp(p, c, y_bar)
            return x_bar, p_bar
        yield f"drop-term-{path}", drop_term


def _differs(layer, mutant, params, x, rng):
    y, cache = layer.forward(params, x)
    y_bar = rng.standard_normal(np.shape(y))
    x_bar, p_bar = layer.vjp(params, cache, y_bar)
    m_bar, mp_bar = mutant.vjp(params, cache, y_bar)
    diffs = [not np.allclose(a, b, rtol=1e-9, atol=1e-12)
             for a, b in zip(_tuple(x_bar), _tuple(m_bar))]
    diffs += [not np.allclose(a, b, rtol=1e-9, atol=1e-12)
              for (_, a), (_, b) in zip(tree_leaves(p_bar), tree_leaves(mp_bar))]
    return any(diffs)


def _fd_blind(report, label):
    """True for a mutant of one parameter's cotangent (``scale-<path>``) when the
    checker reported that parameter's derivative below finite-difference
    resolution (a saturated tanh makes it ~1e-6 of the output): no float64
    finite difference can see a 1% error there, so the mutant is not applicable."""
    if not label.startswith("scale-") or label == "scale-x":
        return False
    path = label[len("scale-"):]
    return any(r.check == "vjp_fd" and r.param == path and r.note == BELOW_RESOLUTION
               for r in report.results)


def _zero_derivative(layer, params, x):
    """True when every cotangent (input and parameters) of a random y_bar is zero."""
    y, cache = layer.forward(params, x)
    x_bar, p_bar = layer.vjp(params, cache, np.random.default_rng(2).standard_normal(np.shape(y)))
    leaves = list(_tuple(x_bar)) + [leaf for _, leaf in tree_leaves(p_bar)]
    return not any(np.any(leaf) for leaf in leaves)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@given(data=st.data())
def test_planted_bugs_are_caught(spec, data):
    layer, x, params, rng = draw_case(spec, data.draw)
    if _zero_derivative(layer, params, x):
        reject()    # nothing to plant a bug in (a ReLU whose inputs are all negative)
    assert check_layer(layer, x, params, seed=0, tol=spec.tol).passed
    mutants = list(vjp_mutants(layer, params, x))
    mutants += [(f"spec-{i}", m) for i, m in enumerate(spec.mutants)]
    applied = 0
    for label, fn in mutants:
        mutant = Mutant(layer, vjp=fn)
        if not _differs(layer, mutant, params, x, np.random.default_rng(1)):
            continue
        report = check_layer(mutant, x, params, seed=0, tol=spec.tol)
        if report.passed and _fd_blind(report, label):
            continue
        applied += 1
        assert not report.passed, f"planted bug {label!r} in {spec.name} was not caught"
    # the 1% scaling always changes a nonzero cotangent, so something was tested
    assert applied >= 1

    def jvp_scaled(inner, p, c, x_dot):
        return 1.01 * inner.jvp(p, c, x_dot)
    # applicable unless the input Jacobian is zero (a convolution that only reads padding)
    y, cache = layer.forward(params, x)
    x_dot = tuple(rng.standard_normal(np.shape(p)) for p in _tuple(x))
    if np.any(layer.jvp(params, cache, _untuple(x_dot, x))):
        assert not check_layer(Mutant(layer, jvp=jvp_scaled), x, params, seed=0,
                               tol=spec.tol).passed


def test_mutation_harness_counts_mutants():
    """The harness itself: a Linear layer has mutants for x, W and b, all applicable."""
    from refnet.layers import Linear
    layer = Linear(3, 4)
    rng = np.random.default_rng(0)
    params = tree_map(lambda w: w + 0.3, layer.init(rng))
    x = rng.standard_normal((2, 3))
    labels = [label for label, fn in vjp_mutants(layer, params, x)
              if _differs(layer, Mutant(layer, vjp=fn), params, x, rng)]
    assert labels == ["scale-x", "transpose-x", "nan-x", "scale-W", "drop-term-W",
                      "scale-b"]
