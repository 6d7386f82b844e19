"""``refnet bench``: timings against baselines measured in the same run.

Each benchmark first checks that the timed methods compute the same numbers, then reports
medians of interleaved repeats and ratios to a baseline timed in the same process (absolute
times depend on the machine, ratios much less): ``dctps`` (:func:`run_dctps`), ``offsets``
(:func:`run_offsets`), ``jacobian`` (:func:`benchmark_jacobian`).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from typing import Callable

import numpy as np
import scipy

from refnet._checks import as_rng, check_positive_int
from refnet.cli import NATURAL, POSITIVE
from refnet.core.graph import Sequential
from refnet.jacobian import jacobian
from refnet.layers import DCTpSLinear, Linear, ReLU
from refnet.ops import fast
from refnet.offsets import OFFSETS, RANDOM_OFFSETS, make_offset
from refnet.testing import relative_error

__all__ = ["jacobian_table", "DCTPS_CASES", "QUICK_CASES", "run_dctps",
           "dctps_table", "run_offsets", "offsets_table", "median_time", "steady_medians",
           "peak_memory", "memory_bandwidth", "OriginalDCTplusLinear", "configure_parser",
           "run_command", "cpu_share", "benchmark_jacobian", "mlp"]

#: ``(n, m)`` shapes and batches of ``refnet bench dctps``.
DCTPS_CASES = [((256, 256), (1, 128)), ((1024, 1024), (1, 128)), ((4096, 4096), (1, 128)),
               ((3072, 512), (1, 128)), ((512, 3072), (1, 128))]
#: A few small cases for ``--quick`` (tests, smoke runs).
QUICK_CASES = [((64, 64), (1, 8)), ((96, 32), (4,))]
#: Environment variables that set the BLAS thread count, recorded with the load average.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` after one untimed call."""
    return steady_medians({"fn": fn}, repeats, rounds=1, warmup_s=0.0)[0]["fn"]


