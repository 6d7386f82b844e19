"""The study's Doping row: built at each density's budget for lenet300, trains, and the
table says what it trains (factor sizes, trainable weights, over budget)."""
import math

import numpy as np
import pytest

from refnet.doping import DopingLinear
from refnet.models import prunable_layers
from refnet.cli.study import METHODS, StudyConfig, StudyResult, summarize
from refnet.cli.study.methods import Context, applicable
from refnet.cli.study.report import markdown_table
from refnet.cli.study.runner import run_task, tasks_of
from refnet.train import TrainConfig, train

#: lenet300 at the study's densities: (budget, trainable weights), refnet/models/doping.py
LENET300 = {1e-2: (2662, 2662), 1e-3: (266, 1385), 1e-4: (27, 1385)}


def _context(model, density, seed=0, **model_args):
    support, init = np.random.SeedSequence(seed).spawn(2)
    return Context(model, model_args, density, np.random.default_rng(support),
                   np.random.default_rng(init), np.zeros((1, 784)), np.zeros(1, dtype=int))


@pytest.mark.parametrize("density", sorted(LENET300))
def test_doping_builds_lenet300_at_the_documented_counts(density):
    budget, trainable = LENET300[density]
    net, params = METHODS["doping"].prepare(_context("lenet300", density))
    layers = prunable_layers(net)
    assert [type(layer) for _, layer in layers] == [DopingLinear] * 3
    weights = sum(params[name][k].size for name, _ in layers for k in ("A", "B", "S"))
    assert weights == trainable
    assert net.spec["plan"]["budget"] == budget
    note = METHODS["doping"].notes("lenet300", {}, density)
    assert "fc1 A 10x49, B 30x16" in note and "fc3 A 2x20, B 5x5" in note
    assert f"{trainable:,} trainable weights" in note
    assert ("OVER BUDGET" in note) == (trainable > budget)


def test_a_tiny_doping_network_trains():
    net, params = METHODS["doping"].prepare(_context("mlp", 0.3, sizes=[64, 16, 10]))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 64))
    y = (x[:, :10].argmax(axis=1)).astype(int)          # a learnable labelling
    result = train(net, params, (x, y), TrainConfig(optimizer="adam", lr=1e-2, epochs=4,
                                                    batch_size=64, seed=0), quiet=True)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.8 * losses[0]
    moved = {k: not np.array_equal(params["fc1"][k], result.state.params["fc1"][k])
             for k in ("A", "B", "S")}
    assert all(moved.values()), moved


TINY = StudyConfig(data="digits", model="mlp", model_args=(("sizes", (64, 16, 10)),),
                   methods=("doping",), densities=(0.2, 0.05), seeds=(0,), lrs=(1e-2,),
                   epochs=1, val_size=100)


def test_study_trains_doping_within_budget_only_and_says_what_it_trains():
    tasks = tasks_of(TINY)
    assert {t.density for t in tasks} == {0.2}     # at 5% the factors alone exceed the budget
    records = [run_task(task) for task in tasks]
    assert not records[0]["diverged"] and math.isfinite(records[0]["test_acc"])
    assert records[0]["nnz_density"] == 237 / 1184
    assert records[0]["trainable"] == 237 + 16 + 10          # plus the biases
    summary = summarize(StudyResult(TINY, records))
    table = markdown_table(summary)
    assert "| A⊗B + fixed random S † |" in table
    assert "- A⊗B + fixed random S at 20%: fc1 A 4x8, B 4x8, S" in table
    assert "237 trainable weights, the budget of 20% (237)" in table
    assert "n/a (needs >= 7.6%)" in table and "OVER BUDGET" not in table   # 90 / 1184
    over = summary["rows"][1]
    assert over["needs"] == 90 / 1184 and math.isnan(over["acc_mean"])


def test_doping_refuses_convolutional_models_before_training():
    with pytest.raises(ValueError, match=r"\['doping'\] cannot build model 'lenet5'.*"
                                         r"convolution layers"):
        StudyConfig(model="lenet5", methods=("dense", "doping"))
    ok, skipped = applicable(("dense", "doping", "dctps-epl"), "lenet5", {})
    assert ok == ["dense", "dctps-epl"] and list(skipped) == ["doping"]
    assert applicable(("dense", "doping"), "lenet300", {}) == (["dense", "doping"], {})


def test_cli_leaves_doping_out_for_a_cnn_and_says_why(monkeypatch, capsys, tmp_path):
    import refnet.cli.study.command as command
    from refnet.cli import main

    class Captured(Exception):
        pass

    def capture(config, **kwargs):
        raise Captured(config)

    monkeypatch.setattr(command, "run_study", capture)
    monkeypatch.chdir(tmp_path)     # the default --out folder
    with pytest.raises(Captured) as caught:
        main(["study", "--quick", "--model", "lenet5", "--quiet"])
    config = caught.value.args[0]
    assert "doping" not in config.methods and "dctps-epl" in config.methods
    assert "leaving out doping: Doping: model 'lenet5' has convolution layers" in \
        capsys.readouterr().err
