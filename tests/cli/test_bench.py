"""``refnet bench``: the quick run works end to end and its JSON has the promised schema.

Timings are never asserted: they belong to the benchmark's report, not to tests.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from refnet.cli import bench
from refnet.cli import main


def test_quick_bench_json_schema(capsys):
    assert main(["bench", "--quick", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["benchmark"] == "dctps" and report["float"] == "float64"
    assert report["bandwidth_bytes_per_s"] > 0 and report["threads"] in (1, 2)
    cases = report["cases"]
    assert [(c["n"], c["m"], c["batch"]) for c in cases] == [(64, 64, 1), (64, 64, 8),
                                                             (96, 32, 4)]
    for case in cases:
        for key in ("n", "m", "batch", "nnz"):
            assert isinstance(case[key], int)
        for key in ("dctps_s", "dense_dct_s", "speedup", "dense_linear_s",
                    "speedup_vs_dense_linear", "dct_s", "dct_bound_s"):
            assert isinstance(case[key], float) and case[key] > 0
        assert case["speedup"] == pytest.approx(case["dense_dct_s"] / case["dctps_s"])
        assert set(case["peak_bytes"]) == set(case["state_bytes"]) == {"dctps", "original",
                                                                        "dense"}
        assert case["max_rel_error"] <= 1e-10


def test_quick_bench_table(capsys):
    assert main(["bench", "dctps", "--quick", "--repeats", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| n -> m | batch |") and "| 96 -> 32 | 4 |" in out
    assert "1 thread(s) for DCTpS" in out


def test_bench_refuses_to_time_methods_that_disagree(monkeypatch):
    step = bench.OriginalDCTplusLinear.step

    def off_by_a_bit(self, x, y_bar):
        y, *rest = step(self, x, y_bar)
        return (y * (1 + 1e-6), *rest)

    monkeypatch.setattr(bench.OriginalDCTplusLinear, "step", off_by_a_bit)
    with pytest.raises(RuntimeError, match="disagree"):
        bench.run_dctps([((16, 8), (2,))], repeats=1, bandwidth_bytes=1 << 16, warmup_s=0.0)


def test_the_original_method_is_the_dense_masked_arithmetic():
    """The baseline really is alpha * x @ f + x @ (S * mask).T with f the original's weight."""
    import scipy.fftpack
    from refnet.layers import DCTpSLinear
    layer = DCTpSLinear(5, 3, nnz=4, rng=0)
    rng = np.random.default_rng(1)
    params = dict(layer.init(0), S=rng.standard_normal(4), alpha=np.array(0.5),
                  b=rng.standard_normal(3))
    original = bench.OriginalDCTplusLinear(layer, params)
    f = scipy.fftpack.dct(np.eye(5), norm="ortho")[:5, :3]
    np.testing.assert_allclose(original.f, f, atol=1e-15)
    assert original.mask.sum() == 4
    x = rng.standard_normal((2, 5))
    np.testing.assert_allclose(original.step(x, np.ones((2, 3)))[0], layer(params, x),
                               atol=1e-14)


def test_quick_jacobian_bench(capsys):
    assert main(["bench", "jacobian", "--quick", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["jacobian_shape"] == [8, 10, 64]
    assert set(report["seconds"]) == {"batched", "loop_per_output", "loop_per_row"}
    assert all(d <= 1e-12 for d in report["max_rel_diff"].values())
    assert main(["bench", "jacobian", "--quick"]) == 0
    assert "| batched |" in capsys.readouterr().out


def test_quick_offsets_bench_json_and_table(capsys):
    assert main(["bench", "offsets", "--quick", "--json", "--repeats", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["benchmark"] == "offsets" and (report["n"], report["m"]) == (256, 256)
    offsets = ["dct", "randomized-dct", "orthogonal", "identity", "none", "permutation", "signs",
               "dct-2d"]
    assert list(report["setup_s"]) == offsets
    assert report["offset_bytes"]["orthogonal"] == 256 * 256 * 8
    assert report["offset_bytes"]["dct"] == report["offset_bytes"]["none"] == 0
    assert [c["batch"] for c in report["cases"]] == [8, 1]
    for case in report["cases"]:
        assert list(case["times_s"]) == offsets and all(t > 0 for t in case["times_s"].values())
        assert case["ratio_to_dct"]["dct"] == 1.0
        assert case["ratio_to_dct"]["randomized-dct"] == pytest.approx(
            case["times_s"]["randomized-dct"] / case["times_s"]["dct"])
        assert case["offset_s"]["none"] == 0.0 and case["max_rel_error"] <= 1e-10
    table = bench.offsets_table(report)
    assert table.startswith("| offset | O | batch 8: step |")
    assert "| randomized-dct | P_out C[:m, :n] diag(s) P_in |" in table
    assert "| signs | I[:m, :n] diag(s) |" in table
    assert "randomized-dct / dct:" in table


def test_offsets_bench_refuses_a_wrong_offset(monkeypatch):
    from refnet.offsets import RandomizedDCT
    apply = RandomizedDCT.apply
    monkeypatch.setattr(RandomizedDCT, "apply", lambda self, x: 1.001 * apply(self, x))
    with pytest.raises(RuntimeError, match="'randomized-dct' layer disagrees"):
        bench.run_offsets(16, 8, (2,), density=0.2, repeats=1, warmup_s=0.0)


def test_bad_repeats_is_one_line_and_exit_status_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--quick", "--repeats", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == ("refnet bench: error: argument --repeats: expected an "
                                       "integer >= 1, got '0' (see refnet bench --help)\n")


def test_small_jacobian_benchmark_reports_times_and_agreement():
    result = bench.benchmark_jacobian(widths=(6, 5, 5, 3), n_inputs=4, repeats=1, seed=0)
    assert result["jacobian_shape"] == [4, 3, 6]
    assert set(result["seconds"]) == {"batched", "loop_per_output", "loop_per_row"}
    assert all(t > 0 for t in result["seconds"].values())
    assert result["speedup"]["loop_per_output"] > 0
    assert result["max_rel_diff"]["loop_per_output"] <= 1e-12


def test_disagreeing_jacobians_are_not_timed(monkeypatch):
    real = bench.jacobian
    monkeypatch.setattr(bench, "jacobian", lambda *a, **k: 1.01 * real(*a, **k))
    with pytest.raises(RuntimeError, match="disagree"):
        bench.benchmark_jacobian(widths=(6, 5, 3), n_inputs=2, repeats=1)


def test_mlp_layout():
    net = bench.mlp((4, 3, 2))
    assert [n.name for n in net.nodes] == ["fc1", "act1", "fc2"]
    assert net(net.init(0), np.ones((1, 4))).shape == (1, 2)


def test_importing_refnet_never_imports_torch():
    code = "import sys, refnet, refnet.spectra; sys.exit('torch' in sys.modules)"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0
