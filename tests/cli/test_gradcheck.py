"""``refnet gradcheck``: its JSON schema, coverage, accuracy and exit status."""
import json
from pathlib import Path

from refnet import Sequential, cli
from refnet.cli import gradcheck
from refnet.layers import Linear
from refnet.specimens import SPECIMENS, Specimen

ANALYSIS_README = Path(__file__).resolve().parents[2] / "analysis" / "README.md"


def _run(capsys, *argv):
    status = cli.main(["gradcheck", *argv])
    return status, capsys.readouterr()


def test_json_schema_coverage_and_accuracy(capsys):
    """Every example of every specimen: at least the 33 layers and networks, 137 quantities,
    that refnet gradcheck covered before the registries merged."""
    status, out = _run(capsys, "--json", "--seed", "0")
    report = json.loads(out.out)
    assert status == 0
    assert report["passed"] is True
    assert isinstance(report["results"], list) and report["results"]
    for row in report["results"]:
        assert isinstance(row["layer"], str) and isinstance(row["param"], str)
        assert isinstance(row["rel_error"], float) and isinstance(row["passed"], bool)
        assert row["passed"]
    layers = {row["layer"] for row in report["results"]}
    assert layers == {name for spec in SPECIMENS for name in spec.examples}
    assert len(layers) >= 33 and len(report["results"]) >= 137
    assert {"lenet5-cifar dctps (density 0.1)", "Sequential CNN", "SubspaceNetwork (sparse U)",
            "DCTpSLinear(offset=orthogonal)", "Graph residual block"} <= layers
    assert max(row["rel_error"] for row in report["results"]) <= 1e-6


def test_table_output(capsys):
    """The table, and the summary line that analysis/README.md quotes, to the digit."""
    status, out = _run(capsys)
    lines = out.out.splitlines()
    assert status == 0
    summary = out.err.strip().splitlines()[-1]
    assert f"\n    {summary}\n" in ANALYSIS_README.read_text()
    assert lines[0].split() == ["layer", "param", "max", "rel.", "error", "passed"]
    assert any(line.startswith("Conv2d") for line in lines)
    assert all(line.rstrip().endswith("yes") for line in lines[1:])
    assert "all passed" in out.err


def test_same_seed_same_numbers(capsys):
    first = json.loads(_run(capsys, "--json", "--seed", "3")[1].out)
    second = json.loads(_run(capsys, "--json", "--seed", "3")[1].out)
    assert first == second


class WrongLinear(Linear):
    """x_bar forgets to multiply by W (a dropped chain-rule factor)."""

    def vjp(self, params, cache, y_bar, *, need_params=True):
        _, grads = super().vjp(params, cache, y_bar, need_params=need_params)
        return y_bar[..., :self.n_in], grads


def test_a_failing_example_gives_exit_status_1(capsys, monkeypatch):
    wrong = Specimen("WrongLinear", WrongLinear, lambda draw: (WrongLinear(3, 3), (3,)),
                     {"WrongLinear": {}})
    monkeypatch.setattr(gradcheck, "SPECIMENS", [SPECIMENS[0], wrong])
    status, out = _run(capsys, "--json")
    report = json.loads(out.out)
    assert status == 1 and report["passed"] is False
    failing = {(row["layer"], row["param"]) for row in report["results"] if not row["passed"]}
    assert ("WrongLinear", "x") in failing
    assert all(row["passed"] for row in report["results"] if row["layer"] == "Linear")
    status, out = _run(capsys)
    assert status == 1 and "FAILURES" in out.err


def test_unknown_subcommand_is_an_argparse_error(capsys):
    assert cli.main(["no-such-command"]) == 2


def test_summary_rows_keep_parameters_whose_path_starts_with_x():
    net = Sequential([("xform", Linear(3, 3)), ("act", Linear(3, 2))])
    specimen = Specimen("net", Sequential, lambda draw: (net, (3,)), {"net": {}})
    rows = gradcheck.summarize(gradcheck.run_gradcheck(0, [specimen]))
    assert [row["param"] for row in rows] == ["params_bar", "x", "xform/W", "xform/b", "act/W",
                                              "act/b"]
    assert set(rows[1]["checks"]) == {"vjp_fd", "jvp_fd", "consistency", "adjoint", "batched"}
