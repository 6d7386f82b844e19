"""Multilayer perceptrons (blueprints): ``mlp(sizes)`` and LeNet-300-100."""
from __future__ import annotations

import math

from .._checks import check_positive_int
from ..layers import Flatten, ReLU, Tanh
from .blueprint import Blueprint, LinearWeight

__all__ = ["mlp", "lenet300", "ACTIVATIONS"]

#: Hidden-layer activations an MLP accepts.
ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}


def _in_shape(in_shape, owner) -> tuple[int, ...]:
    try:
        shape = tuple(in_shape)
    except TypeError:
        raise ValueError(f"{owner}: in_shape must be a tuple of positive ints, "
                         f"got {in_shape!r}") from None
    if not shape:
        raise ValueError(f"{owner}: in_shape must have at least one axis, got {in_shape!r}")
    return tuple(check_positive_int("in_shape", s, owner) for s in shape)


def _chain(items) -> tuple:
    """Nodes ``(name, item, inputs)`` of a chain: each reads the previous node."""
    names = ["input"] + [name for name, _ in items]
    return tuple((name, item, previous) for (name, item), previous in zip(items, names))


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
