"""Timing of the exact Jacobian: one batched call against one backward pass per output.

The function here only measures and returns numbers; the ``refnet bench``
command (``refnet/bench.py``) decides how to print them.  Baselines run in
the same process, on the same network and inputs, right after each other, and
their results are checked to agree before anything is timed.
"""
from __future__ import annotations

import os
import platform
import time
from typing import Callable, Sequence

import numpy as np

from refnet.core.graph import Sequential
from refnet._checks import as_rng, check_positive_int
from refnet.layers import Linear, ReLU
from refnet.testing import relative_error
from refnet.jacobian import jacobian

__all__ = ["benchmark_jacobian", "mlp"]

#: Largest relative disagreement accepted between the methods before timing.
#: All compute the same sums in a different order, so they differ by rounding.
AGREEMENT_TOL = 1e-12


#: Environment variables that set the BLAS thread count; a multi-threaded BLAS
#: slows down several-fold when another process holds a core, so the result
#: records them together with the load average.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def mlp(widths: Sequence[int]) -> Sequential:
    """A ReLU MLP ``Linear -> ReLU -> ... -> Linear`` with the given layer widths.

    Layers are named ``fc1, act1, fc2, act2, ..., fcL`` (no activation after
    the last linear layer).
    """
    widths = [check_positive_int("widths[i]", w, "mlp") for w in widths]
    if len(widths) < 2:
        raise ValueError(f"mlp: widths needs at least 2 entries (input, output), got {widths}")
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        layers.append((f"fc{i}", Linear(n_in, n_out)))
        if i < len(widths) - 1:
            layers.append((f"act{i}", ReLU()))
    return Sequential(layers, input_shape=(widths[0],))


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()   # warm-up: first-call allocations and BLAS thread start-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
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
    """The textbook way: per example, one forward pass and one backward pass per
    output, each at batch 1 (``B * m`` backward passes in all)."""
    J = []
    for b in range(x.shape[0]):
        y, cache = net.forward(params, x[b:b + 1])
        m = y.shape[1]
        rows = []
        for i in range(m):
            y_bar = np.zeros((1, m))
            y_bar[0, i] = 1.0
            rows.append(net.vjp(params, cache, y_bar, need_params=False)[0][0])
        J.append(np.stack(rows))
    return np.stack(J)                       # (B, m, n)


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
        More methods to time, ``name -> prepare(widths, params, x) -> run``,
        where ``run()`` returns the (B, m, n) Jacobian as a numpy array.
        ``analysis/bench_jacobian.py`` adds ``torch.func`` this way when torch
        is installed: refnet's own modules never import torch.

    Returns
    -------
    dict
        ``"seconds"``: median wall time of each method, including the forward
        pass: ``"batched"`` (:func:`~refnet.spectra.jacobian`, ONE vjp call
        on the identity), ``"loop_per_output"`` (one backward pass per output,
        each over the whole batch: ``m`` passes), ``"loop_per_row"`` (per
        example a forward pass and one backward pass per output, at batch 1:
        ``B * m`` passes, the textbook way) and each of ``extra_methods``.
        ``"speedup"``: each baseline's time over the
        batched time.  ``"max_rel_diff"``: disagreement of each baseline with
        the batched result.  Also the settings, ``"jacobian_shape"``,
        ``"numpy_version"``, ``"machine"``,
        ``"cpu_count"``, ``"load_average"`` (1, 5, 15 min, at the end) and
        ``"blas_threads_env"``: the batched call is one large matrix product
        per layer, and a multi-threaded BLAS slows down several-fold when
        another process holds a core (measured 6x on 2 cores), while batch-1
        loops barely notice; read the ratios with the load in mind.

    Raises
    ------
    RuntimeError
        If a baseline's Jacobian differs from the batched one by more than
        :data:`AGREEMENT_TOL` (relative): then timing them would be meaningless.
    """
    n_inputs = check_positive_int("n_inputs", n_inputs, "benchmark_jacobian")
    repeats = check_positive_int("repeats", repeats, "benchmark_jacobian")
    widths = tuple(int(w) for w in widths)
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

    seconds = {
        "batched": _median_seconds(lambda: jacobian(net, params, x), repeats),
        "loop_per_output": _median_seconds(lambda: _loop_per_output(net, params, x), repeats),
        "loop_per_row": _median_seconds(lambda: _loop_per_row(net, params, x), repeats),
    }
    for name, run in extra.items():
        seconds[name] = _median_seconds(run, repeats)
    speedup = {k: v / seconds["batched"] for k, v in seconds.items() if k != "batched"}
    return {
        "widths": list(widths), "n_inputs": n_inputs, "repeats": repeats,
        "jacobian_shape": list(J.shape), "seconds": seconds, "speedup": speedup,
        "max_rel_diff": diffs,
        "numpy_version": np.__version__, "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()),
        "blas_threads_env": {k: os.environ[k] for k in _THREAD_VARS if k in os.environ},
    }
