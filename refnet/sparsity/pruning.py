"""What every pruning-at-initialisation method shares: masks, scores, schedules, the result.

Pruning at initialisation starts from a DENSE network and its initial
parameters, scores every prunable weight entry, keeps the ``k`` best entries
over the whole network (a global ranking), and hands back a sparse network
whose values are the dense ones on the kept positions.  The methods
(:mod:`refnet.sparsity.snip`, :mod:`refnet.sparsity.synflow`) differ only in
the score and in how many rounds they take.

Masks
-----
A mask ``c_l`` is a 0/1 array of the shape of layer ``l``'s weight MATRIX
(``(out, in)``, or ``(out, kh * kw * in)`` for a convolution:
:mod:`refnet.models.weights`), and the masked network uses the weights
``w_l * c_l`` (biases untouched).  Derivatives with respect to the mask,
treating ``c`` as real numbers, are what the scores are made of: with
``v_l = w_l * c_l`` the weights the network sees,

    dL/dc_l = w_l * dL/dv_l          dL/dw_l = c_l * dL/dv_l

(product rule; ``dL/dv_l`` is the ordinary gradient of the masked network,
one VJP).  :func:`mask_gradient` returns ``dL/dc``, averaged over batches.

Exact counts
------------
Every method keeps exactly ``round(density * total)`` entries (halves up,
:func:`refnet.sparsity.target_nnz`, the rounding of
:func:`refnet.sparsity.allocate`), where ``total`` is the number of prunable
weight entries.  The ``k`` best are the first ``k`` of a stable sort by
decreasing score over all layers concatenated in node order, each matrix
read row-major: ties (equal scores, as the zeros of a zero-initialised layer)
go to the earlier layer, then to the earlier position.  Iterative methods
prune on an exponential schedule: after round ``t`` of ``T`` they keep
``round(density ** (t / T) * total)`` entries (the last round exactly the
target).

Every score here is a product with the weight itself, so a weight that starts
at zero scores zero.  A network with zero-initialised layers (resnet-small's
Fixup classifier and branch ends) gets all-zero SNIP/FORCE scores in those
layers and, since every path crosses the zero classifier, all-zero SynFlow
scores everywhere: the ranking is then the tie-break alone.  Prune such a
network from a standard (non-zero) initialisation, or not at all.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from .._checks import check_positive_int
from ..losses import LOSSES
from ..models.convert import to_sparse
from ..models.weights import (dense_matrix, dense_prunable_layers, get_path, matrix_to_weight,
                              replace_path)
from ..train import value_and_grad
from .distributions import target_nnz

__all__ = ["PruneResult", "dense_weights", "masked_params", "mask_gradient", "keep_top",
           "exponential_schedule", "mask_supports", "finish", "as_batches"]


class PruneResult(NamedTuple):
    """What a pruning method returns.

    Attributes
    ----------
    net : Layer
        The sparse network: a :class:`~refnet.models.Model` of kind
        ``"sparse"`` (its ``spec["support"]`` names the method) when the dense
        network was a Model, else a container of the same structure.
    params : dict
        Its parameters: the dense values on the kept positions, biases kept.
    supports : dict
        ``{path: (rows, cols)}`` in weight-matrix coordinates, CSR order.
    scores : dict
        ``{path: array}``, the last round's scores in weight-matrix shape
        (``-inf`` where a method forbids a position).
    schedule : list of int
        Entries kept after each round; the last is ``round(density * total)``.
    """

    net: object
    params: dict
    supports: dict
    scores: dict
    schedule: list


def dense_weights(net, params: dict, owner: str) -> dict:
    """``{path: (layer, weight matrix)}`` of a network whose prunable layers are all dense.

    Raises
    ------
    ValueError
        If the network has no prunable layer, or one is not a dense Linear or
        Conv2d (pruning at initialisation starts from a dense network).
    """
    out = {}
    for path, layer in dense_prunable_layers(
            net, owner, "pruning at initialisation starts from a dense network (build it "
            "with kind='dense')"):
        out[path] = (layer, np.asarray(dense_matrix(layer, get_path(params, path)),
                                       dtype=np.float64))
    return out


def masked_params(params: dict, weights: dict, masks: dict, values: dict | None = None) -> dict:
    """Parameters with every prunable weight replaced by ``values * mask``.

    ``values`` defaults to the weights themselves (``{path: matrix}``); a
    new tree is returned, nothing is mutated.
    """
    out = params
    for path, (layer, matrix) in weights.items():
        base = matrix if values is None else values[path]
        out = replace_path(out, path, dict(get_path(out, path),
                                           W=matrix_to_weight(layer, base * masks[path])))
    return out


def as_batches(batches, owner: str) -> list:
    """A list of ``(x, labels)`` pairs from one pair or a sequence of pairs."""
    if isinstance(batches, tuple) and len(batches) == 2 and isinstance(batches[0], np.ndarray):
        return [batches]
    try:
        batches = list(batches)
    except TypeError:
        raise TypeError(f"{owner}: batches must be one (x, labels) pair or a list of them, got "
                        f"{type(batches).__name__}") from None
    if not batches or not all(isinstance(b, (tuple, list)) and len(b) == 2 for b in batches):
        raise ValueError(f"{owner}: batches must be one (x, labels) pair or a non-empty list of "
                         "them")
    return batches


def mask_gradient(net, params: dict, masks: dict, batches, *, loss: str = "cross-entropy",
                  wrt: str = "mask", weights: dict | None = None):
    """``dL/dc`` (or ``dL/dw``) of every prunable weight of a masked network, batch-averaged.

    Parameters
    ----------
    net : Layer
        A network whose prunable layers are dense.
    params : dict
        Its (unmasked) parameters ``w``.
    masks : dict
        ``{path: array}`` of weight-matrix shape; real values are allowed (the
        derivative is taken with respect to them).
    batches : (x, labels) or list of (x, labels)
    loss : {"cross-entropy", "mse"}, default "cross-entropy"
    wrt : {"mask", "weight"}, default "mask"
        Differentiate with respect to the mask ``c`` or the unmasked weight
        ``w``.
    weights : dict, optional
        :func:`dense_weights` of ``(net, params)``, if already at hand.

    Returns
    -------
    value : float
        The loss of the masked network, averaged over the batches.
    grads : dict
        ``{path: w * g}`` (``wrt="mask"``) or ``{path: c * g}``
        (``wrt="weight"``) in weight-matrix shape, ``g = mean_b dL_b/dv`` the
        gradient of the masked network, ``v = w * c`` (module docstring).
    """
    owner = "mask_gradient"
    if loss not in LOSSES:
        raise ValueError(f"{owner}: loss must be one of {sorted(LOSSES)}, got {loss!r}")
    if wrt not in ("mask", "weight"):
        raise ValueError(f"{owner}: wrt must be 'mask' or 'weight', got {wrt!r}")
    weights = dense_weights(net, params, owner) if weights is None else weights
    batches = as_batches(batches, owner)
    seen = masked_params(params, weights, masks)
    total = {path: 0.0 for path in weights}
    value = 0.0
    for x, labels in batches:
        batch_value, grads, _ = value_and_grad(net, seen, x, labels, loss)
        value += batch_value
        for path, (layer, _) in weights.items():
            total[path] = total[path] + dense_matrix(layer, get_path(grads, path))
    n = len(batches)
    factor = {path: matrix if wrt == "mask" else masks[path]
              for path, (_, matrix) in weights.items()}
    return value / n, {path: factor[path] * (total[path] / n) for path in weights}


def keep_top(scores: dict, k: int, owner: str = "keep_top") -> dict:
    """Boolean masks keeping exactly the ``k`` highest scores over all layers.

    Ties go to the earlier layer (dict order), then the earlier row-major
    position; ``-inf`` scores are kept only if fewer than ``k`` others exist.

    Raises
    ------
    ValueError
        For no layer at all, a NaN score or ``k`` outside ``[0, total]``.
    """
    paths = list(scores)
    if not paths:
        raise ValueError(f"{owner}: scores is empty; expected {{path: array}} for at least one "
                         "layer")
    flat = np.concatenate([np.asarray(scores[p], dtype=np.float64).ravel() for p in paths])
    if np.isnan(flat).any():
        raise ValueError(f"{owner}: a score is NaN; cannot rank the weights")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 0 <= k <= flat.size:
        raise ValueError(f"{owner}: k must be an integer in [0, {flat.size}], got {k!r}")
    order = np.argsort(-flat, kind="stable")
    keep = np.zeros(flat.size, dtype=bool)
    keep[order[:k]] = True
    masks, start = {}, 0
    for p in paths:
        shape = np.shape(scores[p])
        size = math.prod(shape)
        masks[p] = keep[start:start + size].reshape(shape)
        start += size
    return masks


def exponential_schedule(density: float, total: int, steps: int) -> list[int]:
    """Entries kept after each of ``steps`` rounds: ``round(density ** (t / steps) * total)``.

    ``t = 1 .. steps``; the last entry is exactly ``target_nnz(density,
    total)``.  Non-increasing, since ``density ** (t / steps)`` decreases.

    Raises
    ------
    ValueError
        Unless ``steps`` is an integer ``>= 1`` (and for a density or total
        that :func:`refnet.sparsity.target_nnz` rejects).
    """
    steps = check_positive_int("steps", steps, "exponential_schedule")
    counts = [target_nnz(density ** (t / steps), total) for t in range(1, steps)]
    return counts + [target_nnz(density, total)]


def mask_supports(masks: dict) -> dict:
    """``{path: (rows, cols)}``, int64 in CSR order, of the nonzero entries of each mask."""
    supports = {}
    for path, mask in masks.items():
        rows, cols = np.nonzero(mask)                 # row-major: CSR order
        supports[path] = (rows.astype(np.int64), cols.astype(np.int64))
    return supports


def finish(net, params: dict, masks: dict, scores: dict, schedule: list, method: str,
           density: float) -> PruneResult:
    """The sparse network and parameters of the kept positions, as a :class:`PruneResult`."""
    supports = mask_supports(masks)
    sparse_net, sparse_params = to_sparse(net, params, supports, method=method, density=density)
    return PruneResult(sparse_net, sparse_params, supports, scores, list(schedule))
