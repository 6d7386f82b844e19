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
import os
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from .core.tree import tree_leaves
from .data import batches
from .losses import LOSSES, accuracy
from .optim import make_optimizer

__all__ = ["TrainConfig", "TrainState", "TrainResult", "TrainingDiverged", "value_and_grad",
           "evaluate", "learning_rate", "train", "save_checkpoint", "load_checkpoint",
           "Checkpoint", "check_params_match", "config_dict"]

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
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "step":
        return config.lr * config.gamma ** (step // (config.step_epochs * steps_per_epoch))
    total = config.epochs * steps_per_epoch
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


def value_and_grad(net, params, x, labels, loss: str = "cross-entropy"):
    """``(loss, grads shaped like params, outputs)`` of ``net`` on one batch."""
    outputs, cache = net.forward(params, x)
    value, out_bar = LOSSES[loss](outputs, labels)
    _, grads = net.vjp(params, cache, out_bar, **({"need_input": False}
                                                   if net.can_skip_input else {}))
    return value, grads, outputs


def evaluate(net, params, x, labels, *, batch_size: int = 1000,
             loss: str = "cross-entropy") -> dict:
    """``{"loss": mean loss, "accuracy": ...}`` over a dataset, in batches (accuracy
    only for cross-entropy).  ValueError for no examples or unequal lengths."""
    if len(x) == 0 or len(x) != len(labels):
        raise ValueError(f"evaluate: x and labels must hold the same number >= 1 of examples, "
                         f"got {len(x)} inputs and {len(labels)} labels")
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
        When a batch loss is NaN or infinite.
    """
    x, labels = train_data
    if len(x) != len(labels) or len(x) == 0:
        raise ValueError(f"train_data must be two arrays of one non-zero length, got "
                         f"{len(x)} inputs and {len(labels)} labels")
    optimizer = config.make_optimizer()
    if resume is None:
        rng = np.random.default_rng(config.seed)
        state = TrainState(params, optimizer.init(params), 0, 0, rng.bit_generator.state)
    else:
        state = resume
        rng = np.random.default_rng()
        rng.bit_generator.state = state.rng_state
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


class Checkpoint(NamedTuple):
    """A loaded checkpoint: the training state and free-form metadata."""

    state: TrainState
    meta: dict          #: JSON metadata (model specification, config, ...)
    arrays: dict        #: extra named arrays saved with it (for example supports)


def _encode(prefix: str, tree, arrays: dict) -> object:
    """Replace array leaves by references into ``arrays``; keep JSON scalars."""
    if isinstance(tree, dict):
        return {str(k): _encode(f"{prefix}/{k}", v, arrays) for k, v in tree.items()}
    if isinstance(tree, np.ndarray):
        arrays[prefix] = tree
        return {"__array__": prefix}
    if isinstance(tree, (bool, int, float, str)) or tree is None:
        return tree
    if isinstance(tree, np.generic):   # keep numpy scalars' dtype: store a 0-d array
        arrays[prefix] = np.asarray(tree)
        return {"__array__": prefix}
    raise TypeError(f"cannot checkpoint {prefix!r} of type {type(tree).__name__}")


def _decode(tree, arrays: dict):
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[tree["__array__"]]
        return {k: _decode(v, arrays) for k, v in tree.items()}
    return tree


def save_checkpoint(path, state: TrainState, meta: dict | None = None,
                    arrays: dict | None = None) -> None:
    """Write ``state``, JSON ``meta`` and extra ``arrays`` to one ``.npz`` file, atomically
    (a temporary file in the same folder renamed over ``path``)."""
    path = os.fspath(path)
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
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **store)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path) -> Checkpoint:
    """Read a :func:`save_checkpoint` file; ValueError if it is missing, truncated,
    corrupt or not a refnet checkpoint."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"checkpoint {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise ValueError(f"checkpoint {path!r} is corrupt or truncated: {err}") from None
    if "__header__" not in arrays:
        raise ValueError(f"{path!r} is not a refnet checkpoint (no header)")
    try:
        header = json.loads(str(arrays.pop("__header__")))
    except json.JSONDecodeError as err:
        raise ValueError(f"checkpoint {path!r} has a corrupt header: {err}") from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(f"{path!r} is not a refnet checkpoint of version {VERSION} "
                         f"(format {header.get('format')!r}, version {header.get('version')!r})")
    try:
        state = TrainState(_decode(header["params"], arrays), _decode(header["opt_state"], arrays),
                           header["step"], header["epoch"], header["rng_state"])
        extra = _decode(header["arrays"], arrays)
    except KeyError as err:
        raise ValueError(f"checkpoint {path!r} is missing entry {err}") from None
    return Checkpoint(state, header["meta"], extra)


def check_params_match(params: dict, template: dict, what: str = "checkpoint") -> None:
    """Raise ``ValueError`` unless ``params`` has the paths and shapes of ``template``."""
    got = {p: np.shape(v) for p, v in tree_leaves(params)}
    want = {p: np.shape(v) for p, v in tree_leaves(template)}
    if got != want:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        wrong = sorted(p for p in set(got) & set(want) if got[p] != want[p])
        raise ValueError(f"{what} does not match the model: missing {missing}, unexpected "
                         f"{extra}, wrong shapes {[(p, got[p], want[p]) for p in wrong]}")


def config_dict(config: TrainConfig) -> dict:
    """The config as a JSON-able dict (for checkpoint metadata)."""
    return asdict(config)
