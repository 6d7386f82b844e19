"""Random-subspace training, ``w = d + U @ theta`` (Li, Farkhoor, Liu & Yosinski, ICLR 2018).

All ``D`` parameters of a network (weights AND biases, flattened into ``w``)
are pinned to a fixed random affine subspace: ``d`` a standard initialisation,
``U`` a fixed ``(D, dim)`` projection, ``theta`` (``dim``, starting at 0) the
only trained numbers.  A sparse network is the case ``d = 0`` with ``U`` one
nonzero per column and at most one per row; DCTpS is ``d`` = the offset with
that ``U``.  Random subspaces train well at small ``dim`` but move every weight.

Projections: ``"dense"`` draws ``U[i, j] ~ N(0, 1 / D)`` (columns of expected
unit norm, nearly orthogonal for ``dim << D``; ``8 D dim`` bytes);
``"sparse"`` is Li, Hastie & Church's very sparse projection: ``s`` nonzeros
per column (default ``ceil(sqrt(D))``) at distinct random rows, each
``+-1 / sqrt(s)``, so columns have norm exactly 1 (a CSC matrix of ``s dim``
entries).  For lenet300 (``D = 266,610``) at ``dim = 3,072`` a dense ``U`` is
6.6 GB, the sparse one 19 MB: use it beyond a few hundred dimensions.  Any
fixed ``(D, dim)`` array or sparse matrix is accepted too (the identity gives
back the plain network).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.sparse

from .._checks import as_rng, check_positive_int
from ..core.layer import Layer
from ..core.tree import tree_check_like, tree_flatten, tree_leaves, tree_map, tree_unflatten
from ..networks import dense_prunable_layers, weight_shape
from ..supports import check_density, target_nnz

__all__ = ["SubspaceNetwork", "SubspaceCache", "random_projection", "weights_projection",
           "matched_dim", "PROJECTIONS"]

#: The random projections :class:`SubspaceNetwork` draws by name.
PROJECTIONS = ("dense", "sparse")


def random_projection(size: int, dim: int, kind: str = "dense", rng=None, *,
                      nnz_per_column: int | None = None):
    """A random ``(size, dim)`` projection ``U`` with (nearly) unit-norm columns.

    ``kind`` and ``nnz_per_column`` (``s``, default ``ceil(sqrt(size))``) as in
    the module docstring; returns a float64 array or CSC matrix ``(size, dim)``.
    """
    owner = "random_projection"
    size = check_positive_int("size", size, owner)
    dim = check_positive_int("dim", dim, owner)
    rng = as_rng(rng)
    if kind == "dense":
        if nnz_per_column is not None:
            raise ValueError(f"{owner}: nnz_per_column applies to the sparse projection only")
        return rng.standard_normal((size, dim)) / math.sqrt(size)
    if kind != "sparse":
        raise ValueError(f"{owner}: kind must be one of {PROJECTIONS}, got {kind!r}")
    s = math.ceil(math.sqrt(size)) if nnz_per_column is None else nnz_per_column
    s = check_positive_int("nnz_per_column", s, owner)
    if s > size:
        raise ValueError(f"{owner}: nnz_per_column must be at most size = {size}, got {s}")
    rows = np.concatenate([np.sort(rng.choice(size, size=s, replace=False))
                           for _ in range(dim)])
    signs = rng.integers(0, 2, size=s * dim) * 2.0 - 1.0
    indptr = np.arange(dim + 1, dtype=np.int64) * s
    return scipy.sparse.csc_matrix((signs / math.sqrt(s), rows, indptr), shape=(size, dim))


def weights_projection(net: Layer, params0: dict, dim: int, rng, *,
                       nnz_per_column: int | None = None):
    """``U``, a ``(D, dim + B)`` CSC matrix that moves the prunable weights in a random
    subspace and trains the ``B`` other parameters directly.

    Columns ``0 .. dim - 1`` are a sparse :func:`random_projection` over the rows of the
    prunable weights of the DENSE ``net`` (in ``tree_flatten(params0)`` order); every other
    parameter (the biases) gets a unit column of its own, after them.  So
    ``SubspaceNetwork(net, params0, projection=U)`` trains ``dim`` directions of the weights
    and each bias as itself: the budget of a sparse network's ``dim`` weights, with its biases.
    """
    layers = dense_prunable_layers(net, "weights_projection", "pass the DENSE network")
    weight_paths = {f"{path}/W" if path else "W" for path, _ in layers}   # "" : a bare layer
    _, spec = tree_flatten(params0)
    is_weight = np.concatenate([np.full(math.prod(shape), path in weight_paths)
                                for path, shape in zip(spec.paths, spec.shapes)])
    weight_rows, other_rows = np.flatnonzero(is_weight), np.flatnonzero(~is_weight)
    inner = random_projection(weight_rows.size, dim, "sparse", rng,
                              nnz_per_column=nnz_per_column).tocoo()
    rows = np.concatenate([weight_rows[inner.row], other_rows])
    cols = np.concatenate([inner.col, dim + np.arange(other_rows.size)])
    values = np.concatenate([inner.data, np.ones(other_rows.size)])
    return scipy.sparse.csc_matrix((values, (rows, cols)),
                                   shape=(is_weight.size, dim + other_rows.size))


def matched_dim(net: Layer, density: float, *, include_biases: bool = True) -> int:
    """As many trainable numbers as the sparse ``net`` at ``density``: ``round(density * N)``.

    ``N`` prunable weight entries of the DENSE ``net`` (:func:`target_nnz`),
    plus all its other parameters (biases) unless ``include_biases`` is False.

    Examples
    --------
    >>> from refnet.models import build_model
    >>> net = build_model("lenet300")
    >>> matched_dim(net, 1e-4), matched_dim(net, 1e-4, include_biases=False)
    (437, 27)
    """
    density = check_density(density, "matched_dim")
    layers = dense_prunable_layers(net, "matched_dim", "pass the DENSE network "
                                   "(kind='dense'), whose parameters are all counted")
    weights = sum(math.prod(weight_shape(layer)) for _, layer in layers)
    total = sum(math.prod(shape) for _, shape in tree_leaves(net.param_shapes()))
    others = total - weights
    return target_nnz(density, weights) + (others if include_biases else 0)


class SubspaceCache(NamedTuple):
    """What :class:`SubspaceNetwork` keeps from the forward pass."""

    weights: dict  #: the inner network's parameters ``unflatten(d + U @ theta)``
    inner: object  #: the inner network's cache


class SubspaceNetwork(Layer):
    """A network whose parameters live on a random affine subspace: ``w = d + U @ theta``.

    ``params0`` are ``net``'s float64 parameters at ``d`` (usually
    ``net.init(rng)``; copied, flattened in :func:`refnet.core.tree.tree_flatten`
    order into the read-only attribute ``d``, ``tree_spec`` cutting ``w`` back).
    ``projection`` is ``U``: "dense" or "sparse" (module docstring) drawn with
    ``rng`` at ``dim`` columns (``nnz_per_column`` is the sparse one's ``s``),
    or given as a ``(D, dim)`` array or scipy.sparse matrix.  Attributes
    ``net``, ``d``, ``U``, ``tree_spec``, ``size`` (``D``) and ``dim``.

    Notes
    -----
    Forward, with ``unflatten`` cutting ``w`` into ``net``'s tree::

        w = d + U @ theta                                  # (D,)
        y, inner_cache = net.forward(unflatten(w), x)

    VJP (``y_bar`` of shape (*lead, B, *out)): ``dw / dtheta = U``, so::

        x_bar, w_bar_tree = net.vjp(unflatten(w), inner_cache, y_bar)
        theta_bar = flatten(w_bar_tree) @ U                # (*lead, dim)

    JVP: ``net.jvp(unflatten(w), inner_cache, x_dot)`` (``w`` does not depend
    on ``x``).  With ``U`` the identity, training ``theta`` is training ``w``.

    Examples
    --------
    >>> import numpy as np
    >>> from refnet.models import build_model
    >>> net = build_model("mlp", sizes=[4, 8, 3])
    >>> sub = SubspaceNetwork(net, net.init(0), 5, projection="sparse", rng=0)
    >>> sub.size, sub.param_shapes()
    (67, {'theta': (5,)})
    >>> params = sub.init(0)                      # theta = 0: w = d, the plain network
    >>> bool(np.array_equal(sub(params, np.ones((2, 4))), net(net.init(0), np.ones((2, 4)))))
    True
    """

    _repr_fields = ("size", "dim", "projection")

    def __init__(self, net: Layer, params0: dict, dim: int | None = None, *,
                 projection="dense", rng=None, nnz_per_column: int | None = None):
        owner = "SubspaceNetwork"
        if not isinstance(net, Layer):
            raise TypeError(f"{owner}: net must be a refnet Layer, got {type(net).__name__}")
        template = tree_map(lambda shape: np.zeros(shape), net.param_shapes())
        if not isinstance(params0, dict):
            raise TypeError(f"{owner}: params0 must be a dict of arrays, got "
                            f"{type(params0).__name__}")
        try:
            tree_check_like(params0, template, "params0", "net's parameters")
        except ValueError as err:
            raise ValueError(f"{owner}: params0 does not fit the network's parameters: "
                             f"{err}") from None
        for path, leaf in tree_leaves(params0):
            if np.asarray(leaf).dtype != np.float64:
                raise TypeError(f"{owner}: params0[{path!r}] has dtype {np.asarray(leaf).dtype}, "
                                "expected float64")
        d, self.tree_spec = tree_flatten(params0)
        if d.size == 0:
            raise ValueError(f"{owner}: {type(net).__name__} has no parameters to project")
        if not np.all(np.isfinite(d)):
            raise ValueError(f"{owner}: params0 has non-finite entries")
        self.net = net
        self.size = int(d.size)
        self.d = d.copy()
        self.d.setflags(write=False)
        if isinstance(projection, str):
            if projection not in PROJECTIONS:
                raise ValueError(f"{owner}: projection must be one of {PROJECTIONS} or a (D, dim) "
                                 f"matrix, got {projection!r}")
            if dim is None:
                raise ValueError(f"{owner}: a {projection} projection needs dim=")
            if rng is None:
                raise TypeError(f"{owner}: drawing a {projection} projection needs rng= (a "
                                "numpy.random.Generator or an int seed)")
            self.dim = check_positive_int("dim", dim, owner)
            self.U = random_projection(self.size, self.dim, projection, rng,
                                       nnz_per_column=nnz_per_column)
            self.projection = projection
        else:
            self.U = _as_matrix(projection, self.size, owner)
            self.dim = int(self.U.shape[1])
            if dim is not None and dim != self.dim:
                raise ValueError(f"{owner}: dim={dim!r} but the projection has {self.dim} "
                                 "columns")
            if rng is not None or nnz_per_column is not None:
                raise ValueError(f"{owner}: rng= and nnz_per_column= draw a projection; a "
                                 "given matrix takes neither")
            self.projection = "given"
        if isinstance(self.U, np.ndarray):
            self.U.setflags(write=False)
        self.is_linear = net.is_linear

    def param_shapes(self):
        return {"theta": (self.dim,)}

    def output_shape(self, in_shape):
        return self.net.output_shape(in_shape)

    def init(self, rng):
        """``theta = 0``: the network starts at ``w = d`` (``rng`` is not used)."""
        as_rng(rng)
        return {"theta": np.zeros(self.dim)}

    def weights(self, params) -> dict:
        """The inner network's parameters ``unflatten(d + U @ theta)`` (a new tree)."""
        self.check_params(params)
        return tree_unflatten(self.tree_spec, self.d + self.U @ params["theta"])

    def forward(self, params, x):
        weights = self.weights(params)
        y, inner = self.net.forward(weights, x)
        return y, SubspaceCache(weights, inner)

    def vjp(self, params, cache, y_bar, *, need_params=True):
        x_bar, w_bar_tree = self.net.vjp(cache.weights, cache.inner, y_bar,
                                         need_params=need_params)
        if not need_params:
            return x_bar, None
        leaves = dict(tree_leaves(w_bar_tree))
        first = leaves[self.tree_spec.paths[0]]
        lead = np.shape(first)[:np.ndim(first) - len(self.tree_spec.shapes[0])]
        k = int(np.prod(lead, dtype=np.int64))
        w_bar = np.concatenate([np.reshape(leaves[p], (k, -1)) for p in self.tree_spec.paths],
                               axis=1)                                  # (K, D)
        if isinstance(self.U, np.ndarray):
            theta_bar = w_bar @ self.U                                  # (K, dim)
        else:
            theta_bar = np.asarray(self.U.T @ w_bar.T).T                # sparse U.T @ w_bar
        return x_bar, {"theta": theta_bar.reshape(lead + (self.dim,))}

    def jvp(self, params, cache, x_dot):
        return self.net.jvp(cache.weights, cache.inner, x_dot)


def _as_matrix(projection, size: int, owner: str):
    """A given projection as a float64 ndarray copy or CSC matrix of shape (size, dim)."""
    if scipy.sparse.issparse(projection):
        matrix = scipy.sparse.csc_matrix(projection, dtype=np.float64, copy=True)
        values = matrix.data
    elif isinstance(projection, np.ndarray):
        matrix = np.array(projection, dtype=np.float64)
        values = matrix
    else:
        raise TypeError(f"{owner}: projection must be 'dense', 'sparse', a numpy array or a "
                        f"scipy.sparse matrix, got {type(projection).__name__}")
    if matrix.ndim != 2 or matrix.shape[0] != size or matrix.shape[1] < 1:
        raise ValueError(f"{owner}: projection has shape {matrix.shape}, expected ({size}, dim) "
                         f"with dim >= 1 ({size} = the network's number of parameters)")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{owner}: projection has non-finite entries")
    return matrix

