"""The one entry point: ``build_model(name, ...)``, and ``rebuild(spec, supports)``.

``build_model`` goes from a model name to a network in four steps:

1. the model function (:data:`MODELS`) gives a
   :class:`~refnet.models.blueprint.Blueprint`: nodes whose prunable layers
   are still slots of known shape;
2. for a sparse or DCTpS network, :func:`refnet.sparsity.allocate` turns the
   global density into exact nnz per slot with the chosen distribution;
3. :func:`refnet.sparsity.sample_supports` draws each slot's positions from
   ``rng`` (per row for ``"epf"``);
4. every slot becomes its layer (:meth:`LinearWeight.make`) and the nodes a
   :class:`~refnet.models.Model`, whose ``spec`` records all of the above
   except the positions themselves.

``rebuild(spec, supports)`` repeats steps 1 and 4 with the given positions: the
same spec and supports give the same network, and the same parameters then
give bitwise the same outputs.
"""
from __future__ import annotations

import inspect
import math
import numbers

import numpy as np

from ..core.graph import Node
from .._checks import as_rng
from ..ops.offsets import OFFSETS, RANDOM_OFFSETS
from ..sparsity.distributions import DISTRIBUTIONS, allocate, check_density
from ..sparsity.support import sample_supports
from .blueprint import KINDS, Blueprint, default_sparse_init, is_slot
from .lenet import lenet5, lenet5_cifar
from .mlp import lenet300, mlp
from .model import SPEC_FORMAT, SPEC_VERSION, Model
from .resnet import resnet_small
from .weights import as_supports

__all__ = ["MODELS", "build_model", "rebuild", "blueprint_of", "offset_seeds"]

#: Model name -> the function that returns its blueprint.
MODELS = {
    "mlp": mlp,
    "lenet300": lenet300,
    "lenet5": lenet5,
    "lenet5-cifar": lenet5_cifar,
    "resnet-small": resnet_small,
}

def blueprint_of(name: str, **model_args) -> Blueprint:
    """The blueprint of model ``name`` with the given arguments (validated).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones) or a bad
        argument value.
    TypeError
        For an argument the model does not take (the message lists those it
        does).
    """
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


def offset_seeds(offset_seed: int, count: int) -> list:
    """The generators the random offsets of a model's ``count`` slots are drawn from.

    Slot ``i`` (in node order) draws its offset from
    ``numpy.random.default_rng(SeedSequence(offset_seed).spawn(count)[i])``:
    independent streams, each a function of the recorded ``offset_seed`` and
    the slot's position alone.
    """
    return [np.random.default_rng(child)
            for child in np.random.SeedSequence(offset_seed).spawn(count)]


