"""The READMEs' study tables are what ``refnet study`` wrote, and show what their text says.

The committed outputs under ``analysis/out/`` come from the commands the READMEs show (the
headline in README.md, the rest in analysis/README.md); these tests keep the READMEs' copies
identical to them and check the claims their text makes.
"""
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "analysis"))
import readme_study_tables  # noqa: E402
ANALYSIS_README = ROOT / "analysis" / "README.md"


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


@pytest.mark.parametrize("readme, marker", [
    ("README.md", "study-quick-claims"), ("analysis/README.md", "study-alpha-claims"),
    ("analysis/README.md", "offsets-claims"), ("analysis/README.md", "study-claims")])
def test_readme_claims_are_what_the_committed_runs_say(readme, marker):
    """The sentences with numbers and orderings are written from study.json: a claim that
    no longer holds in the committed outputs changes its block and fails here."""
    text = (ROOT / readme).read_text()
    block = re.search(rf"<!-- {marker}:begin -->\n(.*?)\n<!-- {marker}:end -->", text, re.S)
    assert block, f"{readme} has no {marker} block"
    t = readme_study_tables
    write, folder = {"study-quick-claims": (t.quick_claims, "study-quick"),
                     "study-alpha-claims": (t.alpha_claims, "alpha/full"),
                     "offsets-claims": (t.offsets_claims, "offsets/quick"),
                     "study-claims": (t.full_claims, "study-full")}[marker]
    expected = write(t.summary(f"analysis/out/{folder}"))
    assert block.group(1) == expected


def test_claims_follow_the_numbers():
    """A changed number or verdict changes the sentences (so the test above can fail)."""
    summary = _summary("analysis/out/study-full")
    before = readme_study_tables.full_claims(summary)
    summary["differences"][0]["shown"] = not summary["differences"][0]["shown"]
    after = readme_study_tables.full_claims(summary)
    assert after.count("no difference shown") != before.count("no difference shown")
    next(r for r in summary["rows"] if r["key"] == "imp")["acc_mean"] += 1.0
    assert readme_study_tables.full_claims(summary) != after


@pytest.mark.parametrize("folder", [
    "analysis/out/study-full", "analysis/out/study-quick"])
def test_committed_runs_are_complete_and_consistent(folder):
    summary = _summary(folder)
    assert summary["config"]["densities"] == [0.01, 0.001, 0.0001]
    for row in summary["rows"]:
        if row["needs"]:        # not trained: below the least density the method meets
            assert row["acc_mean"] is None and row["density"] < row["needs"]
        else:
            assert row["seeds"] == len(summary["config"]["seeds"]) and row["lr"] is not None
    # IMP's cost: 20% per round and the stated round epochs, then the final run
    c = summary["config"]
    assert [_acc(summary, "imp", d)["cost"] for d in (1e-2, 1e-3, 1e-4)] == \
        [r * c["prune_epochs"] + c["epochs"] for r in (21, 31, 42)]
    # the DCT-only floor is one training shown in every column
    assert len({_acc(summary, "dct-only", d)["acc_mean"] for d in (1e-2, 1e-3, 1e-4)}) == 1
    # a difference is "shown" exactly where its interval leaves 0 out
    for diff in summary["differences"]:
        assert diff["shown"] == (abs(diff["mean"]) > diff["ci"])


def test_readme_allocation_table_is_what_the_script_prints():
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "analysis/allocations.py", "--density", "1e-3"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in ANALYSIS_README.read_text()


def test_the_studys_stated_sizes_and_training_times_are_its_committed_runs():
    import csv
    text = " ".join((ROOT / "analysis" / "README.md").read_text().split())
    for folder, name in (("study-quick", "The tuned quick study"), ("study-full", "the full study")):
        with open(ROOT / "analysis" / "out" / folder / "runs.csv", newline="") as handle:
            seconds = [float(r["seconds"]) for r in csv.DictReader(handle)]
        assert (f"{name} trains {len(seconds):,} networks, {sum(seconds):,.0f} s of training "
                "in all") in text
        if folder == "study-quick":      # the first command stays under 5 minutes on 2 workers
            assert sum(seconds) / 2 < 300
        else:                            # the command's comment, to the nearest half hour
            hours = round(sum(seconds) / 2 / 3600 * 2) / 2
            assert f"--out analysis/out/study-full # about {hours:g} hours on 2 cores" in text
