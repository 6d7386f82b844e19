"""The methods the study compares, one :class:`Method` per row of its table (analysis/README.md
says what each row trains and with which settings).

Each builds a network and its initial parameters from a :class:`Context`, or trains it in a
loop of its own (:func:`refnet.cli.study.recipes.run_method`); all get the same optimizer,
epochs and learning-rate grid, so only the trainable weights differ.  ``*-fixed-alpha`` freeze
alpha at 1 (``--alpha fixed``).  ``dctps-epl@OFFSET`` and its floor ``offset-only@OFFSET``
(``--offsets``) put another fixed offset of :mod:`refnet.offsets` in place of the DCT and
change nothing else: the same EPL supports for the same seed, ``S = 0``, ``alpha = 1``, a
random offset seeded by :attr:`Context.offset_seed`.  ``none`` has no alpha, so its S starts
as the sparse baselines' (Kaiming, dense fan-in): ``dctps-epl@none`` is ``random-epl`` bitwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np

from refnet.models import build_doping, build_model, doping_plan, doping_weights, rebuild
from refnet.offsets import OFFSETS, RANDOM_OFFSETS
from refnet.sparsity import draw_batches, force, rounds_for, snip, synflow
from refnet.cli.study.recipes import run_method

__all__ = ["Method", "METHODS", "DEFAULT_METHODS", "ALPHA_METHODS", "Context", "register",
           "build_initial", "pruned", "dct_only", "imp_cost", "applicable", "OFFSET_METHODS",
           "OFFSET_LABELS"]


@dataclass(frozen=True)
class Method:
    """One row of the study table, ``key`` on the command line, ``label`` in the table.

    ``prepare(ctx) -> (net, params)`` builds it from a :class:`Context`, or ``run(ctx,
    train_config) -> (net, params)`` trains it entirely; a ``density_free`` method trains once
    and fills every density's column.  Optional: ``notes(model, model_args, density) -> str``
    says under the table what the row trains; ``check(model, model_args)`` raises ValueError
    when the method cannot build the model; ``needs(model, model_args, density)`` is the least
    density the method can meet, or None (a cell below it is not trained); ``settings(config)
    -> [options]`` are candidate settings, each trained at every learning rate and chosen with
    it on validation; ``cost(density, epochs, options)`` the epochs one run trains in all.
    """

    key: str
    label: str
    prepare: Callable | None = None
    density_free: bool = False
    run: Callable | None = None
    notes: Callable | None = None
    check: Callable | None = None
    needs: Callable | None = None
    settings: Callable | None = None
    cost: Callable | None = None


@dataclass(frozen=True)
class Context:
    """What a method may use: the model, the density, seeded generators and the data."""

    model: str
    model_args: dict
    density: float
    support_rng: np.random.Generator   #: draws supports and pruning batches
    init_rng: np.random.Generator      #: draws initial parameter values
    x_train: np.ndarray
    y_train: np.ndarray
    seed: int = 0                      #: the run's seed (methods with their own seeding)
    #: seed of the random offsets; None: drawn from the support generator after the supports
    offset_seed: int | None = None
    options: dict = field(default_factory=dict)   #: one of the method's ``settings``


def build_initial(ctx: Context, kind: str, distribution: str = "uniform", **kwargs):
    """A freshly built reference model of ``kind`` at ``ctx.density`` and its initial params."""
    sparse = {} if kind == "dense" else {"density": ctx.density, "distribution": distribution,
                                         "rng": ctx.support_rng}
    model = build_model(ctx.model, kind=kind, **sparse, **ctx.model_args, **kwargs)
    return model, model.init(ctx.init_rng)


def _dctps(offset: str = "dct", train_alpha: bool = True):
    """DCTpS on EPL supports; a random offset from ``ctx.offset_seed``."""
    return lambda ctx: build_initial(
        ctx, "dctps", "epl", offset=offset, train_alpha=train_alpha,
        offset_seed=ctx.offset_seed if offset in RANDOM_OFFSETS else None)


def dct_only(ctx, *, train_alpha: bool = True, offset: str = "dct"):
    """A DCTpS model whose S has no entry at all: ``W = alpha * D`` (or ``alpha * O``)."""
    seed = None
    if offset in RANDOM_OFFSETS:
        seed = ctx.offset_seed if ctx.offset_seed is not None \
            else int(ctx.support_rng.integers(2**63))
    model = build_model(ctx.model, kind="dctps", density=1.0, distribution="uniform",
                        rng=0, train_alpha=train_alpha, offset=offset, offset_seed=seed,
                        **ctx.model_args)
    spec = dict(model.spec, density=0.0, distribution=None,
                layers=[dict(layer, nnz=0) for layer in model.spec["layers"]])
    empty = np.zeros(0, dtype=np.int64)
    net = rebuild(spec, {layer["name"]: (empty, empty) for layer in spec["layers"]})
    return net, net.init(ctx.init_rng)


def pruned(method, *, num_batches: int = 1, **kwargs):
    """Prune a dense initialisation with ``method``; the data-driven ones see
    ``num_batches`` training batches of 128 drawn with the support rng."""
    def prepare(ctx):
        dense, params = build_initial(ctx, "dense")
        if method is synflow:
            result = synflow(dense, params, ctx.density, **kwargs)
        else:
            batches = draw_batches(ctx.x_train, ctx.y_train, 128, num_batches, ctx.support_rng)
            result = method(dense, params, batches, ctx.density, **kwargs)
        return result.net, result.params
    return prepare


def _doping(ctx):
    """Every fully connected weight ``A kron B + S`` at the density's budget."""
    net = build_doping(ctx.model, density=ctx.density, rng=ctx.support_rng, **ctx.model_args)
    return net, net.init(ctx.init_rng)


