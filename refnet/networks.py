"""A network's layers and weights: walk them, read them, replace them; the ``Model``.

Below both ``models`` and ``sparsity``, which share these (README, "Design").
A *path* is a node name, with ``/`` between nested containers (``"fc1"``,
``"block/conv1"``), as in the parameter tree.  A *prunable weight* is the
weight matrix of a fully connected or convolution layer of any kind (``W`` of
Linear/Conv2d, ``S`` of the sparse and DCTpS layers, DopingLinear's); biases
and ``alpha`` never are.  Supports and matrices are in the coordinates of the
weight MATRIX: ``(out, in)``, or ``(out, kh * kw * in)`` for a convolution
(columns ordered as :mod:`refnet.ops.im2col`).
"""
from __future__ import annotations

import copy
import json
import math

import numpy as np

from ._checks import as_rng
from .core.graph import Graph, Node, Sequential
from .core.layer import Layer
from .core.tree import tree_get, tree_map, tree_replace
from .doping import DopingLinear
from .layers import Conv2d, Linear, SparseConv2d, SparseLinear
from .ops.csr import CSRSupport
from .supports import check_density

__all__ = ["Model", "SPEC_FORMAT", "SPEC_VERSION", "is_sparse", "iter_layers", "layer_at",
           "replace_layers", "weight_shape", "prunable_layers", "dense_prunable_layers",
           "prunable_weights", "sparse_layers", "supports_of", "density_of", "support_arrays",
           "as_supports", "dense_matrix", "matrix_to_weight", "to_sparse"]

#: ``spec["format"]`` and ``spec["version"]`` of every model specification.
SPEC_FORMAT = "refnet-model"
SPEC_VERSION = 1


def is_sparse(layer) -> bool:
    """True for a layer whose weight is ``S`` on a fixed support (sparse or DCTpS)."""
    return isinstance(layer, (SparseLinear, SparseConv2d))   # DCTpS layers subclass these


class Model(Graph):
    """A :class:`~refnet.Graph` that knows how it was built (:func:`refnet.models.build_model`).

    ``spec`` (JSON-able, returned as a copy) with the supports is what
    :func:`refnet.models.rebuild` needs to make the same network.
    ``init_scales`` ``{node: factor}`` multiply that node's ``W`` (or ``S``)
    after its initialiser drew it (Fixup), so the random stream is the same
    with or without them.
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
            if not {"S", "W"} & set(self[node].param_shapes()):
                raise ValueError(f"Model: init_scales names node {node!r} "
                                 f"({type(self[node]).__name__}), which has no weight to scale")
            self.init_scales[node] = float(factor)

    @property
    def spec(self) -> dict:
        return copy.deepcopy(self._spec)

    @property
    def name(self) -> str:
        return self._spec.get("name", "")

    @property
    def kind(self) -> str:
        return self._spec.get("kind", "")

    def init(self, rng):
        """Every node's initialiser, then :attr:`init_scales`."""
        params = super().init(as_rng(rng))
        for node, factor in self.init_scales.items():
            key = "S" if "S" in params[node] else "W"
            params[node] = dict(params[node], **{key: factor * params[node][key]})
        return params

    def __repr__(self):
        return (f"Model({self.name!r}, kind={self.kind!r}, density={self._spec.get('density')!r}"
                f")\n{self.summary()}")


# -- walking and replacing ---------------------------------------------------------------

def _join(prefix, name):
    return f"{prefix}/{name}" if prefix else name


def iter_layers(net: Layer, prefix: str = ""):
    """Yield ``(path, layer)`` for every non-container layer of ``net``, in node order."""
    if not isinstance(net, Layer):
        raise TypeError(f"expected a refnet Layer, got {type(net).__name__}")
    children = net.children()
    if not children:
        yield prefix, net
    for name, child in children:
        yield from iter_layers(child, _join(prefix, name))


def layer_at(net: Layer, path: str) -> Layer:
    """The layer at ``path`` (``"a/b"`` through nested containers)."""
    for name in path.split("/"):
        net = net[name]
    return net


def replace_layers(net: Layer, replacements: dict, *, as_graph: bool = False,
                   spec: dict | None = None) -> Layer:
    """A new container with the layers at the paths of ``{path: new_layer}`` replaced.

    A Model stays a Model (with ``spec``, default its own) unless ``as_graph``
    (a network its spec no longer describes, such as a dense twin).  The
    other layers are shared (they hold only structure); parameters are untouched.
    """
    def walk(layer, prefix):
        yield prefix
        for name, child in layer.children():
            yield from walk(child, _join(prefix, name))

    known = set(walk(net, ""))
    unknown = sorted(set(replacements) - known)
    if unknown:
        raise ValueError(f"replace_layers: no layer at path(s) {unknown}; the network's layers "
                         f"are {sorted(known)}")
    return _rebuild(net, dict(replacements), "", as_graph, spec)


