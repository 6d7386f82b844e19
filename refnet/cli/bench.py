"""``refnet bench``: timings against baselines measured in the same run.

Every benchmark reports ratios against a baseline timed in the same process,
interleaved with it, as medians of several repeats: absolute times depend on
the machine, ratios much less.  Each also checks, before timing anything,
that the fast method and its baseline compute the same numbers.

``refnet bench dctps`` (the default) times one forward + VJP of a
:class:`~refnet.layers.DCTpSLinear` layer (everything: the DCT, ``S``, the
value cotangents, ``alpha``, the bias) against

* the ORIGINAL implementation's method: the DCT materialised as a dense
  ``(n, m)`` matrix and ``S`` a dense ``(m, n)`` matrix with a 0/1 mask,
  applied by numpy matmuls::

      forward   y      = alpha * (x @ f) + x @ W.T + b       two dense matmuls
      backward  x_bar  = alpha * (y_bar @ f.T) + y_bar @ W   two dense matmuls
                W_bar  = (y_bar.T @ x) * mask                one dense matmul
                alpha_bar = sum(y_bar * (x @ f)),  b_bar = sum_b y_bar

  (``f = dct(eye(q), norm='ortho')[:n, :m]``, ``W`` zero off the support:
  what PyTorch runs for the original ``DCTplusLinear`` with its gradient mask);
* a dense :class:`~refnet.layers.Linear` of the same shape.

It also measures this machine's memory bandwidth (a large array copy) and
reports the time of the layer's two transforms (``D @ x`` and
``D.T @ y_bar``) against the time that moving their data at that bandwidth
would take.

``refnet bench offsets`` times the same step for each fixed offset of
:mod:`refnet.ops.offsets` (same support, same parameters), with its ratio to
the DCT's (:func:`run_offsets`).  Other benchmarks register in
:data:`BENCHMARKS`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import tracemalloc
from typing import Callable

import numpy as np
import scipy

from refnet.layers import DCTpSLinear, Linear
from refnet.ops import fast
from refnet.ops.offsets import OFFSETS, RANDOM_OFFSETS
from refnet.cli.bench_jacobian import benchmark_jacobian

__all__ = ["BENCHMARKS", "jacobian_table", "DCTPS_CASES", "QUICK_CASES", "run_dctps",
           "dctps_table", "run_offsets", "offsets_table", "median_time", "steady_medians",
           "peak_memory", "memory_bandwidth", "OriginalDCTplusLinear", "configure_parser",
           "run_command"]

#: ``(n, m)`` shapes and batches of ``refnet bench dctps`` (issue 3).
DCTPS_CASES = [((256, 256), (1, 128)), ((1024, 1024), (1, 128)), ((4096, 4096), (1, 128)),
               ((3072, 512), (1, 128)), ((512, 3072), (1, 128))]
#: A few small cases for ``--quick`` (tests, smoke runs).
QUICK_CASES = [((64, 64), (1, 8)), ((96, 32), (4,))]


# -- measuring -------------------------------------------------------------------
def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` (one untimed call first; each
    call's result is kept until the next one returns, see :func:`steady_medians`)."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    del result
    return float(np.median(times))


def steady_medians(fns: dict[str, Callable[[], object]], repeats: int, rounds: int = 3,
                   warmup_s: float = 0.2):
    """Median time of each function in steady state, and of its first call in a round.

    In each of ``rounds`` rounds, each function in turn is called once (its
    "cold" time: right after the OTHER functions ran, with the caches, the TLB
    and the allocator full of their data), then called untimed for
    ``warmup_s`` seconds, then timed ``ceil(repeats / rounds)`` times in a
    row: its steady state, as in consecutive steps of a training loop.  Rounds
    interleave the functions, so a drift of the machine (a busy neighbour,
    clock changes) spreads over all of them.

    As in a training loop (``y, grads = step()`` at every iteration), each
    call's results stay alive until the next call has returned.  (Freeing them
    first makes glibc return the memory to the kernel, and the next call then
    pays a page fault per 4 KiB it writes; the baseline's huge arrays come
    from fresh mappings either way.)

    Returns
    -------
    steady, cold : dict of str -> float
        Median seconds per function.
    """
    per_round = -(-repeats // rounds)
    steady: dict[str, list] = {name: [] for name in fns}
    cold: dict[str, list] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            result = fn()
            cold[name].append(time.perf_counter() - start)
            warm_until = time.perf_counter() + warmup_s
            while time.perf_counter() < warm_until:
                result = fn()
            for _ in range(per_round):
                start = time.perf_counter()
                result = fn()       # the previous results are freed only now, as in a loop
                steady[name].append(time.perf_counter() - start)
            del result
    return ({name: float(np.median(t)) for name, t in steady.items()},
            {name: float(np.median(t)) for name, t in cold.items()})


def peak_memory(fn: Callable[[], object]) -> int:
    """Peak bytes traced by ``tracemalloc`` during one call of ``fn`` (its temporaries and
    results; memory that exists before the call is not counted)."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(0, peak - base)


