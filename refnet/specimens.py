"""One registry of layer specimens: the test suite and ``refnet gradcheck`` both read it.

A :class:`Specimen` builds small instances of one public layer class with
``build(draw)``, ``draw(label, choices)`` returning one of ``choices`` for each size
and option: hypothesis in the tests, :func:`fixed` in ``refnet gradcheck``.  Every
public layer class needs a specimen: a test fails for one without.

Examples
--------
>>> from refnet.testing import check_layer
>>> specimen = SPECIMENS[0]
>>> layer, x, params, rng = case(specimen, fixed(specimen.examples["Linear"]))
>>> check_layer(layer, x, params, seed=rng, tol=specimen.tol).passed
True
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .core import Graph, Sequential
from .doping import DopingLinear
from .layers import (Add, AvgPool2d, Concat, Conv2d, DCTpSConv2d, DCTpSLinear, Flatten,
                     Identity, LeakyReLU, Linear, MaxPool2d, ReLU, SparseConv2d, SparseLinear,
                     Tanh)
from .models import Model, build_model, check_point
from .offsets import RANDOM_OFFSETS, make_offset
from .sparsity import DISTRIBUTIONS, SubspaceNetwork
from .testing import away_from_zero, distinct_values, perturbed_params

__all__ = ["Specimen", "SPECIMENS", "case", "fixed", "sampled"]

SIZES, SEEDS, BOOLS = range(1, 7), range(2**16), (True, False)


def sampled(sample=lambda rng, shape: rng.standard_normal(shape)):
    """A ``point``: ``x`` from ``sample(rng, (batch, *in_shape))`` (one per input of a merge
    layer), then :func:`~refnet.testing.perturbed_params`."""
    def point(layer, in_shape, batch, rng):
        xs = [sample(rng, (batch,) + tuple(s))
              for s in (in_shape if layer.n_inputs is None else (in_shape,))]
        return (tuple(xs) if layer.n_inputs is None else xs[0]), perturbed_params(layer, rng)
    return point


class Specimen(NamedTuple):
    """How to build and check one public class ``layer_type``.

    ``build(draw) -> (layer, in_shape)`` (per example; a tuple of them for a
    merge layer); ``examples`` are ``refnet gradcheck``'s instances, name ->
    the values :func:`fixed` draws (an unnamed label takes its first choice);
    ``point(layer, in_shape, batch, rng) -> (x, params)``; ``tol`` overrides
    :data:`refnet.testing.TOLERANCES`.
    """

    name: str
    layer_type: type
    build: Callable
    examples: dict
    point: Callable = sampled()
    tol: dict = {}


def fixed(values: dict) -> Callable:
    """A ``draw`` that answers ``values[label]``, or the first choice."""
    return lambda label, choices: values.get(label, choices[0])


def case(specimen: Specimen, draw: Callable):
    """``(layer, x, params, rng)``: ``specimen`` built with ``draw``, at a drawn batch and seed."""
    layer, in_shape = specimen.build(draw)
    batch = draw("batch", range(1, 5))
    rng = np.random.default_rng(draw("seed", range(2**32)))
    return (layer, *specimen.point(layer, in_shape, batch, rng), rng)


def _vector(draw):
    return tuple(draw(f"size{i}", SIZES) for i in range(draw("ndim", (1, 2, 3))))


def _linear(draw):
    n = draw("n_in", SIZES)
    return Linear(n, draw("n_out", SIZES), bias=draw("bias", BOOLS)), (n,)


def _add(draw):
    shape = _vector(draw)
    return Add(), (shape,) * draw("inputs", (2, 3))


def _concat(draw):
    shape = _vector(draw)
    axis = draw("axis", range(len(shape)))
    return Concat(axis), tuple(shape[:axis] + (draw(f"part{i}", SIZES),) + shape[axis + 1:]
                               for i in range(draw("inputs", (2, 3))))


def _mlp(draw):
    n, h, m = draw("n_in", SIZES), draw("hidden", SIZES), draw("n_out", SIZES)
    return Sequential([("fc1", Linear(n, h)), ("act", Tanh()), ("fc2", Linear(h, m))],
                      input_shape=(n,)), (n,)


def _residual(draw):
    """Fan-out: the input feeds fc1 AND the sum; act feeds fc2 AND the output."""
    n, h = draw("width", SIZES), draw("hidden", SIZES)
    return Graph([("fc1", Linear(n, h), "input"), ("act", Tanh(), "fc1"),
                  ("fc2", Linear(h, n), "act"), ("sum", Add(), ("input", "fc2")),
                  ("out", Concat(), ("sum", "act"))], input_shape=(n,)), (n,)


def _cnn(draw):
    """Conv2d-ReLU-MaxPool2d-Conv2d-AvgPool2d-Flatten-Linear on 2 x 8 x 8 images."""
    return Sequential([("conv1", Conv2d(2, 3, 3, padding=1)), ("relu", ReLU()),
                       ("maxpool", MaxPool2d(2)), ("conv2", Conv2d(3, 4, (2, 3), padding=(0, 1))),
                       ("avgpool", AvgPool2d(3, stride=1, padding=1)), ("flatten", Flatten()),
                       ("fc", Linear(4 * 3 * 4, 5))], input_shape=(2, 8, 8)), (2, 8, 8)


def _sparse_options(draw, m, n, offset):
    """Support (at least one entry, so the layer is not constant), bias, init; for a
    DCTpS layer also alpha (trainable, or frozen away from 1) and the offset's seed."""
    options = dict(nnz=draw("nnz", range(1, m * n + 1)), rng=draw("support_seed", SEEDS),
                   bias=draw("bias", BOOLS),
                   init=draw("init", ("zeros", "kaiming-dense", "kaiming-sparse")))
    if offset is None:
        return options
    if offset != "none" and not draw("train_alpha", BOOLS):
        options.update(train_alpha=False, alpha=draw("alpha", (0.7, -1.3, 2.5)))
    seed = draw("offset_seed", SEEDS) if offset in RANDOM_OFFSETS else None
    return dict(options, offset=make_offset(offset, n, m, seed) or "none")


