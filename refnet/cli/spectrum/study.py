"""When is training possible?  Jacobian spectra of DCTpS and plain sparse networks.

The study behind ``refnet spectrum``: one architecture built as DCTpS and as
plain sparse at several global densities, its exact input-output Jacobian at
real inputs, and the statistics of the singular values pooled over the examples.
Backpropagation carries the error through the input-output Jacobian; a zero
singular value is an output direction no input direction reaches, so no signal
passes that way, forward or back.  When the supports alone force it (structural
rank 0), no values on those supports can change it.

The networks (:data:`VARIANTS`, and the dense reference at density 1):

* ``dctps / zeros``: ``W = alpha * D + S`` with ``S = 0``, ``alpha = 1`` (the
  paper's initialisation): the DCT part alone, so every density gives bitwise
  the same Jacobian.  ``offset=`` puts another fixed offset in place of ``D``
  (:mod:`refnet.offsets`; "none" with ``S = 0`` is the zero network, and
  the sparse rows are already the networks without an offset).
* ``sparse / kaiming-dense``: a dense Kaiming draw (N(0, 2 / n_in)) masked to
  the support, what the paper's code does for its sparse baselines.
* ``sparse / kaiming-sparse``: the same draws scaled by each row's actual
  fan-in (N(0, 2 / fan_in)), the variance-preserving choice.

Seeding: ``SeedSequence(seed).spawn(2)`` gives a stream for supports and one for
parameters, and each network starts a fresh generator on each.  So at one
density the variants share the support, the two sparse inits share their normal
draws, and the order of building does not matter; a random offset's seed is
drawn after the supports.  Inputs: :func:`real_inputs`.

Statistics (:func:`network_spectrum`): each example's ``J[b]`` (m, n) has
``min(m, n)`` singular values.  For the default MLP (10 outputs, 784 pixels)
that is 10 per example: the other 774 input directions are the null space of
every map from 784 to 10 numbers, and counting them would make every network
98.7% "zero".  So ``frac_zero = 1 - rank / 10`` per example, the share of OUTPUT
directions no input direction reaches.  ``structural_frac_zero = 1 - rank_bound
/ min(m, n)`` (:func:`refnet.spectra.structural_rank` of the supports, no
floating point) bounds it from below; ReLU units that are off remove further
paths.
"""
from __future__ import annotations

import csv
import math
import numbers
import os
from typing import NamedTuple, Sequence

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

#: The default network: an MLP on MNIST-sized inputs, 7 weight layers (784-256x6-10, ReLU),
#: the network of ``refnet.cli.bench_jacobian.benchmark_jacobian``.
DEFAULT_SIZES = (784, 256, 256, 256, 256, 256, 256, 10)
#: The talk's six densities: 1%, 0.5%, 0.1%, 0.05%, 0.02%, 0.01%.
DEFAULT_DENSITIES = (1e-2, 5e-3, 1e-3, 5e-4, 2e-4, 1e-4)
#: ``(kind, sparse_init)`` of the networks built at every density.
VARIANTS = (("dctps", "zeros"), ("sparse", "kaiming-dense"), ("sparse", "kaiming-sparse"))
#: Examples whose Jacobians are pooled, by default.
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
    """Inputs for a Jacobian study and how they were made (:func:`real_inputs`)."""

    x: np.ndarray    #: (examples, *in_shape), float64, C-contiguous
    note: str        #: one sentence saying what the inputs are


class SpectrumStudy(NamedTuple):
    """Result of :func:`spectrum_study` or :func:`checkpoint_spectrum`.

    ``rows[i]`` (a dict with the keys :data:`TABLE_FIELDS`, JSON-able, None
    for an undefined statistic) summarises ``sigma[i]``, the singular values of
    every example's Jacobian, shape ``(examples, min(m, n))``.
    """

    rows: list
    sigma: list
    network: str     #: what was built, one line
    inputs: str      #: what it was fed, one line


