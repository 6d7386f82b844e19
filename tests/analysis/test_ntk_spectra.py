"""analysis/ntk_spectra.py: its README block is its committed table, the discussion's claims
hold in that table, and a tiny run writes every file."""
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "analysis" / "out" / "ntk"


def _script():
    spec = importlib.util.spec_from_file_location("ntk_spectra",
                                                  ROOT / "analysis" / "ntk_spectra.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows():
    rows = {}
    for line in (OUT / "ntk.md").read_text().splitlines()[2:]:
        if not line.startswith("| "):
            break
        kind, density, _, rank, eff, lam, cond = [c.strip() for c in line.strip("|").split("|")]
        rows[kind, density] = dict(rank=int(rank.split(" / ")[0]), size=int(rank.split(" / ")[1]),
                                   eff=float(eff), lam=float(lam), cond=float(cond))
    return rows


def test_readme_block_is_the_committed_table():
    readme = (ROOT / "analysis" / "README.md").read_text()
    block = re.search(r"<!-- ntk-spectra:begin -->\n(.*?)\n<!-- ntk-spectra:end -->", readme,
                      re.S)
    assert block and block.group(1) == (OUT / "ntk.md").read_text().rstrip("\n")


def test_the_discussion_holds_in_the_table():
    rows = _rows()
    for init in ("kaiming-dense", "kaiming-sparse"):
        assert rows[f"sparse, {init}", "0.01%"]["rank"] == 10
        assert rows[f"sparse, {init}", "0.1%"]["rank"] == 20
    dctps = [rows["DCTpS, S = 0", d] for d in ("1%", "0.1%", "0.01%")]
    assert all(r["rank"] == r["size"] == 200 for r in dctps)
    assert [r["eff"] for r in dctps] == sorted((r["eff"] for r in dctps), reverse=True)
    assert (dctps[0]["eff"], dctps[-1]["eff"], dctps[-1]["cond"]) == (24.4, 2.5, 1.23e6)
    dense = rows["dense", "100%"]
    for d in ("1%", "0.1%", "0.01%"):
        sub = rows["random subspace", d]
        assert sub["rank"] == 200 and sub["eff"] > 4 * rows["DCTpS, S = 0", d]["eff"]
        assert sub["cond"] < 3 * dense["cond"]
    assert (rows["random subspace", "0.01%"]["eff"], dense["eff"]) == (99.3, 116.5)
    assert (rows["random subspace", "0.01%"]["lam"], dctps[-1]["lam"]) == (21, 2260)


def test_sparse_outputs_at_001_percent_do_not_depend_on_the_image():
    """Why their K has rank at most 10 (the README's reason)."""
    import numpy as np
    x = np.random.default_rng(0).standard_normal((5, 784))
    for init in ("kaiming-dense", "kaiming-sparse"):
        net, params = _script().network(f"sparse, {init}", 1e-4, 0)
        assert np.ptp(net(params, x), axis=0).max() == 0.0
        net, params = _script().network(f"sparse, {init}", 1e-3, 0)
        assert np.ptp(net(params, x), axis=0).max() > 0.0


def test_a_tiny_run_writes_every_file(tmp_path, capsys):
    assert _script().main(["--examples", "1", "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"ntk.md", "ntk.csv", "ntk.png"}
    assert "| DCTpS, S = 0 | 0.01% | 440 | 10 / 10 |" in (tmp_path / "ntk.md").read_text()
    assert "(K is 10 x 10)" in capsys.readouterr().out


def test_an_output_path_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    import pytest
    (tmp_path / "f").write_text("")
    with pytest.raises(SystemExit) as stop:
        _script().main(["--out", str(tmp_path / "f")])
    assert stop.value.code == 2 and "--out" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
