"""Exact Jacobians of any refnet layer or network, from batched VJP/JVP calls.

The layer contract lets a cotangent carry extra LEADING axes: ``vjp`` of a
``y_bar`` of shape ``(k, B, *out_shape)`` returns ``x_bar`` of shape ``(k, B,
*in_shape)`` in one call.  With ``y_bar`` a stack of rows of the identity, that
call returns rows of the Jacobian of every example at once, so the whole
Jacobian costs one backward pass with a ``k``-times wider batch instead of
``k`` backward passes.  Forward mode (``jvp``) does the same for columns.

Two functions:

:func:`jacobian`
    ``d y_b / d x_b`` for every example ``b``, shape ``(B, m, n)``; also the
    partial Jacobian between two named values of a :class:`~refnet.Graph`
    (for example the square hidden-to-hidden map of an MLP).
:func:`parameter_jacobian`
    ``d y_b / d params``, shape ``(B, m, P)``, over all parameters or the
    subset named by path patterns (such as ``"*/S"`` and ``"*/alpha"``, the
    trainable support of DCTpS layers).

Both accept ``chunk_size`` to bound memory: the identity is split into chunks
of at most ``chunk_size`` rows along the leading axis, one call per chunk.
"""
from __future__ import annotations

import fnmatch
import math
from typing import NamedTuple, Sequence

import numpy as np

from ..core.graph import Graph
from .._checks import check_positive_int
from ..core.layer import Layer
from ..core.tree import tree_get, tree_leaves

__all__ = ["jacobian", "parameter_jacobian", "ParameterJacobian", "linearize"]

_MODES = ("auto", "vjp", "jvp")


class Linearization(NamedTuple):
    """A layer linearised at one point: what the Jacobian calls need."""

    cache: object         #: the layer's cache from ``forward(params, x)``
    source_shape: tuple   #: full shape (B, ...) of the value differentiated against
    target_shape: tuple   #: full shape (B, ...) of the value differentiated
    kwargs: dict          #: ``{"source": ..., "target": ...}`` for a Graph, else {}


