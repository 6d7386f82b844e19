"""How many units each ReLU lets through: the active fractions the orthogonal-ReLU law needs."""
from __future__ import annotations

import numpy as np

from ..core import Graph, Layer
from ..layers import ReLU

__all__ = ["relu_active_fractions"]


def relu_active_fractions(net: Layer, params: dict, x) -> dict[str, float]:
    """``{path: p}`` for every ReLU of ``net`` (paths of :func:`refnet.networks.iter_layers`):
    the share of its (example, unit) pairs with input > 0 on the batch ``x``.

    ``p`` is the mean of the ReLU's derivative (1 where the input is > 0, else 0),
    so ``diag(relu')`` is a projection of normalised trace ``p`` averaged over
    the batch: the ``active`` argument of :func:`refnet.spectra.orthogonal_relu_moments`.
    Nested graphs are searched; a network without a ReLU gives ``{}``.

    Examples
    --------
    >>> import numpy as np
    >>> from refnet import Sequential
    >>> from refnet.layers import Linear, ReLU
    >>> net = Sequential([("fc", Linear(2, 2, bias=False)), ("act", ReLU())])
    >>> relu_active_fractions(net, {"fc": {"W": np.eye(2)}, "act": {}},
    ...                       np.array([[1.0, -1.0], [2.0, 3.0]]))
    {'act': 0.75}
    """
    if not isinstance(net, Layer):
        raise TypeError(f"relu_active_fractions: net must be a refnet Layer, got "
                        f"{type(net).__name__}")
    _, cache = net.forward(params, x)
    found = {}

    def walk(layer, layer_cache, path):
        if isinstance(layer, ReLU):
            found[path] = float(np.mean(layer_cache.slope))
        elif isinstance(layer, Graph):
            for node in layer.nodes:
                walk(node.layer, layer_cache.caches[node.name],
                     f"{path}/{node.name}" if path else node.name)

    walk(net, cache, "")
    return found
