"""The reference networks' blueprints: each structure written once, built as any kind.

A blueprint is a list of graph nodes ``(name, item, inputs)``; an item is a
layer without weight matrix (``ReLU()``, ``AvgPool2d(2)``, ``Add()``, ...) or a
*weight slot*, :class:`LinearWeight` or :class:`ConvWeight`: the shape of a
prunable weight, its bias and initialisation.  :func:`make_layer` turns a slot
into a Linear / Conv2d, a SparseLinear / SparseConv2d or a DCTpSLinear /
DCTpSConv2d: the :data:`KINDS` "dense", "sparse" and "dctps".

``init_scale`` asks for a non-standard initialisation (Fixup,
:func:`resnet_small`): 0 builds the layer with ``init="zeros"`` (and ``alpha =
0`` for DCTpS); another value multiplies the freshly drawn ``W`` or ``S`` by
it, and a DCTpS layer starts with ``alpha = init_scale``.

``lenet5`` (1 x 28 x 28) is LeCun et al.'s (1998) with the usual modern
simplifications: ReLU for the scaled tanh (as the pruning literature and the
DCTpS code use with Kaiming init), full connectivity in conv2 (no C3 table),
no RBF output, and 2x2 average pooling (the paper's subsampling without its
coefficient; linear, so it adds no kinks to a gradient check)::

    conv1 1 -> 6, 5x5, pad 2 (28x28), ReLU, pool (14x14)
    conv2 6 -> 16, 5x5 (10x10), ReLU, pool (5x5)
    flatten (400), fc1 -> 120, ReLU, fc2 -> 84, ReLU, fc3 -> 10     61,470 weights, biases

``lenet5-cifar`` (3 x 32 x 32) is the DCTpS repository's ``LeNet``
(IlanPrice/DCTpS, ``code/models.py``), no biases; at least 32 x 32 inputs
(``in_shape=(1, 32, 32)`` gives 61,210 weights)::

    conv1 3 -> 6, 5x5 (28x28), ReLU, pool (14x14)
    conv2 6 -> 16, 5x5 (10x10), ReLU, pool (5x5)
    conv3 16 -> 120, 5x5 (1x1), ReLU, flatten (120), fc1 -> 82, ReLU, fc2 -> 10
                                    450 + 2,400 + 48,000 + 9,840 + 820 = 61,510 weights

``resnet-small`` is the talk's FixupResNet experiment cut down to what NumPy
can gradient-check and train on MNIST-sized inputs (30,344 weights at the
defaults: 1 x 28 x 28, width 8, one block per stage)::

    stem      conv 3x3, C -> width, padding 1, ReLU
    stage s   (width_s = width * 2**(s - 1))
              if s > 1: down<s>: conv 3x3, stride 2, padding 1, width_{s-1} -> width_s, ReLU
              blocks[s - 1] residual blocks:
                  h = ReLU(conv1(x));  y = ReLU(x + conv2(h))     (convs 3x3, padding 1)
    head      global average pool, flatten, fc width_last -> classes (logits)

Block ``k`` (counted over all stages) has nodes ``block<k>_conv1``, ``_act1``,
``_conv2``, ``_add``, ``_act2``.  Fixup (Zhang, Dauphin & Ma, ICLR 2019) with
``L = sum(blocks)`` branches of ``m = 2`` layers: the classifier ``fc`` and
every ``block<k>_conv2`` start at zero; every ``block<k>_conv1`` is drawn the
standard way times ``L ** (-1 / (2m - 2)) = L ** -0.5``; stem and downsampling
convolutions are standard (Kaiming normal).  Fixup's scalar multiplier and
biases are NOT implemented (ordinary zero-initialised biases instead).  For a
sparse layer this scales ``S``; a DCTpS layer starts with ``alpha = 0``
(zeroed layers, as the DCTpS repository's Fixup ResNet does) or ``alpha = L **
-0.5``, and ``S = 0``.  Unlike the paper's networks, stages are joined by a
strided convolution (not a strided identity padded with zero channels) and are
one block at width 8.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

from .._checks import check_pair, check_positive_int
from ..layers import (Add, AvgPool2d, Conv2d, DCTpSConv2d, DCTpSLinear, Flatten, Linear, ReLU,
                      SparseConv2d, SparseLinear, Tanh)
from ..layers.sparse import SPARSE_INITS
from ..offsets import make_offset

__all__ = ["KINDS", "LinearWeight", "ConvWeight", "Blueprint", "default_sparse_init",
           "make_layer", "mlp", "lenet300", "lenet5", "lenet5_cifar", "resnet_small",
           "fixup_scale"]

#: The kinds every reference model can be built as.
KINDS = ("dense", "sparse", "dctps")
#: kind -> (fully connected class, convolution class)
_CLASSES = {"dense": (Linear, Conv2d), "sparse": (SparseLinear, SparseConv2d),
            "dctps": (DCTpSLinear, DCTpSConv2d)}


class LinearWeight(NamedTuple):
    """A fully connected slot: an ``(n_out, n_in)`` prunable weight, optionally a bias."""

    n_in: int
    n_out: int
    bias: bool = True
    init_scale: float = 1.0

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_out, self.n_in)

    def build(self, cls, **options):
        return cls(self.n_in, self.n_out, bias=self.bias, **options)


class ConvWeight(NamedTuple):
    """A convolution slot: an ``(out, in, kh, kw)`` prunable kernel, optionally a bias."""

    in_channels: int
    out_channels: int
    kernel_size: tuple | int
    stride: int = 1
    padding: int = 0
    bias: bool = True
    init_scale: float = 1.0

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.out_channels, self.in_channels) + check_pair(
            "kernel_size", self.kernel_size, "ConvWeight")

    def build(self, cls, **options):
        return cls(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                   self.padding, bias=self.bias, **options)


def default_sparse_init(kind: str, offset: str = "dct") -> str | None:
    """The initialiser of ``S`` when none is asked for.

    ``"kaiming-dense"`` for sparse (the DCTpS code's baselines: a dense Kaiming
    draw, masked) and for DCTpS without offset (``S = 0`` would make it zero),
    ``"zeros"`` for DCTpS (the paper's: at init the network is its offset),
    ``None`` for dense.
    """
    if kind == "dctps" and offset == "none":
        return "kaiming-dense"
    return {"dense": None, "sparse": "kaiming-dense", "dctps": "zeros"}[kind]


def make_layer(slot, kind: str, *, support=None, sparse_init: str | None = None,
               train_alpha: bool = True, offset: str = "dct", offset_seed=None):
    """``(layer, post_scale)``: ``slot`` as ``kind``, and the factor its init still needs.

    ``support`` (rows, cols) is required unless dense; the other keywords are
    :func:`refnet.models.build_model`'s.  Multiply the ``W`` or ``S`` that
    ``layer.init`` draws by ``post_scale`` (1.0: nothing to do).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    scale = slot.init_scale
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not math.isfinite(scale):
        raise ValueError(f"{type(slot).__name__}: init_scale must be a finite number, got "
                         f"{scale!r}")
    post = 1.0 if scale in (0.0, 1.0) else float(scale)
    cls = _CLASSES[kind][isinstance(slot, ConvWeight)]
    if kind == "dense":
        return slot.build(cls, init="zeros" if scale == 0.0 else "kaiming-normal"), post
    if support is None:
        raise ValueError(f"a {kind} layer needs support=(rows, cols)")
    init = sparse_init if sparse_init is not None else default_sparse_init(kind, offset)
    if init not in SPARSE_INITS:
        raise ValueError(f"sparse_init must be one of {list(SPARSE_INITS)}, got {init!r}")
    options = dict(support=support, init="zeros" if scale == 0.0 else init)
    if kind == "dctps" and offset == "none":
        options.update(offset="none")
    elif kind == "dctps":
        options.update(alpha=float(scale), train_alpha=bool(train_alpha),
                       offset=make_offset(offset, math.prod(slot.shape[1:]), slot.shape[0],
                                          offset_seed))
    return slot.build(cls, **options), post


class Blueprint(NamedTuple):
    """A model's structure: ``(name, item, inputs)`` graph nodes whose weights are slots.

    ``args`` are the model's resolved arguments, JSON-able: the model function
    called with them gives this blueprint again.
    """

    nodes: tuple
    in_shape: tuple
    args: dict

    def slots(self) -> list:
        """``[(name, slot)]`` of the prunable weights, in node order."""
        return [(name, item) for name, item, _ in self.nodes
                if isinstance(item, (LinearWeight, ConvWeight))]


# -- the models ----------------------------------------------------------------------------

#: Hidden-layer activations an MLP accepts.
ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}


