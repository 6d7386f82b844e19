"""Random-subspace training (Li, Farkhoor, Liu & Yosinski, ICLR 2018, "Measuring the
intrinsic dimension of objective landscapes"): ``w = d + U @ theta``.

Every parameter of a network (weights AND biases, ``D`` numbers flattened into
one vector ``w``) is pinned to a fixed random affine subspace of dimension
``dim``::

    w = d + U @ theta          d (D,): a standard initialisation, fixed
                               U (D, dim): a fixed random projection
                               theta (dim,): the only trainable parameters, start at 0

The talk puts sparse training in the same frame: a sparse network is
``d = 0`` and ``U`` with one nonzero per column and at most one per row (a
"k-sparse disjoint" embedding); DCTpS is ``d`` = the DCT offset with that same
sparse ``U``.  Random subspaces train remarkably well at small ``dim`` but are
dense: every weight moves.  :class:`SubspaceNetwork` makes any refnet network
such a model, so the comparison runs on the same code, data and optimiser.

Projections (``projection=``)
-----------------------------
``"dense"``
    ``U[i, j] ~ N(0, 1 / D)`` independently, so every column has expected
    squared norm 1 (Li et al. normalise columns to unit length; for large
    ``D`` the two agree to ``O(1 / sqrt(D))``) and the columns are nearly
    orthogonal when ``dim << D``.  Memory ``8 D dim`` bytes.
``"sparse"``
    Li, Hastie & Church's "very sparse random projection", which Li et al.
    use for large networks: each column has ``s`` nonzeros (default ``s =
    ceil(sqrt(D))``, density ``1 / sqrt(D)``) at distinct random rows, each
    ``+1 / sqrt(s)`` or ``-1 / sqrt(s)`` with equal probability, so every
    column has norm exactly 1.  A ``scipy.sparse`` CSC matrix of ``s * dim``
    entries, about ``12 s dim`` bytes.  (With few nonzeros per column many
    weights are reached by no column and stay at ``d``: ``s`` trades cost for
    coverage, ``dim * s / D`` columns per weight on average.)
an array or ``scipy.sparse`` matrix of shape ``(D, dim)``
    Any fixed ``U``: the identity (``dim = D``) gives back the plain network,
    ``w = d + theta``, which the tests train side by side with it.

What fits, for lenet300 (``D = 266,610`` parameters, biases included)::

    dim                      27      266      437      676    2,662    3,072
    dense U (float64)      58 MB   567 MB   932 MB   1.4 GB   5.7 GB   6.6 GB
    sparse U (s = 517)    0.2 MB   1.7 MB   2.7 MB   4.2 MB    17 MB    19 MB

and a dense ``U @ theta`` costs ``2 D dim`` flops per step each way (1.6
GFLOP at ``dim = 3,072``), the sparse one ``2 s dim``.  Use the sparse
projection beyond a few hundred dimensions.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.sparse

from .._checks import as_rng, check_positive_int
from ..core.layer import Layer
from ..core.tree import tree_check_like, tree_flatten, tree_leaves, tree_map, tree_unflatten

__all__ = ["SubspaceNetwork", "SubspaceCache", "random_projection", "matched_dim",
           "PROJECTIONS"]

#: The random projections :class:`SubspaceNetwork` draws by name.
PROJECTIONS = ("dense", "sparse")


def random_projection(size: int, dim: int, kind: str = "dense", rng=None, *,
                      nnz_per_column: int | None = None):
    """A random ``(size, dim)`` projection ``U`` with (nearly) unit-norm columns.

    Parameters
    ----------
    size : int
        ``D``, the number of parameters.
    dim : int
        Number of columns.
    kind : {"dense", "sparse"}
        See the module docstring.
    rng : numpy.random.Generator or int
    nnz_per_column : int, optional
        ``s`` for ``"sparse"`` (default ``ceil(sqrt(size))``, at most ``size``).

    Returns
    -------
    ndarray or scipy.sparse.csc_matrix
        float64, shape ``(size, dim)``.
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


