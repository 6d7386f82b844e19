"""The public gradient checker.

Every derivative in refnet is written by hand, so every derivative is checked
here, always in float64, in four independent ways (the first four below), and
the layer contract by two more checks:

``vjp_fd``
    Reverse mode against central finite differences.  For a random cotangent
    ``v`` and a random direction ``u`` (of the input, or of one parameter at a
    time) it compares ``<v, (f(w + h u) - f(w - h u)) / (2 h)>`` with
    ``<vjp(v), u>``.  Projecting on random directions (as HIPS/autograd and
    JAX do) tests the whole Jacobian at the cost of two forward passes.
``jvp_fd``
    Forward mode against the same finite differences, as whole vectors.
``consistency``
    ``<v, jvp(u)>`` against ``<vjp(v), u>``: no finite differences, so the
    two hand-written derivatives must agree to rounding error.
``adjoint``
    For a layer that is affine in its input (``layer.is_linear``), the forward
    map itself against its transpose: ``<v, f(u) - f(0)>`` against
    ``<vjp(v), u>``, again exact up to rounding.
``batched``
    The layer contract lets tangents carry leading axes; a call with a stack of
    two cotangents (tangents) must equal two separate calls.
``structure``
    ``params_bar`` must have exactly the keys, shapes and dtypes of ``params``.

Errors are relative.  Two arrays are compared as ``max|a - b| / max(max|a|,
max|b|, floor)`` (:func:`relative_error`); two inner products as ``|a - b|``
over the larger sum of absolute terms (:func:`inner_product_error`), the scale
at which their rounding and truncation errors live.  A NaN or an infinity in
either side makes the error infinite: it fails every tolerance, and the worst
of several errors stays infinite (``max(0.0, nan)`` would be 0.0).  For the exact checks
``floor`` is the smallest normal float.  For finite differences it is
``noise / tol``, where ``noise = FD_ROUNDING * sum|v * f| / h`` bounds the
rounding noise of the difference quotient (each output entry rounded to
about ``FD_ROUNDING`` relative, the difference divided by ``2 h``).  So a
discrepancy within that noise passes however small the derivative is (a
saturated ``tanh``, a derivative that is truly zero), and anything larger
fails: the check is as strict as float64 finite differences allow, no more.
A result whose derivative was below that floor carries the note
:data:`BELOW_RESOLUTION`: there a finite difference cannot see a 1% error
(the exact ``consistency`` check still covers the input derivative).
The tolerances are one table, :data:`TOLERANCES`; a caller may override any
entry.

Examples
--------
>>> import numpy as np
>>> from refnet.layers import Linear
>>> layer = Linear(3, 2)
>>> x = np.random.default_rng(0).standard_normal((4, 3))
>>> report = check_layer(layer, x, seed=0)
>>> report.passed
True
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ._checks import as_rng
from .core.layer import Layer
from .core.tree import tree_get, tree_leaves, tree_replace

__all__ = ["TOLERANCES", "CheckResult", "GradCheckReport", "GradientCheckError",
           "check_layer", "check_value_and_grad", "full_jacobians", "relative_error",
           "inner_product_error", "away_from_zero", "distinct_values"]

#: Default tolerances (relative errors), one per check.  Central differences in
#: float64 with h = 1e-6 are accurate to about 1e-9 relative on smooth
#: functions; the exact checks only see rounding.
TOLERANCES: dict[str, float] = {
    "vjp_fd": 1e-6,
    "jvp_fd": 1e-6,
    "consistency": 1e-11,
    "adjoint": 1e-11,
    "batched": 1e-12,
    "jacobian_fd": 1e-6,
    "structure": 0.0,
}

#: Step of the central differences.
FD_STEP = 1e-6

#: Relative rounding error assumed for each evaluated output entry: the finite
#: difference noise is taken as ``FD_ROUNDING * sum|v * f| / h``.  Measured on
#: the layer registry, the real noise reached 24 eps (sums that cancel, as in
#: ``Add`` and ``AvgPool2d``), so 100 eps leaves a margin.
FD_ROUNDING = 100 * np.finfo(np.float64).eps

#: The note on a finite-difference result whose derivative was smaller than the
#: noise floor: it was checked to within the rounding noise, not to ``tol``.
BELOW_RESOLUTION = "below FD resolution"

_TINY = np.finfo(np.float64).tiny


class GradientCheckError(AssertionError):
    """Raised by a failed check when ``raise_on_failure=True``."""


@dataclass(frozen=True)
class CheckResult:
    """One line of a report: one check of one quantity of one layer."""

    layer: str
    check: str
    param: str
    rel_error: float
    tol: float
    note: str = ""

    @property
    def passed(self) -> bool:
        """True when ``rel_error <= tol``."""
        return bool(self.rel_error <= self.tol)


@dataclass
class GradCheckReport:
    """The results of :func:`check_layer`: one :class:`CheckResult` per line."""

    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every check passed (and at least one ran)."""
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        """The results that did not pass, in report order."""
        return [r for r in self.results if not r.passed]

    def worst(self, check: str | None = None) -> float:
        """The largest relative error (of one check, or of all)."""
        errors = [r.rel_error for r in self.results if check is None or r.check == check]
        return max(errors) if errors else 0.0

    def extend(self, other: "GradCheckReport") -> "GradCheckReport":
        """Append ``other``'s results to this report; returns this report."""
        self.results.extend(other.results)
        return self

    def raise_if_failed(self) -> None:
        """Raise :class:`GradientCheckError` listing the failures, if any."""
        if not self.passed:
            lines = self.failures or ["no check ran"]
            raise GradientCheckError("gradient check failed:\n" + "\n".join(map(str, lines)))

    def __str__(self) -> str:
        rows = [("layer", "check", "param", "rel_error", "tol", "passed")]
        for r in self.results:
            rows.append((r.layer, r.check, r.param, f"{r.rel_error:.2e}", f"{r.tol:.0e}",
                         ("yes" if r.passed else "NO") + (f" ({r.note})" if r.note else "")))
        widths = [max(len(row[c]) for row in rows) for c in range(6)]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                         for row in rows)


