"""Sparse supports at a global density: exact nnz per layer, then their positions.

Both ``refnet.models`` and ``refnet.sparsity`` use these, so they sit below both.

Allocation
----------
Layers are ``(name, shape)``, shape ``(out, in)`` or ``(out, in, kh, kw)``,
``N_l = prod(shape_l)``, ``N = sum_l N_l``; density ``d = sum_l nnz_l / N``.

1. **Target** ``T = floor(d * N + 1/2)``: halves round up (``round`` sends 2.5
   to 2), exactly, in :class:`fractions.Fraction` from the float's binary value.
2. **Water-filling**: ``x_l = clip(c * w_l, lo_l, N_l)``, ``lo_l =
   min(min_per_layer, N_l)``, for the one ``c >= 0`` with ``sum_l x_l == T``.
   A layer that would exceed its size is made dense and its surplus goes to
   the others in the ratios of ``w_l``: RigL's "make dense and recompute
   epsilon" loop, for every distribution, in exact fractions.
3. **Largest remainder**: ``floor(x_l)``, then the ``T - sum`` leftover units
   to the largest fractional parts (ties: earlier layer).  So ``lo_l <= nnz_l
   <= N_l`` and ``sum_l nnz_l == T`` exactly.

::

    uniform      w_l = N_l           the same density in every layer
    epl          w_l = 1             equal nnz per layer
    epf          w_l = n_out         equal nnz per output filter (sampled per row)
    erk          w_l = sum(shape_l)  RigL's Erdos-Renyi-Kernel (Evci et al. 2020)
    erk-clipped  w_l = sum(shape_l)  the DCTpS code's ERK, with its smaller target

``erk-clipped`` is IlanPrice/DCTpS's ``calculate_layer_densities``: ``eps = d
* N / sum_l sum(shape_l)``, ``density_l = min(1, eps * sum(shape_l) / N_l)``,
a clipped layer's surplus dropped; so its target is ``T' = floor(sum_l
min(N_l, eps * sum(shape_l)) + 1/2)``, shared by steps 2 and 3.  How far the
original's totals fall short is in analysis/README.md ("Sparse supports at a
global density").  ``min_per_layer`` is 0 by default, as there: at extreme
densities whole layers get no weight.

Supports
--------
A weight ``(out, in, *kernel)`` is the CSR matrix ``(out, in * prod(kernel))``;
a support is ``(rows, cols)``, int64, distinct, in CSR order.  Only the given
``rng`` is used, so a seed gives bitwise the same support, and memory is
O(nnz): ``k`` distinct indices of ``range(M)`` are the first ``k`` of
``rng.permutation(M)`` when ``M <= 8 k``, else the first ``k`` distinct values
of i.i.d. ``rng.integers(0, M)`` draws (sampling with replacement and skipping
repeats is sampling without it).
"""
from __future__ import annotations

import bisect
import math
import numbers
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

from ._checks import as_rng, check_positive_int

__all__ = ["DISTRIBUTIONS", "LayerAllocation", "Allocation", "allocate", "target_nnz",
           "distribution_weights", "check_layers", "check_density", "check_weight_shape",
           "matrix_shape", "row_counts", "sample_support", "sample_support_per_row",
           "sample_supports"]

#: The names :func:`allocate` accepts, in the order tables list them.
DISTRIBUTIONS = ("uniform", "epl", "epf", "erk", "erk-clipped")

_OWNER = "allocate"
_DENSE_FACTOR = 8     # populations at most this many times the sample use a permutation


@dataclass(frozen=True)
class LayerAllocation:
    """One layer: ``name``, ``shape``, ``size = prod(shape)``, ``nnz``, ``density``."""

    name: str
    shape: tuple
    size: int
    nnz: int
    density: float

    def to_dict(self) -> dict:
        """The fields, ``shape`` as a list: ready for JSON."""
        return dict(self.__dict__, shape=list(self.shape))