def steady_medians(fns: dict[str, Callable[[], object]], repeats: int, rounds: int = 3,
                   warmup_s: float = 0.2):
    """Median seconds per function in steady state (``steady``) and on a round's first call
    (``cold``), as two dicts.

    Each of ``rounds`` rounds calls each function once (cold: right after the others filled
    the caches and the allocator), then untimed for ``warmup_s`` seconds, then timed
    ``ceil(repeats / rounds)`` times in a row; rounds interleave the functions so that a drift
    of the machine spreads over all of them.  As in a training loop, each call's results stay
    alive until the next call returns: freeing them first makes glibc return the memory to the
    kernel, and the next call pays a page fault per 4 KiB it writes.
    """
    steady = {name: [] for name in fns}
    cold = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            result = fn()
            cold[name].append(time.perf_counter() - start)
            warm_until = time.perf_counter() + warmup_s
            while time.perf_counter() < warm_until:
                result = fn()
            for _ in range(-(-repeats // rounds)):
                start = time.perf_counter()
                result = fn()
                steady[name].append(time.perf_counter() - start)
            del result
    return ({name: float(np.median(t)) for name, t in steady.items()},
            {name: float(np.median(t)) for name, t in cold.items()})


def peak_memory(fn: Callable[[], object]) -> int:
    """Peak bytes ``tracemalloc`` traces during one call of ``fn``."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def memory_bandwidth(n_bytes: int = 1 << 28, repeats: int = 5) -> float:
    """Bytes per second of ``np.copyto`` between two arrays of ``n_bytes``, which reads and
    writes every byte: ``2 * n_bytes / time``."""
    src = np.ones(n_bytes // 8)
    dst = np.empty_like(src)
    return 2 * src.nbytes / median_time(lambda: np.copyto(dst, src), repeats)


@contextlib.contextmanager
def cpu_share():
    """Yield a dict whose ``"value"`` becomes the share of the CPU time OTHER processes used in
    the block (Linux; None without ``/proc/stat``): a busy neighbour changes timings, and the
    report says so."""
    def snapshot():
        try:
            with open("/proc/stat") as f:
                ticks = [int(v) for v in f.readline().split()[1:8]]
        except OSError:
            return None
        t = os.times()          # children: the finished ones waited for
        return sum(ticks), ticks[3] + ticks[4], t.user + t.system + t.children_user \
            + t.children_system

    share, start = {"value": None}, snapshot()
    yield share
    end = snapshot()
    if start is not None and end is not None:
        total = end[0] - start[0]
        busy = total - (end[1] - start[1])
        own = (end[2] - start[2]) * os.sysconf("SC_CLK_TCK")
        share["value"] = max(0.0, (busy - own) / total) if total > 0 else 0.0


@contextlib.contextmanager
def _threads(n: int | None):
    """The DCTpS layers' thread count set to ``n`` (None: left) inside the block."""
    previous = fast.get_num_threads()
    if n is not None:
        fast.set_num_threads(n)
    try:
        yield
    finally:
        fast.set_num_threads(previous)


def _environment(share) -> dict:
    return {"float": "float64", "threads": fast.get_num_threads(),
            "cpu_count": os.cpu_count(), "other_processes_cpu_share": share,
            "numpy": np.__version__, "scipy": scipy.__version__,
            "python": platform.python_version(), "machine": platform.machine()}


class OriginalDCTplusLinear:
    """The original DCTpS code's arithmetic in numpy: what PyTorch runs for its
    ``DCTplusLinear`` with the gradient mask.

    ``f = dct(eye(q), norm='ortho')[:n, :m]`` is the DCT as a dense ``(n, m)`` matrix, ``W``
    the dense ``(m, n)`` S, zero off the support, and ``mask`` its 0/1 support::

        forward   y      = alpha * (x @ f) + x @ W.T + b       two dense matmuls
        backward  x_bar  = alpha * (y_bar @ f.T) + y_bar @ W   two dense matmuls
                  W_bar  = (y_bar.T @ x) * mask                one dense matmul
                  alpha_bar = sum(y_bar * (x @ f)),  b_bar = sum_b y_bar
    """

    def __init__(self, layer: DCTpSLinear, params: dict):
        self.f = np.ascontiguousarray(layer.offset.matrix().T)
        self.W = np.ascontiguousarray(layer.support.to_dense(params["S"]))
        self.mask = np.zeros_like(self.W)
        self.mask[layer.rows, layer.cols] = 1.0
        self.alpha = float(params["alpha"])
        self.b = params["b"]

    def step(self, x, y_bar):
        """Forward and backward: ``(y, x_bar, W_bar, alpha_bar, b_bar)``."""
        dx = x @ self.f
        y = self.alpha * dx + x @ self.W.T + self.b
        x_bar = self.alpha * (y_bar @ self.f.T) + y_bar @ self.W
        W_bar = (y_bar.T @ x) * self.mask
        return y, x_bar, W_bar, np.sum(y_bar * dx), y_bar.sum(axis=0)


def _worst(pairs: dict, message: str, tol: float = 1e-10) -> float:
    """The largest relative error of ``{name: (got, expected)}``; RuntimeError with
    ``message`` if it exceeds ``tol``."""
    errors = {name: relative_error(*pair) for name, pair in pairs.items()}
    if not max(errors.values()) <= tol:
        raise RuntimeError(f"{message}: relative errors {errors}")
    return max(errors.values())


def _step(layer, params, x, y_bar):
    """One forward + VJP, everything it computes kept alive."""
    y, cache = layer.forward(params, x)
    return y, layer.vjp(params, cache, y_bar)


def _dctps_case(n, m, batch, density, repeats, seed, warmup_s, extra_methods=None):
    rng = np.random.default_rng(seed)
    layer = DCTpSLinear(n, m, density=density, rng=rng)
    params = dict(layer.init(rng), S=rng.standard_normal(layer.nnz), alpha=np.array(0.7),
                  b=rng.standard_normal(m))
    x = rng.standard_normal((batch, n))
    y_bar = rng.standard_normal((batch, m))
    original = OriginalDCTplusLinear(layer, params)
    dense = Linear(n, m)
    dense_params = dense.init(rng)
    steps = {"original": lambda: original.step(x, y_bar),
             "dense": lambda: _step(dense, dense_params, x, y_bar),
             "dctps": lambda: _step(layer, params, x, y_bar)}
    extra = {name: prepare(layer, params, x, y_bar)
             for name, prepare in (extra_methods or {}).items()}

    y, (x_bar, grads) = steps["dctps"]()
    y_o, x_bar_o, W_bar_o, alpha_bar_o, b_bar_o = steps["original"]()
    error = _worst({"y": (y, y_o), "x_bar": (x_bar, x_bar_o), "b_bar": (grads["b"], b_bar_o),
                    "S_bar": (grads["S"], W_bar_o[layer.rows, layer.cols]),
                    "alpha_bar": (grads["alpha"], alpha_bar_o)},
                   f"bench dctps: DCTpS and the original's method disagree at n={n}, m={m}, "
                   f"batch={batch}")
    for name, step in extra.items():    # (y, x_bar): float32 ones to 1e-4
        out = step()
        _worst({"y": (out[0], y), "x_bar": (out[1], x_bar)},
               f"bench dctps: {name} disagrees with DCTpS at n={n}, m={m}, batch={batch}",
               1e-4 if "32" in name else 1e-10)
    del y, x_bar, grads, y_o, x_bar_o, W_bar_o

    times, cold = steady_medians({**steps, **extra}, repeats, warmup_s=warmup_s)
    D = layer.offset
    dct_s = median_time(lambda: (D.apply(x), D.adjoint(y_bar)), repeats)
    parts = _dctps_parts(layer, params, x, y_bar, repeats)
    memory = {name: peak_memory(steps[name]) for name in ("dctps", "original", "dense")}
    s = layer.support        # the arrays each method keeps
    state = {"dctps": sum(np.asarray(a).nbytes for a in (s.rows, s.cols, s.indices, s.indptr,
                                                         *params.values())),
             "original": sum(a.nbytes for a in (original.f, original.W, original.mask,
                                                original.b)),
             "dense": sum(v.nbytes for v in dense_params.values())}
    return {"n": n, "m": m, "batch": batch, "density": density, "nnz": layer.nnz,
            "dctps_s": times["dctps"], "dense_dct_s": times["original"],
            "dense_linear_s": times["dense"], "cold_s": cold,
            "speedup": times["original"] / times["dctps"],
            "speedup_vs_dense_linear": times["dense"] / times["dctps"],
            "extra_s": {name: times[name] for name in extra},
            "dct_s": dct_s, "dct_bytes": 2 * 8 * batch * (n + m), "parts_s": parts,
            "peak_bytes": memory, "state_bytes": state, "max_rel_error": error}


def _dctps_parts(layer, params, x, y_bar, repeats) -> dict:
    """Single-threaded whole-batch times of the pieces of a DCTpS step (the step itself runs
    them block by block, with three transposed copies and two transposed in-place additions):
    where the time goes, not how the step schedules it."""
    D, support = layer.offset, layer.support
    S, S_T = support.csr(params["S"]), support.csr_transpose(params["S"])
    xt, yt = np.ascontiguousarray(x.T), np.ascontiguousarray(y_bar.T)
    pieces = {"dct": lambda: D.apply(x), "idct": lambda: D.adjoint(y_bar),
              "transpose_x": lambda: np.ascontiguousarray(x.T),
              "transpose_y_bar": lambda: np.ascontiguousarray(y_bar.T),
              "S_matmat": lambda: S @ xt, "S_T_matmat": lambda: S_T @ yt,
              "value_cotangent": lambda: fast.value_cotangent(support, yt, xt)}
    with _threads(1):
        return {name: median_time(fn, repeats) for name, fn in pieces.items()}


def run_dctps(cases=None, *, density: float = 1e-3, repeats: int = 9, seed: int = 0,
              bandwidth_bytes: int = 1 << 28, warmup_s: float = 0.2, progress=None,
              extra_methods: dict | None = None) -> dict:
    """Time DCTpS against the original's method at each ``((n, m), batches)`` of ``cases``
    (default :data:`DCTPS_CASES`); return the JSON-ready report.

    ``repeats`` timed calls per method in 3 rounds after ``warmup_s`` seconds of untimed ones
    (:func:`steady_medians`); ``bandwidth_bytes`` per array of the bandwidth copy;
    ``progress(str)`` after each case.  ``extra_methods`` ``{name: prepare(layer, params, x,
    y_bar) -> step}``, ``step()`` returning ``(y, x_bar, ...)``, are checked (to 1e-4 with
    "32" in the name, else 1e-10) and timed in the same rounds (``analysis/bench_dctps.py``).
    """
    with cpu_share() as share:
        bandwidth = memory_bandwidth(bandwidth_bytes)
        rows = []
        for (n, m), batches in DCTPS_CASES if cases is None else cases:
            for batch in batches:
                row = _dctps_case(n, m, batch, density, repeats, seed, warmup_s,
                                  extra_methods)
                row["dct_bound_s"] = row["dct_bytes"] / bandwidth
                rows.append(row)
                if progress:
                    progress(f"n={n} m={m} batch={batch}: DCTpS {row['dctps_s'] * 1e3:.3f} ms, "
                             f"original {row['dense_dct_s'] * 1e3:.2f} ms, "
                             f"{row['speedup']:.0f}x")
    return {"benchmark": "dctps", "cases": rows, "bandwidth_bytes_per_s": bandwidth,
            "repeats": repeats, "warmup_s": warmup_s, "density": density,
            **_environment(share["value"])}


def _ratio(r: float) -> str:
    return f"{r:.0f}x" if r >= 10 else f"{r:.1f}x" if r >= 1 else f"{r:.2f}x"


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3f} ms" if ms < 1 else f"{ms:.2f} ms" if ms < 100 else f"{ms:.0f} ms"


def _footer(report: dict) -> str:
    """The run's environment, closing a table's caption."""
    share = report.get("other_processes_cpu_share")
    return (f"numpy {report['numpy']}, scipy {report['scipy']}, {report['cpu_count']} cores"
            + (f", other processes used {100 * share:.0f}% of the CPU during the run"
               if share is not None else "") + ".")


def dctps_table(report: dict) -> str:
    """The report as markdown: the timing table, and where a DCTpS step's time goes."""
    extra = list(report["cases"][0].get("extra_s", {})) if report["cases"] else []
    lines = ["| n -> m | batch | nnz | DCTpS | DCTpS, first call | original (dense D, masked S) "
             "| speedup | " + "".join(f"{name} | vs {name} | " for name in extra)
             + "dense Linear | vs dense | DCT part | DCT at memory bandwidth | peak "
             "MiB: DCTpS / original / dense |", "|" + " --- |" * (12 + 2 * len(extra))]
    for r in report["cases"]:
        mib = {k: v / 2**20 for k, v in r["peak_bytes"].items()}
        lines.append(
            f"| {r['n']} -> {r['m']} | {r['batch']} | {r['nnz']} | {_ms(r['dctps_s'])} "
            f"| {_ms(r['cold_s']['dctps'])} | {_ms(r['dense_dct_s'])} | {_ratio(r['speedup'])} "
            + "".join(f"| {_ms(r['extra_s'][name])} | {_ratio(r['extra_s'][name] / r['dctps_s'])} "
                      for name in extra)
            + f"| {_ms(r['dense_linear_s'])} | {_ratio(r['speedup_vs_dense_linear'])} "
            f"| {_ms(r['dct_s'])} | {_ms(r['dct_bound_s'])} "
            f"| {mib['dctps']:.2f} / {mib['original']:.1f} / {mib['dense']:.1f} |")
    share = report.get("other_processes_cpu_share")
    lines += ["", f"float64, density {report['density']:g}, one forward + VJP, medians of "
                  f"{report['repeats']} steady-state calls in 3 interleaved rounds (first "
                  f"call: the median of each round's first call, right after the other "
                  f"methods ran), {report['threads']} thread(s) for DCTpS, memory "
                  f"bandwidth {report['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s (copy), "
                  + _footer(report)]
    if share is not None and share > 0.05:
        lines += ["", f"**Warning: other processes used {100 * share:.0f}% of the CPU during "
                      f"this run.** The multi-threaded BLAS baselines suffer most, so the "
                      f"speedups above are inflated; rerun on a quiet machine."]
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
    rows = [(label, [r["parts_s"][key] for r in big]) for key, label in names.items()]
    rows += [("sum of the pieces", [sum(r["parts_s"].values()) for r in big]),
             ("the whole step", [r["dctps_s"] for r in big])]
    lines += [f"| {label} | " + " | ".join(map(_ms, times)) + " |" for label, times in rows]
    return "\n".join(lines)


def _offset_layers(n, m, density, seed):
    """One DCTpSLinear per offset, all on the same support, with the same parameters."""
    rng = np.random.default_rng(seed)
    base = DCTpSLinear(n, m, density=density, rng=rng)
    layers = {}
    for offset in OFFSETS:
        start = time.perf_counter()
        layers[offset] = DCTpSLinear(n, m, support=base.support, offset=make_offset(
            offset, n, m, seed + 1 if offset in RANDOM_OFFSETS else None) or "none")
        layers[offset].setup_s = time.perf_counter() - start
    S, b = rng.standard_normal(base.nnz), rng.standard_normal(m)
    params = {offset: dict(layer.init(0), S=S, b=b) for offset, layer in layers.items()}
    for p in params.values():
        if "alpha" in p:
            p["alpha"] = np.array(0.7)
    return layers, params


def _check_offset_layer(layer, params, x, y_bar, name):
    """Every output of one forward + VJP against the dense matrix ``alpha * O + S``."""
    S = layer.support.to_dense(params["S"])
    O = None if layer.offset is None else layer.offset.matrix()
    W = S if O is None else S + float(params["alpha"]) * O
    y, (x_bar, grads) = _step(layer, params, x, y_bar)
    pairs = {"y": (y, x @ W.T + params["b"]), "x_bar": (x_bar, y_bar @ W),
             "S_bar": (grads["S"], (y_bar.T @ x)[layer.rows, layer.cols]),
             "b_bar": (grads["b"], y_bar.sum(axis=0))}
    if O is not None:
        pairs["alpha_bar"] = (grads["alpha"], np.sum(y_bar * (x @ O.T)))
    return _worst(pairs, f"bench offsets: the {name!r} layer disagrees with its dense matrix")


def run_offsets(n: int = 4096, m: int = 4096, batches=(128, 1), *, density: float = 1e-3,
                repeats: int = 9, seed: int = 0, warmup_s: float = 0.2, progress=None) -> dict:
    """Time one forward + VJP of a DCTpSLinear with each offset, as :func:`run_dctps` times;
    return the JSON-ready report.  The layers share the support and the values of ``S``,
    ``alpha`` and ``b``; each is first checked against its dense matrix ``alpha * O + S``.
    ``offset_s``: ``O @ x`` plus ``O.T @ y_bar`` alone, whole batch, one thread."""
    with cpu_share() as share:
        layers, params = _offset_layers(n, m, density, seed)
        rng = np.random.default_rng(seed + 2)
        rows = []
        for batch in batches:
            x, y_bar = rng.standard_normal((batch, n)), rng.standard_normal((batch, m))
            errors = {o: _check_offset_layer(layers[o], params[o], x, y_bar, o)
                      for o in OFFSETS}
            steady, cold = steady_medians(
                {o: (lambda o=o: _step(layers[o], params[o], x, y_bar)) for o in OFFSETS},
                repeats, warmup_s=warmup_s)
            with _threads(1):
                alone = {o: 0.0 if layers[o].offset is None else median_time(
                    lambda O=layers[o].offset: (O.apply(x), O.adjoint(y_bar)), repeats)
                    for o in OFFSETS}
            rows.append({"batch": batch, "times_s": steady, "cold_s": cold,
                         "ratio_to_dct": {o: steady[o] / steady["dct"] for o in OFFSETS},
                         "offset_s": alone, "max_rel_error": max(errors.values())})
            if progress:
                progress(f"batch {batch}: " + ", ".join(
                    f"{o} {steady[o] * 1e3:.3f} ms" for o in OFFSETS))
    # the offset's own arrays: none for the DCT, the identity and no offset
    stored = {o: sum(v.nbytes for v in vars(layers[o].offset).values()
                     if isinstance(v, np.ndarray)) if layers[o].offset is not None else 0
              for o in OFFSETS}
    return {"benchmark": "offsets", "n": n, "m": m, "density": density,
            "nnz": layers["dct"].nnz, "cases": rows,
            "setup_s": {o: layers[o].setup_s for o in OFFSETS}, "offset_bytes": stored,
            "repeats": repeats, "warmup_s": warmup_s, **_environment(share["value"])}


#: What each offset is, for the table.
_OFFSET_NOTES = {"dct": "C[:m, :n], scipy.fft", "randomized-dct": "P_out C[:m, :n] diag(s) P_in",
                 "orthogonal": "stored m x n, BLAS", "identity": "I[:m, :n]",
                 "none": "plain sparse (S only)", "permutation": "P[:m, :n], random P",
                 "signs": "I[:m, :n] diag(s)", "dct-2d": "2-D DCT of 28 x 28 (else = dct)"}


def offsets_table(report: dict) -> str:
    """The offsets report as markdown: time per step and its ratio to the DCT, per batch."""
    cases = report["cases"]
    lines = ["| offset | O | " + " | ".join(
        f"batch {c['batch']}: step | vs dct | O and O.T alone" for c in cases)
        + " | offset storage | setup |", "|" + " --- |" * (4 + 3 * len(cases))]
    for o in report["setup_s"]:
        cells = [cell for c in cases for cell in (
            _ms(c["times_s"][o]), f"{c['ratio_to_dct'][o]:.2f}x",
            _ms(c["offset_s"][o]) if c["offset_s"][o] else "-")]
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
              f"which may use every core, for the orthogonal one); " + _footer(report),
              "", f"randomized-dct / dct: {ratios} (the goal: at most 1.5x)."]
    if share is not None and share > 0.05:
        lines += ["", f"**Warning: other processes used {100 * share:.0f}% of the CPU during "
                      f"this run; rerun on a quiet machine.**"]
    return "\n".join(lines)


