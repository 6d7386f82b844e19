"""Pruning at initialisation: SNIP, Iterative SNIP, FORCE and SynFlow.

Each scores every prunable weight entry of a DENSE network at its initial
parameters, keeps the ``k`` best over the whole network (a global ranking)
and hands back a sparse network holding the dense values on the kept
positions (:func:`refnet.networks.to_sparse`).  They differ only in the score
and the number of rounds.

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

SNIP (Lee, Ajanthan & Torr, ICLR 2019) scores ``|dL/dc| = |w * dL/dv|`` at
``c = 1``, gradients averaged over the given batches, in one round.
Iterative SNIP (de Jorge et al., ICLR 2021): ``T`` rounds, each scoring the
network masked by the last and keeping its best AMONG THOSE STILL KEPT.
FORCE (same paper): the same rounds, but every round scores ALL weights of the
dense ``w``, ``|w * dL/dv(c * w)|``, so a pruned weight can come back.  The
DCTpS repository's "FORCE" (``main.py --prune_method 1``, ``iterative_pruning``
in ``code/pruning_algos.py``) zeroes pruned weights in place and gives them the
minimum saliency: that is Iterative SNIP.  It also scores with ``F.nll_loss``
on raw outputs (here: the given loss), draws fresh batches every round (here:
the caller's, every round), and keeps ``int(fraction * N)`` entries plus
threshold ties.  ``T`` is 10 there and here (the FORCE paper uses 60).

SynFlow (Tanaka, Kunin, Yamins & Ganguli, NeurIPS 2020) needs no data: with
every weight replaced by its absolute value and an all-ones input (one
example)::

    R = sum(f(ones; |w| * c))          score_j = |w_j * dR/dw_j| = c_j * |w_j| * dR/dv_j

For a chain of linear layers ``R = 1.T @ |W_L| ... |W_1| @ 1`` sums the weight
products of all paths, and ``R`` is homogeneous of degree one in each layer,
so by Euler's theorem every layer's scores add up to the same ``R`` (the
conservation; a test checks it to 1e-10).  With positive weights and input
every ReLU passes, so a ReLU network is scored as a linear one.  Biases are
ZERO while scoring (the paper's ``R`` has none; the authors' code takes
``|b|``, which agrees at refnet's zero-initialised biases).  ``iterations``
rounds (default 100, the paper's); a pruned weight scores 0 and is excluded
outright from later rounds.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from .._checks import check_positive_int
from ..core.tree import tree_get, tree_map, tree_replace
from ..losses import LOSSES
from ..networks import dense_matrix, dense_prunable_layers, matrix_to_weight, to_sparse
from ..supports import check_density, target_nnz
from ..train import value_and_grad

__all__ = ["PruneResult", "mask_gradient", "keep_top", "top_k", "exponential_schedule",
           "mask_supports", "snip", "iterative_snip", "force", "draw_batches", "synflow",
           "synflow_scores"]


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


def _dense_weights(net, params: dict, owner: str) -> dict:
    """``{path: (layer, weight matrix)}``; ValueError unless every prunable layer is dense."""
    return {path: (layer, np.asarray(dense_matrix(layer, tree_get(params, path)),
                                     dtype=np.float64))
            for path, layer in dense_prunable_layers(
                net, owner, "pruning at initialisation starts from a dense network (build it "
                "with kind='dense')")}


def _masked_params(params: dict, weights: dict, masks: dict, values: dict | None = None) -> dict:
    """A new tree with every prunable weight ``values * mask`` (``values`` default the weights)."""
    out = params
    for path, (layer, matrix) in weights.items():
        base = matrix if values is None else values[path]
        out = tree_replace(out, path, dict(tree_get(out, path),
                                           W=matrix_to_weight(layer, base * masks[path])))
    return out


def _as_batches(batches, owner: str) -> list:
    """A non-empty list of ``(x, labels)`` pairs from one pair or a sequence of pairs."""
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
    if any(np.size(labels) == 0 for _, labels in batches):
        raise ValueError(f"{owner}: a batch holds no example; scores of no data would choose "
                         "an arbitrary support")
    return batches


def mask_gradient(net, params: dict, masks: dict, batches, *, loss: str = "cross-entropy",
                  wrt: str = "mask", _weights: dict | None = None):
    """``dL/dc`` (or ``dL/dw``) of every prunable weight of a masked network, batch-averaged.

    ``params`` are the unmasked ``w``, ``masks`` ``{path: array}`` of
    weight-matrix shape (real values allowed).  Returns the masked network's
    loss averaged over ``batches``, and ``{path: w * g}`` (``wrt="mask"``) or
    ``{path: c * g}`` (``"weight"``), ``g = mean_b dL_b/dv`` (module docstring).
    """
    owner = "mask_gradient"
    if loss not in LOSSES:
        raise ValueError(f"{owner}: loss must be one of {sorted(LOSSES)}, got {loss!r}")
    if wrt not in ("mask", "weight"):
        raise ValueError(f"{owner}: wrt must be 'mask' or 'weight', got {wrt!r}")
    weights = _dense_weights(net, params, owner) if _weights is None else _weights
    batches = _as_batches(batches, owner)
    seen = _masked_params(params, weights, masks)
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
        masks[p] = keep[start:start + math.prod(shape)].reshape(shape)
        start += math.prod(shape)
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
    """``round(density ** (t / steps) * total)`` for ``t = 1 .. steps``, halves up."""
    steps = check_positive_int("steps", steps, "exponential_schedule")
    counts = [target_nnz(density ** (t / steps), total) for t in range(1, steps)]
    return counts + [target_nnz(density, total)]


def mask_supports(masks: dict) -> dict:
    """``{path: (rows, cols)}``, int64 in CSR order (row-major), of each mask's nonzeros."""
    return {path: tuple(index.astype(np.int64) for index in np.nonzero(mask))
            for path, mask in masks.items()}


