"""The checker must not be foolable: planted bugs in every specimen's derivatives are caught.

Typical hand-derivation mistakes are planted in a wrapper around each layer (the layer's
own code is untouched):

* ``scale``: a cotangent (input, or one parameter) off by 1% (a wrong constant);
* ``transpose``: a cotangent with its per-example entries reversed (a transposed weight,
  a wrong index order);
* ``drop-term``: the input cotangent computed as if one parameter were zero (a forgotten
  term, such as ``S.T @ y_bar`` in a DCTpS layer);
* ``no-chain``: the input cotangent equal to the output cotangent;
* ``nan-x``: one entry of the input cotangent NaN (an overflow, a 0 / 0);
* ``drop-input``: for a merge layer, no cotangent for one input;
* ``scale-y_dot``: a tangent off by 1%; ``adds-<b>``: a JVP that adds the bias term;
* the layer's own mutants (:data:`MUTANTS`), such as a DCTpS ``x_bar`` without its factor
  ``alpha`` or an ``alpha_bar`` multiplied by ``alpha``.

Every bug is planted twice: at the drawn point, and at the checker's default point
(``params=None``).  A mutant that computes the right answer at a point (a reversal of a
size-1 axis, a bias that is zero) is not applicable there and skipped; every other must
make the checker fail.  ``test_the_init_point_hides_three_dctps_bugs`` shows why the
default point is not ``layer.init``.
"""
import copy

import numpy as np
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from refnet.core.layer import Layer
from refnet.core.tree import tree_leaves, tree_map
from refnet.doping import DopingLinear
from refnet.layers import DCTpSLinear
from refnet.specimens import SPECIMENS
from refnet.testing import BELOW_RESOLUTION, check_layer, perturbed_params

from layers.test_generic import draw_case


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


def jvp_mutants(layer, params, x):
    """Yield ``(label, jvp_fn)``: a tangent off by 1%, and a JVP that adds each bias term
    (``f(x) - f(x)`` at ``b = 0``: the JVP of an affine map taken for the map)."""
    yield "scale-y_dot", lambda inner, p, c, x_dot: 1.01 * inner.jvp(p, c, x_dot)
    for path, _ in tree_leaves(params):
        if path.rpartition("/")[2] == "b":
            def adds_bias(inner, p, c, x_dot, path=path):
                term = inner(p, x) - inner(_replace(p, path, np.zeros_like), x)
                return inner.jvp(p, c, x_dot) + term
            yield f"adds-{path}", adds_bias


# -- the layers' own planted bugs, through their public API where it allows ----------------
def _alpha(layer, params):
    return params["alpha"] if "alpha" in params else layer.alpha


def drop_offset_term(layer, params, cache, y_bar):
    """x_bar without ``alpha * O.T @ y_bar`` (what is left at ``S = 0``)."""
    x_bar, p_bar = layer.vjp(params, cache, y_bar)
    only_offset = layer.vjp(dict(params, S=np.zeros_like(params["S"])), cache, y_bar)[0]
    return x_bar - only_offset, p_bar


def x_bar_without_alpha(layer, params, cache, y_bar):
    """x_bar = O.T @ y_bar + S.T @ y_bar: the factor alpha forgotten (right at alpha = 1)."""
    x_bar, p_bar = layer.vjp(params, cache, y_bar)
    only_offset = layer.vjp(dict(params, S=np.zeros_like(params["S"])), cache, y_bar)[0]
    return x_bar - only_offset + only_offset / _alpha(layer, params), p_bar


def alpha_bar_times_alpha(layer, params, cache, y_bar):
    """alpha_bar multiplied by alpha (right at alpha = 1)."""
    x_bar, p_bar = layer.vjp(params, cache, y_bar)
    if "alpha" not in p_bar:       # a frozen alpha has no cotangent to get wrong
        return x_bar, p_bar
    return x_bar, dict(p_bar, alpha=p_bar["alpha"] * params["alpha"])


def drop_sparse_term(layer, params, cache, y_bar):
    """x_bar without ``S.T @ y_bar``."""
    no_s = dict(params, S=np.zeros_like(params["S"]))
    x_bar, _ = layer.vjp(no_s, cache, y_bar, need_params=False)
    return x_bar, layer.vjp(params, cache, y_bar)[1]


