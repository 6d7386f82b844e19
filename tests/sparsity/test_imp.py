"""Iterative magnitude pruning: global ranking, exact nnz, rewinding, determinism."""
import numpy as np
import pytest

from refnet.core.tree import tree_leaves
from refnet.models import build_model, supports_of
from refnet.sparsity import (exponential_schedule, iterative_magnitude_pruning, magnitude_prune,
                             target_nnz)
from refnet.train import TrainConfig, train


def _problem(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6))
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)


def _net():
    return build_model("mlp", sizes=[6, 8, 5, 3])          # 48 + 40 + 15 = 103 weights


CONFIG = TrainConfig(lr=1e-2, epochs=2, batch_size=16, seed=1)   # 2 steps per epoch


def test_magnitude_prune_ranks_globally():
    net = build_model("mlp", sizes=[2, 2, 1])
    params = {"fc1": {"W": np.array([[0.1, -3.0], [2.0, 0.2]]), "b": np.zeros(2)},
              "act1": {}, "fc2": {"W": np.array([[-1.0, 0.05]]), "b": np.zeros(1)}}
    supports = magnitude_prune(net, params, 3)          # |3| |2| |1|, across both layers
    assert [a.tolist() for a in supports["fc1"]] == [[0, 1], [1, 0]]
    assert [a.tolist() for a in supports["fc2"]] == [[0], [0]]
    with pytest.raises(ValueError, match="keep"):
        magnitude_prune(net, params, 7)


@pytest.mark.parametrize("rounds", [1, 3])
def test_imp_keeps_exactly_the_target_and_rewinds_to_the_init(rounds):
    net, data = _net(), _problem()
    init = net.init(0)
    density = 0.1
    result = iterative_magnitude_pruning(net, init, data, CONFIG, density, rounds=rounds,
                                         train_final=False)
    kept = [h["kept"] for h in result.history]
    assert kept == [103] + exponential_schedule(density, 103, rounds)
    assert kept[-1] == target_nnz(density, 103) == 10
    assert sum(result.net[p].nnz for p in ["fc1", "fc2", "fc3"]) == 10
    assert result.net.spec["support"] == "imp" and result.net.spec["density"] == density
    # rewound to the initialisation: surviving weights and every bias
    for path, (rows, cols) in supports_of(result.net).items():
        np.testing.assert_array_equal(result.params[path]["S"], init[path]["W"][rows, cols])
        np.testing.assert_array_equal(result.params[path]["b"], init[path]["b"])


def test_one_shot_imp_keeps_the_largest_trained_weights():
    net, data = _net(), _problem()
    init = net.init(0)
    trained = train(net, init, data, CONFIG, quiet=True).state.params
    result = iterative_magnitude_pruning(net, init, data, CONFIG, 0.2, rounds=1,
                                         train_final=False)
    magnitudes = np.concatenate([np.abs(trained[p]["W"]).ravel() for p in ["fc1", "fc2", "fc3"]])
    threshold = np.sort(magnitudes)[::-1][target_nnz(0.2, 103) - 1]
    for path, (rows, cols) in supports_of(result.net).items():
        assert np.all(np.abs(trained[path]["W"][rows, cols]) >= threshold)


def test_imp_rewinds_to_an_early_step():
    net, data = _net(), _problem()
    init = net.init(0)
    # two steps per epoch: the parameters after step 2 are those after epoch 1
    at_step_2 = train(net, init, data, CONFIG, until_epoch=1, quiet=True).state.params
    result = iterative_magnitude_pruning(net, init, data, CONFIG, 0.3, rounds=2, rewind_step=2,
                                         train_final=False)
    for path, (rows, cols) in supports_of(result.net).items():
        np.testing.assert_array_equal(result.params[path]["S"], at_step_2[path]["W"][rows, cols])
        np.testing.assert_array_equal(result.params[path]["b"], at_step_2[path]["b"])
    with pytest.raises(ValueError, match="rewind_step"):
        iterative_magnitude_pruning(net, init, data, CONFIG, 0.3, rewind_step=5)


def test_imp_is_deterministic_and_trains_the_final_network():
    net, data = _net(), _problem()
    runs = [iterative_magnitude_pruning(net, net.init(0), data, CONFIG, 0.3, rounds=2,
                                        eval_data={"train": data}) for _ in range(2)]
    for (pa, a), (pb, b) in zip(tree_leaves(runs[0].params), tree_leaves(runs[1].params)):
        assert pa == pb
        np.testing.assert_array_equal(a, b)
    assert [h["stage"] for h in runs[0].history] == ["dense", "round 1", "final"]
    assert all(len(h["epochs"]) == 2 and "train_accuracy" in h["epochs"][-1]
               for h in runs[0].history)
    rewound = iterative_magnitude_pruning(net, net.init(0), data, CONFIG, 0.3, rounds=2,
                                          train_final=False)
    assert supports_of(rewound.net).keys() == supports_of(runs[0].net).keys()
    assert not np.array_equal(rewound.params["fc1"]["S"], runs[0].params["fc1"]["S"])


def test_imp_needs_a_dense_network():
    sparse = build_model("mlp", sizes=[6, 8, 3], kind="sparse", density=0.5, rng=0)
    with pytest.raises(ValueError, match="dense network"):
        iterative_magnitude_pruning(sparse, sparse.init(0), _problem(), CONFIG, 0.1)
    with pytest.raises(ValueError, match="density"):
        iterative_magnitude_pruning(_net(), _net().init(0), _problem(), CONFIG, 0.0)
