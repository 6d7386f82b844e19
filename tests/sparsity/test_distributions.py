"""Layer-wise allocations: hand-computed values on lenet5-cifar, invariants, errors.

The expected numbers below are computed by hand (the arithmetic is in the
comments), never by calling the code under test.  The recipe they follow
(refnet.supports): target T = round(d * N) with halves up; real
shares x_l = clip(c * w_l, lo_l, N_l) summing to T; integers floor(x_l) plus
one for the T - sum(floor) largest fractional parts (ties: earlier layer).
"""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refnet.sparsity import DISTRIBUTIONS, allocate, distribution_weights, target_nnz

# lenet5-cifar's prunable weights (the original's LeNet for CIFAR-10, no biases).  The
# models module owns model shapes; they are repeated here so the expected numbers are
# checked against a fixed, hand-readable input.
#                         N_l = size   n_out   sum(shape)
LENET5_CIFAR = [
    ("conv1", (6, 3, 5, 5)),    # 450      6      6+3+5+5    = 19
    ("conv2", (16, 6, 5, 5)),   # 2400     16     16+6+5+5   = 32
    ("conv3", (120, 16, 5, 5)),  # 48000   120    120+16+5+5 = 146
    ("fc1", (82, 120)),         # 9840     82     82+120     = 202
    ("fc2", (10, 82)),          # 820      10     10+82      = 92
]
# N = 450 + 2400 + 48000 + 9840 + 820 = 61510;  sum n_out = 234;  sum of dims = 491.