def memory_bandwidth(n_bytes: int = 1 << 28, repeats: int = 5) -> float:
    """Bytes per second of ``np.copyto`` between two arrays of ``n_bytes`` each.

    A copy reads and writes every byte, so the rate is ``2 * n_bytes / time``.
    """
    src = np.ones(n_bytes // 8)
    dst = np.empty_like(src)
    return 2 * src.nbytes / median_time(lambda: np.copyto(dst, src), repeats)


class _CPUShare:
    """Share of the machine's CPU time used by OTHER processes while measuring (Linux).

    A busy neighbour changes absolute timings; the report says so instead of
    hiding it.  ``None`` where ``/proc/stat`` does not exist.
    """

    def __enter__(self):
        self.start = self._snapshot()
        return self

    def __exit__(self, *exc):
        end = self._snapshot()
        self.value = None
        if self.start is not None and end is not None:
            total = end[0] - self.start[0]
            busy = total - (end[1] - self.start[1])
            own = (end[2] - self.start[2]) * os.sysconf("SC_CLK_TCK")
            self.value = max(0.0, (busy - own) / total) if total > 0 else 0.0

    @staticmethod
    def _snapshot():
        try:
            with open("/proc/stat") as f:
                ticks = [int(v) for v in f.readline().split()[1:8]]
        except OSError:
            return None
        t = os.times()
        return sum(ticks), ticks[3] + ticks[4], t.user + t.system


# -- the original implementation's method ------------------------------------------
class OriginalDCTplusLinear:
    """The original DCTpS code's arithmetic, in numpy: dense frozen DCT, masked dense S.

    Parameters
    ----------
    layer : DCTpSLinear
        The layer whose function to reproduce (its support becomes the mask).
    params : dict
        Its parameters.
    """

    def __init__(self, layer: DCTpSLinear, params: dict):
        self.f = np.ascontiguousarray(layer.offset.matrix().T)     # (n, m), the original's f
        self.W = np.ascontiguousarray(layer.support.to_dense(params["S"]))   # (m, n)
        self.mask = (np.zeros_like(self.W))
        self.mask[layer.rows, layer.cols] = 1.0
        self.alpha = float(params["alpha"])
        self.b = params["b"]

    def state_bytes(self) -> int:
        """Bytes of the arrays this method keeps: ``f``, ``W``, the mask and the bias."""
        return self.f.nbytes + self.W.nbytes + self.mask.nbytes + self.b.nbytes

    def step(self, x, y_bar):
        """Forward and backward: ``(y, x_bar, W_bar, alpha_bar, b_bar)``."""
        dx = x @ self.f
        y = self.alpha * dx + x @ self.W.T + self.b
        x_bar = self.alpha * (y_bar @ self.f.T) + y_bar @ self.W
        W_bar = (y_bar.T @ x) * self.mask
        return y, x_bar, W_bar, np.sum(y_bar * dx), y_bar.sum(axis=0)


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b), initial=0.0) / max(np.max(np.abs(b), initial=0.0), 1e-300))


