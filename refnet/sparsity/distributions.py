"""Layer-wise allocation of a global density: exact integer nnz per layer.

Given the prunable weights of a network as ``(name, shape)`` pairs (shape
``(out, in)`` for a linear layer, ``(out, in, kh, kw)`` for a convolution) and
a global density ``d`` in (0, 1], :func:`allocate` decides how many trainable
(nonzero) entries ``nnz_l`` every layer gets.  Density is counted over weights
only: ``d = sum_l nnz_l / sum_l N_l`` with ``N_l = prod(shape_l)``.

The recipe, common to every distribution
----------------------------------------
1. **Target.**  ``T = floor(d * N + 1/2)`` with ``N = sum_l N_l``: ``d * N``
   rounded to the nearest integer, halves rounded UP.  The product is exact:
   it is taken in rational arithmetic (:class:`fractions.Fraction`) from the
   binary value of the float ``d``, so no float error can move it across a
   half.  (Python's built-in ``round`` sends 2.5 to 2, half to even; this rule
   gives 3.)  Only ``erk-clipped`` has a smaller target, see below.

2. **Real shares by water-filling.**  Each distribution has an integer weight
   ``w_l > 0``, its formula (table below).  Layer ``l`` gets the real share::

       x_l = clip(c * w_l, lo_l, N_l)        lo_l = min(min_per_layer, N_l)

   with the one number ``c >= 0`` for which ``sum_l x_l == T``.  The sum is a
   continuous non-decreasing function of ``c``, so ``c`` exists whenever
   ``sum_l lo_l <= T``, and the shares ``x_l`` are unique.  In words: a layer
   whose share would exceed its size is made dense, and its surplus goes to
   the other layers in proportion to the distribution's own weights ``w_l``,
   so the free layers keep exactly the ratios of the formula.  This is the
   "make dense and recompute epsilon" loop of RigL's ERK, applied to every
   distribution.  ``c`` and every ``x_l`` are exact fractions.

3. **Integers by largest remainder.**  ``nnz_l = floor(x_l)``, then the
   ``R = T - sum_l floor(x_l)`` leftover units (``R`` is smaller than the
   number of layers) go one each to the layers with the largest fractional
   parts ``x_l - floor(x_l)``, ties broken by layer order (earlier layer
   first).  Every ``nnz_l`` is ``floor(x_l)`` or ``ceil(x_l)``, hence
   ``lo_l <= nnz_l <= N_l``, and ``sum_l nnz_l == T`` exactly.

The distributions
-----------------
Weights ``w_l`` and, for a layer that is not clipped, what they mean
(``shape_l = (n_out, n_in, kh, kw)`` or ``(n_out, n_in)``)::

    uniform      w_l = N_l              density_l = c, the same in every layer
                                        (c = T / N <= 1, so nothing ever clips)
    epl          w_l = 1                nnz_l = c, equal nnz per layer
    epf          w_l = n_out            c nonzeros per output filter/unit:
                                        density_l = c / (n_in * kh * kw)
    erk          w_l = sum(shape_l)     density_l = c * sum(shape_l) / prod(shape_l)
                                        conv:   c * (n_in + n_out + kh + kw) / (n_in * n_out * kh * kw)
                                        linear: c * (n_in + n_out) / (n_in * n_out)
    erk-clipped  w_l = sum(shape_l)     as erk, with the original's clipped total as target

``erk`` is RigL's Erdos-Renyi-Kernel (Evci et al. 2020; reference code
``google-research/rigl``, ``rigl/sparse_utils.py``,
``get_sparsities_erdos_renyi``).  That code computes
``eps = rhs / sum_l raw_l * N_l`` with ``raw_l = sum(shape_l) / prod(shape_l)``;
while ``eps * max(raw_l) > 1`` it makes dense the layer(s) with the largest
raw score and recomputes ``eps`` over the rest.  Water-filling reaches the same
set of dense layers: ``eps`` only grows as layers are made dense, so a layer
that exceeds 1 once exceeds it ever after.  Two differences: RigL's target is
``rhs = sum_l (N_l - floor((1 - d) * N_l))`` (a per-layer rounding), here it is
``round(d * N)``; and RigL's masks take ``floor((1 - density_l) * N_l)`` zeros
per layer, here the integers come from step 3.

What the original DCTpS code does (IlanPrice/DCTpS)
---------------------------------------------------
``code/utils.py``, ``calculate_layer_densities``, returns real per-layer
densities; ``code/pruning_algos.py``, ``prune``, then draws each mask with
``scipy.sparse.random(m, n, density_l)``.  The repository's environment pins
scipy 1.2.1, whose ``random`` takes ``int(density_l * m * n)`` entries
(truncation; scipy later switched to rounding, PR scipy/scipy#11784), so even
without clipping its total falls short of ``d * N`` by up to one per layer.
Per distribution:

* ``equal_per_layer`` (epl): ``min(N_l, d * N / L)`` per layer; the remainder
  ``d * N - sum`` is added to the LAST layer only, whose density is then
  clipped at 1 with no further redistribution.  On lenet5-cifar at
  ``d = 0.2``: shares of 2460.4; conv1 (450), conv2 (2400) and fc2 (820) are
  capped; the remainder 3710.8 goes to fc2, which clips back to 820: densities
  worth 8591.2 instead of 12302 (70%), and 8590 entries after scipy's
  truncation of 2460.4 to 2460 in conv3 and fc1.  Here the same call gives
  ``[450, 2400, 4316, 4316, 820]``, summing to 12302.
* ``equal_per_filter`` (epf): ``density_l = min(1, (d * N * n_out_l / sum_k n_out_k) / N_l)``,
  clipped and not redistributed; the mask is then drawn uniformly over the
  whole layer (``scipy.sparse.random``), NOT per filter.  Here the surplus is
  redistributed, and :func:`refnet.sparsity.support.sample_support_per_row`
  gives every filter its equal count.
* ``erk``: ``eps = d * sum_l N_l / sum_l sum(shape_l)`` and
  ``density_l = min(1, eps * sum(shape_l) / N_l)``.  That is RigL's first
  ``eps`` (since ``raw_l * N_l = sum(shape_l)``) without the loop: clipped
  layers' surplus ``eps * sum(shape_l) - N_l`` is dropped.  Before any
  clipping ``sum_l density_l * N_l = eps * sum_l sum(shape_l) = d * N``
  exactly, so it equals ``erk`` until a layer clips and then its total falls
  short.  Here it is ``erk-clipped``: target
  ``T' = floor(X + 1/2)``, ``X = sum_l min(N_l, eps * sum(shape_l))`` (the
  original's clipped total), shared by steps 2 and 3 with ``w_l = sum(shape_l)``
  (with ``min_per_layer = 0`` and ``X`` an integer, the real shares are exactly
  the original's).  On lenet5-cifar nothing clips below
  ``d = 820 * 491 / (92 * 61510) ~ 0.0711`` (fc2 first); at ``d = 0.2`` the
  total is 10791 of 12302, and even at ``d = 1`` it is 31800 of 61510
  (conv3 gets ``eps * 146 = 61510 * 146 / 491 ~ 18290`` of its 48000).
* ``uniform``: ``d`` in every layer.  (In ``main.py`` the static-mask branch
  builds ``[[d, ...]]``, a list inside a list, from ``num_filters_per_layer``,
  a name that main.py does not define; it is a local of
  ``calculate_layer_densities``.)
* The ``--rigl`` path (``rigl_torch/RigL.py``) uses the same epl formula, the
  erk ``eps`` without clipping (a density above 1 gives a negative sparsity,
  and such a layer is left dense), and for ``uniform`` keeps the FIRST layer
  dense with ``d`` elsewhere, so its total exceeds ``d * N``.  It keeps
  ``N_l - int((1 - density_l) * N_l)`` entries per layer.

``min_per_layer`` defaults to 0, as in the original, which has no minimum.
Then at extreme density whole layers get no trainable weight: lenet5-cifar at
``d = 1e-4`` has ``T = 6``, and ``uniform`` gives conv1, conv2 and fc2 zero
(a sparse layer is then identically zero and cuts the network; a DCTpS layer
keeps only its fixed DCT and ``alpha``).  With ``min_per_layer = m > 0``
every layer gets at least ``min(m, N_l)`` (a layer smaller than ``m`` is made
dense) and the sum is still exactly ``T``; when ``sum_l min(m, N_l) > T``
that is impossible and :func:`allocate` raises ``ValueError``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Sequence

from .._checks import check_positive_int

__all__ = ["DISTRIBUTIONS", "LayerAllocation", "Allocation", "allocate", "target_nnz",
           "distribution_weights", "check_layers", "check_density"]

#: The names :func:`allocate` accepts, in the order tables list them.
DISTRIBUTIONS = ("uniform", "epl", "epf", "erk", "erk-clipped")

_OWNER = "allocate"


@dataclass(frozen=True)
class LayerAllocation:
    """The allocation of one layer.

    Attributes
    ----------
    name : str
        The layer's name, as given to :func:`allocate`.
    shape : tuple of int
        The weight's shape ``(out, in, *kernel)``.
    size : int
        ``prod(shape)``, the number of weights ``N_l``.
    nnz : int
        Number of trainable (nonzero) entries, ``0 <= nnz <= size``.
    density : float
        ``nnz / size``.
    """

    name: str
    shape: tuple
    size: int
    nnz: int
    density: float

    def to_dict(self) -> dict:
        """``{"name", "shape" (a list), "size", "nnz", "density"}``, ready for JSON."""
        return {"name": self.name, "shape": list(self.shape), "size": self.size,
                "nnz": self.nnz, "density": self.density}


@dataclass(frozen=True)
class Allocation:
    """Integer nnz per layer for a global density (what :func:`allocate` returns).

    Attributes
    ----------
    distribution : str
        One of :data:`DISTRIBUTIONS`.
    density : float
        The requested global density ``d``.
    min_per_layer : int
        The requested minimum nnz per layer.
    requested_nnz : int
        ``round(d * total_size)``, halves up (:func:`target_nnz`).
    layers : tuple of LayerAllocation
        One entry per layer, in the order given.

    Notes
    -----
    ``total_nnz == requested_nnz`` for every distribution except
    ``erk-clipped``, whose total is the original's clipped total and can be
    smaller (see the module docstring).
    """

    distribution: str
    density: float
    min_per_layer: int
    requested_nnz: int
    layers: tuple

    @property
    def total_size(self) -> int:
        """``sum_l N_l``: the number of prunable weights."""
        return sum(layer.size for layer in self.layers)

    @property
    def total_nnz(self) -> int:
        """``sum_l nnz_l``: the number of trainable weights."""
        return sum(layer.nnz for layer in self.layers)

    @property
    def achieved_density(self) -> float:
        """``total_nnz / total_size``."""
        return self.total_nnz / self.total_size

    def nnz(self) -> dict:
        """``{name: nnz}`` in layer order."""
        return {layer.name: layer.nnz for layer in self.layers}

    def to_dict(self) -> dict:
        """``{"total_size", "total_nnz", "layers": [...]}`` (plus the settings), for JSON."""
        return {"distribution": self.distribution, "density": self.density,
                "min_per_layer": self.min_per_layer, "total_size": self.total_size,
                "total_nnz": self.total_nnz,
                "layers": [layer.to_dict() for layer in self.layers]}


def target_nnz(density, total_size: int) -> int:
    """``round(density * total_size)`` with halves rounded up, computed exactly.

    Parameters
    ----------
    density : float
        Global density in (0, 1].
    total_size : int
        Number of weights, ``>= 1``.

    Returns
    -------
    int
        ``floor(density * total_size + 1/2)``, the product taken in rational
        arithmetic from the exact binary value of ``density``.

    Examples
    --------
    >>> target_nnz(1e-3, 61510)
    62
    >>> target_nnz(0.5, 5), round(0.5 * 5)   # half up here, half to even in round()
    (3, 2)

    Raises
    ------
    ValueError
        For a density outside (0, 1] or NaN, or ``total_size < 1``.
    TypeError
        For a density that is not a real number.
    """
    exact = _exact_density(density, "target_nnz")
    total_size = check_positive_int("total_size", total_size, "target_nnz")
    return math.floor(exact * total_size + Fraction(1, 2))


def distribution_weights(shapes: Sequence[tuple], distribution: str) -> list[int]:
    """The integer weights ``w_l`` that a distribution shares nonzeros by.

    Parameters
    ----------
    shapes : sequence of tuple of int
        Weight shapes ``(out, in, *kernel)``.
    distribution : str
        One of :data:`DISTRIBUTIONS`.

    Returns
    -------
    list of int
        ``prod(shape)`` (uniform), ``1`` (epl), ``shape[0]`` (epf) or
        ``sum(shape)`` (erk, erk-clipped), one per shape.
    """
    _check_distribution(distribution)
    if distribution == "uniform":
        return [math.prod(s) for s in shapes]
    if distribution == "epl":
        return [1 for _ in shapes]
    if distribution == "epf":
        return [int(s[0]) for s in shapes]
    return [sum(s) for s in shapes]        # erk and erk-clipped: the sum of the dims


def allocate(layers: Iterable, density, distribution: str = "uniform", *,
             min_per_layer: int = 0) -> Allocation:
    """Exact integer nnz per layer for a global density.

    Parameters
    ----------
    layers : iterable of (str, tuple of int)
        The prunable weights, ``(name, shape)`` with shape ``(out, in)`` for a
        linear layer or ``(out, in, kh, kw)`` for a convolution (any shape of
        two or more positive dimensions is accepted).  Names must be unique.
    density : float
        Global density ``d`` in (0, 1]: the fraction of all weights that are
        trainable.
    distribution : str, default "uniform"
        One of ``"uniform"``, ``"epl"``, ``"epf"``, ``"erk"``,
        ``"erk-clipped"`` (:data:`DISTRIBUTIONS`).
    min_per_layer : int, default 0
        Every layer gets at least ``min(min_per_layer, size)`` nonzeros.  0,
        the default, is faithful to the original code and lets whole layers
        get no trainable weight at extreme densities.

    Returns
    -------
    Allocation
        Per-layer ``(name, shape, size, nnz, density)`` and the totals; the
        nnz add up to ``round(d * total_size)`` (halves up) except for
        ``erk-clipped``, whose smaller target is the original's clipped total.

    Raises
    ------
    ValueError
        For an unknown distribution (the message lists the known ones), a
        density outside (0, 1] or NaN, an empty layer list, a shape that is
        not two or more positive integers, duplicate names, a negative
        ``min_per_layer``, or a ``min_per_layer`` that the target cannot
        satisfy (``sum_l min(min_per_layer, N_l) > T``).
    TypeError
        For a density that is not a real number, or a layer that is not a
        ``(name, shape)`` pair.

    Notes
    -----
    The formulas, the water-filling that redistributes the surplus of capped
    layers, the largest-remainder rounding and the differences from the
    original DCTpS code are in the docstring of :mod:`refnet.sparsity.distributions`.

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
    if isinstance(min_per_layer, bool) or not isinstance(min_per_layer, numbers.Integral) \
            or min_per_layer < 0:
        raise ValueError(f"{_OWNER}: min_per_layer must be an integer >= 0, "
                         f"got {min_per_layer!r}")
    min_per_layer = int(min_per_layer)

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

    shares = _water_fill(weights, lower, sizes, target)
    counts = _largest_remainder(shares, target)
    return Allocation(
        distribution=distribution, density=float(density), min_per_layer=min_per_layer,
        requested_nnz=requested,
        layers=tuple(LayerAllocation(name=name, shape=shape, size=size, nnz=nnz,
                                     density=nnz / size)
                     for name, shape, size, nnz in zip(names, shapes, sizes, counts)))