# Targets: T = floor(d * 61510 + 1/2).
#   d = 1e-2: 615.1  -> 615        d = 1e-3: 61.51 -> 62        d = 1e-4: 6.151 -> 6
#   d = 0.2:  12302  -> 12302      d = 0.5:  30755 -> 30755
#
# ---- uniform: x_l = T * N_l / N (never clips) ------------------------------------------
# d=1e-2, T=615: x = 615*N_l/61510
#   conv1 276750/61510 = 4 + 30710/61510   = 4.4993     conv2 1476000/61510 = 23 + 61270/61510 = 23.9961
#   conv3 29520000/61510 = 479 + 56710/61510 = 479.9220  fc1 6051600/61510 = 98 + 23620/61510 = 98.3840
#   fc2 504300/61510 = 8 + 12220/61510 = 8.1987
#   floors 4+23+479+98+8 = 612, 3 left -> largest fractions .9961 (conv2), .9220 (conv3), .4993 (conv1)
# d=1e-3, T=62: conv1 27900/61510 = 0.4536; conv2 148800/61510 = 2.4191; conv3 2976000/61510 = 48.3824;
#   fc1 610080/61510 = 9.9184; fc2 50840/61510 = 0.8265
#   floors 0+2+48+9+0 = 59, 3 left -> .9184 (fc1), .8265 (fc2), .4536 (conv1)
# d=1e-4, T=6: conv1 2700/61510 = 0.0439; conv2 14400/61510 = 0.2341; conv3 288000/61510 = 4.6822;
#   fc1 59040/61510 = 0.9598; fc2 4920/61510 = 0.0800
#   floors 0+0+4+0+0 = 4, 2 left -> .9598 (fc1), .6822 (conv3).  Three layers get NO weight.
# d=0.2, T=12302 = 61510/5: x = N_l / 5 exactly = 90, 480, 9600, 1968, 164
#
# ---- epl: x_l = T / 5 unless capped ------------------------------------------------------
# d=1e-2: 615/5 = 123 each.   d=1e-3: 62/5 = 12.4 each, floors 60, 2 left, all fractions .4 tie
#   -> the first two layers (conv1, conv2) get 13.   d=1e-4: 6/5 = 1.2, 1 left -> conv1 gets 2.
# d=0.2: 12302/5 = 2460.4 > 450 (conv1), 2400 (conv2), 820 (fc2): those are dense;
#   (12302 - 450 - 2400 - 820) / 2 = 8632 / 2 = 4316 each for conv3 and fc1 (both below their size).
#
# ---- epf: x_l = T * n_out_l / 234 unless capped (cap when c = T/234 exceeds the row length) --
# d=1e-2: conv1 3690/234 = 15 + 180/234 = 15.7692; conv2 9840/234 = 42 + 12/234 = 42.0513;
#   conv3 73800/234 = 315 + 90/234 = 315.3846; fc1 50430/234 = 215 + 120/234 = 215.5128;
#   fc2 6150/234 = 26 + 66/234 = 26.2821.  floors 613, 2 left -> .7692 (conv1), .5128 (fc1)
# d=1e-3: conv1 372/234 = 1.5897; conv2 992/234 = 4.2393; conv3 7440/234 = 31.7949;
#   fc1 5084/234 = 21.7265; fc2 620/234 = 2.6496.  floors 59, 3 left -> .7949 (conv3), .7265 (fc1),
#   .6496 (fc2)
# d=1e-4: x = n_out * 6/234 = n_out/39: 0.1538, 0.4103, 3.0769, 2.1026, 0.2564.  floors 5, 1 left -> conv2
# d=0.2: c = 12302/234 = 52.57 < every row length (75, 150, 400, 120, 82): no cap.
#   conv1 73812/234 = 315 + 102/234 = 315.4359; conv2 196832/234 = 841 + 38/234 = 841.1624;
#   conv3 1476240/234 = 6308 + 168/234 = 6308.7179; fc1 1008764/234 = 4310 + 224/234 = 4310.9573;
#   fc2 123020/234 = 525 + 170/234 = 525.7265.  floors 12299, 3 left -> fc1 (.957), fc2 (.727),
#   conv3 (.718)
# d=0.5: c = 30755/234 = 131.4 > row lengths of conv1 (75), fc2 (82), fc1 (120): dense.
#   c = (30755 - 450 - 820 - 9840) / (16 + 120) = 19645/136 = 144.4 < 150 (conv2) and 400 (conv3).
#   conv2 16*19645/136 = 314320/136 = 2311 + 24/136; conv3 120*19645/136 = 2357400/136 = 17333 + 112/136.
#   floors 2311 + 17333 (+ 11110 dense) = 30754, 1 left -> conv3
#
# ---- erk: x_l = c * sum(shape_l), c = T / 491 until a layer caps (c > N_l / sum(shape_l):
#      conv1 450/19 = 23.68, conv2 2400/32 = 75, conv3 48000/146 = 328.8, fc1 9840/202 = 48.71,
#      fc2 820/92 = 8.913) --------------------------------------------------------------------
# d=1e-2, c = 615/491 = 1.25: conv1 11685/491 = 23 + 392/491 = 23.7984; conv2 19680/491 = 40 + 40/491;
#   conv3 89790/491 = 182 + 428/491 = 182.8717; fc1 124230/491 = 253 + 7/491; fc2 56580/491 = 115 + 115/491
#   floors 613, 2 left -> conv3 (.8717), conv1 (.7984)
# d=1e-3, c = 62/491: conv1 1178/491 = 2 + 196/491; conv2 1984/491 = 4 + 20/491; conv3 9052/491 = 18 + 214/491;
#   fc1 12524/491 = 25 + 249/491; fc2 5704/491 = 11 + 303/491.  floors 60, 2 left -> fc2 (303), fc1 (249)
# d=1e-4, c = 6/491: conv1 114/491; conv2 192/491; conv3 876/491 = 1 + 385/491; fc1 1212/491 = 2 + 230/491;
#   fc2 552/491 = 1 + 61/491.  floors 4, 2 left -> conv3 (385), fc1 (230)
# d=0.2, c = 12302/491 = 25.06 > 23.68 (conv1) and 8.913 (fc2): dense.
#   c = (12302 - 450 - 820) / (32 + 146 + 202) = 11032/380 = 29.03 < 48.71, 75, 328.8: valid.
#   conv2 32*11032/380 = 929 + 4/380; conv3 146*11032/380 = 4238 + 232/380; fc1 202*11032/380 = 5864 + 144/380
#   floors 929 + 4238 + 5864 + 1270 = 12301, 1 left -> conv3
# d=0.5, c = 30755/491 = 62.6 > 23.68, 8.913, 48.71: conv1, fc2, fc1 dense.
#   c = (30755 - 450 - 820 - 9840) / (32 + 146) = 19645/178 = 110.4 > 75: conv2 dense too (2nd round).
#   c = (30755 - 450 - 820 - 9840 - 2400) / 146 = 17245/146 = 118.1 < 328.8: conv3 gets 17245.
#
# ---- erk-clipped: eps = d * 61510 / 491, X = sum_l min(N_l, eps * sum(shape_l)), T' = round(X) --
# d <= 1e-2: eps <= 1.2527, nothing clips (first clip at fc2 when eps > 8.913), X = d*N: same as erk.
# d=0.2, eps = 12302/491: conv1 19*12302/491 = 476.0 -> 450; fc2 92*12302/491 = 2305.1 -> 820;
#   X = 450 + 820 + (32 + 146 + 202) * 12302/491 = 1270 + 4674760/491 = 1270 + 9520.896 = 10790.896
#   -> T' = 10791.  Shares with w = sum(shape), conv1/fc2 dense: c = (10791 - 1270)/380 = 9521/380;
#   conv2 32*9521/380 = 801 + 292/380; conv3 146*9521/380 = 3658 + 26/380; fc1 202*9521/380 = 5061 + 62/380
#   floors 801 + 3658 + 5061 + 1270 = 10790, 1 left -> conv2
# d=0.5, eps = 30755/491 = 62.6: conv1, fc1, fc2 clip; X = 450 + 9840 + 820 + 178*30755/491
#   = 11110 + 5474390/491 = 11110 + 11149.47 = 22259.47 -> T' = 22259.
#   c = (22259 - 11110)/178 = 11149/178: conv2 356768/178 = 2004 + 56/178; conv3 1627754/178 = 9144 + 122/178
#   floors 2004 + 9144 + 11110 = 22258, 1 left -> conv3
HAND = {
    # (distribution, density): [conv1, conv2, conv3, fc1, fc2]
    ("uniform", 1e-2): [5, 24, 480, 98, 8],
    ("uniform", 1e-3): [1, 2, 48, 10, 1],
    ("uniform", 1e-4): [0, 0, 5, 1, 0],
    ("uniform", 0.2): [90, 480, 9600, 1968, 164],
    ("epl", 1e-2): [123, 123, 123, 123, 123],
    ("epl", 1e-3): [13, 13, 12, 12, 12],
    ("epl", 1e-4): [2, 1, 1, 1, 1],
    ("epl", 0.2): [450, 2400, 4316, 4316, 820],
    ("epf", 1e-2): [16, 42, 315, 216, 26],
    ("epf", 1e-3): [1, 4, 32, 22, 3],
    ("epf", 1e-4): [0, 1, 3, 2, 0],
    ("epf", 0.2): [315, 841, 6309, 4311, 526],
    ("epf", 0.5): [450, 2311, 17334, 9840, 820],
    ("erk", 1e-2): [24, 40, 183, 253, 115],
    ("erk", 1e-3): [2, 4, 18, 26, 12],
    ("erk", 1e-4): [0, 0, 2, 3, 1],
    ("erk", 0.2): [450, 929, 4239, 5864, 820],
    ("erk", 0.5): [450, 2400, 17245, 9840, 820],
    ("erk-clipped", 1e-2): [24, 40, 183, 253, 115],
    ("erk-clipped", 1e-3): [2, 4, 18, 26, 12],
    ("erk-clipped", 1e-4): [0, 0, 2, 3, 1],
    ("erk-clipped", 0.2): [450, 802, 3658, 5061, 820],
    ("erk-clipped", 0.5): [450, 2004, 9145, 9840, 820],
}
HAND_TARGET = {1e-2: 615, 1e-3: 62, 1e-4: 6, 0.2: 12302, 0.5: 30755}


