"""The layer contract that every refnet layer and container obeys.

A layer object holds only *structure*: shapes, a sparse support, hyper-parameters.
Its trainable parameters live in a dict of float arrays that the caller owns, and
its math is four pure functions::

    init(rng)                                  -> params
    forward(params, x)                         -> (y, cache)
    vjp(params, cache, y_bar, need_params=True) -> (x_bar, params_bar)
    jvp(params, cache, x_dot)                  -> y_dot

Conventions
-----------
* The batch axis of ``x`` is axis 0: ``x.shape == (B, *in_shape)`` and
  ``y.shape == (B, *out_shape)``.
* ``cache`` is a small ``NamedTuple`` holding what the derivatives need: the
  point of linearisation.  It is never modified.
* Tangents (``x_dot``) and cotangents (``y_bar``) may carry extra LEADING axes
  beyond the cached batch: ``y_bar.shape == (*lead, B, *out_shape)`` gives
  ``x_bar.shape == (*lead, B, *in_shape)``.  The cached arrays broadcast against
  them.  With ``lead == (m,)`` and ``y_bar`` the identity, one ``vjp`` call is
  the whole input-output Jacobian of every example.
* ``params_bar`` has the keys, shapes and dtypes of ``params``, summed over the
  batch; with leading axes each entry gains them in front:
  ``params_bar[k].shape == (*lead, *params[k].shape)``.  Parameter cotangents
  cost time and memory that a Jacobian does not need, so ``vjp(...,
  need_params=False)`` skips them and returns ``(x_bar, None)``.
* Nothing is mutated: not ``params``, not ``x``, not the tangents, not the
  cache.  Results are fresh arrays, except where a layer only passes values
  through (``Identity``, ``Flatten``, ``Add``, ``Concat``): there a result is
  its argument or a view of it, so treat results as read-only and copy one
  before writing into it.

Layers with several inputs (``Add``, ``Concat``) set ``n_inputs`` to ``None``
and take and return tuples in place of ``x``, ``x_bar`` and ``x_dot``.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .._checks import as_rng

__all__ = ["Layer", "MergeLayer", "as_rng", "lead_shape", "fold_lead", "Params"]

Params = dict  # a (possibly nested) dict of str -> ndarray


class Layer:
    """Base class of every layer: the contract, and the checks every layer shares.

    Subclasses implement :meth:`param_shapes`, :meth:`output_shape`,
    :meth:`init`, :meth:`forward`, :meth:`vjp` and :meth:`jvp`.

    Attributes
    ----------
    is_linear : bool
        True when the output is an affine function of the input,
        ``forward(params, x) == J @ x + c`` with ``J`` and ``c`` independent of
        ``x``.  The gradient checker then also runs the exact adjoint test.
    n_inputs : int or None
        Number of inputs: 1 for ordinary layers, ``None`` for merge layers
        that take a tuple of two or more.
    """

    is_linear: bool = False
    n_inputs: int | None = 1
    #: Set to True in the class body of a base class that is not itself a layer
    #: users build networks from (the registry completeness test skips it).
    _abstract: bool = True

    # -- structure ----------------------------------------------------------
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the trainable parameters, keyed by name (empty if none)."""
        return {}

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-example output shape for a per-example input shape.

        Raises
        ------
        ValueError
            If ``in_shape`` is not an input shape this layer accepts.
        """
        raise NotImplementedError

    def children(self) -> list[tuple[str, "Layer"]]:
        """Named sub-layers (containers override this); a plain layer has none."""
        return []

    # -- math -----------------------------------------------------------------
    def init(self, rng: np.random.Generator | int) -> Params:
        """Fresh parameters drawn with ``rng`` (a Generator or an int seed)."""
        as_rng(rng)
        return {}

    def forward(self, params: Params, x):
        """The output at ``x`` and what the derivatives need.

        Parameters
        ----------
        params : dict
            As :meth:`init` returns them (checked against :meth:`param_shapes`).
        x : ndarray, shape (B, *in_shape)
            A tuple of such arrays for a merge layer.

        Returns
        -------
        y : ndarray, shape (B, *out_shape)
        cache : NamedTuple
            The point of linearisation, for :meth:`vjp` and :meth:`jvp`.
        """
        raise NotImplementedError

    def vjp(self, params: Params, cache, y_bar, *, need_params: bool = True):
        """Reverse mode: the cotangents of the input and the parameters.

        Parameters
        ----------
        params : dict
        cache : NamedTuple
            From :meth:`forward`.
        y_bar : ndarray, shape (*lead, B, *out_shape)
            Output cotangent(s); ``lead`` axes stack several of them.
        need_params : bool, default True
            Whether to compute the parameter cotangents.

        Returns
        -------
        x_bar : ndarray, shape (*lead, B, *in_shape)
            ``J.T @ y_bar`` per example (a tuple for a merge layer).
        params_bar : dict or None
            Keyed like ``params``, each entry of shape ``(*lead, *shape)``,
            summed over the batch; None when ``need_params`` is false.
        """
        raise NotImplementedError

    def jvp(self, params: Params, cache, x_dot):
        """Forward mode: the output tangent ``J @ x_dot`` at the cached point.

        Parameters
        ----------
        params : dict
        cache : NamedTuple
            From :meth:`forward`.
        x_dot : ndarray, shape (*lead, B, *in_shape)
            Input tangent(s) (a tuple for a merge layer).

        Returns
        -------
        y_dot : ndarray, shape (*lead, B, *out_shape)
        """
        raise NotImplementedError

    def __call__(self, params: Params, x):
        """``layer(params, x)`` is the output of :meth:`forward` without the cache."""
        return self.forward(params, x)[0]

    # -- shared validation ----------------------------------------------------
    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise a clear error if ``params`` does not fit :meth:`param_shapes`."""
        expected = self.param_shapes()
        if not isinstance(params, Mapping):
            raise TypeError(f"{type(self).__name__}: params must be a dict of arrays, "
                            f"got {type(params).__name__}")
        if set(params) != set(expected):
            raise ValueError(f"{type(self).__name__}: params has keys {sorted(params)}, "
                             f"expected {sorted(expected)}")
        for name, shape in expected.items():
            value = params[name]
            # a numpy scalar is accepted for a 0-d parameter: numpy returns one from any
            # arithmetic on a 0-d array (alpha - lr * alpha_bar is an np.float64)
            if not (isinstance(value, np.ndarray)
                    or (isinstance(value, np.generic) and tuple(shape) == ())):
                raise TypeError(f"{type(self).__name__}: params[{name!r}] must be a numpy "
                                f"array, got {type(value).__name__}")
            if value.shape != tuple(shape):
                raise ValueError(f"{type(self).__name__}: params[{name!r}] has shape "
                                 f"{value.shape}, expected {tuple(shape)}")

    def __repr__(self) -> str:
        fields = getattr(self, "_repr_fields", ())
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in fields)
        return f"{type(self).__name__}({inner})"


