"""The dense fully connected layer."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._checks import as_input, as_rng, check_positive_int
from ..core.layer import Layer, fold_lead, lead_shape
from ..initializers import check_init_name, initialize

__all__ = ["Linear", "LinearCache"]


class LinearCache(NamedTuple):
    """What :class:`Linear` keeps from the forward pass."""

    x: np.ndarray  #: the input, shape (B, n)


class Linear(Layer):
    """Fully connected layer ``y = x @ W.T + b`` (``init`` names W's initializer, b = 0).

    Notes
    -----
    Shapes: x (B, n = n_in), W (m = n_out, n), b (m,), y (B, m).  Leading tangent axes
    ``*lead`` are folded into the batch first (one contiguous 2-D matmul)::

        y     = x @ W.T + b                          # Forward, (B, m)
        x_bar = y_bar @ W                            # VJP, (*lead, B, n)
        W_bar = y_bar.T @ x   per lead index         # (*lead, m, n)
        b_bar = sum_b y_bar[..., b, :]               # (*lead, m)
        y_dot = x_dot @ W.T                          # JVP, (*lead, B, m)

    Examples
    --------
    >>> import numpy as np
    >>> layer = Linear(3, 2)
    >>> params = layer.init(np.random.default_rng(0))
    >>> y, cache = layer.forward(params, np.ones((4, 3)))
    >>> y.shape
    (4, 2)
    """

    is_linear = True
    _repr_fields = ("n_in", "n_out", "bias", "init_name")

    def __init__(self, n_in: int, n_out: int, *, bias: bool = True,
                 init: str = "kaiming-normal"):
        self.n_in = check_positive_int("n_in", n_in, "Linear")
        self.n_out = check_positive_int("n_out", n_out, "Linear")
        self.bias = bool(bias)
        self.init_name = check_init_name(init)

    def param_shapes(self):
        shapes = {"W": (self.n_out, self.n_in)}
        if self.bias:
            shapes["b"] = (self.n_out,)
        return shapes

    def output_shape(self, in_shape):
        if tuple(in_shape) != (self.n_in,):
            raise ValueError(f"Linear: input shape {tuple(in_shape)}, expected ({self.n_in},)")
        return (self.n_out,)

    def init(self, rng):
        rng = as_rng(rng)
        params = {"W": initialize(self.init_name, (self.n_out, self.n_in), rng)}
        if self.bias:
            params["b"] = np.zeros(self.n_out)
        return params

    def forward(self, params, x):
        self.check_params(params)
        x = as_input(x, type(self).__name__)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"Linear: x has shape {x.shape}, expected (B, {self.n_in})")
        y = x @ params["W"].T
        if self.bias:
            y = y + params["b"]
        return y, LinearCache(x)

    can_skip_input = True

    def vjp(self, params, cache, y_bar, *, need_params=True, need_input=True):
        x = cache.x
        batch = x.shape[0]
        lead = lead_shape("y_bar", y_bar, (batch, self.n_out), "Linear")
        k_lead = math.prod(lead)
        y2 = fold_lead(y_bar, 2)                                   # (K*B, m)
        x_bar = (y2 @ params["W"]).reshape(lead + x.shape) if need_input else None
        if not need_params:
            return x_bar, None
        y3 = y2.reshape(k_lead, batch, self.n_out)                 # (K, B, m)
        grads = {"W": np.matmul(y3.transpose(0, 2, 1), x).reshape(lead + (self.n_out, self.n_in))}
        if self.bias:
            grads["b"] = y3.sum(axis=1).reshape(lead + (self.n_out,))
        return x_bar, grads

    def jvp(self, params, cache, x_dot):
        x = cache.x
        lead = lead_shape("x_dot", x_dot, x.shape, "Linear")
        y_dot = fold_lead(x_dot, 2) @ params["W"].T
        return y_dot.reshape(lead + (x.shape[0], self.n_out))