def _in_shape(in_shape, owner, image=False) -> tuple[int, ...]:
    try:
        shape = tuple(in_shape)
    except TypeError:
        raise ValueError(f"{owner}: in_shape must be a tuple of positive ints, "
                         f"got {in_shape!r}") from None
    if not shape:
        raise ValueError(f"{owner}: in_shape must have at least one axis, got {in_shape!r}")
    shape = tuple(check_positive_int("in_shape", s, owner) for s in shape)
    if image and len(shape) != 3:
        raise ValueError(f"{owner}: in_shape must be (channels, height, width), got {shape}")
    return shape


def _chain(items) -> tuple:
    """Nodes ``(name, item, inputs)`` of a chain: each reads the previous node."""
    names = ["input"] + [name for name, _ in items]
    return tuple((name, item, previous) for (name, item), previous in zip(items, names))


def _after(shape, *layers) -> tuple:
    """The shape after a sequence of conv (slot) and pooling layers."""
    for layer in layers:
        if isinstance(layer, ConvWeight):
            layer = layer.build(Conv2d, init="zeros")
        shape = layer.output_shape(shape)
    return shape


def mlp(sizes, *, in_shape=None, activation: str = "relu", bias: bool = True) -> Blueprint:
    """A fully connected network ``sizes[0] -> ... -> sizes[-1]``: ``fc1, act1, ..., fcL``.

    The last layer's outputs are logits.  An ``in_shape`` of more than one
    axis (an image, of ``sizes[0]`` entries) is flattened first by a node
    ``flatten``.
    """
    owner = "mlp"
    try:
        sizes = [check_positive_int(f"sizes[{i}]", s, owner) for i, s in enumerate(sizes)]
    except TypeError:
        raise ValueError(f"{owner}: sizes must be a sequence of positive ints, "
                         f"got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"{owner}: sizes must list at least two widths (input and output), "
                         f"got {sizes}; a model needs at least one prunable layer")
    if activation not in ACTIVATIONS:
        raise ValueError(f"{owner}: activation must be one of {sorted(ACTIVATIONS)}, "
                         f"got {activation!r}")
    shape = (sizes[0],) if in_shape is None else _in_shape(in_shape, owner)
    if math.prod(shape) != sizes[0]:
        raise ValueError(f"{owner}: in_shape {shape} has {math.prod(shape)} entries, but "
                         f"sizes[0] is {sizes[0]}")
    items = [("flatten", Flatten())] if len(shape) > 1 else []
    for i in range(len(sizes) - 1):
        items += [(f"fc{i + 1}", LinearWeight(sizes[i], sizes[i + 1], bool(bias))),
                  (f"act{i + 1}", ACTIVATIONS[activation]())]
    args = {"sizes": sizes, "in_shape": list(shape), "activation": activation,
            "bias": bool(bias)}
    return Blueprint(_chain(items[:-1]), shape, args)      # logits: no activation after fcL