def misorder_values(layer, params, cache, y_bar):
    """S_bar right as a set but in another order than the support's CSR order."""
    x_bar, p_bar = layer.vjp(params, cache, y_bar)
    return x_bar, dict(p_bar, S=np.ascontiguousarray(p_bar["S"][..., ::-1]))


def inverse_as_permutation(layer, params, cache, y_bar):
    """The randomised DCT's adjoint gathering with the permutations themselves instead
    of their inverses (``x[perm]`` transposed as ``y[perm]``).  Uses the offset's
    internals: the bug lives there."""
    offset = layer.offset
    wrong = copy.copy(offset)
    wrong.inv_in, wrong.inv_out = offset.perm_in, offset.perm_out
    wrong.signs_in_order = offset.signs[offset.perm_in]
    shadow = copy.copy(layer)
    shadow.offset = wrong
    x_bar, _ = shadow.vjp(params, cache, y_bar, need_params=False)
    return x_bar, layer.vjp(params, cache, y_bar)[1]


def conv_flipped_kernel(layer, params, cache, y_bar):
    """x_bar of a true convolution (kernel flipped) where refnet cross-correlates."""
    flipped = dict(params, W=params["W"][:, :, ::-1, ::-1])
    x_bar, _ = layer.vjp(flipped, cache, y_bar, need_params=False)
    return x_bar, layer.vjp(params, cache, y_bar)[1]


def conv_channel_slowest(layer, params, cache, y_bar):
    """x_bar with W flattened channel slowest: im2col's patch layout not respected."""
    o, c, kh, kw = params["W"].shape
    wrong = params["W"].reshape(o, kh, kw, c).transpose(0, 3, 1, 2)
    x_bar, _ = layer.vjp(dict(params, W=wrong), cache, y_bar, need_params=False)
    return x_bar, layer.vjp(params, cache, y_bar)[1]


def maxpool_wrong_winner(layer, params, cache, y_bar):
    """The cotangent routed to the window entry after the maximum (the cache's internals)."""
    wrong = cache._replace(argmax=(cache.argmax + 1) % layer.window_size)
    return layer.vjp(params, wrong, y_bar)


def swap_kron_order(layer, params, cache, y_bar):
    """x_bar of ``B kron A`` instead of ``A kron B``: the column-major identity
    ``vec(B @ Z @ A.T)`` read with numpy's row-major reshape."""
    (n1, n2), (m1, m2) = layer.factors
    swapped = DopingLinear(layer.n_in, layer.n_out, factors=((n2, n1), (m2, m1)),
                           support=layer.support, bias=layer.bias)
    x_bar, _ = swapped.vjp(dict(params, A=params["B"], B=params["A"]), cache, y_bar,
                           need_params=False)
    return x_bar, layer.vjp(params, cache, y_bar)[1]


_SPARSE = (drop_sparse_term, misorder_values)
_DCTPS = _SPARSE + (drop_offset_term, x_bar_without_alpha, alpha_bar_times_alpha)

#: Specimen name -> its layer's own VJP mutants ``fn(layer, params, cache, y_bar)``.
MUTANTS = {"SparseLinear": _SPARSE, "SparseConv2d": _SPARSE, "Conv2d": (
    conv_flipped_kernel, conv_channel_slowest), "MaxPool2d": (maxpool_wrong_winner,),
    "DopingLinear": (drop_sparse_term, swap_kron_order)}
for _layer in ("DCTpSLinear", "DCTpSConv2d"):
    for _offset in ("", "[orthogonal]", "[identity]", "[permutation]", "[signs]", "[dct-2d]"):
        MUTANTS[_layer + _offset] = _DCTPS
    MUTANTS[f"{_layer}[randomized-dct]"] = _DCTPS + (inverse_as_permutation,)
    MUTANTS[f"{_layer}[none]"] = _SPARSE


def _changed(layer, mutant, params, x) -> set:
    """The quantities (``x``, ``y_dot``, parameter paths) whose derivative the mutant changes."""
    rng = np.random.default_rng(1)
    y, cache = layer.forward(params, x)
    y_bar = rng.standard_normal(np.shape(y))
    x_dot = _untuple([rng.standard_normal(np.shape(p)) for p in _tuple(x)], x)
    (x_bar, p_bar), (m_bar, mp_bar) = layer.vjp(params, cache, y_bar), mutant.vjp(params, cache,
                                                                                  y_bar)
    pairs = [("x", a, b) for a, b in zip(_tuple(x_bar), _tuple(m_bar))]
    pairs += [(path, a, b) for (path, a), (_, b) in zip(tree_leaves(p_bar), tree_leaves(mp_bar))]
    pairs += [("y_dot", layer.jvp(params, cache, x_dot), mutant.jvp(params, cache, x_dot))]
    return {q for q, a, b in pairs if not np.allclose(a, b, rtol=1e-9, atol=1e-12)}


