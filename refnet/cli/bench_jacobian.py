"""Timing of the exact Jacobian: one batched call against one backward pass per output.

Only measures and returns numbers (``refnet bench jacobian`` prints them).  The
methods run in one process on the same network and inputs, and must agree
before anything is timed.
"""
from __future__ import annotations

import os
import platform
import resource
import time
from typing import Callable, Sequence

import numpy as np

from refnet._checks import as_rng, check_positive_int
from refnet.core.graph import Sequential
from refnet.jacobian import jacobian
from refnet.layers import Linear, ReLU
from refnet.testing import relative_error

__all__ = ["benchmark_jacobian", "mlp"]

#: Largest relative disagreement accepted between the methods before timing: they
#: compute the same sums in another order, so they differ by rounding only.
AGREEMENT_TOL = 1e-12
#: Environment variables that set the BLAS thread count, recorded with the load average.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def mlp(widths: Sequence[int]) -> Sequential:
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


def _median_seconds(fn: Callable[[], object], repeats: int, faults: list | None = None) -> float:
    """The median time of ``repeats`` calls after a warm-up one; ``faults`` gets the median
    minor page faults per call appended."""
    fn()   # warm-up: first-call allocations and BLAS thread start-up
    times, counts = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    if faults is not None:
        faults.append(float(np.median(counts)))
    return float(np.median(times))


def _loop_per_output(net, params, x) -> np.ndarray:
    """One forward pass, then one backward pass (over the whole batch) per output."""
    y, cache = net.forward(params, x)
    batch, m = y.shape
    rows = []
    for i in range(m):
        y_bar = np.zeros((batch, m))
        y_bar[:, i] = 1.0
        x_bar, _ = net.vjp(params, cache, y_bar, need_params=False)
        rows.append(x_bar)
    return np.stack(rows, axis=1)            # (B, m, n)


def _loop_per_row(net, params, x) -> np.ndarray:
    """The textbook way: per example a forward pass and one backward pass per output."""
    return np.concatenate([_loop_per_output(net, params, x[b:b + 1]) for b in range(len(x))])


def benchmark_jacobian(widths: Sequence[int] = (784, 256, 256, 256, 256, 256, 256, 10),
                       n_inputs: int = 100, repeats: int = 5, seed=0,
                       extra_methods: dict | None = None) -> dict:
    """Time the exact Jacobian of a ReLU MLP at ``n_inputs`` inputs, three ways or more.

    Parameters
    ----------
    widths : sequence of int
        Layer widths, input first; the default is the 784-256x6-10 MLP.
    n_inputs : int, default 100
    repeats : int, default 5
        Timed runs per method after one warm-up run; the median is reported.
    seed : int or numpy.random.Generator, default 0
        Draws the weights (Kaiming normal) and the N(0, 1) inputs.
    extra_methods : dict, optional
        ``name -> prepare(widths, params, x) -> run``, ``run()`` returning the
        (B, m, n) Jacobian; ``analysis/bench_jacobian.py`` adds ``torch.func``
        this way (refnet never imports torch).

    Returns
    -------
    dict
        ``"seconds"``: the median wall time of each method, forward pass
        included: ``"batched"`` (:func:`~refnet.jacobian.jacobian`, ONE vjp
        call), ``"loop_per_output"`` (``m`` backward passes over the batch),
        ``"loop_per_row"`` (``B * m`` at batch 1) and each extra method;
        ``"faults_per_call"``: their median minor page faults per call;
        ``"speedup"`` (time over the batched time) and ``"max_rel_diff"`` per
        baseline; the settings, ``"jacobian_shape"``, ``"numpy_version"``,
        ``"machine"``, ``"cpu_count"``, ``"load_average"`` (at the end) and
        ``"blas_threads_env"``.  A multi-threaded BLAS slows the batched call
        several-fold (6x measured on 2 cores) when another process holds a
        core, while batch-1 loops barely notice: read the ratios with the load.

    Raises
    ------
    RuntimeError
        If a method differs from the batched Jacobian by more than
        :data:`AGREEMENT_TOL`: timing it would be meaningless.
    """
    n_inputs = check_positive_int("n_inputs", n_inputs, "benchmark_jacobian")
    repeats = check_positive_int("repeats", repeats, "benchmark_jacobian")
    widths = tuple(check_positive_int("widths[i]", w, "benchmark_jacobian") for w in widths)
    rng = as_rng(seed)
    net = mlp(widths)
    params = net.init(rng)
    x = rng.standard_normal((n_inputs, widths[0]))

    J = jacobian(net, params, x)
    diffs = {"loop_per_output": relative_error(_loop_per_output(net, params, x), J),
             "loop_per_row": relative_error(_loop_per_row(net, params, x), J)}
    extra = {name: prepare(widths, params, x) for name, prepare in (extra_methods or {}).items()}
    for name, run in extra.items():
        diffs[name] = relative_error(np.asarray(run()), J)
    bad = {k: v for k, v in diffs.items() if not v <= AGREEMENT_TOL}
    if bad:
        raise RuntimeError(f"benchmark_jacobian: methods disagree with the batched Jacobian "
                           f"(relative error {bad}, tolerance {AGREEMENT_TOL})")

    runs = {"batched": lambda: jacobian(net, params, x),
            "loop_per_output": lambda: _loop_per_output(net, params, x),
            "loop_per_row": lambda: _loop_per_row(net, params, x), **extra}
    faults = []
    seconds = {name: _median_seconds(run, repeats, faults) for name, run in runs.items()}
    speedup = {k: v / seconds["batched"] for k, v in seconds.items() if k != "batched"}
    return {
        "widths": list(widths), "n_inputs": n_inputs, "repeats": repeats,
        "jacobian_shape": list(J.shape), "seconds": seconds, "speedup": speedup,
        "max_rel_diff": diffs, "faults_per_call": dict(zip(runs, faults)),
        "numpy_version": np.__version__, "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()),
        "blas_threads_env": {k: os.environ[k] for k in _THREAD_VARS if k in os.environ},
    }