def lenet300(*, in_shape=(784,), classes: int = 10) -> Blueprint:
    """LeNet-300-100 (LeCun et al. 1998), the pruning literature's MNIST MLP.

    ``784 -> 300 -> 100 -> 10``, ReLU, biases; ``in_shape`` may be an image.
    """
    shape = _in_shape(in_shape, "lenet300")
    classes = check_positive_int("classes", classes, "lenet300")
    blueprint = mlp([math.prod(shape), 300, 100, classes], in_shape=shape)
    return blueprint._replace(args={"in_shape": list(shape), "classes": classes})


def lenet5(*, in_shape=(1, 28, 28), classes: int = 10) -> Blueprint:
    """LeNet-5 for MNIST (module docstring); ``in_shape`` at least 12 x 12."""
    owner = "lenet5"
    shape = _in_shape(in_shape, owner, image=True)
    classes = check_positive_int("classes", classes, owner)
    conv1 = ConvWeight(shape[0], 6, 5, padding=2)
    conv2 = ConvWeight(6, 16, 5)
    try:
        features = math.prod(_after(shape, conv1, AvgPool2d(2), conv2, AvgPool2d(2)))
    except ValueError:
        raise ValueError(f"{owner}: in_shape {shape} is too small; height and width must be "
                         f"at least 12") from None
    nodes = _chain([("conv1", conv1), ("act1", ReLU()), ("pool1", AvgPool2d(2)),
                    ("conv2", conv2), ("act2", ReLU()), ("pool2", AvgPool2d(2)),
                    ("flatten", Flatten()),
                    ("fc1", LinearWeight(features, 120)), ("act3", ReLU()),
                    ("fc2", LinearWeight(120, 84)), ("act4", ReLU()),
                    ("fc3", LinearWeight(84, classes))])
    return Blueprint(nodes, shape, {"in_shape": list(shape), "classes": classes})


