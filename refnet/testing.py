"""The public gradient checker: small named checks that :func:`check_layer` composes.

Each check takes a layer, a float64 point ``(x, params)`` and a source of random directions
and returns a :class:`GradCheckReport`, one row per quantity.  Projecting on random directions,
as HIPS/autograd and JAX do, tests a whole Jacobian for a few passes.  Errors are relative
(:func:`relative_error`, :func:`inner_product_error`); a NaN or an inf makes one infinite.  A
finite difference is judged no closer than its rounding noise ``FD_ROUNDING * sum|v * f| / h``
allows; a pass within the noise carries the note :data:`BELOW_RESOLUTION`.

Examples
--------
>>> import numpy as np
>>> from refnet.layers import Linear
>>> x = np.random.default_rng(0).standard_normal((4, 3))
>>> check_layer(Linear(3, 2), x, seed=0).passed
True
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Sequence

import numpy as np

from ._checks import as_rng, check_positive_int
from .core.layer import Layer
from .core.tree import tree_get, tree_leaves, tree_map, tree_replace

__all__ = ["TOLERANCES", "CHECKS", "CheckResult", "GradCheckReport", "GradientCheckError",
           "check_layer", "check_structure", "check_vjp_fd", "check_jvp_fd",
           "check_consistency", "check_adjoint", "check_batched", "check_value_and_grad",
           "full_jacobians", "perturbed_params", "relative_error", "inner_product_error",
           "away_from_zero", "distinct_values"]

#: Relative tolerances, one per check: central differences in float64 with h = 1e-6
#: are accurate to about 1e-9; the exact checks see only rounding.
TOLERANCES: dict[str, float] = {"vjp_fd": 1e-6, "jvp_fd": 1e-6, "consistency": 1e-11,
                                "adjoint": 1e-11, "batched": 1e-12, "structure": 0.0}
FD_STEP = 1e-6
#: Relative rounding error assumed per output entry (the specimens reached 24 eps).
FD_ROUNDING = 100 * np.finfo(np.float64).eps
BELOW_RESOLUTION = "below FD resolution"
_TINY = np.finfo(np.float64).tiny


class GradientCheckError(AssertionError):
    """Raised by a failed check when ``raise_on_failure=True``."""


class CheckResult(NamedTuple):
    """One row of a report: one check of one quantity of one layer."""

    layer: str
    check: str
    param: str
    rel_error: float
    tol: float
    note: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.rel_error <= self.tol)


@dataclass
class GradCheckReport:
    """Rows of :class:`CheckResult`; ``passed`` when there are some and all pass."""

    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def worst(self, check: str | None = None) -> float:
        """The largest relative error (of one check, or of all)."""
        return max((r.rel_error for r in self.results if check in (None, r.check)), default=0.0)

    def raise_if_failed(self) -> None:
        """Raise :class:`GradientCheckError` listing the failures, if any."""
        if not self.passed:
            lines = self.failures or ["no check ran"]
            raise GradientCheckError("gradient check failed:\n" + "\n".join(map(str, lines)))

    def __str__(self) -> str:
        rows = [("layer", "check", "param", "rel_error", "tol", "passed")] + [
            (r.layer, r.check, r.param, f"{r.rel_error:.2e}", f"{r.tol:.0e}",
             ("yes" if r.passed else "NO") + (f" ({r.note})" if r.note else ""))
            for r in self.results]
        widths = [max(len(row[c]) for row in rows) for c in range(6)]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                         for row in rows)


def relative_error(a, b, floor: float = _TINY) -> float:
    """``max|a - b| / max(max|a|, max|b|, floor)``; ``inf`` if either holds a NaN or an inf."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return np.inf
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0), floor, _TINY)
    return float(np.max(np.abs(a - b), initial=0.0) / scale)


def inner_product_error(a_terms, b_terms, floor: float = _TINY) -> float:
    """``|sum(a_terms) - sum(b_terms)|`` over the larger SUM OF ABSOLUTE TERMS (or ``floor``),
    where rounding lives, so an inner product that cancels to near zero is not inflated.
    Terms are arrays or tuples of arrays; a NaN or an inf gives ``inf``."""
    a, b = (np.concatenate([np.ravel(t) for t in _parts(terms)]) for terms in (a_terms, b_terms))
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return np.inf
    return float(abs(a.sum() - b.sum()) / max(np.abs(a).sum(), np.abs(b).sum(), floor, _TINY))


