"""SNIP, Iterative SNIP and FORCE: prune by connection sensitivity ``|w * dL/dw|``.

All three score weight ``j`` by how much the loss moves when its mask entry
moves, ``|dL/dc_j| = |w_j * dL/dv_j|`` (:func:`refnet.sparsity.pruning.mask_gradient`,
``v = w * c`` the weights the masked network uses), with gradients averaged
over the given batches, and keep the best entries over the whole network.

SNIP (Lee, Ajanthan & Torr, ICLR 2019)
    One round at ``c = 1`` (the dense network): scores ``|w * dL/dw|``, keep
    the top ``round(d * N)``.  (SNIP normalises the scores by their sum, which
    changes no ranking.)

Iterative SNIP (de Jorge et al., ICLR 2021, "Progressive Skeletonization")
    ``T`` rounds on the exponential schedule
    (:func:`~refnet.sparsity.pruning.exponential_schedule`); round ``t``
    scores the network masked by round ``t - 1`` and keeps its best entries
    AMONG THOSE STILL KEPT: a pruned weight never returns.

FORCE (same paper)
    The same rounds, but every round scores ALL weights of the dense copy
    ``w``, with the gradient taken at the masked network: ``|w * dL/dv(c *
    w)|``.  A pruned weight keeps its value in ``w`` and a nonzero score, so
    it can come back when it looks more useful than a kept one.

What the DCTpS repository's "FORCE" runs
    ``main.py --prune_method 1`` calls ``iterative_pruning`` of
    ``code/pruning_algos.py``.  Between rounds it applies ``apply_prune_mask``
    of ``code/mask_networks.py``, which sets the pruned weights to zero IN
    PLACE (``layer.weight.data[keep_mask == 0.] = 0.``) and masks their
    gradients, and it then sets the saliency of every previously pruned
    weight to the global minimum: pruned weights cannot return.  That is
    Iterative SNIP, not FORCE, although the code's comments say "FORCE
    method".  Other details of that code: the score's loss is
    ``F.nll_loss`` applied to the networks' raw outputs (no log-softmax:
    the mean of minus the target's logit, not the cross-entropy that training
    uses; here the loss is the one given, cross-entropy by default); each of
    the ``num_batches`` batches (default 1) comes from a fresh data-loader
    iterator, so every round sees new random batches (here the same batches
    every round, passed by the caller); it keeps ``int(fraction * N)``
    entries (truncation) and every entry whose score ties the threshold (so
    possibly more); ``T`` defaults to 10 there and here (the FORCE paper
    uses 60).
"""
from __future__ import annotations

import numpy as np

from .._checks import check_positive_int
from .distributions import check_density
from .pruning import (PruneResult, as_batches, dense_weights, exponential_schedule, finish,
                      keep_top, mask_gradient)

__all__ = ["snip", "iterative_snip", "force", "draw_batches"]


def draw_batches(x, labels, batch_size: int, num_batches: int, rng) -> list:
    """The first ``num_batches`` mini-batches of one shuffled epoch (``refnet.data.batches``).

    A convenience for the pruning methods' ``batches`` argument.
    """
    from ..data import batches as epoch        # data imports nothing of sparsity
    num_batches = check_positive_int("num_batches", num_batches, "draw_batches")
    out = []
    for pair in epoch(x, labels, batch_size, rng):
        out.append(pair)
        if len(out) == num_batches:
            break
    return out


def _scores(net, params, masks, batches, loss, weights):
    _, grads = mask_gradient(net, params, masks, batches, loss=loss, weights=weights)
    return {path: np.abs(g) for path, g in grads.items()}


def snip(net, params: dict, batches, density: float, *,
         loss: str = "cross-entropy") -> PruneResult:
    """SNIP: keep the ``round(density * N)`` weights of largest ``|w * dL/dw|``.

    Parameters
    ----------
    net : Layer
        A DENSE network (a :class:`~refnet.models.Model` built with
        ``kind="dense"``, or any Graph of dense Linear/Conv2d layers).
    params : dict
        Its parameters at initialisation.
    batches : (x, labels) or list of (x, labels)
        One batch is SNIP's setting; with several the gradients are averaged.
    density : float
        Global density in (0, 1].
    loss : {"cross-entropy", "mse"}, default "cross-entropy"

    Returns
    -------
    PruneResult
        ``net`` sparse (spec ``support="snip"`` for a Model), ``params`` with the
        dense values on the support, ``supports``, ``scores``, ``schedule``.

    Raises
    ------
    ValueError
        For a density outside (0, 1], a network with no prunable layer or with
        a layer that is not dense, or malformed batches.
    """
    owner = "snip"
    density = check_density(density, owner)
    weights = dense_weights(net, params, owner)
    batches = as_batches(batches, owner)
    total = sum(matrix.size for _, matrix in weights.values())
    ones = {path: np.ones_like(matrix) for path, (_, matrix) in weights.items()}
    scores = _scores(net, params, ones, batches, loss, weights)
    schedule = exponential_schedule(density, total, 1)
    masks = keep_top(scores, schedule[-1], owner)
    return finish(net, params, masks, scores, schedule, "snip", density)


def _iterative(net, params, batches, density, steps, loss, owner, can_return):
    density = check_density(density, owner)
    steps = check_positive_int("steps", steps, owner)
    weights = dense_weights(net, params, owner)
    batches = as_batches(batches, owner)
    total = sum(matrix.size for _, matrix in weights.values())
    masks = {path: np.ones(matrix.shape, dtype=bool) for path, (_, matrix) in weights.items()}
    schedule = exponential_schedule(density, total, steps)
    for keep in schedule:
        scores = _scores(net, params, {p: m.astype(np.float64) for p, m in masks.items()},
                         batches, loss, weights)
        if not can_return:
            scores = {p: np.where(masks[p], s, -np.inf) for p, s in scores.items()}
        masks = keep_top(scores, keep, owner)
    return masks, scores, schedule


def iterative_snip(net, params: dict, batches, density: float, *, steps: int = 10,
                   loss: str = "cross-entropy") -> PruneResult:
    """Iterative SNIP: ``steps`` rounds of SNIP on the exponential schedule; no weight returns.

    Parameters and errors as for :func:`snip`, plus ``steps`` (``T``, default
    10).  This is what the DCTpS repository runs as "FORCE" (module
    docstring).
    """
    masks, scores, schedule = _iterative(net, params, batches, density, steps, loss,
                                         "iterative_snip", can_return=False)
    return finish(net, params, masks, scores, schedule, "iterative-snip", density)


def force(net, params: dict, batches, density: float, *, steps: int = 10,
          loss: str = "cross-entropy") -> PruneResult:
    """FORCE: ``steps`` rounds scoring every weight of the dense copy; pruned weights can return.

    Round ``t`` keeps the ``schedule[t]`` entries of largest ``|w * dL/dv|``
    over ALL weights, ``v = c_{t-1} * w`` (module docstring).  Parameters and
    errors as for :func:`snip`, plus ``steps`` (``T``, default 10; the FORCE
    authors use 60).
    """
    masks, scores, schedule = _iterative(net, params, batches, density, steps, loss,
                                         "force", can_return=True)
    return finish(net, params, masks, scores, schedule, "force", density)
