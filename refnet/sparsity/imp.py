"""Iterative magnitude pruning (IMP) with rewinding: the train-then-prune baseline.

IMP (Han et al. 2015; with rewinding, Frankle & Carbin 2019, "The Lottery
Ticket Hypothesis", and Frankle et al. 2020, "Linear Mode Connectivity and
the Lottery Ticket Hypothesis") finds its support by TRAINING a dense network
first, then repeatedly removing the weights of smallest magnitude::

    w_k   = the parameters after k optimizer steps of the dense run (k = 0: the init)
    train the dense network                              -> w
    for round t = 1 .. T:
        keep the c_t entries of largest |w| among the surviving ones,
            ranked over ALL prunable weights at once (global magnitude ranking)
        rewind: every surviving weight (and every bias) back to its value in w_k
        train the pruned network from there (the last round: the final model) -> w

``c_t = round(density ** (t / T) * N)`` (:func:`~refnet.sparsity.pruning.exponential_schedule`,
``N`` prunable weight entries): each round removes the same fraction of the
remaining weights, and the last keeps exactly ``round(density * N)``.  Ties in
magnitude go to the earlier layer, then the earlier position
(:func:`~refnet.sparsity.pruning.keep_top`).

Details fixed here (the papers leave them to the implementation): biases are
never pruned and are rewound with the weights; every training run starts a
fresh optimizer state and the run's own batch order (``config.seed``), and
runs the whole ``config`` (rewinding resets parameters, not the step count or
the learning-rate schedule); the pruned networks are refnet sparse networks
(:func:`refnet.models.to_sparse`), so the pruned weights are gone, not
masked, and a round costs what the sparse network costs.  The talk's table
lists IMP's training cost as ``O(mn) -> O(pmn)``: the first run is dense.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from .._checks import check_positive_int
from ..core.layer import Layer
from ..core.tree import tree_map
from ..layers import Conv2d, Linear, SparseConv2d, SparseLinear
from ..models.convert import to_sparse
from ..models.weights import (dense_matrix, dense_prunable_layers, get_path, prunable_layers,
                              weight_shape)
from ..train import TrainConfig, train
from .distributions import check_density
from .pruning import exponential_schedule, keep_top, mask_supports

__all__ = ["IMPResult", "magnitude_scores", "magnitude_prune", "iterative_magnitude_pruning"]


class IMPResult(NamedTuple):
    """What :func:`iterative_magnitude_pruning` returns (a 3-tuple).

    Attributes
    ----------
    net : Layer
        The final sparse network (a :class:`~refnet.models.Model` of kind
        ``"sparse"`` with ``spec["support"] == "imp"`` when the dense network
        was a Model).
    params : dict
        Its parameters: trained from the rewound weights, or the rewound
        weights themselves with ``train_final=False``.
    history : list of dict
        One entry per training run, in order: ``{"stage": "dense" | "round t"
        | "final", "kept": int, "density": float, "epochs": [...]}`` with
        ``epochs`` the run's per-epoch records (:func:`refnet.train.train`).
    """

    net: Layer
    params: dict
    history: list


def magnitude_scores(net: Layer, params: dict) -> dict:
    """``{path: |w|}`` in weight-matrix shape for every prunable weight; ``-inf`` off the support.

    A dense layer scores every entry; a sparse layer only its stored ones
    (absent positions get ``-inf``: once pruned, a weight never returns).

    Raises
    ------
    ValueError
        For a DCTpS layer (its weight is ``alpha * D + S``: magnitude pruning
        of ``S`` alone is not what IMP means) or a network without prunable
        layers.
    """
    layers = prunable_layers(net)
    if not layers:
        raise ValueError(f"magnitude_scores: {type(net).__name__} has no prunable layer")
    scores = {}
    for path, layer in layers:
        layer_params = get_path(params, path)
        if isinstance(layer, (Linear, Conv2d)):
            scores[path] = np.abs(dense_matrix(layer, layer_params))
        elif isinstance(layer, (SparseLinear, SparseConv2d)) and layer.offset is None:
            score = np.full(layer.shape, -np.inf)
            score[layer.rows, layer.cols] = np.abs(layer_params["S"])
            scores[path] = score
        else:
            raise ValueError(f"magnitude_scores: layer {path!r} is {type(layer).__name__}; IMP "
                             "prunes dense and sparse layers, not DCTpS ones")
    return scores


def magnitude_prune(net: Layer, params: dict, keep: int) -> dict:
    """Supports keeping the ``keep`` largest-magnitude weights over the whole network.

    Parameters
    ----------
    net : Layer
        Dense or sparse prunable layers (:func:`magnitude_scores`).
    params : dict
    keep : int
        Entries kept in total, at most the number of surviving ones.

    Returns
    -------
    dict
        ``{path: (rows, cols)}`` in weight-matrix coordinates, CSR order.
    """
    scores = magnitude_scores(net, params)
    alive = sum(int(np.count_nonzero(np.isfinite(s))) for s in scores.values())
    if isinstance(keep, bool) or not isinstance(keep, numbers.Integral) or not 0 <= keep <= alive:
        raise ValueError(f"magnitude_prune: keep must be an integer in [0, {alive}] (the "
                         f"surviving weights), got {keep!r}")
    return mask_supports(keep_top(scores, int(keep), "magnitude_prune"))


def _copy(params):
    return tree_map(lambda v: np.array(v, copy=True), params)


def iterative_magnitude_pruning(net: Layer, params: dict, train_data, config: TrainConfig,
                                density: float, rounds: int = 3, rewind_step: int = 0, *,
                                prune_config: TrainConfig | None = None,
                                eval_data: dict | None = None, train_final: bool = True,
                                quiet: bool = True) -> IMPResult:
    """IMP with rewinding to step ``rewind_step`` (module docstring), to ``density``.

    Parameters
    ----------
    net : Layer
        The DENSE network (every prunable layer a Linear or Conv2d), for
        example ``build_model("lenet300")``.
    params : dict
        Its initial parameters.
    train_data : (ndarray, ndarray)
    config : TrainConfig
        The final sparse network's training.
    density : float
        Target global density in (0, 1]: exactly ``round(density * N)``
        weights survive.
    rounds : int, default 3
        Pruning rounds ``T`` (1: one-shot pruning after one dense run).
    rewind_step : int, default 0
        Rewind to the parameters after this many optimizer steps of the dense
        run (0: the initialisation, as in the original lottery ticket).
    prune_config : TrainConfig, optional
        Training of the dense run and of the intermediate rounds (default
        ``config``); shorter runs make IMP cheaper.
    eval_data : dict, optional
        Passed to every training run (its records land in ``history``).
    train_final : bool, default True
        Train the final sparse network; if False, return it with the rewound
        parameters (to inspect the ticket itself).
    quiet : bool, default True

    Returns
    -------
    IMPResult
        ``(net, params, history)``.

    Raises
    ------
    ValueError
        For a density outside (0, 1], rounds < 1, a negative rewind step or
        one beyond the dense run, or a network with non-dense prunable layers.
    """
    owner = "iterative_magnitude_pruning"
    density = check_density(density, owner)
    rounds = check_positive_int("rounds", rounds, owner)
    rewind_step = check_positive_int("rewind_step", rewind_step, owner, minimum=0)
    prune_config = config if prune_config is None else prune_config
    layers = dense_prunable_layers(net, owner, "IMP starts from a dense network (every "
                                   "prunable layer a Linear or Conv2d)")
    steps = prune_config.epochs * math.ceil(len(train_data[0]) / prune_config.batch_size)
    if rewind_step > steps:
        raise ValueError(f"{owner}: rewind_step {rewind_step} is beyond the dense run's "
                         f"{steps} steps")
    total = sum(math.prod(weight_shape(layer)) for _, layer in layers)
    schedule = exponential_schedule(density, total, rounds)

    rewind = {"params": _copy(params)}

    def remember(hook_net, state):
        if state.step == rewind_step:
            rewind["params"] = _copy(state.params)
        return hook_net, state

    dense = train(net, params, train_data, prune_config, eval_data=eval_data,
                  step_hook=remember if rewind_step else None, quiet=quiet)
    history = [{"stage": "dense", "kept": total, "density": 1.0, "epochs": dense.history}]
    current_net, current_params = net, dense.state.params
    for t, keep in enumerate(schedule, start=1):
        supports = magnitude_prune(current_net, current_params, keep)
        last = t == rounds
        sparse_net, sparse_params = to_sparse(net, rewind["params"], supports, method="imp",
                                              density=density if last else keep / total)
        if last and not train_final:
            history.append({"stage": "final", "kept": keep, "density": keep / total,
                            "epochs": []})
            return IMPResult(sparse_net, sparse_params, history)
        run = train(sparse_net, sparse_params, train_data, config if last else prune_config,
                    eval_data=eval_data, quiet=quiet)
        history.append({"stage": "final" if last else f"round {t}", "kept": keep,
                        "density": keep / total, "epochs": run.history})
        current_net, current_params = sparse_net, run.state.params
    return IMPResult(current_net, current_params, history)
