"""When is training possible?  Jacobian spectra of DCTpS and plain sparse networks.

The study behind ``refnet spectrum`` (analysis/README.md, "When is training possible?", says
what it shows): one architecture built as each of :data:`VARIANTS` at several global
densities, plus the dense reference at density 1, its exact input-output Jacobian at real
inputs (:func:`real_inputs`), and the statistics of the singular values pooled over the
examples (:func:`network_spectrum`).  ``dctps / zeros`` is ``W = alpha * D + S`` with ``S =
0``, ``alpha = 1``, the same network at every density (``offset=`` puts another fixed offset
of :mod:`refnet.offsets` in place of ``D``); ``sparse / kaiming-dense`` masks a dense
Kaiming draw (N(0, 2 / n_in)), as the paper's code does; ``sparse / kaiming-sparse`` scales
the same draws by each row's fan-in (N(0, 2 / fan_in)).

Seeding: ``SeedSequence(seed).spawn(2)`` gives a stream for supports and one for parameters,
and each network starts a fresh generator on each: at one density the variants share the
support, the two sparse inits their normal draws, and the order of building does not matter;
a random offset's seed is drawn after the supports.
"""
from __future__ import annotations

import csv
import math
import numbers
import os
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from refnet._checks import check_positive_int
from refnet._files import atomic_output
from refnet.data import prepare
from refnet.jacobian import jacobian
from refnet.models import blueprint_of, build_model, structural_supports
from refnet.offsets import OFFSETS
from refnet.spectra import pooled_spectrum_stats, singular_values, spectrum_stats, structural_rank
from refnet.train import checkpoint_network, load_checkpoint

__all__ = ["DEFAULT_SIZES", "DEFAULT_DENSITIES", "VARIANTS", "DEFAULT_EXAMPLES",
           "ROWS_PER_CALL", "RealInputs", "SpectrumStudy", "real_inputs", "network_spectrum",
           "spectrum_study", "checkpoint_spectrum", "write_table", "TABLE_FIELDS"]

#: The default network: a 784-256x6-10 ReLU MLP, the one ``refnet bench jacobian`` times.
DEFAULT_SIZES = (784, 256, 256, 256, 256, 256, 256, 10)
#: The talk's six densities: 1%, 0.5%, 0.1%, 0.05%, 0.02%, 0.01%.
DEFAULT_DENSITIES = (1e-2, 5e-3, 1e-3, 5e-4, 2e-4, 1e-4)
#: ``(kind, sparse_init)`` of the networks built at every density.
VARIANTS = (("dctps", "zeros"), ("sparse", "kaiming-dense"), ("sparse", "kaiming-sparse"))
DEFAULT_EXAMPLES = 64
#: Cotangent rows per Jacobian call when ``chunk_size`` is not given: ``chunk_size =
#: max(1, ROWS_PER_CALL // examples)``.  Measured on lenet5-cifar at 64 examples (2 cores):
#: 2 output rows per call took 0.9 s and 290 MB, all 10 at once 1.8 s and 550 MB.
ROWS_PER_CALL = 128
#: Name of the dense reference's initialiser (``Linear``/``Conv2d``'s Kaiming normal).
DENSE_INIT = "kaiming-normal"

#: Columns of the table, in order (every row has exactly these keys).
TABLE_FIELDS = (
    "model", "kind", "offset", "init", "density", "distribution", "nnz", "source", "epoch",
    "examples", "m", "n", "n_values", "frac_zero", "largest_zero_rel", "smallest_nonzero_rel",
    "structural_rank", "structural_frac_zero",
    "connected_outputs", "rank_min", "rank_mean", "rank_max", "sv_max", "sv_min", "cond",
    "cond_median", "mean_sq_sv", "mean_sq_sv_all", "mean_log10_sv", "stable_rank",
)


class RealInputs(NamedTuple):
    """Inputs for a Jacobian study (:func:`real_inputs`)."""

    x: np.ndarray    #: (examples, *in_shape), float64, C-contiguous
    note: str        #: one sentence saying what the inputs are


class SpectrumStudy(NamedTuple):
    """``rows[i]`` (the keys :data:`TABLE_FIELDS`, JSON-able, None for an undefined
    statistic) summarises ``sigma[i]``, every example's singular values (examples, min(m, n))."""

    rows: list
    sigma: list
    network: str     #: what was built, one line
    inputs: str      #: what it was fed, one line


