"""Exact Jacobians of any refnet layer or network, from batched VJP/JVP calls.

A cotangent may carry extra LEADING axes (the layer contract), so ONE ``vjp`` of
a stack of identity rows returns rows of every example's Jacobian at once, and one
``jvp`` of identity columns returns columns.  :func:`jacobian` gives the input
(or partial, between two Graph values) Jacobian, :func:`parameter_jacobian` the
one with respect to the parameters, :func:`jacobian_operator` one example's
Jacobian as a matrix-free ``scipy.sparse.linalg.LinearOperator`` (its extreme
singular values: :func:`refnet.spectra.extreme_singular_values`).
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
           "JacobianOperator", "jacobian_operator", "dense_matrix", "CHUNKED_BYTES"]

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
    """Run the forward pass once and record what the derivative calls need.

    ``layer`` is any single-input layer or container, ``x`` (B, *in_shape) the
    point.  ``source`` and ``target`` name two values of a :class:`~refnet.Graph`
    (``Sequential`` included; default its input and output): the derivative of
    ``value[target]`` with respect to ``value[source]``, every value that does
    not depend on ``source`` held fixed.  TypeError for a layer that is not a
    single-input Layer (or not a Graph when names are given), ValueError for an
    ``x`` without batch axis or an unknown name.
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
    source = layer.input_name if source is None else source
    target = layer.output if target is None else target
    layer._check_name("source", source)
    layer._check_name("target", target)
    _, cache = layer.forward(params, x)
    return Linearization(cache, tuple(cache.shapes[source]), tuple(cache.shapes[target]),
                         {"source": source, "target": target})


def _chunk(chunk_size, rows: int, owner: str) -> int:
    return max(rows, 1) if chunk_size is None else check_positive_int("chunk_size", chunk_size,
                                                                      owner)