def relative_error(a, b, floor: float = _TINY) -> float:
    """``max|a - b| / max(max|a|, max|b|, floor)`` (scalars or arrays).

    The scale never drops below the smallest normal float, so two zero arrays
    have error 0 whatever the ``floor``.  A NaN or an infinity in ``a`` or
    ``b`` gives ``inf``.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return np.inf
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)),
                floor, _TINY)
    return float(np.max(np.abs(a - b), initial=0.0)) / scale


def inner_product_error(a_terms, b_terms, floor: float = _TINY) -> float:
    """Disagreement of two inner products, given their elementwise terms.

    ``a = sum(a_terms)`` and ``b = sum(b_terms)`` (for example ``v * (J u)``
    and ``(J^T v) * u``).  The error is ``|a - b|`` divided by the larger SUM
    OF ABSOLUTE TERMS: that is the scale at which the rounding of a sum and the
    entrywise truncation of finite differences live, so a random inner product
    that happens to cancel to near zero does not inflate the error.  A wrong
    derivative still shows: a 1% error in ``J^T v`` moves ``b`` by about 1% of
    ``|b|``, which is of order ``1 / sqrt(size)`` of the scale.  The scale
    never drops below the smallest normal float (two zero sums agree exactly).
    A NaN or an infinity among the terms gives ``inf``.
    """
    a_terms = np.concatenate([np.ravel(t) for t in _as_tuple(a_terms)])
    b_terms = np.concatenate([np.ravel(t) for t in _as_tuple(b_terms)])
    if not (np.all(np.isfinite(a_terms)) and np.all(np.isfinite(b_terms))):
        return np.inf
    scale = max(float(np.sum(np.abs(a_terms))), float(np.sum(np.abs(b_terms))), floor, _TINY)
    return abs(float(np.sum(a_terms)) - float(np.sum(b_terms))) / scale


def away_from_zero(rng, shape, margin: float = 0.1) -> np.ndarray:
    """Random values with ``margin <= |v| <= 1 + margin`` and random signs.

    An input sampler for layers with a kink at zero (ReLU and friends): finite
    differences with a step far below ``margin`` never cross the kink.
    """
    rng = as_rng(rng)
    return rng.choice([-1.0, 1.0], size=shape) * (margin + rng.random(shape))


def distinct_values(rng, shape, gap: float = 0.1) -> np.ndarray:
    """Random values of which any two differ by at least ``gap``.

    An input sampler for layers whose derivative jumps where two entries tie
    (``MaxPool2d``): finite differences with a step far below ``gap`` never
    swap a window's winner.  The values are a random permutation of
    ``2 * gap * k`` (``k = 0, 1, ...``, centred on zero) plus uniform noise
    in ``[-gap / 2, gap / 2)``, so they are spread over
    ``[-gap * size, gap * size]``.

    Examples
    --------
    >>> import numpy as np
    >>> v = distinct_values(0, (3, 4), gap=0.1)
    >>> bool(np.min(np.diff(np.sort(v.ravel()))) >= 0.1)
    True
    """
    rng = as_rng(rng)
    if isinstance(gap, bool) or not isinstance(gap, numbers.Real) or not 0 < gap < np.inf:
        raise ValueError(f"distinct_values: gap must be a positive finite number, got {gap!r}")
    size = int(np.prod(shape))
    ranks = rng.permutation(size) - (size - 1) / 2
    noise = rng.uniform(-gap / 2, gap / 2, size)
    return (2 * gap * ranks + noise).reshape(shape)


# -- helpers over "inputs", which are an array or a tuple of arrays ------------------
def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _like_x(parts: tuple, merge: bool):
    return tuple(parts) if merge else parts[0]


def _products(a, b) -> tuple:
    return tuple(np.asarray(p) * np.asarray(q) for p, q in zip(_as_tuple(a), _as_tuple(b)))


def _require_float64(name: str, value) -> None:
    dtype = np.asarray(value).dtype
    if dtype != np.float64:
        raise TypeError(f"gradient checks run in float64, but {name} has dtype {dtype}; "
                        f"pass {name}.astype(np.float64)")


def _replace_leaf(tree: dict, path: str, value) -> dict:
    # np.asarray: arithmetic on a 0-d parameter gives a numpy scalar, not an array
    return tree_replace(tree, path, np.asarray(value))


def _noise_floor(magnitude: float, step: float, tol: float) -> float:
    """The scale below which a finite difference cannot resolve a derivative.

    ``FD_ROUNDING * magnitude / step`` is the rounding noise of a difference
    quotient of outputs of size ``magnitude``; dividing by ``tol`` turns it
    into a scale, so an error divided by ``max(scale, floor)`` passes exactly
    when the discrepancy is within the noise or within ``tol`` relative.
    """
    return FD_ROUNDING * magnitude / (step * tol) if tol > 0 else _TINY


def _central_difference(f: Callable, h: float):
    """``(f(+h) - f(-h)) / (2 h)`` of an array-valued ``f`` of a scalar, and ``f(+h)``.

    ``f(+h)`` sets the scale of the rounding noise (:func:`_noise_floor`).
    """
    plus, minus = f(h), f(-h)
    return (plus - minus) / (2 * h), plus


def check_layer(layer: Layer, x, params: dict | None = None, *, seed=0,
                n_directions: int = 2, tol: dict | None = None, step: float = FD_STEP,
                checks: Sequence[str] | None = None, name: str | None = None,
                raise_on_failure: bool = False) -> GradCheckReport:
    """Check every hand-written derivative of ``layer`` at the point ``(params, x)``.

    Parameters
    ----------
    layer : Layer
    x : ndarray or tuple of ndarray
        float64 input of shape (B, ...); a tuple for a merge layer.
    params : dict, optional
        float64 parameters; default ``layer.init(seed)``.
    seed : int or numpy.random.Generator
        Source of the random directions and cotangents.
    n_directions : int, default 2
        Random directions per quantity; the report keeps the worst.
    tol : dict, optional
        Overrides of :data:`TOLERANCES`, by check name.
    step : float, default 1e-6
        Step ``h`` of the central differences.
    checks : sequence of str, optional
        Subset of ``("structure", "vjp_fd", "jvp_fd", "consistency", "adjoint",
        "batched")``; default all that apply.
    name : str, optional
        Layer name in the report; default the class name.
    raise_on_failure : bool, default False
        Raise :class:`GradientCheckError` instead of returning a failing report.

    Returns
    -------
    GradCheckReport

    Raises
    ------
    TypeError
        If ``x`` or a parameter is not float64 (float32 differences are too
        coarse to check anything; refnet does not promote silently).
    """
    rng = as_rng(seed)
    tols = dict(TOLERANCES, **(tol or {}))
    unknown = set(tol or {}) - set(TOLERANCES)
    if unknown:
        raise ValueError(f"tol has unknown check names {sorted(unknown)}; "
                         f"known: {sorted(TOLERANCES)}")
    all_checks = ("structure", "vjp_fd", "jvp_fd", "consistency", "adjoint", "batched")
    checks = all_checks if checks is None else tuple(checks)
    bad = set(checks) - set(all_checks)
    if bad:
        raise ValueError(f"checks has unknown names {sorted(bad)}; known: {list(all_checks)}")
    merge = layer.n_inputs is None
    xs = tuple(np.asarray(p) for p in _as_tuple(x))
    for i, part in enumerate(xs):
        _require_float64("x" if not merge else f"x[{i}]", part)
    if params is None:
        params = layer.init(rng)
    for path, leaf in tree_leaves(params):
        _require_float64(f"params[{path!r}]", leaf)
    label = name or type(layer).__name__
    report = GradCheckReport()
    x_names = ["x"] if not merge else [f"x{i}" for i in range(len(xs))]
    param_paths = [p for p, _ in tree_leaves(params)]

    def add(check, param, err, note=""):
        report.results.append(CheckResult(label, check, param, float(err), tols[check], note))

    def run(p, parts):
        return layer.forward(p, _like_x(parts, merge))

    y, cache = run(params, xs)
    y = np.asarray(y)

    if "structure" in checks:
        _, p_bar = layer.vjp(params, cache, np.ones_like(y))
        problems = _structure_problems(params, p_bar)
        add("structure", "params_bar", 1.0 if problems else 0.0, "; ".join(problems))
        if problems:
            if raise_on_failure:
                report.raise_if_failed()
            return report

    worst: dict[tuple[str, str], float] = {}

    limited: set[tuple[str, str]] = set()

    def keep(check, param, err):
        worst[(check, param)] = max(worst.get((check, param), 0.0), err)

    def keep_fd(param, a_terms, b_terms, floor):
        err = inner_product_error(a_terms, b_terms, floor)
        keep("vjp_fd", param, err)
        if np.isfinite(err) and floor > max(np.sum(np.abs(a_terms)), np.sum(np.abs(b_terms))):
            limited.add(("vjp_fd", param))

    for _ in range(n_directions):
        v = rng.standard_normal(y.shape)
        x_bar, p_bar = layer.vjp(params, cache, v)
        x_bar = _as_tuple(x_bar)
        u_x = tuple(rng.standard_normal(p.shape) for p in xs)
        jvp_u = np.asarray(layer.jvp(params, cache, _like_x(u_x, merge)))
        # a derivative of the wrong shape is wrong, even where broadcasting would let its
        # products come out right (an x_bar without the batch axis of a batch of one)
        bad_x, bad_y = _shapes_differ(x_bar, xs), _shapes_differ(jvp_u, y)
        # finite differences along the input direction (all inputs at once)
        fd, y_plus = _central_difference(
            lambda t: np.asarray(run(params, tuple(p + t * d for p, d in zip(xs, u_x)))[0]), step)
        if "vjp_fd" in checks:
            for i, x_name in enumerate(x_names):   # each input on its own
                fd_i, y_plus_i = _central_difference(lambda t: np.asarray(run(params, tuple(
                    p + t * d if j == i else p for j, (p, d) in enumerate(zip(xs, u_x))))[0]),
                    step) if merge else (fd, y_plus)
                floor_i = _noise_floor(float(np.sum(np.abs(v * y_plus_i))), step,
                                       tols["vjp_fd"])
                if bad_x:
                    keep("vjp_fd", x_name, np.inf)
                else:
                    keep_fd(x_name, v * fd_i, x_bar[i] * u_x[i], floor_i)
        if "jvp_fd" in checks:
            vec_floor = _noise_floor(float(np.max(np.abs(y_plus), initial=0.0)), step,
                                     tols["jvp_fd"])
            keep("jvp_fd", "x" if not merge else "x*",
                 np.inf if bad_y else relative_error(jvp_u, fd, vec_floor))
        if "consistency" in checks:
            keep("consistency", "x" if not merge else "x*", np.inf if bad_x or bad_y
                 else inner_product_error(v * jvp_u, _products(x_bar, u_x)))
        if "vjp_fd" in checks:
            for path in param_paths:
                w = tree_get(params, path)
                u = rng.standard_normal(np.shape(w))
                fd_p, y_plus = _central_difference(
                    lambda t: np.asarray(run(_replace_leaf(params, path, w + t * u), xs)[0]),
                    step)
                floor = _noise_floor(float(np.sum(np.abs(v * y_plus))), step, tols["vjp_fd"])
                keep_fd(path, v * fd_p, tree_get(p_bar, path) * u, floor)
        if "adjoint" in checks and layer.is_linear:
            u_a = tuple(rng.standard_normal(p.shape) for p in xs)
            zero = tuple(np.zeros_like(p) for p in xs)
            f_u = np.asarray(run(params, u_a)[0]) - np.asarray(run(params, zero)[0])
            keep("adjoint", "x" if not merge else "x*", np.inf if bad_x
                 else inner_product_error(v * f_u, _products(x_bar, u_a)))
    if "batched" in checks:
        keep("batched", "x_bar+params_bar", _batched_error(layer, params, cache, y, rng, merge))
        keep("batched", "y_dot", _batched_jvp_error(layer, params, cache, xs, rng, merge))
    for (check, param), err in worst.items():
        add(check, param, err, BELOW_RESOLUTION if (check, param) in limited else "")
    if raise_on_failure:
        report.raise_if_failed()
    return report


def _structure_problems(params: dict, params_bar) -> list[str]:
    if not isinstance(params_bar, dict):
        return [f"params_bar is {type(params_bar).__name__}, expected a dict"]
    problems = []
    got = dict(tree_leaves(params_bar))
    want = dict(tree_leaves(params))
    if set(got) != set(want):
        problems.append(f"keys {sorted(got)} != {sorted(want)}")
    for path in set(got) & set(want):
        g, w = np.asarray(got[path]), np.asarray(want[path])
        if g.shape != w.shape:
            problems.append(f"{path}: shape {g.shape} != {w.shape}")
        if g.dtype != w.dtype:
            problems.append(f"{path}: dtype {g.dtype} != {w.dtype}")
    return problems


def _shapes_differ(got, want) -> bool:
    """True unless ``got`` has as many parts as ``want``, each of the same shape."""
    got, want = _as_tuple(got), _as_tuple(want)
    return len(got) != len(want) or any(np.shape(g) != np.shape(w) for g, w in zip(got, want))


def _stacked_error(stacked, single, k: int) -> float:
    """``relative_error(stacked[k], single)``; inf unless ``stacked`` has the shape
    ``(2, *single.shape)`` (the leading axis the contract prepends)."""
    stacked = np.asarray(stacked)
    if stacked.shape != (2,) + np.shape(single):
        return np.inf
    return relative_error(stacked[k], single)


def _batched_error(layer, params, cache, y, rng, merge) -> float:
    """A stack of two cotangents in one call against two calls."""
    v = rng.standard_normal((2,) + y.shape)
    x_bar, p_bar = layer.vjp(params, cache, v)
    err = 0.0
    for k in range(2):
        xk, pk = layer.vjp(params, cache, v[k])
        if len(_as_tuple(x_bar)) != len(_as_tuple(xk)):
            return np.inf
        for a, b in zip(_as_tuple(x_bar), _as_tuple(xk)):
            err = max(err, _stacked_error(a, b, k))
        for path, leaf in tree_leaves(pk):
            err = max(err, _stacked_error(tree_get(p_bar, path), leaf, k))
    x_only, none = layer.vjp(params, cache, v, need_params=False)
    if none is not None:
        return 1.0
    if _shapes_differ(x_only, x_bar):
        return np.inf
    for a, b in zip(_as_tuple(x_only), _as_tuple(x_bar)):
        err = max(err, relative_error(a, b))
    return err


def _batched_jvp_error(layer, params, cache, xs, rng, merge) -> float:
    u = tuple(rng.standard_normal((2,) + p.shape) for p in xs)
    y_dot = np.asarray(layer.jvp(params, cache, _like_x(u, merge)))
    err = 0.0
    for k in range(2):
        yk = layer.jvp(params, cache, _like_x(tuple(p[k] for p in u), merge))
        err = max(err, _stacked_error(y_dot, yk, k))
    return err


def full_jacobians(layer: Layer, params: dict, x: np.ndarray, step: float = FD_STEP):
    """The whole Jacobian ``d y / d x`` two ways, for teaching and for small layers.

    Parameters
    ----------
    layer : Layer
        A single-input layer.
    params : dict
    x : ndarray, shape (B, ...), float64
    step : float
        Step of the entrywise central differences.

    Returns
    -------
    exact : ndarray, shape (y.size, x.size)
        From ONE ``vjp`` call whose cotangent is the identity, carried as a
        leading axis of length ``y.size``: row ``i`` is ``d y.flat[i] / d x``.
    finite_differences : ndarray, shape (y.size, x.size)
        Column ``j`` is ``(f(x + h e_j) - f(x - h e_j)) / (2 h)``.

    Examples
    --------
    >>> import numpy as np
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
    x_bar, _ = layer.vjp(params, cache, eye, need_params=False)
    exact = np.asarray(x_bar).reshape(y.size, x.size)
    fd = np.empty((y.size, x.size))
    flat = x.reshape(-1)
    for j in range(x.size):
        e = np.zeros_like(flat)
        e[j] = step
        plus = layer.forward(params, (flat + e).reshape(x.shape))[0]
        minus = layer.forward(params, (flat - e).reshape(x.shape))[0]
        fd[:, j] = (np.ravel(plus) - np.ravel(minus)) / (2 * step)
    return exact, fd


