"""The READMEs' study tables are what ``refnet study`` wrote, and show what their text says.

The committed outputs under ``analysis/out/`` come from the commands the READMEs show (the
headline in README.md, the rest in analysis/README.md); these tests keep the READMEs' copies
identical to them and check the claims their text makes.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ANALYSIS_README = ROOT / "analysis" / "README.md"
SPARSE_BASELINES = ("random-uniform", "random-epl", "snip", "force", "synflow", "imp",
                    "rigl-erk")


def _summary(folder):
    return json.loads((ROOT / folder / "study.json").read_text())


def _acc(summary, key, density):
    return next(r for r in summary["rows"] if r["key"] == key and r["density"] == density)


@pytest.mark.parametrize("readme, marker, folder", [
    ("README.md", "study-quick", "analysis/out/study-quick"),
    ("analysis/README.md", "study-full", "analysis/out/study-full"),
    ("analysis/README.md", "study-alpha", "analysis/out/alpha/full"),
    ("analysis/README.md", "bench-jacobian", "analysis/out/bench_jacobian.md"),
    ("analysis/README.md", "bench-train", "analysis/out/bench_train.md"),
    ("analysis/README.md", "bench-dctps", "analysis/out/bench_dctps.md"),
    ("analysis/README.md", "study-wall-time", "analysis/out/study_wall_time.md")])
def test_readme_table_is_the_committed_run(readme, marker, folder):
    text = (ROOT / readme).read_text()
    block = re.search(rf"<!-- {marker}:begin -->\n(.*?)\n<!-- {marker}:end -->", text, re.S)
    assert block, f"{readme} has no {marker} block"
    path = ROOT / folder
    path = path if path.suffix == ".md" else path / "study.md"
    assert block.group(1) == path.read_text().rstrip("\n")


@pytest.mark.parametrize("folder", ["analysis/out/study-full", "analysis/out/study-quick"])
def test_the_talks_finding_holds_in_the_committed_runs(folder):
    summary = _summary(folder)
    assert summary["config"]["densities"] == [0.01, 0.001, 0.0001]
    dctps = _acc(summary, "dctps-epl", 1e-4)["acc_mean"]
    for key in SPARSE_BASELINES:      # every random, pruned, IMP or RigL network
        assert dctps >= _acc(summary, key, 1e-4)["acc_mean"] + 10, key
    assert abs(_acc(summary, "random-uniform", 1e-4)["acc_mean"] - 10.0) <= 5   # chance
    # the DCT-only floor sits beside DCTpS at every density
    assert all(_acc(summary, "dct-only", d)["acc_mean"] == _acc(summary, "dct-only", 1e-2)[
        "acc_mean"] for d in (1e-3, 1e-4))
    # RigL collapses at 0.01% as random sparse does; DCTpS + RigL beats it by far
    assert _acc(summary, "rigl-erk", 1e-4)["acc_mean"] <= 15
    assert _acc(summary, "dctps-rigl", 1e-4)["acc_mean"] >= dctps


def test_full_run_dctps_rigl_at_least_as_good_as_dctps():
    summary = _summary("analysis/out/study-full")
    for density in (1e-2, 1e-3, 1e-4):
        assert (_acc(summary, "dctps-rigl", density)["acc_mean"]
                >= _acc(summary, "dctps-epl", density)["acc_mean"])


def test_readme_allocation_table_is_what_the_script_prints():
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "analysis/allocations.py", "--density", "1e-3"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ANALYSIS_README.read_text()