def _check_offset(kind, offset, offset_seed, owner):
    """Validate ``offset`` and ``offset_seed`` for a network of ``kind``."""
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
    """Build a reference model as a dense, sparse or DCTpS network.

    Parameters
    ----------
    name : str
        One of :data:`MODELS`: ``"mlp"`` (needs ``sizes=[...]``),
        ``"lenet300"``, ``"lenet5"``, ``"lenet5-cifar"``, ``"resnet-small"``.
    kind : {"dense", "sparse", "dctps"}, default "dense"
        Every prunable weight (every Linear/Conv2d weight matrix) becomes a
        dense layer, a :class:`~refnet.layers.SparseLinear` /
        :class:`~refnet.layers.SparseConv2d`, or a
        :class:`~refnet.layers.DCTpSLinear` /
        :class:`~refnet.layers.DCTpSConv2d` (``W = alpha * D + S``).
    density : float, default 1.0
        Global density in (0, 1] of the trainable weight entries (of ``S``
        for sparse and DCTpS; biases and alpha not counted).  Must be 1 for a
        dense network.  The total nnz is ``round(density * total)`` (halves
        up), exactly.
    distribution : str, default "uniform"
        How the nnz are shared between layers (:data:`refnet.sparsity.DISTRIBUTIONS`:
        uniform, epl, epf, erk, erk-clipped).  EPF supports are sampled per
        output filter, the others uniformly over each weight.
    rng : numpy.random.Generator or int
        Draws the supports; required for sparse and DCTpS.  Parameters are
        drawn later, by ``model.init(rng)``.
    sparse_init : {"kaiming-dense", "kaiming-sparse", "zeros"}, optional
        Initialiser of the values of ``S``; default "kaiming-dense" for
        sparse, "zeros" for DCTpS.  Not allowed for dense.
    train_alpha : bool, default True
        DCTpS only: whether ``alpha`` is trained (initial value 1, except
        where a model's initialisation says otherwise, see
        :mod:`refnet.models.resnet`) or frozen.
    min_per_layer : int, default 0
        Every layer gets at least this many nnz (:func:`refnet.sparsity.allocate`).
    offset : str, default "dct"
        DCTpS only: the fixed offset ``O`` of every layer's ``alpha * O + S``
        (:data:`refnet.ops.OFFSETS`: "dct", "randomized-dct", "orthogonal",
        "identity", "none").  With "none" there is no ``alpha`` and
        ``sparse_init`` defaults to "kaiming-dense": the network is a plain
        sparse one (bitwise the ``kind="sparse"`` network of the same
        arguments).
    offset_seed : int, optional
        DCTpS with a random offset ("randomized-dct", "orthogonal") only:
        slot ``i`` draws its offset from ``offset_seeds(offset_seed,
        slots)[i]`` (:func:`offset_seeds`).  By default it is drawn from
        ``rng`` AFTER the supports (``int(rng.integers(2**63))``), so the
        supports are those of every other offset with the same ``rng``.
        Recorded in the spec.
    in_shape : tuple of int, optional
        Per-example input shape; default the model's (``(784,)`` for
        lenet300, ``(1, 28, 28)`` for lenet5 and resnet-small, ``(3, 32, 32)``
        for lenet5-cifar, ``(sizes[0],)`` for mlp).
    **model_args
        The model's own arguments: ``sizes``, ``activation``, ``bias`` (mlp),
        ``classes`` (all but mlp), ``width``, ``blocks`` (resnet-small).

    Returns
    -------
    Model
        The network (a :class:`~refnet.Graph`; ``model.init(rng)`` gives its
        parameters) with ``model.spec``, a JSON-able dict::

            {"format": "refnet-model", "version": 1,
             "name": str, "args": {...},            # the model's resolved arguments
             "kind": str, "density": float, "distribution": str or None,
             "min_per_layer": int, "sparse_init": str or None, "train_alpha": bool,
             "support": "dense" | "random",       # how the supports were chosen
             "layers": [{"name": str, "shape": [...], "nnz": int}, ...],
             "offset": str, "offset_seed": int or None}      # these two for DCTpS only

        (A DCTpS spec without "offset", from before offsets existed, means
        the DCT.)  Networks made later record their method in ``"support"``:
        ``"snip"``, ``"iterative-snip"``, ``"force"``, ``"synflow"``
        (:func:`refnet.models.to_sparse` after pruning), ``"imp"``
        (iterative magnitude pruning) and ``"rigl"`` (after a RigL update).

    Raises
    ------
    ValueError
        For an unknown model, kind or distribution, a density outside (0, 1]
        (or not 1 for dense), a bad model argument, or a ``min_per_layer``
        the density cannot satisfy.
    TypeError
        For a missing ``rng`` (sparse and DCTpS), or an argument the model
        does not take.

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
    slots = blueprint.slots()
    if not slots:
        raise ValueError(f"{owner}: model {name!r} has no prunable layer")
    shapes = [(slot_name, slot.shape) for slot_name, slot in slots]
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
    """Reconstruct exactly the network a specification describes.

    Parameters
    ----------
    spec : dict
        ``model.spec`` of a model built by :func:`build_model` (or by pruning),
        for example from a checkpoint's metadata.
    supports : dict, optional
        ``{path: (rows, cols)}`` (:func:`refnet.models.supports_of`) or
        ``{path: {"rows": ..., "cols": ...}}``
        (:func:`refnet.models.support_arrays`, what checkpoints store), for
        every prunable layer of a sparse or DCTpS model; none for a dense one.

    Returns
    -------
    Model
        With the same structure, supports and ``spec``; the same parameters
        give bitwise the same outputs as the original.

    Raises
    ------
    ValueError
        If ``spec`` is not a model specification, or the supports do not fit
        it (missing or extra layers, positions out of range or repeated, an
        nnz other than the spec's).
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
    nodes, scales = [], {}
    offset, seed = spec.get("offset", "dct"), spec.get("offset_seed")
    slot_seeds = iter(offset_seeds(seed, len(blueprint.slots())) if seed is not None else ())
    for name, item, inputs in blueprint.nodes:
        if is_slot(item):
            extra = {}
            if spec["kind"] == "dctps":
                extra = dict(offset=offset, offset_seed=next(slot_seeds, None))
            layer, post = item.make(spec["kind"],
                                    support=None if supports is None else supports[name],
                                    sparse_init=spec["sparse_init"],
                                    train_alpha=spec["train_alpha"], **extra)
            if post != 1.0:
                scales[name] = post
            item = layer
        nodes.append(Node(name, item, inputs if isinstance(inputs, tuple) else (inputs,)))
    return Model(nodes, spec=spec, input_shape=blueprint.in_shape, init_scales=scales)