@pytest.mark.parametrize("distribution, density", sorted(HAND), ids=str)
def test_lenet5_cifar_hand_computed(distribution, density):
    a = allocate(LENET5_CIFAR, density, distribution)
    assert [layer.nnz for layer in a.layers] == HAND[distribution, density]
    assert a.total_size == 61510
    assert a.requested_nnz == HAND_TARGET[density]
    assert [layer.name for layer in a.layers] == [name for name, _ in LENET5_CIFAR]
    for layer, (_, shape) in zip(a.layers, LENET5_CIFAR):
        assert layer.shape == shape and layer.size == math.prod(shape)
        assert layer.density == layer.nnz / layer.size


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("density", [1e-2, 1e-3, 1e-4])
def test_every_distribution_is_covered_at_the_issue_densities(distribution, density):
    assert (distribution, density) in HAND
    # Below d ~ 0.0711 nothing clips, so every distribution hits round(d * 61510) exactly.
    assert allocate(LENET5_CIFAR, density, distribution).total_nnz == HAND_TARGET[density]


def test_erk_clipped_falls_short_once_layers_clip():
    # Hand totals above: 10791 of 12302 at d = 0.2, 22259 of 30755 at d = 0.5.  At d = 1:
    # eps = 61510/491; only conv3 (146 * 61510/491 = 18290.1 < 48000) stays sparse:
    # 450 + 2400 + 18290 + 9840 + 820 = 31800 (conv2: 32 * 125.3 = 4009 > 2400, dense).
    assert allocate(LENET5_CIFAR, 0.2, "erk-clipped").total_nnz == 10791
    full = allocate(LENET5_CIFAR, 1.0, "erk-clipped")
    assert [layer.nnz for layer in full.layers] == [450, 2400, 18290, 9840, 820]
    assert full.total_nnz == 31800 and full.requested_nnz == 61510
    for distribution in ("uniform", "epl", "epf", "erk"):
        assert allocate(LENET5_CIFAR, 1.0, distribution).total_nnz == 61510