def real_inputs(in_shape, examples: int = DEFAULT_EXAMPLES, *, dataset: str = "mnist5k",
                seed=0) -> RealInputs:
    """The first ``examples`` test images of :func:`refnet.data.prepare(dataset, seed=seed)
    <refnet.data.prepare>` (standardised as training does), shaped for a model.

    Images of ``(1, H0, W0)`` are flattened for ``in_shape == (H0 * W0,)``; for ``(C, H, W)``
    with ``H >= H0``, ``W >= W0`` they are padded (centred) with the standardised value of a
    black pixel, as LeNet-5 fed MNIST, and the grey channel is repeated ``C`` times.

    Examples
    --------
    >>> inputs = real_inputs((3, 32, 32), 2)
    >>> inputs.x.shape
    (2, 3, 32, 32)
    >>> for part in inputs.note.split(", "):
    ...     print(part)
    2 mnist5k test images (seed 0)
    standardised with the training split
    padded from 28x28 to 32x32 with the background value -0.425 and repeated on 3 channels
    """
    examples = check_positive_int("examples", examples, "real_inputs")
    try:
        shape = tuple(int(s) for s in in_shape)
    except TypeError:
        raise TypeError(f"real_inputs: in_shape must be a tuple of ints, got {in_shape!r}") \
            from None
    split = prepare(dataset, seed=seed)
    images = split.x_test
    if examples > len(images):
        raise ValueError(f"real_inputs: examples must be at most {len(images)} (the test part "
                         f"of {dataset}), got {examples}")
    images = images[:examples]
    _, _, h0, w0 = images.shape
    note = (f"{examples} {dataset} test images (seed {seed}), standardised with the training "
            "split")
    if shape == (h0 * w0,):
        return RealInputs(np.ascontiguousarray(images.reshape(examples, -1)), note + ", flattened")
    if len(shape) == 3 and shape[1] >= h0 and shape[2] >= w0:
        channels, h, w = shape
        background = float(split.info.standardizer(np.zeros(1))[0]) \
            if split.info.standardizer is not None else 0.0
        top, left = (h - h0) // 2, (w - w0) // 2
        x = np.pad(images, ((0, 0), (0, 0), (top, h - h0 - top), (left, w - w0 - left)),
                   constant_values=background)
        x = np.ascontiguousarray(np.repeat(x, channels, axis=1))
        if (h, w) != (h0, w0):
            note += (f", padded from {h0}x{w0} to {h}x{w} with the background value "
                     f"{background:.3f}")
        if channels > 1:
            note += f" and repeated on {channels} channels"
        return RealInputs(x, note)
    raise ValueError(f"real_inputs: {dataset} images are (1, {h0}, {w0}); a model with input "
                     f"shape {shape} cannot take them (expected ({h0 * w0},) or (C, H, W) with "
                     f"H >= {h0}, W >= {w0})")


