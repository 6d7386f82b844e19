"""The argument checks of ``refnet.ops``, which imports nothing from the rest of refnet."""
import numbers

import numpy as np


def positive_int(name, value, owner, minimum=1) -> int:
    """``value`` as an int if it is an integer ``>= minimum``, else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def pair(name, value, owner, minimum=1) -> tuple[int, int]:
    """``value`` as ``(height, width)`` integers ``>= minimum``; an int ``k`` is ``(k, k)``."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral)
                               or v < minimum for v in values):
        raise ValueError(f"{owner}: {name} must be an integer or a pair of integers "
                         f">= {minimum}, got {value!r}")
    return int(values[0]), int(values[1])


def as_rng(rng) -> np.random.Generator:
    """A Generator itself, or a new one from an int seed (``None`` is refused)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {rng!r}")
