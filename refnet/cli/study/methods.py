"""The methods the study compares, each a recipe for one trained network.

A method turns ``(model name, density, seeds, data)`` into a network and its
starting parameters, and says how to train them.  Every method is trained by
the same loop (:func:`refnet.train.train`) with the same optimizer, epochs and
learning-rate grid; only how the trainable weights are chosen differs:

=====================  ====================================================================
key                    what is trained
=====================  ====================================================================
``dense``              every weight (the reference the table's deltas are taken against)
``random-uniform``     a random support, the same density in every layer (Kaiming init of
                       the dense layer, masked: the original's sparse baseline)
``random-epl``         a random support with equal nnz per layer
``snip``               SNIP's support, pruned once at initialisation with one batch
``force``              FORCE's support (10 rounds, 4 batches averaged per round)
``synflow``            SynFlow's support (data-free, 100 rounds)
``dctps-epl``          ``W = alpha * D + S``: DCT offset, S on an EPL random support, S = 0
``dct-only``           ``W = alpha * D``: only alpha and biases train (no S at all), the
                       floor that the sparse weights of DCTpS improve on
``dctps-epl-fixed-     DCTpS with ``alpha`` frozen at 1 (``--alpha fixed``), and its floor
alpha``, ``dct-only-   (only the biases train)
fixed-alpha``
``doping``             ``W = A kron B + S`` (Thakker et al. 2021): the Kronecker factors
                       AND the values of S, at the density's budget of trainable weights
                       (:mod:`refnet.models.doping`; fully connected models only)
``imp``                iterative magnitude pruning: dense training, 3 rounds of global
                       magnitude pruning with rewinding to the init (each round a third of
                       the epochs), then the final sparse run
``rigl-erk``           RigL (Evci et al. 2020) on ERK supports: drop the smallest, grow
                       the largest dense gradients every :func:`rigl_interval` steps
``dctps-rigl``         DCTpS (EPL) whose S moves by RigL (the DCT, alpha, biases untouched)
``subspace``           random-subspace training ``w = d + U theta`` (Li et al. 2018) with
                       as many trainable numbers as the sparse network (weights and biases)
``dctps-epl@OFFSET``,  DCTpS and its floor with another fixed offset in place of the DCT
``offset-only@OFFSET`` (``--offsets``; OFFSET one of randomized-dct, orthogonal, identity,
                       none: :mod:`refnet.ops.offsets`), also ``dctps-epl-fixed-alpha@OFFSET``
                       and ``offset-only-fixed-alpha@OFFSET`` (``--alpha fixed``)
=====================  ====================================================================

The rows ``imp`` to ``subspace`` come from :func:`refnet.sparsity.run_method`,
which owns their conventions (:mod:`refnet.sparsity.rigl`,
:mod:`~refnet.sparsity.imp`, :mod:`~refnet.sparsity.subspace`).

With another offset, everything but the offset is the DCTpS recipe: the
same EPL supports as ``dctps-epl`` for the same seed, ``S = 0``, ``alpha =
1``.  A random offset comes from a third stream of the seed
(:attr:`Context.offset_seed`), so at one seed every density's row and the
floor share the same offsets: they differ in ``S`` alone.  The offset
``none`` has no ``alpha``, and ``S = 0`` would leave nothing to train, so
its ``S`` starts as the sparse baselines' does (Kaiming, dense fan-in):
``dctps-epl@none`` is exactly ``random-epl`` (the same networks, bitwise),
and its floor ``offset-only@none`` trains the biases alone.

Doping's structured part is trained and stored, DCTpS's is not: its
Kronecker factors need at least ``2 sqrt(m n)`` weights per layer (1,385 for
lenet300), more than the whole budget below 0.52% density.  There the row
trains more weights than the others, and says so: the table prints each
density's factor sizes and trainable count under the table (:attr:`Method.notes`),
and ``nnz_density`` in the records is the density actually trained.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from refnet.models import build_doping, build_model, doping_plan, doping_weights, rebuild
from refnet.ops.offsets import OFFSETS, RANDOM_OFFSETS
from refnet.sparsity import draw_batches, force, snip, synflow
from refnet.cli.study.recipes import run_method

__all__ = ["Method", "METHODS", "DEFAULT_METHODS", "ALPHA_METHODS", "Context", "method_names",
           "register", "build_initial", "pruned", "dct_only", "doping", "doping_notes",
           "doping_check", "applicable", "OFFSET_METHODS", "OFFSET_LABELS"]


@dataclass(frozen=True)
class Method:
    """One row of the study table.

    Attributes
    ----------
    key : str
        Identifier (``--methods`` on the command line).
    label : str
        Row label in the table, in the talk's wording.
    prepare : callable
        ``prepare(ctx) -> (net, params)`` with ``ctx`` a :class:`Context`.
    density_free : bool
        The result does not depend on the density (dense, DCT only): trained
        once and shown in every density column.
    run : callable, optional
        Replaces prepare-then-train entirely: ``run(ctx, config) -> (net,
        params)`` trained (IMP trains several times, RigL changes the support
        while training, the random subspace trains a wrapper network).
    notes : callable, optional
        ``notes(model, model_args, density) -> str``: what the row trains at
        that density, printed under the table (Doping: factor sizes and
        trainable weights against the budget).
    check : callable, optional
        ``check(model, model_args)`` raises ValueError when the method cannot
        build that model (Doping and a convolution), so a study fails before
        it trains anything.
    """

    key: str
    label: str
    prepare: Callable | None = None
    density_free: bool = False
    run: Callable | None = None
    notes: Callable | None = None
    check: Callable | None = None


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
    #: seed of the random offsets (the same for every row of one study seed); None: drawn
    #: from the support generator after the supports
    offset_seed: int | None = None


def build_initial(ctx: Context, kind: str, distribution: str = "uniform", **kwargs):
    """A freshly built reference model of ``kind`` at ``ctx.density`` and its initial params."""
    if kind == "dense":
        model = build_model(ctx.model, kind="dense", **ctx.model_args, **kwargs)
    else:
        model = build_model(ctx.model, kind=kind, density=ctx.density,
                            distribution=distribution, rng=ctx.support_rng,
                            **ctx.model_args, **kwargs)
    return model, model.init(ctx.init_rng)


def _dense(ctx):
    return build_initial(ctx, "dense")


def _random(distribution):
    return lambda ctx: build_initial(ctx, "sparse", distribution)


def _dctps(distribution, offset: str = "dct", **kwargs):
    def prepare(ctx):
        extra = {} if offset == "dct" else {"offset": offset}
        if offset in RANDOM_OFFSETS:
            extra["offset_seed"] = ctx.offset_seed    # None: drawn after the supports
        return build_initial(ctx, "dctps", distribution, **kwargs, **extra)
    return prepare


def dct_only(ctx, *, train_alpha: bool = True, offset: str = "dct"):
    """A DCTpS model whose S has no entry at all: ``W = alpha * D`` (``alpha * O`` for
    another offset; a random one from ``ctx.offset_seed``, or when that is None from the
    support generator)."""
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


def doping(ctx):
    """Every fully connected weight ``A kron B + S`` at the density's budget
    (:func:`refnet.models.build_doping`): supports from the support rng."""
    net = build_doping(ctx.model, density=ctx.density, rng=ctx.support_rng, **ctx.model_args)
    return net, net.init(ctx.init_rng)


def doping_notes(model: str, model_args: dict, density: float) -> str:
    """The Doping plan of ``model`` at ``density``: factors, entries of S, trainable
    weights against the budget (:meth:`refnet.models.DopingPlan.describe`)."""
    return doping_plan(doping_weights(model, **model_args), density).describe()


def doping_check(model: str, model_args: dict) -> None:
    """Raise ValueError unless Doping can build ``model`` (fully connected layers only)."""
    doping_weights(model, **model_args)


def rigl_interval(total_steps: int) -> int:
    """RigL's update interval ``delta_T`` for a run of ``total_steps`` steps.

    The RigL paper updates every 100 steps of runs tens of thousands of steps
    long; the study's runs have a few hundred, where 100 would leave two or
    three updates.  ``max(10, total_steps // 40)`` gives about 30 updates
    before ``T_end = 0.75 * total_steps`` (21 in ``--quick``).
    """
    return max(10, total_steps // 40)


def _trained_by(method: str):
    """A study ``run`` through :func:`refnet.sparsity.run_method`."""
    def run(ctx: Context, config):
        options = {}
        if method in ("rigl", "dctps-rigl"):
            steps = config.epochs * -(-len(ctx.y_train) // config.batch_size)
            options["delta_t"] = rigl_interval(steps)
        if method == "imp":
            # pruning rounds train a third as long as the final run, so the whole of
            # IMP (3 rounds + the final run) costs twice one training, not four times
            options["prune_epochs"] = max(1, config.epochs // 3)
        result = run_method(method, ctx.model, ctx.density, ctx.seed,
                            (ctx.x_train, ctx.y_train), config, model_args=ctx.model_args,
                            options=options)
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
        Method("dense", "Dense", _dense, density_free=True),
        Method("random-uniform", "Random (Uniform)", _random("uniform")),
        Method("random-epl", "Random (EPL)", _random("epl")),
        Method("snip", "SNIP", pruned(snip)),
        Method("force", "FORCE", pruned(force, steps=10, num_batches=4)),
        Method("synflow", "SynFlow", pruned(synflow, iterations=100)),
        Method("dctps-epl", "DCTpS (EPL)", _dctps("epl")),
        Method("dct-only", "DCT only (no S)", dct_only, density_free=True),
        Method("doping", "Doping (A⊗B + S)", doping, notes=doping_notes, check=doping_check),
        Method("imp", "IMP", run=_trained_by("imp")),
        Method("rigl-erk", "RigL (ERK)", run=_trained_by("rigl")),
        Method("dctps-rigl", "DCTpS + RigL", run=_trained_by("dctps-rigl")),
        Method("subspace", "Random subspace", run=_trained_by("subspace")),
        # the talk's backup slide "What if we fixed alpha?": alpha frozen at 1
        Method("dctps-epl-fixed-alpha", "DCTpS (EPL), alpha fixed at 1",
               _dctps("epl", train_alpha=False)),
        Method("dct-only-fixed-alpha", "DCT only, alpha fixed at 1 (biases only)",
               lambda ctx: dct_only(ctx, train_alpha=False), density_free=True)):
    register(_method)

#: ``refnet study --alpha fixed``: the methods each alpha setting adds to the table.
ALPHA_METHODS = {"trainable": ("dctps-epl", "dct-only"),
                 "fixed": ("dctps-epl-fixed-alpha", "dct-only-fixed-alpha")}

#: How the table names each offset other than the DCT.
OFFSET_LABELS = {"randomized-dct": "randomized DCT", "orthogonal": "orthogonal",
                 "identity": "identity", "none": "no"}


def _offset_methods(offset: str) -> dict:
    """Register the DCTpS rows of ``offset`` for each alpha setting; return their keys."""
    label = OFFSET_LABELS[offset]
    if offset == "none":            # no alpha: both settings are the same two rows
        rows = (register(Method("dctps-epl@none",
                                "DCTpS (EPL), no offset (= Random (EPL))",
                                _dctps("epl", offset="none"))).key,
                register(Method("offset-only@none", "no offset, no S (biases only)",
                                lambda ctx: dct_only(ctx, offset="none"),
                                density_free=True)).key)
        return {"trainable": rows, "fixed": rows}
    keys = {}
    for setting, train in (("trainable", True), ("fixed", False)):
        suffix = "" if train else "-fixed-alpha"
        alpha = "" if train else ", alpha fixed at 1"
        floor = (f"{label} only (no S)" if train
                 else f"{label} only, alpha fixed at 1 (biases only)")
        keys[setting] = (
            register(Method(f"dctps-epl{suffix}@{offset}",
                            f"DCTpS (EPL){alpha}, {label} offset",
                            _dctps("epl", train_alpha=train, offset=offset))).key,
            register(Method(f"offset-only{suffix}@{offset}", floor,
                            lambda ctx, train=train: dct_only(ctx, train_alpha=train,
                                                              offset=offset),
                            density_free=True)).key)
    return keys


#: ``refnet study --offsets``: for each offset and alpha setting, the keys of its
#: DCTpS row and its "offset only" floor (the DCT's are the rows of :data:`ALPHA_METHODS`).
OFFSET_METHODS = {"dct": dict(ALPHA_METHODS)}
OFFSET_METHODS.update({offset: _offset_methods(offset) for offset in OFFSETS[1:]})

#: The methods of the talk's table, in its order, the DCT-only floor and Doping.
DEFAULT_METHODS = ("dense", "random-uniform", "random-epl", "snip", "force", "synflow", "imp",
                   "rigl-erk", "subspace", "doping", "dctps-epl", "dctps-rigl", "dct-only")


def applicable(keys, model: str, model_args: dict) -> tuple[list[str], dict]:
    """Split method keys into those that can build ``model`` and ``{key: reason}`` for the rest."""
    ok, skipped = [], {}
    for key in keys:
        check = METHODS[key].check
        try:
            if check is not None:
                check(model, model_args)
            ok.append(key)
        except ValueError as err:
            skipped[key] = str(err)
    return ok, skipped


def method_names(keys) -> list[str]:
    """Validate method keys; raise ValueError naming unknown ones and listing the known."""
    unknown = [k for k in keys if k not in METHODS]
    if unknown:
        raise ValueError(f"unknown study method(s) {unknown}; known: {', '.join(METHODS)}")
    return list(keys)
