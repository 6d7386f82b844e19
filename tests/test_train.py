"""The training loop: determinism, exact resumption, divergence, schedules, checkpoints."""
import math
import os

import numpy as np
import pytest

from refnet import Sequential
from refnet.core.tree import tree_equal, tree_map
from refnet.layers import Linear, ReLU
from refnet.models import build_model
from refnet.ops import CSRSupport, fast
from refnet.train import (TrainConfig, TrainingDiverged, evaluate, learning_rate,
                          load_checkpoint, save_checkpoint, train, value_and_grad)


def _problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 5))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)
    net = Sequential([Linear(5, 12), ReLU(), Linear(12, 3)])
    return net, x, y


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_same_seed_gives_bitwise_same_run(optimizer):
    net, x, y = _problem()
    cfg = TrainConfig(optimizer=optimizer, lr=0.05, epochs=3, batch_size=16, seed=7)
    a = train(net, net.init(1), (x, y), cfg, quiet=True)
    b = train(net, net.init(1), (x, y), cfg, quiet=True)
    assert tree_equal(a.state.params, b.state.params)
    assert a.history == b.history
    c = train(net, net.init(1), (x, y), TrainConfig(optimizer=optimizer, lr=0.05, epochs=3,
                                                    batch_size=16, seed=8), quiet=True)
    assert not tree_equal(a.state.params, c.state.params)


