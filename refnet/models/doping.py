"""Doping versions of the reference models, at the trainable-weight budget of a density.

:func:`doping_plan` decides how every fully connected ``(m, n)`` weight
becomes a :class:`~refnet.doping.DopingLinear` ``A kron B + S`` within the
budget every sparse method gets, ``T = round(d * N)`` trained weights
(:func:`refnet.supports.target_nnz`, ``N`` prunable weights, biases not
counted); :func:`build_doping` builds the network.  The rule:

1. Every layer takes the Kronecker factors with the fewest weights ``K_l =
   m1 n1 + m2 n2 >= 2 sqrt(m n)`` (:func:`refnet.doping.compact_factors`).
2. The ``R = T - sum_l K_l`` weights left go to ``S``, shared between layers
   by a distribution (default ``"uniform"``, one density of ``S`` in every
   layer, as the Doping paper dopes each matrix) with
   :func:`refnet.supports.allocate`.
3. When ``sum_l K_l > T`` the factors alone exceed the budget: ``S`` is empty,
   :attr:`DopingPlan.over_budget` says so, nothing is trimmed silently.

DCTpS spends nothing on its fixed DCT; Doping must first pay for ``A`` and
``B`` (lenet300's numbers: analysis/README.md, "Doping").  Only fully
connected models convert.  A Doping model's ``spec`` has ``kind = "doping"``
and the plan; :func:`refnet.models.rebuild` does not rebuild it.
"""
from __future__ import annotations

from typing import NamedTuple

from .._checks import as_rng
from ..doping import DopingLinear, compact_factors, kronecker_weights
from ..networks import SPEC_FORMAT, SPEC_VERSION, Model
from ..supports import DISTRIBUTIONS, allocate, check_layers, target_nnz
from .blueprint import ConvWeight, LinearWeight
from .build import blueprint_of

__all__ = ["DopingLayerPlan", "DopingPlan", "doping_plan", "doping_weights", "build_doping"]


class DopingLayerPlan(NamedTuple):
    """How one ``(m, n)`` weight becomes ``A kron B + S``: ``factors = ((n1, n2), (m1,
    m2))``, ``A`` is ``(m1, n1)``, ``B`` is ``(m2, n2)``; ``nnz`` entries of ``S``."""

    name: str
    shape: tuple
    factors: tuple
    nnz: int

    @property
    def kronecker(self) -> int:
        """``m1 n1 + m2 n2``: the weights of ``A`` and ``B``."""
        return kronecker_weights(self.factors)

    @property
    def trainable(self) -> int:
        return self.kronecker + self.nnz

    def describe(self) -> str:
        """``"fc1 A 10x49, B 30x16, S 1132"``."""
        (n1, n2), (m1, m2) = self.factors
        return f"{self.name} A {m1}x{n1}, B {m2}x{n2}, S {self.nnz}"


class DopingPlan(NamedTuple):
    """The Doping network of a density: ``N = total_size``, ``T = budget``, one plan per layer."""

    density: float
    distribution: str
    total_size: int
    budget: int
    layers: tuple

    @property
    def trainable(self) -> int:
        """Trained weights of the whole network: ``sum_l (m1 n1 + m2 n2 + nnz)``."""
        return sum(layer.trainable for layer in self.layers)

    @property
    def over_budget(self) -> bool:
        return self.trainable > self.budget

    @property
    def achieved_density(self) -> float:
        """What :func:`refnet.models.density_of` measures."""
        return self.trainable / self.total_size

    def describe(self) -> str:
        """One line: every layer's factors and ``S`` entries, the count against the budget.

        Examples
        --------
        >>> print(doping_plan([("fc", (10, 100))], 0.2).describe())
        fc A 2x20, B 5x5, S 135: 200 trainable weights, the budget of 20% (200)
        """
        parts = "; ".join(layer.describe() for layer in self.layers)
        head = f"{parts}: {self.trainable:,} trainable weights"
        share = f"{100 * self.density:.6g}%"
        if not self.over_budget:
            return f"{head}, the budget of {share} ({self.budget:,})"
        return (f"{head}, {self.trainable / self.budget:.1f}x the budget of {share} "
                f"({self.budget:,}): OVER BUDGET, the Kronecker factors alone need "
                f"{self.trainable:,} (density {100 * self.achieved_density:.3g}%)")

    def to_dict(self) -> dict:
        """JSON-able: the settings, totals and one entry per layer."""
        return {"density": self.density, "distribution": self.distribution,
                "total_size": self.total_size, "budget": self.budget,
                "trainable": self.trainable, "over_budget": self.over_budget,
                "layers": [{"name": layer.name, "shape": list(layer.shape),
                            "factors": [list(f) for f in layer.factors],
                            "kronecker": layer.kronecker, "nnz": layer.nnz}
                           for layer in self.layers]}