# -- the dctps benchmark ----------------------------------------------------------
def _dctps_case(n, m, batch, density, repeats, seed, warmup_s):
    rng = np.random.default_rng(seed)
    layer = DCTpSLinear(n, m, density=density, rng=rng)
    params = layer.init(rng)
    params = dict(params, S=rng.standard_normal(layer.nnz), alpha=np.array(0.7),
                  b=rng.standard_normal(m))
    x = rng.standard_normal((batch, n))
    y_bar = rng.standard_normal((batch, m))
    original = OriginalDCTplusLinear(layer, params)
    dense = Linear(n, m)
    dense_params = dense.init(rng)

    def dctps_step():
        y, cache = layer.forward(params, x)
        return y, layer.vjp(params, cache, y_bar)

    def dense_step():
        y, cache = dense.forward(dense_params, x)
        return y, dense.vjp(dense_params, cache, y_bar)

    # the same numbers first: every output of the step, to 1e-10 relative
    y, (x_bar, grads) = dctps_step()
    y_o, x_bar_o, W_bar_o, alpha_bar_o, b_bar_o = original.step(x, y_bar)
    errors = {"y": _rel(y, y_o), "x_bar": _rel(x_bar, x_bar_o),
              "S_bar": _rel(grads["S"], W_bar_o[layer.rows, layer.cols]),
              "alpha_bar": _rel(grads["alpha"], alpha_bar_o), "b_bar": _rel(grads["b"], b_bar_o)}
    if max(errors.values()) > 1e-10:
        raise RuntimeError(f"bench dctps: DCTpS and the original's method disagree at "
                           f"n={n}, m={m}, batch={batch}: relative errors {errors}")
    del y, x_bar, grads, y_o, x_bar_o, W_bar_o

    times, cold = steady_medians({"original": lambda: original.step(x, y_bar),
                                  "dense": dense_step, "dctps": dctps_step}, repeats,
                                 warmup_s=warmup_s)
    D = layer.offset
    dct_s = median_time(lambda: (D.apply(x), D.adjoint(y_bar)), repeats)
    parts = _dctps_parts(layer, params, x, y_bar, repeats)
    memory = {"dctps": peak_memory(dctps_step), "original": peak_memory(
        lambda: original.step(x, y_bar)), "dense": peak_memory(dense_step)}
    state = {"dctps": sum(a.nbytes for a in (layer.support.rows, layer.support.cols,
                                              layer.support.indices, layer.support.indptr))
             + sum(np.asarray(v).nbytes for v in params.values()),
             "original": original.state_bytes(),
             "dense": sum(v.nbytes for v in dense_params.values())}
    return {"n": n, "m": m, "batch": batch, "density": density, "nnz": layer.nnz,
            "dctps_s": times["dctps"], "dense_dct_s": times["original"],
            "dense_linear_s": times["dense"],
            "cold_s": cold,
            "speedup": times["original"] / times["dctps"],
            "speedup_vs_dense_linear": times["dense"] / times["dctps"],
            "dct_s": dct_s, "dct_bytes": 2 * 8 * batch * (n + m), "parts_s": parts,
            "peak_bytes": memory, "state_bytes": state, "max_rel_error": max(errors.values())}


def _dctps_parts(layer, params, x, y_bar, repeats) -> dict:
    """Whole-batch, single-threaded times of the pieces a DCTpS pass is made of.

    The pass itself does each piece block by block on two threads, and does
    three transposed copies (``x`` in the forward pass, ``y_bar`` and ``x``
    again in the VJP) and two transposed in-place additions; this breakdown
    says where the time goes, not how the pass schedules it.
    """
    D, support = layer.offset, layer.support
    S, S_T = support.csr(params["S"]), support.csr_transpose(params["S"])
    xt, yt = np.ascontiguousarray(x.T), np.ascontiguousarray(y_bar.T)
    pieces = {"dct": lambda: D.apply(x), "idct": lambda: D.adjoint(y_bar),
              "transpose_x": lambda: np.ascontiguousarray(x.T),
              "transpose_y_bar": lambda: np.ascontiguousarray(y_bar.T),
              "S_matmat": lambda: S @ xt, "S_T_matmat": lambda: S_T @ yt,
              "value_cotangent": lambda: fast.value_cotangent(support, yt, xt)}
    previous = fast.get_num_threads()
    fast.set_num_threads(1)
    try:
        return {name: median_time(fn, repeats) for name, fn in pieces.items()}
    finally:
        fast.set_num_threads(previous)