def _sparse_linear(cls, offset=None, n_sizes=SIZES):
    def build(draw):
        n, m = draw("n_in", n_sizes), draw("n_out", SIZES)
        return cls(n, m, **_sparse_options(draw, m, n, offset)), (n,)
    return build


def _sparse_conv(cls, offset=None):
    def build(draw):
        cin, cout = draw("in_channels", range(1, 4)), draw("out_channels", range(1, 5))
        kh, kw, stride = draw("kh", range(1, 4)), draw("kw", range(1, 4)), draw("stride", (1, 2))
        # padding < kernel: every patch sees some input, so the output depends on x
        padding = draw("padding", range(min(1, kh - 1, kw - 1) + 1))
        h = draw("H", range(max(1, kh - 2 * padding), 6))
        w = draw("W", range(max(1, kw - 2 * padding), 6))
        return cls(cin, cout, (kh, kw), stride, padding,
                   **_sparse_options(draw, cout, kh * kw * cin, offset)), (cin, h, w)
    return build


def _window(draw, pooling):
    """(kernel, stride, padding) pairs and an image they fit; pooling pads at most k // 2."""
    kernel = tuple(draw(f"kernel_{a}", range(1, 4)) for a in "hw")
    stride = tuple(draw(f"stride_{a}", (1, 2)) for a in "hw")
    padding = tuple(draw(f"padding_{a}", range((k // 2 if pooling else 2) + 1))
                    for a, k in zip("hw", kernel))
    image = tuple(draw(a, range(max(1, k - 2 * p), max(1, k - 2 * p) + 4))
                  for a, k, p in zip("HW", kernel, padding))
    return kernel, stride, padding, image


def _conv2d(draw):
    cin, cout = draw("in_channels", range(1, 4)), draw("out_channels", range(1, 4))
    kernel, stride, padding, image = _window(draw, pooling=False)
    return Conv2d(cin, cout, kernel, stride, padding, bias=draw("bias", BOOLS)), (cin, *image)


def _pool(cls):
    def build(draw):
        kernel, stride, padding, image = _window(draw, pooling=True)
        stride = None if draw("default_stride", (False, True)) else stride
        return cls(kernel, stride, padding), (draw("channels", range(1, 4)), *image)
    return build


def _model(draw):
    """A small tanh MLP (no kinks) of any kind, or a named model (the gallery's lenet5)."""
    name, kind = draw("model", ("mlp",)), draw("kind", ("dense", "sparse", "dctps"))
    options = {} if kind == "dense" else dict(
        density=draw("density", (0.3, 0.7, 1.0)), rng=draw("support_seed", SEEDS),
        distribution=draw("distribution", DISTRIBUTIONS), train_alpha=draw("train_alpha", BOOLS))
    if name == "mlp":
        options.update(sizes=[draw(f"size{i}", SIZES) for i in range(draw("depth", (2, 3, 4)))],
                       activation="tanh")
    net = build_model(name, kind=kind, **options)
    return net, tuple(net.input_shape)


def _doping(draw):
    """Non-square factors (a swapped Kronecker order shows); nnz = 0 is pure Kronecker."""
    (n1, n2), (m1, m2) = ((draw(a + "1", range(1, 4)), draw(a + "2", range(1, 4))) for a in "nm")
    n, m = n1 * n2, m1 * m2
    return DopingLinear(n, m, factors=((n1, n2), (m1, m2)), nnz=draw("nnz", range(m * n + 1)),
                        rng=draw("support_seed", SEEDS), bias=draw("bias", BOOLS)), (n,)


def _subspace(draw):
    """A tanh network (its second layer dense or sparse) on a random subspace ``d + U theta``."""
    n, h, m = draw("n_in", SIZES), draw("hidden", SIZES), draw("n_out", SIZES)
    seed = draw("net_seed", SEEDS)
    second = SparseLinear(h, m, nnz=draw("nnz", range(1, h * m + 1)), rng=seed) \
        if draw("sparse_second", (False, True)) else Linear(h, m)
    net = Sequential([("fc1", Linear(n, h)), ("act", Tanh()), ("fc2", second)],
                     input_shape=(n,))
    rng = np.random.default_rng(seed)
    d = perturbed_params(net, rng)
    size = sum(np.size(leaf) for p in d.values() for leaf in p.values())
    dim, projection = draw("dim", range(1, size + 3)), draw("projection",
                                                            ("dense", "sparse", "given"))
    if projection == "given":
        return SubspaceNetwork(net, d, projection=rng.standard_normal((size, dim))), (n,)
    return SubspaceNetwork(net, d, dim, projection=projection, rng=rng), (n,)


def _image(values, shape):
    return dict(values, **dict(zip(("in_channels", "H", "W"), shape)))


SPECIMENS: list[Specimen] = [
    Specimen("Linear", Linear, _linear, {
        "Linear": dict(n_in=5, n_out=4), "Linear(bias=False)": dict(n_in=4, n_out=6, bias=False)}),
    Specimen("ReLU", ReLU, lambda draw: (ReLU(), _vector(draw)), {"ReLU": dict(size0=7)},
             sampled(away_from_zero)),
    Specimen("LeakyReLU", LeakyReLU, lambda draw: (
        LeakyReLU(draw("negative_slope", (0.01, 0.2, -0.5))), _vector(draw)),
        {"LeakyReLU": dict(negative_slope=0.1, size0=7)}, sampled(away_from_zero)),
    Specimen("Tanh", Tanh, lambda draw: (Tanh(), _vector(draw)), {"Tanh": dict(size0=7)}),
    Specimen("Identity", Identity, lambda draw: (Identity(), _vector(draw)),
             {"Identity": dict(ndim=2, size0=3, size1=2)}),
    Specimen("Flatten", Flatten, lambda draw: (Flatten(), _vector(draw)),
             {"Flatten": dict(ndim=3, size0=2, size1=3, size2=2)}),
    Specimen("Add", Add, _add, {"Add": dict(size0=4)}),
    Specimen("Concat", Concat, _concat, {"Concat": dict(size0=3, part0=3, part1=2)}),
    Specimen("Sequential", Sequential, _mlp, {"Sequential MLP": dict(n_in=6, hidden=8, n_out=3)}),
    Specimen("Sequential-CNN", Sequential, _cnn, {"Sequential CNN": dict(batch=2)}),
    Specimen("Graph-residual", Graph, _residual,
             {"Graph residual block": dict(width=6, hidden=6)}),
    Specimen("SparseLinear", SparseLinear, _sparse_linear(SparseLinear), {
        "SparseLinear": dict(n_in=6, n_out=5, nnz=9, init="kaiming-dense"),
        "SparseLinear(kaiming-sparse, bias=False)": dict(n_in=5, n_out=7, nnz=9, support_seed=1,
                                                         bias=False, init="kaiming-sparse")}),
    Specimen("SparseConv2d", SparseConv2d, _sparse_conv(SparseConv2d), {"SparseConv2d": _image(
        dict(out_channels=3, kh=3, kw=3, padding=1, nnz=16, init="kaiming-dense"), (2, 5, 5))}),
    Specimen("DCTpSLinear", DCTpSLinear, _sparse_linear(DCTpSLinear, "dct"), {
        "DCTpSLinear": dict(n_in=6, n_out=8, nnz=10),
        "DCTpSLinear(alpha=0.5 frozen)": dict(n_in=8, n_out=5, nnz=8, support_seed=1,
                                              train_alpha=False, alpha=0.5)}),
    Specimen("DCTpSConv2d", DCTpSConv2d, _sparse_conv(DCTpSConv2d, "dct"), {
        "DCTpSConv2d": _image(dict(out_channels=4, kh=3, kw=3, stride=2, padding=1, nnz=14),
                              (2, 5, 5))}),
    Specimen("Conv2d", Conv2d, _conv2d, {
        "Conv2d": dict(in_channels=2, out_channels=3, kernel_h=3, kernel_w=2, stride_h=2,
                       padding_h=1, padding_w=1, H=6, W=5),
        "Conv2d(bias=False)": dict(in_channels=3, out_channels=2, bias=False, H=3, W=4)}),
    Specimen("AvgPool2d", AvgPool2d, _pool(AvgPool2d), {"AvgPool2d": dict(
        kernel_h=3, kernel_w=3, stride_h=2, stride_w=2, padding_h=1, padding_w=1, H=5, W=6,
        channels=2)}),
    # well-separated values: a finite difference never swaps a window's winner
    Specimen("MaxPool2d", MaxPool2d, _pool(MaxPool2d), {"MaxPool2d": dict(
        kernel_h=3, kernel_w=3, stride_h=2, stride_w=2, padding_h=1, padding_w=1, H=5, W=6,
        channels=2)}, sampled(distinct_values)),
    # a reference model at a point where every ReLU input is at least 1e-4 from 0
    Specimen("Model", Model, _model, {
        "mlp dctps": dict(kind="dctps", size0=4, size1=6, depth=3, size2=3),
        **{f"lenet5-cifar {kind} (density 0.1)": dict(model="lenet5-cifar", kind=kind,
                                                       density=0.1, batch=2)
           for kind in ("sparse", "dctps")}},
        lambda net, in_shape, batch, rng: check_point(net, rng, batch=batch)),
    Specimen("DopingLinear", DopingLinear, _doping, {
        "DopingLinear": dict(n1=2, n2=3, m1=4, m2=2, nnz=10),
        "DopingLinear(pure Kronecker, bias=False)": dict(n1=4, n2=3, m1=3, m2=2, nnz=0,
                                                         support_seed=1, bias=False)}),
    Specimen("SubspaceNetwork", SubspaceNetwork, _subspace, {
        f"SubspaceNetwork ({projection} U)": dict(n_in=4, hidden=8, n_out=3, dim=12,
                                                  projection=projection)
        for projection in ("dense", "sparse")}),
]

# every other offset of a DCTpS layer as its own specimen, so that each always runs every
# check (rectangular in the gallery, so truncation and padding both show); dct-2d reads only
# 784 inputs as an image, so its linear specimen draws them too
for _offset, (_n, _m) in {"randomized-dct": (9, 6), "orthogonal": (6, 9), "identity": (7, 5),
                          "none": (5, 7), "permutation": (6, 9), "signs": (9, 6),
                          "dct-2d": (784, 6)}.items():
    SPECIMENS.append(Specimen(
        f"DCTpSLinear[{_offset}]", DCTpSLinear, _sparse_linear(
            DCTpSLinear, _offset, (784,) + tuple(SIZES) if _offset == "dct-2d" else SIZES),
        {f"DCTpSLinear(offset={_offset})": dict(n_in=_n, n_out=_m, nnz=9)}))
    if _offset != "dct-2d":         # these patches are never 784 long: dct-2d is the dct
        SPECIMENS.append(Specimen(
            f"DCTpSConv2d[{_offset}]", DCTpSConv2d, _sparse_conv(DCTpSConv2d, _offset),
            {f"DCTpSConv2d(offset={_offset})": _image(
                dict(out_channels=5, kh=3, kw=3, padding=1, nnz=12), (2, 5, 5))}))