def test_min_per_layer_hand_computed():
    # uniform, d = 1e-4, T = 6, every layer at least 1 (5 of the 6 units):
    # x_l = max(1, c * N_l): only conv3 rises above 1: 4 + 48000 c = 6, c = 1/24000
    # (fc1: 9840/24000 = 0.41 < 1, stays at 1).  -> [1, 1, 2, 1, 1]
    a = allocate(LENET5_CIFAR, 1e-4, "uniform", min_per_layer=1)
    assert [layer.nnz for layer in a.layers] == [1, 1, 2, 1, 1]
    # erk, d = 1e-4: x_l = max(1, c * sum(shape_l)); fc1 (202) and conv3 (146) rise:
    # 3 + 348 c = 6, c = 3/348 (fc2: 92 * 3/348 = 0.79 < 1 stays).  conv3 438/348 = 1.259,
    # fc1 606/348 = 1.741; floors 5, 1 left -> fc1.  -> [1, 1, 1, 2, 1]
    a = allocate(LENET5_CIFAR, 1e-4, "erk", min_per_layer=1)
    assert [layer.nnz for layer in a.layers] == [1, 1, 1, 2, 1]
    # epl already gives >= 1 everywhere at 1e-4: unchanged.
    assert [layer.nnz for layer in allocate(LENET5_CIFAR, 1e-4, "epl", min_per_layer=1).layers] \
        == HAND["epl", 1e-4]
    # A minimum above a layer's size makes that layer dense: conv1 has 450 < 500.
    # uniform, d = 0.2: 450 + 4 * 500 = 2450 <= 12302; the others get N_l * c' with
    # c' = (12302 - 450) / (61510 - 450) = 11852/61060: conv2 2400 * c' = 465.85 < 500 -> 500,
    # fc2 820 * c' = 159.2 -> 500; then c'' = (12302 - 450 - 1000) / (48000 + 9840) = 10852/57840,
    # conv3 48000 * c'' = 9005.8 + fc1 9840 * c'' = 1846.2 (= 10852): conv3 9005 + 0.809,
    # fc1 1846 + 0.191: 1 left -> conv3.
    a = allocate(LENET5_CIFAR, 0.2, "uniform", min_per_layer=500)
    assert [layer.nnz for layer in a.layers] == [450, 500, 9006, 1846, 500]