def run_dctps(cases=None, *, density: float = 1e-3, repeats: int = 9, seed: int = 0,
              bandwidth_bytes: int = 1 << 28, warmup_s: float = 0.2, progress=None) -> dict:
    """Run the DCTpS benchmark; returns the JSON-ready report.

    Parameters
    ----------
    cases : list of ((n, m), batches), optional
        Default :data:`DCTPS_CASES`.
    density : float
        Density of ``S``.
    repeats : int
        Timed calls per method (medians are reported), in 3 rounds.
    seed : int
    bandwidth_bytes : int
        Size of each array of the bandwidth copy.
    warmup_s : float
        Untimed calls before each method's timed calls in a round (seconds).
    progress : callable, optional
        ``progress(str)`` after each case.

    Returns
    -------
    dict
        ``{"cases": [...], "bandwidth_bytes_per_s": float, ...}``; each case has
        ``n``, ``m``, ``batch``, ``dctps_s``, ``dense_dct_s`` (the original's
        method), ``speedup``, and more (``dense_linear_s``, ``dct_s``,
        ``dct_bound_s``, peak memory, ...).
    """
    cases = DCTPS_CASES if cases is None else cases
    with _CPUShare() as share:
        bandwidth = memory_bandwidth(bandwidth_bytes)
        rows = []
        for (n, m), batches in cases:
            for batch in batches:
                row = _dctps_case(n, m, batch, density, repeats, seed, warmup_s)
                row["dct_bound_s"] = row["dct_bytes"] / bandwidth
                rows.append(row)
                if progress:
                    progress(f"n={n} m={m} batch={batch}: DCTpS {row['dctps_s'] * 1e3:.3f} ms, "
                             f"original {row['dense_dct_s'] * 1e3:.2f} ms, "
                             f"{row['speedup']:.0f}x")
    return {"benchmark": "dctps", "cases": rows, "bandwidth_bytes_per_s": bandwidth,
            "repeats": repeats, "warmup_s": warmup_s, "density": density, "float": "float64",
            "threads": fast.get_num_threads(), "cpu_count": os.cpu_count(),
            "other_processes_cpu_share": share.value,
            "numpy": np.__version__, "scipy": scipy.__version__,
            "python": platform.python_version(), "machine": platform.machine()}


def dctps_table(report: dict) -> str:
    """The report as markdown: the timing table, and where a DCTpS step's time goes."""
    head = ("| n -> m | batch | nnz | DCTpS | DCTpS, first call | original (dense D, "
            "masked S) | speedup | dense Linear | vs dense | DCT part | DCT at memory "
            "bandwidth | peak MiB: DCTpS / original / dense |")
    lines = [head, "|" + " --- |" * 12]
    for r in report["cases"]:
        mib = {k: v / 2**20 for k, v in r["peak_bytes"].items()}
        lines.append(
            f"| {r['n']} -> {r['m']} | {r['batch']} | {r['nnz']} | {_ms(r['dctps_s'])} "
            f"| {_ms(r['cold_s']['dctps'])} "
            f"| {_ms(r['dense_dct_s'])} | {_ratio(r['speedup'])} | {_ms(r['dense_linear_s'])} "
            f"| {_ratio(r['speedup_vs_dense_linear'])} | {_ms(r['dct_s'])} "
            f"| {_ms(r['dct_bound_s'])} "
            f"| {mib['dctps']:.2f} / {mib['original']:.1f} / {mib['dense']:.1f} |")
    share = report.get("other_processes_cpu_share")
    lines.append("")
    lines.append(f"float64, density {report['density']:g}, one forward + VJP, medians of "
                 f"{report['repeats']} steady-state calls in 3 interleaved rounds (first "
                 f"call: the median of each round's first call, right after the other "
                 f"methods ran), {report['threads']} thread(s) for DCTpS, memory "
                 f"bandwidth {report['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s (copy), "
                 f"numpy {report['numpy']}, scipy {report['scipy']}, {report['cpu_count']} "
                 f"cores" + (f", other processes used {100 * share:.0f}% of the CPU during "
                             f"the run" if share is not None else "") + ".")
    if share is not None and share > 0.05:
        lines.append("")
        lines.append(f"**Warning: other processes used {100 * share:.0f}% of the CPU during "
                     f"this run.** The multi-threaded BLAS baselines suffer most, so the "
                     f"speedups above are inflated; rerun on a quiet machine.")
    largest = max(r["n"] * r["m"] for r in report["cases"])
    big = [r for r in report["cases"] if r["n"] * r["m"] == largest]
    names = {"dct": "`D @ x` (dct)", "idct": "`D.T @ y_bar` (idct)",
             "transpose_x": "transposed copy of `x` (the step makes two)",
             "transpose_y_bar": "transposed copy of `y_bar`",
             "S_matmat": "`S @ x` (CSR)", "S_T_matmat": "`S.T @ y_bar` (CSR)",
             "value_cotangent": "`S_bar`, gathered"}
    lines += ["", f"Where the time of a DCTpS step goes at n = {big[0]['n']}, m = {big[0]['m']}: "
                  f"each piece alone, single-threaded, over the whole batch (the step itself "
                  f"runs them block by block on {report['threads']} thread(s), plus the "
                  f"in-place updates):", "",
              "| piece | " + " | ".join(f"batch {r['batch']}" for r in big) + " |",
              "|" + " --- |" * (1 + len(big))]
    for key, label in names.items():
        lines.append(f"| {label} | " + " | ".join(_ms(r["parts_s"][key]) for r in big) + " |")
    lines.append("| sum of the pieces | " + " | ".join(
        _ms(sum(r["parts_s"].values())) for r in big) + " |")
    lines.append("| the whole step | " + " | ".join(_ms(r["dctps_s"]) for r in big) + " |")
    return "\n".join(lines)


