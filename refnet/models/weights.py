"""The prunable weights of any network: which they are, their supports, the density.

A prunable weight is the weight matrix of a fully connected or convolution
layer, whatever its kind: ``W`` of :class:`~refnet.layers.Linear` and
:class:`~refnet.layers.Conv2d`, ``S`` of the sparse and DCTpS layers.  Biases
and ``alpha`` are never prunable, and density is counted over weight matrices
only (DESIGN.md)::

    density = sum_l nnz_l / sum_l size_l

where ``size_l`` is the number of entries of the dense weight and ``nnz_l``
the number of trainable ones: all of them for a dense layer, the support's
``nnz`` for a sparse or DCTpS layer (whose fixed DCT is not trainable), and
``m1 n1 + m2 n2 + nnz`` for a :class:`~refnet.layers.DopingLinear` (its
trained Kronecker factors count: that is Doping's price).

Layers are found by walking containers (:meth:`Layer.children`); a layer's
*path* is its node name, with ``/`` between the names of nested containers
(``"fc1"``, or ``"block/conv1"`` for a Graph inside a Graph), the same paths
as in the parameter tree; :func:`replace_layers` swaps the layers at given
paths (pruning, RigL, dense twins).

Every support is given in the coordinates of the layer's weight MATRIX, ``(out,
in)`` for a linear layer and ``(out, kh * kw * in)`` for a convolution, whose
column ``p`` is kernel entry ``(p // (kw * C), (p // C) % kw, p % C)`` (kernel
row, kernel column, channel; channel fastest: :mod:`refnet.ops.im2col`).
"""
from __future__ import annotations

import math

import numpy as np

from ..core.graph import Graph, Node, Sequential
from ..core.layer import Layer
from ..core.tree import tree_get, tree_replace
from ..layers import Conv2d, DopingLinear, Linear, SparseConv2d
from ..layers.sparse import SparseLinear
from .model import Model

__all__ = ["iter_layers", "replace_layers", "prunable_layers", "prunable_weights",
           "weight_shape", "supports_of", "density_of", "support_arrays", "as_supports", "get_path",
           "replace_path", "dense_matrix", "matrix_to_weight"]


def iter_layers(net: Layer, prefix: str = ""):
    """Yield ``(path, layer)`` for every non-container layer of ``net``, in node order."""
    if not isinstance(net, Layer):
        raise TypeError(f"expected a refnet Layer, got {type(net).__name__}")
    children = net.children()
    if not children:
        yield prefix, net
        return
    for name, child in children:
        yield from iter_layers(child, f"{prefix}/{name}" if prefix else name)


def replace_layers(net: Layer, replacements: dict, *, as_graph: bool = False) -> Layer:
    """The same network with the layers at the given paths replaced.

    Parameters
    ----------
    net : Layer
        A layer, or a container (:class:`~refnet.Graph`,
        :class:`~refnet.Sequential`, :class:`~refnet.models.Model`) of them.
    replacements : dict
        ``{path: new_layer}``; paths as in :func:`refnet.models.prunable_layers`
        (node names, ``/`` between nested containers).  Parameters are not
        touched: a replacement must take the parameters of the layer it
        replaces, or the caller supplies new ones.
    as_graph : bool, default False
        Rebuild a :class:`~refnet.models.Model` as a plain
        :class:`~refnet.Graph` (for a network that no longer is the model its
        ``spec`` describes, such as a dense twin).  Otherwise a Model stays a
        Model with the same ``spec`` and ``init_scales``.

    Returns
    -------
    Layer
        A new container of the same type (the original is unchanged; layers
        that are not replaced are shared, which is safe: layers hold only
        structure).

    Raises
    ------
    ValueError
        If a path names no layer of ``net``.
    TypeError
        For a container other than Graph, Sequential and Model.
    """
    known = {path for path, _ in _walk(net, "")}
    unknown = sorted(set(replacements) - known)
    if unknown:
        raise ValueError(f"replace_layers: no layer at path(s) {unknown}; the network's layers "
                         f"are {sorted(known)}")
    return _rebuild(net, dict(replacements), "", as_graph)


def _walk(net, prefix):
    yield prefix, net
    for name, child in net.children():
        yield from _walk(child, f"{prefix}/{name}" if prefix else name)


def _rebuild(net, replacements, prefix, as_graph):
    if prefix in replacements:
        return replacements[prefix]
    if not net.children():
        return net
    if not isinstance(net, Graph):
        raise TypeError(f"replace_layers: cannot rebuild container {type(net).__name__} at "
                        f"{prefix!r}; only Graph, Sequential and Model")
    nodes = [Node(node.name, _rebuild(node.layer, replacements,
                                      f"{prefix}/{node.name}" if prefix else node.name,
                                      as_graph), node.inputs)
             for node in net.nodes]
    if isinstance(net, Model) and not as_graph:
        return Model(nodes, spec=net.spec, input_shape=net.input_shape,
                     init_scales=net.init_scales)
    if type(net) is Sequential:
        return Sequential([(node.name, node.layer) for node in nodes],
                          input_shape=net.input_shape)
    return Graph(nodes, output=net.output, input_name=net.input_name,
                 input_shape=net.input_shape)