def matched_dim(net: Layer, density: float, *, include_biases: bool = True) -> int:
    """The subspace dimension with as many trainable numbers as a sparse net at ``density``.

    A sparse network of ``net``'s architecture at global density ``density``
    trains ``round(density * N)`` weights (``N`` prunable weight entries,
    :func:`refnet.sparsity.target_nnz`) and, unless ``include_biases`` is
    False, all its other parameters (biases): this is that count.

    Parameters
    ----------
    net : Layer
        The DENSE network (for example ``build_model("lenet300")``).
    density : float
        In (0, 1].

    Raises
    ------
    ValueError
        For a density outside (0, 1], or a network without prunable layers or
        with one that is not dense (its parameters are not the dense count
        the formula subtracts the weights from).

    Examples
    --------
    >>> from refnet.models import build_model
    >>> net = build_model("lenet300")
    >>> matched_dim(net, 1e-4), matched_dim(net, 1e-4, include_biases=False)
    (437, 27)
    """
    from ..models.weights import dense_prunable_layers, weight_shape
    from .distributions import check_density, target_nnz
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

    Parameters
    ----------
    net : Layer
        The network (any refnet layer or container).
    params0 : dict
        Its parameters at the offset ``d``, usually ``net.init(rng)``
        (float64; copied, never modified).
    dim : int, optional
        Subspace dimension; required for ``"dense"`` and ``"sparse"``, read
        from a given matrix otherwise.
    projection : {"dense", "sparse"} or array or scipy.sparse matrix, default "dense"
        ``U`` (module docstring): drawn by name, or given with shape
        ``(D, dim)``, ``D`` the number of parameters of ``net``.
    rng : numpy.random.Generator or int, optional
        Draws ``U`` (required for a named projection).
    nnz_per_column : int, optional
        Nonzeros per column of the sparse projection.

    Attributes
    ----------
    net : Layer
    d : ndarray, shape (D,)
        The fixed offset, ``params0`` flattened (:func:`refnet.core.tree.tree_flatten`
        order; read-only).
    U : ndarray or scipy.sparse.csc_matrix, shape (D, dim)
    tree_spec : refnet.core.tree.TreeSpec
        How ``w`` is cut into ``net``'s parameters: leaf ``tree_spec.paths[i]``
        of shape ``tree_spec.shapes[i]`` is the next ``prod(shape)`` entries.
    size : int
        ``D``.
    dim : int

    Notes
    -----
    Shapes: theta (dim,), d (D,), U (D, dim), w (D,) flattened in the order
    of ``params0``'s leaves; ``unflatten`` cuts ``w`` back into the tree of
    ``net``'s parameters and ``flatten`` is its inverse.  ``net.forward``,
    ``net.vjp`` and ``net.jvp`` are the inner network's own.

    Forward::

        w = d + U @ theta                                  # (D,)
        y, inner_cache = net.forward(unflatten(w), x)      # (B, *out)

    VJP (``y_bar`` of shape (*lead, B, *out))::

        x_bar, w_bar_tree = net.vjp(unflatten(w), inner_cache, y_bar)
        w_bar     = flatten(w_bar_tree)                    # (*lead, D)
        theta_bar = w_bar @ U                              # (*lead, dim) = U.T @ w_bar per lead

    because ``dw / dtheta = U`` and the chain rule transposes it:
    ``dL/dtheta = U.T @ dL/dw``.  ``x_bar`` is the inner network's: ``w``
    does not depend on ``x``.

    JVP (``x_dot`` of shape (*lead, B, *in))::

        y_dot = net.jvp(unflatten(w), inner_cache, x_dot)

    With ``U`` the identity (``dim = D``), ``theta_bar = w_bar``: training
    ``theta`` is training ``w = d + theta`` itself, step for step.

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

