"""Exact Jacobians of any refnet layer or network, from batched VJP/JVP calls.

A cotangent may carry extra LEADING axes (the layer contract), so ONE ``vjp`` of a stack
of identity rows returns rows of every example's Jacobian at once (:func:`jacobian`'s
Notes); the same for parameters (:func:`parameter_jacobian`) and, matrix-free, for one
example (:func:`jacobian_operator`).
"""
from __future__ import annotations

import fnmatch
import math
from typing import NamedTuple, Sequence

import numpy as np
from scipy.sparse.linalg import LinearOperator, aslinearoperator

from ._checks import check_positive_int
from .core.graph import Graph
from .core.layer import Layer
from .core.tree import tree_get, tree_leaves

__all__ = ["jacobian", "parameter_jacobian", "ParameterJacobian", "linearize",
           "jacobian_operator", "dense_matrix", "CHUNKED_BYTES"]

#: From this size of ``J`` on, :func:`jacobian` makes four calls by default, not one.
CHUNKED_BYTES = 1 << 20


class Linearization(NamedTuple):
    """A layer linearised at one point: what the derivative calls need."""

    cache: object         #: the layer's cache from ``forward(params, x)``
    source_shape: tuple   #: full shape (B, ...) of the value differentiated against
    target_shape: tuple   #: full shape (B, ...) of the value differentiated
    kwargs: dict          #: ``{"source": ..., "target": ...}`` for a Graph, else {}


