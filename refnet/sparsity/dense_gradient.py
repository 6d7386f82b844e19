"""The DENSE gradient of a sparse network's loss: ``dL/dW`` at every position of ``W``.

A sparse or DCTpS layer's VJP gives the gradient on its support only; RigL
(:mod:`refnet.sparsity.rigl`) also needs it off the support, to choose where
to grow.  Since ``S`` enters ``W = alpha * D + S`` additively (``W = S`` for
a sparse layer), ``dL/dS = dL/dW`` at every position::

    dL/dW = y2_bar.T @ x2          # (m, n)

with ``x2`` the layer's input rows (examples, or im2col patches) and
``y2_bar`` their output cotangents: exactly a dense layer's weight cotangent.
So the *dense twin* replaces every sparse layer by a Linear / Conv2d holding
``W = alpha * D + S`` and the same bias; one forward and one VJP through it
give ``dL/dW`` with no new derivative, at the dense cost ``O(B m n)`` and
``m n`` memory per layer, paid by RigL only at its update steps.
"""
from __future__ import annotations

import numpy as np

from ..core.layer import Layer
from ..core.tree import tree_get, tree_replace
from ..layers import Conv2d, Linear, SparseConv2d
from ..losses import LOSSES
from ..networks import layer_at, replace_layers, sparse_layers
from ..train import value_and_grad

__all__ = ["dense_twin", "dense_weight_gradients"]


def _dense_layer(layer, layer_params: dict):
    """A dense Linear/Conv2d computing what sparse ``layer`` computes, and its params."""
    matrix = layer.dense_matrix(layer_params)                       # alpha * D + S, (m, n)
    if isinstance(layer, SparseConv2d):
        dense = Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                       layer.padding, bias=layer.bias)
        params = {"W": layer.matrix_to_kernel(matrix)}
    else:
        dense = Linear(layer.n_in, layer.n_out, bias=layer.bias)
        params = {"W": matrix}
    if layer.bias:
        params["b"] = layer_params["b"]
    return dense, params


def dense_twin(net: Layer, params: dict, paths=None):
    """``(twin, twin_params)``: ``net`` with its sparse layers (or those at ``paths``) dense.

    ``twin_params`` has ``{"W", "b"}`` at each replaced path and shares the rest.
    """
    layers = dict(sparse_layers(net))
    paths = list(layers) if paths is None else list(paths)
    bad = [p for p in paths if p not in layers]
    if bad:
        raise ValueError(f"dense_twin: {bad} are not sparse or DCTpS layers of the network; "
                         f"those are {sorted(layers)}")
    replacements, twin_params = {}, params
    for path in paths:
        dense, dense_params = _dense_layer(layers[path], tree_get(params, path))
        replacements[path] = dense
        twin_params = tree_replace(twin_params, path, dense_params)
    return replace_layers(net, replacements, as_graph=True), twin_params


def dense_weight_gradients(net: Layer, params: dict, x, labels, *,
                           loss: str = "cross-entropy", paths=None):
    """``(loss, {path: dL/dW})`` on one batch, ``dL/dW`` at EVERY position of the matrix.

    ``paths`` default to every sparse and DCTpS layer.  The loss is the dense
    twin's (the network's, up to rounding); on the support ``dL/dW`` equals the
    layer's own ``S`` cotangent.

    Examples
    --------
    >>> import numpy as np
    >>> from refnet.models import build_model
    >>> net = build_model("mlp", sizes=[4, 3, 2], kind="sparse", density=0.5, rng=0)
    >>> value, grads = dense_weight_gradients(net, net.init(0), np.ones((5, 4)),
    ...                                       np.zeros(5, dtype=int))
    >>> grads["fc1"].shape, grads["fc2"].shape
    ((3, 4), (2, 3))
    """
    if loss not in LOSSES:
        raise ValueError(f"dense_weight_gradients: loss must be one of {sorted(LOSSES)}, got "
                         f"{loss!r}")
    twin, twin_params = dense_twin(net, params, paths)
    value, grads, _ = value_and_grad(twin, twin_params, x, labels, loss)
    chosen = [p for p, _ in sparse_layers(net)] if paths is None else list(paths)
    out = {}
    for path in chosen:
        layer = layer_at(twin, path)
        w_bar = tree_get(grads, path)["W"]
        out[path] = layer.weight_matrix({"W": w_bar}) if isinstance(layer, Conv2d) \
            else np.asarray(w_bar)
    return float(value), out