def jacobian(layer: Layer, params, x, *, mode: str = "auto", chunk_size: int | None = None,
             source: str | None = None, target: str | None = None) -> np.ndarray:
    """The exact Jacobian of every example, ``J[b] = d y[b] / d x[b]``.

    Parameters
    ----------
    layer, params, x, source, target
        As in :func:`linearize`; for one input ``x0`` pass ``x0[None]``.
    mode : {"auto", "vjp", "jvp"}, default "auto"
        Build ``J`` from rows (reverse mode) or columns (forward mode);
        ``"auto"`` takes ``"jvp"`` when ``n < m``, so the leading axis is
        ``min(m, n)`` long.
    chunk_size : int, optional
        At most this many identity rows (columns) per call, to bound memory;
        default all in one call, or a quarter of them when ``J`` takes
        :data:`CHUNKED_BYTES` or more (see Notes).  The result does not depend
        on it.

    Returns
    -------
    J : ndarray, shape (B, m, n)
        ``J[b, i, j] = d y[b].flat[i] / d x[b].flat[j]``.

    Notes
    -----
    Examples are independent (no batch normalisation), so the batch's Jacobian
    is block diagonal with blocks ``J[b]``, and one row ``e_i`` repeated for every
    example returns row ``i`` of every block.  With ``y`` (B, m), ``x`` (B, n)::

        x_bar = vjp(params, cache, y_bar)   # y_bar[i, b, :] = e_i, (m, B, m) -> (m, B, n)
        J = x_bar.transpose(1, 0, 2)        # J[b, i, :] = e_i @ J[b]
        y_dot = jvp(params, cache, x_dot)   # x_dot[j, b, :] = e_j, (n, B, n) -> (n, B, m)
        J = y_dot.transpose(1, 2, 0)        # J[b, :, j] = J[b] @ e_j

    The identity is built C-contiguous: numpy's matmul leaves BLAS for
    non-contiguous operands, measured 70x slower.  A large ``J`` is built in
    four chunks: then no temporary is larger than a quarter of ``J``, and
    glibc keeps the memory they free for the next chunk and the next call
    instead of returning it to the kernel, which maps it again page by page
    (for the 784-256x6-10 MLP at 100 inputs, 2,600 minor page faults per
    call in one chunk, none in four, and 1.4x faster).

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
        start = 0
        for p, shape in zip(self.paths, self.shapes):
            if p == path:
                return slice(start, start + math.prod(shape))
            start += math.prod(shape)
        raise KeyError(f"{path!r} is not a column block; blocks are {list(self.paths)}")


def _select_paths(params, patterns) -> list[tuple[str, tuple]]:
    leaves = [(p, np.shape(v)) for p, v in tree_leaves(params)]
    if patterns is None:
        return leaves
    patterns = (patterns,) if isinstance(patterns, str) else tuple(patterns)
    if not patterns or not all(isinstance(p, str) for p in patterns):
        raise TypeError(f"paths must be a non-empty sequence of str patterns, got {patterns!r}")
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(p, pattern) for p, _ in leaves):
            raise ValueError(f"paths pattern {pattern!r} matches no parameter; parameters "
                             f"are {[p for p, _ in leaves]}")
    return [(p, s) for p, s in leaves if any(fnmatch.fnmatchcase(p, pat) for pat in patterns)]


def parameter_jacobian(layer: Layer, params, x, *, paths: Sequence[str] | str | None = None,
                       chunk_size: int | None = None) -> ParameterJacobian:
    """The exact Jacobian of every example's output with respect to the parameters.

    Parameters
    ----------
    layer, params, x
        As in :func:`linearize`; usually one example, ``x0[None]``.
    paths : str or sequence of str, optional
        ``fnmatch`` patterns (``*`` also matches ``/``) of the parameters to keep,
        such as ``("*/S", "*/alpha")``, the trainable support of DCTpS layers;
        each must match one.  Default every parameter.
    chunk_size : int, optional
        At most this many of the ``B * m`` cotangent rows per call.

    Returns
    -------
    ParameterJacobian
        ``matrix`` (B, m, P), ``P`` the total size of the kept leaves in tree order.

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
    >>> pj = parameter_jacobian(layer, layer.init(0), np.ones((1, 3)), paths="b")
    >>> pj.matrix[0]
    array([[1., 0.],
           [0., 1.]])
    """
    selected = _select_paths(params, paths)
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


class JacobianOperator(LinearOperator):
    """The Jacobian ``J = d target / d source`` of ONE example, matrix-free, shape (m, n).

    Build it with :func:`jacobian_operator`.  With ``s``, ``t`` the per-example
    source and target shapes and a batch of one::

        J @ u   = jvp(params, cache, u.reshape(1, *s)).ravel()                # matvec
        J.T @ v = vjp(params, cache, v.reshape(1, *t)).ravel()                # rmatvec
        J @ U   = jvp(params, cache, U.T.reshape(k, 1, *s)).reshape(k, m).T   # matmat
        J.T @ V = vjp(params, cache, V.T.reshape(k, 1, *t)).reshape(k, n).T   # rmatmat

    so each block product is ONE call, its ``k`` columns on the leading axis.
    """

    def __init__(self, layer: Layer, params, x, *, source=None, target=None):
        x = np.asarray(x)
        if x.ndim < 1 or x.shape[0] != 1:
            raise ValueError(f"jacobian_operator: x has shape {x.shape}, expected one example "
                             "with its batch axis, (1, *in_shape); pass x[i:i + 1]")
        self.layer, self.params = layer, params
        self._lin = linearize(layer, params, x, source=source, target=target)
        self.source_shape, self.target_shape = self._lin.source_shape, self._lin.target_shape
        super().__init__(dtype=np.dtype(np.float64), shape=(
            math.prod(self.target_shape[1:]), math.prod(self.source_shape[1:])))

    def _jvp(self, x_dot, lead=()):
        x_dot = np.ascontiguousarray(x_dot, dtype=np.float64).reshape(lead + self.source_shape)
        return np.asarray(self.layer.jvp(self.params, self._lin.cache, x_dot, **self._lin.kwargs))

    def _vjp(self, y_bar, lead=()):
        y_bar = np.ascontiguousarray(y_bar, dtype=np.float64).reshape(lead + self.target_shape)
        x_bar, _ = self.layer.vjp(self.params, self._lin.cache, y_bar, need_params=False,
                                  **self._lin.kwargs)
        return np.asarray(x_bar)

    def _matvec(self, u):
        return self._jvp(u).ravel()

    def _rmatvec(self, v):
        return self._vjp(v).ravel()

    def _matmat(self, U):
        return self._jvp(np.asarray(U).T, (U.shape[1],)).reshape(U.shape[1], -1).T

    def _rmatmat(self, V):
        return self._vjp(np.asarray(V).T, (V.shape[1],)).reshape(V.shape[1], -1).T


def jacobian_operator(layer: Layer, params, x, *, source: str | None = None,
                      target: str | None = None) -> JacobianOperator:
    """The Jacobian of ONE example ``x`` (shape (1, *in_shape)) as a ``LinearOperator``.

    matvec is the JVP, rmatvec the VJP (:class:`JacobianOperator`); ``source``
    and ``target`` as in :func:`linearize`.  The forward pass runs once, here.

    Examples
    --------
    >>> import numpy as np
    >>> from refnet.layers import Linear
    >>> layer = Linear(3, 2)
    >>> params = layer.init(np.random.default_rng(0))
    >>> op = jacobian_operator(layer, params, np.ones((1, 3)))
    >>> op.shape, bool(np.allclose(op @ np.eye(3), params["W"]))
    ((2, 3), True)
    """
    return JacobianOperator(layer, params, x, source=source, target=target)


def dense_matrix(op) -> np.ndarray:
    """Materialise a linear operator (m, n) with ONE block product ``min(m, n)`` wide."""
    op = aslinearoperator(op)
    m, n = op.shape
    if m <= n:
        return np.asarray(op.rmatmat(np.eye(m))).T.copy()
    return np.asarray(op.matmat(np.eye(n)))