def mlp(widths) -> Sequential:
    """A ReLU MLP with the given layer widths: ``fc1, act1, fc2, act2, ..., fcL``."""
    widths = [check_positive_int("widths[i]", w, "mlp") for w in widths]
    if len(widths) < 2:
        raise ValueError(f"mlp: widths needs at least 2 entries (input, output), got {widths}")
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        layers.append((f"fc{i}", Linear(n_in, n_out)))
        if i < len(widths) - 1:
            layers.append((f"act{i}", ReLU()))
    return Sequential(layers, input_shape=(widths[0],))


def _loop_per_output(net, params, x) -> np.ndarray:
    """The (B, m, n) Jacobian from one forward pass, then one backward pass per output."""
    y, cache = net.forward(params, x)
    batch, m = y.shape
    rows = []
    for i in range(m):
        y_bar = np.zeros((batch, m))
        y_bar[:, i] = 1.0
        rows.append(net.vjp(params, cache, y_bar, need_params=False)[0])
    return np.stack(rows, axis=1)


def benchmark_jacobian(widths=(784,) + (256,) * 6 + (10,), n_inputs: int = 100,
                       repeats: int = 5, seed=0) -> dict:
    """Time the exact Jacobian of a ReLU :func:`mlp` at ``n_inputs`` N(0, 1) inputs, forward
    pass included: ``batched`` (:func:`~refnet.jacobian.jacobian`, one VJP call) against
    ``loop_per_output`` (``m`` backward passes) and ``loop_per_row`` (``B * m`` at batch 1),
    once they agree to 1e-12 (else RuntimeError); medians of ``repeats`` calls after a warm-up,
    minor page faults too.  The load average is reported: a multi-threaded BLAS slows the
    batched call several-fold when another process holds a core, batch-1 loops barely."""
    n_inputs = check_positive_int("n_inputs", n_inputs, "benchmark_jacobian")
    repeats = check_positive_int("repeats", repeats, "benchmark_jacobian")
    rng = as_rng(seed)
    net = mlp(widths)
    params = net.init(rng)
    x = rng.standard_normal((n_inputs, net.input_shape[0]))
    runs = {"batched": lambda: jacobian(net, params, x),
            "loop_per_output": lambda: _loop_per_output(net, params, x),
            "loop_per_row": lambda: np.concatenate([_loop_per_output(net, params, x[b:b + 1])
                                                    for b in range(len(x))])}
    J = runs["batched"]()
    diffs = {name: relative_error(run(), J) for name, run in runs.items() if name != "batched"}
    if not max(diffs.values()) <= 1e-12:
        raise RuntimeError(f"benchmark_jacobian: methods disagree with the batched Jacobian "
                           f"(relative error {diffs}, tolerance 1e-12)")
    seconds, faults = {}, {}
    minflt = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt  # noqa: E731
    for name, run in runs.items():
        run()       # warm-up: first-call allocations and BLAS thread start-up
        times, counts = [], []
        for _ in range(repeats):
            before, start = minflt(), time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
            counts.append(minflt() - before)
        seconds[name], faults[name] = float(np.median(times)), float(np.median(counts))
    return {
        "widths": [int(w) for w in widths], "n_inputs": n_inputs, "repeats": repeats,
        "jacobian_shape": list(J.shape), "seconds": seconds,
        "speedup": {k: v / seconds["batched"] for k, v in seconds.items() if k != "batched"},
        "max_rel_diff": diffs, "faults_per_call": faults, "numpy_version": np.__version__,
        "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "blas_threads_env": {k: os.environ[k] for k in _THREAD_VARS if k in os.environ}}


def jacobian_table(report: dict) -> str:
    """The Jacobian benchmark as markdown: each method's median time and its ratio."""
    widths = "-".join(map(str, report["widths"]))
    lines = [f"Exact Jacobian of a {widths} ReLU MLP at {report['n_inputs']} inputs "
             f"(shape {tuple(report['jacobian_shape'])}), medians of {report['repeats']}:", "",
             "| method | time | time / batched | minor page faults per call "
             "| max rel. diff. to batched |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, seconds in report["seconds"].items():
        ratio = 1.0 if name == "batched" else report["speedup"][name]
        diff = 0.0 if name == "batched" else report["max_rel_diff"][name]
        lines.append(f"| {name} | {_ms(seconds)} | {ratio:.2f}x "
                     f"| {report['faults_per_call'][name]:.0f} | {diff:.1e} |")
    lines.append(f"\nload average at the end: {report['load_average'][0]:.2f} "
                 f"({report['cpu_count']} cores)")
    return "\n".join(lines)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``refnet bench`` to ``parser``."""
    parser.add_argument("which", nargs="?", default="dctps", choices=("dctps", "jacobian",
                                                                      "offsets"),
                        help="which benchmark (default: dctps)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and few repeats (a smoke test, not a measurement)")
    parser.add_argument("--repeats", type=POSITIVE, default=None,
                        help="timed calls per method (default 9, or 3 with --quick; "
                             "jacobian: 10, or 2 with --quick)")
    parser.add_argument("--seed", type=NATURAL, default=0)
    parser.add_argument("--threads", type=int, choices=(1, 2), default=None,
                        help="threads for the DCTpS layer (default: 2 on a multi-core machine)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run_command(args) -> int:
    """Run the benchmark ``args.which``; print its markdown table (or JSON); exit status."""
    quick = args.quick
    timing = dict(seed=args.seed, repeats=args.repeats or (3 if quick else 9),
                  warmup_s=0.01 if quick else 0.2,
                  progress=None if args.json else lambda s: print(s, file=sys.stderr, flush=True))
    with _threads(args.threads):
        if args.which == "dctps":
            report, table = run_dctps(QUICK_CASES if quick else None, **timing,
                                      bandwidth_bytes=1 << (24 if quick else 28)), dctps_table
        elif args.which == "offsets":
            report, table = run_offsets(*((256, 256, (8, 1)) if quick else ()),
                                        **timing), offsets_table
        else:
            report, table = benchmark_jacobian(
                widths=(64, 32, 32, 10) if quick else (784,) + (256,) * 6 + (10,),
                n_inputs=8 if quick else 100, repeats=args.repeats or (2 if quick else 10),
                seed=args.seed), jacobian_table
    print(json.dumps(report, indent=1) if args.json else table(report))
    return 0
