"""analysis/spectra_training.py: its README block is its committed table, the discussion's
claims hold in that table, and a tiny run writes every file."""
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "analysis" / "out" / "spectra_training"


def _script():
    spec = importlib.util.spec_from_file_location(
        "spectra_training", ROOT / "analysis" / "spectra_training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows():
    rows = {}
    for line in (OUT / "spectra_training.md").read_text().splitlines()[2:]:
        if not line.startswith("| "):
            break
        kind, density, epoch, acc, io_rank, io_cond, k_rank, k_eff = [
            c.strip() for c in line.strip("|").split("|")]
        rows[kind, density, int(epoch)] = dict(
            acc=float(acc.rstrip("%")), io_rank=float(io_rank),
            io_cond=None if io_cond == "-" else float(io_cond),
            k_rank=int(k_rank.split(" / ")[0]), k_eff=float(k_eff))
    return rows


def test_readme_block_is_the_committed_table():
    readme = (ROOT / "analysis" / "README.md").read_text()
    block = re.search(r"<!-- spectra-training:begin -->\n(.*?)\n<!-- spectra-training:end -->",
                      readme, re.S)
    assert block and block.group(1) == (OUT / "spectra_training.md").read_text().rstrip("\n")


def test_the_discussion_holds_in_the_table():
    rows = _rows()
    epochs, densities = (0, 1, 2, 5, 10), ("1%", "0.1%", "0.01%")
    dctps = {(d, e): rows["DCTpS", d, e] for d in densities for e in epochs}
    assert all(r["io_rank"] == 10.0 and r["k_rank"] == 100 for r in dctps.values())
    assert {dctps[d, 0]["io_cond"] for d in densities} == {23.5}
    assert all(5 <= dctps[d, 10]["io_cond"] <= 9 for d in densities)
    assert (dctps["0.01%", 1]["io_cond"], dctps["0.01%", 10]["io_cond"]) == (202, 8.17)
    assert [(dctps[d, 0]["k_eff"], dctps[d, 10]["k_eff"]) for d in densities] == [
        (22.1, 31.7), (7.0, 15.4), (2.5, 3.4)]
    for e in epochs:
        r = rows["sparse", "0.01%", e]
        assert (r["io_rank"], r["io_cond"], r["k_rank"], r["acc"]) == (0.0, None, 10, 10.0)
    sparse = [rows["sparse", "0.1%", e] for e in epochs]
    assert (sparse[0]["io_rank"], sparse[-1]["io_rank"]) == (3.5, 1.0)
    assert (sparse[0]["k_rank"], sparse[-1]["k_rank"]) == (19, 13)
    assert max(r["io_rank"] for r in sparse[1:]) < sparse[0]["io_rank"]     # never gains


def test_a_tiny_run_writes_every_file(tmp_path):
    assert _script().main(["--epochs", "0,1", "--examples", "1", "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"spectra_training.md",
                                                   "spectra_training.csv", "dctps.png",
                                                   "sparse.png"}
    text = (tmp_path / "spectra_training.md").read_text()
    assert text.count("\n| DCTpS |") == text.count("\n| sparse |") == 6


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--epochs", "a,1"], ["--examples", "0"]])
def test_bad_arguments_are_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        _script().main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage:") and "error: --e" in err[-1]     # no traceback
    assert sum("error" in line for line in err) == 1


def test_an_output_path_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    import pytest
    (tmp_path / "f").write_text("")
    with pytest.raises(SystemExit) as stop:
        _script().main(["--out", str(tmp_path / "f")])
    assert stop.value.code == 2 and "--out" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
