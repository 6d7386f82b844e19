"""Blueprints: a network's structure written once, built as dense, sparse or DCTpS.

A reference model is described as a list of graph nodes ``(name, item,
inputs)``.  An item is either a ready layer without weight matrices (``ReLU()``,
``AvgPool2d(2)``, ``Flatten()``, ``Add()``) or a *weight slot*: a
:class:`LinearWeight` or :class:`ConvWeight` saying the shape of a prunable
weight, whether it has a bias and how it is initialised.  The same blueprint
then becomes any of the three kinds of network (:data:`KINDS`), one slot at a
time (:meth:`LinearWeight.make`):

==========  =====================================  ==================================
kind        fully connected slot                   convolution slot
==========  =====================================  ==================================
"dense"     :class:`~refnet.layers.Linear`         :class:`~refnet.layers.Conv2d`
"sparse"    :class:`~refnet.layers.SparseLinear`   :class:`~refnet.layers.SparseConv2d`
"dctps"     :class:`~refnet.layers.DCTpSLinear`    :class:`~refnet.layers.DCTpSConv2d`
==========  =====================================  ==================================

The prunable weights of a model are exactly its slots: every Linear/Conv2d
weight matrix, never a bias or ``alpha``.  Their shapes are ``(out, in)`` and
``(out, in, kh, kw)`` whatever the kind, which is what
:func:`refnet.sparsity.allocate` takes.

``init_scale`` is how a blueprint asks for a non-standard initialisation
(Fixup, :mod:`refnet.models.resnet`): 0 builds the layer with its zero
initialiser (``init="zeros"``; for a DCTpS layer also ``alpha = 0``), any
other value multiplies the freshly initialised weight (``W`` or the values of
``S``) by it, and a DCTpS layer starts with ``alpha = init_scale``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

from .._checks import check_pair, check_positive_int
from ..core.layer import Layer
from ..layers import (Conv2d, DCTpSConv2d, DCTpSLinear, Linear, SparseConv2d,
                      SparseLinear)
from ..layers.sparse import SPARSE_INITS

__all__ = ["KINDS", "LinearWeight", "ConvWeight", "Blueprint", "default_sparse_init"]

#: The kinds every reference model can be built as.
KINDS = ("dense", "sparse", "dctps")


def default_sparse_init(kind: str, offset: str = "dct") -> str | None:
    """The initialiser of ``S`` when none is asked for.

    ``"kaiming-dense"`` for a sparse network (what the DCTpS paper's code does
    for its sparse baselines: a dense Kaiming draw, then masked), ``"zeros"``
    for DCTpS (the paper's choice: at initialisation the network is its
    offset part alone), ``None`` for a dense network (no ``S``).  A DCTpS
    network with the offset ``"none"`` is a plain sparse network and gets
    the sparse default: with ``S = 0`` and no offset every layer would be
    identically zero, and so would every gradient but the last bias's.
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
        """The layer of this slot for ``kind``, and the factor its init still needs.

        Parameters
        ----------
        kind : {"dense", "sparse", "dctps"}
        support : (rows, cols) or CSRSupport, optional
            Positions of ``S`` in the ``(out, in * kh * kw)`` matrix; required
            for "sparse" and "dctps".
        sparse_init : str, optional
            Initialiser of ``S`` (one of ``SPARSE_INITS``); default
            :func:`default_sparse_init`.
        train_alpha : bool, default True
            For "dctps": whether ``alpha`` is trained.
        offset : str, default "dct"
            For "dctps": the fixed offset (:data:`refnet.ops.OFFSETS`); with
            ``"none"`` there is no ``alpha``, so ``train_alpha`` and the
            ``init_scale`` of ``alpha`` do not apply.
        offset_seed : int or numpy.random.Generator, optional
            For "dctps" with a random offset: what it is drawn from.

        Returns
        -------
        layer : Layer
        post_scale : float
            Multiply the weight (``W``, or the values of ``S``) drawn by
            ``layer.init`` by this to honour ``init_scale``; 1.0 when nothing
            is left to do.
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
                            train_alpha=bool(train_alpha), offset=offset,
                            offset_seed=offset_seed), post


@dataclass(frozen=True)
class LinearWeight(_Slot):
    """A fully connected slot: an ``(n_out, n_in)`` prunable weight, optionally a bias.

    Parameters
    ----------
    n_in, n_out : int
    bias : bool, default True
    init_scale : float, default 1.0
        See the module docstring.
    """

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
        """``(n_out, n_in)``."""
        return (self.n_out, self.n_in)

    def _dense(self, init):
        return Linear(self.n_in, self.n_out, bias=self.bias, init=init)

    def _sparse(self, dctps, **kwargs):
        cls = DCTpSLinear if dctps else SparseLinear
        return cls(self.n_in, self.n_out, bias=self.bias, **kwargs)


@dataclass(frozen=True)
class ConvWeight(_Slot):
    """A convolution slot: an ``(out, in, kh, kw)`` prunable kernel, optionally a bias.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride : int, default 1
    padding : int, default 0
    bias : bool, default True
    init_scale : float, default 1.0
        See the module docstring.
    """

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
        """``(out_channels, in_channels, kh, kw)``."""
        return (self.out_channels, self.in_channels) + tuple(self.kernel_size)

    def _dense(self, init):
        return Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                      self.padding, bias=self.bias, init=init)

    def _sparse(self, dctps, **kwargs):
        cls = DCTpSConv2d if dctps else SparseConv2d
        return cls(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                   self.padding, bias=self.bias, **kwargs)


class Blueprint(NamedTuple):
    """A model's structure: graph nodes whose prunable layers are still slots.

    Attributes
    ----------
    nodes : tuple of (str, Layer or LinearWeight or ConvWeight, str or tuple of str)
        ``(name, item, inputs)`` as :class:`refnet.Graph` takes them; the
        graph input is called ``"input"`` and the last node is the output.
    in_shape : tuple of int
        Per-example input shape.
    args : dict
        The model's resolved arguments, JSON-able (lists, not tuples): calling
        the model function with them gives this blueprint again.
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
