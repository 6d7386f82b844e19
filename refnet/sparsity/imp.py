"""Iterative magnitude pruning (IMP) with rewinding: the train-then-prune baseline.

IMP (Han et al. 2015; with rewinding, Frankle & Carbin 2019 and Frankle et
al. 2020) finds its support by TRAINING a dense network first::

    w_k   = the parameters after k optimizer steps of the dense run (k = 0: the init)
    train the dense network                              -> w
    for round t = 1 .. T:
        keep the c_t entries of largest |w| among the surviving ones,
            ranked over ALL prunable weights at once (global magnitude ranking)
        rewind: every surviving weight (and every bias) back to its value in w_k
        train the pruned network from there (the last round: the final model) -> w

``c_t = round(density ** (t / T) * N)``: each round removes the same fraction
and the last keeps exactly ``round(density * N)``; ties go to the earlier
layer, then position (:func:`~refnet.sparsity.pruning.keep_top`).  Fixed here:
biases are never pruned and are rewound; every run starts a fresh optimizer
state and runs the whole config (rewinding resets parameters, not the
schedule); pruned networks are refnet sparse networks, so a round costs what
the sparse network costs.  The first run is dense: ``O(mn) -> O(pmn)`` in the
talk's table.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from .._checks import check_positive_int
from ..core.layer import Layer
from ..core.tree import tree_get, tree_map
from ..layers import Conv2d, Linear
from ..networks import (dense_matrix, dense_prunable_layers, is_sparse, prunable_layers,
                        to_sparse, weight_shape)
from ..supports import check_density
from ..train import TrainConfig, train
from .pruning import exponential_schedule, keep_top, mask_supports

__all__ = ["IMPResult", "magnitude_prune", "iterative_magnitude_pruning", "rounds_for"]


class IMPResult(NamedTuple):
    """``net`` the final sparse network (spec ``support="imp"`` for a Model), ``params`` its
    trained (or, ``train_final=False``, rewound) parameters, ``history`` one ``{"stage":
    "dense" | "round t" | "final", "kept", "density", "epochs"}`` per training run."""

    net: Layer
    params: dict
    history: list


def magnitude_prune(net: Layer, params: dict, keep: int) -> dict:
    """Supports ``{path: (rows, cols)}`` keeping the ``keep`` largest ``|w|`` network-wide.

    Off a sparse layer's support nothing survives; ``keep`` is at most the
    surviving entries.  A DCTpS layer (``alpha * D + S``: pruning ``S`` alone
    is not IMP) is a ValueError.
    """
    layers = prunable_layers(net)
    if not layers:
        raise ValueError(f"magnitude_prune: {type(net).__name__} has no prunable layer")
    scores = {}
    for path, layer in layers:
        layer_params = tree_get(params, path)
        if isinstance(layer, (Linear, Conv2d)):
            scores[path] = np.abs(dense_matrix(layer, layer_params))
        elif is_sparse(layer) and getattr(layer, "offset", None) is None:
            scores[path] = np.full(layer.shape, -np.inf)
            scores[path][layer.rows, layer.cols] = np.abs(layer_params["S"])
        else:
            raise ValueError(f"magnitude_prune: layer {path!r} is {type(layer).__name__}; IMP "
                             "prunes dense and sparse layers, not DCTpS ones")
    alive = sum(int(np.count_nonzero(np.isfinite(s))) for s in scores.values())
    if isinstance(keep, bool) or not isinstance(keep, numbers.Integral) or not 0 <= keep <= alive:
        raise ValueError(f"magnitude_prune: keep must be an integer in [0, {alive}] (the "
                         f"surviving weights), got {keep!r}")
    return mask_supports(keep_top(scores, int(keep), "magnitude_prune"))


def rounds_for(density: float, rate: float = 0.2) -> int:
    """The rounds ``T`` that reach ``density`` removing at most ``rate`` of the survivors each.

    ``(1 - rate) ** T <= density``: ``T = ceil(log(density) / log(1 - rate))``, at least 1;
    at the lottery-ticket rate 0.2, 21 / 31 / 42 rounds for 1% / 0.1% / 0.01%.

    Examples
    --------
    >>> [rounds_for(d) for d in (1e-2, 1e-3, 1e-4)]
    [21, 31, 42]
    """
    density = check_density(density, "rounds_for")
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 < rate < 1:
        raise ValueError(f"rounds_for: rate must lie in (0, 1), got {rate!r}")
    # the 1e-9 keeps a density that is an exact power of (1 - rate) from rounding up
    return max(1, math.ceil(math.log(density) / math.log1p(-rate) - 1e-9))


def _copy(params):
    return tree_map(lambda v: np.array(v, copy=True), params)


def iterative_magnitude_pruning(net: Layer, params: dict, train_data, config: TrainConfig,
                                density: float, rounds: int = 3, rewind_step: int = 0, *,
                                prune_config: TrainConfig | None = None,
                                eval_data: dict | None = None, train_final: bool = True,
                                quiet: bool = True) -> IMPResult:
    """IMP with rewinding to step ``rewind_step`` (module docstring), to ``density``.

    ``net`` is the DENSE network at its initial ``params``; ``config`` trains
    the final sparse network and ``prune_config`` (default ``config``) the
    dense and intermediate runs; ``rounds`` is ``T`` (1: one-shot);
    ``rewind_step`` the dense step rewound to (0: the init, at most the dense
    run's steps); ``eval_data`` goes to every run; with ``train_final=False``
    the final network comes back with the rewound parameters.
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
