"""The Jacobian benchmark: its numbers are checked for agreement before any timing."""
import os
import subprocess
import sys

import numpy as np
import pytest

import refnet.cli.bench_jacobian as benchmark
from refnet.cli.bench_jacobian import benchmark_jacobian


def test_small_benchmark_reports_times_and_agreement():
    result = benchmark_jacobian(widths=(6, 5, 5, 3), n_inputs=4, repeats=1, seed=0)
    assert result["jacobian_shape"] == [4, 3, 6]
    assert result["seconds"]["batched"] > 0 and result["seconds"]["loop_per_output"] > 0
    assert result["speedup"]["loop_per_output"] > 0
    assert result["max_rel_diff"]["loop_per_output"] <= benchmark.AGREEMENT_TOL
    assert set(result["seconds"]) == {"batched", "loop_per_output", "loop_per_row"}


def test_extra_methods_are_checked_and_timed():
    def prepare(widths, params, x):
        net = benchmark.mlp(widths)
        return lambda: benchmark.jacobian(net, params, x, mode="jvp")
    result = benchmark_jacobian(widths=(6, 5, 3), n_inputs=3, repeats=1,
                                extra_methods={"jvp": prepare})
    assert result["max_rel_diff"]["jvp"] <= benchmark.AGREEMENT_TOL
    assert result["seconds"]["jvp"] > 0 and result["speedup"]["jvp"] > 0

    def wrong(widths, params, x):
        return lambda: 2.0 * benchmark.jacobian(benchmark.mlp(widths), params, x)
    with pytest.raises(RuntimeError, match="disagree"):
        benchmark_jacobian(widths=(6, 5, 3), n_inputs=2, repeats=1,
                           extra_methods={"wrong": wrong})


def test_disagreeing_methods_are_not_timed(monkeypatch):
    real = benchmark.jacobian
    monkeypatch.setattr(benchmark, "jacobian", lambda *a, **k: 1.01 * real(*a, **k))
    with pytest.raises(RuntimeError, match="disagree"):
        benchmark_jacobian(widths=(6, 5, 3), n_inputs=2, repeats=1)


def test_mlp_layout():
    net = benchmark.mlp((4, 3, 2))
    assert [n.name for n in net.nodes] == ["fc1", "act1", "fc2"]
    assert net(net.init(0), np.ones((1, 4))).shape == (1, 2)


def test_importing_refnet_never_imports_torch():
    code = "import sys, refnet, refnet.spectra; sys.exit('torch' in sys.modules)"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0