def linearize(layer: Layer, params, x, *, source: str | None = None,
              target: str | None = None) -> Linearization:
    """Run the forward pass of a single-input ``layer`` at ``x`` (B, *in_shape) once.

    ``source`` and ``target`` name two values of a :class:`~refnet.Graph` (default its
    input and output): the derivative of ``value[target]`` with respect to
    ``value[source]``, every value that does not depend on ``source`` held fixed.
    TypeError for a layer that is not a single-input Layer (or not a Graph when names are
    given), ValueError for an ``x`` without batch axis or a name not on a path.
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"layer must be a refnet Layer, got {type(layer).__name__}")
    if layer.n_inputs != 1:
        raise TypeError(f"layer must take one input, got {type(layer).__name__} which merges "
                        "several; wrap it in a Graph")
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"x has shape {x.shape}, expected (B, *in_shape) with a batch "
                         "axis B >= 1")
    if source is None and target is None:
        y, cache = layer.forward(params, x)
        return Linearization(cache, tuple(x.shape), tuple(np.shape(y)), {})
    if not isinstance(layer, Graph):
        raise TypeError(f"source/target name values of a Graph; {type(layer).__name__} "
                        "is not one")
    source, target, _ = layer._path(source, target)
    _, cache = layer.forward(params, x)
    return Linearization(cache, tuple(cache.shapes[source]), tuple(cache.shapes[target]),
                         {"source": source, "target": target})


def _chunk(chunk_size, rows: int, owner: str) -> int:
    return max(rows, 1) if chunk_size is None else check_positive_int("chunk_size", chunk_size,
                                                                      owner)


def jacobian(layer: Layer, params, x, *, mode: str = "auto", chunk_size: int | None = None,
             source: str | None = None, target: str | None = None) -> np.ndarray:
    """The exact Jacobian of every example, ``J[b, i, j] = d y[b].flat[i] / d x[b].flat[j]``.

    ``J`` has shape (B, m, n); ``layer``, ``params``, ``x``, ``source`` and ``target`` as in
    :func:`linearize` (for one input ``x0`` pass ``x0[None]``).  ``mode`` builds ``J`` from
    rows (``"vjp"``) or columns (``"jvp"``); ``"auto"`` takes the shorter, ``min(m, n)``.
    ``chunk_size`` bounds the identity rows (columns) per call; default all in one call, or
    a quarter of them when ``J`` takes :data:`CHUNKED_BYTES` or more.  ``J`` does not
    depend on it.

    Notes
    -----
    Examples are independent (no batch normalisation), so the batch's Jacobian
    is block diagonal with blocks ``J[b]``, and one row ``e_i`` repeated for every
    example returns row ``i`` of every block.  With ``y`` (B, m), ``x`` (B, n)::

        x_bar = vjp(params, cache, y_bar)   # y_bar[i, b, :] = e_i, (m, B, m) -> (m, B, n)
        J = x_bar.transpose(1, 0, 2)        # J[b, i, :] = e_i @ J[b]
        y_dot = jvp(params, cache, x_dot)   # x_dot[j, b, :] = e_j, (n, B, n) -> (n, B, m)
        J = y_dot.transpose(1, 2, 0)        # J[b, :, j] = J[b] @ e_j

    The identity is C-contiguous (numpy's matmul leaves BLAS for others, 70x slower).  In
    four chunks no temporary is over a quarter of ``J``, and glibc reuses the memory they
    free instead of mapping it again page by page (784-256x6-10 MLP, 100 inputs: 2,600
    minor page faults per call in one chunk, none in four, 1.4x faster).

    Examples
    --------
    >>> import numpy as np
    >>> from refnet import Sequential
    >>> from refnet.layers import Linear, Tanh
    >>> net = Sequential([("fc1", Linear(3, 4)), ("act", Tanh()), ("fc2", Linear(4, 2))])
    >>> params = net.init(np.random.default_rng(0))
    >>> jacobian(net, params, np.ones((5, 3))).shape
    (5, 2, 3)
    >>> jacobian(net, params, np.ones((5, 3)), source="act", target="fc2").shape
    (5, 2, 4)
    """
    if mode not in ("auto", "vjp", "jvp"):
        raise ValueError(f"jacobian: mode must be one of ['auto', 'vjp', 'jvp'], got {mode!r}")
    lin = linearize(layer, params, x, source=source, target=target)
    batch = lin.source_shape[0]
    n, m = math.prod(lin.source_shape[1:]), math.prod(lin.target_shape[1:])
    rows = mode == "vjp" or (mode == "auto" and n >= m)
    size, shape = (m, lin.target_shape) if rows else (n, lin.source_shape)
    J = np.empty((batch, m, n))
    if chunk_size is None and J.nbytes >= CHUNKED_BYTES:
        chunk_size = -(-size // 4)
    chunk = _chunk(chunk_size, size, "jacobian")
    for start in range(0, size, chunk):
        k = min(chunk, size - start)
        e = np.zeros((k, batch, size))
        e[np.arange(k), :, start + np.arange(k)] = 1.0        # e[j, b, start + j] = 1
        e = e.reshape((k,) + shape)
        # no name holds a chunk's result: it is freed before the next chunk starts
        if rows:
            J[:, start:start + k, :] = np.reshape(layer.vjp(
                params, lin.cache, e, need_params=False, **lin.kwargs)[0],
                (k, batch, n)).transpose(1, 0, 2)
        else:
            J[:, :, start:start + k] = np.reshape(layer.jvp(
                params, lin.cache, e, **lin.kwargs), (k, batch, m)).transpose(1, 2, 0)
    return J


class ParameterJacobian(NamedTuple):
    """``matrix[b, i, c] = d y[b].flat[i] / d theta[c]``, ``theta`` the raveled leaves
    ``paths`` concatenated in this order."""

    matrix: np.ndarray           #: shape (B, m, P)
    paths: tuple[str, ...]       #: the parameter paths (``"fc1/W"``) of the column blocks
    shapes: tuple[tuple, ...]    #: each leaf's shape

    def columns(self, path: str) -> slice:
        """The columns of parameter ``path``; KeyError if it is not one of :attr:`paths`."""
        if path not in self.paths:
            raise KeyError(f"{path!r} is not a column block; blocks are {list(self.paths)}")
        k = self.paths.index(path)
        start = sum(math.prod(s) for s in self.shapes[:k])
        return slice(start, start + math.prod(self.shapes[k]))


def parameter_jacobian(layer: Layer, params, x, *, paths: Sequence[str] | str | None = None,
                       chunk_size: int | None = None) -> ParameterJacobian:
    """The exact Jacobian of every example's output with respect to the parameters.

    ``layer``, ``params``, ``x`` as in :func:`linearize` (usually one example, ``x0[None]``);
    ``paths`` are ``fnmatch`` patterns (``*`` also matches ``/``) of the parameters to keep,
    such as ``("*/S", "*/alpha")``, the trainable support of DCTpS layers, each matching one
    at least (default every parameter); ``chunk_size`` bounds the ``B * m`` cotangent rows
    per call.  ``matrix`` is (B, m, P), ``P`` the size of the kept leaves in tree order.

    Notes
    -----
    ``params_bar`` is SUMMED over the batch, so row ``r = b * m + i`` needs a
    cotangent that is ``e_i`` at example ``b`` and zero elsewhere::

        y_bar[r, b', :] = e_i if b' == b else 0      # (B*m, B, m)
        _, params_bar = vjp(params, cache, y_bar)    # each leaf (B*m, *leaf_shape)
        matrix[b, i, :] = concat_k params_bar[k][r].ravel()

    The full VJP is computed and then cut: ``paths`` saves memory of the result only.

    Examples
    --------
    >>> import numpy as np
    >>> from refnet.layers import Linear
    >>> layer = Linear(3, 2)
    >>> parameter_jacobian(layer, layer.init(0), np.ones((1, 3)), paths="b").matrix[0]
    array([[1., 0.],
           [0., 1.]])
    """
    selected = [(p, np.shape(v)) for p, v in tree_leaves(params)]
    if paths is not None:
        patterns = (paths,) if isinstance(paths, str) else tuple(paths)
        if not patterns or not all(isinstance(p, str) for p in patterns):
            raise TypeError(f"paths must be a non-empty sequence of str patterns, got {paths!r}")
        for pattern in patterns:
            if not any(fnmatch.fnmatchcase(p, pattern) for p, _ in selected):
                raise ValueError(f"paths pattern {pattern!r} matches no parameter; parameters "
                                 f"are {[p for p, _ in selected]}")
        selected = [(p, s) for p, s in selected if any(fnmatch.fnmatchcase(p, pattern)
                                                       for pattern in patterns)]
    lin = linearize(layer, params, x)
    batch, m = lin.target_shape[0], math.prod(lin.target_shape[1:])
    rows, total = batch * m, sum(math.prod(s) for _, s in selected)
    chunk = _chunk(chunk_size, rows, "parameter_jacobian")
    out = np.empty((rows, total))
    for start in range(0, rows, chunk):
        k = min(chunk, rows - start)
        r = start + np.arange(k)
        y_bar = np.zeros((k, batch, m))
        y_bar[np.arange(k), r // m, r % m] = 1.0
        _, params_bar = layer.vjp(params, lin.cache, y_bar.reshape((k,) + lin.target_shape),
                                  need_params=True)
        out[start:start + k] = np.concatenate(
            [np.reshape(tree_get(params_bar, p), (k, -1)) for p, _ in selected], axis=1)
    return ParameterJacobian(out.reshape(batch, m, total), tuple(p for p, _ in selected),
                             tuple(tuple(s) for _, s in selected))


def jacobian_operator(layer: Layer, params, x, *, source: str | None = None,
                      target: str | None = None) -> LinearOperator:
    """The Jacobian ``J = d target / d source`` of ONE example ``x`` (shape (1, *in_shape)),
    matrix-free: a ``LinearOperator`` of shape (m, n); ``source``, ``target`` as in
    :func:`linearize`, whose forward pass runs here, once.

    With ``s``, ``t`` the per-example source and target shapes, each product is ONE call,
    a block's ``k`` columns on the leading axis::

        J @ u   = jvp(params, cache, u.reshape(1, *s)).ravel()                # matvec
        J.T @ v = vjp(params, cache, v.reshape(1, *t)).ravel()                # rmatvec
        J @ U   = jvp(params, cache, U.T.reshape(k, 1, *s)).reshape(k, m).T   # matmat
        J.T @ V = vjp(params, cache, V.T.reshape(k, 1, *t)).reshape(k, n).T   # rmatmat

    >>> import numpy as np
    >>> from refnet.layers import Linear
    >>> layer = Linear(3, 2)
    >>> params = layer.init(np.random.default_rng(0))
    >>> op = jacobian_operator(layer, params, np.ones((1, 3)))
    >>> op.shape, bool(np.allclose(op @ np.eye(3), params["W"]))
    ((2, 3), True)
    """
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[0] != 1:
        raise ValueError(f"jacobian_operator: x has shape {x.shape}, expected one example "
                         "with its batch axis, (1, *in_shape); pass x[i:i + 1]")
    lin = linearize(layer, params, x, source=source, target=target)
    m, n = math.prod(lin.target_shape[1:]), math.prod(lin.source_shape[1:])

    def jvp(u, k=()):           # k: the leading axis of a block's columns
        u = np.ascontiguousarray(u, dtype=np.float64).reshape(k + lin.source_shape)
        return np.asarray(layer.jvp(params, lin.cache, u, **lin.kwargs)).reshape(k + (m,))

    def vjp(v, k=()):
        v = np.ascontiguousarray(v, dtype=np.float64).reshape(k + lin.target_shape)
        x_bar = layer.vjp(params, lin.cache, v, need_params=False, **lin.kwargs)[0]
        return np.asarray(x_bar).reshape(k + (n,))

    return LinearOperator((m, n), matvec=jvp, rmatvec=vjp, dtype=np.float64,
                          matmat=lambda U: jvp(np.asarray(U).T, (U.shape[1],)).T,
                          rmatmat=lambda V: vjp(np.asarray(V).T, (V.shape[1],)).T)


def dense_matrix(op) -> np.ndarray:
    """Materialise a linear operator (m, n) with ONE block product ``min(m, n)`` wide."""
    op = aslinearoperator(op)
    m, n = op.shape
    if m <= n:
        return np.asarray(op.rmatmat(np.eye(m))).T.copy()
    return np.asarray(op.matmat(np.eye(n)))