def test_min_per_layer_counts_a_small_layer_as_its_size():
    # sizes 4 and 100, minimum 10: the small layer needs only 4 (dense), so 4 + 10 = 14 units
    # suffice.  d = 14/104 gives T = 14 (the float 14/104 times 104 is 14 - 7e-16): exactly
    # the minimum, so x = lower = [4, 10].
    layers = [("small", (2, 2)), ("big", (10, 10))]
    assert list(allocate(layers, 14 / 104, "uniform", min_per_layer=10).nnz().values()) == [4, 10]
    with pytest.raises(ValueError, match="needs at least 14 .* only 13"):
        allocate(layers, 13 / 104, "uniform", min_per_layer=10)


def test_min_per_layer_infeasible_is_a_clear_error():
    # T = 6 at d = 1e-4, but 5 layers * 2 = 10 are required.
    with pytest.raises(ValueError, match=r"min_per_layer=2 needs at least 10 .* only 6"):
        allocate(LENET5_CIFAR, 1e-4, "uniform", min_per_layer=2)


def test_target_rounds_halves_up_exactly():
    assert target_nnz(0.5, 5) == 3                 # 2.5 -> 3 (Python's round gives 2)
    assert target_nnz(0.5, 3) == 2                 # 1.5 -> 2
    assert target_nnz(0.25, 2) == 1                # 0.5 -> 1
    assert target_nnz(1e-3, 61510) == 62
    # 0.1 is 0.1000000000000000055511151231257827... in binary, so 0.1 * 5 is just above 0.5.
    assert target_nnz(0.1, 5) == 1
    # A layer list whose d * N is exactly x.5: shape (5, 1) at d = 0.5 -> 3 entries.
    assert allocate([("w", (5, 1))], 0.5).total_nnz == 3
    # its errors name target_nnz (which doping_plan and matched_dim call), not allocate
    with pytest.raises(ValueError, match=r"^target_nnz: density must lie in \(0, 1\], got 1.5"):
        target_nnz(1.5, 10)
    with pytest.raises(TypeError, match=r"^target_nnz: density must be a real number"):
        target_nnz("0.1", 10)


def test_ties_go_to_the_earlier_layer():
    # Three identical layers, T = round(0.5 * 12) = 6, x = 2 each, no tie; T = round(7/12 * 12) = 7:
    # x = 7/3 each, fractions 1/3 tie: the first layer gets the extra unit.
    layers = [("a", (2, 2)), ("b", (2, 2)), ("c", (2, 2))]
    assert list(allocate(layers, 7 / 12, "uniform").nnz().values()) == [3, 2, 2]
    assert list(allocate(layers[::-1], 7 / 12, "uniform").nnz().values()) == [3, 2, 2]