# -- the two exact steps ---------------------------------------------------------------

def _water_fill(weights, lower, upper, target) -> list[Fraction]:
    """Exact ``x_l = clip(c * w_l, lower_l, upper_l)`` with ``sum_l x_l == target``.

    ``f(c) = sum_l clip(c * w_l, lower_l, upper_l)`` is continuous, non-decreasing
    and linear between the breakpoints ``lower_l / w_l`` and ``upper_l / w_l``.
    Bisect the sorted breakpoints for the first one where ``f >= target`` and
    solve the linear piece before it.  Requires ``sum(lower) <= target <= sum(upper)``.
    """
    def shares(c):
        return [min(Fraction(hi), max(Fraction(lo), c * w))
                for w, lo, hi in zip(weights, lower, upper)]

    breakpoints = sorted({Fraction(0)} | {Fraction(b, w) for w, lo, hi in
                                          zip(weights, lower, upper) for b in (lo, hi)})
    if sum(shares(breakpoints[0])) >= target:          # only when target == sum(lower)
        return shares(breakpoints[0])
    # f is monotone: bisect for the first breakpoint k with f(b_k) >= target (f(b_0) < target).
    lo_k, hi_k = 0, len(breakpoints) - 1
    while hi_k - lo_k > 1:
        mid = (lo_k + hi_k) // 2
        if sum(shares(breakpoints[mid])) >= target:
            hi_k = mid
        else:
            lo_k = mid
    c0, c1 = breakpoints[lo_k], breakpoints[hi_k]
    f0, f1 = sum(shares(c0)), sum(shares(c1))
    return shares(c0 + (target - f0) * (c1 - c0) / (f1 - f0))