def _ratio(r: float) -> str:
    return f"{r:.0f}x" if r >= 10 else f"{r:.1f}x" if r >= 1 else f"{r:.2f}x"


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3f} ms" if ms < 1 else f"{ms:.2f} ms" if ms < 100 else f"{ms:.0f} ms"


# -- the offsets benchmark ----------------------------------------------------------
def _offset_layers(n, m, density, seed):
    """One DCTpSLinear per offset, all on the same support, with the same parameters."""
    rng = np.random.default_rng(seed)
    base = DCTpSLinear(n, m, density=density, rng=rng)
    layers = {}
    for offset in OFFSETS:
        start = time.perf_counter()
        layers[offset] = DCTpSLinear(n, m, support=base.support, offset=offset,
                                     offset_seed=seed + 1 if offset in RANDOM_OFFSETS else None)
        layers[offset].setup_s = time.perf_counter() - start
    S, b = rng.standard_normal(base.nnz), rng.standard_normal(m)
    params = {offset: dict(layer.init(0), S=S, b=b) for offset, layer in layers.items()}
    for offset, p in params.items():
        if "alpha" in p:
            p["alpha"] = np.array(0.7)
    return layers, params


def _check_offset_layer(layer, params, x, y_bar, name):
    """Every output of one forward + VJP against the dense matrix ``alpha * O + S``."""
    S = layer.support.to_dense(params["S"])
    O = None if layer.offset is None else layer.offset.matrix()
    W = S if O is None else S + float(params["alpha"]) * O
    y, cache = layer.forward(params, x)
    x_bar, grads = layer.vjp(params, cache, y_bar)
    errors = {"y": _rel(y, x @ W.T + params["b"]), "x_bar": _rel(x_bar, y_bar @ W),
              "S_bar": _rel(grads["S"], (y_bar.T @ x)[layer.rows, layer.cols]),
              "b_bar": _rel(grads["b"], y_bar.sum(axis=0))}
    if O is not None:
        errors["alpha_bar"] = _rel(grads["alpha"], np.sum(y_bar * (x @ O.T)))
    if max(errors.values()) > 1e-10:
        raise RuntimeError(f"bench offsets: the {name!r} layer disagrees with its dense matrix: "
                           f"relative errors {errors}")
    return max(errors.values())


def _offset_state_bytes(layer) -> int:
    """Bytes the offset itself keeps (its arrays), 0 for the DCT, the identity and none."""
    offset = layer.offset
    if offset is None:
        return 0
    return sum(v.nbytes for v in vars(offset).values() if isinstance(v, np.ndarray))


