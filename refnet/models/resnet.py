"""A small residual network without batch normalisation, initialised the Fixup way.

``resnet-small`` is the talk's FixupResNet experiment cut down to what NumPy
can gradient-check and train on MNIST-sized inputs::

    stem      conv 3x3, C -> width, padding 1, ReLU
    stage s   (width_s = width * 2**(s - 1))
              if s > 1: down<s>: conv 3x3, stride 2, padding 1, width_{s-1} -> width_s, ReLU
              blocks[s - 1] residual blocks:
                  h = ReLU(conv1(x));  y = ReLU(x + conv2(h))     (convs 3x3, padding 1)
    head      global average pool, flatten, fc width_last -> classes (logits)

At the defaults (1 x 28 x 28, width 8, one block per stage): 30,344 prunable
weights.  Block ``k`` (counted over all stages) has nodes ``block<k>_conv1``,
``_act1``, ``_conv2``, ``_add``, ``_act2``.

Fixup (Zhang, Dauphin & Ma, ICLR 2019) with ``L = sum(blocks)`` branches of
``m = 2`` layers: the classifier ``fc`` and every ``block<k>_conv2`` start at
zero; every ``block<k>_conv1`` is drawn the standard way times ``L ** (-1 /
(2m - 2)) = L ** -0.5``; stem and downsampling convolutions are standard
(Kaiming normal).  Fixup's scalar multiplier and biases are NOT implemented
(ordinary zero-initialised biases instead).  For a sparse layer this scales
``S``; a DCTpS layer starts with ``alpha = 0`` (zeroed layers, as the DCTpS
repository's Fixup ResNet does) or ``alpha = L ** -0.5``, and ``S = 0``.
Unlike the paper's networks, stages are joined by a strided convolution (not
a strided identity padded with zero channels) and are one block at width 8.
"""
from __future__ import annotations

import numbers

from .._checks import check_positive_int
from ..layers import Add, AvgPool2d, Flatten, ReLU
from .blueprint import Blueprint, ConvWeight, LinearWeight
from .lenet import _after, _image_shape

__all__ = ["resnet_small", "fixup_scale"]


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
    shape = _image_shape(in_shape, owner)
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
