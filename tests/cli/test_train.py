"""``refnet train``: JSON metrics, checkpoints that resume exactly, clear errors."""
import json

import pytest

from refnet.cli import main

SMALL = ["--data", "digits", "--model", "mlp", "--sizes", "64,16,10", "--batch-size", "64",
         "--quiet", "--json"]


def _run(args, capsys):
    try:
        status = main(["train", *args])
    except SystemExit as exit_:         # argparse's refusals
        status = exit_.code
    return status, capsys.readouterr()


def test_train_prints_metrics(capsys):
    status, out = _run(SMALL + ["--kind", "dctps", "--density", "0.1", "--distribution", "epl",
                                "--lr", "0.01", "--epochs", "2"], capsys)
    assert status == 0
    metrics = json.loads(out.out)
    assert {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "density",
            "trainable", "epochs", "steps"} <= set(metrics)
    assert metrics["epochs"] == 2 and metrics["density"] == pytest.approx(0.1, rel=0.01)


def test_save_and_resume_continue_exactly(tmp_path, capsys):
    common = SMALL + ["--kind", "sparse", "--density", "0.2", "--lr", "0.01", "--seed", "3"]
    _, straight = _run(common + ["--epochs", "3"], capsys)
    path = str(tmp_path / "run.npz")
    _run(common + ["--epochs", "2", "--save", path], capsys)
    status, resumed = _run(["--resume", path, "--epochs", "3", "--quiet", "--json"], capsys)
    assert status == 0
    a, b = json.loads(straight.out), json.loads(resumed.out)
    for key in ("train_loss", "test_loss", "test_accuracy", "steps"):
        assert a[key] == b[key]


@pytest.mark.parametrize("args, message", [
    (["--kind", "dctps"], "needs --density"),
    (["--kind", "dense", "--density", "0.1"], "needs --kind sparse or dctps"),
    (["--kind", "dctps", "--density", "0.1", "--method", "snip"], "use it with --kind sparse"),
    (["--kind", "sparse", "--density", "2.0"], "density"),
    (["--kind", "sparse", "--density", "0"], "density"),     # was trained silently at 1.0
])
def test_bad_arguments_get_one_clear_line(args, message, capsys):
    status, out = _run(SMALL + ["--epochs", "1"] + args, capsys)
    assert status == 2 and message in out.err and "Traceback" not in out.err


def test_pruned_support(capsys):
    status, out = _run(SMALL + ["--kind", "sparse", "--density", "0.1", "--method", "snip",
                                "--lr", "0.01", "--epochs", "1"], capsys)
    assert status == 0 and json.loads(out.out)["density"] == pytest.approx(0.1, rel=0.01)


@pytest.mark.parametrize("offset", ["orthogonal", "permutation"])
def test_offset_trains_saves_and_resumes_exactly(tmp_path, capsys, offset):
    """--offset (a random one): the checkpoint's spec carries the offset and its seed."""
    common = SMALL + ["--kind", "dctps", "--density", "0.1", "--offset", offset,
                      "--lr", "0.01", "--seed", "4"]
    _, straight = _run(common + ["--epochs", "2"], capsys)
    path = str(tmp_path / "run.npz")
    _run(common + ["--epochs", "1", "--save", path], capsys)
    status, resumed = _run(["--resume", path, "--epochs", "2", "--quiet", "--json"], capsys)
    assert status == 0
    assert json.loads(straight.out)["test_loss"] == json.loads(resumed.out)["test_loss"]
    status, out = _run(SMALL + ["--epochs", "1", "--kind", "sparse", "--density", "0.1",
                                "--offset", "identity"], capsys)
    assert status == 2 and "--offset identity needs --kind dctps" in out.err


@pytest.mark.parametrize("method, kind", [("rigl", "sparse"), ("rigl", "dctps"),
                                          ("imp", "sparse"), ("subspace", "dense")])
def test_dynamic_methods_train(method, kind, capsys):
    interval = ["--rigl-interval", "5"] if method == "rigl" else []   # refused elsewhere
    status, out = _run(SMALL + ["--kind", kind, "--density", "0.1", "--method", method,
                                "--lr", "0.01", "--epochs", "2", *interval], capsys)
    assert status == 0, out.err
    metrics = json.loads(out.out)
    assert metrics["epochs"] == 2 and metrics["test_accuracy"] > 0.1
    if method != "subspace":   # RigL and IMP keep exactly the density's nnz
        assert metrics["density"] == pytest.approx(0.1, rel=0.02)


def test_dynamic_method_checkpoint_is_final_only(tmp_path, capsys):
    path = str(tmp_path / "rigl.npz")
    status, _ = _run(SMALL + ["--kind", "sparse", "--density", "0.1", "--method", "rigl",
                              "--epochs", "1", "--save", path], capsys)
    assert status == 0
    status, out = _run(["--resume", path, "--epochs", "2", "--quiet"], capsys)
    assert status == 2 and "cannot be resumed" in out.err
    status, out = _run(SMALL + ["--kind", "sparse", "--density", "0.1", "--method", "subspace",
                                "--epochs", "1"], capsys)
    assert status == 2 and "--kind dense" in out.err


def test_resuming_a_checkpoint_not_written_by_train_is_one_clear_line(tmp_path, capsys):
    """A checkpoint saved for refnet spectrum (meta: the model alone) cannot be resumed."""
    from refnet.models import build_model, support_arrays, supports_of
    from refnet.train import TrainState, save_checkpoint
    net = build_model("mlp", kind="sparse", sizes=(64, 16, 10), density=0.2, rng=0)
    path = str(tmp_path / "model_only.npz")
    save_checkpoint(path, TrainState(net.init(0), {}, 0, 0, {}), meta={"model": net.spec},
                    arrays={"supports": support_arrays(supports_of(net))})
    status, out = _run(["--resume", path, "--epochs", "1", "--quiet"], capsys)
    assert status == 2 and "Traceback" not in out.err
    assert "has no data, train_config in its metadata" in out.err


def test_resuming_a_finished_run_reports_its_epochs_and_steps(tmp_path, capsys):
    """--resume at the checkpoint's own epoch trains nothing, and says where the run is."""
    path = str(tmp_path / "run.npz")
    common = SMALL + ["--kind", "sparse", "--density", "0.2", "--lr", "0.01"]
    _, saved = _run(common + ["--epochs", "2", "--save", path], capsys)
    status, resumed = _run(["--resume", path, "--epochs", "2", "--quiet", "--json"], capsys)
    assert status == 0
    a, b = json.loads(saved.out), json.loads(resumed.out)
    assert (b["epochs"], b["steps"]) == (a["epochs"], a["steps"]) == (2, a["steps"])
    assert a["steps"] > 0 and a["test_loss"] == b["test_loss"]
