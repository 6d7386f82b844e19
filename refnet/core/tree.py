"""Parameter trees: nested dicts whose leaves are numpy arrays.

A network's parameters are ``{"fc1": {"W": ..., "b": ...}, "relu": {}, ...}``.
These helpers treat such a tree as one long vector without ever building one
unless asked (:func:`tree_flatten`).  Two trees are combined key by key, so the
order in which their dicts were built does not matter; their key sets and leaf
shapes must agree exactly.

Examples
--------
>>> import numpy as np
>>> a = {"W": np.ones((2, 2)), "b": np.zeros(2)}
>>> vec, spec = tree_flatten(a)
>>> vec.shape
(6,)
>>> tree_unflatten(spec, 2 * vec)["W"]
array([[2., 2.],
       [2., 2.]])
>>> float(tree_vdot(a, a))
4.0
"""
from __future__ import annotations

from typing import Callable, Iterator, NamedTuple

import numpy as np

from .._checks import as_rng

__all__ = ["tree_map", "tree_leaves", "tree_get", "tree_replace", "tree_flatten", "tree_unflatten",
           "TreeSpec",
           "tree_vdot", "tree_axpy", "tree_scale", "tree_zeros_like",
           "tree_random_like", "tree_size", "tree_equal", "tree_check_like"]


def _check_same_keys(a: dict, b: dict, path: str) -> None:
    if set(a) != set(b):
        raise ValueError(f"parameter trees differ at '{path or '/'}': keys {sorted(a)} "
                         f"against {sorted(b)}")


def tree_map(fn: Callable, tree: dict, *others: dict, _path: str = "") -> dict:
    """Apply ``fn(leaf, *other_leaves)`` leaf by leaf, matching leaves by key.

    A leaf that is an array stays an array: numpy returns a scalar
    (``np.float64``) from arithmetic on a 0-d array, such as a DCTpS layer's
    ``alpha``, and ``tree_map`` turns it back into a 0-d array, so parameter
    trees keep their contract (a dict of arrays) through optimizer updates.

    Raises
    ------
    ValueError
        If the trees do not have the same keys at every level.
    """
    if not isinstance(tree, dict):
        out = fn(tree, *others)
        if isinstance(out, np.generic) and isinstance(tree, np.ndarray):
            out = np.asarray(out)
        return out
    out = {}
    for other in others:
        if not isinstance(other, dict):
            raise ValueError(f"parameter trees differ at '{_path or '/'}': a dict against "
                             f"{type(other).__name__}")
        _check_same_keys(tree, other, _path)
    for key, value in tree.items():
        out[key] = tree_map(fn, value, *(o[key] for o in others), _path=f"{_path}/{key}")
    return out


def tree_get(tree: dict, path: str):
    """The entry of a nested dict at the path ``"a/b/c"`` (as :func:`tree_leaves` names it)."""
    for key in path.split("/"):
        tree = tree[key]
    return tree


def tree_replace(tree: dict, path: str, value) -> dict:
    """A copy of ``tree`` with the entry at ``path`` replaced; nothing is mutated.

    Only the dicts along the path are copied; every other entry is shared.
    """
    head, _, rest = path.partition("/")
    out = dict(tree)
    out[head] = tree_replace(tree[head], rest, value) if rest else value
    return out


