"""Points where a ReLU network can be gradient-checked: away from every kink.

A ReLU's derivative jumps at 0.  A central difference with step ``h`` that
moves some ReLU input across 0 measures a different slope on each side, and
the checker (rightly) reports an error of order ``overshoot / h`` in that
unit.  With thousands of hidden units (lenet5-cifar has 6,506 ReLU inputs per
example) some input lands within ``1e-5`` of 0 by chance alone, so a checked
point is drawn again until every ReLU input of every example is at least
``margin`` away from 0: with ``h = 1e-6`` and directions of unit scale, a
margin of ``1e-4`` is a hundred times what a step moves an input.

Inputs that are exactly 0 are not kinks that a step can cross: they belong to
units with no incoming weight (a sparse layer whose support misses a whole
row, or a convolution channel with no kernel entry, and no bias), which stay
exactly 0 whatever the perturbation, so :func:`relu_margin` skips them.
"""
from __future__ import annotations

import numpy as np

from ..core.graph import Graph
from .._checks import as_rng
from ..core.tree import tree_map
from ..layers import LeakyReLU, ReLU

__all__ = ["relu_margin", "check_point"]


def relu_margin(net: Graph, params: dict, x) -> float:
    """The smallest nonzero ``|input|`` of any ReLU/LeakyReLU node of ``net`` at ``x``.

    Exact zeros are skipped (see the module docstring); inf if there is nothing
    left.
    """
    values, _ = net.forward_all(params, x)
    margin = np.inf
    for node in net.nodes:
        if isinstance(node.layer, (ReLU, LeakyReLU)):
            size = np.abs(values[node.inputs[0]])
            size = size[size > 0]
            if size.size:
                margin = min(margin, float(np.min(size)))
        elif isinstance(node.layer, Graph):
            inner = node.layer
            margin = min(margin, relu_margin(inner, params[node.name], values[node.inputs[0]]))
    return margin


def check_point(net: Graph, rng, *, batch: int = 2, scale: float = 0.3,
                margin: float = 1e-4, attempts: int = 100):
    """A random ``(x, params)`` with every ReLU input at least ``margin`` from 0.

    ``x`` is standard normal of shape ``(batch, *net.input_shape)``; params
    are ``net.init(rng)`` plus N(0, scale^2) noise, so parameters that start
    at zero (biases, a DCTpS layer's ``S``, Fixup's zeroed layers) take part in
    every derivative.  Both are drawn again, from the same ``rng``, until the
    margin holds.

    Returns
    -------
    x : ndarray
    params : dict

    Raises
    ------
    RuntimeError
        If no draw within ``attempts`` keeps the margin.
    """
    rng = as_rng(rng)
    for _ in range(attempts):
        params = tree_map(lambda w: w + scale * rng.standard_normal(np.shape(w)),
                          net.init(rng))
        x = rng.standard_normal((batch,) + tuple(net.input_shape))
        if relu_margin(net, params, x) >= margin:
            return x, params
    raise RuntimeError(f"check_point: no point with every ReLU input at least {margin} from 0 "
                       f"in {attempts} draws; lower the margin or the batch")
