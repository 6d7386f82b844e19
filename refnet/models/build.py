"""The one entry point: ``build_model(name, ...)``, and ``rebuild(spec, supports)``.

``build_model`` turns the global density into exact nnz per weight slot
(:func:`refnet.supports.allocate`), draws their positions and makes every slot
its layer; the ``spec`` records all of it but the positions, which ``rebuild``
takes back: the same network, bitwise.
"""
from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from .._checks import as_rng
from ..offsets import OFFSETS, RANDOM_OFFSETS
from ..networks import SPEC_FORMAT, SPEC_VERSION, Model, as_supports
from ..supports import DISTRIBUTIONS, allocate, check_density, sample_supports
from .blueprint import (KINDS, Blueprint, ConvWeight, LinearWeight, default_sparse_init,
                        lenet5, lenet5_cifar, lenet300, make_layer, mlp, resnet_small)

__all__ = ["MODELS", "build_model", "rebuild", "blueprint_of"]

#: Model name -> the function that returns its blueprint.
MODELS = {"mlp": mlp, "lenet300": lenet300, "lenet5": lenet5, "lenet5-cifar": lenet5_cifar,
          "resnet-small": resnet_small}


def blueprint_of(name: str, **model_args) -> Blueprint:
    """The blueprint of model ``name``; TypeError for an argument it does not take or needs."""
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
    fn = MODELS[name]
    params = inspect.signature(fn).parameters
    unknown = sorted(set(model_args) - set(params))
    if unknown:
        raise TypeError(f"model {name!r} takes no argument(s) {unknown}; its arguments are "
                        f"{sorted(params)}")
    missing = [p for p, v in params.items() if v.default is inspect.Parameter.empty
               and p not in model_args]
    if missing:
        raise TypeError(f"model {name!r} needs argument(s) {missing}")
    return fn(**model_args)


def _check_offset(kind, offset, offset_seed, owner):
    if not isinstance(offset, str) or offset not in OFFSETS:
        raise ValueError(f"{owner}: offset must be one of {', '.join(OFFSETS)}, got {offset!r}")
    if kind != "dctps" and (offset != "dct" or offset_seed is not None):
        raise ValueError(f"{owner}: offset and offset_seed apply to kind='dctps', not "
                         f"{kind!r}")
    if offset_seed is not None:
        if offset not in RANDOM_OFFSETS:
            raise ValueError(f"{owner}: the {offset!r} offset is not random, so offset_seed "
                             f"must be None, got {offset_seed!r}")
        if isinstance(offset_seed, bool) or not isinstance(offset_seed, numbers.Integral) \
                or offset_seed < 0:
            raise TypeError(f"{owner}: offset_seed must be a non-negative int (it is "
                            f"recorded in the model's spec), got {offset_seed!r}")


def build_model(name: str, *, kind: str = "dense", density: float = 1.0,
                distribution: str = "uniform", rng=None, sparse_init: str | None = None,
                train_alpha: bool = True, min_per_layer: int = 0, in_shape=None,
                offset: str = "dct", offset_seed: int | None = None,
                **model_args) -> Model:
    """Build reference model ``name`` (one of :data:`MODELS`, with ``**model_args``, such
    as ``sizes`` for "mlp") as a dense, sparse or DCTpS network.

    ``kind`` makes every prunable weight a Linear/Conv2d, a SparseLinear/SparseConv2d or
    a DCTpSLinear/DCTpSConv2d, with exactly ``round(density * total)`` trained entries
    of ``S`` (halves up) shared by :func:`refnet.supports.allocate` (``distribution``,
    ``min_per_layer``); ``rng`` draws the supports, ``model.init(rng)`` the parameters.
    ``sparse_init`` is the initialiser of ``S`` (default
    :func:`~refnet.models.blueprint.default_sparse_init`).  For DCTpS, ``train_alpha``
    trains or freezes ``alpha`` and ``offset`` is the fixed ``O`` of ``alpha * O + S``
    (:data:`refnet.offsets.OFFSETS`; "none" gives bitwise the ``kind="sparse"`` network); a
    random offset of slot ``i`` draws from ``default_rng(SeedSequence(offset_seed)
    .spawn(slots)[i])``, ``offset_seed`` by default ``int(rng.integers(2**63))`` drawn
    AFTER the supports so they do not depend on the offset.  ``in_shape`` is the
    per-example input shape (default the model's).  The Model's ``spec`` is JSON-able::

        {"format": "refnet-model", "version": 1,
         "name": str, "args": {...},            # the model's resolved arguments
         "kind": str, "density": float, "distribution": str or None,
         "min_per_layer": int, "sparse_init": str or None, "train_alpha": bool,
         "support": "dense" | "random",       # how the supports were chosen
         "layers": [{"name": str, "shape": [...], "nnz": int}, ...],
         "offset": str, "offset_seed": int or None}      # these two for DCTpS only

    (No "offset" means the DCT.)  Pruned and rewired networks record their
    method in "support" ("snip", "force", "rigl", ...).

    Examples
    --------
    >>> model = build_model("lenet5-cifar", kind="sparse", density=1e-2, distribution="erk",
    ...                     rng=0)
    >>> sum(layer["nnz"] for layer in model.spec["layers"])    # round(0.01 * 61510)
    615
    >>> params = model.init(0)
    """
    owner = "build_model"
    if kind not in KINDS:
        raise ValueError(f"{owner}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    density = check_density(density, owner)
    _check_offset(kind, offset, offset_seed, owner)
    if in_shape is not None:
        model_args["in_shape"] = in_shape
    blueprint = blueprint_of(name, **model_args)
    shapes = [(slot_name, slot.shape) for slot_name, slot in blueprint.slots()]
    if kind == "dense":
        if density != 1.0:
            raise ValueError(f"{owner}: a dense network trains every weight, so density must "
                             f"be 1, got {density!r}; use kind='sparse' or 'dctps'")
        if sparse_init is not None:
            raise ValueError(f"{owner}: sparse_init applies to kind='sparse' or 'dctps', "
                             f"not 'dense'")
        supports, nnz, distribution = None, [math.prod(s) for _, s in shapes], None
    else:
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"{owner}: unknown distribution {distribution!r}; expected one "
                             f"of {', '.join(DISTRIBUTIONS)}")
        if rng is None:
            raise TypeError(f"{owner}: a {kind} network needs rng= (a numpy.random.Generator "
                            f"or an int seed) to draw its supports")
        rng = as_rng(rng)
        allocation = allocate(shapes, density, distribution, min_per_layer=min_per_layer)
        supports = sample_supports(allocation, rng)
        nnz = [layer.nnz for layer in allocation.layers]
        sparse_init = default_sparse_init(kind, offset) if sparse_init is None else sparse_init
        if offset in RANDOM_OFFSETS and offset_seed is None:
            offset_seed = int(rng.integers(2**63))     # after the supports: they stay the same
    spec = {"format": SPEC_FORMAT, "version": SPEC_VERSION, "name": name,
            "args": blueprint.args, "kind": kind, "density": density,
            "distribution": distribution, "min_per_layer": int(min_per_layer),
            "sparse_init": sparse_init, "train_alpha": bool(train_alpha),
            "support": "dense" if kind == "dense" else "random",
            "layers": [{"name": n, "shape": list(s), "nnz": int(k)}
                       for (n, s), k in zip(shapes, nnz)]}
    if kind == "dctps":
        spec.update(offset=offset, offset_seed=None if offset_seed is None else int(offset_seed))
    return _assemble(spec, blueprint, supports)