@dataclass(frozen=True)
class Allocation:
    """What :func:`allocate` returns: the settings and one :class:`LayerAllocation` per layer.

    ``requested_nnz`` is ``round(d * total_size)``, halves up; ``total_nnz``
    equals it for every distribution but ``erk-clipped``.
    """

    distribution: str
    density: float
    min_per_layer: int
    requested_nnz: int
    layers: tuple

    @property
    def total_size(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def total_nnz(self) -> int:
        return sum(layer.nnz for layer in self.layers)

    @property
    def achieved_density(self) -> float:
        return self.total_nnz / self.total_size

    def nnz(self) -> dict:
        """``{name: nnz}`` in layer order."""
        return {layer.name: layer.nnz for layer in self.layers}

    def to_dict(self) -> dict:
        """The settings, totals and layers, for JSON."""
        return {"distribution": self.distribution, "density": self.density,
                "min_per_layer": self.min_per_layer, "total_size": self.total_size,
                "total_nnz": self.total_nnz, "layers": [layer.to_dict() for layer in self.layers]}


def target_nnz(density, total_size: int) -> int:
    """``round(density * total_size)`` with halves up, computed exactly (step 1).

    Examples
    --------
    >>> target_nnz(1e-3, 61510)
    62
    >>> target_nnz(0.5, 5), round(0.5 * 5)   # half up here, half to even in round()
    (3, 2)
    """
    exact = _exact_density(density, "target_nnz")
    total_size = check_positive_int("total_size", total_size, "target_nnz")
    return math.floor(exact * total_size + Fraction(1, 2))


_WEIGHTS = {"uniform": math.prod, "epl": lambda s: 1, "epf": lambda s: int(s[0]),
            "erk": sum, "erk-clipped": sum}


def distribution_weights(shapes: Sequence[tuple], distribution: str) -> list[int]:
    """The integer weights ``w_l`` a distribution shares nonzeros by (module table)."""
    _check_distribution(distribution)
    return [_WEIGHTS[distribution](s) for s in shapes]


def allocate(layers: Iterable, density, distribution: str = "uniform", *,
             min_per_layer: int = 0) -> Allocation:
    """Exact integer nnz per layer for a global density (the module docstring's three steps).

    ``layers`` are the prunable weights ``(name, shape)``, names unique; every
    layer gets at least ``min(min_per_layer, size)``, or a ValueError when the
    target cannot cover that.

    Examples
    --------
    >>> shapes = [("conv1", (6, 3, 5, 5)), ("conv2", (16, 6, 5, 5)),
    ...           ("conv3", (120, 16, 5, 5)), ("fc1", (82, 120)), ("fc2", (10, 82))]
    >>> a = allocate(shapes, 1e-3, "erk")
    >>> a.nnz(), a.total_nnz, a.total_size
    ({'conv1': 2, 'conv2': 4, 'conv3': 18, 'fc1': 26, 'fc2': 12}, 62, 61510)
    """
    _check_distribution(distribution)
    exact = _exact_density(density, _OWNER)
    names, shapes = check_layers(layers, _OWNER)
    min_per_layer = check_positive_int("min_per_layer", min_per_layer, _OWNER, minimum=0)

    sizes = [math.prod(s) for s in shapes]
    total = sum(sizes)
    requested = math.floor(exact * total + Fraction(1, 2))
    weights = distribution_weights(shapes, distribution)
    target = requested
    if distribution == "erk-clipped":
        # The original's epsilon and clipped total: clipped layers' surplus is dropped.
        eps = exact * total / sum(weights)
        clipped_total = sum(min(Fraction(n), eps * w) for n, w in zip(sizes, weights))
        target = math.floor(clipped_total + Fraction(1, 2))

    lower = [min(min_per_layer, n) for n in sizes]
    if sum(lower) > target:
        raise ValueError(
            f"{_OWNER}: min_per_layer={min_per_layer} needs at least {sum(lower)} nonzeros "
            f"over {len(sizes)} layers, but density={float(density)!r} with "
            f"distribution={distribution!r} gives only {target}; lower min_per_layer or "
            f"raise the density")

    counts = _largest_remainder(_water_fill(weights, lower, sizes, target), target)
    return Allocation(
        distribution=distribution, density=float(density), min_per_layer=min_per_layer,
        requested_nnz=requested,
        layers=tuple(LayerAllocation(name=name, shape=shape, size=size, nnz=nnz,
                                     density=nnz / size)
                     for name, shape, size, nnz in zip(names, shapes, sizes, counts)))


def _water_fill(weights, lower, upper, target) -> list[Fraction]:
    """Exact ``x_l = clip(c * w_l, lower_l, upper_l)`` with ``sum_l x_l == target``.

    ``f(c) = sum_l x_l(c)`` is non-decreasing and piecewise linear between the
    breakpoints ``lower_l / w_l`` and ``upper_l / w_l``: bisect them for the
    first with ``f >= target`` and solve the linear piece before it.
    """
    def shares(c):
        return [min(Fraction(hi), max(Fraction(lo), c * w))
                for w, lo, hi in zip(weights, lower, upper)]

    breakpoints = sorted({Fraction(0)} | {Fraction(b, w) for w, lo, hi in
                                          zip(weights, lower, upper) for b in (lo, hi)})
    k = bisect.bisect_left(breakpoints, target, key=lambda c: sum(shares(c)))
    if k == 0:                                          # only when target == sum(lower)
        return shares(breakpoints[0])
    c0, c1 = breakpoints[k - 1], breakpoints[k]
    f0, f1 = sum(shares(c0)), sum(shares(c1))
    return shares(c0 + (target - f0) * (c1 - c0) / (f1 - f0))


def _largest_remainder(shares: Sequence[Fraction], target: int) -> list[int]:
    counts = [math.floor(x) for x in shares]
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in order[:target - sum(counts)]:
        counts[i] += 1
    return counts


# -- supports ---------------------------------------------------------------------------

def matrix_shape(shape: Sequence[int]) -> tuple[int, int]:
    """The CSR matrix shape ``(out, prod(rest))`` of a weight ``(out, in, *kernel)``."""
    dims = check_weight_shape(shape, "support")
    return dims[0], math.prod(dims[1:])


def sample_support(shape: Sequence[int], nnz: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``nnz`` distinct positions of a weight ``(out, in, *kernel)``, uniformly, in CSR order.

    Examples
    --------
    >>> rows, cols = sample_support((3, 4), 5, rng=0)
    >>> len(rows), bool(((rows * 4 + cols)[1:] > (rows * 4 + cols)[:-1]).all())
    (5, True)
    """
    m, n = matrix_shape(shape)
    nnz = _check_nnz(nnz, m * n, shape)
    flat = _distinct_indices(m * n, nnz, as_rng(rng))
    return flat // n, flat % n


def row_counts(n_rows: int, nnz: int, rng) -> np.ndarray:
    """int64 counts: ``nnz // n_rows`` per row, one more in ``nnz % n_rows`` rows drawn from rng."""
    n_rows = check_positive_int("n_rows", n_rows, "row_counts")
    base, extra = divmod(check_positive_int("nnz", nnz, "row_counts", minimum=0), n_rows)
    counts = np.full(n_rows, base, dtype=np.int64)
    counts[_distinct_indices(n_rows, extra, as_rng(rng))] += 1
    return counts


def sample_support_per_row(shape: Sequence[int], nnz: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """The EPF support: :func:`row_counts` per row, each row uniform without replacement.

    ``rng`` first picks the rows with one more, then each row's columns in order.
    """
    m, n = matrix_shape(shape)
    nnz = _check_nnz(nnz, m * n, shape)
    rng = as_rng(rng)
    counts = row_counts(m, nnz, rng)
    cols = [_distinct_indices(n, int(k), rng) for k in counts]
    return np.repeat(np.arange(m, dtype=np.int64), counts), np.concatenate(cols)


def sample_supports(allocation: Allocation, rng, *, per_row: bool | None = None) -> dict:
    """``{name: (rows, cols)}`` for every layer, in order, from one rng; per row for epf."""
    if not isinstance(allocation, Allocation):
        raise TypeError(f"sample_supports: allocation must be an Allocation, "
                        f"got {type(allocation).__name__}")
    rng = as_rng(rng)
    if per_row is None:
        per_row = allocation.distribution == "epf"
    sampler = sample_support_per_row if per_row else sample_support
    return {layer.name: sampler(layer.shape, layer.nnz, rng) for layer in allocation.layers}


def _distinct_indices(population: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct sorted int64 indices of ``range(population)`` (module docstring)."""
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if population <= _DENSE_FACTOR * k:
        return np.sort(rng.permutation(population)[:k].astype(np.int64, copy=False))
    picked = np.empty(0, dtype=np.int64)
    while picked.size < k:
        short = k - picked.size
        draws = rng.integers(0, population, size=short + short // 4 + 16, dtype=np.int64)
        candidates = np.concatenate([picked, draws])
        # keep first occurrences in draw order: `picked` are distinct and come first
        _, first = np.unique(candidates, return_index=True)
        picked = candidates[np.sort(first)[:k]]
    return np.sort(picked)


# -- validation ----------------------------------------------------------------------------

def _check_distribution(distribution) -> None:
    if not isinstance(distribution, str) or distribution not in DISTRIBUTIONS:
        raise ValueError(f"{_OWNER}: unknown distribution {distribution!r}; "
                         f"expected one of {', '.join(DISTRIBUTIONS)}")


def _check_nnz(nnz, size: int, shape) -> int:
    if isinstance(nnz, bool) or not isinstance(nnz, numbers.Integral) or not 0 <= nnz <= size:
        raise ValueError(f"support: nnz must be an integer in [0, {size}] for shape "
                         f"{tuple(shape)}, got {nnz!r}")
    return int(nnz)


def check_density(density, owner: str) -> float:
    """``density`` as a float, or a ValueError starting with ``owner`` unless in (0, 1]."""
    if isinstance(density, bool) or not isinstance(density, numbers.Real) \
            or not 0.0 < float(density) <= 1.0:
        raise ValueError(f"{owner}: density must be a number in (0, 1], got {density!r}")
    return float(density)


def _exact_density(density, owner: str) -> Fraction:
    if isinstance(density, bool) or not isinstance(density, numbers.Real):
        raise TypeError(f"{owner}: density must be a real number in (0, 1], "
                        f"got {density!r} of type {type(density).__name__}")
    value = float(density)
    if not 0.0 < value <= 1.0:                 # also rejects NaN
        raise ValueError(f"{owner}: density must lie in (0, 1], got {density!r}")
    exact = Fraction(density) if isinstance(density, numbers.Rational) else Fraction(value)
    if not 0 < exact <= 1:
        raise ValueError(f"{owner}: density must lie in (0, 1], got {density!r}")
    return exact


def check_weight_shape(shape, owner: str, what: str = "shape") -> tuple[int, ...]:
    """``shape`` as two or more positive ints, or a ValueError naming ``owner`` and ``what``."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise ValueError(f"{owner}: {what} must be a tuple of positive ints, "
                         f"got {shape!r}") from None
    if len(dims) < 2:
        raise ValueError(f"{owner}: {what} {dims!r} has {len(dims)} dimension(s); expected "
                         f"(out, in) or (out, in, kh, kw)")
    return tuple(check_positive_int(f"{what}[{k}]", d, owner) for k, d in enumerate(dims))


def check_layers(layers, owner: str) -> tuple[list[str], list[tuple]]:
    """Names and shapes of a non-empty ``[(name, shape)]`` list, names unique."""
    try:
        items = list(layers)
    except TypeError:
        raise TypeError(f"{owner}: layers must be a list of (name, shape) pairs, "
                        f"got {type(layers).__name__}") from None
    if not items:
        raise ValueError(f"{owner}: layers is empty; expected at least one (name, shape) "
                         f"pair of a prunable weight")
    names, shapes = [], []
    for i, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(f"{owner}: layers[{i}] must be a (name, shape) pair, got {item!r}")
        name, shape = item
        if not isinstance(name, str):
            raise TypeError(f"{owner}: layers[{i}] name must be a str, got {name!r}")
        if name in names:
            raise ValueError(f"{owner}: layers[{i}] repeats the name {name!r}; names must "
                             f"be unique")
        names.append(name)
        shapes.append(check_weight_shape(shape, owner, f"layers[{i}] ({name!r}) shape"))
    return names, shapes
