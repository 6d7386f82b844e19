"""analysis/README.md's "Why" section: its blocks are the files analysis/spectrum_why.py wrote,
and each number its prose states holds in those files (or in the committed full study); the
script's measurements on tiny settings."""
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "analysis"))
import readme_blocks  # noqa: E402
import spectrum_why  # noqa: E402

OUT = ROOT / "analysis" / "out"
MLP, LENET = "MLP 784-256x6-10 (uniform)", "LeNet-300-100 (EPL)"


def _rows(name):
    """The table in ``OUT / name`` as lists of cells, header and rule dropped."""
    lines = (OUT / name).read_text().splitlines()[2:]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


def _numbers(cell):
    return [float(v) for v in cell.split(",")]


@pytest.fixture(scope="module")
def relu():
    return {(r[0], r[1]): _numbers(r[2]) for r in _rows("spectrum_relu.md")}


@pytest.fixture(scope="module")
def hidden():
    return {(r[0], r[1]): {"mean_sq": float(r[3]), "product": float(r[5]),
                           "sq2": float(r[7]), "theory_sq2": None if r[8] == "-" else float(r[8])}
            for r in _rows("spectrum_hidden.md")}


@pytest.fixture(scope="module")
def structural():
    return {(r[0], r[1]): [int(v) for v in r[2].split(",")] for r in _rows("spectrum_structural.md")}


@pytest.fixture(scope="module")
def text():
    return re.sub(r"\s+", " ", (ROOT / "analysis" / "README.md").read_text())


@pytest.mark.parametrize("marker", sorted(spectrum_why.BLOCKS))
def test_blocks_are_the_written_files(marker):
    assert readme_blocks.read_block(marker) + "\n" == \
        (OUT / spectrum_why.BLOCKS[marker]).read_text()


def test_relu_claims(relu, text):
    assert "deeper ReLUs of this MLP are 0.670 to 0.733 active" in text
    assert "the third to sixth ReLUs are 0.670 to 0.733 active" in text
    assert (min(relu[MLP, "dct"][2:]), max(relu[MLP, "dct"][2:])) == (0.670, 0.733)
    assert "every ReLU is 0.464 to 0.552 active" in text
    random = relu[MLP, "randomized-dct"] + relu[MLP, "orthogonal"]
    assert (min(random), max(random)) == (0.464, 0.552)
    assert "under the DCT are 0.497 and 0.378 active" in text
    assert relu[LENET, "dct"] == [0.497, 0.378]


def test_hidden_claims(hidden, text):
    dct = hidden[MLP, "dct"]
    assert "even their product, 0.0551, is 2.74 times below the measured 0.151" in text
    assert (dct["product"], round(dct["mean_sq"], 3)) == (0.0551, 0.151)
    assert f"{dct['mean_sq'] / dct['product']:.2f}" == "2.74"
    assert "mean sigma^4 11 times the law's" in text
    assert round(dct["sq2"] / dct["theory_sq2"]) == 11
    assert "mean sigma^2 is within 6% of the product of the fractions (0.0166 against 0.0164, " \
           "0.0147 against 0.0139)" in text
    for offset, (measured, product) in {"randomized-dct": (0.0166, 0.0164),
                                        "orthogonal": (0.0147, 0.0139)}.items():
        row = hidden[MLP, offset]
        assert (row["mean_sq"], row["product"]) == (measured, product)
        assert abs(row["mean_sq"] / row["product"] - 1) < 0.06
    assert "sigma^2 is the product of the fractions within 1% for every mixing offset" in text
    lenet = [v for (net, _), v in hidden.items() if net == LENET]
    assert len(lenet) == 3 and all(abs(v["mean_sq"] / v["product"] - 1) < 0.01 for v in lenet)