def _is_prunable(layer) -> bool:
    return isinstance(layer, (Linear, Conv2d, SparseLinear, SparseConv2d, DopingLinear))


def weight_shape(layer: Layer) -> tuple[int, ...]:
    """Shape of a layer's dense weight: ``(out, in)`` or ``(out, in, kh, kw)``.

    Raises
    ------
    TypeError
        If the layer has no prunable weight.
    """
    if isinstance(layer, Linear):
        return (layer.n_out, layer.n_in)
    if isinstance(layer, Conv2d):
        return (layer.out_channels, layer.in_channels) + tuple(layer.kernel_size)
    if isinstance(layer, SparseConv2d):
        return tuple(layer.weight_shape)
    if isinstance(layer, (SparseLinear, SparseConv2d, DopingLinear)):
        return (layer.n_out, layer.n_in)
    raise TypeError(f"{type(layer).__name__} has no prunable weight")


def prunable_layers(net: Layer) -> list[tuple[str, Layer]]:
    """``[(path, layer)]`` of the layers with a prunable weight, in node order."""
    return [(path, layer) for path, layer in iter_layers(net) if _is_prunable(layer)]


def dense_prunable_layers(net: Layer, owner: str, why: str) -> list[tuple[str, Layer]]:
    """:func:`prunable_layers` of a network that must be dense (pruning starts from one).

    Raises
    ------
    ValueError
        If ``net`` has no prunable layer, or one is not a dense Linear or Conv2d; the
        message starts with ``owner`` and ends with ``why``.
    """
    layers = prunable_layers(net)
    if not layers:
        raise ValueError(f"{owner}: {type(net).__name__} has no prunable layer (no Linear or "
                         "Conv2d)")
    for path, layer in layers:
        if not isinstance(layer, (Linear, Conv2d)):
            raise ValueError(f"{owner}: layer {path!r} is {type(layer).__name__}; {why}")
    return layers


def prunable_weights(net: Layer) -> list[tuple[str, tuple[int, ...]]]:
    """``[(path, shape)]`` of every prunable weight, in node order.

    The shapes are ``(out, in)`` or ``(out, in, kh, kw)`` whatever the kind,
    ready for :func:`refnet.sparsity.allocate`.

    Examples
    --------
    >>> from refnet.models import build_model
    >>> prunable_weights(build_model("mlp", sizes=[4, 3, 2]))
    [('fc1', (3, 4)), ('fc2', (2, 3))]
    """
    return [(path, weight_shape(layer)) for path, layer in prunable_layers(net)]


def supports_of(net: Layer) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{path: (rows, cols)}`` of every sparse and DCTpS layer (dense layers have none).

    Positions are int64 copies in CSR order, in the weight matrix's
    coordinates (see the module docstring).
    """
    return {path: (np.array(layer.rows, dtype=np.int64), np.array(layer.cols, dtype=np.int64))
            for path, layer in prunable_layers(net)
            if isinstance(layer, (SparseLinear, SparseConv2d))}


def density_of(net: Layer) -> float:
    """Global density: trainable weight entries over all weight entries.

    ``sum_l nnz_l / sum_l size_l`` over the prunable weights (see the module
    docstring): 1.0 for a dense network.

    Raises
    ------
    ValueError
        If ``net`` has no prunable weight.
    """
    layers = prunable_layers(net)
    if not layers:
        raise ValueError(f"density_of: {type(net).__name__} has no prunable layer (no Linear, "
                         "Conv2d, sparse or DCTpS layer)")
    size = sum(math.prod(weight_shape(layer)) for _, layer in layers)
    return sum(_trainable_entries(layer) for _, layer in layers) / size


def _trainable_entries(layer) -> int:
    """``nnz_l`` of the module docstring: the trained weight entries of a prunable layer."""
    if isinstance(layer, (SparseLinear, SparseConv2d)):
        return layer.nnz
    if isinstance(layer, DopingLinear):
        return layer.trainable_weights
    return math.prod(weight_shape(layer))


def support_arrays(supports: dict) -> dict:
    """``{path: {"rows": ..., "cols": ...}}``: supports in a form checkpoints can store.

    :func:`refnet.train.save_checkpoint` stores nested dicts of arrays (not
    tuples); :func:`refnet.models.rebuild` accepts either form.
    """
    return {path: {"rows": np.asarray(rows, dtype=np.int64),
                   "cols": np.asarray(cols, dtype=np.int64)}
            for path, (rows, cols) in as_supports(supports).items()}


def as_supports(supports) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{path: (rows, cols)}`` from that form or from :func:`support_arrays`'s."""
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


#: Kept under the names the sparsity modules use; they are :mod:`refnet.core.tree`'s.
get_path = tree_get
replace_path = tree_replace


def dense_matrix(layer: Layer, layer_params: dict) -> np.ndarray:
    """A dense layer's weight as its ``(out, in)`` or ``(out, kh * kw * in)`` matrix.

    Raises
    ------
    TypeError
        For anything but :class:`~refnet.layers.Linear` and
        :class:`~refnet.layers.Conv2d`.
    """
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
