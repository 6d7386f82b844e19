"""The layer contract that every refnet layer and container obeys.

A layer object holds only *structure* (shapes, a sparse support, hyper-parameters);
its parameters live in a dict of arrays the caller owns, and its math is pure::

    init(rng)                                   -> params
    forward(params, x)                          -> (y, cache)
    vjp(params, cache, y_bar, need_params=True) -> (x_bar, params_bar)
    jvp(params, cache, x_dot)                   -> y_dot

* The batch axis of ``x`` is axis 0: ``x`` (B, *in_shape), ``y`` (B, *out_shape).
* ``cache`` is a small NamedTuple, the point of linearisation; never modified.
* Tangents and cotangents may carry extra LEADING axes: ``y_bar`` (*lead, B,
  *out_shape) gives ``x_bar`` (*lead, B, *in_shape), and ``params_bar[k]``
  (*lead, *params[k].shape), summed over the batch.  With ``y_bar`` the
  identity, one ``vjp`` call is every example's whole Jacobian.
  ``need_params=False`` skips the parameter cotangents and returns ``(x_bar, None)``;
  a layer with ``can_skip_input = True`` also takes ``need_input=False``, which
  skips ``x_bar`` and returns ``(None, params_bar)`` (training needs no cotangent
  of the network's input).
* Nothing is mutated.  Layers that only pass values through (Identity, Flatten,
  Add, Concat) may return their argument or a view of it: treat results as read-only.

Merge layers (Add, Concat) set ``n_inputs = None`` and take and return tuples in
place of ``x``, ``x_bar`` and ``x_dot``.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .._checks import as_rng

__all__ = ["Layer", "MergeLayer", "as_rng", "lead_shape", "fold_lead"]


class Layer:
    """Base class of every layer: subclasses implement the module docstring's contract.

    ``is_linear`` is True when ``forward(params, x) == J @ x + c`` with ``J``, ``c``
    independent of ``x`` (the gradient checker then runs the adjoint test); ``n_inputs``
    is 1, or None for a merge layer.
    """

    is_linear: bool = False
    n_inputs: int | None = 1
    #: Whether :meth:`vjp` takes ``need_input=False`` (then ``x_bar`` is None).
    can_skip_input = False
    #: True in the body of a base class users do not build networks from.
    _abstract: bool = True

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the parameters, keyed by name (empty if none)."""
        return {}

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-example output shape; ValueError for an input shape the layer refuses."""
        raise NotImplementedError

    def children(self) -> list[tuple[str, "Layer"]]:
        """Named sub-layers (containers override this)."""
        return []

    def init(self, rng: np.random.Generator | int) -> dict:
        """Fresh parameters drawn with ``rng`` (a Generator or an int seed)."""
        as_rng(rng)
        return {}

    def forward(self, params: dict, x):
        """``(y, cache)``: the output at ``x`` (B, *in_shape) and the point of linearisation."""
        raise NotImplementedError

    def vjp(self, params: dict, cache, y_bar, *, need_params: bool = True):
        """``(x_bar, params_bar)``: ``J.T @ y_bar`` per example, and the parameters' cotangents."""
        raise NotImplementedError

    def jvp(self, params: dict, cache, x_dot):
        """``y_dot = J @ x_dot`` per example, at the point recorded in ``cache``."""
        raise NotImplementedError

    def __call__(self, params: dict, x):
        """The output of :meth:`forward` without the cache."""
        return self.forward(params, x)[0]

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise a TypeError/ValueError unless ``params`` fits :meth:`param_shapes`; a numpy
        scalar is accepted for a 0-d parameter (numpy returns one from any arithmetic on a
        0-d array, such as ``alpha - lr * alpha_bar``)."""
        owner, expected = type(self).__name__, self.param_shapes()
        if not isinstance(params, Mapping):
            raise TypeError(f"{owner}: params must be a dict of arrays, "
                            f"got {type(params).__name__}")
        if set(params) != set(expected):
            raise ValueError(f"{owner}: params has keys {sorted(params)}, "
                             f"expected {sorted(expected)}")
        for name, shape in expected.items():
            value = params[name]
            if not (isinstance(value, np.ndarray)
                    or (isinstance(value, np.generic) and tuple(shape) == ())):
                raise TypeError(f"{owner}: params[{name!r}] must be a numpy array, "
                                f"got {type(value).__name__}")
            if value.shape != tuple(shape):
                raise ValueError(f"{owner}: params[{name!r}] has shape {value.shape}, "
                                 f"expected {tuple(shape)}")

    def __repr__(self) -> str:
        fields = getattr(self, "_repr_fields", ())
        return f"{type(self).__name__}(" + ", ".join(
            f"{f}={getattr(self, f)!r}" for f in fields) + ")"


class MergeLayer(Layer):
    """A parameter-free layer of two or more inputs: ``x``, ``x_bar``, ``x_dot`` are tuples."""

    n_inputs = None
    _abstract = True


def lead_shape(name: str, t: np.ndarray, base_shape: tuple, owner: str) -> tuple:
    """The leading axes ``lead`` of a tangent ``t`` of shape ``(*lead, *base_shape)``."""
    base_shape = tuple(base_shape)
    k = t.ndim - len(base_shape)
    if k < 0 or t.shape[k:] != base_shape:
        raise ValueError(f"{owner}: {name} has shape {t.shape}, expected "
                         f"(*lead, {', '.join(map(str, base_shape))}) to match the cache")
    return t.shape[:k]


def fold_lead(t: np.ndarray, base_ndim: int) -> np.ndarray:
    """``t`` of shape ``(*lead, B, *rest)`` as a C-contiguous ``(prod(lead) * B, *rest)``
    (numpy's matmul leaves BLAS for non-contiguous operands: a Jacobian ran 70x slower)."""
    return np.ascontiguousarray(t).reshape((-1,) + t.shape[t.ndim - base_ndim + 1:])
