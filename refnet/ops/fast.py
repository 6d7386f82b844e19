"""The fast implementation of a (DCT plus) sparse layer's passes: row blocks on two threads.

The plain reference is in the layers (:class:`refnet.layers.SparseLinear`,
:class:`refnet.layers.DCTpSLinear`): ``y = alpha * O @ x + S @ x + b`` and its
VJP by whole-array scipy products and one gather-and-sum.  The functions here
compute the same numbers (tested equal to 1e-12) faster on large layers: rows in
blocks of :data:`BLOCK_BYTES` keep every temporary in cache (a fresh 4 MiB array
costs about a thousand page faults on a VM); the columns of a block that ``S`` uses
are copied FEATURE-MAJOR (scipy's CSR products are 2.5x faster on those); blocks run
on two threads (scipy and numpy release the GIL); the values' cotangent gathers
in chunks of :data:`GATHER_CHUNK_BYTES` (3-6x faster than one gather); the
scipy matrices ``S`` and ``S.T`` are built once per support (and thread), and
only their values change from call to call (:func:`matrix`).  Blocks
depend only on the shapes and sums over them are taken in block order, so the
results do not depend on the number of threads.

The layers use this module while :data:`ENABLED` is true (the default, which
``refnet bench dctps`` measures); ``refnet.ops.fast.ENABLED = False`` runs the
plain reference.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse

__all__ = ["ENABLED", "BLOCK_BYTES", "GATHER_CHUNK_BYTES", "MATRIX_CACHE_SIZE", "affine",
           "affine_vjp", "value_cotangent", "matrix", "row_blocks", "map_blocks",
           "set_num_threads", "get_num_threads"]

#: Whether the sparse and DCTpS layers use this module (True) or their plain path.
ENABLED = True
#: Target size of one block of rows (512 KiB was the fastest of 256 KiB - 2 MiB at
#: n = m = 4096, batch 128, on a 2-core VM with 1 MiB L2 per core).
BLOCK_BYTES = 1 << 19
#: Bytes of one gathered chunk in :func:`value_cotangent`.
GATHER_CHUNK_BYTES = 1 << 19

_num_threads = min(2, os.cpu_count() or 1)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_inside = threading.local()
_matrices = threading.local()
#: Scipy matrices :func:`matrix` keeps, per thread (the oldest go first): three a support.
MATRIX_CACHE_SIZE = 192


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (1 or 2) for :func:`map_blocks`; the results are the same."""
    global _num_threads
    if n not in (1, 2):
        raise ValueError(f"set_num_threads: n must be 1 or 2, got {n!r}")
    _num_threads = int(n)


def get_num_threads() -> int:
    """The number of threads :func:`map_blocks` uses (1 or 2)."""
    return _num_threads


