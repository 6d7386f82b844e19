"""Elementwise activations: ReLU, LeakyReLU, Tanh, Identity.

``y = f(x)`` has the diagonal Jacobian ``diag(f'(x))``, so with ``slope = f'(x)``
(B, ...) cached, broadcast over the leading tangent axes::

    Forward:  y = f(x)
    VJP:      x_bar = y_bar * slope
    JVP:      y_dot = x_dot * slope

Each layer only says how to compute ``f`` and ``slope`` (:class:`Elementwise`).
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .._checks import as_input

from ..core.layer import Layer, lead_shape

__all__ = ["Elementwise", "ElementwiseCache", "ReLU", "LeakyReLU", "Tanh", "Identity"]


class ElementwiseCache(NamedTuple):
    """The local derivative ``f'(x)``, shape (B, ...)."""

    slope: np.ndarray


class Elementwise(Layer):
    """Base of the parameter-free ``y = f(x)``; subclasses give ``_value_and_slope(x)``."""

    _abstract = True

    def output_shape(self, in_shape):
        return tuple(in_shape)

    def forward(self, params, x):
        self.check_params(params)
        x = as_input(x, type(self).__name__)
        if x.ndim < 1:
            raise ValueError(f"{type(self).__name__}: x has shape {x.shape}, "
                             "expected (B, ...) with a batch axis")
        y, slope = self._value_and_slope(x)
        return y, ElementwiseCache(slope)

    def vjp(self, params, cache, y_bar, *, need_params=True):
        lead_shape("y_bar", y_bar, cache.slope.shape, type(self).__name__)
        return y_bar * cache.slope, ({} if need_params else None)

    def jvp(self, params, cache, x_dot):
        lead_shape("x_dot", x_dot, cache.slope.shape, type(self).__name__)
        return x_dot * cache.slope


class ReLU(Elementwise):
    """``y = np.maximum(x, 0)``, ``slope = (x > 0)``: the derivative 0 at the kink ``x == 0``
    (the subgradient PyTorch and JAX pick)."""

    def _value_and_slope(self, x):
        dtype = x.dtype if x.dtype.kind == "f" else np.float64
        # not x * slope: that is -inf * 0 = nan at x = -inf, where relu is 0
        return np.maximum(x, 0).astype(dtype, copy=False), (x > 0).astype(dtype)


class LeakyReLU(Elementwise):
    """``slope = np.where(x > 0, 1, negative_slope)``, ``y = slope * x`` (so at 0 too)."""

    _repr_fields = ("negative_slope",)

    def __init__(self, negative_slope: float = 0.01):
        if not isinstance(negative_slope, numbers.Real) or not np.isfinite(negative_slope):
            raise ValueError(f"LeakyReLU: negative_slope must be a finite real number, "
                             f"got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def _value_and_slope(self, x):
        slope = np.where(x > 0, 1.0, self.negative_slope)
        return slope * x, slope


class Tanh(Elementwise):
    """``y = np.tanh(x)``, ``slope = 1 - y**2``."""

    def _value_and_slope(self, x):
        y = np.tanh(x)
        return y, 1.0 - y * y


class Identity(Layer):
    """``y = x``, ``x_bar = y_bar``, ``y_dot = x_dot`` (a named node in a Graph); no copies."""

    is_linear = True

    class Cache(NamedTuple):
        shape: tuple  #: the input shape (B, ...)

    def output_shape(self, in_shape):
        return tuple(in_shape)

    def forward(self, params, x):
        self.check_params(params)
        x = as_input(x, type(self).__name__)
        return x, Identity.Cache(x.shape)

    def vjp(self, params, cache, y_bar, *, need_params=True):
        lead_shape("y_bar", y_bar, cache.shape, "Identity")
        return y_bar, ({} if need_params else None)

    def jvp(self, params, cache, x_dot):
        lead_shape("x_dot", x_dot, cache.shape, "Identity")
        return x_dot