def linearize(layer: Layer, params, x, *, source: str | None = None,
              target: str | None = None) -> Linearization:
    """Run the forward pass once and record what the derivative calls need.

    Parameters
    ----------
    layer : Layer
        Any single-input refnet layer or container.
    params : dict
        The layer's parameters.
    x : ndarray, shape (B, *in_shape)
        The point of linearisation (batch axis first).
    source, target : str, optional
        Names of two values of a :class:`~refnet.Graph` (``Sequential``
        included): differentiate ``value[target]`` with respect to
        ``value[source]``.  Default the graph's input and output.

    Returns
    -------
    Linearization

    Raises
    ------
    TypeError
        If ``layer`` is not a single-input refnet layer, or if ``source`` or
        ``target`` is given for a layer that is not a Graph.
    ValueError
        If ``x`` has no batch axis, or a name is unknown or ``target`` does not
        depend on ``source``.
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
    kwargs = {}
    if source is not None or target is not None:
        if not isinstance(layer, Graph):
            raise TypeError(f"source/target name values of a Graph; {type(layer).__name__} "
                            "is not one")
        source = layer.input_name if source is None else source
        target = layer.output if target is None else target
        layer._check_name("source", source)
        layer._check_name("target", target)
        kwargs = {"source": source, "target": target}
    y, cache = layer.forward(params, x)
    if kwargs:
        return Linearization(cache, tuple(cache.shapes[source]), tuple(cache.shapes[target]),
                             kwargs)
    return Linearization(cache, tuple(x.shape), tuple(np.shape(y)), kwargs)


def _check_chunk(chunk_size, rows: int, owner: str) -> int:
    if chunk_size is None:
        return max(rows, 1)
    return check_positive_int("chunk_size", chunk_size, owner)


def _identity_rows(start: int, k: int, batch: int, size: int) -> np.ndarray:
    """Rows ``start .. start + k - 1`` of the identity, repeated for every example.

    Shape (k, batch, size), C-contiguous: ``e[j, b, start + j] = 1``.
    """
    e = np.zeros((k, batch, size))
    e[np.arange(k), :, start + np.arange(k)] = 1.0
    return e


def jacobian(layer: Layer, params, x, *, mode: str = "auto", chunk_size: int | None = None,
             source: str | None = None, target: str | None = None) -> np.ndarray:
    """The exact Jacobian of every example, ``J[b] = d y[b] / d x[b]``.

    Parameters
    ----------
    layer : Layer
        Any single-input refnet layer or container (a whole network).
    params : dict
        Its parameters.
    x : ndarray, shape (B, *in_shape)
        The inputs (batch axis first).  For one input ``x0`` pass
        ``x0[None]`` and take ``[0]`` of the result.
    mode : {"auto", "vjp", "jvp"}, default "auto"
        ``"vjp"`` builds the Jacobian from rows (reverse mode, one leading
        axis entry per output), ``"jvp"`` from columns (forward mode, one per
        input).  ``"auto"`` picks ``"jvp"`` when ``n < m`` and ``"vjp"``
        otherwise: the leading axis is then ``min(m, n)`` long.
    chunk_size : int, optional
        At most this many identity rows (columns) per call; default all in one
        call.  Memory of one call is about ``chunk_size * B`` times that of a
        single backward (forward) pass.  The result does not depend on it.
    source, target : str, optional
        For a :class:`~refnet.Graph` (``Sequential`` included): the partial
        Jacobian of ``value[target]`` with respect to ``value[source]`` at the
        point ``x``, every value that does not depend on ``source`` held fixed.
        Default the graph's input and output.

    Returns
    -------
    J : ndarray, shape (B, m, n)
        ``n`` and ``m`` are the per-example sizes of the source and target
        values, flattened in C order: ``J[b, i, j] = d y[b].flat[i] / d
        x[b].flat[j]``.

    Raises
    ------
    ValueError
        For an unknown ``mode``, a non-positive ``chunk_size``, or a bad
        ``x`` / ``source`` / ``target`` (see :func:`linearize`).

    Notes
    -----
    Every refnet layer treats examples independently (there is no batch
    normalisation), so the Jacobian of the whole batch is block diagonal with
    blocks ``J[b]``.  One cotangent row ``e_i`` repeated for every example
    therefore returns row ``i`` of every block at once.  With ``y`` of shape
    (B, m) and ``x`` of shape (B, n) (per-example shapes flattened)::

        y_bar[i, b, :] = e_i                         # (m, B, m), the identity per example
        x_bar = vjp(params, cache, y_bar)            # (m, B, n)
        J = x_bar.transpose(1, 0, 2)                 # (B, m, n): J[b, i, :] = e_i @ J[b]

    and in forward mode::

        x_dot[j, b, :] = e_j                         # (n, B, n)
        y_dot = jvp(params, cache, x_dot)            # (n, B, m)
        J = y_dot.transpose(1, 2, 0)                 # (B, m, n): J[b, :, j] = J[b] @ e_j

    With ``chunk_size = k`` the same happens for rows ``[s, s + k)`` at a time.
    The identity is built C-contiguous: numpy's matmul leaves BLAS for
    non-contiguous operands, which was measured 70x slower (DESIGN.md).

    Examples
    --------
    >>> import numpy as np
    >>> from refnet import Sequential
    >>> from refnet.layers import Linear, Tanh
    >>> net = Sequential([("fc1", Linear(3, 4)), ("act", Tanh()), ("fc2", Linear(4, 2))])
    >>> params = net.init(np.random.default_rng(0))
    >>> J = jacobian(net, params, np.ones((5, 3)))
    >>> J.shape
    (5, 2, 3)
    >>> jacobian(net, params, np.ones((5, 3)), source="act", target="fc2").shape
    (5, 2, 4)
    """
    if mode not in _MODES:
        raise ValueError(f"jacobian: mode must be one of {list(_MODES)}, got {mode!r}")
    lin = linearize(layer, params, x, source=source, target=target)
    batch = lin.source_shape[0]
    n = math.prod(lin.source_shape[1:])
    m = math.prod(lin.target_shape[1:])
    if mode == "auto":
        mode = "jvp" if n < m else "vjp"
    if mode == "vjp":
        chunk = _check_chunk(chunk_size, m, "jacobian")
        out = None
        for start in range(0, m, chunk):
            k = min(chunk, m - start)
            y_bar = _identity_rows(start, k, batch, m).reshape((k,) + lin.target_shape)
            x_bar, _ = layer.vjp(params, lin.cache, y_bar, need_params=False, **lin.kwargs)
            x_bar = np.asarray(x_bar).reshape(k, batch, n)
            if out is None:
                out = np.empty((batch, m, n), dtype=x_bar.dtype)
            out[:, start:start + k, :] = x_bar.transpose(1, 0, 2)
        return out
    chunk = _check_chunk(chunk_size, n, "jacobian")
    out = None
    for start in range(0, n, chunk):
        k = min(chunk, n - start)
        x_dot = _identity_rows(start, k, batch, n).reshape((k,) + lin.source_shape)
        y_dot = np.asarray(layer.jvp(params, lin.cache, x_dot, **lin.kwargs)).reshape(k, batch, m)
        if out is None:
            out = np.empty((batch, m, n), dtype=y_dot.dtype)
        out[:, :, start:start + k] = y_dot.transpose(1, 2, 0)
    return out


class ParameterJacobian(NamedTuple):
    """The parameter Jacobian and the meaning of its columns.

    ``matrix[b, i, c]`` is ``d y[b].flat[i] / d theta[c]``, where ``theta`` is
    the concatenation, in this order, of the raveled leaves ``paths``.
    """

    matrix: np.ndarray           #: shape (B, m, P)
    paths: tuple[str, ...]       #: the parameter paths (``"fc1/W"``) of the column blocks
    shapes: tuple[tuple, ...]    #: each leaf's shape

    def columns(self, path: str) -> slice:
        """The slice of columns that belongs to parameter ``path``.

        Raises
        ------
        KeyError
            If ``path`` is not one of :attr:`paths`.
        """
        start = 0
        for p, shape in zip(self.paths, self.shapes):
            size = math.prod(shape)
            if p == path:
                return slice(start, start + size)
            start += size
        raise KeyError(f"{path!r} is not a column block; blocks are {list(self.paths)}")


def _select_paths(params, patterns) -> list[tuple[str, tuple]]:
    leaves = [(p, np.shape(v)) for p, v in tree_leaves(params)]
    if patterns is None:
        return leaves
    if isinstance(patterns, str):
        patterns = (patterns,)
    patterns = tuple(patterns)
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
    layer : Layer
        Any single-input refnet layer or container.
    params : dict
        Its parameters (a nested dict of arrays).
    x : ndarray, shape (B, *in_shape)
        The inputs; usually one example, ``x0[None]``.
    paths : str or sequence of str, optional
        Shell-style patterns (``fnmatch``, where ``*`` also matches ``/``) of
        the parameter paths to keep, for example ``("*/S", "*/alpha")``, the
        trainable support of DCTpS layers.  Default every parameter.  Each
        pattern must match at least one path.
    chunk_size : int, optional
        At most this many of the ``B * m`` cotangent rows per call.

    Returns
    -------
    ParameterJacobian
        ``matrix`` of shape (B, m, P) with ``P`` the total size of the kept
        leaves, in the tree's order; ``paths`` and ``shapes`` say which
        columns are which.

    Notes
    -----
    ``params_bar`` of a batch is SUMMED over the examples, so one cotangent
    per output row is not enough here: row ``r = b * m + i`` needs the
    cotangent that is ``e_i`` at example ``b`` and zero at every other
    example.  With ``y`` of shape (B, m)::

        y_bar[r, b', :] = e_i if b' == b else 0      # (B*m, B, m)
        _, params_bar = vjp(params, cache, y_bar)    # each leaf (B*m, *leaf_shape)
        matrix[b, i, :] = concat_k params_bar[k][r].ravel()

    which is one call (per chunk).  Parameters are exactly the trainable
    things (frozen quantities are layer attributes), so the columns of a
    DCTpS network restricted to ``"*/S"`` and ``"*/alpha"`` are the
    derivatives along its whole trainable support.  The full VJP is computed
    and then cut, so restricting ``paths`` saves memory of the result only.

    Examples
    --------
    >>> import numpy as np
    >>> from refnet.layers import Linear
    >>> layer = Linear(3, 2)
    >>> params = layer.init(np.random.default_rng(0))
    >>> pj = parameter_jacobian(layer, params, np.ones((1, 3)), paths="b")
    >>> pj.matrix[0]
    array([[1., 0.],
           [0., 1.]])
    """
    selected = _select_paths(params, paths)
    lin = linearize(layer, params, x)
    batch = lin.target_shape[0]
    m = math.prod(lin.target_shape[1:])
    rows = batch * m
    total = sum(math.prod(s) for _, s in selected)
    chunk = _check_chunk(chunk_size, rows, "parameter_jacobian")
    out = np.empty((rows, total))
    for start in range(0, rows, chunk):
        k = min(chunk, rows - start)
        r = start + np.arange(k)
        y_bar = np.zeros((k, batch, m))
        y_bar[np.arange(k), r // m, r % m] = 1.0
        y_bar = y_bar.reshape((k,) + lin.target_shape)
        _, params_bar = layer.vjp(params, lin.cache, y_bar, need_params=True)
        col = 0
        for path, shape in selected:
            size = math.prod(shape)
            out[start:start + k, col:col + size] = np.asarray(tree_get(params_bar, path)).reshape(
                k, size)
            col += size
    return ParameterJacobian(out.reshape(batch, m, total), tuple(p for p, _ in selected),
                             tuple(tuple(s) for _, s in selected))
