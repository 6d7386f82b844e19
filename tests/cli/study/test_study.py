"""The study: learning rates chosen on validation, serial = parallel bitwise, the CLI's JSON."""
import json
import math

import numpy as np
import pytest

from refnet.cli import main
from refnet.cli.study import (METHODS, StudyConfig, StudyResult, run_study, summarize, tasks_of,
                          write_outputs)
from refnet.cli.study.report import markdown_table
from refnet.cli.study.runner import run_task

TINY = StudyConfig(data="digits", model="mlp", model_args=(("sizes", (64, 16, 10)),),
                   densities=(0.2, 0.05), seeds=(0, 1), lrs=(1e-2,), epochs=1, val_size=100,
                   prune_epochs=1, rigl=((10, 0.3),))


def _record(method, density, lr, seed, val, test, diverged=False):
    return {"method": method, "density": density, "lr": lr, "seed": seed, "val_acc": val,
            "test_acc": test, "diverged": diverged, "trainable": 10, "nnz_density": density}


def test_learning_rate_is_chosen_on_validation_never_on_test():
    config = StudyConfig(methods=("dense", "random-epl"), densities=(0.1,), seeds=(0, 1),
                         lrs=(0.001, 0.01))
    records = [_record("dense", 1.0, 0.001, s, 90.0, 90.0) for s in (0, 1)]
    records += [_record("dense", 1.0, 0.01, s, 80.0, 99.0) for s in (0, 1)]
    # lr 0.01 is better on test but worse on validation: 0.001 must be chosen
    records += [_record("random-epl", 0.1, 0.001, s, 70.0, 60.0 + s) for s in (0, 1)]
    records += [_record("random-epl", 0.1, 0.01, 0, 75.0, 10.0),
                _record("random-epl", 0.1, 0.01, 1, math.nan, math.nan, diverged=True)]
    summary = summarize(StudyResult(config, records))
    dense, sparse = summary["rows"]
    assert dense["lr"] == 0.001 and dense["acc_mean"] == 90.0 and summary["dense_acc"] == 90.0
    # a diverged run counts as 0 on validation: mean(75, 0) < 70
    assert sparse["lr"] == 0.001 and sparse["acc_mean"] == 60.5
    assert sparse["acc_std"] == pytest.approx(np.std([60.0, 61.0], ddof=1))
    assert sparse["delta"] == pytest.approx(-29.5)


def test_density_free_methods_train_once_and_fill_every_column():
    tasks = tasks_of(TINY)
    by_method = {}
    for task in tasks:
        by_method.setdefault(task.method, set()).add(task.density)
    assert by_method["dense"] == {1.0} and by_method["dct-only"] == {1.0}
    assert by_method["dctps-epl"] == {0.2, 0.05}
    # (2 density-free + 12 methods x 2 densities - Doping at 5%, over budget) x 2 seeds
    assert len(tasks) == (2 + 12 * 2 - 1) * 2


def test_dct_only_trains_alpha_and_biases_only():
    task = [t for t in tasks_of(TINY) if t.method == "dct-only"][0]
    record = run_task(task)
    # mlp 64-16-10: one alpha and one bias vector per layer, no S entry
    assert record["trainable"] == 2 + 16 + 10 and record["nnz_density"] == 0.0


def test_parallel_and_serial_runs_are_bitwise_identical():
    config = StudyConfig(data="digits", model="mlp", model_args=(("sizes", (64, 16, 10)),),
                         methods=("dense", "random-epl", "dctps-epl", "snip"), densities=(0.1,),
                         seeds=(0, 1), lrs=(1e-2,), epochs=2, val_size=100)
    serial = run_study(config, workers=1, progress=False).records
    parallel = run_study(config, workers=2, progress=False).records
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in serial]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in parallel]
    assert all(not r["diverged"] for r in serial)


def test_every_default_method_is_registered():
    assert set(StudyConfig().methods) <= set(METHODS)
    with pytest.raises(ValueError, match="unknown study method"):
        StudyConfig(methods=("dense", "magic"))
    with pytest.raises(ValueError, match="densities"):
        StudyConfig(densities=(0.0,))


