"""The DENSE gradient of a sparse network's loss: ``dL/dW`` at every position of ``W``.

A sparse or DCTpS layer trains only the ``nnz`` values of ``S``, so its VJP
gives the gradient on the support alone.  Dynamic sparse training (RigL,
:mod:`refnet.sparsity.rigl`) also needs the gradient at the positions that
are NOT in the support, to decide where to grow new weights.  That is the
gradient of the loss with respect to the whole weight matrix::

    W = alpha * D + S          (DCTpS; W = S for a sparse layer)
    dL/dW = sum_r y2_bar[r, :, None] * x2[r, None, :] = y2_bar.T @ x2      # (m, n)

with ``x2`` the layer's input rows (the examples of a linear layer, the
im2col patches of a convolution) and ``y2_bar`` the cotangent of its output
rows: exactly what a DENSE layer's VJP computes for its weight.  And since
the DCTpS paper's ``S`` enters ``W`` additively, ``dL/dS = dL/dW`` at every
position, on the support and off it.

So refnet gets it from its own layers, without a new derivative: the *dense
twin* of a network replaces every sparse or DCTpS layer by a
:class:`~refnet.layers.Linear` / :class:`~refnet.layers.Conv2d` with the
weight ``W = alpha * D + S`` (:meth:`SparseLinear.dense_matrix`) and the same
bias.  The twin computes the same function (up to rounding), so one forward
and one VJP through it give ``dL/dW`` of every replaced layer.  Cost: the
dense ``O(B m n)`` of a dense layer per layer, and ``m x n`` memory for each
weight and its gradient; RigL pays it only at its update steps.
"""
from __future__ import annotations

import numpy as np

from ..core.layer import Layer
from ..layers import Conv2d, Linear, SparseConv2d, SparseLinear
from ..losses import LOSSES
from ..models.weights import get_path, prunable_layers, replace_layers, replace_path
from ..train import value_and_grad

__all__ = ["replace_layers", "sparse_layers", "dense_twin", "dense_weight_gradients"]


def sparse_layers(net: Layer) -> list[tuple[str, SparseLinear | SparseConv2d]]:
    """``[(path, layer)]`` of every sparse and DCTpS layer of ``net``, in node order."""
    return [(path, layer) for path, layer in prunable_layers(net)
            if isinstance(layer, (SparseLinear, SparseConv2d))]


def _dense_layer(layer: SparseLinear | SparseConv2d, layer_params: dict):
    """A dense Linear/Conv2d computing what ``layer`` computes, and its parameters."""
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
    """The network with its sparse/DCTpS layers made dense, ``W = alpha * D + S``.

    Parameters
    ----------
    net : Layer
    params : dict
        Its parameters.
    paths : iterable of str, optional
        The sparse layers to replace; default all (:func:`sparse_layers`).

    Returns
    -------
    twin : Layer
        A :class:`~refnet.Graph` (or the container type of ``net``) computing
        the same function as ``net`` at ``params``.
    twin_params : dict
        Its parameters: ``{"W": ..., "b": ...}`` at each replaced path, the
        others shared with ``params``.

    Raises
    ------
    ValueError
        If a path is not a sparse or DCTpS layer of ``net``.
    """
    layers = dict(sparse_layers(net))
    paths = list(layers) if paths is None else list(paths)
    bad = [p for p in paths if p not in layers]
    if bad:
        raise ValueError(f"dense_twin: {bad} are not sparse or DCTpS layers of the network; "
                         f"those are {sorted(layers)}")
    replacements, twin_params = {}, params
    for path in paths:
        dense, dense_params = _dense_layer(layers[path], get_path(params, path))
        replacements[path] = dense
        twin_params = replace_path(twin_params, path, dense_params)
    return replace_layers(net, replacements, as_graph=True), twin_params


def dense_weight_gradients(net: Layer, params: dict, x, labels, *,
                           loss: str = "cross-entropy", paths=None):
    """The loss on one batch and ``dL/dW`` at EVERY position of each sparse layer's matrix.

    Parameters
    ----------
    net : Layer
        A network with sparse and/or DCTpS layers.
    params : dict
        Its parameters.
    x, labels : ndarray
        One batch.
    loss : {"cross-entropy", "mse"}, default "cross-entropy"
        A mean over the batch (:mod:`refnet.losses`).
    paths : iterable of str, optional
        The layers wanted; default every sparse and DCTpS layer.

    Returns
    -------
    value : float
        The loss (of the dense twin: the network's loss up to rounding).
    grads : dict
        ``{path: array (m, n)}``: ``y2_bar.T @ x2`` of the module docstring,
        in the coordinates of the weight MATRIX (``(out, kh * kw * in)`` for a
        convolution, :mod:`refnet.models.weights`).  On the support it equals
        the layer's own ``S`` cotangent.

    Examples
    --------
    >>> import numpy as np
    >>> from refnet.models import build_model
    >>> net = build_model("mlp", sizes=[4, 3, 2], kind="sparse", density=0.5, rng=0)
    >>> params = net.init(0)
    >>> x, y = np.ones((5, 4)), np.zeros(5, dtype=int)
    >>> value, grads = dense_weight_gradients(net, params, x, y)
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
        layer = _layer_at(twin, path)
        w_bar = get_path(grads, path)["W"]
        out[path] = layer.weight_matrix({"W": w_bar}) if isinstance(layer, Conv2d) \
            else np.asarray(w_bar)
    return float(value), out


def _layer_at(net: Layer, path: str) -> Layer:
    """The layer at ``path`` (``"a/b"`` through nested containers)."""
    for name in path.split("/"):
        net = net[name]
    return net
