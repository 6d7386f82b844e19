"""Flatten: reshape each example to a vector."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._checks import as_input

from ..core.layer import Layer, lead_shape

__all__ = ["Flatten", "FlattenCache"]


class FlattenCache(NamedTuple):
    """The input shape (B, *s) that the VJP restores."""

    x_shape: tuple


class Flatten(Layer):
    """``(B, *s) -> (B, prod(s))`` in C order.

    Notes
    -----
    A reshape relabels coordinates (linear and orthogonal), so its adjoint is
    its inverse::

        y = x.reshape(B, -1)                    # Forward
        x_bar = y_bar.reshape(*lead, B, *s)     # VJP
        y_dot = x_dot.reshape(*lead, B, -1)     # JVP
    """

    is_linear = True

    def output_shape(self, in_shape):
        return (math.prod(in_shape),)

    def forward(self, params, x):
        self.check_params(params)
        x = as_input(x, type(self).__name__)
        if x.ndim < 1:
            raise ValueError(f"Flatten: x has shape {x.shape}, expected (B, ...)")
        return x.reshape(x.shape[0], math.prod(x.shape[1:])), FlattenCache(x.shape)

    def vjp(self, params, cache, y_bar, *, need_params=True):
        size = math.prod(cache.x_shape[1:])
        lead = lead_shape("y_bar", y_bar, (cache.x_shape[0], size), "Flatten")
        return y_bar.reshape(lead + cache.x_shape), ({} if need_params else None)

    def jvp(self, params, cache, x_dot):
        lead = lead_shape("x_dot", x_dot, cache.x_shape, "Flatten")
        return x_dot.reshape(lead + (cache.x_shape[0], math.prod(cache.x_shape[1:])))