def test_study_command_json_and_files(tmp_path, capsys):
    status = main(["study", "--methods", "dense,dctps-epl,dct-only", "--densities", "0.01",
                   "--seeds", "0", "--lrs", "0.01", "--epochs", "1", "--out", str(tmp_path),
                   "--json", "--quiet"])
    assert status == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out["dense_acc"], float)
    assert [(r["key"], r["density"]) for r in out["rows"]] == [
        ("dense", 0.01), ("dctps-epl", 0.01), ("dct-only", 0.01)]
    for row in out["rows"]:
        assert {"method", "density", "acc_mean", "acc_std", "delta"} <= set(row)
        assert row["delta"] == pytest.approx(row["acc_mean"] - out["dense_acc"])
    for name in ("study.md", "study.csv", "study.json", "runs.csv", "accuracy_vs_density.png",
                 "spectrum.png", "spectrum.csv"):
        assert (tmp_path / name).stat().st_size > 0


def test_alpha_option_puts_fixed_rows_beside_trainable_ones():
    from refnet.cli.study.command import _with_alpha_rows
    methods = ("dense", "dctps-epl", "dct-only", "snip")
    assert _with_alpha_rows(methods, ("trainable",)) == methods
    assert _with_alpha_rows(methods, ("fixed", "trainable")) == (
        "dense", "dctps-epl", "dctps-epl-fixed-alpha", "dct-only", "dct-only-fixed-alpha", "snip")
    assert _with_alpha_rows(methods, ("fixed",)) == (
        "dense", "dctps-epl-fixed-alpha", "dct-only-fixed-alpha", "snip")
    with pytest.raises(ValueError, match="--alpha"):
        _with_alpha_rows(methods, ("frozen",))


def test_fixed_alpha_has_no_alpha_parameter():
    config = StudyConfig(data="digits", model="mlp", model_args=(("sizes", (64, 16, 10)),),
                         methods=("dctps-epl", "dctps-epl-fixed-alpha", "dct-only-fixed-alpha"),
                         densities=(0.1,), seeds=(0,), lrs=(1e-2,), epochs=1, val_size=100)
    records = {r["method"]: r for r in run_study(config, workers=1, progress=False).records}
    # two layers: the trainable-alpha network has exactly two more scalars
    assert records["dctps-epl"]["trainable"] == records["dctps-epl-fixed-alpha"]["trainable"] + 2
    assert records["dct-only-fixed-alpha"]["trainable"] == 16 + 10     # biases only


def test_dynamic_sparse_imp_and_subspace_rows_train():
    config = StudyConfig(data="digits", model="mlp", model_args=(("sizes", (64, 16, 10)),),
                         methods=("rigl-erk", "dctps-rigl", "imp", "subspace",
                                  "subspace-projected"), densities=(0.1,), seeds=(0,),
                         lrs=(3e-2,), epochs=3, val_size=100, prune_epochs=1,
                         rigl=((10, 0.3),))
    records = {r["method"]: r for r in run_study(config, workers=1, progress=False).records}
    sparse_trainable = records["rigl-erk"]["trainable"]
    for key, record in records.items():
        assert not record["diverged"] and record["test_acc"] > 20.0, key   # chance is 10%
    # both subspaces get as many trainable numbers as the sparse network (weights + biases)
    assert records["subspace"]["trainable"] == records["subspace-projected"]["trainable"] \
        == sparse_trainable
    # IMP: 11 rounds of 1 epoch (0.8 ** 11 <= 0.1), then the final 3: its cost is 14 epochs
    assert records["imp"]["epochs"] == 14 and records["rigl-erk"]["epochs"] == 3
    assert records["rigl-erk"]["options"] == {"delta_t": 10, "alpha": 0.3}
    # RigL moves the support but keeps its size
    assert records["rigl-erk"]["nnz_density"] == pytest.approx(records["imp"]["nnz_density"])


