"""Weight initializers, by name in :data:`INITIALIZERS`, each drawing from an explicit rng.

Fans follow PyTorch for a weight ``(out, in, *kernel)``: ``fan_in = in * prod(kernel)``,
``fan_out = out * prod(kernel)``.

Examples
--------
>>> import numpy as np
>>> W = initialize("orthogonal", (3, 5), np.random.default_rng(0))
>>> bool(np.allclose(W @ W.T, np.eye(3)))
True
"""
from __future__ import annotations

import math

import numpy as np

from ._checks import as_rng

__all__ = ["fans", "kaiming_normal", "kaiming_uniform", "glorot_normal", "glorot_uniform",
           "orthogonal", "zeros", "initialize", "INITIALIZERS"]


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight ``(out, in, *kernel)``; ``(n,)`` gives ``(n, n)``."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        raise ValueError("fans: shape must have at least one axis, got ()")
    if len(shape) == 1:
        return shape[0], shape[0]
    return shape[1] * math.prod(shape[2:]), shape[0] * math.prod(shape[2:])


def kaiming_normal(shape, rng, gain: float = math.sqrt(2.0)) -> np.ndarray:
    """He et al. (2015): N(0, gain**2 / fan_in), gain = sqrt(2) for ReLU."""
    return as_rng(rng).normal(0.0, gain / math.sqrt(fans(shape)[0]), size=shape)


def kaiming_uniform(shape, rng, gain: float = math.sqrt(2.0)) -> np.ndarray:
    """He et al. (2015): U(-a, a), ``a = gain * sqrt(3 / fan_in)``."""
    bound = gain * math.sqrt(3.0 / fans(shape)[0])
    return as_rng(rng).uniform(-bound, bound, size=shape)


def glorot_normal(shape, rng) -> np.ndarray:
    """Glorot & Bengio (2010): N(0, 2 / (fan_in + fan_out))."""
    return as_rng(rng).normal(0.0, math.sqrt(2.0 / sum(fans(shape))), size=shape)


def glorot_uniform(shape, rng) -> np.ndarray:
    """Glorot & Bengio (2010): U(-a, a), ``a = sqrt(6 / (fan_in + fan_out))``."""
    bound = math.sqrt(6.0 / sum(fans(shape)))
    return as_rng(rng).uniform(-bound, bound, size=shape)


def orthogonal(shape, rng, gain: float = 1.0) -> np.ndarray:
    """``gain`` times a Haar-random ``(shape[0], prod(shape[1:]))`` with orthonormal rows (or
    columns, if taller), reshaped: ``Q, R = qr(G)`` of a Gaussian ``G``, each column of ``Q``
    times the sign of ``R[k, k]``, else the law depends on QR's sign convention (Mezzadri 2007).
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ValueError(f"orthogonal: shape must have at least 2 axes, got {shape}")
    m, n = shape[0], math.prod(shape[1:])
    q, r = np.linalg.qr(as_rng(rng).standard_normal((max(m, n), min(m, n))))
    d = np.sign(np.diag(r))
    q = q * np.where(d == 0.0, 1.0, d)                          # d == 0 has probability 0
    return gain * (q if m >= n else q.T).reshape(shape)


def zeros(shape, rng=None) -> np.ndarray:
    """All zeros (``rng`` is accepted for a uniform signature and ignored)."""
    return np.zeros(shape)


INITIALIZERS = {"kaiming-normal": kaiming_normal, "kaiming-uniform": kaiming_uniform,
                "glorot-normal": glorot_normal, "glorot-uniform": glorot_uniform,
                "orthogonal": orthogonal, "zeros": zeros}


def check_init_name(init: str) -> str:
    """``init`` if it names an initializer, else a ValueError listing them."""
    if init not in INITIALIZERS:
        raise ValueError(f"init must be one of {sorted(INITIALIZERS)}, got {init!r}")
    return init


def initialize(name: str, shape, rng) -> np.ndarray:
    """A float64 array of ``shape`` drawn with ``rng`` by the initializer ``name``."""
    check_init_name(name)
    return np.asarray(INITIALIZERS[name](tuple(shape), as_rng(rng)), dtype=np.float64)
