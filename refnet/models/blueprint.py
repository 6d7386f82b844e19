"""Blueprints: a network's structure written once, built as dense, sparse or DCTpS.

A model is a list of graph nodes ``(name, item, inputs)``; an item is a layer
without weight matrix (``ReLU()``, ``AvgPool2d(2)``, ``Add()``, ...) or a
*weight slot*, :class:`LinearWeight` or :class:`ConvWeight`: the shape of a
prunable weight, its bias and initialisation.  :meth:`LinearWeight.make` turns
a slot into a layer of one of the :data:`KINDS`:

==========  =====================================  ==================================
kind        fully connected slot                   convolution slot
==========  =====================================  ==================================
"dense"     :class:`~refnet.layers.Linear`         :class:`~refnet.layers.Conv2d`
"sparse"    :class:`~refnet.layers.SparseLinear`   :class:`~refnet.layers.SparseConv2d`
"dctps"     :class:`~refnet.layers.DCTpSLinear`    :class:`~refnet.layers.DCTpSConv2d`
==========  =====================================  ==================================

``init_scale`` asks for a non-standard initialisation (Fixup,
:mod:`refnet.models.resnet`): 0 builds the layer with ``init="zeros"`` (and
``alpha = 0`` for DCTpS); another value multiplies the freshly drawn ``W`` or
``S`` by it, and a DCTpS layer starts with ``alpha = init_scale``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

from .._checks import check_pair, check_positive_int
from ..core.layer import Layer
from ..layers import Conv2d, DCTpSConv2d, DCTpSLinear, Linear, SparseConv2d, SparseLinear
from ..layers.sparse import SPARSE_INITS
from ..offsets import make_offset

__all__ = ["KINDS", "LinearWeight", "ConvWeight", "Blueprint", "default_sparse_init"]

#: The kinds every reference model can be built as.
KINDS = ("dense", "sparse", "dctps")


def default_sparse_init(kind: str, offset: str = "dct") -> str | None:
    """The initialiser of ``S`` when none is asked for.

    ``"kaiming-dense"`` for sparse (the DCTpS code's baselines: a dense Kaiming
    draw, masked) and for DCTpS without offset (``S = 0`` would make it zero),
    ``"zeros"`` for DCTpS (the paper's: at init the network is its offset),
    ``None`` for dense.
    """
    if kind == "dctps" and offset == "none":
        return "kaiming-dense"
    return {"dense": None, "sparse": "kaiming-dense", "dctps": "zeros"}[kind]


def _check_scale(value, owner) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value):
        raise ValueError(f"{owner}: init_scale must be a finite number, got {value!r}")
    return float(value)


class _Slot:
    """What the two slot types share: the three ways of making their layer."""

    init_scale: float
    bias: bool

    def make(self, kind: str, *, support=None, sparse_init: str | None = None,
             train_alpha: bool = True, offset: str = "dct",
             offset_seed=None) -> tuple[Layer, float]:
        """``(layer, post_scale)``: this slot as ``kind``, and the factor its init still needs.

        ``support`` (rows, cols) is required unless dense; the other keywords
        are :func:`refnet.models.build_model`'s.  Multiply the ``W`` or ``S``
        that ``layer.init`` draws by ``post_scale`` (1.0: nothing to do).
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        scale = self.init_scale
        post = 1.0 if scale in (0.0, 1.0) else scale
        if kind == "dense":
            return self._dense("zeros" if scale == 0.0 else "kaiming-normal"), post
        if support is None:
            raise ValueError(f"a {kind} layer needs support=(rows, cols)")
        init = sparse_init if sparse_init is not None else default_sparse_init(kind, offset)
        if init not in SPARSE_INITS:
            raise ValueError(f"sparse_init must be one of {list(SPARSE_INITS)}, got {init!r}")
        if scale == 0.0:
            init = "zeros"
        if kind == "sparse":
            return self._sparse(False, support=support, init=init), post
        if offset == "none":
            return self._sparse(True, support=support, init=init, offset="none"), post
        return self._sparse(True, support=support, init=init, alpha=scale,
                            train_alpha=bool(train_alpha), offset=make_offset(
                                offset, math.prod(self.shape[1:]), self.shape[0],
                                offset_seed)), post


@dataclass(frozen=True)
class LinearWeight(_Slot):
    """A fully connected slot: an ``(n_out, n_in)`` prunable weight, optionally a bias."""

    n_in: int
    n_out: int
    bias: bool = True
    init_scale: float = 1.0

    def __post_init__(self):
        check_positive_int("n_in", self.n_in, "LinearWeight")
        check_positive_int("n_out", self.n_out, "LinearWeight")
        object.__setattr__(self, "init_scale", _check_scale(self.init_scale, "LinearWeight"))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_out, self.n_in)

    def _dense(self, init):
        return Linear(self.n_in, self.n_out, bias=self.bias, init=init)

    def _sparse(self, dctps, **kwargs):
        cls = DCTpSLinear if dctps else SparseLinear
        return cls(self.n_in, self.n_out, bias=self.bias, **kwargs)


@dataclass(frozen=True)
class ConvWeight(_Slot):
    """A convolution slot: an ``(out, in, kh, kw)`` prunable kernel, optionally a bias."""

    in_channels: int
    out_channels: int
    kernel_size: tuple
    stride: int = 1
    padding: int = 0
    bias: bool = True
    init_scale: float = 1.0

    def __post_init__(self):
        owner = "ConvWeight"
        check_positive_int("in_channels", self.in_channels, owner)
        check_positive_int("out_channels", self.out_channels, owner)
        object.__setattr__(self, "kernel_size", check_pair("kernel_size", self.kernel_size,
                                                           owner))
        check_positive_int("stride", self.stride, owner)
        check_positive_int("padding", self.padding, owner, minimum=0)
        object.__setattr__(self, "init_scale", _check_scale(self.init_scale, owner))

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.out_channels, self.in_channels) + tuple(self.kernel_size)

    def _dense(self, init):
        return Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                      self.padding, bias=self.bias, init=init)

    def _sparse(self, dctps, **kwargs):
        cls = DCTpSConv2d if dctps else SparseConv2d
        return cls(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                   self.padding, bias=self.bias, **kwargs)


class Blueprint(NamedTuple):
    """A model's structure: ``(name, item, inputs)`` graph nodes whose weights are slots.

    ``args`` are the model's resolved arguments, JSON-able: the model function
    called with them gives this blueprint again.
    """

    nodes: tuple
    in_shape: tuple
    args: dict

    def slots(self) -> list[tuple[str, _Slot]]:
        """``[(name, slot)]`` of the prunable weights, in node order."""
        return [(name, item) for name, item, _ in self.nodes if isinstance(item, _Slot)]


def is_slot(item) -> bool:
    """True for a :class:`LinearWeight` or :class:`ConvWeight`."""
    return isinstance(item, _Slot)