def test_structural_claims(structural, text):
    for method in ("Random (Uniform)", "Random (EPL)", "SNIP"):
        assert structural[method, "0.01%"] == [0] * 5
    assert "FORCE keeps 1 to 3 of 10 directions and SynFlow 1" in text
    assert (min(structural["FORCE", "0.01%"]), max(structural["FORCE", "0.01%"])) == (1, 3)
    assert set(structural["SynFlow", "0.01%"]) == {1}
    assert "Random (EPL) still has structural rank 5 to 10 on the study's seeds 0-4" in text
    epl = structural["Random (EPL)", "0.1%"]
    assert (min(epl), max(epl), len(epl)) == (5, 10, 5)
    assert "SynFlow's supports have rank 2 or 3 and reach" in text
    assert set(structural["SynFlow", "0.1%"]) == {2, 3}
    assert "Random (Uniform) has rank 0 from 0.1% down" in text and "5 to 7 at 1%" in text
    assert structural["Random (Uniform)", "0.1%"] == [0] * 5
    uniform = structural["Random (Uniform)", "1%"]
    assert (min(uniform), max(uniform)) == (5, 7)
    front = re.sub(r"\s+", " ", (ROOT / "README.md").read_text())
    assert "FORCE's and SynFlow's reach at most 3 of the 10 output directions" in front
    assert max(structural["FORCE", "0.01%"] + structural["SynFlow", "0.01%"]) == 3


def test_accuracies_quoted_from_the_full_study(text):
    """The accuracies set against the structural ranks are the committed full study's."""
    import json
    rows = json.loads((OUT / "study-full" / "study.json").read_text())["rows"]
    acc = {(r["key"], r["density"]): r["acc_mean"] for r in rows}
    assert f"yet trains to {acc['random-epl', 1e-3]:.1f}%" in text
    assert f"rank 2 or 3 and reach {acc['synflow', 1e-3]:.1f}%" in text
    assert all(acc[m, 1e-4] == 10.0 for m in ("random-uniform", "random-epl", "snip"))
    assert "(10.0% in the full study)" in text


@pytest.fixture(scope="module")
def lenet_rows():
    return spectrum_why.relu_rows(["LeNet-300-100 (EPL)"], ("dct", "orthogonal"), examples=8)


def test_relu_rows_measure_each_relu_and_the_orthogonal_offset_follows_the_law(lenet_rows):
    assert [r["offset"] for r in lenet_rows] == ["dct", "orthogonal", "dense"]
    for r in lenet_rows:
        assert len(r["active"]) == 2 and all(0 < p < 1 for p in r["active"])
        assert r["product"] == pytest.approx(np.prod(r["active"]), rel=1e-12)
        assert r["sq"].shape == (80,) and r["mean_sq"] == pytest.approx(r["sq"].mean())
        assert r["theory_sq2"] is None               # unequal widths: no second moment
    orthogonal = lenet_rows[1]
    assert orthogonal["mean_sq"] / orthogonal["product"] == pytest.approx(1, abs=0.1)
    table = spectrum_why.hidden_table(lenet_rows)
    assert "| LeNet-300-100 (EPL) | orthogonal | 2 |" in table and "dense" not in table
    assert spectrum_why.relu_table(lenet_rows).count("\n") == 4


def test_mlp_rows_predict_the_second_moment_and_are_drawn_with_the_law(tmp_path):
    rows = spectrum_why.relu_rows(["MLP 784-256x6-10 (uniform)"], ("orthogonal",), examples=4)
    assert len(rows[0]["active"]) == 6 and rows[0]["theory_sq2"] > 0
    path = tmp_path / "theory.png"
    spectrum_why.plot_theory(rows, path)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_structural_rows_draw_the_study_supports():
    rows = spectrum_why.structural_rows(("random-epl",), (1e-2, 1e-4), (0, 1))
    assert [r["ranks"] for r in rows] == [[10, 10], [0, 0]]
    assert spectrum_why.structural_table(rows).splitlines()[2] == "| Random (EPL) | 1% | 10, 10 |"

