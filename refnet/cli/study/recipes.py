"""One call per study method that trains in a loop of its own: RigL (ERK), DCTpS + RigL, IMP
and the random subspace (analysis/README.md says what each is).

:func:`run_method` builds a reference model, trains it with :class:`refnet.sparsity.RigL`,
:func:`refnet.sparsity.iterative_magnitude_pruning` or a :class:`refnet.sparsity.SubspaceNetwork`
and returns the trained network, its parameters and the history of its final run::

    run = run_method("rigl", "lenet300", 1e-3, seed, (x_train, y_train), config,
                     eval_data={"val": (x_val, y_val)})
    evaluate(run.net, run.params, x_test, y_test)["accuracy"]

One Generator ``default_rng(seed)`` draws, in this order, the supports, the initial parameters
and the subspace projection; RigL's updates use ``default_rng([seed, step])``; ``config`` (its
own ``seed`` orders the batches) trains the final network.  ``options=`` override the defaults
of :data:`OPTIONS`: RigL's interval ``delta_t``, drop fraction ``alpha``, end ``t_end`` and
support distribution; IMP's ``rate`` per round (``rounds_for(density, rate)`` rounds unless
``rounds`` is given), ``rewind_step`` and the epochs of the dense and pruning runs
(``prune_epochs``, default ``config.epochs``); the subspace's ``include_biases`` (False: its
weights on ``matched_dim(net, density, include_biases=False)`` directions, as many as the sparse
network has weights, the biases trained directly; True: weights and biases projected together,
both sparse projections).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from refnet.core.layer import Layer
from refnet.core.tree import tree_size
from refnet.models import build_model
from refnet.sparsity import (RigL, SubspaceNetwork, iterative_magnitude_pruning, matched_dim,
                             rounds_for, sparse_layers, weights_projection)
from refnet.train import TrainConfig, train

__all__ = ["METHOD_LABELS", "OPTIONS", "MethodRun", "method_start", "run_method"]

#: Method name -> its row label in the study's table.
METHOD_LABELS = {"rigl": "RigL (ERK)", "dctps-rigl": "DCTpS + RigL", "imp": "IMP",
                 "subspace": "Random subspace"}

#: Each method's options and their defaults.
OPTIONS = {
    "rigl": {"delta_t": 100, "alpha": 0.3, "t_end": 0.75, "distribution": "erk",
             "debug": False},
    "dctps-rigl": {"delta_t": 100, "alpha": 0.3, "t_end": 0.75, "distribution": "epl",
                   "debug": False},
    "imp": {"rate": 0.2, "rounds": None, "rewind_step": 0, "prune_epochs": None},
    "subspace": {"include_biases": False},
}


class MethodRun(NamedTuple):
    """What :func:`run_method` returns: ``history`` has the per-epoch records of the final run
    (:func:`refnet.train.train`, with the ``eval_data`` metrics); ``info`` the number of
    trained scalars (``"trainable"``) and ``"nnz"`` per sparse layer (RigL, IMP), ``"updates"``
    (RigL's records), ``"rounds"`` (IMP's history) or ``"dim"`` (the subspace's)."""

    method: str
    net: Layer
    params: dict
    history: list
    info: dict


def _options(method: str, options, owner: str) -> dict:
    if method not in OPTIONS:
        raise ValueError(f"{owner}: method must be one of {sorted(OPTIONS)}, got {method!r}")
    unknown = sorted(set(options or {}) - set(OPTIONS[method]))
    if unknown:
        raise ValueError(f"{owner}: method {method!r} takes no option(s) {unknown}; its "
                         f"options are {sorted(OPTIONS[method])}")
    return dict(OPTIONS[method], **(options or {}))


def method_start(method: str, model: str, density: float, seed: int, *,
                 model_args: dict | None = None, options: dict | None = None):
    """``(net, params)`` a method starts from (module docstring), bitwise the same for the
    same arguments: a sparse (ERK) or DCTpS (EPL) model for RigL, the dense model for IMP, a
    :class:`SubspaceNetwork` around it (``theta = 0``) for the subspace."""
    opts = _options(method, options, "method_start")
    model_args = dict(model_args or {})
    rng = np.random.default_rng(seed)
    if method in ("rigl", "dctps-rigl"):
        kind = "sparse" if method == "rigl" else "dctps"
        net = build_model(model, kind=kind, density=density, distribution=opts["distribution"],
                          rng=rng, **model_args)
        return net, net.init(rng)
    net = build_model(model, **model_args)
    params = net.init(rng)
    if method == "imp":
        return net, params
    dim = matched_dim(net, density, include_biases=opts["include_biases"])
    if opts["include_biases"]:
        sub = SubspaceNetwork(net, params, dim, projection="sparse", rng=rng)
    else:
        sub = SubspaceNetwork(net, params, projection=weights_projection(net, params, dim, rng))
    return sub, sub.init(rng)


def run_method(method: str, model: str, density: float, seed: int, train_data,
               config: TrainConfig, *, eval_data: dict | None = None,
               model_args: dict | None = None, options: dict | None = None,
               quiet: bool = True) -> MethodRun:
    """Build ``model`` (:data:`refnet.models.MODELS`, with ``model_args``), train it with
    ``method`` (a key of :data:`OPTIONS`) at ``density`` and ``seed`` (module docstring),
    ``eval_data`` evaluated after every epoch of the final run; ValueError for an unknown
    method or option."""
    opts = _options(method, options, "run_method")
    net, params = method_start(method, model, density, seed, model_args=model_args,
                               options=options)
    if method in ("rigl", "dctps-rigl"):
        hook = RigL(net, train_data, config, seed=seed, delta_t=opts["delta_t"],
                    alpha=opts["alpha"], t_end=opts["t_end"], debug=opts["debug"])
        result = train(net, params, train_data, config, eval_data=eval_data, step_hook=hook,
                       quiet=quiet)
        net = hook.net
        info = {"updates": hook.updates, "nnz": {p: l.nnz for p, l in sparse_layers(net)}}
        return _finish(method, net, result.state.params, result.history, info)
    if method == "imp":
        prune_config = config if opts["prune_epochs"] is None else \
            dataclasses.replace(config, epochs=opts["prune_epochs"])
        imp = iterative_magnitude_pruning(net, params, train_data, config, density,
                                          rounds=opts["rounds"] or rounds_for(density,
                                                                              opts["rate"]),
                                          rewind_step=opts["rewind_step"],
                                          prune_config=prune_config, eval_data=eval_data,
                                          quiet=quiet)
        info = {"rounds": imp.history, "nnz": {p: l.nnz for p, l in sparse_layers(imp.net)}}
        return _finish(method, imp.net, imp.params, imp.history[-1]["epochs"], info)
    result = train(net, params, train_data, config, eval_data=eval_data, quiet=quiet)
    dim = matched_dim(build_model(model, **(model_args or {})), density,
                      include_biases=opts["include_biases"])
    return _finish(method, net, result.state.params, result.history, {"dim": dim})


def _finish(method, net, params, history, info) -> MethodRun:
    info["trainable"] = tree_size(params)
    return MethodRun(method, net, params, history, info)