def test_offsets_option_puts_each_offsets_rows_where_the_dcts_stand():
    from refnet.cli.study.command import _with_alpha_rows, _with_offset_rows
    methods = ("dense", "dctps-epl", "dct-only", "snip")
    assert _with_offset_rows(methods, ("dct",)) == methods          # the default: unchanged
    assert _with_offset_rows(methods, ("dct", "orthogonal", "none")) == (
        "dense", "dctps-epl", "dctps-epl@orthogonal", "dctps-epl@none", "dct-only",
        "offset-only@orthogonal", "offset-only@none", "snip")
    both = _with_alpha_rows(methods, ("trainable", "fixed"))
    assert _with_offset_rows(both, ("identity", "none")) == (
        "dense", "dctps-epl@identity", "dctps-epl@none", "dctps-epl-fixed-alpha@identity",
        "offset-only@identity", "offset-only@none", "offset-only-fixed-alpha@identity", "snip")
    assert METHODS["dctps-epl@randomized-dct"].label == "DCTpS (EPL), randomized DCT offset"
    assert METHODS["offset-only@randomized-dct"].label == "randomized DCT only (no S)"
    with pytest.raises(ValueError, match="--offsets"):
        _with_offset_rows(methods, ("hadamard",))


def test_offset_rows_train_what_they_say():
    """Same supports for every offset; 'none' is Random (EPL) bitwise; the floors train
    alpha and biases (biases alone without an offset)."""
    config = StudyConfig(data="digits", model="mlp", model_args=(("sizes", (64, 16, 10)),),
                         methods=("random-epl", "dctps-epl", "dctps-epl@orthogonal",
                                  "dctps-epl@none", "offset-only@randomized-dct",
                                  "offset-only@none"),
                         densities=(0.1,), seeds=(0,), lrs=(1e-2,), epochs=1, val_size=100)
    records = {r["method"]: r for r in run_study(config, workers=1, progress=False).records}
    strip = lambda r: {k: v for k, v in r.items() if k not in ("seconds", "method")}  # noqa
    assert strip(records["dctps-epl@none"]) == strip(records["random-epl"])
    assert records["dctps-epl@orthogonal"]["trainable"] == records["dctps-epl"]["trainable"]
    assert records["dctps-epl@orthogonal"]["test_acc"] != records["dctps-epl"]["test_acc"]
    assert records["offset-only@randomized-dct"]["trainable"] == 2 + 16 + 10
    assert records["offset-only@none"]["trainable"] == 16 + 10


def test_one_seed_gives_every_offset_row_the_same_offsets():
    """The DCTpS rows at every density and the floor share a seed's random offsets."""
    from refnet.cli.study.methods import Context
    from refnet.cli.study.runner import _split
    split = _split("digits", 100, 0, True)
    offsets = []
    for key, density in (("dctps-epl@orthogonal", 0.2), ("dctps-epl@orthogonal", 0.05),
                         ("offset-only@orthogonal", 1.0)):
        ctx = Context("mlp", {"sizes": (64, 16, 10)}, density, np.random.default_rng(1),
                      np.random.default_rng(2), split.x_train, split.y_train, offset_seed=9)
        net, _ = METHODS[key].prepare(ctx)
        assert net.spec["offset_seed"] == 9
        offsets.append(net["fc1"].offset.matrix())
    np.testing.assert_array_equal(offsets[0], offsets[1])
    np.testing.assert_array_equal(offsets[0], offsets[2])


def test_readme_offsets_section_shows_the_committed_runs():
    """analysis/README.md's offsets tables are the files the commands wrote, and the study has
    every offset's row and floor at 1%, 0.1% and 0.01%."""
    import csv
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[3]
    readme = (root / "analysis" / "README.md").read_text()
    out = root / "analysis" / "out" / "offsets"
    for marker, path in (("offsets-study", out / "quick" / "study.md"),
                         ("bench-offsets", out / "bench.md")):
        block = re.search(rf"<!-- {marker}:begin -->\n(.*?)\n<!-- {marker}:end -->", readme, re.S)
        assert block and block.group(1) == path.read_text().rstrip("\n"), marker
    with open(out / "quick" / "study.csv", newline="") as handle:
        rows = {(r["key"], float(r["density"])) for r in csv.DictReader(handle)}
    for keys in ((("dctps-epl", "dct-only"),)
                 + tuple((f"dctps-epl@{o}", f"offset-only@{o}")
                         for o in ("randomized-dct", "orthogonal", "identity", "none",
                                   "permutation", "signs", "dct-2d"))):
        for key in keys:
            assert {(key, d) for d in (1e-2, 1e-3, 1e-4)} <= rows, key


