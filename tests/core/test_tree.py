"""Parameter trees: flatten/unflatten, zeros, paths, mismatches."""
import numpy as np
import pytest

from refnet.core.tree import (tree_check_like, tree_equal, tree_flatten, tree_leaves, tree_map,
                              tree_size, tree_unflatten, tree_zeros_like)


def _tree(seed=0):
    rng = np.random.default_rng(seed)
    return {"fc1": {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(3)},
            "act": {},
            "block": {"conv": {"W": rng.standard_normal((2, 1, 2, 2))},
                      "alpha": np.array(0.5)},
            "fc2": {"W": rng.standard_normal((1, 3))}}


def test_flatten_unflatten_round_trip():
    tree = _tree()
    vec, spec = tree_flatten(tree)
    assert vec.shape == (tree_size(tree),) == (6 + 3 + 8 + 1 + 3,)
    back = tree_unflatten(spec, vec)
    assert tree_equal(back, tree)
    assert back["act"] == {}
    # leaves are copies, in tree order
    back["fc1"]["W"][0, 0] = 99.0
    assert tree["fc1"]["W"][0, 0] != 99.0
    assert [p for p, _ in tree_leaves(tree)] == ["fc1/W", "fc1/b", "block/conv/W",
                                                 "block/alpha", "fc2/W"]
    np.testing.assert_array_equal(vec[:6], tree["fc1"]["W"].ravel())


def test_unflatten_keeps_dtypes_and_checks_the_length():
    tree = {"a": np.ones(2, dtype=np.float32), "b": np.zeros((2, 2))}
    vec, spec = tree_flatten(tree)
    back = tree_unflatten(spec, vec * 2)
    assert back["a"].dtype == np.float32 and back["b"].dtype == np.float64
    np.testing.assert_array_equal(back["a"], [2, 2])
    with pytest.raises(ValueError, match=r"vector has shape \(5,\), expected \(6,\)"):
        tree_unflatten(spec, np.zeros(5))


def test_empty_tree():
    vec, spec = tree_flatten({"relu": {}})
    assert vec.shape == (0,)
    assert tree_unflatten(spec, vec) == {"relu": {}}


def test_zeros_like_does_not_mutate():
    a = _tree(0)
    a_copy = tree_map(np.copy, a)
    zeros = tree_zeros_like(a)
    assert tree_size(zeros) == tree_size(a) and not np.any(tree_flatten(zeros)[0])
    assert tree_equal(a, a_copy)


@pytest.mark.parametrize("op", [
    lambda a, b: tree_check_like(a, b),
    lambda a, b: tree_map(np.add, a, b),
])
def test_mismatched_keys_raise(op):
    a = {"fc1": {"W": np.ones(2), "b": np.ones(1)}}
    b = {"fc1": {"W": np.ones(2), "c": np.ones(1)}}
    with pytest.raises(ValueError, match=r"parameter trees differ at '/fc1': keys \['W', '[bc]'\] "
                                         r"against \['W', '[bc]'\]"):
        op(a, b)


def test_mismatched_shapes_raise_instead_of_broadcasting():
    a = {"fc1": {"W": np.ones((2, 3))}}
    for shape in [(3, 2), (3,), (1, 2, 3)]:
        with pytest.raises(ValueError, match="at 'fc1/W': shape"):
            tree_check_like({"fc1": {"W": np.ones(shape)}}, a)


def test_check_like_names_both_trees():
    with pytest.raises(ValueError, match=r"grads does not match params at 'W': shape \(3,\), "
                                         r"expected \(2, 3\)"):
        tree_check_like({"W": np.ones(3)}, {"W": np.ones((2, 3))}, "grads", "params")
    tree_check_like({"W": np.ones(3)}, {"W": np.zeros(3)})      # fine: no error


def test_tree_equal():
    a = _tree()
    assert tree_equal(a, tree_map(np.copy, a))
    assert not tree_equal(a, {"fc1": a["fc1"]})
    assert not tree_equal({"W": np.ones(2)}, {"W": np.ones(3)})


def test_tree_map_keeps_zero_d_arrays_as_arrays():
    # numpy turns arithmetic on a 0-d array into a scalar; parameters must stay arrays
    tree = {"alpha": np.array(1.5), "W": np.ones(2)}
    out = tree_map(lambda w: w - 0.5 * w, tree)
    assert isinstance(out["alpha"], np.ndarray) and out["alpha"].shape == ()
    assert float(out["alpha"]) == 0.75
    assert tree_map(lambda w: float(np.sum(w)), tree)["W"] == 2.0   # non-numpy results pass through


def test_tree_get_and_replace_by_path():
    from refnet.core.tree import tree_get, tree_replace
    tree = {"fc1": {"W": np.ones(2), "b": np.zeros(1)}, "act": {}}
    assert tree_get(tree, "fc1/W") is tree["fc1"]["W"]
    new = tree_replace(tree, "fc1/b", np.ones(1))
    assert new["fc1"]["b"][0] == 1.0 and tree["fc1"]["b"][0] == 0.0       # nothing mutated
    assert new["fc1"]["W"] is tree["fc1"]["W"] and new["act"] is tree["act"]   # shared
    with pytest.raises(KeyError):
        tree_get(tree, "fc2/W")