def _doping_needs(model: str, model_args: dict, density: float) -> float | None:
    """The density Doping's Kronecker factors alone need when ``density``'s budget is smaller:
    2 sqrt(m n) weights per layer, 1,385 for lenet300, more than all of 0.52%."""
    plan = doping_plan(doping_weights(model, **model_args), density)
    return plan.achieved_density if plan.over_budget else None


def imp_cost(density: float, epochs: int, options: dict) -> int:
    """IMP's epochs in all: the dense run and each pruning round but the last train
    ``prune_epochs``, the final network ``epochs``."""
    return rounds_for(density, options["rate"]) * options["prune_epochs"] + epochs


def _rigl_settings(config) -> list:
    return [{"delta_t": delta_t, "alpha": alpha} for delta_t, alpha in config.rigl]


def _trained_by(method: str):
    """A study ``run`` through :func:`refnet.cli.study.recipes.run_method`, with
    ``ctx.options``."""
    def run(ctx: Context, config):
        result = run_method(method, ctx.model, ctx.density, ctx.seed,
                            (ctx.x_train, ctx.y_train), config, model_args=ctx.model_args,
                            options=ctx.options)
        return result.net, result.params
    return run


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` (its key must be new)."""
    if method.key in METHODS:
        raise ValueError(f"a study method called {method.key!r} exists already")
    METHODS[method.key] = method
    return method


for _method in (
        Method("dense", "Dense", lambda ctx: build_initial(ctx, "dense"), density_free=True),
        Method("random-uniform", "Random (Uniform)",
               lambda ctx: build_initial(ctx, "sparse", "uniform")),
        Method("random-epl", "Random (EPL)", lambda ctx: build_initial(ctx, "sparse", "epl")),
        Method("snip", "SNIP", pruned(snip)),
        Method("force", "FORCE", pruned(force, steps=10, num_batches=4)),
        Method("synflow", "SynFlow", pruned(synflow, iterations=100)),
        Method("dctps-epl", "DCTpS (EPL)", _dctps()),
        Method("dct-only", "DCT only (no S)", dct_only, density_free=True),
        Method("doping", "A⊗B + fixed random S", _doping,
               notes=lambda model, args, d: doping_plan(doping_weights(model, **args),
                                                        d).describe(),
               check=lambda model, args: doping_weights(model, **args), needs=_doping_needs),
        Method("imp", "IMP", run=_trained_by("imp"), cost=imp_cost,
               settings=lambda config: [{"rate": 0.2, "prune_epochs": config.prune_epochs}]),
        Method("rigl-erk", "RigL (ERK)", run=_trained_by("rigl"), settings=_rigl_settings),
        Method("dctps-rigl", "DCTpS + RigL", run=_trained_by("dctps-rigl"),
               settings=_rigl_settings),
        Method("subspace", "Random subspace", run=_trained_by("subspace"),
               settings=lambda config: [{"include_biases": False}]),
        Method("subspace-projected", "Random subspace, biases projected too",
               run=_trained_by("subspace"), settings=lambda config: [{"include_biases": True}]),
        # the talk's backup slide "What if we fixed alpha?"
        Method("dctps-epl-fixed-alpha", "DCTpS (EPL), alpha fixed at 1",
               _dctps(train_alpha=False)),
        Method("dct-only-fixed-alpha", "DCT only, alpha fixed at 1 (biases only)",
               partial(dct_only, train_alpha=False), density_free=True)):
    register(_method)

#: ``refnet study --alpha``: each setting's DCTpS row and floor.
ALPHA_METHODS = {"trainable": ("dctps-epl", "dct-only"),
                 "fixed": ("dctps-epl-fixed-alpha", "dct-only-fixed-alpha")}

#: How the table names each offset other than the DCT.
OFFSET_LABELS = {"randomized-dct": "randomized DCT", "orthogonal": "orthogonal",
                 "identity": "identity", "none": "no", "permutation": "random permutation",
                 "signs": "random signs", "dct-2d": "2-D DCT"}


def _offset_methods(offset: str) -> dict:
    """Register the DCTpS row and floor of ``offset`` for each alpha setting; return their keys."""
    if offset == "none":            # no alpha: both settings are the same two rows
        rows = (register(Method("dctps-epl@none", "DCTpS (EPL), no offset (= Random (EPL))",
                                _dctps("none"))).key,
                register(Method("offset-only@none", "no offset, no S (biases only)",
                                partial(dct_only, offset="none"), density_free=True)).key)
        return {"trainable": rows, "fixed": rows}
    label, keys = OFFSET_LABELS[offset], {}
    for setting, train, suffix, alpha, floor in (
            ("trainable", True, "", "", "only (no S)"),
            ("fixed", False, "-fixed-alpha", ", alpha fixed at 1",
             "only, alpha fixed at 1 (biases only)")):
        keys[setting] = (
            register(Method(f"dctps-epl{suffix}@{offset}", f"DCTpS (EPL){alpha}, {label} offset",
                            _dctps(offset, train))).key,
            register(Method(f"offset-only{suffix}@{offset}", f"{label} {floor}",
                            partial(dct_only, train_alpha=train, offset=offset),
                            density_free=True)).key)
    return keys


#: ``refnet study --offsets``: per offset and alpha setting, its DCTpS row's and floor's keys.
OFFSET_METHODS = {"dct": dict(ALPHA_METHODS)}
OFFSET_METHODS.update({offset: _offset_methods(offset) for offset in OFFSETS[1:]})

#: The methods of the talk's table, in its order, the DCT-only floor and Doping.
DEFAULT_METHODS = ("dense", "random-uniform", "random-epl", "snip", "force", "synflow", "imp",
                   "rigl-erk", "subspace", "subspace-projected", "doping", "dctps-epl",
                   "dctps-rigl", "dct-only")


def applicable(keys, model: str, model_args: dict) -> tuple[list[str], dict]:
    """Split method keys into those that can build ``model`` and ``{key: reason}`` for the rest."""
    ok, skipped = [], {}
    for key in keys:
        try:
            if METHODS[key].check is not None:
                METHODS[key].check(model, model_args)
            ok.append(key)
        except ValueError as err:
            skipped[key] = str(err)
    return ok, skipped