def away_from_zero(rng, shape, margin: float = 0.1) -> np.ndarray:
    """Random values with ``margin <= |v| <= 1 + margin``: inputs for layers with a kink at 0."""
    rng = as_rng(rng)
    return rng.choice([-1.0, 1.0], size=shape) * (margin + rng.random(shape))


def distinct_values(rng, shape, gap: float = 0.1) -> np.ndarray:
    """Random values any two of which differ by at least ``gap`` (inputs for ``MaxPool2d``):
    a permutation of ``2 * gap * k``, centred on zero, plus noise in ``[-gap/2, gap/2)``.

    >>> v = distinct_values(0, (3, 4), gap=0.1)
    >>> bool(np.min(np.diff(np.sort(v.ravel()))) >= 0.1)
    True
    """
    rng = as_rng(rng)
    if isinstance(gap, bool) or not isinstance(gap, numbers.Real) or not 0 < gap < np.inf:
        raise ValueError(f"distinct_values: gap must be a positive finite number, got {gap!r}")
    size = int(np.prod(shape))
    ranks = rng.permutation(size) - (size - 1) / 2
    return (2 * gap * ranks + rng.uniform(-gap / 2, gap / 2, size)).reshape(shape)


def perturbed_params(layer: Layer, rng, scale: float = 0.3) -> dict:
    """``layer.init(rng)`` plus N(0, scale^2) noise on every parameter: the checker's
    default point, where no parameter sits at 0 or 1 to hide a dropped term or factor."""
    rng = as_rng(rng)
    return tree_map(lambda w: w + scale * rng.standard_normal(np.shape(w)), layer.init(rng))


