"""The study tables in the READMEs are what ``refnet study`` wrote, and show what they say.

The committed outputs under ``analysis/out/`` come from the commands the READMEs show; these
tests keep the copies in README.md or analysis/README.md identical to them and check the
claims their text makes.
"""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "analysis"))
import readme_blocks  # noqa: E402
SPARSE_BASELINES = ("random-uniform", "random-epl", "snip", "force", "synflow", "imp",
                    "rigl-erk")


def _summary(folder):
    return json.loads((ROOT / folder / "study.json").read_text())


def _acc(summary, key, density):
    return next(r for r in summary["rows"] if r["key"] == key and r["density"] == density)


@pytest.mark.parametrize("marker, folder", [
    ("study-full", "analysis/out/study-full"), ("study-quick", "analysis/out/study-quick"),
    ("study-alpha", "analysis/out/alpha/full"),
    ("bench-jacobian", "analysis/out/bench_jacobian.md"),
    ("bench-dctps", "analysis/out/bench_dctps.md")])
def test_readme_table_is_the_committed_run(marker, folder):
    path = ROOT / folder
    path = path if path.suffix == ".md" else path / "study.md"
    assert readme_blocks.read_block(marker) == path.read_text().rstrip("\n")


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
    assert any(result.stdout.strip() in doc.read_text()
               for doc in readme_blocks.DOCS if doc.exists())
