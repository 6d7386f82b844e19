"""Argument validators shared by the engine, the lab and the apps (private).

Every public function checks its arguments before any work and raises one
``ValueError``/``TypeError`` naming the owner, the argument, the value and what
was expected.  These helpers are that check, written once.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_rng", "check_positive_int", "check_pair", "check_shape"]


def as_rng(rng) -> np.random.Generator:
    """Return ``rng`` as a Generator: a Generator itself, or a new one from an int seed.

    Raises
    ------
    TypeError
        For anything else (``None`` included: randomness is always explicit).
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {rng!r}")


def check_positive_int(name: str, value, owner: str, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer ``>= minimum``, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_pair(name: str, value, owner: str, minimum: int = 1) -> tuple[int, int]:
    """Return ``value`` as a pair ``(height, width)`` of integers ``>= minimum``.

    An integer ``k`` means ``(k, k)``, as in PyTorch's ``kernel_size=3``.
    Anything else raises ``ValueError`` naming ``owner``, ``name`` and the value.
    """
    if isinstance(value, (tuple, list)) and len(value) == 2:
        pair = tuple(value)
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        pair = (value, value)
    else:
        raise ValueError(f"{owner}: {name} must be an integer or a pair of integers "
                         f">= {minimum}, got {value!r}")
    for v in pair:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
            raise ValueError(f"{owner}: {name} must be an integer or a pair of integers "
                             f">= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def check_shape(name: str, array, expected: tuple, owner: str) -> None:
    """Raise ``ValueError`` unless ``array.shape`` ends with ``expected``.

    ``None`` entries of ``expected`` match any size.
    """
    shape = np.shape(array)
    ok = len(shape) >= len(expected) and all(
        e is None or s == e for s, e in zip(shape[len(shape) - len(expected):], expected))
    if not ok:
        want = "(..., " + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise ValueError(f"{owner}: {name} has shape {shape}, expected {want}")