def _number(value):
    """A JSON-able float, or None for NaN/inf (undefined statistics)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _structural(net, width: int) -> dict:
    """The structural columns; Nones for a network that is not a chain (a residual one)."""
    try:
        supports = structural_supports(net)
    except ValueError:
        return {"structural_rank": None, "structural_frac_zero": None,
                "connected_outputs": None}
    bound = structural_rank(supports)
    return {"structural_rank": int(bound.rank_bound),
            "structural_frac_zero": 1.0 - bound.rank_bound / width,
            "connected_outputs": int(bound.reachable_outputs.sum())}


def network_spectrum(net, params, x, *, chunk_size: int | None = None) -> tuple[dict, np.ndarray]:
    """``(stats, sigma)``: the spectrum columns of :data:`TABLE_FIELDS` (``examples`` to
    ``stable_rank``; None where undefined) of one network at the inputs ``x``, and every
    example's singular values (B, min(m, n)), descending.

    Notes
    -----
    ``sigma[b] = svd(J[b])`` for ``J = jacobian(net, params, x, chunk_size=chunk_size)``
    (default ``max(1, ROWS_PER_CALL // B)``).  Each ``J[b]`` (m, n) has ``min(m, n)``
    singular values: for 10 outputs and 784 pixels the other 774 input directions are the
    null space of any map to 10 numbers, so ``frac_zero`` counts the share of OUTPUT
    directions no input direction reaches.  The pooled columns are
    :func:`refnet.spectra.pooled_spectrum_stats` (``mean_log10_sv`` in base 10); besides::

        largest_zero_rel, smallest_nonzero_rel = the largest zero and the smallest nonzero
                        sigma[b, i] / max(sigma[b]): when far apart, any tolerance
                        between them gives the same zero atom
        rank_*        = min, mean, max over b of the numerical rank of J[b]
        cond_median   = median over the examples with rank > 0 of their own cond
        structural_rank      = structural_rank(structural_supports(net)).rank_bound
        structural_frac_zero = 1 - structural_rank / min(m, n)    # <= frac_zero
        connected_outputs    = outputs some input reaches along the supports

    the last three None for a network that is not a chain.
    """
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"network_spectrum: x has shape {x.shape}, expected (B, *in_shape)")
    batch = x.shape[0]
    if chunk_size is None:
        chunk_size = max(1, ROWS_PER_CALL // batch)
    J = jacobian(net, params, x, chunk_size=chunk_size)
    _, m, n = J.shape
    sigma = singular_values(J)
    pooled = pooled_spectrum_stats(sigma, (m, n))
    per = spectrum_stats(sigma, (m, n))
    live = per.rank > 0
    nonzero = sigma > per.tol[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = sigma / per.sv_max[:, None]          # NaN for an all-zero Jacobian
    relative = np.where(per.sv_max[:, None] > 0, relative, 0.0)
    stats = {
        "examples": int(batch), "m": int(m), "n": int(n), "n_values": int(sigma.size),
        "frac_zero": float(pooled.frac_zero),
        "largest_zero_rel": float(relative[~nonzero].max()) if (~nonzero).any() else None,
        "smallest_nonzero_rel": float(relative[nonzero].min()) if nonzero.any() else None,
        **_structural(net, min(m, n)),
        "rank_min": int(per.rank.min()), "rank_mean": float(per.rank.mean()),
        "rank_max": int(per.rank.max()),
        "sv_max": _number(pooled.sv_max), "sv_min": _number(pooled.sv_min),
        "cond": _number(pooled.cond),
        "cond_median": _number(np.median(per.cond[live])) if live.any() else None,
        "mean_sq_sv": _number(pooled.mean_sq_sv), "mean_sq_sv_all": _number(pooled.mean_sq_sv_all),
        "mean_log10_sv": _number(pooled.mean_log_sv / math.log(10.0)),
        "stable_rank": _number(pooled.stable_rank),
    }
    return stats, sigma


def _describe(model) -> str:
    spec = model.spec
    args = blueprint_of(spec["name"], **spec["args"]).args     # with the defaults
    if spec["name"] == "mlp":
        return (f"mlp {'-'.join(map(str, args['sizes']))}, {args['activation']}"
                + ("" if args["bias"] else ", no biases"))
    return f"{spec['name']} {tuple(args.get('in_shape', ()))}"


def _row(model, init, source, epoch, stats) -> dict:
    spec = model.spec
    offset = spec.get("offset", "dct") if spec["kind"] == "dctps" else None
    return {"model": spec["name"], "kind": spec["kind"], "offset": offset, "init": init,
            "density": float(spec["density"]), "distribution": spec["distribution"],
            "nnz": int(sum(layer["nnz"] for layer in spec["layers"])),
            "source": source, "epoch": epoch, **stats}


def spectrum_study(model: str = "mlp", *, densities=DEFAULT_DENSITIES,
                   distribution: str = "uniform", examples: int = DEFAULT_EXAMPLES, seed=0,
                   dataset: str = "mnist5k", dense_reference: bool = True,
                   chunk_size: int | None = None, offset: str = "dct",
                   **model_args) -> SpectrumStudy:
    """Jacobian spectra of ``model`` (:data:`refnet.models.MODELS`; ``"mlp"`` without
    ``sizes`` is :data:`DEFAULT_SIZES`) built as each of :data:`VARIANTS` at each of the
    distinct ``densities`` in (0, 1], shared between layers by ``distribution``.

    ``examples`` and ``dataset`` go to :func:`real_inputs`, ``chunk_size`` to
    :func:`network_spectrum`, ``model_args`` to the model; ``seed`` seeds the split, the
    supports and the parameters (module docstring), bitwise reproducibly.  Rows: the dense
    network (if ``dense_reference``), then for each variant every density in order.

    Examples
    --------
    >>> study = spectrum_study(sizes=[784, 32, 32, 10], densities=[0.1, 0.01], examples=4)
    >>> [(r["kind"], r["init"], r["density"]) for r in study.rows][:3]
    [('dense', 'kaiming-normal', 1.0), ('dctps', 'zeros', 0.1), ('dctps', 'zeros', 0.01)]
    """
    given = densities
    densities = tuple(densities) if isinstance(densities, Iterable) \
        and not isinstance(densities, (str, bytes)) else ()
    if not densities or len(set(densities)) < len(densities) or not all(
            isinstance(d, numbers.Real) and not isinstance(d, bool) and 0 < d <= 1
            for d in densities):
        raise ValueError(f"spectrum_study: densities must be distinct numbers in (0, 1], got "
                         f"{given!r}")
    densities = tuple(float(d) for d in densities)
    examples = check_positive_int("examples", examples, "spectrum_study")
    if offset not in OFFSETS or offset == "none":
        raise ValueError(f"spectrum_study: offset must be one of "
                         f"{', '.join(o for o in OFFSETS if o != 'none')}, got {offset!r}"
                         + (" (with S = 0 and no offset a DCTpS network is the zero network; "
                            "the sparse rows are the networks without an offset)"
                            if offset == "none" else ""))
    if model == "mlp" and "sizes" not in model_args:
        model_args["sizes"] = list(DEFAULT_SIZES)
    dense = build_model(model, **model_args)
    inputs = real_inputs(dense.input_shape, examples, dataset=dataset, seed=seed)
    support_seed, param_seed = np.random.SeedSequence(seed).spawn(2)
    rows, sigmas = [], []

    def measure(net, init):
        params = net.init(np.random.default_rng(param_seed))
        stats, sigma = network_spectrum(net, params, inputs.x, chunk_size=chunk_size)
        rows.append(_row(net, init, "init", None, stats))
        sigmas.append(sigma)

    if dense_reference:
        measure(dense, DENSE_INIT)
    for kind, init in VARIANTS:
        extra = {"offset": offset} if kind == "dctps" else {}
        for density in densities:
            net = build_model(model, kind=kind, density=density, distribution=distribution,
                              rng=np.random.default_rng(support_seed), sparse_init=init,
                              **extra, **model_args)
            measure(net, init)
    return SpectrumStudy(rows, sigmas, _describe(dense), inputs.note)


def checkpoint_spectrum(paths, *, examples: int = DEFAULT_EXAMPLES, seed=0,
                        dataset: str = "mnist5k", chunk_size: int | None = None) -> SpectrumStudy:
    """Jacobian spectra of the trained networks in the checkpoints ``paths`` (one or several,
    read by :func:`refnet.train.checkpoint_network`, every one before any spectrum), the other
    arguments as for :func:`spectrum_study`; per row ``source`` its path and ``epoch``."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ValueError("checkpoint_spectrum: paths must name at least one checkpoint")
    loaded = []
    for path in paths:                  # every file checked before any spectrum
        checkpoint = load_checkpoint(path)
        net = checkpoint_network(checkpoint, path)
        loaded.append((path, checkpoint, net, real_inputs(net.input_shape, examples,
                                                          dataset=dataset, seed=seed)))
    rows, sigmas, networks, notes = [], [], [], []
    for path, checkpoint, net, inputs in loaded:
        spec, params = net.spec, checkpoint.state.params
        stats, sigma = network_spectrum(net, params, inputs.x, chunk_size=chunk_size)
        init = spec["sparse_init"] if spec["kind"] != "dense" else DENSE_INIT
        rows.append(_row(net, init, os.fspath(path), int(checkpoint.state.epoch), stats))
        sigmas.append(sigma)
        networks.append(_describe(net))
        notes.append(inputs.note)
    return SpectrumStudy(rows, sigmas, "; ".join(dict.fromkeys(networks)),
                         "; ".join(dict.fromkeys(notes)))


def write_table(rows, path) -> None:
    """Write rows as CSV: a header of :data:`TABLE_FIELDS`, floats to 6 significant digits,
    an undefined statistic (None) as an empty cell."""
    with atomic_output(path, "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TABLE_FIELDS)
        for row in rows:
            writer.writerow(["" if v is None else f"{v:.6g}" if isinstance(v, float) else v
                             for v in (row[field] for field in TABLE_FIELDS)])
