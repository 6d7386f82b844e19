"""Argument validators shared by the engine, the lab and the apps (private).

Each raises one ValueError/TypeError naming the owner, the argument, the value
and what was expected.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_input", "as_rng", "check_positive_int", "check_pair"]


def as_rng(rng) -> np.random.Generator:
    """A Generator itself, or a new one from an int seed; TypeError otherwise (None too)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng: a seed must be an integer >= 0, got {rng!r}")
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {rng!r}")


def as_input(x, owner: str, name: str = "x") -> np.ndarray:
    """``x`` as an array of bools, integers or floats; TypeError for complex or object input,
    for which no layer's math (ReLU's ``x > 0``, the DCT, the derivations) is written."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: {name} must be a real array, got dtype {x.dtype}")
    return x


def _is_int(value, minimum) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and \
        value >= minimum


def check_positive_int(name: str, value, owner: str, minimum: int = 1) -> int:
    """``value`` as an int if it is an integer ``>= minimum``, else a ValueError."""
    if not _is_int(value, minimum):
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_pair(name: str, value, owner: str, minimum: int = 1) -> tuple[int, int]:
    """``value`` as ``(height, width)`` integers ``>= minimum``; an int ``k`` is ``(k, k)``."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(_is_int(v, minimum) for v in pair):
        raise ValueError(f"{owner}: {name} must be an integer or a pair of integers "
                         f">= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])
