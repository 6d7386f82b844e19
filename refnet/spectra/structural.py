"""Structural rank of a chain of sparse layers: bounds from the supports alone.

Which entries of each weight MAY be nonzero already limits the rank of the
network's Jacobian, whatever the values (:func:`structural_rank` derives it).
Integer graph computation only; an elementwise activation is
:func:`identity_support`, a DCT part ``alpha * D`` :func:`dense_support`.

:func:`structural_supports` reads those supports off a chain network, between
UNITS (scalar entries of the activations).  Each node's Jacobian has a
support that does not depend on the point, and the network's Jacobian is
their product, so these supports are exactly the chain's.  Units of an image
``(C, H, W)`` are numbered in C order (``c * H * W + i * W + j``, as Flatten
keeps them).  Per node:

* Linear: dense.  Sparse: the support of ``S``.  DCTpS: the support of ``S``
  joined with ``O.structure()`` of its offset (dense for the DCT: its few
  exact zeros are not structural with ``alpha`` trained, and a superset keeps
  every bound valid; the diagonal for the identity, nothing for "none").
* Convolutions: output unit ``(o, i, j)`` reads input unit ``(c, i * s - p +
  a, j * s - p + b)`` (inside the image) when kernel entry ``(o, c, a, b)``
  is in the weight's pattern (as above).
* Average and max pooling: every pixel of the window, per channel (for max
  pooling the union over points, a superset).
* Elementwise activations, Identity and Flatten are the identity on units and
  are left out.

Only chains (every node reads the previous one: mlp, lenet300, lenet5,
lenet5-cifar) are supported; a residual ``y = x + f(x)`` adds two paths, which
a chain of matrices cannot express, and is refused.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_bipartite_matching, maximum_flow

from .._checks import check_positive_int
from ..core.graph import Graph
from ..layers import (AvgPool2d, Conv2d, Flatten, Identity, LeakyReLU, Linear, MaxPool2d,
                      ReLU, SparseConv2d, SparseLinear, Tanh)
from ..ops.im2col import im2col

__all__ = ["StructuralRank", "structural_rank", "support_pattern", "dense_support",
           "identity_support", "structural_supports"]


def dense_support(n_out: int, n_in: int) -> sp.csr_matrix:
    """The support of a dense (n_out, n_in) layer: every entry."""
    n_out = check_positive_int("n_out", n_out, "dense_support")
    n_in = check_positive_int("n_in", n_in, "dense_support")
    return sp.csr_matrix(np.ones((n_out, n_in), dtype=np.int8))


def identity_support(n: int) -> sp.csr_matrix:
    """The support of an elementwise layer of width ``n``: the diagonal."""
    n = check_positive_int("n", n, "identity_support")
    return sp.identity(n, dtype=np.int8, format="csr")


def support_pattern(A, name: str = "support") -> sp.csr_matrix:
    """The 0/1 int8 CSR pattern of ``A`` (out, in), without duplicates.

    For a SPARSE matrix every STORED entry, explicit zeros too (a DCTpS
    layer's zero-initialised ``S``); for an array its nonzero entries.
    """
    if sp.issparse(A):
        A = sp.csr_matrix(A)
        pattern = sp.csr_matrix((np.ones(A.nnz, dtype=np.int8), A.indices.copy(),
                                 A.indptr.copy()), shape=A.shape)
        pattern.sum_duplicates()          # duplicates add up; the pattern is what counts
        pattern.data[:] = 1
        return pattern
    A = np.asarray(A)
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D (out, in), got shape {A.shape}")
    return sp.csr_matrix((A != 0).astype(np.int8))


class StructuralRank(NamedTuple):
    """Result of :func:`structural_rank`."""

    rank_bound: int                  #: max number of vertex-disjoint input-output paths
    matching_bound: int              #: min over layers of each layer's structural rank
    layer_ranks: tuple[int, ...]     #: each layer's structural rank (maximum matching)
    widths: tuple[int, ...]          #: n_0 (inputs), n_1, ..., n_L (outputs)
    reachable_outputs: np.ndarray    #: (n_L,) bool: some input has a path to this output
    live_inputs: np.ndarray          #: (n_0,) bool: this input has a path to some output

    @property
    def connected(self) -> bool:
        """True when at least one input-to-output path exists."""
        return bool(self.reachable_outputs.any())


def _check_chain(supports) -> list[sp.csr_matrix]:
    if isinstance(supports, (str, bytes)) or not isinstance(supports, Sequence):
        raise TypeError(f"supports must be a sequence of (out, in) matrices, got "
                        f"{type(supports).__name__}")
    if len(supports) == 0:
        raise ValueError("supports must hold at least one layer, got none")
    chain = [support_pattern(A, f"supports[{i}]") for i, A in enumerate(supports)]
    for i in range(1, len(chain)):
        if chain[i].shape[1] != chain[i - 1].shape[0]:
            raise ValueError(f"supports[{i}] has shape {chain[i].shape} (out, in), but "
                             f"supports[{i - 1}] has {chain[i - 1].shape[0]} outputs")
    return chain


def _layer_rank(A: sp.csr_matrix) -> int:
    match = maximum_bipartite_matching(A, perm_type="column")   # row -> matched column
    return int(np.count_nonzero(match >= 0))


def _vertex_disjoint_paths(chain: list[sp.csr_matrix], widths: list[int]) -> int:
    """Maximum number of vertex-disjoint input-to-output paths, by maximum flow."""
    offsets = np.concatenate([[0], np.cumsum(widths)])
    units = int(offsets[-1])
    source, sink = 2 * units, 2 * units + 1
    # unit u: in-node 2u -> out-node 2u+1, capacity 1 (structural_rank, Notes)
    u, last = np.arange(units), offsets[-2] + np.arange(widths[-1])
    rows = [2 * u, np.full(widths[0], source), 2 * last + 1]
    cols = [2 * u + 1, 2 * np.arange(widths[0]), np.full(widths[-1], sink)]
    for layer, A in enumerate(chain):
        coo = A.tocoo()                      # entry (i, j): unit j of layer-1 feeds unit i
        rows.append(2 * (offsets[layer] + coo.col) + 1)
        cols.append(2 * (offsets[layer + 1] + coo.row))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = sp.csr_matrix((np.ones(rows.size, dtype=np.int32), (rows, cols)),
                          shape=(2 * units + 2, 2 * units + 2))
    return int(maximum_flow(graph, source, sink).flow_value)


def structural_rank(supports: Sequence) -> StructuralRank:
    """Upper bounds on the rank of a chain of sparse layers from its supports alone.

    ``supports`` are the layers' ``(out, in)`` supports in forward order
    (``supports[0]`` acts on the inputs), as :func:`support_pattern` reads them.

    Notes
    -----
    Let ``G`` be the layered directed graph with one vertex per unit (the
    ``n_0`` inputs, every hidden unit, the ``n_L`` outputs) and an edge ``j ->
    i`` for every support entry ``(i, j)`` of every layer.  Give edge ``e``
    the weight ``w_e`` (the matrix entry).  Then the product ``M = A_L @ ... @
    A_1`` has entries ``M[i, j] = sum over paths p from input j to output i
    of prod_{e in p} w_e``.

    (a) Reachability.  ``M[i, :]`` is structurally zero when no input reaches
    output ``i``; breadth-first propagation of a 0/1 vector through the 0/1
    supports finds those outputs (``reachable_outputs``), backwards the dead
    inputs (``live_inputs``).

    (b) Vertex-disjoint paths.  By the Lindstrom-Gessel-Viennot lemma, for
    inputs ``J`` and outputs ``I`` with ``|I| = |J| = r``::

        det M[I, J] = sum over systems of r vertex-disjoint paths J -> I of
                      sign(permutation) * prod of the weights of their edges

    (valid in any acyclic graph).  If ``G`` has no ``r`` vertex-disjoint input-to-output
    paths, every ``r x r`` minor of ``M`` is zero for ANY values, so ``rank M
    < r``.  Conversely, each edge occurs at most once in a vertex-disjoint
    system and the system is recovered from its edge set, so distinct systems
    give distinct monomials that cannot cancel: if ``r`` disjoint paths
    exist, that minor is a nonzero polynomial and is nonzero for generic
    (for example random continuous) values.  Hence::

        rank M <= P, with equality for generic values,

    where ``P`` is the maximum number of vertex-disjoint paths.  By Menger's
    theorem ``P`` is also the smallest number of units whose removal
    disconnects the inputs from the outputs.  It is computed as a maximum
    flow (``scipy.sparse.csgraph.maximum_flow``) after splitting every unit
    into an in-node and an out-node joined by an edge of capacity 1, with a
    super-source feeding every input and every output feeding a super-sink.

    The per-layer bound is weaker: ``rank(A_L @ ... @ A_1) <= min_l rank
    A_l``, and ``rank A_l`` is at most its structural rank, the size of a
    maximum matching of the bipartite graph of its support
    (``scipy.sparse.csgraph.maximum_bipartite_matching``).  It misses
    mismatches between layers: units reached from the inputs that feed
    nothing, next to units that feed the outputs but are reached from nothing.

    A network's Jacobian at a point is such a product with the activations'
    diagonal derivatives interleaved, so ``rank J <= rank_bound`` at every
    input.  Equality needs generic values: a ReLU's 0/1 derivatives, a
    structured matrix such as a DCT, or ``S = 0`` can all lower the rank.

    Examples
    --------
    A 1-unit bottleneck limits the rank to 1, as does the per-layer bound:

    >>> import numpy as np
    >>> r = structural_rank([np.ones((1, 3)), np.ones((3, 1))])
    >>> r.rank_bound, r.matching_bound, r.connected
    (1, 1, True)
    """
    chain = _check_chain(supports)
    widths = [chain[0].shape[1]] + [A.shape[0] for A in chain]
    forward = np.ones(widths[0], dtype=np.int64)
    for A in chain:
        forward = (A.astype(np.int64) @ forward > 0).astype(np.int64)
    backward = np.ones(widths[-1], dtype=np.int64)
    for A in reversed(chain):
        backward = (A.T.astype(np.int64) @ backward > 0).astype(np.int64)
    layer_ranks = tuple(_layer_rank(A) for A in chain)
    return StructuralRank(
        rank_bound=_vertex_disjoint_paths(chain, widths),
        matching_bound=min(layer_ranks),
        layer_ranks=layer_ranks,
        widths=tuple(int(w) for w in widths),
        reachable_outputs=forward.astype(bool),
        live_inputs=backward.astype(bool),
    )


# -- the supports of a network ---------------------------------------------------------

_DIAGONAL = (ReLU, LeakyReLU, Tanh, Identity, Flatten)


def _chain(net, prefix=""):
    """``[(path, layer)]`` of a chain, nested chains flattened; error on anything else."""
    if not net.children():
        return [(prefix or type(net).__name__, net)]
    if not isinstance(net, Graph):
        raise ValueError(f"structural_supports: {type(net).__name__} at {prefix!r} is not a "
                         "Graph")
    out, previous = [], net.input_name
    for node in net.nodes:
        path = f"{prefix}/{node.name}" if prefix else node.name
        if node.inputs != (previous,):
            raise ValueError(f"structural_supports: node {path!r} ({type(node.layer).__name__}) "
                             f"reads {list(node.inputs)}, not just the previous value "
                             f"{previous!r}; only chain networks are supported (a residual "
                             f"block adds two paths, which a chain of supports cannot express)")
        out += _chain(node.layer, path)
        previous = node.name
    if previous != net.output:
        raise ValueError(f"structural_supports: the output {net.output!r} is not the last node")
    return out


def _conv_pattern(in_shape, out_channels, kernel, stride, padding, pattern):
    """Unit-level support of a convolution whose weight matrix has the boolean ``pattern``."""
    c, h, w = in_shape
    # 1 + the flat index of every input unit; im2col's zero padding then reads 0 = "no unit"
    index = np.arange(1, c * h * w + 1, dtype=np.int64).reshape(1, c, h, w)
    patches = im2col(index, kernel, stride, padding)[0]          # (Ho, Wo, P)
    ho, wo, p = patches.shape
    patches = patches.reshape(ho * wo, p)
    o_idx, p_idx = np.nonzero(pattern)                           # kernel entries in the support
    rows = o_idx[:, None] * (ho * wo) + np.arange(ho * wo)[None, :]   # output unit (o, pos)
    cols = patches[:, p_idx].T - 1                               # input unit, -1 for padding
    keep = cols >= 0
    data = np.ones(int(keep.sum()), dtype=np.int8)
    matrix = sp.csr_matrix((data, (rows[keep], cols[keep])),
                           shape=(out_channels * ho * wo, c * h * w))
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return matrix


def _pool_pattern(in_shape, pool):
    c, h, w = in_shape
    kh, kw = pool.kernel_size
    # each channel on its own: a (1, H, W) image, a kernel of one channel
    single = _conv_pattern((1, h, w), 1, pool.kernel_size, pool.stride, pool.padding,
                           np.ones((1, kh * kw), dtype=bool))
    return sp.block_diag([single] * c, format="csr")


def _sparse_pattern(layer) -> sp.csr_matrix:
    """0/1 int8 pattern of a sparse or DCTpS layer's matrix (S's support, and the offset's)."""
    pattern = layer.support.csr(np.ones(layer.nnz)).astype(np.int8)
    if layer.offset is not None:
        pattern = pattern + layer.offset.structure()
        pattern.data[:] = 1
    return sp.csr_matrix(pattern, dtype=np.int8)


def structural_supports(net, in_shape=None) -> list[sp.csr_matrix]:
    """The supports of a chain network's layers, ready for ``structural_rank``.

    One 0/1 int8 CSR ``(out_units, in_units)`` pattern per node that mixes
    units, in forward order; ``in_shape`` defaults to ``net.input_shape``.

    Examples
    --------
    >>> from refnet.models import build_model
    >>> net = build_model("lenet300", kind="sparse", density=1e-3, rng=0)
    >>> [s.shape for s in structural_supports(net)]
    [(300, 784), (100, 300), (10, 100)]
    >>> structural_rank(structural_supports(net)).rank_bound <= 10
    True
    """
    shape = getattr(net, "input_shape", None) if in_shape is None else tuple(in_shape)
    if shape is None:
        raise ValueError("structural_supports: the network has no input_shape; pass in_shape")
    supports = []
    for path, layer in _chain(net):
        if isinstance(layer, Linear):
            supports.append(dense_support(layer.n_out, layer.n_in))
        elif isinstance(layer, SparseLinear):
            supports.append(_sparse_pattern(layer))
        elif isinstance(layer, (Conv2d, SparseConv2d)):
            layer.output_shape(shape)                 # checks the input shape
            pattern = (_sparse_pattern(layer).toarray() != 0 if isinstance(layer, SparseConv2d)
                       else np.ones((layer.out_channels, layer.patch_size), dtype=bool))
            supports.append(_conv_pattern(shape, layer.out_channels, layer.kernel_size,
                                          layer.stride, layer.padding, pattern))
        elif isinstance(layer, (AvgPool2d, MaxPool2d)):
            layer.output_shape(shape)
            supports.append(_pool_pattern(shape, layer))
        elif not isinstance(layer, _DIAGONAL):
            raise ValueError(f"structural_supports: no structural pattern for node {path!r} "
                             f"({type(layer).__name__})")
        shape = layer.output_shape(shape)
    if not supports:
        raise ValueError("structural_supports: the network has no layer that mixes units")
    return supports