def test_the_offset_ablations_reading_is_what_the_committed_run_shows():
    """Each bullet of "What the ablation says" against the paired differences in study.json."""
    import json
    from pathlib import Path
    root = Path(__file__).resolve().parents[3]
    text = (root / "analysis" / "README.md").read_text()
    s = json.loads((root / "analysis" / "out" / "offsets" / "quick" / "study.json").read_text())
    diff = {(d["a"].split("@")[1], d["density"]): d for d in s["differences"]
            if d["b"] == "dctps-epl" and "@" in d["a"]}
    assert "no better than the 1-D DCT" in text and "no\n  difference is shown at any" in text
    assert not any(diff[("dct-2d", d)]["shown"] for d in (1e-2, 1e-3, 1e-4))
    assert "both fall well below the\n  DCT at 0.1% and 0.01% (shown)" in text
    assert all(diff[(o, d)]["shown"] and diff[(o, d)]["mean"] < -10
               for o in ("permutation", "signs") for d in (1e-3, 1e-4))
    assert "At 1% the DCT beats both random orthogonal offsets" in text
    assert all(diff[(o, 1e-2)]["shown"] and diff[(o, 1e-2)]["mean"] < 0
               for o in ("randomized-dct", "orthogonal"))
    assert "At 0.01% the\n  random offsets lead, but with 2 seeds no difference" in text
    assert all(diff[(o, 1e-4)]["mean"] > 0 and not diff[(o, 1e-4)]["shown"]
               for o in ("randomized-dct", "orthogonal"))


def test_a_validation_tie_goes_to_the_smaller_rate_in_any_grid_order():
    """The grid given largest first: equal validation means still choose the smaller rate."""
    config = StudyConfig(methods=("dense",), densities=(0.1,), seeds=(0,), lrs=(0.01, 0.001))
    records = [_record("dense", 1.0, 0.01, 0, 80.0, 70.0),
               _record("dense", 1.0, 0.001, 0, 80.0, 90.0)]
    row = summarize(StudyResult(config, records))["rows"][0]
    assert row["lr"] == 0.001 and row["acc_mean"] == 90.0


def test_accuracy_plot_leaves_the_callers_matplotlib_backend_alone(tmp_path):
    """The plot is drawn on an Agg canvas; a notebook's backend must survive it."""
    from pathlib import Path

    import matplotlib

    from refnet.cli.study.report import plot_accuracy
    root = Path(__file__).resolve().parents[3]
    summary = json.loads((root / "analysis/out/study-quick/study.json").read_text())
    before = matplotlib.get_backend()
    matplotlib.use("template")
    try:
        plot_accuracy(summary, tmp_path / "plot.png")
        assert matplotlib.get_backend() == "template"
    finally:
        matplotlib.use(before)
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_study_without_validation_examples_is_refused_before_training():
    with pytest.raises(ValueError, match="val_size must be an int >= 1"):
        StudyConfig(val_size=0)


def test_a_row_whose_runs_all_diverged_is_strict_json(tmp_path):
    """NaN accuracies are written as null, never as the bare word NaN."""
    config = StudyConfig(methods=("dense", "random-epl"), densities=(0.1, 0.01), seeds=(0, 1),
                         lrs=(0.01,))
    records = [_record("dense", 1.0, 0.01, s, 90.0, 90.0) for s in (0, 1)]
    records += [_record("random-epl", 0.1, 0.01, s, 50.0, 50.0) for s in (0, 1)]
    records += [_record("random-epl", 0.01, 0.01, s, math.nan, math.nan, diverged=True)
                for s in (0, 1)]
    summary = summarize(StudyResult(config, records))
    assert math.isnan(summary["rows"][3]["acc_mean"])
    paths = write_outputs(summary, records, str(tmp_path))

    def refuse(name):
        raise AssertionError(f"study.json holds {name}, which strict JSON does not allow")

    written = json.loads((tmp_path / "study.json").read_text(), parse_constant=refuse)
    assert written["rows"][3]["acc_mean"] is None and written["rows"][3]["diverged"] == 2
    assert written["rows"][2]["acc_mean"] == 50.0 and paths["study.json"].endswith("study.json")