def _fd_blind(report) -> set:
    """Parameters whose derivative the checker saw below finite-difference resolution (a
    saturated tanh): no float64 finite difference sees a 1% error there."""
    return {r.param for r in report.results if r.check == "vjp_fd" and r.note == BELOW_RESOLUTION}


def _zero_derivative(layer, params, x):
    """True when every cotangent (input and parameters) of a random y_bar is zero."""
    y, cache = layer.forward(params, x)
    x_bar, p_bar = layer.vjp(params, cache, np.random.default_rng(2).standard_normal(np.shape(y)))
    leaves = list(_tuple(x_bar)) + [leaf for _, leaf in tree_leaves(p_bar)]
    return not any(np.any(leaf) for leaf in leaves)


def _all_mutants(spec, layer, params, x):
    yield from ((label, Mutant(layer, vjp=fn)) for label, fn in vjp_mutants(layer, params, x))
    yield from ((label, Mutant(layer, jvp=fn)) for label, fn in jvp_mutants(layer, params, x))
    yield from ((fn.__name__, Mutant(layer, vjp=fn)) for fn in MUTANTS.get(spec.name, ()))


def assert_caught(spec, layer, x, params):
    """Every applicable mutant fails ``check_layer`` at ``params`` (None: the default
    point); returns how many were applicable."""
    point = perturbed_params(layer, np.random.default_rng(0)) if params is None else params
    assert check_layer(layer, x, params, seed=0, tol=spec.tol).passed
    applied = 0
    for label, mutant in _all_mutants(spec, layer, point, x):
        changed = _changed(layer, mutant, point, x)
        if not changed:
            continue
        report = check_layer(mutant, x, params, seed=0, tol=spec.tol)
        if report.passed and changed <= _fd_blind(report):
            continue
        applied += 1
        where = "the default point" if params is None else "the drawn point"
        assert not report.passed, f"planted bug {label!r} in {spec.name} at {where} not caught"
    return applied


@pytest.mark.parametrize("spec", SPECIMENS, ids=lambda s: s.name)
@given(data=st.data())
def test_planted_bugs_are_caught(spec, data):
    layer, x, params, _ = draw_case(spec, data.draw)
    if _zero_derivative(layer, params, x):
        reject()    # nothing to plant a bug in (a ReLU whose inputs are all negative)
    # the 1% scaling always changes a nonzero cotangent, so something was tested
    assert assert_caught(spec, layer, x, params) >= 1
    assert_caught(spec, layer, x, None)


@pytest.mark.parametrize("bug", [x_bar_without_alpha, alpha_bar_times_alpha, "adds-b"])
def test_the_init_point_hides_three_dctps_bugs(bug):
    """At ``layer.init`` (alpha = 1, S = 0, b = 0) these bugs compute the right numbers
    and pass; at the checker's default point (``params=None``) they are caught."""
    layer = DCTpSLinear(6, 8, nnz=10, rng=0)
    x = np.random.default_rng(0).standard_normal((3, 6))
    if bug == "adds-b":
        mutant = Mutant(layer, jvp=dict(jvp_mutants(layer, layer.init(0), x))["adds-b"])
    else:
        mutant = Mutant(layer, vjp=bug)
    assert check_layer(mutant, x, layer.init(0), seed=0).passed
    assert not check_layer(mutant, x, seed=0).passed


def test_mutation_harness_counts_mutants():
    """The harness itself: a Linear layer has mutants for x, W and b, all applicable."""
    from refnet.layers import Linear
    layer = Linear(3, 4)
    rng = np.random.default_rng(0)
    params = tree_map(lambda w: w + 0.3, layer.init(rng))
    x = rng.standard_normal((2, 3))
    spec = next(s for s in SPECIMENS if s.name == "Linear")
    labels = [label for label, mutant in _all_mutants(spec, layer, params, x)
              if _changed(layer, mutant, params, x)]
    assert labels == ["scale-x", "transpose-x", "nan-x", "scale-W", "drop-term-W", "scale-b",
                      "scale-y_dot", "adds-b"]
