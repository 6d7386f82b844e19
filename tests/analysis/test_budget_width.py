"""analysis/budget_width.py: budgets from build_model, exact nnz at every width, the learning
rate chosen on validation, t-intervals, bad arguments refused in one line, and the README's
block and claims equal to the committed output."""
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("budget_width",
                                              ROOT / "analysis" / "budget_width.py")
bw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bw)


def test_budgets_are_lenet300s_weights_at_the_studys_densities():
    assert [bw.budget_of(d) for d in bw.DENSITIES] == [2662, 266, 27]
    assert bw.sizes_of(300) == (784, 300, 100, 10) and bw.sizes_of(100) == (784, 100, 33, 10)


def test_a_tiny_run_trains_every_cell_at_the_budget_and_writes_its_files(tmp_path):
    setting = bw.Setting(widths=(30, 60), seeds=(0, 1), lrs=(1e-3, 1e-2), epochs=1)
    rows = bw.run(setting, tmp_path, workers=1, densities=(1e-3,))
    assert [(r["budget"], r["width"], r["kind"]) for r in rows] == [
        (266, 30, "dctps"), (266, 30, "sparse"), (266, 60, "dctps"), (266, 60, "sparse"),
        (0, 30, "dct-only"), (0, 60, "dct-only")]
    assert all(r["edge"] for r in rows)
    assert rows[0]["density"] == 266 / (784 * 30 + 30 * 10 + 10 * 10)
    saved = json.loads((tmp_path / "budget.json").read_text())
    assert saved["rows"] == rows and len(saved["runs"]) == 24
    md = (tmp_path / "budget.md").read_text()
    assert md.count("| 266 |") == 4 and "| 784-60-20-10 | DCTpS (EPL) |" in md
    assert "| 0 | 60 | 784-60-20-10 | DCT only (no S) | 0% |" in md
    assert (tmp_path / "budget.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def _runs(val_by_lr, test=(80.0, 82.0, 84.0)):
    return [dict(budget=27, width=30, kind=kind, lr=lr, seed=s, density=0.1,
                 val_acc=val[s], test_acc=test[s] if lr == 0.01 else 50.0)
            for kind in bw.KINDS for lr, val in val_by_lr.items() for s in range(3)]


def test_the_rate_is_chosen_on_validation_and_the_interval_is_students_t():
    setting = bw.Setting(widths=(30,), seeds=(0, 1, 2), lrs=(1e-3, 1e-2, 1e-1))
    rows = bw.cells(_runs({1e-3: (50, 50, 50), 1e-2: (60, 60, 60), 1e-1: (0, 100, 80)}), setting)
    row = rows[0]
    assert row["lr"] == 0.01 and not row["edge"]       # 60 beats 50 and the tie at 60: smaller
    assert row["mean"] == 82.0
    t2 = 0.95 * math.sqrt(2 / (4 * 0.975 * 0.025))    # Student's t, 2 dof, closed form
    assert math.isclose(row["half"], t2 * 2 / math.sqrt(3), rel_tol=1e-12)
    row = bw.cells(_runs({1e-3: (50, 50, 50), 1e-2: (60, 60, 61)}),
                   bw.Setting(widths=(30,), seeds=(0, 1, 2), lrs=(1e-3, 1e-2)))[0]
    assert row["lr"] == 0.01 and row["edge"]


@pytest.mark.parametrize("argv, message", [
    (["--out", "analysis/budget_width.py"], "--out: 'analysis/budget_width.py' exists and is "
                                            "not a folder"),
    (["--out", "/no/such/folder/out"], "--out: folder '/no/such/folder' does not exist"),
    (["--workers", "0"], "--workers: expected a positive integer, got '0'"),
])
def test_bad_arguments_are_one_line_errors(argv, message):
    done = subprocess.run([sys.executable, "analysis/budget_width.py", *argv], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr


def test_the_lenet300_runs_are_the_studys_own():
    """w = 300 is LeNet-300-100 with the study's seeds: its runs repeat the study's bitwise."""
    import csv
    runs = json.loads((ROOT / "analysis/out/budget/budget.json").read_text())["runs"]
    study = list(csv.DictReader(open(ROOT / "analysis/out/study-full/runs.csv")))
    for kind, method, budget, density in [("dctps", "dctps-epl", 2662, "0.01"),
                                          ("sparse", "random-epl", 27, "0.0001"),
                                          ("dct-only", "dct-only", 0, "1.0")]:
        ours = [r["test_acc"] for r in runs if (r["kind"], r["budget"], r["width"], r["lr"])
                == (kind, budget, 300, 0.01)]
        theirs = [float(r["test_acc"]) for r in study if (r["method"], r["density"], r["lr"])
                  == (method, density, "0.01")]
        assert ours == theirs and len(ours) == 3, kind
