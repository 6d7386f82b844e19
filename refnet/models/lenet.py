"""LeNet-5 for MNIST, and the DCTpS paper's LeNet-5 for CIFAR-10 (blueprints).

``lenet5`` (1 x 28 x 28) is LeCun et al.'s (1998) with the usual modern
simplifications: ReLU for the scaled tanh (as the pruning literature and the
DCTpS code use with Kaiming init), full connectivity in conv2 (no C3 table),
no RBF output, and 2x2 average pooling (the paper's subsampling without its
coefficient; linear, so it adds no kinks to a gradient check)::

    conv1 1 -> 6, 5x5, pad 2 (28x28), ReLU, pool (14x14)
    conv2 6 -> 16, 5x5 (10x10), ReLU, pool (5x5)
    flatten (400), fc1 -> 120, ReLU, fc2 -> 84, ReLU, fc3 -> 10     61,470 weights, biases

``lenet5-cifar`` (3 x 32 x 32) is the DCTpS repository's ``LeNet``
(IlanPrice/DCTpS, ``code/models.py``), no biases::

    conv1 3 -> 6, 5x5 (28x28), ReLU, pool (14x14)
    conv2 6 -> 16, 5x5 (10x10), ReLU, pool (5x5)
    conv3 16 -> 120, 5x5 (1x1), ReLU, flatten (120), fc1 -> 82, ReLU, fc2 -> 10
                                    450 + 2,400 + 48,000 + 9,840 + 820 = 61,510 weights

It needs at least 32 x 32 inputs (``in_shape=(1, 32, 32)`` gives 61,210).
"""
from __future__ import annotations

import math

from .._checks import check_positive_int
from ..layers import AvgPool2d, Flatten, ReLU
from .blueprint import Blueprint, ConvWeight, LinearWeight
from .mlp import _chain, _in_shape

__all__ = ["lenet5", "lenet5_cifar"]


def _image_shape(in_shape, owner) -> tuple[int, int, int]:
    shape = _in_shape(in_shape, owner)
    if len(shape) != 3:
        raise ValueError(f"{owner}: in_shape must be (channels, height, width), got {shape}")
    return shape


def _after(shape, *layers) -> tuple:
    """The shape after a sequence of conv (slot) and pooling layers."""
    for layer in layers:
        if isinstance(layer, ConvWeight):
            layer = layer._dense("zeros")
        shape = layer.output_shape(shape)
    return shape


def lenet5(*, in_shape=(1, 28, 28), classes: int = 10) -> Blueprint:
    """LeNet-5 for MNIST (module docstring); ``in_shape`` at least 12 x 12."""
    owner = "lenet5"
    shape = _image_shape(in_shape, owner)
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
    shape = _image_shape(in_shape, owner)
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
