"""``refnet spectrum`` and refnet.cli.spectrum.study: when is training possible?

The done-criteria of the spectrum study: at the defaults (784-256x6-10 ReLU MLP,
uniform, 64 mnist5k test images) plain sparse networks at 0.01% have
``frac_zero >= 0.9`` and DCTpS networks ``frac_zero <= 0.01`` at every density;
a DCTpS network with S = 0 has bitwise the same Jacobian at every density; the
structural rank, computed from the supports with no floating point, bounds the
numerical rank (and explains the zero atom).
"""
import contextlib
import csv
import importlib.util
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from refnet.cli import main
from refnet.core.tree import tree_map
from refnet.data import prepare
from refnet.models import (MODELS, build_model, structural_supports, support_arrays,
                           supports_of)
from refnet.spectra import jacobian, singular_values, spectrum_stats, structural_rank
from refnet.cli.spectrum.study import (DEFAULT_DENSITIES, DEFAULT_SIZES, TABLE_FIELDS, VARIANTS,
                                  checkpoint_spectrum, network_spectrum, real_inputs,
                                  spectrum_study)
from refnet.train import TrainConfig, TrainState, save_checkpoint, train

from models.test_models_build import SMALL

SMALL_MLP = [784, 32, 32, 10]
ROOT = Path(__file__).resolve().parents[2]


def _no_constant(name):
    raise AssertionError(f"the JSON holds {name}, which strict JSON does not allow")