def doping_plan(layers, density: float, distribution: str = "uniform") -> DopingPlan:
    """Factors and ``S`` entries of every fully connected weight at a density's budget.

    ``layers`` are ``(name, (m, n))`` as :func:`refnet.supports.allocate`
    takes them; ``distribution`` shares the entries left for ``S`` (any but
    ``"erk-clipped"``, whose total is not the one asked for).
    """
    owner = "doping_plan"
    layers = list(zip(*check_layers(layers, owner)))
    conv = [name for name, shape in layers if len(shape) != 2]
    if conv:
        raise ValueError(f"{owner}: Doping converts fully connected (m, n) weights only; "
                         f"{conv} are not 2-D (a Kronecker-factored convolution is not "
                         f"implemented)")
    if distribution not in DISTRIBUTIONS or distribution == "erk-clipped":
        known = [d for d in DISTRIBUTIONS if d != "erk-clipped"]
        raise ValueError(f"{owner}: distribution must be one of {known}, got {distribution!r}")
    total = sum(m * n for _, (m, n) in layers)
    budget = target_nnz(density, total)      # validates the density
    factors = [compact_factors(n, m) for _, (m, n) in layers]
    left = budget - sum(kronecker_weights(f) for f in factors)
    if left > 0:
        nnz = [layer.nnz for layer in allocate(layers, left / total, distribution).layers]
    else:
        nnz = [0] * len(layers)
    return DopingPlan(density=float(density), distribution=distribution, total_size=total,
                      budget=budget,
                      layers=tuple(DopingLayerPlan(name, shape, f, k)
                                   for (name, shape), f, k in zip(layers, factors, nnz)))


def doping_weights(name: str, **model_args) -> list[tuple[str, tuple[int, int]]]:
    """``[(name, (m, n))]`` of the weights a Doping version of model ``name`` converts.

    ValueError for a convolution or a rescaled initialisation (Fixup), which a
    Doping layer does not reproduce.
    """
    owner = "Doping"
    slots = blueprint_of(name, **model_args).slots()
    conv = [slot_name for slot_name, slot in slots if isinstance(slot, ConvWeight)]
    if conv:
        raise ValueError(f"{owner}: model {name!r} has convolution layers {conv}; Doping is "
                         f"implemented for fully connected layers only (use 'mlp' or "
                         f"'lenet300')")
    scaled = [slot_name for slot_name, slot in slots if slot.init_scale != 1.0]
    if scaled:
        raise ValueError(f"{owner}: layers {scaled} of model {name!r} have a rescaled "
                         f"initialisation (init_scale != 1), which a Doping layer does not "
                         f"reproduce")
    return [(slot_name, slot.shape) for slot_name, slot in slots]


def build_doping(name: str, *, density: float, rng, distribution: str = "uniform",
                 **model_args) -> Model:
    """Reference model ``name`` with every fully connected weight a Doping layer.

    ``rng`` draws the supports of ``S`` layer by layer; the other arguments
    are :func:`doping_plan`'s and the model's.  ``model.spec["plan"]`` is
    :meth:`DopingPlan.to_dict`.

    Examples
    --------
    >>> net = build_doping("lenet300", density=1e-2, rng=0)
    >>> net.spec["plan"]["trainable"], net.spec["plan"]["budget"]
    (2662, 2662)
    """
    blueprint = blueprint_of(name, **model_args)
    plan = doping_plan(doping_weights(name, **model_args), density, distribution)
    by_name = {layer.name: layer for layer in plan.layers}
    rng = as_rng(rng)
    nodes = []
    for node_name, item, inputs in blueprint.nodes:
        if isinstance(item, LinearWeight):
            layer_plan = by_name[node_name]
            item = DopingLinear(item.n_in, item.n_out, factors=layer_plan.factors,
                                nnz=layer_plan.nnz, rng=rng, bias=item.bias)
        nodes.append((node_name, item, inputs))
    spec = {"format": SPEC_FORMAT, "version": SPEC_VERSION, "name": name,
            "args": blueprint.args, "kind": "doping", "density": float(density),
            "distribution": distribution, "min_per_layer": 0, "sparse_init": "zeros",
            "train_alpha": False, "support": "random",
            "layers": [{"name": layer.name, "shape": list(layer.shape), "nnz": layer.nnz}
                       for layer in plan.layers],
            "plan": plan.to_dict()}
    return Model(nodes, spec=spec, input_shape=blueprint.in_shape)

