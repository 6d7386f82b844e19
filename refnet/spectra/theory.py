"""Random-matrix laws of Jacobian spectra, as functions for tests and plot overlays.

Everything is for SQUARED singular values ``lambda = sigma**2`` (the eigenvalues
of ``J @ J.T``), where the laws are simplest; :func:`sq_sv_density_to_log10`
moves a density to ``log10(sigma)``, the axis of refnet's spectrum plots.

Marchenko-Pastur
    One N x M matrix with i.i.d. entries of mean 0, variance ``variance / M``,
    ``ratio = N / M``, as ``N, M -> infinity``.
Fuss-Catalan
    The product of ``L`` independent N x N Gaussian matrices with N(0, 1/N)
    entries (a deep linear network at Gaussian initialisation), as ``N ->
    infinity``; ``L = 1`` is Marchenko-Pastur with ratio 1.
Orthogonal ReLU
    A ReLU network with orthogonal weights: orthogonal factors times Bernoulli
    projections (Pennington, Schoenholz & Ganguli 2017, 2018), by free
    probability (:func:`orthogonal_relu_moments`), at the active fractions
    :func:`relu_active_fractions` measures.

The finite-size moments are exact for real Gaussian matrices at finite N, so
tests comparing samples with them see only sampling noise.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .._checks import check_positive_int
from ..core import Graph, Layer
from ..layers import ReLU

__all__ = ["marchenko_pastur_edges", "marchenko_pastur_pdf", "marchenko_pastur_cdf",
           "marchenko_pastur_moments", "marchenko_pastur_finite_second_moment",
           "fuss_catalan_moments", "fuss_catalan_edges", "fuss_catalan_pdf",
           "fuss_catalan_curve", "gaussian_product_moments", "sq_sv_density_to_log10",
           "relu_active_fractions", "orthogonal_relu_moments", "orthogonal_relu_atoms",
           "orthogonal_relu_curve"]


def _check_law(ratio, variance) -> tuple[float, float]:
    for name, value, what in (("ratio", ratio, " (N / M)"), ("variance", variance, "")):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0{what}, got {value!r}")
    return float(ratio), float(variance)


def _per_order(one, k, dtype):
    """``one(k)`` for a scalar order, else an array of ``one`` per order."""
    if np.ndim(k) == 0:
        return one(k)
    return np.array([one(int(o)) for o in np.ravel(k)], dtype=dtype).reshape(np.shape(k))


def marchenko_pastur_edges(ratio: float, variance: float = 1.0) -> tuple[float, float]:
    """Support ``[a, b] = variance * [(1 - sqrt(ratio))**2, (1 + sqrt(ratio))**2]`` of the
    continuous part of the Marchenko-Pastur law."""
    c, v = _check_law(ratio, variance)
    return v * (1 - math.sqrt(c)) ** 2, v * (1 + math.sqrt(c)) ** 2


def marchenko_pastur_pdf(x, ratio: float, variance: float = 1.0) -> np.ndarray:
    """The Marchenko-Pastur density of the eigenvalues ``x`` of ``X @ X.T`` (continuous part).

    Notes
    -----
    With ``[a, b] = marchenko_pastur_edges(ratio, variance)``, zero outside::

        pdf(x) = sqrt((b - x) * (x - a)) / (2 * pi * ratio * variance * x)   for a <= x <= b

    For ``ratio <= 1`` it integrates to 1.  For ``ratio > 1`` (a tall ``X``,
    N > M) it integrates to ``1 / ratio`` and the remaining mass ``1 - 1 /
    ratio`` is an atom at 0 (the N - M zero eigenvalues).  The density of the
    M nonzero ones alone is ``ratio * pdf``.
    """
    c, v = _check_law(ratio, variance)
    a, b = marchenko_pastur_edges(c, v)
    x = np.asarray(x, dtype=np.float64)
    inside = (x > a) & (x < b) & (x > 0)
    safe = np.where(inside, x, 1.0)
    value = np.sqrt(np.clip((b - safe) * (safe - a), 0.0, None)) / (2 * np.pi * c * v * safe)
    return np.where(inside, value, 0.0)


def marchenko_pastur_cdf(x, ratio: float, variance: float = 1.0) -> np.ndarray:
    """``P(lambda <= x)`` of the Marchenko-Pastur law, the atom at 0 included.

    Notes
    -----
    In closed form, with ``c = ratio``, ``t = x / variance`` (the law scales
    with ``variance``), ``[a, b]`` the edges for variance 1, ``R(t) = sqrt((b
    - t) * (t - a))``, ``mid = (a + b) / 2 = 1 + c`` and ``sqrt(a * b) = |1 -
    c|``::

        G(t)   = R + mid * arctan2(t - mid, R)
                 - sqrt(a * b) * arctan2((a + b) * t - 2 * a * b, 2 * sqrt(a * b) * R)
        cdf(x) = atom + (G(t) - G(a)) / (2 * pi * c)          for a <= t <= b

    since ``d G / d t = R / t``.  Derivation: ``R / t = R**2 / (t * R)``
    splits into ``R' + mid / R - a * b / (t * R)``; the antiderivatives of
    the last two are ``mid * arcsin((t - mid) / half)`` (``half = (b - a) /
    2``) and ``-sqrt(a * b) * arcsin(((a + b) * t - 2 * a * b) / (t * (b -
    a)))``, written above as ``arctan2`` of the same angle: their cosines are
    ``R / half`` and ``2 * sqrt(a * b) * R / (t * (b - a))``, so no
    ``sqrt(1 - z**2)`` loses accuracy near the edges (``arcsin`` did, by about
    1e-8).  At ``t = a`` both angles are ``-pi / 2``: ``G(a) = (sqrt(a * b) -
    mid) * pi / 2``; ``G(b) - G(a) = pi * (1 + c - |1 - c|)``, so the
    continuous part has mass ``min(1, 1 / c)``.  The tests check the formula
    against numerical integration of :func:`marchenko_pastur_pdf`.
    """
    c, v = _check_law(ratio, variance)
    a, b = marchenko_pastur_edges(c, 1.0)
    mid, root_ab = 1.0 + c, abs(1.0 - c)
    atom = max(0.0, 1.0 - 1.0 / c)

    def G(t):
        R = np.sqrt(np.clip((b - t) * (t - a), 0.0, None))
        return (R + mid * np.arctan2(t - mid, R)
                - root_ab * np.arctan2((a + b) * t - 2 * a * b, 2 * root_ab * R))

    t = np.asarray(x, dtype=np.float64) / v
    inside = (t > a) & (t < b) & (t > 0)
    safe = np.where(inside, t, 0.5 * (a + b))
    G_a = (root_ab - mid) * math.pi / 2          # R(a) = 0 and both angles are -pi / 2
    value = atom + (G(safe) - G_a) / (2 * math.pi * c)
    return np.where(inside, value, np.where(t >= b, 1.0, np.where(t >= 0, atom, 0.0)))


def marchenko_pastur_moments(ratio: float, k, variance: float = 1.0):
    """Moments ``E[lambda**k]`` of the Marchenko-Pastur law (atom included), ``k >= 1``.

    The Narayana polynomials (so ``E[lambda] = variance``, ``E[lambda**2] =
    variance**2 * (1 + ratio)``)::

        E[lambda**k] = variance**k * sum_{r=0}^{k-1} ratio**r / (r + 1) * C(k, r) * C(k - 1, r)
    """
    c, v = _check_law(ratio, variance)

    def one(order):
        order = check_positive_int("k", order, "marchenko_pastur_moments")
        return float(v ** order * sum(c ** r / (r + 1) * math.comb(order, r)
                                      * math.comb(order - 1, r) for r in range(order)))

    return _per_order(one, k, np.float64)


def marchenko_pastur_finite_second_moment(n_rows: int, n_cols: int) -> float:
    """Exact ``E[mean(sigma**4)]`` of an N x M ``X`` of i.i.d. real N(0, 1/M) entries.

    For a real Wishart matrix ``Z @ Z.T`` with Z of i.i.d. N(0, 1) entries,
    ``E[trace((Z @ Z.T)**2)] = N * M * (N + M + 1)``, so::

        E[trace((X @ X.T)**2)] / N = (N + M + 1) / M = 1 + ratio + 1 / M

    The ``1 / M`` is the finite-size correction to ``1 + ratio``.
    """
    n = check_positive_int("n_rows", n_rows, "marchenko_pastur_finite_second_moment")
    m = check_positive_int("n_cols", n_cols, "marchenko_pastur_finite_second_moment")
    return (n + m + 1) / m


def fuss_catalan_moments(L: int, k):
    """Moments ``E[lambda**k]`` (ints) of the Fuss-Catalan law of order ``L``, ``k >= 0``.

    The limit law of the squared singular values of ``W_L @ ... @ W_1``, each
    ``W`` an independent N x N matrix of N(0, 1/N) entries, has moments the
    Fuss-Catalan numbers::

        E[lambda**k] = C((L + 1) * k, k) / (L * k + 1)

    so ``E[sigma**2] = 1`` and ``E[sigma**4] = L + 1`` at every depth: the
    mean is preserved while the spread grows linearly with depth.

    Examples
    --------
    >>> fuss_catalan_moments(3, [1, 2, 3]).tolist()
    [1, 4, 22]
    """
    L = check_positive_int("L", L, "fuss_catalan_moments")

    def one(order):
        order = check_positive_int("k", order, "fuss_catalan_moments", minimum=0)
        return math.comb((L + 1) * order, order) // (L * order + 1)

    return _per_order(one, k, np.int64)


def fuss_catalan_edges(L: int) -> tuple[float, float]:
    """Support ``[0, (L + 1)**(L + 1) / L**L]`` of the Fuss-Catalan law of order ``L``."""
    L = check_positive_int("L", L, "fuss_catalan_edges")
    return 0.0, (L + 1) ** (L + 1) / L ** L


def _fc_x(phi, L):
    return np.sin((L + 1) * phi) ** (L + 1) / (np.sin(phi) * np.sin(L * phi) ** L)


def _fc_rho(phi, L):
    return np.sin(phi) ** 2 * np.sin(L * phi) ** (L - 1) / (np.pi * np.sin((L + 1) * phi) ** L)


def fuss_catalan_curve(L: int, n_points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """``n_points`` points ``(x, pdf(x))``, ``x`` increasing, on the Fuss-Catalan density.

    The density has an exact parametrisation (Haagerup-Moller; Neuschel),
    for ``0 < phi < pi / (L + 1)``::

        x(phi)   = sin((L + 1) * phi)**(L + 1) / (sin(phi) * sin(L * phi)**L)
        pdf(phi) = sin(phi)**2 * sin(L * phi)**(L - 1) / (pi * sin((L + 1) * phi)**L)

    ``x`` decreases from the upper edge ``(L + 1)**(L + 1) / L**L`` to 0.
    Near 0 the density grows like ``x**(-L / (L + 1))``.  For ``L = 1`` this is
    Marchenko-Pastur with ratio 1, ``sqrt((4 - x) * x) / (2 * pi * x)``.
    """
    L = check_positive_int("L", L, "fuss_catalan_curve")
    n_points = check_positive_int("n_points", n_points, "fuss_catalan_curve", minimum=2)
    top = np.pi / (L + 1)
    # cluster the points at both ends, where the density changes fastest
    t = (np.arange(n_points) + 0.5) / n_points
    phi = top * (0.5 - 0.5 * np.cos(np.pi * t))
    return _fc_x(phi, L)[::-1].copy(), _fc_rho(phi, L)[::-1].copy()


def fuss_catalan_pdf(x, L: int) -> np.ndarray:
    """The Fuss-Catalan density of order ``L`` at the points ``x``.

    Inverts ``x(phi)`` of :func:`fuss_catalan_curve` by bisection (it is
    monotone), to about 1e-15 in ``phi``.  Zero outside the support.
    """
    L = check_positive_int("L", L, "fuss_catalan_pdf")
    x = np.asarray(x, dtype=np.float64)
    _, upper = fuss_catalan_edges(L)
    inside = (x > 0) & (x < upper)
    lo = np.zeros(x.shape)                   # x(lo) = upper >= x
    hi = np.full(x.shape, np.pi / (L + 1))   # x(hi) = 0 <= x
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            above = _fc_x(mid, L) > x
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
        value = _fc_rho(0.5 * (lo + hi), L)
    return np.where(inside, value, 0.0)


def gaussian_product_moments(L: int, N: int) -> tuple[float, float]:
    """Exact finite-N ``(E[mean(sigma**2)], E[mean(sigma**4)])`` of a Gaussian product.

    ``P = W_L @ ... @ W_1``, independent N x N matrices of i.i.d. real N(0,
    1/N) entries.  ``m1 = 1``; ``m2 -> L + 1`` (Fuss-Catalan) as N grows.

    Notes
    -----
    Write ``Q = P @ P.T`` after ``l`` factors, ``t = trace(Q)``, ``s =
    trace(Q @ Q)``, and one more factor ``W``, ``G = W.T @ W``, which is
    ``1 / N`` times a real Wishart matrix with N degrees of freedom.  The
    Wishart identities ``E[S @ A @ S] = n * (n + 1) * A + n * trace(A) * I``
    and ``E[trace(S @ A)**2] = n**2 * trace(A)**2 + 2 * n * trace(A @ A)``
    (``S`` Wishart(n, I), ``A`` symmetric) give, with ``n = N``::

        E[t'**2 | Q] = t**2 + 2 * s / N
        E[s'    | Q] = (1 + 1 / N) * s + t**2 / N

    a linear recursion for ``(E[t**2], E[s])`` from ``(N**2, N)`` (``Q = I``).
    After ``L`` steps ``m2 = E[s] / N``; ``m1 = E[t] / N = 1`` at every step.
    For ``L = 1`` this is ``2 + 1 / N``
    (:func:`marchenko_pastur_finite_second_moment` with N = M).
    """
    L = check_positive_int("L", L, "gaussian_product_moments")
    N = check_positive_int("N", N, "gaussian_product_moments")
    t2, s = float(N) ** 2, float(N)
    for _ in range(L):
        t2, s = t2 + 2.0 * s / N, (1.0 + 1.0 / N) * s + t2 / N
    return 1.0, s / N


def sq_sv_density_to_log10(lam, pdf) -> tuple[np.ndarray, np.ndarray]:
    """``(u, pdf_u)``: a density ``pdf`` at ``lam = sigma**2 > 0`` moved to ``u = log10(sigma)``.

    ``lambda = 10**(2 * u)``, so ``pdf_u(u) = pdf(lambda) * 2 * ln(10) * lambda``.
    """
    lam = np.asarray(lam, dtype=np.float64)
    pdf = np.asarray(pdf, dtype=np.float64)
    if lam.shape != pdf.shape:
        raise ValueError(f"lam and pdf must have one shape, got {lam.shape} and {pdf.shape}")
    if np.any(lam <= 0):
        raise ValueError("lam must be > 0 to take log10(sigma)")
    return np.log10(lam) / 2, pdf * 2 * np.log(10) * lam


def relu_active_fractions(net: Layer, params: dict, x) -> dict[str, float]:
    """``{path: p}`` for every ReLU of ``net`` (paths of :func:`refnet.networks.iter_layers`):
    the share of its (example, unit) pairs with input > 0 on the batch ``x``.

    ``p`` is the mean of the ReLU's derivative (1 where the input is > 0, else 0),
    so ``diag(relu')`` is a projection of normalised trace ``p`` averaged over the
    batch: the ``active`` argument of :func:`orthogonal_relu_moments`.  Nested
    graphs are searched; a network without a ReLU gives ``{}``.

    Examples
    --------
    >>> import numpy as np
    >>> from refnet import Sequential
    >>> from refnet.layers import Linear, ReLU
    >>> net = Sequential([("fc", Linear(2, 2, bias=False)), ("act", ReLU())])
    >>> relu_active_fractions(net, {"fc": {"W": np.eye(2)}, "act": {}},
    ...                       np.array([[1.0, -1.0], [2.0, 3.0]]))
    {'act': 0.75}
    """
    if not isinstance(net, Layer):
        raise TypeError(f"relu_active_fractions: net must be a refnet Layer, got "
                        f"{type(net).__name__}")
    _, cache = net.forward(params, x)
    found = {}

    def walk(layer, layer_cache, path):
        if isinstance(layer, ReLU):
            found[path] = float(np.mean(layer_cache.slope))
        elif isinstance(layer, Graph):
            for node in layer.nodes:
                walk(node.layer, layer_cache.caches[node.name],
                     f"{path}/{node.name}" if path else node.name)

    walk(net, cache, "")
    return found


def _fractions(active, out_fraction) -> tuple[np.ndarray, float]:
    """The projections' fractions ``f = (*active, out_fraction)`` (the last only when < 1)."""
    q = out_fraction
    if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0 < q <= 1:
        raise ValueError(f"out_fraction must be a number in (0, 1], got {q!r}")
    try:
        p = np.array(active, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"active must be a sequence of numbers in (0, 1], got {active!r}") \
            from None
    if p.size == 0 or np.ndim(active) != 1 or not np.all((p > 0) & (p <= 1)):
        raise ValueError(f"active must be a non-empty sequence of numbers in (0, 1], "
                         f"got {active!r}")
    return (p if q == 1 else np.append(p, q)), float(q)


def orthogonal_relu_moments(active, k, out_fraction: float = 1.0):
    """Moments ``E[lambda**k]`` (``k >= 1``) of the squared singular values of a deep
    ReLU network's Jacobian with orthogonal weights, in the wide limit.

    Parameters
    ----------
    active : sequence of float in (0, 1]
        ``p_l``, the fraction of units active at the ``l``-th ReLU.
    k : int or array of int
        The orders.
    out_fraction : float in (0, 1]
        ``q = m / n``: ``m`` outputs read from ``n``-wide hidden layers (``10 / 256`` for a
        784-256x6-10 MLP); 1 for a square network.

    Notes
    -----
    The Jacobian is ``J = O_L @ D_{L-1} @ O_{L-1} @ ... @ D_1 @ O_1``: ``D_l =
    diag(relu'(h_l))`` has 0/1 entries, a projection with normalised trace
    ``p_l``; the hidden ``O_l`` are n x n orthogonal, ``O_1`` has orthonormal
    rows and ``O_L`` (m x n) orthonormal rows.  Treat every ``D_l`` as a
    projection in general position (Haar ``O``, the Pennington-Schoenholz-
    Ganguli assumption; a real network's ``D`` depends on its ``O``).  Then
    ``O_1 @ O_1.T = I`` drops out, and the nonzero eigenvalues of ``J @ J.T``
    are those of ``A = P_q @ D_{L-1} @ ... @ D_1 @ ... @ D_{L-1} @ P_q``
    (``P_q = O_L.T @ O_L``, a projection of fraction ``q``, conjugated by the
    orthogonal factors): a product of free projections with fractions ``f =
    (p_1, ..., p_{L-1}, q)`` (``q`` omitted when 1), ``F = len(f)`` of them.
    Its law ``nu`` (on ``[0, 1]``) has ``nu = (1 - q) * delta_0 + q * mu``,
    ``mu`` the law of ``J @ J.T``: every moment of ``mu`` is ``nu``'s over ``q``.

    A projection of fraction ``p`` has moments ``p`` for every ``k``, so
    ``psi(x) = sum_k m_k x**k = p x / (1 - x)``, its inverse ``chi(z) = z / (p +
    z)`` and its S-transform ``S(z) = (1 + z) / z * chi(z) = (1 + z) / (p + z)``.
    S-transforms of free factors multiply (Voiculescu), so for ``nu``::

        S(z)   = prod_l (1 + z) / (f_l + z)
        chi(z) = z / (1 + z) * S(z) = z * (1 + z)**(F - 1) / prod_l (f_l + z)

    and Lagrange inversion of ``psi = chi^{-1}`` gives the moments::

        m_k(nu) = (1 / k) * [z**(k - 1)] prod_l (f_l + z)**k * (1 + z)**(-(F - 1) * k)

    so ``E[lambda] = prod_l p_l``: a ReLU network with orthogonal weights keeps,
    on average, the product of its active fractions (``2**-6 = 0.0156`` for six
    ReLUs at one half).  The density is in :func:`orthogonal_relu_curve`, the
    atoms in :func:`orthogonal_relu_atoms`.
    """
    f, q = _fractions(active, out_fraction)
    F = f.size
    P = np.polynomial.polynomial

    def one(order):
        order = check_positive_int("k", order, "orthogonal_relu_moments")
        top = np.array([1.0])
        for fl in f:
            top = P.polymul(top, P.polypow([fl, 1.0], order))
        a = (F - 1) * order                      # (1 + z)**-a = sum_j C(-a, j) z**j
        j = np.arange(order)
        series = np.array([(-1) ** i * math.comb(a + i - 1, i) if a else float(i == 0)
                           for i in j], dtype=np.float64)
        top = np.pad(top, (0, max(0, order - top.size)))[:order]
        return float(np.dot(top[::-1], series) / order / q)

    return _per_order(one, k, np.float64)


def orthogonal_relu_atoms(active, out_fraction: float = 1.0) -> tuple[float, float]:
    """``(mass at 0, mass at 1)`` of the law of :func:`orthogonal_relu_moments`.

    Projections in general position: the product's range has the smallest
    fraction ``min(f)``, so ``nu`` puts ``1 - min(f)`` at 0; the ranges meet in
    a fraction ``max(0, sum(f) - (F - 1))``, on which every factor is the
    identity: ``nu``'s atom at 1.  Over ``mu = (nu - (1 - q) * delta_0) / q``::

        at 0: 1 - min(f) / q          at 1: max(0, sum(f) - (F - 1)) / q
    """
    f, q = _fractions(active, out_fraction)
    return 1.0 - float(f.min()) / q, max(0.0, float(f.sum()) - (f.size - 1)) / q


def orthogonal_relu_curve(active, out_fraction: float = 1.0, n_points: int = 1000,
                          smallest: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """``(lam, pdf)``: the continuous density of :func:`orthogonal_relu_moments`' law at
    ``n_points`` decreasing values ``lam`` from ``1 - smallest`` to ``smallest``, spaced
    geometrically towards both ends.

    Notes
    -----
    With ``g(w) = E[1 / (w - lambda)]`` (Stieltjes) under ``nu``, ``psi(1 / w) = w
    * g(w) - 1``; call it ``z``.  Then ``chi(z) = 1 / w`` reads::

        w * z * (1 + z)**(F - 1) = prod_l (f_l + z)

    a polynomial of degree ``F`` in ``z``.  At ``w = lam + i * eta`` its root
    on the right branch gives ``pdf_nu(lam) = -Im g / pi = -Im z / (pi *
    lam)`` as ``eta -> 0``.  The branch is the root that tends to 0 as ``w ->
    infinity`` (``psi(0) = 0``), analytic in the upper half plane: found at
    ``w = 2 + 1j`` as the root nearest ``E[lambda] / w`` and followed at
    height 1 to ``1j`` in steps of 0.01, each step taking the root nearest the
    last; from the step nearest each ``lam``, Newton steps from the last root
    follow it straight down to ``eta = 1e-10 * min(lam, 1 - lam)`` in 60
    geometric steps.  The path stays off the real axis, where
    the atoms put poles and two roots meet at each edge of the support.  Over
    ``mu`` the density is ``pdf_nu / q``.  The atoms are not in ``pdf``.
    """
    f, q = _fractions(active, out_fraction)
    n_points = check_positive_int("n_points", n_points, "orthogonal_relu_curve", minimum=2)
    if isinstance(smallest, bool) or not isinstance(smallest, numbers.Real) \
            or not 0 < smallest < 1:
        raise ValueError(f"smallest must be a number in (0, 1), got {smallest!r}")
    P = np.polynomial.polynomial
    right = np.array([1.0])
    for fl in f:
        right = P.polymul(right, [fl, 1.0])
    left = P.polymul([0.0, 1.0], P.polypow([1.0, 1.0], f.size - 1))   # z * (1 + z)**(F-1)

    half = n_points // 2                               # clustered at both ends: 0 and 1
    lam = np.concatenate([1.0 - np.geomspace(smallest, 0.5, half, endpoint=False),
                          np.geomspace(0.5, smallest, n_points - half)])
    coarse = np.linspace(2.0, 0.0, 201) + 1j          # at height 1 from 2 + 1j to 1j
    along, z = [], np.prod(f) / coarse[0]
    for w in coarse:
        roots = P.polyroots(w * left - right)
        along.append(z := roots[np.argmin(np.abs(roots - z))])
    z = np.array(along)[np.rint((2.0 - lam) * 100).astype(int)]   # nearest lam + 1j
    edge = np.minimum(lam, 1.0 - lam)
    for t in np.linspace(0.0, 1.0, 61)[1:]:           # height 1 -> 1e-10 * edge, geometrically
        c = (lam + 1j * (1e-10 * edge) ** t) * left[:, None] - right[:, None]   # (F + 1, B)
        for _ in range(4):                            # Newton from the last root
            z = z - P.polyval(z, c, tensor=False) / P.polyval(z, P.polyder(c), tensor=False)
    return lam, np.maximum(0.0, -z.imag / (np.pi * lam)) / q