def run_offsets(n: int = 4096, m: int = 4096, batches=(128, 1), *, density: float = 1e-3,
                repeats: int = 9, seed: int = 0, warmup_s: float = 0.2, progress=None) -> dict:
    """Time one forward + VJP of a DCTpSLinear with each offset; returns the JSON-ready report.

    Every layer has the same support and the same values of ``S``, ``alpha``
    and ``b``; only the offset differs (:data:`refnet.ops.offsets.OFFSETS`).
    Before timing, each layer's outputs and cotangents are checked against the
    dense matrix ``alpha * O + S`` (built from ``O.matrix()``) to 1e-10
    relative.  Timing is :func:`steady_medians`' (interleaved rounds, medians,
    results kept alive as in a training loop), the method of ``bench dctps``.

    Parameters
    ----------
    n, m : int
        Inputs and outputs.
    batches : sequence of int
    density : float
        Density of ``S``.
    repeats : int
        Timed calls per offset (medians are reported), in 3 rounds.
    seed : int
    warmup_s : float
        Untimed calls before each offset's timed calls in a round (seconds).
    progress : callable, optional
        ``progress(str)`` after each batch size.

    Returns
    -------
    dict
        ``{"cases": [{"batch", "times_s": {offset: s}, "ratio_to_dct": {offset:
        ratio}, "offset_s": {offset: s}, ...}], "setup_s": {offset: s},
        "offset_bytes": {offset: int}, ...}``.  ``offset_s`` is ``O @ x`` plus
        ``O.T @ y_bar`` alone over the whole batch on one thread (the offset's
        own share of a step).
    """
    with _CPUShare() as share:
        layers, params = _offset_layers(n, m, density, seed)
        rng = np.random.default_rng(seed + 2)
        rows = []
        for batch in batches:
            x, y_bar = rng.standard_normal((batch, n)), rng.standard_normal((batch, m))
            errors = {o: _check_offset_layer(layers[o], params[o], x, y_bar, o)
                      for o in OFFSETS}

            def step(offset, x=x, y_bar=y_bar):
                layer, p = layers[offset], params[offset]
                y, cache = layer.forward(p, x)
                return y, layer.vjp(p, cache, y_bar)

            steady, cold = steady_medians({o: (lambda o=o: step(o)) for o in OFFSETS}, repeats,
                                          warmup_s=warmup_s)
            alone = {}
            previous = fast.get_num_threads()
            fast.set_num_threads(1)
            try:
                for o in OFFSETS:
                    O = layers[o].offset
                    alone[o] = 0.0 if O is None else median_time(
                        lambda O=O: (O.apply(x), O.adjoint(y_bar)), repeats)
            finally:
                fast.set_num_threads(previous)
            rows.append({"batch": batch, "times_s": steady, "cold_s": cold,
                         "ratio_to_dct": {o: steady[o] / steady["dct"] for o in OFFSETS},
                         "offset_s": alone, "max_rel_error": max(errors.values())})
            if progress:
                progress(f"batch {batch}: " + ", ".join(
                    f"{o} {steady[o] * 1e3:.3f} ms" for o in OFFSETS))
    return {"benchmark": "offsets", "n": n, "m": m, "density": density,
            "nnz": layers["dct"].nnz, "cases": rows,
            "setup_s": {o: layers[o].setup_s for o in OFFSETS},
            "offset_bytes": {o: _offset_state_bytes(layers[o]) for o in OFFSETS},
            "repeats": repeats, "warmup_s": warmup_s, "float": "float64",
            "threads": fast.get_num_threads(), "cpu_count": os.cpu_count(),
            "other_processes_cpu_share": share.value,
            "numpy": np.__version__, "scipy": scipy.__version__,
            "python": platform.python_version(), "machine": platform.machine()}


#: What each offset is, for the table.
_OFFSET_NOTES = {"dct": "C[:m, :n], scipy.fft", "randomized-dct": "P_out C[:m, :n] diag(s) P_in",
                 "orthogonal": "stored m x n, BLAS", "identity": "I[:m, :n]",
                 "none": "plain sparse (S only)"}


