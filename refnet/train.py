"""The training loop, evaluation, learning-rate schedules and checkpoints.

Each epoch shuffles the training set with the run's rng, and each mini-batch takes one
forward, one VJP and a pure optimizer update.  The rng is ``default_rng(config.seed)``,
so a seed gives bitwise the same run, and a checkpoint at an epoch boundary (parameters,
optimizer state, step, epoch, rng state) continues exactly as if never stopped.

Examples
--------
>>> import numpy as np
>>> from refnet import Sequential
>>> from refnet.layers import Linear, ReLU
>>> rng = np.random.default_rng(0)
>>> x, y = rng.standard_normal((64, 4)), rng.integers(0, 3, 64)
>>> net = Sequential([Linear(4, 8), ReLU(), Linear(8, 3)])
>>> config = TrainConfig(optimizer="adam", lr=1e-2, epochs=2, batch_size=16, seed=0)
>>> result = train(net, net.init(0), (x, y), config, quiet=True)
>>> result.state.step
8
"""
from __future__ import annotations

import json
import math
import numbers
import os
import stat
import sys
import tokenize
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from ._files import atomic_output, check_output_file
from ._checks import check_positive_int
from .core.tree import tree_leaves, tree_map
from .data import batches
from .losses import LOSSES, accuracy
from .optim import make_optimizer

__all__ = ["TrainConfig", "TrainState", "TrainResult", "TrainingDiverged", "value_and_grad",
           "evaluate", "learning_rate", "train", "save_checkpoint", "load_checkpoint",
           "Checkpoint", "check_params_match", "checkpoint_network", "config_dict",
           "MAX_CHECKPOINT_BYTES"]