def _rebuild(net, replacements, prefix, as_graph, spec=None):
    if prefix in replacements:
        return replacements[prefix]
    if not net.children():
        return net
    if not isinstance(net, Graph):
        raise TypeError(f"replace_layers: cannot rebuild container {type(net).__name__} at "
                        f"{prefix!r}; only Graph, Sequential and Model")
    nodes = [Node(node.name, _rebuild(node.layer, replacements, _join(prefix, node.name),
                                      as_graph), node.inputs) for node in net.nodes]
    if isinstance(net, Model) and not as_graph:
        return Model(nodes, spec=net.spec if spec is None else spec,
                     input_shape=net.input_shape, init_scales=net.init_scales)
    if type(net) is Sequential:
        return Sequential([(node.name, node.layer) for node in nodes],
                          input_shape=net.input_shape)
    return Graph(nodes, output=net.output, input_name=net.input_name,
                 input_shape=net.input_shape)


# -- prunable weights ----------------------------------------------------------------------

def weight_shape(layer: Layer) -> tuple[int, ...]:
    """A prunable layer's weight shape, ``(out, in)`` or ``(out, in, kh, kw)``; else TypeError."""
    if isinstance(layer, Conv2d):
        return (layer.out_channels, layer.in_channels) + tuple(layer.kernel_size)
    if isinstance(layer, SparseConv2d):
        return tuple(layer.weight_shape)
    if isinstance(layer, (Linear, DopingLinear)) or is_sparse(layer):
        return (layer.n_out, layer.n_in)
    raise TypeError(f"{type(layer).__name__} has no prunable weight")


def prunable_layers(net: Layer) -> list[tuple[str, Layer]]:
    """``[(path, layer)]`` of the layers with a prunable weight, in node order."""
    return [(path, layer) for path, layer in iter_layers(net)
            if isinstance(layer, (Linear, Conv2d, DopingLinear)) or is_sparse(layer)]


def dense_prunable_layers(net: Layer, owner: str, why: str) -> list[tuple[str, Layer]]:
    """:func:`prunable_layers`, or a ValueError (``owner: ... why``) unless all are dense."""
    layers = prunable_layers(net)
    if not layers:
        raise ValueError(f"{owner}: {type(net).__name__} has no prunable layer (no Linear or "
                         "Conv2d)")
    for path, layer in layers:
        if not isinstance(layer, (Linear, Conv2d)):
            raise ValueError(f"{owner}: layer {path!r} is {type(layer).__name__}; {why}")
    return layers


def prunable_weights(net: Layer) -> list[tuple[str, tuple[int, ...]]]:
    """``[(path, shape)]`` of every prunable weight, ready for :func:`refnet.supports.allocate`.

    Examples
    --------
    >>> from refnet.models import build_model
    >>> prunable_weights(build_model("mlp", sizes=[4, 3, 2]))
    [('fc1', (3, 4)), ('fc2', (2, 3))]
    """
    return [(path, weight_shape(layer)) for path, layer in prunable_layers(net)]


def sparse_layers(net: Layer) -> list[tuple[str, Layer]]:
    """``[(path, layer)]`` of every sparse and DCTpS layer of ``net``, in node order."""
    return [(path, layer) for path, layer in iter_layers(net) if is_sparse(layer)]


def supports_of(net: Layer) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{path: (rows, cols)}``, int64 copies in CSR order, of every sparse and DCTpS layer."""
    return {path: (np.array(layer.rows, dtype=np.int64), np.array(layer.cols, dtype=np.int64))
            for path, layer in sparse_layers(net)}


def density_of(net: Layer) -> float:
    """Global density ``sum_l nnz_l / sum_l size_l`` over the prunable weights.

    ``nnz_l`` counts the trained entries: all of a dense layer's, the support's
    for a sparse or DCTpS layer (the fixed offset is not trained), ``m1 n1 + m2
    n2 + nnz`` for a DopingLinear (its Kronecker factors train).
    """
    layers = prunable_layers(net)
    if not layers:
        raise ValueError(f"density_of: {type(net).__name__} has no prunable layer (no Linear, "
                         "Conv2d, sparse or DCTpS layer)")
    size = sum(math.prod(weight_shape(layer)) for _, layer in layers)
    trained = sum(layer.nnz if is_sparse(layer) else layer.trainable_weights
                  if isinstance(layer, DopingLinear) else math.prod(weight_shape(layer))
                  for _, layer in layers)
    return trained / size


def support_arrays(supports: dict) -> dict:
    """``{path: {"rows": ..., "cols": ...}}``: supports as checkpoints store them."""
    return {path: {"rows": np.asarray(rows, dtype=np.int64),
                   "cols": np.asarray(cols, dtype=np.int64)}
            for path, (rows, cols) in as_supports(supports).items()}


def as_supports(supports) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{path: (rows, cols)}`` from that form or :func:`support_arrays`'s."""
    if not isinstance(supports, dict):
        raise TypeError(f"supports must be a dict {{path: (rows, cols)}}, "
                        f"got {type(supports).__name__}")
    out = {}
    for path, value in supports.items():
        if isinstance(value, dict) and set(value) == {"rows", "cols"}:
            value = (value["rows"], value["cols"])
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise TypeError(f"supports[{path!r}] must be (rows, cols) or "
                            f"{{'rows': ..., 'cols': ...}}, got {type(value).__name__}")
        out[path] = (np.asarray(value[0]), np.asarray(value[1]))
    return out


