"""Cut a batch into blocks of rows and run the blocks on the machine's cores.

A DCTpS pass over a batch is a sequence of whole-array steps (a transposed
copy, a CSR product, a DCT, an in-place update).  On a ``(128, 4096)`` batch
every temporary is 4 MiB: it leaves the core's L2 cache, and a fresh one
can cost about a thousand page faults (on the 2-core VM of refnet's
measurements, a few milliseconds per pass).  Cutting the batch into blocks of
about :data:`BLOCK_BYTES` keeps the temporaries small, cache-resident and
recycled by the allocator; independent blocks then run on two threads
(``scipy.fft``, ``scipy.sparse`` products and numpy copies release the GIL).

Results never depend on the number of threads: block boundaries depend only
on the shapes, each block is computed by the same code whichever thread runs
it, each writes its own rows, and anything summed over blocks is summed by the
caller in block order.  :func:`set_num_threads` (1 = serial) exists for
measurements and tests.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

__all__ = ["BLOCK_BYTES", "row_blocks", "map_blocks", "set_num_threads", "get_num_threads"]

#: Target size of one block of rows (of the widest array a block touches).
#: 512 KiB was the fastest of 256 KiB to 2 MiB for a DCTpS layer at n = m = 4096,
#: batch 128, on a 2-core VM (1 MiB L2 per core).
BLOCK_BYTES = 1 << 19

_num_threads = min(2, os.cpu_count() or 1)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_inside = threading.local()


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
    """Split ``range(n_rows)`` into ``(start, stop)`` blocks of about :data:`BLOCK_BYTES`.

    ``row_bytes`` is the size of one row of the widest array involved.  The
    blocks depend only on these two numbers.
    """
    per_block = max(1, BLOCK_BYTES // max(1, int(row_bytes)))
    return [(start, min(start + per_block, n_rows)) for start in range(0, n_rows, per_block)]


def map_blocks(fn: Callable[[int, int, int], object], blocks) -> list:
    """``[fn(i, start, stop) for i, (start, stop) in enumerate(blocks)]``, on up to two threads.

    Block ``i`` runs on thread ``i % 2``; the results come back in block
    order.  A call made from inside a block runs serially.
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

    odd = _get_pool().submit(run, 1)
    even = run(0)
    results = [None] * len(blocks)
    results[0::2] = even
    results[1::2] = odd.result()
    return results


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refnet-rows")
        return _pool