def run_cli(*argv):
    """``refnet spectrum *argv`` in this process; its stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["spectrum", *argv]) == 0
    return out.getvalue()


def run_cli_error(capsys, *argv) -> str:
    """``refnet spectrum *argv`` must fail as the CLI promises: exit status 2 and one line
    on stderr; that line."""
    capsys.readouterr()
    try:
        status = main(["spectrum", *argv])
    except SystemExit as exit_:         # argparse's refusals
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("refnet spectrum: error: "), err
    return err


@pytest.fixture(scope="module")
def default_run():
    """``refnet spectrum --json`` at the defaults (about 2 s)."""
    return json.loads(run_cli("--json"), parse_constant=_no_constant)


def _rows(run, kind, init=None):
    return [r for r in run["rows"] if r["kind"] == kind and init in (None, r["init"])]


def test_default_run_meets_the_done_criteria(default_run):
    rows = default_run["rows"]
    assert {(r["kind"], r["init"]) for r in rows} == {("dense", "kaiming-normal"), *VARIANTS}
    for row in rows:
        assert list(row) == list(TABLE_FIELDS)
        assert isinstance(row["kind"], str) and isinstance(row["init"], str)
        for key in ("density", "frac_zero", "sv_max"):
            assert isinstance(row[key], float)
        for key in ("mean_sq_sv", "cond"):          # undefined (None) for a zero Jacobian
            assert row[key] is None or isinstance(row[key], float)
    dctps = _rows(default_run, "dctps")
    assert [r["density"] for r in dctps] == list(DEFAULT_DENSITIES)
    assert all(r["frac_zero"] <= 0.01 for r in dctps)
    for init in ("kaiming-dense", "kaiming-sparse"):
        sparse = {r["density"]: r for r in _rows(default_run, "sparse", init)}
        assert list(sparse) == list(DEFAULT_DENSITIES)
        assert sparse[1e-4]["frac_zero"] >= 0.9
    assert default_run["network"] == "mlp 784-256-256-256-256-256-256-10, relu"
    assert "mnist5k test images" in default_run["inputs"]


def test_dctps_rows_are_identical_and_well_conditioned(default_run):
    dctps = _rows(default_run, "dctps")
    spectrum = {k: v for k, v in dctps[0].items() if k not in ("density", "nnz")}
    for row in dctps[1:]:
        assert {k: v for k, v in row.items() if k not in ("density", "nnz")} == spectrum
    assert spectrum["rank_min"] == 10 and spectrum["cond"] < 100


def test_numerical_rank_never_exceeds_the_structural_bound(default_run):
    for row in default_run["rows"]:
        assert row["rank_max"] <= row["structural_rank"]
        assert row["frac_zero"] >= row["structural_frac_zero"]
    # at 0.01% (and already at 0.1%) no input reaches any output: the supports alone
    # say that every singular value is zero, with no floating point involved
    for row in _rows(default_run, "sparse"):
        if row["density"] <= 1e-3:
            assert row["structural_rank"] == 0 and row["connected_outputs"] == 0
            assert row["frac_zero"] == 1.0 and row["sv_max"] == 0.0 and row["cond"] is None


@pytest.mark.parametrize("distribution", ["uniform", "erk"])
def test_structural_rank_explains_the_zero_atom_at_0_01_percent(distribution):
    net = build_model("mlp", kind="sparse", sizes=list(DEFAULT_SIZES), density=1e-4,
                      distribution=distribution, rng=0)
    bound = structural_rank(structural_supports(net))
    # 53 weights; ten vertex-disjoint input-output paths would need 10 * 7 of them
    assert sum(layer["nnz"] for layer in net.spec["layers"]) == 53
    assert bound.rank_bound <= 53 // 7
    x = real_inputs(net.input_shape, 16).x
    stats = spectrum_stats(singular_values(jacobian(net, net.init(1), x)), shape=(10, 784))
    assert np.all(stats.rank <= bound.rank_bound)
    assert 1 - bound.rank_bound / 10 >= 0.9          # hence frac_zero >= 0.9 for ANY values
    assert np.all(stats.frac_zero >= 0.9)


def test_with_tanh_the_numerical_rank_is_the_structural_rank():
    """ReLU units that are off remove paths; tanh never does, so generic values
    attain the bound (0.5%: fewer disjoint paths than outputs, more than none)."""
    net = build_model("mlp", kind="sparse", sizes=list(DEFAULT_SIZES), activation="tanh",
                      density=5e-3, rng=0, sparse_init="kaiming-sparse")
    bound = structural_rank(structural_supports(net)).rank_bound
    assert 0 < bound < 10
    x = real_inputs(net.input_shape, 8).x
    stats = spectrum_stats(singular_values(jacobian(net, net.init(1), x)), shape=(10, 784))
    assert np.all(stats.rank == bound)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_dctps_with_zero_s_has_the_same_jacobian_at_every_density(name):
    """Theory: with S = 0 every layer is alpha * D, whatever its support."""
    x = np.random.default_rng(5).standard_normal((2,) + build_model(name, **SMALL[name])
                                                 .input_shape)
    jacobians = []
    for seed, density in enumerate([0.5, 0.05, 0.005]):
        net = build_model(name, kind="dctps", density=density, rng=seed, **SMALL[name])
        params = net.init(0)
        assert all(np.all(p["S"] == 0) for p in params.values() if "S" in p)
        jacobians.append(jacobian(net, params, x))
    for J in jacobians[1:]:
        assert np.array_equal(J, jacobians[0])
    if name != "resnet-small":     # Fixup starts its classifier at alpha = 0: J = 0 there
        assert np.all(np.abs(jacobians[0]).max(axis=(1, 2)) > 0)


def test_study_is_deterministic_and_seeded():
    kw = dict(sizes=SMALL_MLP, densities=[0.05, 1e-3], examples=6)
    a, b = spectrum_study(**kw), spectrum_study(**kw)
    assert a.rows == b.rows
    assert all(np.array_equal(s, t) for s, t in zip(a.sigma, b.sigma))
    assert [(r["kind"], r["init"], r["density"]) for r in a.rows] == [
        ("dense", "kaiming-normal", 1.0)] + [(k, i, d) for k, i in VARIANTS for d in (0.05, 1e-3)]
    assert np.array_equal(a.sigma[1], a.sigma[2])       # DCTpS, S = 0: density does not matter
    other = spectrum_study(**kw, seed=1)
    assert not np.array_equal(other.sigma[3], a.sigma[3])
    assert [r["nnz"] for r in other.rows] == [r["nnz"] for r in a.rows]


def test_the_two_sparse_inits_share_the_support_not_the_scale():
    study = spectrum_study(sizes=SMALL_MLP, densities=[0.05], examples=2, dense_reference=False)
    dense_init, sparse_init = study.rows[1], study.rows[2]
    assert (dense_init["init"], sparse_init["init"]) == ("kaiming-dense", "kaiming-sparse")
    assert dense_init["structural_rank"] == sparse_init["structural_rank"]
    assert dense_init["nnz"] == sparse_init["nnz"]
    # N(0, 2 / 784) against N(0, 2 / fan_in of the row): the dense-fan-in draw is far smaller
    assert dense_init["sv_max"] < 0.1 * sparse_init["sv_max"]


def test_network_spectrum_statistics():
    net = build_model("mlp", kind="sparse", sizes=SMALL_MLP, density=0.05, rng=0)
    params = net.init(1)
    x = real_inputs(net.input_shape, 5).x
    row, sigma = network_spectrum(net, params, x)
    _, same = network_spectrum(net, params, x, chunk_size=1)
    assert np.array_equal(sigma, same)
    expected = singular_values(jacobian(net, params, x))
    assert np.array_equal(sigma, expected)
    per = spectrum_stats(sigma, (10, 784))
    assert (row["examples"], row["m"], row["n"], row["n_values"]) == (5, 10, 784, 50)
    assert row["frac_zero"] == 1 - per.rank.sum() / 50
    assert row["rank_mean"] == per.rank.mean() and row["rank_max"] == per.rank.max()
    assert row["sv_max"] == sigma.max()
    assert row["mean_sq_sv_all"] == pytest.approx(np.mean(sigma ** 2), rel=1e-14)
    nonzero = sigma[sigma > (784 * np.finfo(float).eps * sigma.max(axis=1))[:, None]]
    assert row["mean_sq_sv"] == pytest.approx(np.mean(nonzero ** 2), rel=1e-14)
    assert row["mean_log10_sv"] == pytest.approx(np.mean(np.log10(nonzero)), rel=1e-12)
    assert row["sv_min"] == nonzero.min()
    assert row["cond"] == pytest.approx(sigma.max() / nonzero.min(), rel=1e-14)
    assert row["structural_rank"] == structural_rank(structural_supports(net)).rank_bound
    live = sigma[sigma.max(axis=1) > 0]
    relative = live / live.max(axis=1, keepdims=True)
    eps = np.finfo(float).eps
    assert row["smallest_nonzero_rel"] == relative[relative > 784 * eps].min()
    assert row["largest_zero_rel"] < 784 * eps


def test_real_inputs_are_the_standardised_test_images():
    split = prepare("mnist5k", seed=0, flatten=True)
    flat = real_inputs((784,), 7)
    assert np.array_equal(flat.x, split.x_test[:7]) and "flattened" in flat.note
    padded = real_inputs((3, 32, 32), 7)
    background = split.info.standardizer(np.zeros(1))[0]
    assert padded.x.shape == (7, 3, 32, 32) and padded.x.flags.c_contiguous
    assert np.array_equal(padded.x[:, 1, 2:30, 2:30], split.x_test[:7].reshape(7, 28, 28))
    assert np.all(padded.x[:, :, :2] == background) and np.all(padded.x[:, :, :, 30:] == background)
    assert np.array_equal(padded.x[:, 0], padded.x[:, 2])
    assert "padded from 28x28 to 32x32" in padded.note and "3 channels" in padded.note
    assert real_inputs((1, 28, 28), 3).x.shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\(100,\)"):
        real_inputs((100,), 2)
    with pytest.raises(ValueError, match="at most 1000"):
        real_inputs((784,), 1001)


def test_trained_checkpoint(tmp_path, capsys):
    net = build_model("mlp", kind="sparse", sizes=SMALL_MLP, density=0.05, rng=0)
    rng = np.random.default_rng(2)
    params = tree_map(lambda w: w + 0.1 * rng.standard_normal(np.shape(w)), net.init(1))
    path = tmp_path / "trained.npz"
    save_checkpoint(path, TrainState(params, {}, 30, 3, {}), meta={"model": net.spec},
                    arrays={"supports": support_arrays(supports_of(net))})
    study = checkpoint_spectrum(path, examples=4)
    expected, sigma = network_spectrum(net, params, real_inputs((784,), 4).x)
    row = study.rows[0]
    assert (row["source"], row["epoch"], row["kind"], row["init"]) == (
        str(path), 3, "sparse", "kaiming-dense")
    assert {k: row[k] for k in expected} == expected
    assert np.array_equal(study.sigma[0], sigma)
    printed = json.loads(run_cli("--checkpoint", str(path), "--examples", "4", "--json",
                                 "--out", str(tmp_path / "out")))
    assert printed["rows"] == study.rows
    assert (tmp_path / "out" / "spectrum.png").stat().st_size > 0
    bare = tmp_path / "bare.npz"
    save_checkpoint(bare, TrainState(params, {}, 30, 3, {}))
    assert "no model specification" in run_cli_error(capsys, "--checkpoint", str(bare))


def test_checkpoint_of_a_trained_dctps_network(tmp_path):
    """Training turns alpha into a numpy scalar, which a checkpoint returns as a float."""
    net = build_model("mlp", kind="dctps", sizes=SMALL_MLP, density=0.01, rng=0)
    x = real_inputs((784,), 64).x
    labels = np.arange(64) % 10
    result = train(net, net.init(0), (x, labels), TrainConfig(epochs=1, batch_size=32),
                   quiet=True)
    path = tmp_path / "dctps.npz"
    save_checkpoint(path, result.state, meta={"model": net.spec},
                    arrays={"supports": support_arrays(supports_of(net))})
    row = checkpoint_spectrum(path, examples=4).rows[0]
    params = tree_map(np.asarray, result.state.params)
    expected, _ = network_spectrum(net, params, x[:4])
    assert {k: row[k] for k in expected} == expected
    assert (row["kind"], row["init"], row["epoch"]) == ("dctps", "zeros", 1)


def test_command_writes_figure_and_table(tmp_path):
    import matplotlib
    backend = matplotlib.get_backend()
    out = tmp_path / "spectrum"
    text = run_cli("--sizes", *map(str, SMALL_MLP), "--densities", "0.05", "0.001",
                   "--examples", "4", "--out", str(out))
    assert "inputs:  4 mnist5k test images" in text and "frac_zero" in text
    assert (out / "spectrum.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.get_backend() == backend      # drawn on an Agg canvas, backend untouched
    with open(out / "spectrum.csv", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == list(TABLE_FIELDS) and len(table) == 1 + 1 + 3 * 2
    dctps = [line for line in table[1:] if line[1] == "dctps"]
    assert [line[TABLE_FIELDS.index("density")] for line in dctps] == ["0.05", "0.001"]


def test_command_on_lenet5_cifar_says_how_mnist_was_fed():
    run = json.loads(run_cli("--model", "lenet5-cifar", "--examples", "2", "--densities",
                             "0.01", "--no-dense", "--json"), parse_constant=_no_constant)
    assert "padded from 28x28 to 32x32" in run["inputs"] and "3 channels" in run["inputs"]
    assert [(r["kind"], r["n"]) for r in run["rows"]] == [("dctps", 3072), ("sparse", 3072),
                                                          ("sparse", 3072)]
    assert run["rows"][0]["frac_zero"] == 0.0


@pytest.mark.parametrize("argv,message", [
    (["--densities", "0"], "densities"),
    (["--densities", "0.1", "0.1"], "distinct"),
    (["--sizes", "100", "10"], r"\(100,\)"),
    (["--examples", "0"], "examples"),
    (["--model", "lenet5", "--sizes", "784", "10"], "sizes"),
])
def test_bad_arguments_name_the_problem(argv, message, capsys):
    assert re.search(message, run_cli_error(capsys, *argv))


def _analysis_script():
    spec = importlib.util.spec_from_file_location(
        "spectrum_figure", ROOT / "analysis" / "spectrum_figure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_table_and_committed_csv_are_this_run(default_run):
    """analysis/README.md shows what ``analysis/spectrum_figure.py`` prints and writes, today."""
    rows = default_run["rows"]
    readme = (ROOT / "analysis" / "README.md").read_text()
    block = re.search(r"<!-- spectrum-table[^>]*-->\n(.*?)\n<!-- /spectrum-table -->", readme,
                      re.S)
    assert block, "analysis/README.md has no spectrum table between its markers"
    assert block.group(1) == _analysis_script().markdown_table(rows)
    assert "![" in readme and "(out/spectrum.png)" in readme
    assert (ROOT / "analysis" / "out" / "spectrum.png").read_bytes()[:4] == b"\x89PNG"
    with open(ROOT / "analysis" / "out" / "spectrum.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(rows)
    for line, row in zip(table, rows):
        assert list(line) == list(TABLE_FIELDS)
        for key, value in row.items():
            if isinstance(value, float):       # written to 6 significant digits
                assert float(line[key]) == pytest.approx(value, rel=1e-5, abs=1e-300), key
            else:
                assert line[key] == ("" if value is None else str(value)), key


def test_offset_option_changes_only_the_dctps_networks():
    """--offset puts another offset in the DCTpS rows (recorded per row); the sparse rows,
    the supports and the nnz stay those of the default run."""
    argv = ("--sizes", *map(str, SMALL_MLP), "--densities", "0.05", "--examples", "3", "--json")
    dct = json.loads(run_cli(*argv), parse_constant=_no_constant)["rows"]
    ident = json.loads(run_cli(*argv, "--offset", "identity"), parse_constant=_no_constant)["rows"]
    dct2d = json.loads(run_cli(*argv, "--offset", "dct-2d"), parse_constant=_no_constant)["rows"]
    assert [r["offset"] for r in ident] == [None, "identity", None, None]
    assert dct2d[1]["offset"] == "dct-2d" and dct2d[2:] == dct[2:]
    # at S = 0 both are alpha times products of isometries and ReLUs, yet not the same network
    assert dct2d[1]["sv_max"] != dct[1]["sv_max"]
    assert [r["offset"] for r in dct] == [None, "dct", None, None]
    assert [r["nnz"] for r in ident] == [r["nnz"] for r in dct]
    assert ident[2:] == dct[2:]
    # the identity connects few paths: its structural bound is the identity's, not dense
    assert ident[1]["structural_rank"] <= dct[1]["structural_rank"]
    assert ident[1]["frac_zero"] != dct[1]["frac_zero"] or ident[1]["sv_max"] != dct[1]["sv_max"]
    with pytest.raises(ValueError, match="zero network"):
        spectrum_study(sizes=list(SMALL_MLP), densities=[0.1], examples=2, offset="none")
