"""A small residual network without batch normalisation, initialised the Fixup way.

``resnet-small`` is the talk's FixupResNet experiment cut down to what NumPy
can gradient-check and train for a few epochs on MNIST-sized inputs::

    stem      conv 3x3, C -> width, padding 1, ReLU
    stage s   (s = 1, 2, ...; width_s = width * 2**(s - 1))
              if s > 1: down<s>: conv 3x3, stride 2, padding 1, width_{s-1} -> width_s, ReLU
              blocks[s - 1] residual blocks at width_s:
                  h = ReLU(conv1(x));  y = ReLU(x + conv2(h))     (convs 3x3, padding 1)
    head      global average pool, flatten, fc width_last -> classes (logits)

At the defaults (1 x 28 x 28, width 8, one block per stage) that is 28x28,
14x14 and 7x7 maps and 30,344 prunable weights.  Residual blocks are
:class:`~refnet.layers.Add` nodes of a :class:`~refnet.Graph`; block ``k``
(counted over all stages) has nodes ``block<k>_conv1``, ``block<k>_act1``,
``block<k>_conv2``, ``block<k>_add``, ``block<k>_act2``.

Fixup (Zhang, Dauphin & Ma, ICLR 2019), what is implemented
------------------------------------------------------------
With ``L = sum(blocks)`` residual branches of ``m = 2`` layers each:

1. The classification layer (``fc``) and the last layer of every residual
   branch (``block<k>_conv2``) start at zero.
2. The other layer of every branch (``block<k>_conv1``) is drawn the
   standard way and multiplied by ``L ** (-1 / (2m - 2)) = L ** -0.5``; the
   stem and the downsampling convolutions, outside any branch, are drawn the
   standard way (Kaiming normal, fan-in).
3. Fixup's scalar multiplier and scalar biases are NOT implemented: every
   convolution and the classifier have an ordinary per-channel bias, zero at
   initialisation, instead.

Per kind, "start at zero" and "multiply by" mean: for a dense layer, ``W``;
for a sparse layer, the values of ``S`` (``init="zeros"``, or the chosen
``sparse_init`` times the factor); for a DCTpS layer, ``alpha``'s initial
value is 0 (zeroed layers) or ``L ** -0.5`` (``block<k>_conv1``) and ``S``
is zero as usual.  The DCTpS repository's Fixup ResNet also sets ``alpha =
0`` on those layers (``scaling.data = 0``, also when alpha is frozen, in
which case those layers are their ``S`` alone, as here), but scales
``block<k>_conv1`` to match the expected column norm of a Fixup-scaled
Gaussian kernel instead of by ``L ** -0.5``.

Differences from the Fixup ResNets of the paper and of the DCTpS code: no
scalar biases/multiplier (point 3), downsampling by a strided convolution
between stages rather than a strided identity padded with zero channels
inside the first block of a stage, and three stages of one block at width 8
rather than 16-32-64 channels with 3 or more blocks each.
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
    """A small Fixup-initialised residual network (see the module docstring).

    Parameters
    ----------
    in_shape : (int, int, int), default (1, 28, 28)
        Channels, height, width.  Each stage after the first halves the map
        (rounding up).
    classes : int, default 10
    width : int, default 8
        Channels of the first stage; each later stage doubles it.
    blocks : sequence of int, default (1, 1, 1)
        Residual blocks per stage (at least one stage, at least one block
        each).

    Returns
    -------
    Blueprint
    """
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
