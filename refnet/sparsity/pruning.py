"""What the pruning-at-initialisation methods share: masks, scores, schedules, the result.

Pruning at initialisation scores every prunable weight entry of a DENSE
network at its initial parameters, keeps the ``k`` best over the whole network
(a global ranking) and hands back a sparse network holding the dense values
on the kept positions (:func:`refnet.networks.to_sparse`).  SNIP, FORCE
(:mod:`~refnet.sparsity.snip`) and SynFlow (:mod:`~refnet.sparsity.synflow`)
differ only in the score and the number of rounds.

A mask ``c_l`` has the shape of layer ``l``'s weight matrix and the masked
network uses ``v_l = w_l * c_l`` (biases untouched).  By the product rule,
with ``dL/dv_l`` the masked network's ordinary gradient (one VJP)::

    dL/dc_l = w_l * dL/dv_l          dL/dw_l = c_l * dL/dv_l

Every method keeps exactly ``round(density * N)`` entries (halves up,
:func:`refnet.supports.target_nnz`): the first of a stable sort by decreasing
score over all layers in node order, each matrix row-major, so ties go to the
earlier layer, then the earlier position.  Iterative methods keep
``round(density ** (t / T) * N)`` after round ``t`` of ``T``.  Every score is
a product with the weight, so a zero-initialised layer (resnet-small's Fixup
classifier and branch ends) scores zero, and SynFlow then scores zero
everywhere: prune such a network from a non-zero initialisation.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from .._checks import check_positive_int
from ..losses import LOSSES
from ..core.tree import tree_get, tree_replace
from ..networks import dense_matrix, dense_prunable_layers, matrix_to_weight, to_sparse
from ..supports import target_nnz
from ..train import value_and_grad

__all__ = ["PruneResult", "dense_weights", "masked_params", "mask_gradient", "keep_top",
           "top_k", "exponential_schedule", "mask_supports", "prune_rounds", "as_batches"]


class PruneResult(NamedTuple):
    """What a pruning method returns.

    ``net`` is sparse (a Model of kind "sparse" whose ``spec["support"]``
    names the method, when the dense network was a Model); ``params`` the
    dense values on the kept positions, biases kept; ``supports`` ``{path:
    (rows, cols)}``; ``scores`` the last round's, in weight-matrix shape
    (``-inf`` where forbidden); ``schedule`` the entries kept per round.
    """

    net: object
    params: dict
    supports: dict
    scores: dict
    schedule: list


def dense_weights(net, params: dict, owner: str) -> dict:
    """``{path: (layer, weight matrix)}``; ValueError unless every prunable layer is dense."""
    out = {}
    for path, layer in dense_prunable_layers(
            net, owner, "pruning at initialisation starts from a dense network (build it "
            "with kind='dense')"):
        out[path] = (layer, np.asarray(dense_matrix(layer, tree_get(params, path)),
                                       dtype=np.float64))
    return out


def masked_params(params: dict, weights: dict, masks: dict, values: dict | None = None) -> dict:
    """A new tree with every prunable weight ``values * mask`` (``values`` default the weights)."""
    out = params
    for path, (layer, matrix) in weights.items():
        base = matrix if values is None else values[path]
        out = tree_replace(out, path, dict(tree_get(out, path),
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

    ``params`` are the unmasked ``w``, ``masks`` ``{path: array}`` of
    weight-matrix shape (real values allowed), ``weights`` the
    :func:`dense_weights` if at hand.  Returns the masked network's loss
    averaged over ``batches``, and ``{path: w * g}`` (``wrt="mask"``) or
    ``{path: c * g}`` (``"weight"``), ``g = mean_b dL_b/dv`` (module docstring).
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
            total[path] = total[path] + dense_matrix(layer, tree_get(grads, path))
    n = len(batches)
    factor = {path: matrix if wrt == "mask" else masks[path]
              for path, (_, matrix) in weights.items()}
    return value / n, {path: factor[path] * (total[path] / n) for path in weights}


def keep_top(scores: dict, k: int, owner: str = "keep_top") -> dict:
    """Boolean masks keeping exactly the ``k`` highest scores over all layers (ties: earlier).

    Raises ValueError for no layer, a NaN score or ``k`` outside ``[0, total]``.
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
    keep = np.zeros(flat.size, dtype=bool)
    keep[top_k(flat, k)] = True
    masks, start = {}, 0
    for p in paths:
        shape = np.shape(scores[p])
        size = math.prod(shape)
        masks[p] = keep[start:start + size].reshape(shape)
        start += size
    return masks


def top_k(score, k: int, tiebreak=None) -> np.ndarray:
    """The set ``np.lexsort((tiebreak, -score))[:k]`` (no tiebreak: ``np.argsort(-score,
    kind="stable")[:k]``), ascending, without sorting everything.

    The ``k``-th largest score comes from ``np.partition`` (O(size)); every
    larger score is in, and of the scores equal to it the first by
    ``(tiebreak, index)`` fill the rest: only those ties are sorted.  The same
    set as the full sort, bit for bit (``tests/sparsity/test_pruning.py``).
    ``score`` is 1-D without NaN, ``0 <= k <= score.size``.
    """
    neg = -np.asarray(score)
    if k == 0:
        return np.zeros(0, dtype=np.intp)
    kth = np.partition(neg, k - 1)[k - 1]
    above = np.flatnonzero(neg < kth)
    tied = np.flatnonzero(neg == kth)
    if tiebreak is not None:
        tied = tied[np.argsort(tiebreak[tied], kind="stable")]
    return np.sort(np.concatenate([above, tied[:k - above.size]]))


def exponential_schedule(density: float, total: int, steps: int) -> list[int]:
    """``round(density ** (t / steps) * total)`` for ``t = 1 .. steps``, halves up.

    Raises ValueError unless ``steps >= 1`` (and for what ``target_nnz`` rejects).
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


def prune_rounds(net, params: dict, weights: dict, density: float, rounds: int, score,
                 owner: str, method: str, can_return: bool) -> PruneResult:
    """The rounds every method shares, from all ones: ``masks = keep_top(score(masks), keep)``.

    ``keep`` runs over the exponential schedule; ``score(masks)`` gets float
    masks and returns ``{path: scores}``.  Unless ``can_return``, a pruned
    entry scores ``-inf``.  Returns the :class:`PruneResult`.
    """
    total = sum(matrix.size for _, matrix in weights.values())
    masks = {path: np.ones(matrix.shape, dtype=bool) for path, (_, matrix) in weights.items()}
    schedule = exponential_schedule(density, total, rounds)
    for keep in schedule:
        scores = score({p: m.astype(np.float64) for p, m in masks.items()})
        if not can_return:
            scores = {p: np.where(masks[p], s, -np.inf) for p, s in scores.items()}
        masks = keep_top(scores, keep, owner)
    supports = mask_supports(masks)
    sparse_net, sparse_params = to_sparse(net, params, supports, method=method, density=density)
    return PruneResult(sparse_net, sparse_params, supports, scores, list(schedule))