def _prune(net, params: dict, weights: dict, density: float, rounds: int, score,
           owner: str, method: str, can_return: bool) -> PruneResult:
    """The rounds every method shares, from all ones: ``masks = keep_top(score(masks), keep)``.

    ``keep`` runs over the exponential schedule; ``score(masks)`` gets float
    masks.  Unless ``can_return``, a pruned entry scores ``-inf``.
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


def _sensitivity(net, params, batches, density, steps, loss, owner, method, can_return):
    density = check_density(density, owner)
    steps = check_positive_int("steps", steps, owner)
    weights = _dense_weights(net, params, owner)
    batches = _as_batches(batches, owner)

    def score(masks):
        _, grads = mask_gradient(net, params, masks, batches, loss=loss, _weights=weights)
        return {path: np.abs(g) for path, g in grads.items()}

    return _prune(net, params, weights, density, steps, score, owner, method, can_return)


def snip(net, params: dict, batches, density: float, *,
         loss: str = "cross-entropy") -> PruneResult:
    """SNIP: keep the ``round(density * N)`` weights of largest ``|w * dL/dw|``.

    ``net`` is DENSE (every prunable layer a Linear or Conv2d) at its initial
    ``params``; ``batches`` one ``(x, labels)`` (SNIP's setting) or several,
    gradients averaged.  Raises ValueError for a density outside (0, 1], a
    network without prunable layers or with one not dense, or bad batches.
    """
    return _sensitivity(net, params, batches, density, 1, loss, "snip", "snip", True)


def iterative_snip(net, params: dict, batches, density: float, *, steps: int = 10,
                   loss: str = "cross-entropy") -> PruneResult:
    """Iterative SNIP: ``steps`` rounds of SNIP; no weight returns (as :func:`snip`)."""
    return _sensitivity(net, params, batches, density, steps, loss, "iterative_snip",
                        "iterative-snip", False)


def force(net, params: dict, batches, density: float, *, steps: int = 10,
          loss: str = "cross-entropy") -> PruneResult:
    """FORCE: ``steps`` rounds scoring every weight; pruned ones can return (as :func:`snip`)."""
    return _sensitivity(net, params, batches, density, steps, loss, "force", "force", True)


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


def _input_shape(net, in_shape, owner):
    shape = getattr(net, "input_shape", None) if in_shape is None else tuple(in_shape)
    if shape is None:
        raise ValueError(f"{owner}: the network has no input_shape; pass in_shape")
    return tuple(shape)


def synflow_scores(net, params: dict, masks: dict | None = None, *, in_shape=None,
                   _weights=None):
    """Synaptic flow ``R`` and ``{path: c * |w| * dR/dv}``, every prunable weight's score.

    ``masks`` default all ones; ``in_shape`` default ``net.input_shape``.
    """
    owner = "synflow_scores"
    weights = _dense_weights(net, params, owner) if _weights is None else _weights
    shape = _input_shape(net, in_shape, owner)
    positive = tree_map(np.abs, params)        # |w|, and |p| for anything else but biases:
    for path in weights:
        layer_params = tree_get(positive, path)
        if "b" in layer_params:
            layer_params["b"] = np.zeros_like(layer_params["b"])
    magnitudes = {path: np.abs(matrix) for path, (_, matrix) in weights.items()}
    if masks is None:
        masks = {path: np.ones_like(m) for path, m in magnitudes.items()}
    seen = _masked_params(positive, weights, masks, values=magnitudes)
    y, cache = net.forward(seen, np.ones((1,) + shape))
    _, grads = net.vjp(seen, cache, np.ones_like(y))
    scores = {path: magnitudes[path] * masks[path] * dense_matrix(layer, tree_get(grads, path))
              for path, (layer, _) in weights.items()}
    return float(np.sum(y)), scores


def synflow(net, params: dict, density: float, *, iterations: int = 100,
            in_shape=None) -> PruneResult:
    """SynFlow: ``iterations`` rounds of synaptic-flow scoring, no data (else as :func:`snip`).

    ``in_shape`` default ``net.input_shape``.  Also raises ValueError for a
    NaN score (overflow) or no input shape.
    """
    owner = "synflow"
    density = check_density(density, owner)
    iterations = check_positive_int("iterations", iterations, owner)
    weights = _dense_weights(net, params, owner)
    shape = _input_shape(net, in_shape, owner)

    def score(masks):
        return synflow_scores(net, params, masks, in_shape=shape, _weights=weights)[1]

    return _prune(net, params, weights, density, iterations, score, owner, "synflow", False)
