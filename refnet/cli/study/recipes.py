"""One call per study method: RigL (ERK), DCTpS + RigL, IMP, random subspace.

An app, not part of ``refnet.sparsity``: it builds models (``refnet.models``)
and trains them with sparsity's methods, so it sits above both.

:func:`run_method` builds a reference model, trains it with one of the
methods of :mod:`refnet.sparsity.rigl`, :mod:`refnet.sparsity.imp` and
:mod:`refnet.sparsity.subspace`, and returns the trained network, its
parameters and the per-epoch history of its (final) training run, so that a
study can evaluate every method the same way::

    run = run_method("rigl", "lenet300", 1e-3, seed, (x_train, y_train), config,
                     eval_data={"val": (x_val, y_val)})
    evaluate(run.net, run.params, x_test, y_test)["accuracy"]

What each method is, at a global ``density``.  One Generator
``rng = default_rng(seed)`` draws, in this order, the supports
(``build_model(..., rng=rng)``), the initial parameters (``net.init(rng)``)
and the subspace projection; RigL's updates use ``default_rng([seed, step])``;
``config`` (its own ``seed`` orders the batches) trains the final network:

============  ===================================================================
``rigl``      "RigL (ERK)": a sparse network, ERK supports, RigL updates
              (``delta_t=100, alpha=0.3, t_end=0.75``) while training.
``dctps-rigl`` "DCTpS + RigL": a DCTpS network, EPL supports of ``S``, RigL
              moving the entries of ``S`` (``alpha``, DCT and biases untouched).
``imp``       "IMP": dense training, then ``rounds`` rounds of global magnitude
              pruning to ``density``, each removing about ``rate=0.2`` of the
              survivors (Frankle & Carbin's rate: ``rounds_for(density, rate)``,
              21 / 31 / 42 rounds at 1% / 0.1% / 0.01%), rewinding to
              ``rewind_step=0`` (the init); the dense and intermediate runs use
              ``prune_epochs`` epochs (default ``config.epochs``), the final
              one ``config.epochs``: ``rounds * prune_epochs + config.epochs``
              epochs in all.
``subspace``  "Random subspace": the dense network at ``d = init``, its weights
              trained in a random subspace of ``dim = matched_dim(net, density,
              include_biases=False)`` directions, as many as the sparse network
              has weights (27 / 266 / 2,662 for lenet300 at 1e-4 / 1e-3 / 1e-2),
              its biases trained directly (:func:`weights_projection`);
              ``include_biases=True`` projects weights AND biases together on
              ``matched_dim(net, density)`` directions (437 / 676 / 3,072) with
              ``projection="sparse"`` (a dense U would need 0.9-6.6 GB there).
============  ===================================================================

Options (``options=``) override those defaults: ``delta_t``, ``alpha``,
``t_end``, ``distribution``, ``debug`` (RigL); ``rate``, ``rounds`` (None: from
``rate``), ``rewind_step``, ``prune_epochs`` (IMP); ``projection``, ``nnz_per_column``,
``include_biases`` (subspace).
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

__all__ = ["METHOD_LABELS", "MethodRun", "method_start", "run_method"]

#: Method name -> its row label in the study's table.
METHOD_LABELS = {"rigl": "RigL (ERK)", "dctps-rigl": "DCTpS + RigL", "imp": "IMP",
                 "subspace": "Random subspace"}

_OPTIONS = {
    "rigl": {"delta_t": 100, "alpha": 0.3, "t_end": 0.75, "distribution": "erk",
             "debug": False},
    "dctps-rigl": {"delta_t": 100, "alpha": 0.3, "t_end": 0.75, "distribution": "epl",
                   "debug": False},
    "imp": {"rate": 0.2, "rounds": None, "rewind_step": 0, "prune_epochs": None},
    "subspace": {"projection": "sparse", "nnz_per_column": None, "include_biases": False},
}


class MethodRun(NamedTuple):
    """The result of :func:`run_method`.

    Attributes
    ----------
    method : str
    net : Layer
        The trained network (for ``subspace`` a :class:`SubspaceNetwork`).
    params : dict
        Its trained parameters.
    history : list of dict
        Per-epoch records of the final training run (:func:`refnet.train.train`),
        with the ``eval_data`` metrics (``"val_accuracy"``, ...).
    info : dict
        ``"trainable"`` (number of trained scalars), ``"nnz"`` (per sparse
        layer, RigL and IMP), ``"dim"`` (subspace: its weights' directions), ``"updates"`` (RigL's
        records), ``"rounds"`` (IMP's history).
    """

    method: str
    net: Layer
    params: dict
    history: list
    info: dict


def _options(method: str, options, owner: str) -> dict:
    if method not in _OPTIONS:
        raise ValueError(f"{owner}: method must be one of {sorted(_OPTIONS)}, got {method!r}")
    unknown = sorted(set(options or {}) - set(_OPTIONS[method]))
    if unknown:
        raise ValueError(f"{owner}: method {method!r} takes no option(s) {unknown}; its "
                         f"options are {sorted(_OPTIONS[method])}")
    return dict(_OPTIONS[method], **(options or {}))


def method_start(method: str, model: str, density: float, seed: int, *,
                 model_args: dict | None = None, options: dict | None = None):
    """The network a method starts from and its initial parameters (module docstring).

    The same arguments give bitwise the same network and parameters, so a
    checkpointed run can be rebuilt: for ``subspace`` from this call (the
    projection is redrawn from ``seed``), for the RigL methods with
    :func:`refnet.models.rebuild` of the checkpoint's spec and supports (the
    supports have moved), for ``imp`` from the final ``IMPResult.net``'s spec
    and supports.

    Returns
    -------
    net : Layer
        ``rigl``: a sparse Model (ERK); ``dctps-rigl``: a DCTpS Model (EPL);
        ``imp``: the dense Model; ``subspace``: a :class:`SubspaceNetwork`
        around the dense Model (module docstring).
    params : dict
        ``net.init`` from the run's Generator (``theta = 0`` for subspace).
    """
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
        sub = SubspaceNetwork(net, params, dim, projection=opts["projection"], rng=rng,
                              nnz_per_column=opts["nnz_per_column"])
    else:
        if opts["projection"] != "sparse":
            raise ValueError("method_start: a subspace without its biases (include_biases="
                             f"False) draws a sparse projection, got {opts['projection']!r}")
        sub = SubspaceNetwork(net, params, projection=weights_projection(
            net, params, dim, rng, nnz_per_column=opts["nnz_per_column"]))
    return sub, sub.init(rng)


def run_method(method: str, model: str, density: float, seed: int, train_data,
               config: TrainConfig, *, eval_data: dict | None = None,
               model_args: dict | None = None, options: dict | None = None,
               quiet: bool = True) -> MethodRun:
    """Build ``model``, train it with ``method`` at ``density``; see the module docstring.

    Parameters
    ----------
    method : {"rigl", "dctps-rigl", "imp", "subspace"}
    model : str
        A :data:`refnet.models.MODELS` name (``"lenet300"``, ...).
    density : float
        Global density in (0, 1].
    seed : int
        Supports, initial parameters and the method's own randomness
        (:func:`method_start`).
    train_data : (ndarray, ndarray)
    config : TrainConfig
    eval_data : dict, optional
        Evaluated after every epoch of the final run.
    model_args : dict, optional
        Extra arguments of ``build_model`` (``sizes=`` for ``"mlp"``, ...).
    options : dict, optional
        Method options (module docstring).
    quiet : bool, default True

    Returns
    -------
    MethodRun

    Raises
    ------
    ValueError
        For an unknown method or option.
    """
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
