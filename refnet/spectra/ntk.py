"""The parameter Jacobian's kernel, matrix-free: the empirical neural tangent kernel.

For a network ``f(theta, x)`` at a batch ``x`` of ``B`` examples with ``m`` outputs each,
``J = d f / d theta`` is ``(B m, P)`` and the empirical NTK is ``K = J @ J.T``, ``(B m, B m)``.
``K``'s spectrum says how far the ``P`` trainable numbers can move the outputs: a step
``d theta = -lr * J.T @ r`` on a squared loss with residual ``r`` moves them by ``-lr * K @ r``.

``K @ v`` needs one VJP and one parameter JVP, never ``J``::

    theta_bar = J.T @ v          # layer.vjp(params, cache, v): the parameters' cotangent
    K @ v     = J @ theta_bar    # parameter_jvp(layer, params, x, theta_bar)

Layers give a JVP in their INPUT only; :func:`parameter_jvp` builds the one in the parameters
for networks whose parameterised layers are affine in their parameters (``Linear``, ``Conv2d``,
the sparse and DCTpS layers; a :class:`~refnet.sparsity.SubspaceNetwork` around such a network).
For such a layer ``g(p, h) = A(h) @ p + c(h)``, so its tangent is ``g(p_dot, h) - g(0, h)``:
exact, whatever is frozen in ``c`` (a fixed ``alpha`` times the offset).  Through a graph the
tangents add up in forward mode: node ``k`` with inputs ``h`` gets
``t_k = J_h g_k @ t_h + (g_k(p_dot_k, h) - g_k(0, h))``.  In a ``SubspaceNetwork``,
``w = d + U @ theta``, so ``w_dot = U @ theta_dot``.

Examples
--------
>>> import numpy as np
>>> from refnet.models import build_model
>>> from refnet.spectra import parameter_jacobian
>>> net = build_model("mlp", sizes=[6, 5, 3])
>>> params, x = net.init(0), np.random.default_rng(1).standard_normal((4, 6))
>>> K = tangent_kernel(net, params, x)
>>> K.shape
(12, 12)
>>> J = parameter_jacobian(net, params, x).matrix.reshape(12, -1)
>>> bool(np.allclose(K @ np.eye(12), J @ J.T))
True
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.sparse.linalg import LinearOperator

from ..core.graph import Graph
from ..core.layer import Layer
from ..core.tree import tree_map, tree_unflatten
from ..jacobian import dense_matrix, linearize
from ..layers import Conv2d, DCTpSConv2d, DCTpSLinear, Linear, SparseConv2d, SparseLinear
from ..sparsity import SubspaceNetwork

__all__ = ["AFFINE_LAYERS", "parameter_jvp", "tangent_kernel", "TangentKernel",
           "KernelSpectrum", "kernel_spectrum"]

#: Layers whose output is affine in their parameters (module docstring).
AFFINE_LAYERS = (Linear, Conv2d, SparseLinear, SparseConv2d, DCTpSLinear, DCTpSConv2d)


def _tangent_map(layer: Layer, params, x):
    """``push(params_dot) -> y_dot``, the parameter JVP at ``(params, x)``; forward runs here."""
    if isinstance(layer, SubspaceNetwork):
        inner = _tangent_map(layer.net, layer.weights(params), x)
        return lambda dot: inner(tree_unflatten(layer.tree_spec, layer.U @ dot["theta"]))
    if isinstance(layer, Graph):
        values, cache = layer.forward_all(params, x)
        pushes = {n.name: _tangent_map(n.layer, params[n.name], values[n.inputs[0]])
                  for n in layer.nodes if n.layer.param_shapes()}   # all single-input

        def push(dot):
            dots = {}
            for n in layer.nodes:
                t = None
                if any(i in dots for i in n.inputs):
                    ins = [dots.get(i, np.zeros(cache.shapes[i])) for i in n.inputs]
                    t = n.layer.jvp(params[n.name], cache.caches[n.name],
                                    ins[0] if n.layer.n_inputs == 1 else tuple(ins))
                if n.name in pushes:
                    own = pushes[n.name](dot[n.name])
                    t = own if t is None else t + own
                if t is not None:
                    dots[n.name] = t
            return dots.get(layer.output, np.zeros(cache.shapes[layer.output]))
        return push
    if not isinstance(layer, AFFINE_LAYERS):
        raise TypeError(f"parameter_jvp: {type(layer).__name__} is not affine in its "
                        f"parameters; supported: "
                        f"{', '.join(c.__name__ for c in AFFINE_LAYERS)}, graphs of them and "
                        f"SubspaceNetwork")
    at_zero = layer(tree_map(np.zeros_like, params), x)
    return lambda dot: layer(dot, x) - at_zero


def parameter_jvp(layer: Layer, params, x, params_dot) -> np.ndarray:
    """``J_theta @ params_dot``: the outputs' tangent (B, *out) of ``layer`` (module
    docstring for which) at ``params`` and the batch ``x``, along ``params_dot`` (a tree
    like ``params``).

    Examples
    --------
    >>> import numpy as np
    >>> from refnet.layers import Linear
    >>> layer = Linear(2, 1)
    >>> params = layer.init(0)
    >>> dot = {"W": np.array([[1.0, 2.0]]), "b": np.array([0.5])}
    >>> parameter_jvp(layer, params, np.array([[1.0, 1.0]]), dot)
    array([[3.5]])
    """
    layer.check_params(params_dot)
    return _tangent_map(layer, params, x)(params_dot)


class TangentKernel(LinearOperator):
    """``K = J @ J.T`` of :func:`tangent_kernel`, ``(B m, B m)``; rows in ``(b, i)`` order."""

    def __init__(self, layer: Layer, params, x):
        self.layer, self.params = layer, params
        self._lin = linearize(layer, params, x)
        self._push = _tangent_map(layer, params, np.asarray(x))
        n = int(np.prod(self._lin.target_shape))
        super().__init__(dtype=np.dtype(np.float64), shape=(n, n))

    def _matvec(self, v):
        v = np.ascontiguousarray(v, dtype=np.float64).reshape(self._lin.target_shape)
        _, theta_bar = self.layer.vjp(self.params, self._lin.cache, v, need_params=True)
        return np.asarray(self._push(theta_bar)).ravel()

    def _rmatvec(self, v):           # K is symmetric
        return self._matvec(v)


def tangent_kernel(layer: Layer, params, x) -> TangentKernel:
    """The empirical NTK ``K = J_theta @ J_theta.T`` at the batch ``x``, matrix-free.

    ``K @ v`` is one VJP and one :func:`parameter_jvp` (module docstring); the forward
    pass runs here, once.  Materialise a small one with ``refnet.spectra.dense_matrix(K)``.
    """
    return TangentKernel(layer, params, x)


class KernelSpectrum(NamedTuple):
    """The eigenvalues of a kernel and three summaries of them."""

    eigenvalues: np.ndarray   #: all of them, descending (negative rounding clipped to 0)
    rank: int                 #: how many exceed ``tol = size * eps * largest``
    condition: float          #: largest / smallest; inf when the smallest is at most ``tol``
    effective_rank: float     #: ``exp(entropy(lambda / sum(lambda)))`` (Roy & Vetterli 2007)


def kernel_spectrum(K) -> KernelSpectrum:
    """The spectrum of a symmetric positive semi-definite ``K`` (an array or operator).

    ``K`` is materialised (``dense_matrix``) and symmetrised; eigenvalues by
    ``numpy.linalg.eigvalsh``.  The effective rank is between 1 and the rank: ``n`` for
    ``n`` equal eigenvalues, about 1 when one dominates.

    Examples
    --------
    >>> s = kernel_spectrum(np.diag([4.0, 1.0, 0.0]))
    >>> s.rank, s.condition, round(s.effective_rank, 3)
    (2, inf, 1.649)
    """
    M = K if isinstance(K, np.ndarray) else dense_matrix(K)
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise ValueError(f"kernel_spectrum: K has shape {M.shape}, expected a non-empty "
                         f"square matrix")
    lam = np.clip(np.linalg.eigvalsh((M + M.T) / 2)[::-1], 0.0, None)
    tol = M.shape[0] * np.finfo(np.float64).eps * lam[0]
    rank = int(np.sum(lam > tol))
    p = lam[lam > 0] / lam.sum() if lam[0] > 0 else np.ones(1)
    return KernelSpectrum(lam, rank, float(lam[0] / lam[-1]) if lam[-1] > tol else np.inf,
                          float(np.exp(-np.sum(p * np.log(p)))))
