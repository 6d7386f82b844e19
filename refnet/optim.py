"""Optimizers as pure update functions on parameter trees.

An optimizer object only holds hyper-parameters.  ``state = opt.init(params)``
makes its state (trees shaped like ``params``), and
``params, state = opt.update(params, grads, state)`` returns NEW trees: nothing
is modified in place, so a training step can be replayed or checkpointed.
Conventions follow PyTorch's ``torch.optim.SGD`` and ``torch.optim.Adam``
(weight decay as an L2 term added to the gradient).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .core.tree import tree_check_like, tree_map, tree_zeros_like

__all__ = ["SGD", "Adam", "make_optimizer"]


def _check_hyper(owner: str, **values) -> None:
    for name, (value, low, high, low_open) in values.items():
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) \
            and math.isfinite(value) and (
            value > low if low_open else value >= low) and value <= high
        if not ok:
            bracket = "(" if low_open else "["
            raise ValueError(f"{owner}: {name} must lie in {bracket}{low}, {high}], got {value!r}")


def _step_lr(owner: str, default: float, lr) -> float:
    """``lr`` given to ``update`` (checked like the constructor's), else the default."""
    if lr is None:
        return default
    _check_hyper(owner, lr=(lr, 0.0, math.inf, True))
    return lr


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.

    Notes
    -----
    Per leaf, with ``g = grad + weight_decay * w`` and ``lr > 0``::

        v = momentum * v + g                 (v starts at 0)
        step = g + momentum * v   if nesterov else   v
        w = w - lr * step

    With ``momentum == 0`` this is ``w = w - lr * g``.
    """

    lr: float
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    def __post_init__(self):
        _check_hyper("SGD", lr=(self.lr, 0.0, math.inf, True),
                     momentum=(self.momentum, 0.0, 1.0, False),
                     weight_decay=(self.weight_decay, 0.0, math.inf, False))
        if self.nesterov and self.momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")

    def init(self, params: dict) -> dict:
        """The state: ``{"step": 0, "velocity": zeros like params}``."""
        return {"step": 0, "velocity": tree_zeros_like(params)}

    def update(self, params: dict, grads: dict, state: dict, lr: float | None = None):
        """One step: ``(new_params, new_state)``; ``lr`` overrides ``self.lr`` (a schedule)."""
        tree_check_like(grads, params, "grads", "params")
        lr = _step_lr("SGD.update", self.lr, lr)
        mu, wd = self.momentum, self.weight_decay
        g = tree_map(lambda gr, w: gr + wd * w, grads, params) if wd else grads
        velocity = tree_map(lambda v, gr: mu * v + gr, state["velocity"], g)
        if self.nesterov:
            step = tree_map(lambda gr, v: gr + mu * v, g, velocity)
        else:
            step = velocity
        new_params = tree_map(lambda w, s: w - lr * s, params, step)
        return new_params, {"step": state["step"] + 1, "velocity": velocity}


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction and optional L2 weight decay.

    Notes
    -----
    Per leaf, at step ``t = 1, 2, ...`` with ``g = grad + weight_decay * w``::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        w = w - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)
    """

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    def __post_init__(self):
        _check_hyper("Adam", lr=(self.lr, 0.0, math.inf, True),
                     beta1=(self.beta1, 0.0, 1.0, False), beta2=(self.beta2, 0.0, 1.0, False),
                     eps=(self.eps, 0.0, math.inf, True),
                     weight_decay=(self.weight_decay, 0.0, math.inf, False))
        if self.beta1 >= 1.0 or self.beta2 >= 1.0:
            raise ValueError(f"Adam: beta1 and beta2 must be < 1, got {self.beta1}, {self.beta2}")

    def init(self, params: dict) -> dict:
        """The state: ``{"step": 0, "m": zeros, "v": zeros}`` (trees like params)."""
        return {"step": 0, "m": tree_zeros_like(params), "v": tree_zeros_like(params)}

    def update(self, params: dict, grads: dict, state: dict, lr: float | None = None):
        """One step: ``(new_params, new_state)``; ``lr`` overrides ``self.lr``."""
        tree_check_like(grads, params, "grads", "params")
        lr = _step_lr("Adam.update", self.lr, lr)
        b1, b2, wd = self.beta1, self.beta2, self.weight_decay
        t = state["step"] + 1
        g = tree_map(lambda gr, w: gr + wd * w, grads, params) if wd else grads
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        m = tree_map(lambda m_, gr: b1 * m_ + (1 - b1) * gr, state["m"], g)
        v = tree_map(lambda v_, gr: b2 * v_ + (1 - b2) * gr * gr, state["v"], g)
        new_params = tree_map(lambda w, m_, v_: w - lr * (m_ / c1) / (np.sqrt(v_ / c2) + self.eps),
                              params, m, v)
        return new_params, {"step": t, "m": m, "v": v}


def make_optimizer(name: str, **hyper):
    """``make_optimizer("sgd", lr=0.1, momentum=0.9)`` or ``make_optimizer("adam", lr=1e-3)``."""
    table = {"sgd": SGD, "adam": Adam}
    if name not in table:
        raise ValueError(f"optimizer must be one of {sorted(table)}, got {name!r}")
    return table[name](**hyper)