def lenet5_cifar(*, in_shape=(3, 32, 32), classes: int = 10) -> Blueprint:
    """The DCTpS paper's LeNet-5 for CIFAR-10 (module docstring); at least 32 x 32."""
    owner = "lenet5-cifar"
    shape = _in_shape(in_shape, owner, image=True)
    classes = check_positive_int("classes", classes, owner)
    convs = [ConvWeight(shape[0], 6, 5, bias=False), ConvWeight(6, 16, 5, bias=False),
             ConvWeight(16, 120, 5, bias=False)]
    try:
        features = math.prod(_after(shape, convs[0], AvgPool2d(2), convs[1], AvgPool2d(2),
                                    convs[2]))
    except ValueError:
        raise ValueError(f"{owner}: in_shape {shape} is too small; height and width must be "
                         f"at least 32 (MNIST needs padding to 32 x 32)") from None
    nodes = _chain([("conv1", convs[0]), ("act1", ReLU()), ("pool1", AvgPool2d(2)),
                    ("conv2", convs[1]), ("act2", ReLU()), ("pool2", AvgPool2d(2)),
                    ("conv3", convs[2]), ("act3", ReLU()), ("flatten", Flatten()),
                    ("fc1", LinearWeight(features, 82, bias=False)), ("act4", ReLU()),
                    ("fc2", LinearWeight(82, classes, bias=False))])
    return Blueprint(nodes, shape, {"in_shape": list(shape), "classes": classes})


def fixup_scale(num_branches: int, branch_layers: int = 2) -> float:
    """Fixup's factor ``L ** (-1 / (2m - 2))`` for ``L`` branches of ``m`` layers."""
    num_branches = check_positive_int("num_branches", num_branches, "fixup_scale")
    branch_layers = check_positive_int("branch_layers", branch_layers, "fixup_scale",
                                       minimum=2)
    return float(num_branches) ** (-1.0 / (2 * branch_layers - 2))


def resnet_small(*, in_shape=(1, 28, 28), classes: int = 10, width: int = 8,
                 blocks=(1, 1, 1)) -> Blueprint:
    """A small Fixup-initialised residual network (module docstring)."""
    owner = "resnet-small"
    shape = _in_shape(in_shape, owner, image=True)
    classes = check_positive_int("classes", classes, owner)
    width = check_positive_int("width", width, owner)
    if isinstance(blocks, (str, bytes)) or not hasattr(blocks, "__len__") or not len(blocks) \
            or not all(isinstance(b, numbers.Integral) and not isinstance(b, bool) and b >= 1
                       for b in blocks):
        raise ValueError(f"{owner}: blocks must be a non-empty sequence of integers >= 1 "
                         f"(blocks per stage), got {blocks!r}")
    blocks = [int(b) for b in blocks]
    scale = fixup_scale(sum(blocks))

    nodes = [("stem", ConvWeight(shape[0], width, 3, padding=1), "input"),
             ("stem_act", ReLU(), "stem")]
    previous, channels, k = "stem_act", width, 0
    map_shape = _after(shape, nodes[0][1])
    for stage, count in enumerate(blocks, start=1):
        if stage > 1:
            down = ConvWeight(channels, 2 * channels, 3, stride=2, padding=1)
            nodes += [(f"down{stage}", down, previous), (f"down{stage}_act", ReLU(),
                                                          f"down{stage}")]
            previous, channels = f"down{stage}_act", 2 * channels
            map_shape = _after(map_shape, down)
        for _ in range(count):
            k += 1
            b = f"block{k}"
            nodes += [(f"{b}_conv1", ConvWeight(channels, channels, 3, padding=1,
                                                init_scale=scale), previous),
                      (f"{b}_act1", ReLU(), f"{b}_conv1"),
                      (f"{b}_conv2", ConvWeight(channels, channels, 3, padding=1,
                                                init_scale=0.0), f"{b}_act1"),
                      (f"{b}_add", Add(), (previous, f"{b}_conv2")),
                      (f"{b}_act2", ReLU(), f"{b}_add")]
            previous = f"{b}_act2"
    nodes += [("pool", AvgPool2d(tuple(map_shape[1:])), previous),
              ("flatten", Flatten(), "pool"),
              ("fc", LinearWeight(channels, classes, init_scale=0.0), "flatten")]
    args = {"in_shape": list(shape), "classes": classes, "width": width, "blocks": blocks}
    return Blueprint(tuple(nodes), shape, args)
