"""refnet: neural networks in NumPy/SciPy with hand-derived, checkable derivatives.

Built to study DCT-plus-Sparse layers (Price & Tanner, ICML 2021), where every
weight matrix is ``W = alpha * D + S`` with ``D`` a fixed DCT and ``S`` sparse.
See the README for the tour of the package.
"""
from .core import Graph, Layer, Node, Sequential

__version__ = "0.1.0"
__all__ = ["Graph", "Layer", "Node", "Sequential", "__version__"]