def check_value_and_grad(fun: Callable, point: dict, *, seed=0, n_directions: int = 2,
                         tol: float | None = None, step: float = FD_STEP,
                         name: str = "function", raise_on_failure: bool = False
                         ) -> GradCheckReport:
    """Check a scalar function's gradient against central differences, leaf by leaf.

    Parameters
    ----------
    fun : callable
        ``fun(point) -> (value, grad)`` with ``value`` a float and ``grad`` a
        tree shaped like ``point`` (for example a network plus its loss).
    point : dict
        A tree of float64 arrays.
    tol : float, optional
        Default ``TOLERANCES["vjp_fd"]``.

    Returns
    -------
    GradCheckReport
        Check ``"grad_fd"``, one line per leaf.
    """
    rng = as_rng(seed)
    tol = TOLERANCES["vjp_fd"] if tol is None else float(tol)
    for path, leaf in tree_leaves(point):
        _require_float64(f"point[{path!r}]", leaf)
    value, grad = fun(point)
    problems = _structure_problems(point, grad)
    report = GradCheckReport()
    if problems:
        report.results.append(CheckResult(name, "structure", "grad", 1.0, 0.0,
                                          "; ".join(problems)))
    else:
        for path, leaf in tree_leaves(point):
            err, note = 0.0, ""
            for _ in range(n_directions):
                u = rng.standard_normal(np.shape(leaf))
                plus = float(fun(_replace_leaf(point, path, leaf + step * u))[0])
                minus = float(fun(_replace_leaf(point, path, leaf - step * u))[0])
                floor = _noise_floor(abs(plus), step, tol)
                fd = (plus - minus) / (2 * step)
                terms = tree_get(grad, path) * u
                err_u = inner_product_error(np.array([fd]), terms, floor)
                err = max(err, err_u)
                if np.isfinite(err_u) and floor > max(abs(fd), float(np.sum(np.abs(terms)))):
                    note = BELOW_RESOLUTION
            report.results.append(CheckResult(name, "grad_fd", path, err, tol, note))
    if raise_on_failure:
        report.raise_if_failed()
    return report