SCHEDULES = ("constant", "step", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run.

    Parameters
    ----------
    optimizer : {"adam", "sgd"}
    lr : float
        Base learning rate.
    momentum : float
        SGD momentum (ignored by Adam).
    weight_decay : float
    epochs : int
        Total number of epochs of the run (a resumed run keeps this total).
    batch_size : int
    schedule : {"constant", "step", "cosine"}
        See :func:`learning_rate`.
    step_epochs : int
    gamma : float
    loss : {"cross-entropy", "mse"}
    seed : int
        Seed of the batch order; initialising the parameters is the caller's.
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    epochs: int = 10
    batch_size: int = 128
    schedule: str = "constant"
    step_epochs: int = 10
    gamma: float = 0.1
    loss: str = "cross-entropy"
    seed: int = 0

    def __post_init__(self):
        for name in ("optimizer", "schedule", "loss"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"TrainConfig: {name} must be a str, got "
                                f"{getattr(self, name)!r}")
        for name in ("lr", "momentum", "weight_decay", "gamma"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(value):
                raise ValueError(f"TrainConfig: {name} must be a finite number, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig: lr must be > 0, got {self.lr!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) \
                or self.seed < 0:
            raise ValueError(f"TrainConfig: seed must be an integer >= 0, got {self.seed!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        for name in ("epochs", "batch_size", "step_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.gamma, (int, float)) and 0 < self.gamma <= 1):
            raise ValueError(f"gamma must lie in (0, 1], got {self.gamma!r}")
        self.make_optimizer()   # validates lr, momentum, weight decay

    def make_optimizer(self):
        """The optimizer these settings describe (:func:`refnet.optim.make_optimizer`)."""
        momentum = {"momentum": self.momentum} if self.optimizer == "sgd" else {}
        return make_optimizer(self.optimizer, lr=self.lr, weight_decay=self.weight_decay,
                              **momentum)


class TrainState(NamedTuple):
    """Everything that changes during training (the network structure aside)."""

    params: dict
    opt_state: dict
    step: int        #: optimizer steps taken
    epoch: int       #: epochs completed
    rng_state: dict  #: ``Generator.bit_generator.state`` at the epoch boundary


@dataclass
class TrainResult:
    """The final state, the per-epoch records, and the network the final parameters
    belong to (a ``step_hook`` may have replaced it, as dynamic sparse training does)."""

    state: TrainState
    history: list = field(default_factory=list)
    net: object = None


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the message names the step."""


def learning_rate(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Learning rate at 0-based optimizer step ``step``: ``constant`` keeps ``lr``,
    ``step`` multiplies it by ``gamma`` every ``step_epochs`` epochs, ``cosine`` anneals
    it from ``lr`` to 0 over all the run's steps."""
    if not (isinstance(step, numbers.Integral) and step >= 0
            and isinstance(steps_per_epoch, numbers.Integral) and steps_per_epoch >= 1):
        raise ValueError(f"learning_rate: step must be an integer >= 0 and steps_per_epoch "
                         f"one >= 1, got {step!r} and {steps_per_epoch!r}")
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "step":
        return config.lr * config.gamma ** (step // (config.step_epochs * steps_per_epoch))
    total = config.epochs * steps_per_epoch
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


def value_and_grad(net, params, x, labels, loss: str = "cross-entropy"):
    """``(loss, grads shaped like params, outputs)`` of ``net`` on one batch."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    outputs, cache = net.forward(params, x)
    value, out_bar = LOSSES[loss](outputs, labels)
    _, grads = net.vjp(params, cache, out_bar, **({"need_input": False}
                                                   if net.can_skip_input else {}))
    return value, grads, outputs


def evaluate(net, params, x, labels, *, batch_size: int = 1000,
             loss: str = "cross-entropy") -> dict:
    """``{"loss": mean loss, "accuracy": ...}`` over a dataset, in batches (accuracy
    only for cross-entropy).  ValueError for no examples, unequal lengths, a
    ``batch_size`` below 1 or an unknown ``loss``."""
    if len(x) == 0 or len(x) != len(labels):
        raise ValueError(f"evaluate: x and labels must hold the same number >= 1 of examples, "
                         f"got {len(x)} inputs and {len(labels)} labels")
    batch_size = check_positive_int("batch_size", batch_size, "evaluate")
    if loss not in LOSSES:
        raise ValueError(f"evaluate: loss must be one of {sorted(LOSSES)}, got {loss!r}")
    total, correct = 0.0, 0.0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size], labels[start:start + batch_size]
        outputs = net.forward(params, xb)[0]
        total += LOSSES[loss](outputs, yb)[0] * len(xb)
        if loss == "cross-entropy":
            correct += accuracy(outputs, yb) * len(xb)
    if loss != "cross-entropy":
        return {"loss": total / len(x)}
    return {"loss": total / len(x), "accuracy": correct / len(x)}


def train(net, params, train_data, config: TrainConfig, *, eval_data: dict | None = None,
          resume: TrainState | None = None, until_epoch: int | None = None,
          step_hook: Callable | None = None, quiet: bool = False,
          checkpoint: Callable | None = None) -> TrainResult:
    """Train ``net`` from ``params`` on ``train_data = (x, labels)``.

    Parameters
    ----------
    net : Layer
    params : dict
        Starting parameters (ignored when ``resume`` is given).
    train_data : (ndarray, ndarray)
    config : TrainConfig
    eval_data : dict of name -> (x, labels), optional
        Evaluated after every epoch (for example ``{"test": (x, y)}``).
    resume : TrainState, optional
        Continue from a checkpointed state instead of starting afresh.
    until_epoch : int, optional
        Stop after this many completed epochs (default ``config.epochs``).
    step_hook : callable, optional
        ``step_hook(net, state) -> (net, state)`` after every optimizer step;
        dynamic sparse training changes the network's support here.
    quiet : bool
        No progress line per epoch on stderr.
    checkpoint : callable, optional
        ``checkpoint(net, state)`` at the end of every epoch.

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingDiverged
        When a batch loss is NaN or infinite (the inputs are checked finite first).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"train: config must be a TrainConfig, got {type(config).__name__}")
    if not (isinstance(train_data, (tuple, list)) and len(train_data) == 2):
        raise TypeError("train: train_data must be a pair (x, labels)")
    if not isinstance(eval_data or {}, dict):
        raise TypeError(f"train: eval_data must be a dict name -> (x, labels), got "
                        f"{type(eval_data).__name__}")
    for name, fn in (("step_hook", step_hook), ("checkpoint", checkpoint)):
        if fn is not None and not callable(fn):
            raise TypeError(f"train: {name} must be callable, got {fn!r}")
    if until_epoch is not None:
        check_positive_int("until_epoch", until_epoch, "train", minimum=0)
    x, labels = train_data
    if len(x) != len(labels) or len(x) == 0:
        raise ValueError(f"train_data must be two arrays of one non-zero length, got "
                         f"{len(x)} inputs and {len(labels)} labels")
    if not (isinstance(x, np.ndarray) and x.dtype.kind in "biuf" and np.isfinite(x).all()):
        raise ValueError("train: train_data's inputs must be a real array without NaN or "
                         "infinity")
    bad = [p for p, v in tree_leaves(params if resume is None else resume.params)
           if not np.isfinite(v).all()]
    if bad:
        raise ValueError(f"train: the starting parameters {bad} hold NaN or infinity")
    optimizer = config.make_optimizer()
    if resume is not None:
        check_params_match(resume.opt_state, optimizer.init(resume.params),
                           "resume.opt_state (the optimizer state)")
        with np.errstate(all="ignore"):     # a probe: one step of zero gradients from it
            probe = optimizer.update(resume.params, tree_map(np.zeros_like, resume.params),
                                     resume.opt_state)[0]
        if not all(np.isfinite(v).all() for _, v in tree_leaves(probe)):
            raise ValueError("train: resume.opt_state is not a state of this optimizer: one "
                             "step of zero gradients from it gives NaN or infinity")
    if resume is None:
        rng = np.random.default_rng(config.seed)
        state = TrainState(params, optimizer.init(params), 0, 0, rng.bit_generator.state)
    else:
        state = resume
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = state.rng_state
        except (TypeError, ValueError, KeyError, OverflowError) as err:
            raise ValueError(f"train: resume.rng_state is not a PCG64 state: {err!r}") from None
    until = config.epochs if until_epoch is None else min(until_epoch, config.epochs)
    steps_per_epoch = math.ceil(len(x) / config.batch_size)
    history = []
    while state.epoch < until:
        losses = []
        for xb, yb in batches(x, labels, config.batch_size, rng):
            value, grads, _ = value_and_grad(net, state.params, xb, yb, config.loss)
            lr = learning_rate(config, state.step, steps_per_epoch)
            if not math.isfinite(value):
                raise TrainingDiverged(f"loss is {value} at step {state.step} (epoch "
                                       f"{state.epoch + 1}, lr {lr:g}); try a smaller "
                                       "learning rate")
            new_params, opt_state = optimizer.update(state.params, grads, state.opt_state, lr)
            state = state._replace(params=new_params, opt_state=opt_state, step=state.step + 1)
            if step_hook is not None:
                net, state = step_hook(net, state)
            losses.append(value)
        state = state._replace(epoch=state.epoch + 1, rng_state=rng.bit_generator.state)
        record = {"epoch": state.epoch, "step": state.step, "train_loss": float(np.mean(losses))}
        for name, (ex, ey) in (eval_data or {}).items():
            for key, value in evaluate(net, state.params, ex, ey, loss=config.loss).items():
                record[f"{name}_{key}"] = value
        history.append(record)
        if not quiet:
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in record.items()), file=sys.stderr, flush=True)
        if checkpoint is not None:
            checkpoint(net, state)
    return TrainResult(state, history, net)