def row_blocks(n_rows: int, row_bytes: int) -> list[tuple[int, int]]:
    """``range(n_rows)`` as ``(start, stop)`` blocks of about :data:`BLOCK_BYTES`."""
    per_block = max(1, BLOCK_BYTES // max(1, int(row_bytes)))
    return [(start, min(start + per_block, n_rows)) for start in range(0, n_rows, per_block)]


def map_blocks(fn, blocks) -> list:
    """``[fn(i, start, stop) for i, (start, stop) in enumerate(blocks)]`` on up to 2 threads.

    Block ``i`` runs on thread ``i % 2``; results come back in block order; a
    call made from inside a block runs serially.
    """
    blocks = list(blocks)
    if _num_threads == 1 or len(blocks) < 2 or getattr(_inside, "active", False):
        return [fn(i, start, stop) for i, (start, stop) in enumerate(blocks)]

    def run(parity):
        _inside.active = True
        try:
            return [fn(i, *blocks[i]) for i in range(parity, len(blocks), 2)]
        finally:
            _inside.active = False

    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refnet-rows")
    odd = _pool.submit(run, 1)
    results = [None] * len(blocks)
    results[0::2] = run(0)
    results[1::2] = odd.result()
    return results


def value_cotangent(support, yt, xt, cols=None) -> np.ndarray:
    """:meth:`CSRSupport.value_cotangent` on FEATURE-MAJOR operands, in chunks.

    ``yt`` (m, K*N) holds ``K`` stacked copies of the batch (column ``l*N + b``),
    ``xt`` (n, N) (or only the rows ``cols`` names for the entries, default
    ``support.cols``); returns ``(K, nnz)``.  The rows ``xt[cols[k]]`` and
    ``yt[rows[k]]`` are gathered into two preallocated chunks (``mode="clip"``:
    the support's indices are valid by construction, and ``mode="raise"`` would
    buffer a second copy), multiplied and summed row by row (``np.vecdot``, not a
    multi-threaded BLAS call whose spinning worker slows the other thread).
    """
    batch = xt.shape[1]
    cols = support.cols if cols is None else cols
    k_lead = yt.shape[1] // batch
    dtype = np.result_type(xt, yt)
    xt, yt = xt.astype(dtype, copy=False), yt.astype(dtype, copy=False)
    out = np.empty((support.nnz, k_lead), dtype=dtype)
    if support.nnz == 0:
        return np.zeros((k_lead, 0), dtype=dtype)
    if batch == 1:
        np.multiply(yt[support.rows], xt[cols], out=out)
        return np.ascontiguousarray(out.T)
    chunk = min(support.nnz, max(1, GATHER_CHUNK_BYTES // (dtype.itemsize * yt.shape[1])))
    xg, yg = np.empty((chunk, batch), dtype=dtype), np.empty((chunk, yt.shape[1]), dtype=dtype)
    for lo in range(0, support.nnz, chunk):
        size = min(chunk, support.nnz - lo)
        np.take(xt, cols[lo:lo + size], axis=0, out=xg[:size], mode="clip")
        np.take(yt, support.rows[lo:lo + size], axis=0, out=yg[:size], mode="clip")
        _vecdot(yg[:size].reshape(size, k_lead, batch), xg[:size, None, :], out=out[lo:lo + size])
    return np.ascontiguousarray(out.T)


def matrix(support, values, transpose: bool = False, columns: bool = False):
    """``support.csr(values)`` (``transpose``: ``support.csr_transpose(values)``), cached.

    Building a scipy matrix costs 10-45 us (its checks), as much as a small
    product: the matrix is built once per support, dtype and thread, then only
    its ``data`` is pointed at ``values``.  The cache holds the support itself,
    so a key ``id(support)`` cannot be reused by another object while cached.
    ``columns=True`` returns ``(S_used, used)`` for ``S``: ``S`` on the columns ``used``
    that hold entries, renumbered, so that ``S @ x == S_used @ x[used]`` exactly (the
    same products, summed in the same order) from a copy of only those rows of ``x``;
    ``(S, None)`` if they are over half the columns (then copying all of ``x`` is faster).
    """
    values = np.asarray(values)
    cache = _matrices.__dict__.setdefault("cache", {})
    key = (id(support), transpose, columns, values.dtype)
    held = cache.get(key)
    if held is None or values.shape != (support.nnz,):
        if len(cache) >= MATRIX_CACHE_SIZE:
            del cache[next(iter(cache))]
        S = support.csr_transpose(values) if transpose else support.csr(values)
        used = None
        if columns:
            used, cols = np.unique(support.cols, return_inverse=True)
            if 2 * len(used) > S.shape[1]:
                used = None
            else:
                S = scipy.sparse.csr_matrix((values, cols, S.indptr), copy=False,
                                            shape=(S.shape[0], len(used)))
        held = (support, S, used)
        cache[key] = held
    held[1].data = values
    return held[1:] if columns else held[1]


def _vecdot(a, b, out):
    if hasattr(np, "vecdot"):                                       # numpy >= 2
        return np.vecdot(a, b, out=out)
    return np.einsum("...i,...i->...", a, b, out=out)


def _blocks(support, n_rows):
    return row_blocks(n_rows, 8 * max(support.shape))


def _feature_major(xb, used):
    """The rows ``used`` of ``xb.T`` (all of them if None), C-contiguous."""
    return np.ascontiguousarray(xb.T) if used is None else xb.T[used]


def affine(support, values, x2, offset=None, alpha=1.0, b=None) -> np.ndarray:
    """``y2 = alpha * offset.apply(x2) + (S @ x2.T).T (+ b)`` for rows ``x2`` (N, n)."""
    S, used = matrix(support, values, columns=True)
    y2 = np.empty((x2.shape[0], support.shape[0]), dtype=np.result_type(x2, values))

    def block(i, r0, r1):
        xb, yb = x2[r0:r1], y2[r0:r1]
        s_part = S @ _feature_major(xb, used)                       # (m, nb)
        if offset is None:
            np.copyto(yb, s_part.T)
        else:
            np.multiply(offset.apply(xb), alpha, out=yb)
            yb += s_part.T
        if b is not None:
            yb += b

    map_blocks(block, _blocks(support, x2.shape[0]))
    return y2


def affine_vjp(support, values, x2, y3, offset=None, alpha=1.0, *, need_values=True,
               need_alpha=False, need_b=False, need_input=True):
    """The VJP of :func:`affine` for ``y3`` (K, N, m): ``(x3_bar (K, N, n), grads)``.

    ``grads`` holds ``"S"`` (K, nnz), ``"alpha"`` (K,) and ``"b"`` (K, m) as asked;
    ``x3_bar`` is None unless ``need_input``.
    """
    k_lead, n_rows, m = y3.shape
    n = support.shape[1]
    S_T = matrix(support, values, transpose=True)
    S_used, used = matrix(support, values, columns=True)
    x3_bar = np.empty((k_lead, n_rows, n), dtype=np.result_type(y3, values)) \
        if need_input else None

    def block(i, r0, r1):
        nb = r1 - r0
        yb = y3[:, r0:r1]
        ybt = np.ascontiguousarray(yb.reshape(k_lead * nb, m).T)   # (m, K*nb)
        grads = {}
        if offset is not None and (need_input or need_alpha):
            ob = offset.adjoint(yb)                                 # (K, nb, n)
            if need_alpha:
                grads["alpha"] = np.einsum("lrj,rj->l", ob, x2[r0:r1])
            if need_input:
                np.multiply(ob, alpha, out=x3_bar[:, r0:r1])
            del ob
        if need_input:
            s_part = (S_T @ ybt).T.reshape(k_lead, nb, n)
            if offset is None:
                np.copyto(x3_bar[:, r0:r1], s_part)
            else:
                x3_bar[:, r0:r1] += s_part
            del s_part
        if need_values:
            grads["S"] = value_cotangent(support, ybt, _feature_major(x2[r0:r1], used),
                                         S_used.indices)
        if need_b:
            grads["b"] = yb.sum(axis=1)
        return grads

    partials = map_blocks(block, _blocks(support, n_rows))
    shapes = {"S": (support.nnz,), "alpha": (), "b": (m,)}
    wanted = [k for k, w in (("S", need_values), ("alpha", need_alpha and offset is not None),
                             ("b", need_b)) if w]
    grads = {}
    for key in wanted:
        total = partials[0][key] if partials else np.zeros((k_lead,) + shapes[key])
        for part in partials[1:]:                                   # in block order
            total = total + part[key]
        grads[key] = total
    return x3_bar, grads