def rebuild(spec: dict, supports=None) -> Model:
    """The network ``model.spec`` describes: the same parameters give bitwise the same outputs.

    ``supports`` (as :func:`refnet.networks.as_supports` reads them) are needed
    for every prunable layer of a sparse or DCTpS model, none for a dense one.
    """
    owner = "rebuild"
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
        raise ValueError(f"{owner}: spec is not a refnet model specification (expected "
                         f"spec['format'] == {SPEC_FORMAT!r})")
    if spec.get("version") != SPEC_VERSION:
        raise ValueError(f"{owner}: spec has version {spec.get('version')!r}, this refnet "
                         f"reads version {SPEC_VERSION}")
    missing = [k for k in ("name", "args", "kind", "layers", "sparse_init", "train_alpha")
               if k not in spec]
    if missing:
        raise ValueError(f"{owner}: spec lacks the entries {missing}")
    kind = spec["kind"]
    if kind not in KINDS:
        raise ValueError(f"{owner}: spec has kind {kind!r}, expected one of {', '.join(KINDS)}")
    _check_offset(kind, spec.get("offset", "dct"), spec.get("offset_seed"), owner)
    if kind == "dctps" and spec.get("offset", "dct") in RANDOM_OFFSETS \
            and spec.get("offset_seed") is None:
        raise ValueError(f"{owner}: spec has the random offset {spec['offset']!r} but no "
                         f"offset_seed to draw it from")
    blueprint = blueprint_of(spec["name"], **spec["args"])
    expected = {layer["name"]: layer for layer in spec["layers"]}
    slots = dict(blueprint.slots())
    if set(expected) != set(slots) or any(list(slots[n].shape) != list(expected[n]["shape"])
                                          for n in slots):
        raise ValueError(f"{owner}: spec lists layers {sorted(expected)} that do not match "
                         f"the blueprint of {spec['name']!r} ({sorted(slots)})")
    if kind == "dense":
        if supports:
            raise ValueError(f"{owner}: a dense model takes no supports, got "
                             f"{sorted(supports)}")
        return _assemble(spec, blueprint, None)
    if supports is None:
        raise ValueError(f"{owner}: a {kind} model needs supports for {sorted(slots)}")
    supports = as_supports(supports)
    if set(supports) != set(slots):
        raise ValueError(f"{owner}: supports are for {sorted(supports)}, the model's prunable "
                         f"layers are {sorted(slots)}")
    for path, (rows, cols) in supports.items():
        if np.shape(rows) != (expected[path]["nnz"],):
            raise ValueError(f"{owner}: support of {path!r} has {np.size(rows)} positions, "
                             f"spec says nnz = {expected[path]['nnz']}")
    return _assemble(spec, blueprint, supports)


def _assemble(spec: dict, blueprint: Blueprint, supports) -> Model:
    """The Model of a blueprint: every slot made as ``spec['kind']`` with its support."""
    kind, nodes, scales = spec["kind"], [], {}
    seed = spec.get("offset_seed")
    slot_seeds = iter([] if seed is None else map(
        np.random.default_rng, np.random.SeedSequence(seed).spawn(len(blueprint.slots()))))
    for name, item, inputs in blueprint.nodes:
        if isinstance(item, (LinearWeight, ConvWeight)):
            extra = dict(offset=spec.get("offset", "dct"),
                         offset_seed=next(slot_seeds, None)) if kind == "dctps" else {}
            item, scales[name] = make_layer(
                item, kind, support=None if supports is None else supports[name],
                sparse_init=spec["sparse_init"], train_alpha=spec["train_alpha"], **extra)
        nodes.append((name, item, inputs))
    return Model(nodes, spec=spec, input_shape=blueprint.in_shape,
                 init_scales={name: f for name, f in scales.items() if f != 1.0})