def test_result_object_and_json_dict():
    a = allocate(LENET5_CIFAR, 1e-3, "erk")
    d = a.to_dict()
    assert d["total_size"] == 61510 and d["total_nnz"] == 62
    assert d["layers"][0] == {"name": "conv1", "shape": [6, 3, 5, 5], "size": 450, "nnz": 2,
                              "density": 2 / 450}
    assert a.nnz() == {"conv1": 2, "conv2": 4, "conv3": 18, "fc1": 26, "fc2": 12}
    assert a.achieved_density == 62 / 61510
    with pytest.raises(AttributeError):
        a.layers[0].nnz = 3                        # frozen


# -- invariants over random layer lists ---------------------------------------------------

def _shapes():
    linear = st.tuples(st.integers(1, 40), st.integers(1, 40))
    conv = st.tuples(st.integers(1, 12), st.integers(1, 6), st.integers(1, 5), st.integers(1, 5))
    return st.lists(st.one_of(linear, conv), min_size=1, max_size=6)


# An allocation costs about a millisecond, so these invariants afford far more examples than
# the suite-wide profile's default (tests/conftest.py); still derandomized under "ci".
_MANY = settings(max_examples=200)

_densities = st.one_of(st.floats(min_value=1e-6, max_value=1.0, allow_nan=False),
                       st.sampled_from([1.0, 0.5, 1e-2, 1e-3]))


def _independent_weights(shape, distribution):
    if distribution == "uniform":
        return math.prod(shape)
    if distribution == "epl":
        return 1
    if distribution == "epf":
        return shape[0]
    return sum(shape)


@_MANY
@given(shapes=_shapes(), density=_densities, distribution=st.sampled_from(DISTRIBUTIONS),
       min_per_layer=st.sampled_from([0, 0, 1, 3]))
def test_allocation_invariants(shapes, density, distribution, min_per_layer):
    layers = [(f"layer{i}", s) for i, s in enumerate(shapes)]
    sizes = [math.prod(s) for s in shapes]
    total = sum(sizes)
    requested = math.floor(Fraction(density) * total + Fraction(1, 2))
    target = requested
    if distribution == "erk-clipped":
        eps = Fraction(density) * total / sum(sum(s) for s in shapes)
        target = math.floor(sum(min(Fraction(n), eps * sum(s)) for n, s in zip(sizes, shapes))
                            + Fraction(1, 2))
    lower = [min(min_per_layer, n) for n in sizes]
    if sum(lower) > target:
        with pytest.raises(ValueError, match="min_per_layer"):
            allocate(layers, density, distribution, min_per_layer=min_per_layer)
        return
    a = allocate(layers, density, distribution, min_per_layer=min_per_layer)
    nnz = [layer.nnz for layer in a.layers]
    assert a.requested_nnz == requested
    assert sum(nnz) == target                                   # the exact sum
    assert distribution == "erk-clipped" or target == requested
    assert all(lo <= k <= n for lo, k, n in zip(lower, nnz, sizes))   # per-layer cap and floor
    assert all(type(k) is int for k in nnz)
    assert allocate(layers, density, distribution, min_per_layer=min_per_layer) == a  # deterministic
    # The distribution's own ratios: x_l = clip(c * w_l, lo_l, N_l) and nnz_l in {floor, ceil}
    # of x_l imply c * w_l > nnz_l - 1 when nnz_l > lo_l and c * w_l < nnz_l + 1 when
    # nnz_l < N_l, so some c satisfies all of them at once.
    w = [_independent_weights(s, distribution) for s in shapes]
    above = [Fraction(k - 1, wl) for k, lo, wl in zip(nnz, lower, w) if k > lo]
    below = [Fraction(k + 1, wl) for k, n, wl in zip(nnz, sizes, w) if k < n]
    if above and below:
        assert max(above) < min(below), (nnz, w)


@_MANY
@given(shapes=_shapes(), density=_densities)
def test_erk_clipped_never_exceeds_erk_and_agrees_without_clipping(shapes, density):
    layers = [(f"layer{i}", s) for i, s in enumerate(shapes)]
    erk = allocate(layers, density, "erk")
    clipped = allocate(layers, density, "erk-clipped")
    assert clipped.total_nnz <= erk.total_nnz
    eps = Fraction(density) * erk.total_size / sum(sum(s) for s in shapes)
    if all(eps * sum(s) <= math.prod(s) for s in shapes):
        assert clipped.nnz() == erk.nnz()


