"""SynFlow: data-free pruning by iterative synaptic flow conservation.

Tanaka, Kunin, Yamins & Ganguli (NeurIPS 2020), "Pruning neural networks
without any data by iteratively conserving synaptic flow".

The score
---------
Replace every weight by its absolute value, feed an all-ones input (one
example of the network's input shape) and add up the outputs::

    R = sum(f(ones; |w| * c))          score_j = |w_j * dR/dw_j| = c_j * |w_j| * dR/dv_j

with ``v = |w| * c`` the masked positive weights.  For a chain of linear
layers ``R = 1.T @ |W_L| ... |W_1| @ 1`` is the sum over all input-output
paths of the product of their weights (the "synaptic flow"), and ``R`` is
homogeneous of degree one in each layer's weights, so by Euler's theorem
``sum_{j in layer l} v_j dR/dv_j = R`` for EVERY layer: each layer's scores
add up to the same ``R`` (the conservation the method is named after; a test
checks it to 1e-10).  With positive weights and input every ReLU input is
positive, so a ReLU network is scored as the linear network it then is
(average pooling is linear too).

Biases: the paper's ``R`` has none, so they are set to ZERO while scoring
(they would add flow that enters mid-network and break the per-layer
conservation).  The authors' code (ganguli-lab/Synaptic-Flow,
``SynFlow.score``) instead takes the absolute value of every entry of the
state dict, biases included; PyTorch initialises biases to nonzero values,
refnet to zero, so at initialisation the two agree for refnet's networks.

The schedule
------------
``iterations`` rounds (default 100, the paper's) on the exponential schedule
(:func:`~refnet.sparsity.pruning.exponential_schedule`): round ``t`` scores
the network masked by round ``t - 1`` and keeps the best ``round(d ** (t / T)
* N)``.  A pruned weight has score 0 (its ``c_j`` is 0) and is never chosen
again (here it is excluded outright; the authors' code ranks its zero with
the rest).  The whole computation is one forward and one VJP on a batch of
one per round, in float64.
"""
from __future__ import annotations

import numpy as np

from .._checks import check_positive_int
from ..core.tree import tree_map
from ..models.weights import dense_matrix, get_path
from .distributions import check_density
from .pruning import (PruneResult, dense_weights, exponential_schedule, finish, keep_top,
                      masked_params)

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
        layer_params = get_path(out, path)
        if "b" in layer_params:
            layer_params["b"] = np.zeros_like(layer_params["b"])
    return out


def synflow_scores(net, params: dict, masks: dict | None = None, *, in_shape=None,
                   _weights=None):
    """Synaptic flow ``R`` and every prunable weight's score ``|w * dR/dw|``.

    Parameters
    ----------
    net : Layer
        A network whose prunable layers are dense.
    params : dict
        Its parameters (signs are dropped, biases zeroed: module docstring).
    masks : dict, optional
        ``{path: 0/1 array}`` of weight-matrix shape; default all ones.
    in_shape : tuple of int, optional
        Per-example input shape; default ``net.input_shape``.

    Returns
    -------
    R : float
    scores : dict
        ``{path: c * |w| * dR/dv}`` in weight-matrix shape.
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
              * dense_matrix(layer, get_path(grads, path))
              for path, (layer, _) in weights.items()}
    return float(np.sum(y)), scores


def synflow(net, params: dict, density: float, *, iterations: int = 100,
            in_shape=None) -> PruneResult:
    """SynFlow: ``iterations`` rounds of synaptic-flow scoring; no data needed.

    Parameters
    ----------
    net : Layer
        A DENSE network (a :class:`~refnet.models.Model` built with
        ``kind="dense"``, or any Graph of dense Linear/Conv2d layers).
    params : dict
        Its parameters at initialisation; the sparse network keeps their values
        (with signs) on the support.
    density : float
        Global density in (0, 1]; exactly ``round(density * N)`` entries are kept.
    iterations : int, default 100
    in_shape : tuple of int, optional
        Per-example input shape; default ``net.input_shape``.

    Returns
    -------
    PruneResult
        (spec ``support="synflow"`` for a Model.)

    Raises
    ------
    ValueError
        For a density outside (0, 1], a network with no prunable layer or a
        layer that is not dense, a NaN score (overflow), or no input shape.
    """
    owner = "synflow"
    density = check_density(density, owner)
    iterations = check_positive_int("iterations", iterations, owner)
    weights = dense_weights(net, params, owner)
    shape = _input_shape(net, in_shape, owner)
    total = sum(matrix.size for _, matrix in weights.values())
    masks = {path: np.ones(matrix.shape, dtype=bool) for path, (_, matrix) in weights.items()}
    schedule = exponential_schedule(density, total, iterations)
    for keep in schedule:
        _, scores = synflow_scores(net, params, {p: m.astype(np.float64)
                                                 for p, m in masks.items()},
                                   in_shape=shape, _weights=weights)
        scores = {p: np.where(masks[p], s, -np.inf) for p, s in scores.items()}
        masks = keep_top(scores, keep, owner)
    return finish(net, params, masks, scores, schedule, "synflow", density)
