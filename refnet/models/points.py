"""Points where a ReLU network can be gradient-checked: away from every kink.

A central difference with step ``h`` that moves a ReLU input across 0
measures a different slope on each side, an error of order ``overshoot / h``.
With thousands of ReLU inputs (6,506 per example in lenet5-cifar) some land
within ``1e-5`` of 0 by chance, so :func:`check_point` draws again until every
one is at least ``margin`` away: with ``h = 1e-6`` and unit directions,
``1e-4`` is a hundred times what a step moves.  Exact zeros are skipped: they
are units with no incoming weight (a sparse row with no entry and no bias),
which stay 0 whatever the perturbation.
"""
from __future__ import annotations

import numpy as np

from ..core.graph import Graph
from .._checks import as_rng
from ..core.tree import tree_map
from ..layers import LeakyReLU, ReLU

__all__ = ["relu_margin", "check_point"]


def relu_margin(net: Graph, params: dict, x) -> float:
    """The smallest nonzero ``|input|`` of any ReLU/LeakyReLU node at ``x`` (inf: none)."""
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

    ``x`` is standard normal, ``(batch, *net.input_shape)``; params are
    ``net.init(rng)`` plus N(0, scale^2) noise, so parameters that start at
    zero (biases, a DCTpS layer's ``S``, Fixup's zeroed layers) take part in
    every derivative.  Both are drawn again from ``rng`` until the margin
    holds; RuntimeError after ``attempts`` draws.
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
