"""The engine's layers, one family per module; every public layer of refnet needs a specimen
in ``refnet/specimens.py`` (a test fails for one without)."""
from .activations import Identity, LeakyReLU, ReLU, Tanh
from .conv import Conv2d
from .dense import Linear
from .merge import Add, Concat
from .pooling import AvgPool2d, MaxPool2d
from .reshape import Flatten
from .sparse import SparseConv2d, SparseLinear
from .dctps import DCTpSConv2d, DCTpSLinear

__all__ = ["Identity", "LeakyReLU", "ReLU", "Tanh", "Linear", "Add", "Concat", "Flatten",
           "Conv2d", "AvgPool2d", "MaxPool2d", "SparseLinear", "SparseConv2d", "DCTpSLinear",
           "DCTpSConv2d"]