def real_inputs(in_shape, examples: int = DEFAULT_EXAMPLES, *, dataset: str = "mnist5k",
                seed=0) -> RealInputs:
    """The first ``examples`` test images of a shipped dataset, shaped for a model.

    ``x_test[:examples]`` of :func:`refnet.data.prepare(dataset, seed=seed)
    <refnet.data.prepare>`, standardised with the training part's mean and
    standard deviation as training does (the test part is in random order, so
    all classes appear).  ValueError if there are fewer test images or
    ``in_shape`` cannot take them.  With images of ``(1, H0, W0)``:

    * ``in_shape == (H0 * W0,)``: flattened row by row, as ``prepare(...,
      flatten=True)`` does.
    * ``in_shape == (C, H, W)`` with ``H >= H0`` and ``W >= W0``: padded to ``H
      x W`` (centred, the extra row or column at the bottom/right) with the
      standardised value of a black pixel, so the border looks like the
      background (LeNet-5 fed MNIST padded to 32 x 32 the same way), then the
      grey channel repeated ``C`` times.  lenet5-cifar (3 x 32 x 32) gets MNIST
      padded from 28 x 28 to 32 x 32 on 3 equal channels.

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
    """A JSON-able Python number, or None for NaN/inf (undefined statistics)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _structural(net, width: int) -> dict:
    """Structural rank of a chain network; Nones for a network that is not a chain (a
    residual network) or has a layer without a structural pattern."""
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
    """Statistics of the Jacobian spectra of one network at the inputs ``x``.

    Returns ``(stats, sigma)``: the spectrum columns of :data:`TABLE_FIELDS`
    (``examples`` to ``stable_rank``; Python numbers, None where undefined) and
    every example's singular values (B, min(m, n)), descending.  ``chunk_size``
    goes to :func:`~refnet.jacobian.jacobian`; default ``max(1, ROWS_PER_CALL //
    B)``.

    Notes
    -----
    ``sigma[b] = svd(J[b])`` for ``J = jacobian(net, params, x)``; the pooled
    columns are :func:`refnet.spectra.pooled_spectrum_stats` (zero atom,
    ``sv_max``, ``sv_min``, ``cond``, the means; ``mean_log10_sv`` in base 10).
    Besides::

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


def _check_densities(densities) -> tuple[float, ...]:
    if isinstance(densities, (str, bytes)) or not isinstance(densities, Sequence) \
            or len(densities) == 0:
        raise ValueError(f"densities must be a non-empty sequence of numbers in (0, 1], got "
                         f"{densities!r}")
    out = []
    for d in densities:
        if isinstance(d, bool) or not isinstance(d, numbers.Real) or not 0.0 < float(d) <= 1.0:
            raise ValueError(f"densities must be numbers in (0, 1], got {d!r} in {densities!r}")
        out.append(float(d))
    if len(set(out)) != len(out):
        raise ValueError(f"densities must be distinct, got {densities!r}")
    return tuple(out)


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
    row = {"model": spec["name"], "kind": spec["kind"], "offset": offset, "init": init,
           "density": float(spec["density"]), "distribution": spec["distribution"],
           "nnz": int(sum(layer["nnz"] for layer in spec["layers"])),
           "source": source, "epoch": epoch, **stats}
    return row


def spectrum_study(model: str = "mlp", *, densities=DEFAULT_DENSITIES,
                   distribution: str = "uniform", examples: int = DEFAULT_EXAMPLES, seed=0,
                   dataset: str = "mnist5k", dense_reference: bool = True,
                   chunk_size: int | None = None, offset: str = "dct",
                   **model_args) -> SpectrumStudy:
    """Jacobian spectra of a model built as DCTpS and as plain sparse at each density.

    Parameters
    ----------
    model : str, default "mlp"
        A name of :data:`refnet.models.MODELS`.  ``"mlp"`` without ``sizes``
        is :data:`DEFAULT_SIZES` (784-256x6-10, ReLU).
    densities : sequence of float, default DEFAULT_DENSITIES
        Global densities (1%, 0.5%, 0.1%, 0.05%, 0.02%, 0.01%).
    distribution : str, default "uniform"
        How each density is shared between layers
        (:data:`refnet.sparsity.DISTRIBUTIONS`); uniform shows the
        disconnection most directly.
    examples, dataset
        For :func:`real_inputs`; ``chunk_size`` for :func:`network_spectrum`.
    seed : int, default 0
        Seeds the split, the supports and the parameters (module docstring):
        the same seed gives bitwise the same result.
    dense_reference : bool, default True
        Also measure the dense network (first row).
    offset : str, default "dct"
        The fixed offset of the DCTpS networks (module docstring).
    **model_args
        The model's own arguments (``sizes``, ``activation``, ``in_shape``, ...).

    Returns
    -------
    SpectrumStudy
        Rows in the order: dense (if asked), then for each of :data:`VARIANTS`
        every density in the given order.

    Examples
    --------
    >>> study = spectrum_study(sizes=[784, 32, 32, 10], densities=[0.1, 0.01], examples=4)
    >>> [(r["kind"], r["init"], r["density"]) for r in study.rows][:3]
    [('dense', 'kaiming-normal', 1.0), ('dctps', 'zeros', 0.1), ('dctps', 'zeros', 0.01)]
    """
    densities = _check_densities(densities)
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
    """Jacobian spectra of trained networks saved by :func:`refnet.train.save_checkpoint`.

    ``paths``: one checkpoint or several, saved with ``meta={"model":
    model.spec}`` and (sparse and DCTpS) ``arrays={"supports":
    support_arrays(supports_of(model))}``; ValueError for one without a model
    specification, one too large to build (:func:`refnet.train.checkpoint_network`)
    or whose parameters do not fit it.  The other arguments as
    for :func:`spectrum_study`.  One row per checkpoint: ``source`` its path,
    ``epoch`` its epoch, ``init`` the initialiser its model started from.
    """
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


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_table(rows, path) -> None:
    """Write rows as CSV: a header of :data:`TABLE_FIELDS`, floats to 6 significant digits.

    An undefined statistic (None: for example ``cond`` of a zero Jacobian) is an
    empty cell.
    """
    with atomic_output(path, "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TABLE_FIELDS)
        for row in rows:
            writer.writerow([_cell(row[field]) for field in TABLE_FIELDS])
