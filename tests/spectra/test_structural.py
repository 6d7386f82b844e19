"""Structural rank from supports: hand-made chains, and generic numerical rank equality."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from refnet.spectra import dense_support, identity_support, structural_rank, support_pattern


def test_identity_chain_has_full_rank():
    r = structural_rank([identity_support(5)] * 4)
    assert r.rank_bound == r.matching_bound == 5
    assert r.layer_ranks == (5, 5, 5, 5) and r.widths == (5,) * 5
    assert r.connected and r.reachable_outputs.all() and r.live_inputs.all()


def test_bottleneck_of_one_unit():
    r = structural_rank([dense_support(8, 6), dense_support(1, 8), dense_support(7, 1),
                         identity_support(7)])
    assert r.rank_bound == 1 and r.matching_bound == 1
    assert r.reachable_outputs.all() and r.live_inputs.all()


def test_disconnected_output_and_dead_input():
    A1 = np.array([[1, 0, 0],
                   [0, 1, 0],
                   [0, 0, 0]])        # input 2 feeds nothing
    A2 = np.array([[1, 0, 0],
                   [0, 1, 0],
                   [0, 0, 0],           # output 2 is fed by nothing ...
                   [0, 0, 1]])          # ... and output 3 only by a dead hidden unit
    r = structural_rank([A1, A2])
    assert r.reachable_outputs.tolist() == [True, True, False, False]
    assert r.live_inputs.tolist() == [True, True, False]
    assert r.rank_bound == 2
    assert r.layer_ranks == (2, 3) and r.matching_bound == 2


def test_no_path_at_all():
    empty = sp.csr_matrix((4, 4), dtype=np.int8)
    r = structural_rank([dense_support(4, 3), empty, dense_support(2, 4)])
    assert not r.connected and r.rank_bound == 0 and r.matching_bound == 0
    assert not r.live_inputs.any()


def test_per_layer_matching_bound_misses_mismatched_layers():
    # every layer has structural rank 2, but the unit reached from the inputs
    # (1) feeds nothing while the unit feeding the outputs (2) is reached from nothing
    A1 = np.array([[1, 0], [0, 1], [0, 0]])           # in0 -> h0, in1 -> h1
    A2 = np.array([[1, 0, 1], [0, 0, 1]])             # h0 -> out0, h2 -> out0, out1
    r = structural_rank([A1, A2])
    assert r.layer_ranks == (2, 2) and r.matching_bound == 2
    assert r.rank_bound == 1
    rng = np.random.default_rng(0)
    product = (A2 * rng.standard_normal(A2.shape)) @ (A1 * rng.standard_normal(A1.shape))
    assert np.linalg.matrix_rank(product) == 1


def test_stored_zeros_are_support():
    # a DCTpS layer's S starts at zero on a fixed support: the support is what counts
    S = sp.csr_matrix((np.zeros(3), ([0, 1, 2], [2, 1, 0])), shape=(3, 3))
    assert S.nnz == 3
    assert structural_rank([S]).rank_bound == 3
    assert support_pattern(S).toarray().tolist() == [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
    # while a dense array's zeros are not
    assert structural_rank([np.zeros((3, 3))]).rank_bound == 0


def test_shapes_must_chain():
    with pytest.raises(ValueError, match="supports\\[1\\]"):
        structural_rank([dense_support(3, 2), dense_support(2, 4)])
    with pytest.raises(ValueError, match="at least one"):
        structural_rank([])
    with pytest.raises(TypeError, match="sequence"):
        structural_rank(dense_support(2, 2))


def random_chain(rng, widths, density):
    return [sp.csr_matrix((rng.random((n_out, n_in)) < density).astype(np.int8))
            for n_in, n_out in zip(widths[:-1], widths[1:])]


@given(widths=st.lists(st.integers(1, 7), min_size=2, max_size=5),
       density=st.sampled_from([0.1, 0.25, 0.4, 0.7]),
       seed=st.integers(0, 2**32 - 1))
def test_generic_values_attain_the_vertex_disjoint_paths_bound(widths, density, seed):
    """Random continuous values on the support: rank of the product == rank_bound.

    Equality holds with probability one (the minor on a maximal disjoint path
    system is a nonzero polynomial in the values), so a fixed draw is a test.
    """
    rng = np.random.default_rng(seed)
    supports = random_chain(rng, widths, density)
    r = structural_rank(supports)
    product = np.eye(widths[0])
    for A in supports:
        values = A.toarray() * rng.uniform(0.5, 2.0, A.shape) * rng.choice([-1, 1], A.shape)
        product = values @ product
    assert np.linalg.matrix_rank(product) == r.rank_bound
    assert r.rank_bound <= r.matching_bound <= min(widths)
    reachable = np.abs(product).sum(axis=1) > 0
    np.testing.assert_array_equal(reachable, r.reachable_outputs)
    np.testing.assert_array_equal(np.abs(product).sum(axis=0) > 0, r.live_inputs)


def test_many_random_chains_at_fixed_seeds():
    # the same property over 200 fixed draws, including deeper and wider chains
    rng = np.random.default_rng(12345)
    for _ in range(200):
        widths = list(rng.integers(1, 10, size=rng.integers(2, 7)))
        supports = random_chain(rng, widths, rng.choice([0.05, 0.15, 0.3, 0.6]))
        r = structural_rank(supports)
        product = np.eye(widths[0])
        for A in supports:
            product = (A.toarray() * rng.standard_normal(A.shape)) @ product
        assert np.linalg.matrix_rank(product) == r.rank_bound, widths


def test_a_large_sparse_network_is_fast():
    # a 784-256x6-10 network at density 1e-2: integer graph work only
    rng = np.random.default_rng(0)
    widths = [784] + [256] * 6 + [10]
    r = structural_rank(random_chain(rng, widths, 0.01))
    assert 0 <= r.rank_bound <= 10
    assert r.rank_bound <= r.matching_bound
