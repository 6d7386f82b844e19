"""Parameter trees: nested dicts whose leaves are numpy arrays.

A network's parameters are ``{"fc1": {"W": ..., "b": ...}, "relu": {}, ...}``.
Two trees are combined key by key (the order their dicts were built in does not
matter); their key sets and leaf shapes must agree exactly.

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
>>> [path for path, _ in tree_leaves({"fc1": a, "relu": {}})]
['fc1/W', 'fc1/b']
"""
from __future__ import annotations

from typing import Callable, Iterator, NamedTuple

import numpy as np

__all__ = ["tree_map", "tree_leaves", "tree_get", "tree_replace", "tree_flatten",
           "tree_unflatten", "TreeSpec", "tree_zeros_like", "tree_size", "tree_equal",
           "tree_check_like"]


def tree_map(fn: Callable, tree: dict, *others: dict, _path: str = "") -> dict:
    """Apply ``fn(leaf, *other_leaves)`` leaf by leaf, matching by key; ValueError if keys
    differ.  A 0-d array leaf (``alpha``) stays an array, not the scalar numpy returns."""
    if not isinstance(tree, dict):
        out = fn(tree, *others)
        return np.asarray(out) if isinstance(out, np.generic) and isinstance(
            tree, np.ndarray) else out
    for other in others:
        if not isinstance(other, dict) or set(other) != set(tree):
            theirs = sorted(other) if isinstance(other, dict) else type(other).__name__
            raise ValueError(f"parameter trees differ at '{_path or '/'}': keys "
                             f"{sorted(tree)} against {theirs}")
    return {key: tree_map(fn, value, *(o[key] for o in others), _path=f"{_path}/{key}")
            for key, value in tree.items()}


def tree_get(tree: dict, path: str):
    """The entry at the path ``"a/b/c"`` (as :func:`tree_leaves` names it)."""
    for key in path.split("/"):
        tree = tree[key]
    return tree


def tree_replace(tree: dict, path: str, value) -> dict:
    """A copy of ``tree`` with the entry at ``path`` replaced (copying only the path's dicts)."""
    head, _, rest = path.partition("/")
    return {**tree, head: tree_replace(tree[head], rest, value) if rest else value}


def tree_leaves(tree: dict, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
    """``(path, leaf)`` pairs in the tree's own order; paths join keys with ``/``."""
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            yield from tree_leaves(value, path)
        else:
            yield path, value


class TreeSpec(NamedTuple):
    """What :func:`tree_unflatten` needs: the template tree and each leaf's path, shape, dtype."""

    template: dict
    paths: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[np.dtype, ...]


def tree_flatten(tree: dict) -> tuple[np.ndarray, TreeSpec]:
    """Every leaf raveled, in tree order, in one 1-D vector; and the spec to undo it."""
    leaves = list(tree_leaves(tree))
    vector = np.concatenate([np.ravel(v) for _, v in leaves]) if leaves else np.zeros(0)
    return vector, TreeSpec(tree_map(lambda v: None, tree), tuple(p for p, _ in leaves),
                            tuple(np.shape(v) for _, v in leaves),
                            tuple(np.asarray(v).dtype for _, v in leaves))


def tree_unflatten(spec: TreeSpec, vector: np.ndarray) -> dict:
    """Inverse of :func:`tree_flatten` (copies); ValueError for a vector of the wrong size."""
    vector = np.asarray(vector)
    sizes = [int(np.prod(s)) for s in spec.shapes]
    if vector.shape != (sum(sizes),):
        raise ValueError(f"vector has shape {vector.shape}, expected ({sum(sizes)},) "
                         f"to fill the tree")
    starts = np.cumsum([0] + sizes)
    pieces = {path: vector[a:a + size].reshape(shape).astype(dtype, copy=True) for
              path, shape, dtype, size, a in zip(spec.paths, spec.shapes, spec.dtypes, sizes,
                                                 starts)}

    def fill(template, prefix):
        return {key: fill(value, f"{prefix}{key}/") if isinstance(value, dict)
                else pieces[f"{prefix}{key}"] for key, value in template.items()}

    return fill(spec.template, "")


def tree_check_like(tree: dict, like: dict, name: str = "tree", like_name: str = "like") -> None:
    """ValueError unless ``tree`` has exactly the keys and leaf shapes of ``like`` (else
    leafwise arithmetic could broadcast a ``(3,)`` leaf against a ``(2, 3)`` one)."""
    tree_map(lambda a, b: None, tree, like)
    shapes = {path: np.shape(leaf) for path, leaf in tree_leaves(like)}
    for path, leaf in tree_leaves(tree):
        if np.shape(leaf) != shapes[path]:
            raise ValueError(f"{name} does not match {like_name} at '{path}': shape "
                             f"{np.shape(leaf)}, expected {shapes[path]}")


def tree_zeros_like(tree: dict) -> dict:
    """A tree of zeros with the shapes and dtypes of ``tree``."""
    return tree_map(np.zeros_like, tree)


def tree_size(tree: dict) -> int:
    """Total number of scalars in the tree."""
    return int(sum(np.size(v) for _, v in tree_leaves(tree)))


def tree_equal(a: dict, b: dict) -> bool:
    """True when both trees have the same keys and bitwise-equal leaves."""
    try:
        flags = tree_map(lambda x, y: np.shape(x) == np.shape(y) and np.array_equal(x, y), a, b)
    except ValueError:
        return False
    return all(v for _, v in tree_leaves(flags))