class MergeLayer(Layer):
    """A parameter-free layer of two or more inputs (``x`` is a tuple).

    ``forward(params, xs) -> (y, cache)``, ``vjp(params, cache, y_bar) ->
    (xs_bar, params_bar)`` and ``jvp(params, cache, xs_dot) -> y_dot`` with
    ``xs``, ``xs_bar`` and ``xs_dot`` tuples in input order.
    """

    n_inputs = None
    _abstract = True


def lead_shape(name: str, t: np.ndarray, base_shape: tuple, owner: str) -> tuple:
    """The extra leading axes of tangent ``t`` beyond ``base_shape``.

    ``t.shape`` must equal ``(*lead, *base_shape)``; ``lead`` is returned.
    """
    base_shape = tuple(base_shape)
    k = t.ndim - len(base_shape)
    if k < 0 or t.shape[k:] != base_shape:
        raise ValueError(f"{owner}: {name} has shape {t.shape}, expected "
                         f"(*lead, {', '.join(map(str, base_shape))}) to match the cache")
    return t.shape[:k]


def fold_lead(t: np.ndarray, base_ndim: int) -> np.ndarray:
    """Merge the leading tangent axes of ``t`` into its batch axis.

    ``t.shape == (*lead, B, *rest)`` with ``len((B, *rest)) == base_ndim``
    becomes a C-contiguous ``(prod(lead) * B, *rest)``.  Contiguity matters:
    numpy's matmul leaves BLAS for non-contiguous operands, which made a
    Jacobian about 70x slower in refnet's measurements.
    """
    rest = t.shape[t.ndim - base_ndim + 1:]
    return np.ascontiguousarray(t).reshape((-1,) + rest)
