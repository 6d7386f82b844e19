"""SNIP, Iterative SNIP and FORCE: prune by connection sensitivity ``|w * dL/dw|``.

All three score weight ``j`` by ``|dL/dc_j| = |w_j * dL/dv_j|``
(:func:`~refnet.sparsity.pruning.mask_gradient`, ``v = w * c``), gradients
averaged over the given batches, and keep the best entries network-wide.

SNIP (Lee, Ajanthan & Torr, ICLR 2019): one round at ``c = 1``.
Iterative SNIP (de Jorge et al., ICLR 2021): ``T`` rounds on the exponential
schedule, each scoring the network masked by the last and keeping its best
AMONG THOSE STILL KEPT: a pruned weight never returns.
FORCE (same paper): the same rounds, but every round scores ALL weights of
the dense ``w``, ``|w * dL/dv(c * w)|``, so a pruned weight can come back.

The DCTpS repository's "FORCE" (``main.py --prune_method 1``,
``iterative_pruning`` in ``code/pruning_algos.py``) zeroes pruned weights in
place and gives them the minimum saliency: that is Iterative SNIP.  It also
scores with ``F.nll_loss`` on raw outputs (here: the given loss), draws fresh
batches every round (here: the caller's, every round), and keeps
``int(fraction * N)`` entries plus threshold ties.  ``T`` is 10 there and
here (the FORCE paper uses 60).
"""
from __future__ import annotations

import numpy as np

from .._checks import check_positive_int
from ..supports import check_density
from .pruning import PruneResult, as_batches, dense_weights, mask_gradient, prune_rounds

__all__ = ["snip", "iterative_snip", "force", "draw_batches"]


def draw_batches(x, labels, batch_size: int, num_batches: int, rng) -> list:
    """The first ``num_batches`` mini-batches of one shuffled epoch (``refnet.data.batches``)."""
    from ..data import batches as epoch        # data imports nothing of sparsity
    num_batches = check_positive_int("num_batches", num_batches, "draw_batches")
    out = []
    for pair in epoch(x, labels, batch_size, rng):
        out.append(pair)
        if len(out) == num_batches:
            break
    return out


def snip(net, params: dict, batches, density: float, *,
         loss: str = "cross-entropy") -> PruneResult:
    """SNIP: keep the ``round(density * N)`` weights of largest ``|w * dL/dw|``.

    ``net`` is DENSE (every prunable layer a Linear or Conv2d) at its initial
    ``params``; ``batches`` one ``(x, labels)`` (SNIP's setting) or several,
    gradients averaged.  Raises ValueError for a density outside (0, 1], a
    network without prunable layers or with one not dense, or bad batches.
    """
    return _rounds(net, params, batches, density, 1, loss, "snip", "snip", True)


def _rounds(net, params, batches, density, steps, loss, owner, method, can_return):
    density = check_density(density, owner)
    steps = check_positive_int("steps", steps, owner)
    weights = dense_weights(net, params, owner)
    batches = as_batches(batches, owner)
    if any(np.size(labels) == 0 for _, labels in batches):
        raise ValueError(f"{owner}: a batch holds no example; scores of no data would choose "
                         "an arbitrary support")

    def score(masks):
        _, grads = mask_gradient(net, params, masks, batches, loss=loss, weights=weights)
        return {path: np.abs(g) for path, g in grads.items()}

    return prune_rounds(net, params, weights, density, steps, score, owner, method, can_return)


def iterative_snip(net, params: dict, batches, density: float, *, steps: int = 10,
                   loss: str = "cross-entropy") -> PruneResult:
    """Iterative SNIP: ``steps`` rounds of SNIP on the exponential schedule; no weight returns.

    As :func:`snip`, plus ``steps`` (``T``).  What the DCTpS repository runs as "FORCE".
    """
    return _rounds(net, params, batches, density, steps, loss, "iterative_snip",
                   "iterative-snip", False)


def force(net, params: dict, batches, density: float, *, steps: int = 10,
          loss: str = "cross-entropy") -> PruneResult:
    """FORCE: ``steps`` rounds scoring every weight of the dense copy; pruned weights can return.

    As :func:`snip`, plus ``steps`` (``T``).
    """
    return _rounds(net, params, batches, density, steps, loss, "force", "force", True)