def dense_matrix(layer: Layer, layer_params: dict) -> np.ndarray:
    """A Linear's ``W`` or a Conv2d's ``(out, kh * kw * in)`` weight matrix."""
    if isinstance(layer, Linear):
        return np.asarray(layer_params["W"])
    if isinstance(layer, Conv2d):
        return layer.weight_matrix(layer_params)
    raise TypeError(f"{type(layer).__name__} is not a dense Linear or Conv2d layer")


def matrix_to_weight(layer: Layer, matrix: np.ndarray) -> np.ndarray:
    """The inverse of :func:`dense_matrix`: a matrix back to ``W``'s own shape."""
    matrix = np.asarray(matrix)
    if isinstance(layer, Linear):
        return matrix
    if isinstance(layer, Conv2d):
        kh, kw = layer.kernel_size
        return matrix.reshape(layer.out_channels, kh, kw, layer.in_channels).transpose(0, 3, 1, 2)
    raise TypeError(f"{type(layer).__name__} is not a dense Linear or Conv2d layer")


def to_sparse(net, params: dict, supports: dict, *, method: str = "random",
              density: float | None = None, sparse_init: str = "kaiming-dense"):
    """``(sparse_net, params)``: ``net``'s dense values on ``supports``; how pruning hands over.

    Every prunable layer (all must be dense Linear / Conv2d, and ``supports``
    names exactly them) becomes a SparseLinear / SparseConv2d holding the
    dense weight's entries on its support; biases and other nodes are kept, in
    new arrays.  A Model becomes a Model of kind "sparse" recording ``method``
    as ``spec["support"]`` and ``density`` (default the achieved one).  The
    new layers' ``init`` draws ``sparse_init`` (a Model's zero-initialised
    Fixup layers stay zero, as ``rebuild`` makes them).
    """
    if density is not None:
        density = check_density(density, "to_sparse")
    layers = dense_prunable_layers(net, "to_sparse",
                                   "only dense Linear and Conv2d layers can be made sparse")
    supports = as_supports(supports)
    paths = [path for path, _ in layers]
    if set(supports) != set(paths):
        raise ValueError(f"to_sparse: supports are for {sorted(supports)}, the prunable layers "
                         f"are {sorted(paths)}")
    replaced, new_params = {}, {}
    for path, layer in layers:
        layer_params = tree_get(params, path)
        matrix = dense_matrix(layer, layer_params)
        support = CSRSupport.from_positions(matrix.shape, *supports[path])
        init = "zeros" if isinstance(net, Model) and layer.init_name == "zeros" else sparse_init
        if isinstance(layer, Linear):
            sparse = SparseLinear(layer.n_in, layer.n_out, support=support, bias=layer.bias,
                                  init=init)
        else:
            if layer.stride[0] != layer.stride[1] or layer.padding[0] != layer.padding[1]:
                raise ValueError(f"to_sparse: layer {path!r} has stride {layer.stride} and "
                                 f"padding {layer.padding}; SparseConv2d takes equal ones")
            sparse = SparseConv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                  layer.stride[0], layer.padding[0], support=support,
                                  bias=layer.bias, init=init)
        replaced[path] = sparse
        new_params[path] = {"S": np.array(support.gather(matrix), dtype=np.float64)}
        if layer.bias:
            new_params[path]["b"] = np.array(layer_params["b"], dtype=np.float64)
    params = tree_map(lambda v: np.array(v, copy=True), params)
    for path, value in new_params.items():
        params = tree_replace(params, path, value)
    if not isinstance(net, Model):
        return replace_layers(net, replaced, as_graph=True), params
    spec = net.spec
    nnz = {p: layer.nnz for p, layer in replaced.items()}
    total = sum(math.prod(layer["shape"]) for layer in spec["layers"])
    spec.update(kind="sparse", sparse_init=sparse_init, support=method, distribution=None,
                density=float(density) if density is not None else sum(nnz.values()) / total,
                layers=[dict(layer, nnz=int(nnz[layer["name"]])) for layer in spec["layers"]])
    return replace_layers(net, replaced, spec=spec), params
