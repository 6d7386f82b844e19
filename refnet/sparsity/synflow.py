"""SynFlow: data-free pruning by iterative synaptic flow conservation.

Tanaka, Kunin, Yamins & Ganguli (NeurIPS 2020).  With every weight replaced
by its absolute value and an all-ones input (one example)::

    R = sum(f(ones; |w| * c))          score_j = |w_j * dR/dw_j| = c_j * |w_j| * dR/dv_j

``v = |w| * c`` the masked positive weights.  For a chain of linear layers
``R = 1.T @ |W_L| ... |W_1| @ 1`` sums the weight products of all paths, and
``R`` is homogeneous of degree one in each layer, so by Euler's theorem every
layer's scores add up to the same ``R`` (the conservation; a test checks it
to 1e-10).  With positive weights and input every ReLU passes, so a ReLU
network is scored as a linear one.  Biases are ZERO while scoring (the
paper's ``R`` has none; the authors' code takes ``|b|``, which agrees at
refnet's zero-initialised biases).

``iterations`` rounds (default 100, the paper's) on the exponential schedule;
a pruned weight scores 0 and is excluded outright from later rounds.  Each
round is one forward and one VJP on a batch of one, in float64.
"""
from __future__ import annotations

import numpy as np

from .._checks import check_positive_int
from ..core.tree import tree_get, tree_map
from ..networks import dense_matrix
from ..supports import check_density
from .pruning import PruneResult, dense_weights, masked_params, prune_rounds

__all__ = ["synflow", "synflow_scores"]


def _input_shape(net, in_shape, owner):
    shape = getattr(net, "input_shape", None) if in_shape is None else tuple(in_shape)
    if shape is None:
        raise ValueError(f"{owner}: the network has no input_shape; pass in_shape")
    return tuple(shape)


def _positive_params(params, weights):
    """``|w|`` for every prunable weight, 0 for their biases, ``|p|`` for anything else."""
    out = tree_map(np.abs, params)
    for path in weights:
        layer_params = tree_get(out, path)
        if "b" in layer_params:
            layer_params["b"] = np.zeros_like(layer_params["b"])
    return out


def synflow_scores(net, params: dict, masks: dict | None = None, *, in_shape=None,
                   _weights=None):
    """Synaptic flow ``R`` and every prunable weight's score ``|w * dR/dw|``.

    ``masks`` default all ones; ``in_shape`` default ``net.input_shape``.
    Returns ``R`` and ``{path: c * |w| * dR/dv}`` in weight-matrix shape.
    """
    owner = "synflow_scores"
    weights = dense_weights(net, params, owner) if _weights is None else _weights
    shape = _input_shape(net, in_shape, owner)
    positive = _positive_params(params, weights)
    magnitudes = {path: np.abs(matrix) for path, (_, matrix) in weights.items()}
    if masks is None:
        masks = {path: np.ones_like(m) for path, m in magnitudes.items()}
    seen = masked_params(positive, weights, masks, values=magnitudes)
    y, cache = net.forward(seen, np.ones((1,) + shape))
    _, grads = net.vjp(seen, cache, np.ones_like(y))
    scores = {path: magnitudes[path] * masks[path]
              * dense_matrix(layer, tree_get(grads, path))
              for path, (layer, _) in weights.items()}
    return float(np.sum(y)), scores


def synflow(net, params: dict, density: float, *, iterations: int = 100,
            in_shape=None) -> PruneResult:
    """SynFlow: ``iterations`` rounds of synaptic-flow scoring; no data needed.

    As :func:`refnet.sparsity.snip` without data (the sparse network keeps
    the signed values); ``in_shape`` default ``net.input_shape``.  Also
    raises ValueError for a NaN score (overflow) or no input shape.
    """
    owner = "synflow"
    density = check_density(density, owner)
    iterations = check_positive_int("iterations", iterations, owner)
    weights = dense_weights(net, params, owner)
    shape = _input_shape(net, in_shape, owner)

    def score(masks):
        return synflow_scores(net, params, masks, in_shape=shape, _weights=weights)[1]

    return prune_rounds(net, params, weights, density, iterations, score, owner, "synflow",
                        False)