def offsets_table(report: dict) -> str:
    """The offsets report as markdown: time per step and its ratio to the DCT, per batch."""
    cases = report["cases"]
    head = "| offset | O | " + " | ".join(
        f"batch {c['batch']}: step | vs dct | O and O.T alone" for c in cases) + \
        " | offset storage | setup |"
    lines = [head, "|" + " --- |" * (4 + 3 * len(cases))]
    for o in report["setup_s"]:
        cells = []
        for c in cases:
            cells += [_ms(c["times_s"][o]), f"{c['ratio_to_dct'][o]:.2f}x",
                      _ms(c["offset_s"][o]) if c["offset_s"][o] else "-"]
        size = report["offset_bytes"][o]
        storage = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.0f} KiB"
        lines.append(f"| {o} | {_OFFSET_NOTES.get(o, '')} | " + " | ".join(cells)
                     + f" | {storage} | {_ms(report['setup_s'][o])} |")
    share = report.get("other_processes_cpu_share")
    ratios = ", ".join(f"{c['ratio_to_dct']['randomized-dct']:.2f}x at batch {c['batch']}"
                       for c in cases)
    lines += ["", f"DCTpSLinear n = {report['n']} -> m = {report['m']}, density "
              f"{report['density']:g} ({report['nnz']} entries of S, the same support for "
              f"every offset), float64, one forward + VJP (every cotangent), medians of "
              f"{report['repeats']} steady-state calls in 3 interleaved rounds, "
              f"{report['threads']} thread(s) for the layer's row blocks; 'O and O.T alone': "
              f"the offset's two products over the whole batch, not in blocks (numpy's BLAS, "
              f"which may use every core, for the orthogonal one); numpy {report['numpy']}, scipy "
              f"{report['scipy']}, {report['cpu_count']} cores"
              + (f", other processes used {100 * share:.0f}% of the CPU during the run"
                 if share is not None else "") + ".",
              "", f"randomized-dct / dct: {ratios} (the goal: at most 1.5x)."]
    if share is not None and share > 0.05:
        lines += ["", f"**Warning: other processes used {100 * share:.0f}% of the CPU during "
                      f"this run; rerun on a quiet machine.**"]
    return "\n".join(lines)


#: name -> (run(args) -> report, table(report) -> str)
BENCHMARKS: dict[str, tuple[Callable, Callable]] = {
    "dctps": (lambda args: run_dctps(QUICK_CASES if args.quick else None,
                                     repeats=args.repeats or (3 if args.quick else 9),
                                     seed=args.seed,
                                     bandwidth_bytes=(1 << 24) if args.quick else (1 << 28),
                                     warmup_s=0.01 if args.quick else 0.2,
                                     progress=None if args.json else _stderr),
              dctps_table),
    "jacobian": (lambda args: benchmark_jacobian(
                     widths=(64, 32, 32, 10) if args.quick else (784,) + (256,) * 6 + (10,),
                     n_inputs=8 if args.quick else 100,
                     repeats=args.repeats or (2 if args.quick else 10), seed=args.seed),
                 lambda report: jacobian_table(report)),
    "offsets": (lambda args: run_offsets(*((256, 256, (8, 1)) if args.quick else ()),
                                         repeats=args.repeats or (3 if args.quick else 9),
                                         seed=args.seed, warmup_s=0.01 if args.quick else 0.2,
                                         progress=None if args.json else _stderr),
                offsets_table),
}


def jacobian_table(report: dict) -> str:
    """The Jacobian benchmark as markdown: each method's median time and its ratio."""
    widths = "-".join(map(str, report["widths"]))
    lines = [f"Exact Jacobian of a {widths} ReLU MLP at {report['n_inputs']} inputs "
             f"(shape {tuple(report['jacobian_shape'])}), medians of {report['repeats']}:", "",
             "| method | time | time / batched | max rel. diff. to batched |",
             "| --- | ---: | ---: | ---: |"]
    for name, seconds in report["seconds"].items():
        ratio = 1.0 if name == "batched" else report["speedup"][name]
        diff = 0.0 if name == "batched" else report["max_rel_diff"][name]
        lines.append(f"| {name} | {_ms(seconds)} | {ratio:.2f}x | {diff:.1e} |")
    lines.append(f"\nload average at the end: {report['load_average'][0]:.2f} "
                 f"({report['cpu_count']} cores)")
    return "\n".join(lines)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``refnet bench`` to ``parser``."""
    parser.add_argument("which", nargs="?", default="dctps", choices=sorted(BENCHMARKS),
                        help="which benchmark (default: dctps)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repeats (a smoke test, not a measurement)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed calls per method (default 9, or 3 with --quick; "
                             "jacobian: 10, or 2 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, choices=(1, 2), default=None,
                        help="threads for the DCTpS layer (default: 2 on a multi-core machine)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_command(args) -> int:
    """Run the benchmark ``args.which``; print its markdown table (or JSON); exit status."""
    if args.repeats is not None and args.repeats < 1:
        # refnet.cli.main reports it in one line with exit status 2
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    run, table = BENCHMARKS[args.which]
    previous = fast.get_num_threads()
    if args.threads is not None:
        fast.set_num_threads(args.threads)
    try:
        report = run(args)
    finally:
        fast.set_num_threads(previous)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(table(report))
    return 0