# -- checkpoints ---------------------------------------------------------------------
FORMAT = "refnet-checkpoint"
VERSION = 1
#: The most bytes :func:`load_checkpoint` decompresses, and the largest network
#: :func:`checkpoint_network` builds: 8 * (input size + the sum over the prunable layers
#: of max(m, n) ** 2), a bound on its weights, offsets and supports.
MAX_CHECKPOINT_BYTES = 1 << 30
#: The largest JSON header (the metadata) :func:`load_checkpoint` reads; a few KB is usual.
MAX_HEADER_BYTES = 1 << 20
#: The most prunable layers :func:`checkpoint_network` builds.
MAX_LAYERS = 1000
_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}


class Checkpoint(NamedTuple):
    """A loaded checkpoint: the training state and free-form metadata."""

    state: TrainState
    meta: dict          #: JSON metadata (model specification, config, ...)
    arrays: dict        #: extra named arrays saved with it (for example supports)


def _encode(prefix: str, tree, arrays: dict) -> object:
    """Replace array leaves by references into ``arrays``; keep JSON scalars."""
    if isinstance(tree, dict):
        if len({str(k) for k in tree}) != len(tree):
            raise ValueError(f"cannot checkpoint {prefix!r}: its keys {list(tree)} are not "
                             "distinct as strings")
        return {str(k): _encode(f"{prefix}/{k}", v, arrays) for k, v in tree.items()}
    if isinstance(tree, (bool, int, float, str)) or tree is None:    # np.float64 too
        return tree
    if isinstance(tree, (np.ndarray, np.generic)):   # a numpy scalar keeps its dtype as 0-d
        tree = np.asarray(tree)
        if tree.dtype.kind not in "biuf":
            raise TypeError(f"cannot checkpoint {prefix!r}: dtype {tree.dtype} (only bool, "
                            "integer and float arrays can be loaded back)")
        if prefix in arrays:
            raise ValueError(f"cannot checkpoint {prefix!r} twice: two keys of the tree name "
                             "the same path (a key containing '/', or 1 and '1')")
        arrays[prefix] = tree
        return {"__array__": prefix}
    raise TypeError(f"cannot checkpoint {prefix!r} of type {type(tree).__name__}")


