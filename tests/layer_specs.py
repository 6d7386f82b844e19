"""The registry of every public layer, for the one generic gradient test.

Each :class:`LayerSpec` says how to build its layer at sizes drawn by
hypothesis and how to sample inputs that keep away from kinks.  Hypothesis
draws STRUCTURE (sizes, batch, seeds); array values then come from
``numpy.random.default_rng(seed)``.

Adding a layer to refnet means adding a spec here: ``test_registry_complete``
fails for any public layer class without one.  Tolerance overrides live in the
spec (``tol``), never as special cases inside the generic test.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from hypothesis import strategies as st

from refnet import Graph, Sequential
from refnet.cli.gradcheck import perturbed_params
from refnet.layers import (Add, AvgPool2d, Concat, Conv2d, DCTpSConv2d, DCTpSLinear, Flatten,
                           Identity, LeakyReLU, Linear, MaxPool2d, ReLU, SparseConv2d,
                           SparseLinear, Tanh)
from refnet.layers.sparse import SPARSE_INITS
from refnet.ops import OFFSETS, RANDOM_OFFSETS, FixedOperator
from refnet.testing import away_from_zero, distinct_values

size = st.integers(min_value=1, max_value=6)


def standard_normal(rng, shape):
    return rng.standard_normal(shape)


#: ``perturbed_init(layer, rng)``: the layer's own init plus N(0, 0.3^2) noise on every
#: parameter, the gallery's :func:`refnet.cli.gradcheck.perturbed_params`.  Zero-initialised
#: parameters (biases, a DCTpS layer's S) would hide a dropped term in a derivative; the
#: noise makes every term visible.
perturbed_init = perturbed_params


@dataclass(frozen=True)
class LayerSpec:
    """How to test one layer class.

    Attributes
    ----------
    name : str
        Test id.
    layer_type : type
        The public class this spec covers.
    build : callable
        ``build(draw) -> (layer, in_shape)``; ``in_shape`` is the per-example
        input shape, or a tuple of them for a merge layer.
    sample_input : callable
        ``sample_input(rng, shape) -> array`` for one full input (batch axis
        included).
    sample_params : callable
        ``sample_params(layer, rng) -> params``.
    tol : dict
        Overrides of ``refnet.testing.TOLERANCES``.
    mutants : tuple
        Extra layer-specific wrong VJPs for the mutation test: callables
        ``mutant(layer, params, cache, y_bar) -> (x_bar, params_bar)``.
    """

    name: str
    layer_type: type
    build: Callable
    sample_input: Callable = standard_normal
    sample_params: Callable = perturbed_init
    tol: dict = field(default_factory=dict)
    mutants: tuple = ()


def _linear(draw):
    n, m = draw(size, label="n_in"), draw(size, label="n_out")
    bias = draw(st.booleans(), label="bias")
    return Linear(n, m, bias=bias), (n,)


def _vector_shape(draw):
    return tuple(draw(st.lists(size, min_size=1, max_size=3), label="shape"))


def _elementwise(cls, **kwargs):
    return lambda draw: (cls(**kwargs), _vector_shape(draw))


def _leaky(draw):
    slope = draw(st.sampled_from([0.01, 0.2, -0.5]), label="negative_slope")
    return LeakyReLU(slope), _vector_shape(draw)


def _add(draw):
    shape = _vector_shape(draw)
    k = draw(st.integers(2, 3), label="inputs")
    return Add(), (shape,) * k


def _concat(draw):
    shape = _vector_shape(draw)
    axis = draw(st.integers(0, len(shape) - 1), label="axis")
    sizes = draw(st.lists(size, min_size=2, max_size=3), label="sizes")
    return Concat(axis), tuple(shape[:axis] + (s,) + shape[axis + 1:] for s in sizes)


def _sequential(draw):
    n, h, m = draw(size), draw(size), draw(size)
    return Sequential([("fc1", Linear(n, h)), ("act", Tanh()), ("fc2", Linear(h, m))],
                      input_shape=(n,)), (n,)


def _residual_graph(draw):
    """A residual block with fan-out: the input feeds fc1 AND the sum, and act
    feeds both fc2 and the concatenated output."""
    n = draw(size, label="width")
    h = draw(size, label="hidden")
    return Graph([("fc1", Linear(n, h), "input"), ("act", Tanh(), "fc1"),
                  ("fc2", Linear(h, n), "act"), ("sum", Add(), ("input", "fc2")),
                  ("out", Concat(), ("sum", "act"))], input_shape=(n,)), (n,)


# -- sparse and DCT-plus-Sparse layers ---------------------------------------------
def _sparse_options(draw, shape):
    """nnz of an (m, n) weight (at least 1, so the layer is not constant), support seed, bias."""
    return dict(nnz=draw(st.integers(1, shape[0] * shape[1]), label="nnz"),
                rng=draw(st.integers(0, 2**16), label="support_seed"),
                bias=draw(st.booleans(), label="bias"),
                init=draw(st.sampled_from(SPARSE_INITS), label="init"))


def _alpha_options(draw):
    """Trainable alpha (perturbed_init moves it off 1) or a frozen alpha != 1."""
    if draw(st.booleans(), label="train_alpha"):
        return dict(train_alpha=True)
    return dict(train_alpha=False, alpha=draw(st.sampled_from([0.7, -1.3, 2.5]), label="alpha"))


def _offset_options(draw, offset):
    """The offset argument of a DCTpS layer (and a drawn seed when it is random)."""
    if offset is None:
        return {}
    if offset in RANDOM_OFFSETS:
        return dict(offset=offset, offset_seed=draw(st.integers(0, 2**16), label="offset_seed"))
    return dict(offset=offset)


def _sparse_linear(cls, with_alpha=False, offset=None):
    def build(draw):
        n, m = draw(size, label="n_in"), draw(size, label="n_out")
        extra = _alpha_options(draw) if with_alpha else {}
        return cls(n, m, **_sparse_options(draw, (m, n)), **extra,
                   **_offset_options(draw, offset)), (n,)
    return build


def _sparse_conv(cls, with_alpha=False, offset=None):
    def build(draw):
        cin, cout = draw(st.integers(1, 3), label="in_channels"), draw(st.integers(1, 4),
                                                                        label="out_channels")
        kh, kw = draw(st.integers(1, 3), label="kh"), draw(st.integers(1, 3), label="kw")
        stride = draw(st.integers(1, 2), label="stride")
        # padding < kernel: the first patch always sees some input, so the output
        # depends on x (a patch of pure padding would make every mutant harmless)
        padding = draw(st.integers(0, min(1, kh - 1, kw - 1)), label="padding")
        h = draw(st.integers(max(1, kh - 2 * padding), 5), label="H")
        w = draw(st.integers(max(1, kw - 2 * padding), 5), label="W")
        extra = _alpha_options(draw) if with_alpha else {}
        layer = cls(cin, cout, (kh, kw), stride, padding,
                    **_sparse_options(draw, (cout, kh * kw * cin)), **extra,
                    **_offset_options(draw, offset))
        return layer, (cin, h, w)
    return build


class _ZeroOffset(FixedOperator):
    """An offset that contributes nothing: a layer using it has lost its alpha * O terms."""

    def apply(self, x):
        return np.zeros(np.shape(x)[:-1] + (self.n_out,))

    def adjoint(self, y):
        return np.zeros(np.shape(y)[:-1] + (self.n_in,))


def drop_offset_term(layer, params, cache, y_bar):
    """Planted bug: x_bar without ``alpha * D.T @ y_bar`` (frozen alpha included)."""
    shadow = copy.copy(layer)
    shadow.offset = _ZeroOffset(layer.offset.n_in, layer.offset.n_out)
    x_bar, _ = shadow.vjp(params, cache, y_bar, need_params=False)
    return x_bar, layer.vjp(params, cache, y_bar)[1]


def drop_sparse_term(layer, params, cache, y_bar):
    """Planted bug: x_bar without ``S.T @ y_bar``."""
    no_s = dict(params, S=np.zeros_like(params["S"]))
    x_bar, _ = layer.vjp(no_s, cache, y_bar, need_params=False)
    return x_bar, layer.vjp(params, cache, y_bar)[1]


def misorder_values(layer, params, cache, y_bar):
    """Planted bug: S_bar right as a set but in the wrong order (values gathered in
    another order than the support's CSR order)."""
    x_bar, p_bar = layer.vjp(params, cache, y_bar)
    return x_bar, dict(p_bar, S=np.ascontiguousarray(p_bar["S"][..., ::-1]))


SPECS: list[LayerSpec] = [
    LayerSpec("Linear", Linear, _linear),
    LayerSpec("ReLU", ReLU, _elementwise(ReLU), sample_input=away_from_zero),
    LayerSpec("LeakyReLU", LeakyReLU, _leaky, sample_input=away_from_zero),
    LayerSpec("Tanh", Tanh, _elementwise(Tanh)),
    LayerSpec("Identity", Identity, _elementwise(Identity)),
    LayerSpec("Flatten", Flatten, _elementwise(Flatten)),
    LayerSpec("Add", Add, _add),
    LayerSpec("Concat", Concat, _concat),
    LayerSpec("Sequential", Sequential, _sequential),
    LayerSpec("Graph-residual", Graph, _residual_graph),
    LayerSpec("SparseLinear", SparseLinear, _sparse_linear(SparseLinear),
              mutants=(drop_sparse_term, misorder_values)),
    LayerSpec("SparseConv2d", SparseConv2d, _sparse_conv(SparseConv2d),
              mutants=(drop_sparse_term, misorder_values)),
    LayerSpec("DCTpSLinear", DCTpSLinear, _sparse_linear(DCTpSLinear, with_alpha=True),
              mutants=(drop_offset_term, drop_sparse_term, misorder_values)),
    LayerSpec("DCTpSConv2d", DCTpSConv2d, _sparse_conv(DCTpSConv2d, with_alpha=True),
              mutants=(drop_offset_term, drop_sparse_term, misorder_values)),
]



# -- the other offsets of the DCTpS layers (refnet.ops.offsets) --------------------------
def inverse_as_permutation(layer, params, cache, y_bar):
    """Planted bug: the randomised DCT's adjoint gathering with the permutations
    themselves instead of their inverses (``x[perm]`` transposed as ``y[perm]``)."""
    offset = layer.offset
    wrong = copy.copy(offset)
    wrong.inv_in, wrong.inv_out = offset.perm_in, offset.perm_out
    wrong.signs_in_order = offset.signs[offset.perm_in]
    shadow = copy.copy(layer)
    shadow.offset = wrong
    x_bar, _ = shadow.vjp(params, cache, y_bar, need_params=False)
    return x_bar, layer.vjp(params, cache, y_bar)[1]


def _offset_mutants(offset):
    if offset == "none":
        return (drop_sparse_term, misorder_values)
    extra = (inverse_as_permutation,) if offset == "randomized-dct" else ()
    return (drop_offset_term, drop_sparse_term, misorder_values) + extra


# every offset but the DCT (the specs above) as its own spec, so that each one always
# runs every generic check, the mutation test and the torch cross-check
for _offset in OFFSETS[1:]:
    SPECS += [
        LayerSpec(f"DCTpSLinear[{_offset}]", DCTpSLinear,
                  _sparse_linear(DCTpSLinear, with_alpha=_offset != "none", offset=_offset),
                  mutants=_offset_mutants(_offset)),
        LayerSpec(f"DCTpSConv2d[{_offset}]", DCTpSConv2d,
                  _sparse_conv(DCTpSConv2d, with_alpha=_offset != "none", offset=_offset),
                  mutants=_offset_mutants(_offset)),
    ]


# -- images (NCHW) ------------------------------------------------------------------
def _image_side(draw, kernel, padding, label):
    """A side length >= 1 that the padded kernel fits, so the output is non-empty."""
    smallest = max(1, kernel - 2 * padding)
    return draw(st.integers(smallest, smallest + 3), label=label)


def _window(draw, pool=True):
    """Kernel, stride and padding pairs; for pooling, padding at most half the kernel."""
    kernel = tuple(draw(st.integers(1, 3), label=f"kernel_{a}") for a in "hw")
    stride = tuple(draw(st.integers(1, 2), label=f"stride_{a}") for a in "hw")
    padding = tuple(draw(st.integers(0, k // 2 if pool else 2), label=f"padding_{a}")
                    for a, k in zip("hw", kernel))
    return kernel, stride, padding


def _conv2d(draw):
    c_in = draw(st.integers(1, 3), label="in_channels")
    c_out = draw(st.integers(1, 3), label="out_channels")
    kernel, stride, padding = _window(draw, pool=False)
    h = _image_side(draw, kernel[0], padding[0], "height")
    w = _image_side(draw, kernel[1], padding[1], "width")
    bias = draw(st.booleans(), label="bias")
    return Conv2d(c_in, c_out, kernel, stride, padding, bias=bias), (c_in, h, w)


def _pool(cls):
    def build(draw):
        kernel, stride, padding = _window(draw)
        if draw(st.booleans(), label="default stride"):
            stride = None                              # the kernel size
        channels = draw(st.integers(1, 3), label="channels")
        h = _image_side(draw, kernel[0], padding[0], "height")
        w = _image_side(draw, kernel[1], padding[1], "width")
        return cls(kernel, stride, padding), (channels, h, w)
    return build


def _conv_flipped_kernel(layer, params, cache, y_bar):
    """x_bar of a true convolution (kernel flipped) where refnet cross-correlates."""
    flipped = dict(params, W=params["W"][:, :, ::-1, ::-1])
    x_bar, _ = layer.vjp(flipped, cache, y_bar, need_params=False)
    return x_bar, layer.vjp(params, cache, y_bar)[1]


def _conv_channel_slowest(layer, params, cache, y_bar):
    """x_bar with W flattened as W.reshape(O, -1), channel slowest: the patch layout
    of im2col (channel fastest) not respected."""
    o, c, kh, kw = params["W"].shape
    wrong = params["W"].reshape(o, kh, kw, c).transpose(0, 3, 1, 2)
    x_bar, _ = layer.vjp(dict(params, W=wrong), cache, y_bar, need_params=False)
    return x_bar, layer.vjp(params, cache, y_bar)[1]


def _maxpool_wrong_winner(layer, params, cache, y_bar):
    """The cotangent routed to the window entry after the maximum."""
    wrong = cache._replace(argmax=(cache.argmax + 1) % layer.window_size)
    return layer.vjp(params, wrong, y_bar)


SPECS += [
    LayerSpec("Conv2d", Conv2d, _conv2d,
              mutants=(_conv_flipped_kernel, _conv_channel_slowest)),
    LayerSpec("AvgPool2d", AvgPool2d, _pool(AvgPool2d)),
    # well-separated values: finite differences never swap a window's winner
    LayerSpec("MaxPool2d", MaxPool2d, _pool(MaxPool2d), sample_input=distinct_values,
              mutants=(_maxpool_wrong_winner,)),
]


def draw_case(spec: LayerSpec, draw):
    """Build ``spec``'s layer and draw a batch and a seed; return
    ``(layer, x, params, rng)`` ready for the checker."""
    layer, in_shape = spec.build(draw)
    batch = draw(st.integers(1, 4), label="batch")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    if layer.n_inputs is None:
        x = tuple(spec.sample_input(rng, (batch,) + tuple(s)) for s in in_shape)
    else:
        x = spec.sample_input(rng, (batch,) + tuple(in_shape))
    params = spec.sample_params(layer, rng)
    return layer, x, params, rng


# -- reference models (refnet.models.Model is a Graph that knows its spec) -------------
def _model(draw):
    """A small tanh MLP from build_model in any kind (tanh: no kinks for finite
    differences; the ReLU models are checked at kink-free points in tests/models)."""
    from refnet.models import build_model
    from refnet.sparsity import DISTRIBUTIONS
    kind = draw(st.sampled_from(["dense", "sparse", "dctps"]), label="kind")
    sizes = draw(st.lists(size, min_size=2, max_size=4), label="sizes")
    options = {}
    if kind != "dense":
        options = dict(density=draw(st.sampled_from([0.3, 0.7, 1.0]), label="density"),
                       distribution=draw(st.sampled_from(DISTRIBUTIONS), label="distribution"),
                       rng=draw(st.integers(0, 2**16), label="support_seed"),
                       train_alpha=draw(st.booleans(), label="train_alpha"))
    net = build_model("mlp", sizes=sizes, activation="tanh", kind=kind, **options)
    return net, (sizes[0],)


from refnet.models import Model  # noqa: E402

SPECS += [LayerSpec("Model-mlp", Model, _model)]


# -- Doping: A kron B + S ----------------------------------------------------------------
from refnet.layers import DopingLinear  # noqa: E402


def _doping(draw):
    """Non-square factors of sizes 1..3 (so n, m <= 9) and 0..m*n entries of S
    (nnz = 0 is a pure Kronecker layer)."""
    n1, n2 = draw(st.integers(1, 3), label="n1"), draw(st.integers(1, 3), label="n2")
    m1, m2 = draw(st.integers(1, 3), label="m1"), draw(st.integers(1, 3), label="m2")
    n, m = n1 * n2, m1 * m2
    layer = DopingLinear(n, m, factors=((n1, n2), (m1, m2)),
                         nnz=draw(st.integers(0, m * n), label="nnz"),
                         rng=draw(st.integers(0, 2**16), label="support_seed"),
                         bias=draw(st.booleans(), label="bias"))
    return layer, (n,)


def swap_kron_order(layer, params, cache, y_bar):
    """Planted bug: x_bar of ``B kron A`` instead of ``A kron B``: the column-major
    identity ``vec(B @ Z @ A.T)`` read with numpy's row-major reshape."""
    (n1, n2), (m1, m2) = layer.factors
    swapped = DopingLinear(layer.n_in, layer.n_out, factors=((n2, n1), (m2, m1)),
                           support=layer.support, bias=layer.bias)
    x_bar, _ = swapped.vjp(dict(params, A=params["B"], B=params["A"]), cache, y_bar,
                           need_params=False)
    return x_bar, layer.vjp(params, cache, y_bar)[1]


SPECS += [LayerSpec("DopingLinear", DopingLinear, _doping,
                    mutants=(drop_sparse_term, swap_kron_order))]


# -- random-subspace training (refnet.sparsity.SubspaceNetwork) --------------------------
def _subspace(draw):
    """A small tanh network (dense, or with a sparse layer) on a dense or sparse random
    subspace, or on a given projection matrix; the offset d is a perturbed init."""
    from refnet.sparsity import SubspaceNetwork
    n, h, m = draw(size, label="n_in"), draw(size, label="hidden"), draw(size, label="n_out")
    seed = draw(st.integers(0, 2**16), label="seed")
    second = SparseLinear(h, m, nnz=draw(st.integers(1, h * m), label="nnz"), rng=seed) \
        if draw(st.booleans(), label="sparse second layer") else Linear(h, m)
    net = Sequential([("fc1", Linear(n, h)), ("act", Tanh()), ("fc2", second)],
                     input_shape=(n,))
    rng = np.random.default_rng(seed)
    params0 = perturbed_init(net, rng)
    size_d = sum(np.size(v) for p in params0.values() for v in p.values())
    dim = draw(st.integers(1, size_d + 2), label="dim")
    projection = draw(st.sampled_from(["dense", "sparse", "given"]), label="projection")
    if projection == "given":
        return SubspaceNetwork(net, params0, projection=rng.standard_normal((size_d, dim))), (n,)
    return SubspaceNetwork(net, params0, dim, projection=projection, rng=rng), (n,)


from refnet.sparsity import SubspaceNetwork  # noqa: E402

SPECS += [LayerSpec("SubspaceNetwork", SubspaceNetwork, _subspace)]
