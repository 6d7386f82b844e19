"""``Model``: a network that knows how it was built.

A :class:`Model` is a :class:`~refnet.Graph` (so it obeys the layer contract
and trains, checks and differentiates like any network) with two additions:

* ``spec``, a JSON-able dictionary saying how to build it again (model name
  and arguments, kind, density, distribution, nnz per layer, ...): stored in
  a checkpoint's metadata next to the supports, it lets
  :func:`refnet.models.rebuild` reconstruct exactly the same network;
* ``init_scales``, factors applied to freshly initialised weights, so that
  ``init`` itself honours a model's initialisation scheme (Fixup's rescaled
  branches in :mod:`refnet.models.resnet`).
"""
from __future__ import annotations

import copy
import json

from ..core.graph import Graph
from .._checks import as_rng

__all__ = ["Model", "SPEC_FORMAT", "SPEC_VERSION"]

#: ``spec["format"]`` and ``spec["version"]`` of every model specification.
SPEC_FORMAT = "refnet-model"
SPEC_VERSION = 1


class Model(Graph):
    """A reference network: a :class:`~refnet.Graph` plus its specification.

    Build one with :func:`refnet.models.build_model` (or rebuild one with
    :func:`refnet.models.rebuild`) rather than directly.

    Parameters
    ----------
    nodes : sequence of (name, layer, inputs)
        As for :class:`~refnet.Graph`; the graph input is ``"input"``, the last
        node the output.
    spec : dict
        The JSON-able specification (see :func:`refnet.models.build_model`).
    input_shape : tuple of int
        Per-example input shape (checked against every node at construction).
    init_scales : dict of str -> float, optional
        ``{node: factor}``: :meth:`init` multiplies that node's weight
        (``"W"``, or ``"S"`` for a sparse or DCTpS layer) by ``factor`` after
        the layer's own initialiser has drawn it.

    Attributes
    ----------
    spec : dict
        A copy of the specification (JSON-able; changing it changes nothing).
    name : str
        The model's name, ``spec["name"]``.
    kind : str
        ``"dense"``, ``"sparse"`` or ``"dctps"`` (or ``"doping"``, from
        :func:`refnet.models.build_doping`).
    init_scales : dict

    Notes
    -----
    Forward, VJP and JVP are the :class:`~refnet.Graph`'s.  Initialisation::

        params = Graph.init(rng)                       # every node's own init, in node order
        params[node][key] = factor * params[node][key] for node, factor in init_scales
                                                       # key = "W" (dense) or "S" (sparse, DCTpS)

    so the random stream is the same with or without scales.
    """

    def __init__(self, nodes, *, spec: dict, input_shape, init_scales: dict | None = None):
        super().__init__(nodes, input_shape=tuple(input_shape))
        if not isinstance(spec, dict):
            raise TypeError(f"Model: spec must be a dict, got {type(spec).__name__}")
        try:
            self._spec = json.loads(json.dumps(spec))   # a JSON round trip: JSON-able, a copy
        except (TypeError, ValueError) as err:
            raise TypeError(f"Model: spec must be JSON-able: {err}") from None
        self.init_scales = {}
        for node, factor in (init_scales or {}).items():
            layer = self[node]
            key = "S" if "S" in layer.param_shapes() else "W"
            if key not in layer.param_shapes():
                raise ValueError(f"Model: init_scales names node {node!r} "
                                 f"({type(layer).__name__}), which has no weight to scale")
            self.init_scales[node] = float(factor)

    @property
    def spec(self) -> dict:
        """A deep copy of the specification (JSON-able)."""
        return copy.deepcopy(self._spec)

    @property
    def name(self) -> str:
        """``spec["name"]``."""
        return self._spec.get("name", "")

    @property
    def kind(self) -> str:
        """``spec["kind"]``."""
        return self._spec.get("kind", "")

    def init(self, rng):
        """Fresh parameters: every node's initialiser, then :attr:`init_scales`."""
        rng = as_rng(rng)
        params = super().init(rng)
        for node, factor in self.init_scales.items():
            key = "S" if "S" in params[node] else "W"
            params[node] = dict(params[node], **{key: factor * params[node][key]})
        return params

    def __repr__(self):
        return (f"Model({self.name!r}, kind={self.kind!r}, density={self._spec.get('density')!r}"
                f")\n{self.summary()}")