def test_the_fast_path_trains_bit_for_bit_like_the_plain_one(monkeypatch):
    """In one block of rows the DCTpS layers' fast path is the plain arithmetic: only S's
    cotangent sums in another order (np.vecdot), which the plain run here borrows."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((150, 20)), rng.integers(0, 4, 150)
    net = build_model("mlp", kind="dctps", sizes=(20, 40, 30, 4), density=0.05, rng=0)
    params = tree_map(lambda p: p + 0.1 * rng.standard_normal(np.shape(p)), net.init(1))
    cfg = TrainConfig(optimizer="adam", lr=0.01, epochs=2, batch_size=64, seed=0)
    runs = [train(net, params, (x, y), cfg, quiet=True).state]
    monkeypatch.setattr(fast, "ENABLED", False)
    monkeypatch.setattr(CSRSupport, "value_cotangent", lambda self, y_bar, x: fast.value_cotangent(
        self, np.ascontiguousarray(y_bar.reshape(-1, y_bar.shape[-1]).T),
        np.ascontiguousarray(x.T)).reshape(y_bar.shape[:-2] + (self.nnz,)))
    runs.append(train(net, params, (x, y), cfg, quiet=True).state)
    for key in ("m", "v"):
        assert tree_equal(runs[1].opt_state[key], runs[0].opt_state[key])
    assert tree_equal(runs[1].params, runs[0].params)


def test_training_reduces_the_loss():
    net, x, y = _problem()
    cfg = TrainConfig(optimizer="adam", lr=0.02, epochs=15, batch_size=30, seed=0)
    result = train(net, net.init(0), (x, y), cfg, quiet=True, eval_data={"train": (x, y)})
    assert result.history[-1]["train_loss"] < 0.6 * result.history[0]["train_loss"]
    assert result.history[-1]["train_accuracy"] > 0.8


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine"])
def test_checkpoint_resume_continues_exactly(tmp_path, schedule):
    net, x, y = _problem()
    cfg = TrainConfig(optimizer="adam", lr=0.01, epochs=4, batch_size=16, seed=2,
                      schedule=schedule, step_epochs=1, gamma=0.5)
    straight = train(net, net.init(0), (x, y), cfg, quiet=True)
    first = train(net, net.init(0), (x, y), cfg, quiet=True, until_epoch=2)
    path = tmp_path / "run.npz"
    save_checkpoint(path, first.state, meta={"model": "mlp"})
    loaded = load_checkpoint(path)
    assert loaded.meta == {"model": "mlp"}
    assert loaded.state.step == first.state.step and loaded.state.epoch == 2
    resumed = train(net, None, (x, y), cfg, quiet=True, resume=loaded.state)
    assert tree_equal(straight.state.params, resumed.state.params)
    assert tree_equal(straight.state.opt_state["m"], resumed.state.opt_state["m"])
    assert straight.history[2:] == resumed.history


def test_checkpoint_is_written_atomically_and_errors_are_clear(tmp_path):
    net, x, y = _problem()
    cfg = TrainConfig(epochs=1, batch_size=45)
    state = train(net, net.init(0), (x, y), cfg, quiet=True).state
    path = tmp_path / "c.npz"
    save_checkpoint(path, state)
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]   # no temporary left over
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a refnet checkpoint"):
        load_checkpoint(tmp_path / "other.npz")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")    # overflow, then NaN
def test_divergence_names_the_step():
    net, x, y = _problem()
    cfg = TrainConfig(optimizer="sgd", lr=1e200, epochs=3, batch_size=30)
    with pytest.raises(TrainingDiverged, match=r"at step \d+ .*smaller learning rate"):
        train(net, net.init(0), (x, y), cfg, quiet=True)


def test_non_finite_inputs_are_not_blamed_on_the_learning_rate():
    net, x, y = _problem()
    bad_x = x.copy()
    bad_x[3, 1] = np.nan
    cfg = TrainConfig(optimizer="sgd", lr=0.1, epochs=1, batch_size=30)
    with pytest.raises(ValueError, match="inputs must be a real array without NaN"):
        train(net, net.init(0), (bad_x, y), cfg, quiet=True)
    assert np.isnan(bad_x[3, 1]) and np.isfinite(bad_x).sum() == bad_x.size - 1   # untouched


def test_learning_rate_schedules():
    cfg = TrainConfig(lr=1.0, epochs=4, schedule="cosine")
    assert learning_rate(cfg, 0, 10) == 1.0
    assert math.isclose(learning_rate(cfg, 20, 10), 0.5)
    assert learning_rate(cfg, 40, 10) == 0.0
    step = TrainConfig(lr=1.0, schedule="step", step_epochs=2, gamma=0.1)
    assert learning_rate(step, 19, 10) == 1.0 and math.isclose(learning_rate(step, 20, 10), 0.1)


@pytest.mark.parametrize("kwargs, match", [
    ({"schedule": "linear"}, "schedule"), ({"optimizer": "rmsprop"}, "optimizer"),
    ({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"), ({"loss": "hinge"}, "loss"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"lr": math.nan}, "lr"),
    ({"lr": math.inf}, "lr"), ({"lr": 0.0}, "lr"), ({"momentum": math.nan}, "momentum"),
    ({"weight_decay": -math.inf}, "weight_decay"), ({"gamma": True}, "gamma"),
])
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)
    with pytest.raises(TypeError, match="optimizer must be a str"):
        TrainConfig(optimizer=None)


def test_train_and_evaluate_name_their_bad_arguments():
    net, x, y = _problem()
    params = net.init(0)
    with pytest.raises(TypeError, match="config must be a TrainConfig, got dict"):
        train(net, params, (x, y), {"lr": 0.1})
    for size in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
            evaluate(net, params, x, y, batch_size=size)
    with pytest.raises(ValueError, match="loss must be one of"):
        evaluate(net, params, x, y, loss="hinge")
    cfg = TrainConfig(epochs=1)
    for kwargs, match in [({"until_epoch": -1}, "until_epoch"), ({"step_hook": 3}, "step_hook"),
                          ({"checkpoint": 3}, "checkpoint"), ({"eval_data": [1]}, "eval_data")]:
        with pytest.raises((TypeError, ValueError), match=match):
            train(net, params, (x, y), cfg, quiet=True, **kwargs)
    with pytest.raises(TypeError, match="pair"):
        train(net, params, (x, y, y), cfg)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        learning_rate(TrainConfig(schedule="step"), 5, 0)
    with pytest.raises(ValueError, match="loss must be one of"):
        value_and_grad(net, params, x, y, loss="hinge")
    state = train(net, params, (x, y), TrainConfig(epochs=1), quiet=True).state
    with pytest.raises(ValueError, match="optimizer state"):
        train(net, params, (x, y), TrainConfig(epochs=2, optimizer="sgd"), resume=state)
    with pytest.raises(ValueError, match="rng_state"):
        train(net, params, (x, y), TrainConfig(epochs=2), resume=state._replace(rng_state={}))
    for bad in ({"step": -1}, {"v": tree_map(np.negative, state.opt_state["v"])}):
        with pytest.raises(ValueError, match="not a state of this optimizer"):
            train(net, params, (x, y), TrainConfig(epochs=2),
                  resume=state._replace(opt_state={**state.opt_state, **bad}))


def test_save_checkpoint_refuses_what_it_could_not_load_back(tmp_path):
    net, x, y = _problem()
    state = train(net, net.init(0), (x, y), TrainConfig(epochs=1), quiet=True).state
    path = tmp_path / "c.npz"
    with pytest.raises(TypeError, match="dtype object"):
        save_checkpoint(path, state, arrays={"bad": np.array([1, "a"], dtype=object)})
    with pytest.raises(TypeError, match="complex"):
        save_checkpoint(path, state, arrays={"bad": np.zeros(2, dtype=complex)})
    with pytest.raises(ValueError, match="twice"):
        save_checkpoint(path, state, arrays={"a/b": np.zeros(1), "a": {"b": np.ones(1)}})
    with pytest.raises(ValueError, match="not distinct as strings"):
        save_checkpoint(path, state, arrays={1: np.zeros(1), "1": np.ones(1)})
    with pytest.raises(TypeError, match="state must be a TrainState"):
        save_checkpoint(path, tuple(state)[:3])
    with pytest.raises(TypeError, match="meta and arrays dicts"):
        save_checkpoint(path, state, meta=[1])
    (tmp_path / "dir").mkdir()
    os.symlink(tmp_path / "target", tmp_path / "link")
    for bad in ("", tmp_path / "dir", tmp_path / "link", tmp_path / "missing" / "c.npz"):
        with pytest.raises(ValueError, match="save_checkpoint: path"):
            save_checkpoint(bad, state)
    assert sorted(os.listdir(tmp_path)) == ["dir", "link"]   # nothing written, no temporary


def test_progress_goes_to_stderr(capsys):
    net, x, y = _problem()
    train(net, net.init(0), (x, y), TrainConfig(epochs=2, batch_size=45))
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("epoch=") == 2


def test_evaluate_refuses_an_empty_dataset():
    net, x, y = _problem()
    with pytest.raises(ValueError, match="got 0 inputs and 0 labels"):
        evaluate(net, net.init(0), x[:0], y[:0])


def test_mse_trains_on_per_row_targets():
    net, x, y = _problem()
    targets = np.eye(3)[y]                  # (N, 3) targets: batches keep rows together
    cfg = TrainConfig(lr=0.02, epochs=10, batch_size=30, loss="mse")
    result = train(net, net.init(0), (x, targets), cfg, quiet=True,
                   eval_data={"all": (x, targets)})
    assert result.history[-1]["train_loss"] < 0.6 * result.history[0]["train_loss"]
    assert set(result.history[-1]) == {"epoch", "step", "train_loss", "all_loss"}


def test_the_analysis_readme_states_the_checkpoint_bounds():
    from pathlib import Path
    from refnet import train as module
    text = " ".join((Path(__file__).resolve().parents[1] / "analysis" / "README.md")
                    .read_text().split())
    assert (module.MAX_CHECKPOINT_BYTES, module.MAX_HEADER_BYTES, module.MAX_LAYERS) == \
        (1 << 30, 1 << 20, 1000)
    assert "(1 GiB decompressed, 1 MiB of metadata, a network of at most 1,000 prunable " \
           "layers and 1 GiB of `8 * (input size + sum of max(m, n) ** 2)`)" in text