def tree_leaves(tree: dict, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(path, leaf)`` pairs in the tree's own (insertion) order.

    Paths join keys with ``/``, for example ``"fc1/W"``.
    """
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            yield from tree_leaves(value, path)
        else:
            yield path, value


class TreeSpec(NamedTuple):
    """What :func:`tree_unflatten` needs: the template tree and each leaf's slice."""

    template: dict
    paths: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[np.dtype, ...]


def tree_flatten(tree: dict) -> tuple[np.ndarray, TreeSpec]:
    """Concatenate every leaf (raveled, in tree order) into one 1-D float vector.

    Returns
    -------
    vector : ndarray, shape (tree_size(tree),)
    spec : TreeSpec
        Pass to :func:`tree_unflatten` to rebuild a tree of the same structure.
    """
    leaves = list(tree_leaves(tree))
    paths = tuple(p for p, _ in leaves)
    shapes = tuple(np.shape(v) for _, v in leaves)
    dtypes = tuple(np.asarray(v).dtype for _, v in leaves)
    if leaves:
        vector = np.concatenate([np.ravel(v) for _, v in leaves])
    else:
        vector = np.zeros(0)
    template = tree_map(lambda v: None, tree)
    return vector, TreeSpec(template, paths, shapes, dtypes)


def tree_unflatten(spec: TreeSpec, vector: np.ndarray) -> dict:
    """Inverse of :func:`tree_flatten`: cut ``vector`` back into a tree (copies).

    Raises
    ------
    ValueError
        If ``vector`` does not have exactly the spec's number of entries.
    """
    vector = np.asarray(vector)
    sizes = [int(np.prod(s)) for s in spec.shapes]
    if vector.shape != (sum(sizes),):
        raise ValueError(f"vector has shape {vector.shape}, expected ({sum(sizes)},) "
                         f"to fill the tree")
    pieces = {}
    start = 0
    for path, shape, dtype, size in zip(spec.paths, spec.shapes, spec.dtypes, sizes):
        pieces[path] = vector[start:start + size].reshape(shape).astype(dtype, copy=True)
        start += size

    def fill(template, prefix):
        out = {}
        for key, value in template.items():
            path = f"{prefix}/{key}" if prefix else str(key)
            out[key] = fill(value, path) if isinstance(value, dict) else pieces[path]
        return out

    return fill(spec.template, "")


def tree_check_like(tree: dict, like: dict, name: str = "tree", like_name: str = "like") -> None:
    """Raise ``ValueError`` unless ``tree`` has exactly the keys and leaf shapes of ``like``.

    The message names both trees (``name``, ``like_name``), the first differing
    path and both shapes.  Leafwise arithmetic would otherwise broadcast a ``(3,)`` leaf against a
    ``(2, 3)`` one, or ``np.vdot`` flatten a ``(2, 3)`` against a ``(3, 2)``,
    and return a wrong number without complaint.
    """
    tree_map(lambda a, b: None, tree, like)        # the keys, level by level
    shapes = {path: np.shape(leaf) for path, leaf in tree_leaves(like)}
    for path, leaf in tree_leaves(tree):
        if np.shape(leaf) != shapes[path]:
            raise ValueError(f"{name} does not match {like_name} at '{path}': shape "
                             f"{np.shape(leaf)}, expected {shapes[path]}")


def tree_vdot(a: dict, b: dict) -> float:
    """Euclidean inner product of two trees, ``sum over leaves of sum(a * b)``.

    Raises
    ------
    ValueError
        If the trees differ in keys or in any leaf's shape.
    """
    tree_check_like(b, a, "b", "a")
    total = 0.0
    for value in _leaf_values(tree_map(lambda x, y: np.vdot(x, y), a, b)):
        total += value
    return float(total)


def tree_axpy(alpha: float, x: dict, y: dict) -> dict:
    """A new tree ``alpha * x + y`` (BLAS's axpy, without mutating ``y``).

    Raises
    ------
    ValueError
        If the trees differ in keys or in any leaf's shape (no broadcasting).
    """
    tree_check_like(y, x, "y", "x")
    return tree_map(lambda xv, yv: alpha * xv + yv, x, y)


def tree_scale(alpha: float, x: dict) -> dict:
    """A new tree ``alpha * x``."""
    return tree_map(lambda v: alpha * v, x)


def tree_zeros_like(tree: dict) -> dict:
    """A tree of zeros with the shapes and dtypes of ``tree``."""
    return tree_map(np.zeros_like, tree)


def tree_random_like(tree: dict, rng) -> dict:
    """A tree of independent standard normal draws, shaped and typed like ``tree``.

    Leaves are drawn in tree order from ``rng`` (a Generator or an int seed), so
    the same seed gives bitwise the same tree.
    """
    rng = as_rng(rng)
    return tree_map(lambda v: rng.standard_normal(np.shape(v)).astype(np.asarray(v).dtype),
                    tree)


def tree_size(tree: dict) -> int:
    """Total number of scalars in the tree."""
    return int(sum(np.size(v) for _, v in tree_leaves(tree)))


def tree_equal(a: dict, b: dict) -> bool:
    """True when both trees have the same keys and bitwise-equal leaves."""
    try:
        flags = tree_map(lambda x, y: bool(np.shape(x) == np.shape(y)
                                           and np.array_equal(x, y)), a, b)
    except ValueError:
        return False
    return all(_leaf_values(flags))


def _leaf_values(tree):
    for _, value in tree_leaves(tree):
        yield value