def test_outputs_are_written_when_every_sparse_run_diverged(tmp_path):
    """Nothing but NaN on the log axis: the plot is still drawn (it raised ValueError)."""
    config = StudyConfig(methods=("dense", "random-epl"), densities=(0.1,), seeds=(0,),
                         lrs=(0.01,))
    records = [_record("dense", 1.0, 0.01, 0, 90.0, 90.0),
               _record("random-epl", 0.1, 0.01, 0, math.nan, math.nan, diverged=True)]
    write_outputs(summarize(StudyResult(config, records)), records, str(tmp_path))
    assert (tmp_path / "accuracy_vs_density.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| Random (EPL) | diverged |" in (tmp_path / "study.md").read_text()


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary(tmp_path, monkeypatch):
    """A full disk in the middle of the plot: the previous figure stays, nothing half-written."""
    from matplotlib.figure import Figure
    config = StudyConfig(methods=("dense",), densities=(0.1,), seeds=(0,), lrs=(0.01,))
    records = [_record("dense", 1.0, 0.01, 0, 90.0, 90.0)]
    (tmp_path / "accuracy_vs_density.png").write_bytes(b"old")

    def full_disk(self, handle, **kwargs):
        handle.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_outputs(summarize(StudyResult(config, records)), records, str(tmp_path))
    assert (tmp_path / "accuracy_vs_density.png").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "accuracy_vs_density.png", "runs.csv", "study.csv", "study.json", "study.md"]


def test_a_rate_that_wins_at_an_end_extends_the_grid_by_its_factor_at_most_three_times():
    from refnet.cli.study.runner import MAX_EXTENSIONS, extensions
    config = StudyConfig(methods=("dense", "random-epl"), densities=(0.1,), seeds=(0, 1),
                         lrs=(0.001, 0.003, 0.01))
    records = [_record("dense", 1.0, lr, s, val, 90.0)
               for lr, val in ((0.001, 50.0), (0.003, 60.0), (0.01, 70.0)) for s in (0, 1)]
    records += [_record("random-epl", 0.1, lr, s, val, 50.0)         # the middle rate wins
                for lr, val in ((0.001, 50.0), (0.003, 60.0), (0.01, 55.0)) for s in (0, 1)]
    new = extensions(config, records)
    # the top wins: one more rate, 0.01 * (0.01 / 0.003), for dense only, every seed
    assert [(t.method, t.lr, t.seed) for t in new] == [("dense", 0.0333, 0), ("dense", 0.0333, 1)]
    lrs = [0.0333, 0.111, 0.37]
    for step, lr in enumerate(lrs):
        records += [_record("dense", 1.0, lr, s, 71.0 + step, 90.0) for s in (0, 1)]
        new = extensions(config, records)
        assert [t.lr for t in new] == ([lrs[step + 1]] * 2 if step + 1 < MAX_EXTENSIONS else [])
    row = summarize(StudyResult(config, records))["rows"][0]
    assert row["lr"] == 0.37 and row["edge"] == "top"
    assert "(lr 0.37, at top edge)" in markdown_table(summarize(StudyResult(config, records)))
    # the bottom: extends down when it beats its neighbour, not on a tie
    low = [_record("dense", 1.0, lr, s, val, 90.0)
           for lr, val in ((0.001, 70.0), (0.003, 60.0), (0.01, 50.0)) for s in (0, 1)]
    assert {t.lr for t in extensions(config, low)} == {0.000333}
    tie = [_record("dense", 1.0, lr, s, 10.0, 10.0) for lr in (0.001, 0.003, 0.01)
           for s in (0, 1)]
    assert extensions(config, tie) == []
    # a factor so close to 1 that the rounded new rate is an old one: no extension, no loop
    near = StudyConfig(methods=("dense",), densities=(0.1,), seeds=(0,), lrs=(1e-3, 1.002e-3))
    top = [_record("dense", 1.0, lr, 0, val, 90.0) for lr, val in ((1e-3, 50.0), (1.002e-3, 60.0))]
    assert extensions(near, top) == []