def _decode(tree, arrays: dict):
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            if not isinstance(tree["__array__"], str) or tree["__array__"] not in arrays:
                raise KeyError(tree["__array__"])
            return arrays[tree["__array__"]]
        return {k: _decode(v, arrays) for k, v in tree.items()}
    return tree


def save_checkpoint(path, state: TrainState, meta: dict | None = None,
                    arrays: dict | None = None) -> None:
    """Write ``state``, JSON ``meta`` and extra ``arrays`` (bool, integer or float) to one
    ``.npz`` file through :func:`refnet._files.atomic_output`: the file at ``path`` is the
    old one or the new one, whole, whatever happens during the write.  ValueError for a
    ``path`` that is a folder, a symlink or a device, or two keys naming one path."""
    path = check_output_file("save_checkpoint: path", path)
    if not isinstance(state, TrainState) or not isinstance(meta or {}, dict) \
            or not isinstance(arrays or {}, dict):
        raise TypeError("save_checkpoint: state must be a TrainState, meta and arrays dicts")
    store: dict[str, np.ndarray] = {}
    header = {
        "format": FORMAT, "version": VERSION, "meta": meta or {},
        "params": _encode("params", state.params, store),
        "opt_state": _encode("opt_state", state.opt_state, store),
        "step": int(state.step), "epoch": int(state.epoch),
        "rng_state": state.rng_state,
        "arrays": _encode("arrays", dict(arrays or {}), store),
    }
    store["__header__"] = np.array(json.dumps(header))
    with atomic_output(path) as handle:
        np.savez(handle, **store)


class _Refused(ValueError):
    """A checkpoint that is readable but over a bound or of a kind refnet does not load."""


