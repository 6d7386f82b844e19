"""A chain network as the input of :func:`refnet.spectra.structural_rank`.

``structural_rank`` takes the supports of a chain of linear maps between
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

import numpy as np
import scipy.sparse as sp

from ..core.graph import Graph
from ..layers import (AvgPool2d, Conv2d, Flatten, Identity, LeakyReLU, Linear, MaxPool2d,
                      ReLU, SparseConv2d, SparseLinear, Tanh)
from ..ops.im2col import im2col
from ..spectra.structural import dense_support

__all__ = ["structural_supports"]

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
    >>> from refnet.spectra import structural_rank
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
