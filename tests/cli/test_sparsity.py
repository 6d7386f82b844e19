"""``refnet sparsity``: JSON schema, lenet5-cifar's 61,510 weights, exact totals, the table."""
import json

import pytest

from refnet import cli
from refnet.sparsity import DISTRIBUTIONS


def _json(capsys, *argv):
    status = cli.main(["sparsity", *argv, "--json"])
    assert status == 0
    return json.loads(capsys.readouterr().out)


def test_schema_of_the_issue_example(capsys):
    report = _json(capsys, "--model", "lenet5-cifar", "--density", "1e-4",
                   "--distribution", "erk")
    assert set(report) == {"total_size", "total_nnz", "layers"}
    assert report["total_size"] == 61510 and report["total_nnz"] == 6
    assert [layer["name"] for layer in report["layers"]] == ["conv1", "conv2", "conv3", "fc1",
                                                             "fc2"]
    for layer in report["layers"]:
        assert set(layer) == {"name", "shape", "size", "nnz", "density"}
        assert isinstance(layer["name"], str) and isinstance(layer["shape"], list)
        assert all(isinstance(d, int) for d in layer["shape"])
        assert isinstance(layer["size"], int) and isinstance(layer["nnz"], int)
        assert isinstance(layer["density"], float)
        assert layer["density"] == layer["nnz"] / layer["size"]
    assert [layer["shape"] for layer in report["layers"]] == [[6, 3, 5, 5], [16, 6, 5, 5],
                                                              [120, 16, 5, 5], [82, 120],
                                                              [10, 82]]


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("density,expected", [(1e-2, 615), (1e-3, 62)])
def test_every_distribution_adds_up_to_round_density_times_61510(capsys, distribution,
                                                                  density, expected):
    assert round(density * 61510) == expected
    report = _json(capsys, "--model", "lenet5-cifar", "--density", str(density),
                   "--distribution", distribution)
    assert report["total_size"] == 61510
    assert report["total_nnz"] == expected == sum(layer["nnz"] for layer in report["layers"])
    assert all(0 <= layer["nnz"] <= layer["size"] for layer in report["layers"])


def test_model_arguments_and_min_per_layer(capsys):
    report = _json(capsys, "--model", "mlp", "--sizes", "784", "300", "10", "--density", "0.01")
    assert report["total_size"] == 238200 and report["total_nnz"] == 2382
    report = _json(capsys, "--model", "lenet5", "--in-shape", "1", "12", "12", "--classes", "3",
                   "--density", "0.5")
    assert report["layers"][2]["shape"] == [120, 16]
    report = _json(capsys, "--model", "lenet5-cifar", "--density", "1e-4", "--min-per-layer",
                   "1")
    assert all(layer["nnz"] >= 1 for layer in report["layers"]) and report["total_nnz"] == 6


def test_table(capsys):
    assert cli.main(["sparsity", "--model", "lenet5-cifar", "--density", "1e-3",
                     "--distribution", "epl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "lenet5-cifar, epl at density 0.001"
    assert lines[1].split() == ["layer", "shape", "size", "nnz", "density"]
    assert lines[2].split()[:4] == ["conv1", "6x3x5x5", "450", "13"]
    assert lines[-1].split()[:3] == ["total", "61,510", "62"]


@pytest.mark.parametrize("args, message", [
    (["--model", "lenet5-cifar", "--density", "0"], "density must lie in"),
    (["--model", "mlp", "--density", "0.5"], "needs argument")])
def test_bad_arguments_exit_2_with_one_line(args, message, capsys):
    assert cli.main(["sparsity", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("refnet sparsity: error:") and message in err[0]


def test_unknown_model_is_an_argparse_error(capsys):
    assert cli.main(["sparsity", "--model", "lenet7", "--density", "0.5"]) == 2
