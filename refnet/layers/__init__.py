"""Every public layer of refnet, one family per module.

``PUBLIC_LAYERS`` lists the layer classes that users build networks from; the
test suite fails when one of them has no specimen in ``refnet/specimens.py``.
"""
from .activations import Identity, LeakyReLU, ReLU, Tanh
from .conv import Conv2d
from .dense import Linear
from .merge import Add, Concat
from .pooling import AvgPool2d, MaxPool2d
from .reshape import Flatten
from .sparse import SparseConv2d, SparseLinear
from .dctps import DCTpSConv2d, DCTpSLinear
from .doping import DopingLinear

__all__ = ["Identity", "LeakyReLU", "ReLU", "Tanh", "Linear", "Add", "Concat", "Flatten",
           "Conv2d", "AvgPool2d", "MaxPool2d", "SparseLinear", "SparseConv2d", "DCTpSLinear",
           "DCTpSConv2d", "DopingLinear", "PUBLIC_LAYERS"]

PUBLIC_LAYERS = (Linear, ReLU, LeakyReLU, Tanh, Identity, Flatten, Add, Concat, Conv2d,
                 AvgPool2d, MaxPool2d, SparseLinear, SparseConv2d, DCTpSLinear, DCTpSConv2d,
                 DopingLinear)
