"""analysis/budget_width.py: budgets from build_model, exact nnz at every width, the learning
rate chosen on validation, t-intervals, bad arguments refused in one line, and the README's
block and claims equal to the committed output."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "analysis"))   # importable by name in the spawned workers too
import budget_width as bw  # noqa: E402


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


def test_a_diverged_seed_leaves_the_mean_and_is_counted():
    setting = bw.Setting(widths=(30,), seeds=(0, 1, 2), lrs=(1e-3, 1e-2))
    row = bw.cells(_runs({1e-3: (50, 50, 50), 1e-2: (60, 60, 60)}, test=(80.0, math.nan, 84.0)),
                   setting)[0]
    assert (row["lr"], row["mean"], row["diverged"]) == (0.01, 82.0, 1)
    assert "| 82.0 (1 diverged, mean of the rest) |" in bw.table([row], setting, 1.0, 1)
    assert bw.cells(_runs({1e-3: (50, 50, 50), 1e-2: (60, 60, 60)}), setting)[0]["diverged"] == 0


@pytest.mark.parametrize("argv, message", [
    (["--out", "analysis/budget_width.py"], "--out: 'analysis/budget_width.py' exists and is "
                                            "not a folder"),
    (["--out", "/no/such/folder/out"], "--out: folder '/no/such/folder' does not exist"),
    (["--workers", "0"], "--workers: expected a positive integer, got '0'"),
    (["--quick", "--readme"], "--readme: the README shows the full run; leave out --quick"),
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
        ours = {r["seed"]: r["test_acc"] for r in runs if (r["kind"], r["budget"], r["width"],
                                                            r["lr"]) == (kind, budget, 300, 0.01)}
        theirs = {int(r["seed"]): float(r["test_acc"]) for r in study
                  if (r["method"], r["density"], r["lr"]) == (method, density, "0.01")}
        assert len(ours) == 3 and ours == {s: theirs[s] for s in ours}, kind


def _section():
    text = (ROOT / "analysis/README.md").read_text()
    return text[text.index("## Sparser and larger"):text.index("## Data")]


def test_the_readme_block_is_the_committed_run():
    sys.path.insert(0, str(ROOT / "analysis"))
    import readme_blocks
    assert readme_blocks.read_block("budget") == \
        (ROOT / "analysis/out/budget/budget.md").read_text().rstrip("\n")


def test_the_readmes_claims_hold_in_the_committed_run():
    saved = json.loads((ROOT / "analysis/out/budget/budget.json").read_text())
    rows = {(r["budget"], r["width"], r["kind"]): r for r in saved["rows"]}
    widths = (30, 100, 300, 900)
    text = " ".join(_section().split())
    cell = lambda b, w, k: rows[b, w, k]      # noqa: E731
    above = lambda a, b: a["low"] > b["high"]     # noqa: E731
    same = lambda a, b: not above(a, b) and not above(b, a)     # noqa: E731
    pct = lambda *key: f"{cell(*key)['mean']:.1f}%"     # noqa: E731
    # the set-up: budgets, densities, biases, times
    assert [b for b in dict.fromkeys(r["budget"] for r in saved["rows"])] == [2662, 266, 27, 0]
    assert f"{100 * cell(2662, 30, 'dctps')['density']:.1f}% at w = 30" in text
    assert f"{100 * cell(2662, 900, 'dctps')['density']:.3g}% at w = 900" in text
    assert [sum(bw.sizes_of(w)[1:]) for w in (30, 900)] == [50, 1210]
    assert f"# {saved['seconds']:.0f} s on 2 cores" in text and saved["workers"] == 2
    quick = json.loads((ROOT / "analysis/out/budget-quick/budget.json").read_text())
    assert saved["setting"] == dict(widths=[30, 100, 300, 900], seeds=[0, 1, 2],
                                    lrs=[1e-3, 3e-3, 1e-2, 3e-2, 0.1], epochs=30, batch_size=128)
    assert quick["setting"] == dict(saved["setting"], seeds=[0, 1], lrs=[1e-3, 1e-2], epochs=10)
    assert f"# {quick['seconds']:.0f} s: 2 seeds" in text
    # plain sparse: denser and smaller wins
    s266 = [cell(266, w, "sparse") for w in widths]
    assert above(s266[0], s266[1]) and above(s266[1], s266[2]) and above(s266[1], s266[3])
    assert same(s266[2], s266[3])
    assert "59.2% at w = 30, 32.4% at w = 100 and 13.4% at w = 300 (13.2% at w = 900" in text
    assert [pct(266, w, "sparse") for w in widths] == ["59.2%", "32.4%", "13.4%", "13.2%"]
    s2662 = [cell(2662, w, "sparse") for w in widths]
    assert all(above(s, s2662[3]) for s in s2662[:3])
    assert all(same(a, b) for a in s2662[:3] for b in s2662[:3])
    assert sorted(pct(2662, w, "sparse") for w in widths) == ["76.7%", "88.1%", "89.4%", "89.5%"]
    assert "76.7% against 88.1% to 89.5%" in text
    assert all(cell(27, w, "sparse")["mean"] == 10.0 for w in widths)
    # DCTpS: no difference between widths at 2,662 and 266; above the others where said
    for budget, claim in ((2662, "90.2% to 93.4%"), (266, "78.1% to 80.4%")):
        d = [cell(budget, w, "dctps") for w in widths]
        assert all(same(a, b) for a in d for b in d)
        assert claim == f"{min(r['mean'] for r in d):.1f}% to {max(r['mean'] for r in d):.1f}%"
        assert claim in text
    for w in widths:
        assert above(cell(266, w, "dctps"), cell(266, w, "sparse"))
        assert above(cell(27, w, "dctps"), cell(27, w, "sparse"))
        assert above(cell(266, w, "dctps"), cell(0, w, "dct-only"))
        assert same(cell(27, w, "dctps"), cell(0, w, "dct-only"))
        assert above(cell(2662, w, "dctps"), cell(2662, w, "sparse")) == (w in (300, 900))
    assert "(93.4% against 88.1%, 90.3% against 76.7%)" in text
    assert [pct(2662, w, k) for w in (300, 900) for k in ("dctps", "sparse")] == \
        ["93.4%", "88.1%", "90.3%", "76.7%"]
    # at 27 weights DCTpS and the floor rise together
    d27 = [cell(27, w, "dctps") for w in widths]
    assert above(d27[1], d27[0]) and above(d27[2], d27[1]) and same(d27[2], d27[3])
    assert "41.5%, 52.9%, 61.4% and 68.0% at w = 30, 100, 300 and 900" in text
    assert [pct(27, w, "dctps") for w in widths] == ["41.5%", "52.9%", "61.4%", "68.0%"]
    assert "28.3%, 51.0%, 61.7% and 65.7%" in text
    assert [pct(0, w, "dct-only") for w in widths] == ["28.3%", "51.0%", "61.7%", "65.7%"]
    # rates at the grid's edge: the floor everywhere, DCTpS only at w = 900 below 1%
    edge = {key for key, r in rows.items() if r["edge"] and key[2] != "sparse"}
    assert edge == {(0, w, "dct-only") for w in widths} | {(266, 900, "dctps"),
                                                           (27, 900, "dctps")}
    assert all(rows[key]["lr"] == 0.1 for key in edge)
    assert all(r["mean"] <= 15 for key, r in rows.items() if r["edge"] and key[2] == "sparse")
    study = json.loads((ROOT / "analysis/out/study-full/study.json").read_text())
    floor = next(r for r in study["rows"] if r["key"] == "dct-only")
    assert (f"61.7% at w = 300; the study, whose grid extends at an edge, gives it "
            f"{floor['acc_mean']:.1f}% (at rate {floor['lr']:g})") in text