def test_tables_give_t_intervals_and_paired_differences_over_seeds():
    from refnet.cli.study.report import t_interval
    mean, half = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302653 * 1.0 / np.sqrt(3), rel=1e-6)
    config = StudyConfig(methods=("dense", "dctps-epl", "dct-only"), densities=(0.1,),
                         seeds=(0, 1, 2), lrs=(0.01,))
    records = [_record("dense", 1.0, 0.01, s, 90.0, 95.0) for s in (0, 1, 2)]
    # DCTpS beats its floor by 10 +- 1 on every seed; a wide spread of its own
    records += [_record("dctps-epl", 0.1, 0.01, s, 80.0, 60.0 + 10 * s) for s in (0, 1, 2)]
    records += [_record("dct-only", 1.0, 0.01, s, 70.0, 50.0 + 10 * s + (s == 1))
                for s in (0, 1, 2)]
    summary = summarize(StudyResult(config, records))
    (diff,) = summary["differences"]
    assert (diff["a"], diff["b"]) == ("dctps-epl", "dct-only") and diff["shown"]
    assert diff["mean"] == pytest.approx(29 / 3) and diff["ci"] < 2.5
    table = markdown_table(summary)
    assert "| DCTpS (EPL) - DCT only (no S) | +9.7 ± 1.4 |" in table
    assert "70.0 ± 24.8 (lr 0.01) | 30 |" in table          # 4.30 * 10 / sqrt(3)
    assert "binomial standard error of up to 2.5 points" in table     # 400 validation examples
    # the same gap with the seeds' order shuffled on one side is no longer shown
    records[-3:] = [_record("dct-only", 1.0, 0.01, s, 70.0, 70.0 - 10 * s) for s in (0, 1, 2)]
    (diff,) = summarize(StudyResult(config, records))["differences"]
    assert not diff["shown"]
    assert "(no difference shown)" in markdown_table(summarize(StudyResult(config, records)))


def test_a_diverged_seed_leaves_the_paired_difference_and_the_table_says_so():
    config = StudyConfig(methods=("dense", "dctps-epl", "dct-only"), densities=(0.1,),
                         seeds=(0, 1, 2), lrs=(0.01,))
    records = [_record("dense", 1.0, 0.01, s, 90.0, 95.0) for s in (0, 1, 2)]
    records += [_record("dctps-epl", 0.1, 0.01, s, 80.0, 60.0 + s, diverged=s == 2)
                for s in (0, 1, 2)]
    records += [_record("dct-only", 1.0, 0.01, s, 70.0, 50.0) for s in (0, 1, 2)]
    summary = summarize(StudyResult(config, records))
    (diff,) = summary["differences"]
    assert (diff["n"], diff["mean"]) == (2, 10.5)
    assert "| +10.5 ± 6.4 (over 2 seeds) |" in markdown_table(summary)
    records[-4]["diverged"] = False                       # all three seeds: nothing said
    summary = summarize(StudyResult(config, records))
    assert summary["differences"][0]["n"] == 3 and "seeds) |" not in markdown_table(summary)


def test_each_offsets_dctps_row_is_paired_with_the_dcts():
    config = StudyConfig(methods=("dctps-epl", "dctps-epl@signs", "dctps-epl-fixed-alpha@signs"),
                         densities=(0.1,), seeds=(0, 1), lrs=(0.01,))
    records = [_record(key, 0.1, 0.01, s, 50.0, acc + s)
               for key, acc in (("dctps-epl", 80.0), ("dctps-epl@signs", 70.0),
                                ("dctps-epl-fixed-alpha@signs", 60.0)) for s in (0, 1)]
    (diff,) = summarize(StudyResult(config, records))["differences"]
    assert (diff["a"], diff["b"], diff["mean"], diff["ci"]) == (
        "dctps-epl@signs", "dctps-epl", -10.0, 0.0)


def test_imp_costs_every_round_and_the_full_setting_states_it():
    from refnet.cli.study.methods import imp_cost
    from refnet.cli.study.runner import FULL, QUICK, settings_of
    (options,) = settings_of(FULL, "imp")
    assert [imp_cost(d, FULL.epochs, dict(options)) for d in FULL.densities] == [240, 340, 450]
    (options,) = settings_of(QUICK, "imp")
    assert [imp_cost(d, QUICK.epochs, dict(options)) for d in QUICK.densities] == [31, 41, 52]
    assert len(settings_of(FULL, "rigl-erk")) == 4 and len(settings_of(QUICK, "dctps-rigl")) == 1
    assert len(FULL.seeds) == 5
