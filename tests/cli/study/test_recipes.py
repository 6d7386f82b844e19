"""refnet.cli.study.recipes.run_method: every study method trains a small model, reproducibly."""
import numpy as np
import pytest

from refnet.core.tree import tree_leaves
from refnet.models import build_model
from refnet.cli.study.recipes import METHOD_LABELS, method_start, run_method
from refnet.sparsity import SubspaceNetwork, matched_dim, target_nnz
from refnet.train import TrainConfig, evaluate

SIZES = [6, 12, 8, 3]                    # 72 + 96 + 24 = 192 weights, 23 biases


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6))
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)


@pytest.mark.parametrize("method", sorted(METHOD_LABELS))
def test_every_method_trains_at_the_density(method):
    data = _data()
    config = TrainConfig(lr=1e-2, epochs=3, batch_size=16, seed=1)
    options = {"delta_t": 2, "debug": True} if "rigl" in method else \
        {"prune_epochs": 1, "rounds": 2} if method == "imp" else {}
    runs = [run_method(method, "mlp", 0.25, 7, data, config, eval_data={"train": data},
                       model_args={"sizes": SIZES}, options=options) for _ in range(2)]
    run = runs[0]
    assert len(run.history) == 3 and "train_accuracy" in run.history[-1]
    assert 0.0 <= evaluate(run.net, run.params, *data)["accuracy"] <= 1.0
    if method == "subspace":
        # as many weight directions as the sparse network has weights; 23 biases trained as is
        assert isinstance(run.net, SubspaceNetwork)
        assert run.info["dim"] == target_nnz(0.25, 192) == 48
        assert run.info["trainable"] == 48 + 23
        assert run.net.U.shape == (192 + 23, 48 + 23)
    else:
        assert sum(run.info["nnz"].values()) == target_nnz(0.25, 192)
        alphas = 3 if method == "dctps-rigl" else 0
        assert run.info["trainable"] == 48 + 23 + alphas
    if "rigl" in method:
        assert [u["step"] for u in run.info["updates"]] == [2, 4, 6, 8]    # end_step 9
    for (pa, a), (pb, b) in zip(tree_leaves(run.params), tree_leaves(runs[1].params)):
        assert pa == pb
        np.testing.assert_array_equal(a, b)


def test_subspace_trains_biases_directly_and_weights_in_the_subspace():
    net, params = method_start("subspace", "mlp", 0.25, 3, model_args={"sizes": SIZES})
    theta = np.zeros(net.dim)
    theta[48] = 1.0                                  # the first bias column moves fc1/b[0] only
    moved = {p: v for p, v in tree_leaves(net.weights({"theta": theta}))}
    start = dict(tree_leaves(net.weights(params)))
    changed = {p for p in moved if not np.array_equal(moved[p], start[p])}
    assert changed == {next(p for p in moved if p.endswith("/b"))}
    theta = np.zeros(net.dim)
    theta[:48] = 1.0                                 # the weight directions leave biases alone
    moved = dict(tree_leaves(net.weights({"theta": theta})))
    assert all(np.array_equal(moved[p], start[p]) for p in moved if p.endswith("/b"))
    projected, _ = method_start("subspace", "mlp", 0.25, 3, model_args={"sizes": SIZES},
                                options={"include_biases": True})
    assert projected.dim == matched_dim(build_model("mlp", sizes=SIZES), 0.25) == 71


def test_imp_rounds_follow_the_rate():
    data, config = _data(), TrainConfig(lr=1e-2, epochs=1, batch_size=32, seed=1)
    run = run_method("imp", "mlp", 0.25, 7, data, config, model_args={"sizes": SIZES},
                     options={"prune_epochs": 1})
    # 0.8 ** 7 = 0.21 <= 0.25 < 0.8 ** 6: seven pruning rounds after the dense run
    assert [r["stage"] for r in run.info["rounds"]] == \
        ["dense"] + [f"round {t}" for t in range(1, 7)] + ["final"]


def test_run_method_errors():
    data, config = _data(), TrainConfig(epochs=1)
    with pytest.raises(ValueError, match="method must be one of"):
        run_method("snip", "mlp", 0.1, 0, data, config, model_args={"sizes": SIZES})
    with pytest.raises(ValueError, match="no option"):
        run_method("imp", "mlp", 0.1, 0, data, config, model_args={"sizes": SIZES},
                   options={"delta_t": 3})


@pytest.mark.parametrize("method", sorted(METHOD_LABELS))
def test_method_start_rebuilds_the_same_start(method):
    x = _data()[0]
    nets = [method_start(method, "mlp", 0.25, 3, model_args={"sizes": SIZES}) for _ in range(2)]
    (a, pa), (b, pb) = nets
    np.testing.assert_array_equal(a(pa, x), b(pb, x))
    if method == "subspace":
        assert (a.U != b.U).nnz == 0 and np.array_equal(a.d, b.d)