# -- x is an array, or a tuple of arrays for a merge layer (n_inputs is None) ---------------
def _parts(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _like(parts, layer):
    return tuple(parts) if layer.n_inputs is None else parts[0]


def _random_like(rng, x, layer, lead=()):
    return _like([rng.standard_normal(lead + np.shape(p)) for p in _parts(x)], layer)


def _same_shapes(got, want) -> bool:
    # an x_bar without the batch axis of a batch of one would broadcast to the right number
    got, want = _parts(got), _parts(want)
    return len(got) == len(want) and all(np.shape(g) == np.shape(w) for g, w in zip(got, want))


def _report(layer, name, check, tol, errors: dict) -> GradCheckReport:
    """One row per ``errors`` item, ``quantity: error`` or ``quantity: (error, note)``."""
    tol = TOLERANCES[check] if tol is None else float(tol)
    return GradCheckReport([CheckResult(name or type(layer).__name__, check, q, float(e), tol,
                                        note) for q, (e, note) in
                            ((q, e if isinstance(e, tuple) else (e, "")) for q, e in
                             errors.items())])


def _require_float64(name: str, value) -> None:
    if np.asarray(value).dtype != np.float64:
        raise TypeError(f"gradient checks run in float64, but {name} has dtype "
                        f"{np.asarray(value).dtype}; pass {name}.astype(np.float64)")


def _fd_error(f: Callable, v, terms, step: float, tol: float):
    """``(error, note)`` of ``<v, (f(h) - f(-h)) / (2 h)>`` against ``sum(terms)``, no
    closer than the rounding noise ``FD_ROUNDING * sum|v * f(h)| / h`` (None: a wrong shape)."""
    if terms is None:
        return np.inf, ""
    plus, minus = np.asarray(f(step)), np.asarray(f(-step))
    fd_terms = v * (plus - minus) / (2 * step)
    floor = FD_ROUNDING * float(np.sum(np.abs(v * plus))) / (step * tol) if tol > 0 else _TINY
    err = inner_product_error(fd_terms, terms, floor)
    blind = np.isfinite(err) and floor > max(np.sum(np.abs(fd_terms)), np.sum(np.abs(terms)))
    return err, BELOW_RESOLUTION if blind else ""


# -- the checks -----------------------------------------------------------------------------
def _structure_problems(params: dict, params_bar) -> list[str]:
    if not isinstance(params_bar, dict):
        return [f"params_bar is {type(params_bar).__name__}, expected a dict"]
    got, want = dict(tree_leaves(params_bar)), dict(tree_leaves(params))
    problems = [] if set(got) == set(want) else [f"keys {sorted(got)} != {sorted(want)}"]
    for path in sorted(set(got) & set(want)):
        g, w = np.asarray(got[path]), np.asarray(want[path])
        problems += [f"{path}: {what} {a} != {b}" for what, a, b in
                     (("shape", g.shape, w.shape), ("dtype", g.dtype, w.dtype)) if a != b]
    return problems


def check_structure(layer: Layer, x, params: dict, rng=0, *, tol=None, name=None):
    """``params_bar`` has exactly the keys, shapes and dtypes of ``params``."""
    y, cache = layer.forward(params, x)
    problems = _structure_problems(params, layer.vjp(params, cache, np.ones_like(y))[1])
    return _report(layer, name, "structure", tol,
                   {"params_bar": (float(bool(problems)), "; ".join(problems))})


def check_vjp_fd(layer: Layer, x, params: dict, rng=0, *, tol=None, step=FD_STEP, name=None):
    """``<v, (f(w + h u) - f(w - h u)) / (2 h)>`` against ``<vjp(v)[w], u>`` for each input
    and each parameter ``w`` alone; rows ``x`` (``x0``, ``x1``, ... when merging) and paths."""
    rng, tol = as_rng(rng), TOLERANCES["vjp_fd"] if tol is None else tol
    y, cache = layer.forward(params, x)
    v = rng.standard_normal(np.shape(y))
    x_bar, params_bar = layer.vjp(params, cache, v)
    xs, errors = _parts(x), {}
    for i, part in enumerate(xs):
        u = rng.standard_normal(part.shape)
        moved = lambda t: layer(params, _like(xs[:i] + (part + t * u,) + xs[i + 1:], layer))
        terms = _parts(x_bar)[i] * u if _same_shapes(x_bar, x) else None
        errors["x" if layer.n_inputs else f"x{i}"] = _fd_error(moved, v, terms, step, tol)
    for path, w in tree_leaves(params):
        u = rng.standard_normal(np.shape(w))
        moved = lambda t: layer(tree_replace(params, path, np.asarray(w + t * u)), x)
        errors[path] = _fd_error(moved, v, tree_get(params_bar, path) * u, step, tol)
    return _report(layer, name, "vjp_fd", tol, errors)


def check_jvp_fd(layer: Layer, x, params: dict, rng=0, *, tol=None, step=FD_STEP, name=None):
    """The JVP against central differences ``(f(x + h u) - f(x - h u)) / (2 h)``, as vectors."""
    rng, tol = as_rng(rng), TOLERANCES["jvp_fd"] if tol is None else tol
    y, cache = layer.forward(params, x)
    u = _random_like(rng, x, layer)
    y_dot = layer.jvp(params, cache, u)
    plus, minus = (np.asarray(layer(params, _like([p + t * d for p, d in zip(
        _parts(x), _parts(u))], layer))) for t in (step, -step))
    floor = FD_ROUNDING * float(np.max(np.abs(plus), initial=0.0)) / (step * tol) \
        if tol > 0 else _TINY
    err = relative_error(y_dot, (plus - minus) / (2 * step), floor) \
        if np.shape(y_dot) == np.shape(y) else np.inf
    return _report(layer, name, "jvp_fd", tol, {"x" if layer.n_inputs else "x*": err})


def _against_vjp(layer, x, params, rng, apply) -> float:
    """``inner_product_error`` of ``<v, apply(cache, u)>`` and ``<vjp(v), u>``, random v, u."""
    y, cache = layer.forward(params, x)
    v, u = rng.standard_normal(np.shape(y)), _random_like(rng, x, layer)
    x_bar, y_u = layer.vjp(params, cache, v)[0], apply(cache, u)
    if not (_same_shapes(x_bar, x) and np.shape(y_u) == np.shape(y)):
        return np.inf
    return inner_product_error(v * y_u, tuple(np.asarray(a) * b for a, b in zip(
        _parts(x_bar), _parts(u))))


def check_consistency(layer: Layer, x, params: dict, rng=0, *, tol=None, name=None):
    """``<v, jvp(u)>`` against ``<vjp(v), u>``: the two modes agree, no finite differences."""
    err = _against_vjp(layer, x, params, as_rng(rng), lambda c, u: layer.jvp(params, c, u))
    return _report(layer, name, "consistency", tol, {"x" if layer.n_inputs else "x*": err})


def check_adjoint(layer: Layer, x, params: dict, rng=0, *, tol=None, name=None):
    """For ``f`` affine in ``x`` (else a ValueError): ``<v, f(u) - f(0)>`` against
    ``<vjp(v), u>``, the forward map against its transpose."""
    if not layer.is_linear:
        raise ValueError(f"check_adjoint: {type(layer).__name__} is not affine in its input "
                         f"(layer.is_linear is False)")
    zero = _like([np.zeros_like(p) for p in _parts(x)], layer)
    err = _against_vjp(layer, x, params, as_rng(rng),
                       lambda c, u: layer(params, u) - layer(params, zero))
    return _report(layer, name, "adjoint", tol, {"x" if layer.n_inputs else "x*": err})


def check_batched(layer: Layer, x, params: dict, rng=0, *, tol=None, name=None):
    """Two cotangents (tangents) on a leading axis in one call equal two separate calls;
    ``need_params=False`` gives the same ``x_bar`` and ``None``."""
    rng = as_rng(rng)
    y, cache = layer.forward(params, x)
    v, u = rng.standard_normal((2,) + np.shape(y)), _random_like(rng, x, layer, lead=(2,))
    x_bar, params_bar = layer.vjp(params, cache, v)
    x_only, none = layer.vjp(params, cache, v, need_params=False)
    errors = [float(none is not None)] + ([relative_error(a, b) for a, b in zip(
        _parts(x_only), _parts(x_bar))] if _same_shapes(x_only, x_bar) else [np.inf])

    def row(stacked, single, k):    # inf unless ``stacked`` is ``(2, *single.shape)``
        stacked = np.asarray(stacked)
        return relative_error(stacked[k], single) if stacked.shape == (2,) + np.shape(
            single) else np.inf

    y_dot, jvp_errors = layer.jvp(params, cache, u), []
    stacked = list(_parts(x_bar)) + [tree_get(params_bar, p) for p, _ in tree_leaves(params)]
    for k in range(2):
        x_bar_k, params_bar_k = layer.vjp(params, cache, v[k])
        single = list(_parts(x_bar_k)) + [tree_get(params_bar_k, p) for p, _ in
                                          tree_leaves(params)]
        errors += [row(a, b, k) for a, b in zip(stacked, single)] \
            if len(stacked) == len(single) else [np.inf]
        y_dot_k = layer.jvp(params, cache, _like([p[k] for p in _parts(u)], layer))
        jvp_errors.append(row(y_dot, y_dot_k, k))
    return _report(layer, name, "batched", tol,
                   {"x_bar+params_bar": max(errors), "y_dot": max(jvp_errors)})


#: The checks of :func:`check_layer`, in report order.
CHECKS: dict[str, Callable] = {"structure": check_structure, "vjp_fd": check_vjp_fd,
                               "jvp_fd": check_jvp_fd, "consistency": check_consistency,
                               "adjoint": check_adjoint, "batched": check_batched}


def _worse(a: CheckResult | None, b: CheckResult) -> CheckResult:
    """The row with the larger error; a note of either is kept."""
    return b if a is None else (a if a.rel_error >= b.rel_error else b)._replace(
        note=a.note or b.note)


def check_layer(layer: Layer, x, params: dict | None = None, *, seed=0,
                n_directions: int = 2, tol: dict | None = None, step: float = FD_STEP,
                checks: Sequence[str] | None = None, name: str | None = None,
                raise_on_failure: bool = False) -> GradCheckReport:
    """Run the :data:`CHECKS` of ``layer`` at ``(x, params)``; keep each quantity's worst error.

    ``x`` is a float64 input (B, ...), B >= 1, a tuple for a merge layer.  ``params``
    (float64) defaults to :func:`perturbed_params`, NOT ``layer.init``: at ``init`` a DCTpS
    layer has ``alpha = 1``, ``S = 0``, ``b = 0``, which hide a dropped factor ``alpha`` or a
    stray bias.  ``seed`` draws that point and every direction.  Checks that draw directions
    run ``n_directions`` times, ``adjoint`` only when ``layer.is_linear``; a failed
    ``structure`` check stops the rest.  ``tol`` overrides :data:`TOLERANCES` by check name,
    ``checks`` picks some of :data:`CHECKS`, ``name`` names the layer in the report (default
    its class); ``raise_on_failure`` raises :class:`GradientCheckError` for a failure.

    TypeError for a ``layer`` that is not a :class:`~refnet.core.layer.Layer` or an ``x``
    or parameter not float64 (refnet never promotes silently); ValueError for unknown check
    names or an empty input.
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"check_layer: layer must be a refnet Layer, got {layer!r}")
    rng = as_rng(seed)
    check_positive_int("n_directions", n_directions, "check_layer")
    selected = list(CHECKS) if checks is None else list(checks)
    for arg, names in (("tol", tol or {}), ("checks", selected)):
        if set(names) - set(CHECKS):
            raise ValueError(f"{arg} has unknown check names {sorted(set(names) - set(CHECKS))}"
                             f"; known: {list(CHECKS)}")
    for i, part in enumerate(_parts(x)):
        where = "x" if layer.n_inputs is not None else f"x[{i}]"
        _require_float64(where, part)
        if np.size(part) == 0:
            raise ValueError(f"check_layer: {where} has shape {np.shape(part)}, an empty "
                             f"batch; a check of no example would check nothing")
    params = perturbed_params(layer, rng) if params is None else params
    for path, leaf in tree_leaves(params):
        _require_float64(f"params[{path!r}]", leaf)
    tols = dict(TOLERANCES, **(tol or {}))
    worst: dict[tuple[str, str], CheckResult] = {}
    for check, run in CHECKS.items():
        if check not in selected or (check == "adjoint" and not layer.is_linear):
            continue
        options = {"step": step} if check.endswith("_fd") else {}
        for _ in range(n_directions if check not in ("structure", "batched") else 1):
            for r in run(layer, x, params, rng, tol=tols[check], name=name, **options).results:
                worst[check, r.param] = _worse(worst.get((check, r.param)), r)
        if check == "structure" and not worst["structure", "params_bar"].passed:
            break
    report = GradCheckReport(list(worst.values()))
    if raise_on_failure:
        report.raise_if_failed()
    return report


def full_jacobians(layer: Layer, params: dict, x: np.ndarray, step: float = FD_STEP):
    """The Jacobian ``d y / d x`` (shape ``(y.size, x.size)``) two ways, for teaching:
    ``exact`` is ONE ``vjp`` call on the identity as a leading axis of length ``y.size``;
    column ``j`` of ``fd`` is ``(f(x + h e_j) - f(x - h e_j)) / (2 h)``.

    >>> from refnet.layers import Tanh
    >>> exact, fd = full_jacobians(Tanh(), {}, np.array([[0.5, -1.0]]))
    >>> bool(np.allclose(exact, fd, atol=1e-8))
    True
    """
    if layer.n_inputs != 1:
        raise ValueError("full_jacobians: layer must take one input")
    x = np.asarray(x)
    _require_float64("x", x)
    y, cache = layer.forward(params, x)
    eye = np.eye(y.size).reshape((y.size,) + y.shape)
    exact = np.asarray(layer.vjp(params, cache, eye, need_params=False)[0]).reshape(y.size, -1)
    fd = np.empty((y.size, x.size))
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = step
        plus, minus = (layer(params, x + s * e.reshape(x.shape)) for s in (1, -1))
        fd[:, j] = (np.ravel(plus) - np.ravel(minus)) / (2 * step)
    return exact, fd


def check_value_and_grad(fun: Callable, point: dict, *, seed=0, n_directions: int = 2,
                         tol: float | None = None, step: float = FD_STEP,
                         name: str = "function", raise_on_failure: bool = False
                         ) -> GradCheckReport:
    """Check ``fun(point) -> (value, grad)`` (``grad`` a tree like ``point``, float64) against
    central differences: a ``"grad_fd"`` row per leaf, or one failed ``"structure"`` row."""
    rng, tol = as_rng(seed), TOLERANCES["vjp_fd"] if tol is None else float(tol)
    for path, leaf in tree_leaves(point):
        _require_float64(f"point[{path!r}]", leaf)
    grad, rows = fun(point)[1], {}
    problems = _structure_problems(point, grad)
    for path, leaf in [] if problems else tree_leaves(point):
        for _ in range(n_directions):
            u = rng.standard_normal(np.shape(leaf))
            value = lambda t: float(fun(tree_replace(point, path, np.asarray(leaf + t * u)))[0])
            err, note = _fd_error(value, 1.0, tree_get(grad, path) * u, step, tol)
            rows[path] = _worse(rows.get(path), CheckResult(name, "grad_fd", path, err, tol, note))
    report = GradCheckReport([CheckResult(name, "structure", "grad", 1.0, 0.0, "; ".join(
        problems))] if problems else list(rows.values()))
    if raise_on_failure:
        report.raise_if_failed()
    return report
