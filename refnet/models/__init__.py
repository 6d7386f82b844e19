"""Reference networks, each buildable as dense, sparse or DCTpS at a global density.

``build_model(name, kind=..., density=..., distribution=..., rng=...)`` is the one
entry point; ``rebuild(model.spec, supports_of(model))`` reconstructs the same
network (for checkpoints).  The models:

================  ===========  ==============================================  ==========
name              input        layers                                          prunable
================  ===========  ==============================================  ==========
``mlp``           (sizes[0],)  fully connected ``sizes``, ReLU                 sum n m
``lenet300``      (784,)       784-300-100-10, ReLU                            266,200
``lenet5``        (1, 28, 28)  conv 6 - pool - conv 16 - pool - 120 - 84 - 10  61,470
``lenet5-cifar``  (3, 32, 32)  the DCTpS paper's LeNet-5, no biases            61,510
``resnet-small``  (1, 28, 28)  3 stages of Fixup residual blocks, no BN        30,344
================  ===========  ==============================================  ==========

``Model``, ``to_sparse`` and the weight helpers are :mod:`refnet.networks`'s.
"""
from .blueprint import (KINDS, Blueprint, ConvWeight, LinearWeight, fixup_scale, lenet5,
                        lenet5_cifar, lenet300, mlp, resnet_small)
from .build import MODELS, blueprint_of, build_model, rebuild
from .doping import DopingPlan, build_doping, doping_plan, doping_weights
from .points import check_point, relu_margin
from ..spectra.structural import structural_supports
from ..networks import (Model, as_supports, density_of, prunable_layers, prunable_weights,
                        support_arrays, supports_of, to_sparse, weight_shape)

__all__ = ["KINDS", "MODELS", "Model", "Blueprint", "LinearWeight", "ConvWeight",
           "build_model", "rebuild", "blueprint_of", "to_sparse",
           "prunable_weights", "prunable_layers", "weight_shape", "supports_of",
           "support_arrays", "as_supports", "density_of", "structural_supports", "check_point",
           "relu_margin", "mlp", "lenet300", "lenet5", "lenet5_cifar", "resnet_small",
           "fixup_scale", "build_doping", "doping_plan", "doping_weights", "DopingPlan"]