def _largest_remainder(shares: Sequence[Fraction], target: int) -> list[int]:
    """Integers ``floor(x_l)`` or ``ceil(x_l)`` summing to ``target == sum(shares)``.

    The leftover units go to the largest fractional parts; ties go to the
    earlier layer.
    """
    counts = [math.floor(x) for x in shares]
    leftover = target - sum(counts)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in order[:leftover]:
        counts[i] += 1
    return counts


# -- validation ------------------------------------------------------------------------

def _check_distribution(distribution) -> None:
    if not isinstance(distribution, str) or distribution not in DISTRIBUTIONS:
        raise ValueError(f"{_OWNER}: unknown distribution {distribution!r}; "
                         f"expected one of {', '.join(DISTRIBUTIONS)}")


def check_density(density, owner: str) -> float:
    """``density`` as a float, or ValueError unless it is a real number in (0, 1].

    The check of every function that takes a global density (pruning, IMP,
    ``build_model``, ...); the message starts with ``owner``.
    """
    if isinstance(density, bool) or not isinstance(density, numbers.Real) \
            or not 0.0 < float(density) <= 1.0:
        raise ValueError(f"{owner}: density must be a number in (0, 1], got {density!r}")
    return float(density)


def _exact_density(density, owner: str) -> Fraction:
    """The density as an exact fraction, after checking it lies in (0, 1]; errors name ``owner``."""
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
    """``shape`` as a tuple of two or more positive ints ``(out, in, *kernel)``.

    Raises
    ------
    ValueError
        Otherwise, with a message that starts with ``owner`` and calls the shape ``what``.
    """
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
    """The names and shapes of a ``[(name, shape)]`` list, checked as :func:`allocate` needs them.

    Returns
    -------
    names : list of str
    shapes : list of tuple of int
        Two or more positive ints each.

    Raises
    ------
    ValueError
        For an empty list, a repeated name, or a shape that is not two or
        more positive integers; messages start with ``owner``.
    TypeError
        For something that is not a list of ``(str, shape)`` pairs.
    """
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
        dims = check_weight_shape(shape, owner, f"layers[{i}] ({name!r}) shape")
        names.append(name)
        shapes.append(dims)
    return names, shapes
