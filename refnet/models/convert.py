"""Turning a dense network into a sparse one that keeps its values on given supports."""
from __future__ import annotations

import math

import numpy as np

from ..layers import Linear, SparseConv2d, SparseLinear
from ..ops.csr import CSRSupport
from ..sparsity.distributions import check_density
from .model import Model
from .weights import as_supports, dense_matrix, dense_prunable_layers, get_path, replace_layers

__all__ = ["to_sparse"]


def to_sparse(net, params: dict, supports: dict, *, method: str = "random",
              density: float | None = None, sparse_init: str = "kaiming-dense"):
    """The sparse network with ``net``'s dense values on ``supports``.

    Every dense :class:`~refnet.layers.Linear` / :class:`~refnet.layers.Conv2d`
    becomes a :class:`~refnet.layers.SparseLinear` /
    :class:`~refnet.layers.SparseConv2d` whose support is ``supports[path]``
    and whose values are the dense weight's entries there; biases are kept;
    every other node is unchanged.  This is how pruning at initialisation
    hands over its result.

    Parameters
    ----------
    net : Layer
        A network whose prunable layers are all dense (a :class:`Model`, or
        any :class:`~refnet.Graph` / :class:`~refnet.Sequential`).
    params : dict
        Its parameters.
    supports : dict
        ``{path: (rows, cols)}`` for EVERY prunable layer, in weight-matrix
        coordinates (:mod:`refnet.models.weights`).
    method : str, default "random"
        For a :class:`Model`: recorded as ``spec["support"]``.
    density : float, optional
        For a :class:`Model`: recorded as ``spec["density"]``; default the
        achieved density.
    sparse_init : str, default "kaiming-dense"
        For a :class:`Model`: recorded as ``spec["sparse_init"]`` (what
        ``init`` of the new network would draw).

    Returns
    -------
    net, params
        A :class:`Model` of kind ``"sparse"`` (spec updated) when ``net`` is a
        Model, else a container of the same type and structure
        (:func:`~refnet.models.weights.replace_layers`; a Model nested inside
        it becomes a plain Graph, since its spec no longer describes it); new
        parameters (nothing of the caller's is mutated or shared).

    Raises
    ------
    ValueError
        If a prunable layer is not dense, ``supports`` does not name exactly
        the prunable layers, or ``density`` is given outside (0, 1].
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
        layer_params = get_path(params, path)
        matrix = dense_matrix(layer, layer_params)
        support = CSRSupport.from_positions(matrix.shape, *supports[path])
        values = np.array(support.gather(matrix), dtype=np.float64)
        if isinstance(layer, Linear):
            sparse = SparseLinear(layer.n_in, layer.n_out, support=support, bias=layer.bias,
                                  init=sparse_init)
        else:
            if layer.stride[0] != layer.stride[1] or layer.padding[0] != layer.padding[1]:
                raise ValueError(f"to_sparse: layer {path!r} has stride {layer.stride} and "
                                 f"padding {layer.padding}; SparseConv2d takes equal ones")
            sparse = SparseConv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                  layer.stride[0], layer.padding[0], support=support,
                                  bias=layer.bias, init=sparse_init)
        replaced[path] = sparse
        new_params[path] = {"S": values}
        if layer.bias:
            new_params[path]["b"] = np.array(layer_params["b"], dtype=np.float64)
    if isinstance(net, Model):
        new_net = _sparse_model(net, replaced, method, density, sparse_init)
    else:
        new_net = replace_layers(net, replaced, as_graph=True)
    return new_net, _copy_params(params, new_params, "")


def _sparse_model(net, replaced, method, density, sparse_init):
    """A Model is rebuilt from its updated spec (so it keeps its init scales)."""
    from .build import rebuild
    spec = net.spec
    nnz = {p: layer.nnz for p, layer in replaced.items()}
    total = sum(math.prod(layer["shape"]) for layer in spec["layers"])
    spec.update(kind="sparse", sparse_init=sparse_init, support=method, distribution=None,
                density=float(density) if density is not None else sum(nnz.values()) / total,
                layers=[dict(layer, nnz=int(nnz[layer["name"]])) for layer in spec["layers"]])
    return rebuild(spec, {p: (layer.rows, layer.cols) for p, layer in replaced.items()})


def _copy_params(params, new_params, prefix):
    out = {}
    for key, value in params.items():
        path = f"{prefix}/{key}" if prefix else key
        if path in new_params:
            out[key] = new_params[path]
        elif isinstance(value, dict):
            out[key] = _copy_params(value, new_params, path)
        else:
            out[key] = np.array(value, copy=True)
    return out
