"""Merge layers for :class:`~refnet.Graph`: ``Add`` and ``Concat`` of several inputs."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import as_input, check_positive_int
from ..core.layer import MergeLayer, lead_shape

__all__ = ["Add", "Concat"]


def _check_inputs(owner: str, xs) -> tuple:
    if not isinstance(xs, (tuple, list)) or len(xs) < 2:
        raise ValueError(f"{owner}: expects a tuple of at least 2 inputs, got "
                         f"{type(xs).__name__}"
                         + (f" of length {len(xs)}" if isinstance(xs, (tuple, list)) else ""))
    return tuple(as_input(x, owner, "xs") for x in xs)


class Add(MergeLayer):
    """Elementwise sum of two or more inputs of one shape: ``y = x_1 + x_2 + ...``.

    Notes
    -----
    Shapes: every x_i and y (B, ...); tangents carry ``*lead`` in front::

        y = x_1 + ... + x_k;   x_i_bar = y_bar for every i;   y_dot = x_1_dot + ... + x_k_dot

    This is where a residual connection's cotangent fans out; a
    :class:`~refnet.Graph` sums cotangents where a value is used twice.
    """

    is_linear = True

    class Cache(NamedTuple):
        shape: tuple   #: the common input shape (B, ...)
        count: int     #: number of inputs

    def output_shape(self, in_shapes):
        shapes = [tuple(s) for s in in_shapes]
        if len(shapes) < 2 or any(s != shapes[0] for s in shapes):
            raise ValueError(f"Add: inputs must have one shape, got {shapes}")
        return shapes[0]

    def forward(self, params, xs):
        self.check_params(params)
        xs = _check_inputs("Add", xs)
        if any(x.shape != xs[0].shape for x in xs):
            raise ValueError(f"Add: inputs must have one shape, got {[x.shape for x in xs]}")
        return sum(xs[1:], start=xs[0]), Add.Cache(xs[0].shape, len(xs))

    def vjp(self, params, cache, y_bar, *, need_params=True):
        lead_shape("y_bar", y_bar, cache.shape, "Add")
        return (y_bar,) * cache.count, ({} if need_params else None)

    def jvp(self, params, cache, xs_dot):
        if len(xs_dot) != cache.count:
            raise ValueError(f"Add: got {len(xs_dot)} tangents, expected {cache.count}")
        for x_dot in xs_dot:
            lead_shape("x_dot", x_dot, cache.shape, "Add")
        return sum(xs_dot[1:], start=xs_dot[0])


class Concat(MergeLayer):
    """Concatenate two or more inputs along the per-example ``axis`` (0: the first after
    the batch).  Negative axes are refused: tangents' leading axes would make them ambiguous.

    Notes
    -----
    Shapes: x_i (B, ..., d_i, ...), y (B, ..., sum_i d_i, ...)::

        y       = np.concatenate([x_1, ..., x_k], axis=1 + axis)              # Forward
        x_i_bar = y_bar[..., offset_i : offset_i + d_i, ...]                  # VJP
        y_dot   = np.concatenate([x_1_dot, ..., x_k_dot], axis=lead + 1 + axis)   # JVP
    """

    is_linear = True
    _repr_fields = ("axis",)

    class Cache(NamedTuple):
        shapes: tuple  #: the input shapes (B, ...)

    def __init__(self, axis: int = 0):
        self.axis = check_positive_int("axis", axis, "Concat", minimum=0)

    def output_shape(self, in_shapes):
        shapes = [tuple(s) for s in in_shapes]
        a = self.axis
        if len(shapes) < 2 or any(len(s) <= a for s in shapes) or any(
                s[:a] + s[a + 1:] != shapes[0][:a] + shapes[0][a + 1:] for s in shapes):
            raise ValueError(f"Concat: inputs must agree on every axis but {a}, got {shapes}")
        return shapes[0][:a] + (sum(s[a] for s in shapes),) + shapes[0][a + 1:]

    def forward(self, params, xs):
        self.check_params(params)
        xs = _check_inputs("Concat", xs)
        self.output_shape([x.shape[1:] for x in xs])
        if any(x.shape[0] != xs[0].shape[0] for x in xs):
            raise ValueError(f"Concat: inputs have different batch sizes {[x.shape for x in xs]}")
        return np.concatenate(xs, axis=1 + self.axis), Concat.Cache(tuple(x.shape for x in xs))

    def vjp(self, params, cache, y_bar, *, need_params=True):
        out_shape = (cache.shapes[0][0],) + self.output_shape([s[1:] for s in cache.shapes])
        lead = lead_shape("y_bar", y_bar, out_shape, "Concat")
        cuts = np.cumsum([s[1 + self.axis] for s in cache.shapes])[:-1]
        pieces = np.split(y_bar, cuts, axis=len(lead) + 1 + self.axis)
        return tuple(pieces), ({} if need_params else None)

    def jvp(self, params, cache, xs_dot):
        if len(xs_dot) != len(cache.shapes):
            raise ValueError(f"Concat: got {len(xs_dot)} tangents, expected {len(cache.shapes)}")
        leads = {lead_shape("x_dot", t, s, "Concat") for t, s in zip(xs_dot, cache.shapes)}
        if len(leads) != 1:
            raise ValueError(f"Concat: tangents have different leading axes {sorted(leads)}")
        lead = leads.pop()
        return np.concatenate(xs_dot, axis=len(lead) + 1 + self.axis)