def _read_members(path: str, max_bytes: int) -> dict:
    """The arrays of an ``.npz``; every member's size, dtype and shape are read from the
    zip and ``.npy`` headers and checked against ``max_bytes`` before its data is."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        total = sum(info.file_size for info in infos)
        if total > max_bytes:
            raise _Refused(f"it would decompress to {total:,} bytes, more than the bound "
                           f"of {max_bytes:,} (load_checkpoint's max_bytes)")
        for info in infos:
            name = info.filename[:-4]
            if not info.filename.endswith(".npy") or info.flag_bits & 0x1 or \
                    info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _Refused(f"member {info.filename!r} is not a plain .npy array")
            if name == "__header__" and info.file_size > MAX_HEADER_BYTES:
                raise _Refused(f"its metadata is {info.file_size:,} bytes, more than the "
                               f"bound of {MAX_HEADER_BYTES:,}")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in _NPY_HEADERS:
                    raise _Refused(f"member {info.filename!r} has .npy version {version}")
                shape, _, dtype = _NPY_HEADERS[version](member)
                kinds = "U" if name == "__header__" else "biuf"
                if dtype.kind not in kinds or dtype.hasobject:
                    raise _Refused(f"member {info.filename!r} has dtype {dtype}, expected "
                                   "a bool, integer or float array")
                if member.tell() + math.prod(shape) * dtype.itemsize != info.file_size:
                    raise _Refused(f"member {info.filename!r} says shape {shape} of {dtype} "
                                   f"but holds {info.file_size:,} bytes")
                member.seek(0)
                arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
    return arrays


def load_checkpoint(path, *, max_bytes: int = MAX_CHECKPOINT_BYTES) -> Checkpoint:
    """Read a :func:`save_checkpoint` file; ValueError if it is missing, not a regular
    file, truncated, corrupt, not a refnet checkpoint, or larger than ``max_bytes``
    decompressed (its members' headers are checked before any data is decompressed)."""
    path = os.fspath(path)
    max_bytes = check_positive_int("max_bytes", max_bytes, "load_checkpoint")
    if not path:
        raise ValueError("load_checkpoint: path must name a file, got an empty string")
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise ValueError(f"checkpoint {path!r} does not exist") from None
    except OSError as err:          # a name too long, no permission, ...
        raise ValueError(f"checkpoint {path!r}: {err.strerror}") from None
    if not stat.S_ISREG(mode):
        raise ValueError(f"checkpoint {path!r} is not a regular file (a folder or a device)")
    try:
        arrays = _read_members(path, max_bytes)
    except _Refused as err:
        raise ValueError(f"checkpoint {path!r} is refused: {err}") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
            zlib.error, SyntaxError, tokenize.TokenError) as err:   # the last two: .npy headers
        raise ValueError(f"checkpoint {path!r} is corrupt or truncated, or not an .npz: {err}") \
            from None
    header = arrays.pop("__header__", None)
    if header is None or header.shape != ():
        raise ValueError(f"{path!r} is not a refnet checkpoint (no header)")
    try:
        header = json.loads(str(header))
    except (json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"checkpoint {path!r} has a corrupt header: {err}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT \
            or header.get("version") != VERSION:
        raise ValueError(f"{path!r} is not a refnet checkpoint of version {VERSION}")
    try:
        state = TrainState(_decode(header["params"], arrays), _decode(header["opt_state"], arrays),
                           header["step"], header["epoch"], header["rng_state"])
        extra, meta = _decode(header["arrays"], arrays), header["meta"]
    except (KeyError, TypeError, RecursionError) as err:
        raise ValueError(f"checkpoint {path!r} is missing entry {err}") from None
    for name, value in (("step", state.step), ("epoch", state.epoch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"checkpoint {path!r} has {name} {value!r}, expected an "
                             "integer >= 0")
    if not all(isinstance(part, dict) for part in (state.params, state.opt_state, extra, meta)):
        raise ValueError(f"checkpoint {path!r}: params, opt_state, arrays and meta must be "
                         "dicts")
    return Checkpoint(state, meta, extra)


def checkpoint_network(checkpoint: Checkpoint, path="checkpoint"):
    """The network of a checkpoint saved with ``meta={"model": model.spec}`` (and, sparse
    or DCTpS, ``arrays={"supports": support_arrays(supports_of(model))}``), checked before
    it is built: at most :data:`MAX_LAYERS` prunable layers whose sizes fit
    :data:`MAX_CHECKPOINT_BYTES`, and then its parameters' shapes against the
    checkpoint's, without allocating any, and their values finite float64.  ValueError
    naming ``path`` otherwise."""
    from .models import blueprint_of, rebuild   # here: sparsity imports train, not models
    if not isinstance(checkpoint, Checkpoint):
        raise TypeError(f"checkpoint_network: checkpoint must be a Checkpoint, got "
                        f"{type(checkpoint).__name__}")
    spec = checkpoint.meta.get("model")
    what = f"checkpoint {os.fspath(path)!r}"
    if not isinstance(spec, dict):
        raise ValueError(f"{what} has no model specification; save it with meta={{'model': "
                         "model.spec}} and arrays={'supports': support_arrays(supports_of"
                         "(model))}")
    try:
        if not isinstance(spec.get("args"), dict):
            raise ValueError(f"spec['args'] is {spec.get('args')!r}, expected a dict")
        blueprint = blueprint_of(spec.get("name"), **spec["args"])
        slots = [slot.shape for _, slot in blueprint.slots()]
        cost = 8 * (math.prod(blueprint.in_shape)
                    + sum(max(shape[0], math.prod(shape[1:])) ** 2 for shape in slots))
        if len(slots) > MAX_LAYERS or cost > MAX_CHECKPOINT_BYTES:
            raise ValueError(f"its model (input {blueprint.in_shape}, {len(slots)} prunable "
                             f"layers, the largest {max(slots, key=math.prod)}) is larger "
                             f"than refnet builds from a file: {MAX_LAYERS} layers and "
                             f"{MAX_CHECKPOINT_BYTES:,} bytes of 8 * (input size + sum of "
                             "max(m, n) ** 2)")
        density = spec.get("density")
        if isinstance(density, bool) or not isinstance(density, (int, float)) \
                or not 0 < density <= 1 or not isinstance(spec.get("distribution", 0),
                                                           (str, type(None))):
            raise ValueError(f"density {density!r} is not in (0, 1] or distribution "
                             f"{spec.get('distribution', 'missing')!r} is not a name")
        net = rebuild(spec, checkpoint.arrays.get("supports") or None)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise ValueError(f"{what} has an invalid model specification: {err}") from None
    _compare_shapes({p: np.shape(v) for p, v in tree_leaves(checkpoint.state.params)},
                    {p: tuple(s) for p, s in tree_leaves(net.param_shapes())}, what)
    bad = [p for p, v in tree_leaves(checkpoint.state.params)
           if np.asarray(v).dtype != np.float64 or not np.isfinite(v).all()]
    if bad:
        raise ValueError(f"{what} has parameters {bad} that are not float64 without NaN or "
                         "infinity")
    return net


def check_params_match(params: dict, template: dict, what: str = "checkpoint") -> None:
    """Raise ``ValueError`` unless ``params`` has the paths and shapes of ``template``."""
    _compare_shapes({p: np.shape(v) for p, v in tree_leaves(params)},
                    {p: np.shape(v) for p, v in tree_leaves(template)}, what)


def _compare_shapes(got: dict, want: dict, what: str) -> None:
    if got != want:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        wrong = sorted(p for p in set(got) & set(want) if got[p] != want[p])
        raise ValueError(f"{what} does not match the model: missing {missing}, unexpected "
                         f"{extra}, wrong shapes {[(p, got[p], want[p]) for p in wrong]}")


def config_dict(config: TrainConfig) -> dict:
    """The config as a JSON-able dict (for checkpoint metadata)."""
    return asdict(config)