def test_weights_per_distribution():
    shapes = [s for _, s in LENET5_CIFAR]
    assert distribution_weights(shapes, "uniform") == [450, 2400, 48000, 9840, 820]
    assert distribution_weights(shapes, "epl") == [1, 1, 1, 1, 1]
    assert distribution_weights(shapes, "epf") == [6, 16, 120, 82, 10]
    assert distribution_weights(shapes, "erk") == [19, 32, 146, 202, 92]
    assert distribution_weights(shapes, "erk-clipped") == [19, 32, 146, 202, 92]


def test_accepts_numpy_and_fraction_densities():
    expected = HAND["uniform", 1e-2]
    assert [x.nnz for x in allocate(LENET5_CIFAR, np.float64(1e-2)).layers] == expected
    assert [x.nnz for x in allocate(LENET5_CIFAR, Fraction(1, 100)).layers] == expected
    assert allocate(LENET5_CIFAR, 1).total_nnz == 61510
    assert [x.nnz for x in allocate([(n, list(s)) for n, s in LENET5_CIFAR], 1e-2).layers] \
        == expected


# -- errors -------------------------------------------------------------------------------

def test_unknown_distribution_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown distribution 'erdos'.*uniform, epl, epf, "
                                         r"erk, erk-clipped"):
        allocate(LENET5_CIFAR, 0.1, "erdos")
    with pytest.raises(ValueError, match="unknown distribution"):
        allocate(LENET5_CIFAR, 0.1, "ERK")
    with pytest.raises(ValueError, match="unknown distribution"):
        distribution_weights([(2, 2)], None)


@pytest.mark.parametrize("density", [0, 0.0, -0.1, 1.0000001, 2, float("nan"), float("inf"),
                                     -float("inf"), np.float64("nan")])
def test_density_outside_unit_interval(density):
    with pytest.raises(ValueError, match=r"density must lie in \(0, 1\], got"):
        allocate(LENET5_CIFAR, density)


@pytest.mark.parametrize("density", ["0.1", None, True, 1j, [0.1]])
def test_density_of_wrong_type(density):
    with pytest.raises(TypeError, match="density must be a real number"):
        allocate(LENET5_CIFAR, density)


@pytest.mark.parametrize("layers, match", [
    ([], "layers is empty"),
    ([("w", (0, 3))], r"shape\[0\] must be an integer >= 1, got 0"),
    ([("w", (4, -3))], r"shape\[1\] must be an integer >= 1, got -3"),
    ([("w", (4, 2.5))], r"shape\[1\] must be an integer >= 1, got 2.5"),
    ([("w", (4, True))], r"shape\[1\] must be an integer >= 1, got True"),
    ([("w", (4,))], r"has 1 dimension\(s\)"),
    ([("w", 7)], "shape must be a tuple"),
    ([("w", (2, 2)), ("w", (3, 3))], "repeats the name 'w'"),
])
def test_bad_layer_lists(layers, match):
    with pytest.raises(ValueError, match=match):
        allocate(layers, 0.5)


@pytest.mark.parametrize("layers", [[(2, 2)], [("w",)], [(3, (2, 2))], 5])
def test_layers_that_are_not_pairs(layers):
    with pytest.raises(TypeError):
        allocate(layers, 0.5)


@pytest.mark.parametrize("min_per_layer", [-1, 1.5, True, "2"])
def test_bad_min_per_layer(min_per_layer):
    with pytest.raises(ValueError, match="min_per_layer must be an integer >= 0"):
        allocate(LENET5_CIFAR, 0.5, min_per_layer=min_per_layer)
