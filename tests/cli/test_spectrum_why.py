"""refnet.cli.spectrum.why on tiny settings: the rows hold what the tables print."""
import numpy as np
import pytest

from refnet.cli.spectrum import why


@pytest.fixture(scope="module")
def lenet_rows():
    return why.relu_rows(["LeNet-300-100 (EPL)"], ("dct", "orthogonal"), examples=8)


def test_relu_rows_measure_each_relu_and_the_orthogonal_offset_follows_the_law(lenet_rows):
    assert [r["offset"] for r in lenet_rows] == ["dct", "orthogonal", "dense"]
    for r in lenet_rows:
        assert len(r["active"]) == 2 and all(0 < p < 1 for p in r["active"])
        assert r["product"] == pytest.approx(np.prod(r["active"]), rel=1e-12)
        assert r["sq"].shape == (80,) and r["mean_sq"] == pytest.approx(r["sq"].mean())
        assert r["theory_sq2"] is None               # unequal widths: no second moment
    orthogonal = lenet_rows[1]
    assert orthogonal["mean_sq"] / orthogonal["product"] == pytest.approx(1, abs=0.1)
    table = why.hidden_table(lenet_rows)
    assert "| LeNet-300-100 (EPL) | orthogonal | 2 |" in table and "dense" not in table
    assert why.relu_table(lenet_rows).count("\n") == 4


def test_mlp_rows_predict_the_second_moment_and_are_drawn_with_the_law(tmp_path):
    rows = why.relu_rows(["MLP 784-256x6-10 (uniform)"], ("orthogonal",), examples=4)
    assert len(rows[0]["active"]) == 6 and rows[0]["theory_sq2"] > 0
    path = tmp_path / "theory.png"
    why.plot_theory(rows, path)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_structural_rows_draw_the_study_supports():
    rows = why.structural_rows(("random-epl",), (1e-2, 1e-4), (0, 1))
    assert [r["ranks"] for r in rows] == [[10, 10], [0, 0]]
    assert why.structural_table(rows).splitlines()[2] == "| Random (EPL) | 1% | 10, 10 |"

