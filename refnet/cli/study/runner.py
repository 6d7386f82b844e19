"""Running the study: one training per (method, density, learning rate, seed).

Protocol
--------
* One fixed split of the data (``split_seed``): training, a validation part
  carved from the training part, and the test part.
* Every method gets the SAME learning-rate grid, optimizer, epochs and batch
  size.  For each (method, density) the learning rate with the best mean
  VALIDATION accuracy over seeds is chosen (a diverged run counts as
  accuracy 0; ties go to the smaller rate); the table reports the TEST
  accuracy of that rate's runs, mean and spread over seeds.  The test set is
  never used to choose anything.
* Seed ``s`` gives every method the same generators: one draws supports (and
  pruning batches), one the initial values, a third the seed of random
  offsets (``refnet study --offsets``), and ``s`` seeds the batch order.

Determinism and parallelism
---------------------------
Each training is a pure function of its :class:`Task`, so tasks may run in any
order on any executor and the results are gathered in task order.  By default
they run in a pool of ``workers`` processes started with ``spawn`` and with
BLAS limited to one thread per process: a multi-threaded BLAS rounds matrix
products differently from a single-threaded one, so pinning it makes
``--workers 1`` and ``--workers 2`` bitwise identical (and avoids four BLAS
threads fighting over two cores).  Any ``concurrent.futures.Executor`` can be
passed instead (a ``dask.distributed`` client's ``get_executor()`` runs the
study on a cluster); results are then bitwise reproducible on executors whose
workers share a BLAS configuration.
"""
from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache

import numpy as np

from refnet.core.tree import tree_size
from refnet.data import prepare
from refnet.models import density_of
from refnet.train import TrainConfig, TrainingDiverged, evaluate, train
from refnet.cli.study.methods import DEFAULT_METHODS, METHODS, Context, applicable, method_names

__all__ = ["StudyConfig", "StudyResult", "QUICK", "FULL", "Task", "tasks_of", "run_task",
           "run_study", "pinned_blas_pool", "with_overrides"]

_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                     "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


@dataclass(frozen=True)
class StudyConfig:
    """The settings of one study.

    Parameters
    ----------
    data : str
        Dataset name (:func:`refnet.data.prepare`).
    model : str
        Reference model (:func:`refnet.models.build_model`).
    model_args : tuple of (str, value)
        Extra model arguments, as pairs (for example ``(("sizes", (64, 32, 10)),)``).
    methods : tuple of str
        Keys of :data:`refnet.cli.study.methods.METHODS`.
    densities : tuple of float
    seeds : tuple of int
    lrs : tuple of float
        The learning-rate grid every method gets.
    epochs, batch_size : int
    optimizer : {"adam", "sgd"}
    val_size : int
        Validation examples carved from the training part (at least 1: the
        learning rate is chosen on them).
    split_seed : int
        Seed of the data split (the same for every run).
    """

    data: str = "mnist5k"
    model: str = "lenet300"
    model_args: tuple = ()
    methods: tuple = DEFAULT_METHODS
    densities: tuple = (1e-2, 1e-3, 1e-4)
    seeds: tuple = (0, 1, 2)
    lrs: tuple = (1e-3, 3e-3, 1e-2)
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adam"
    val_size: int = 400
    split_seed: int = 0

    def __post_init__(self):
        method_names(self.methods)
        _, skipped = applicable(self.methods, self.model, dict(self.model_args))
        if skipped:
            raise ValueError(f"StudyConfig: method(s) {sorted(skipped)} cannot build model "
                             f"{self.model!r}: " + "; ".join(skipped.values())
                             + "; leave them out (--methods)")
        for name in ("densities", "seeds", "lrs"):
            if not getattr(self, name):
                raise ValueError(f"StudyConfig: {name} must not be empty")
        for d in self.densities:
            if not (isinstance(d, (int, float)) and 0 < d <= 1):
                raise ValueError(f"StudyConfig: densities must lie in (0, 1], got {d!r}")
        if isinstance(self.val_size, bool) or not isinstance(self.val_size, int) \
                or self.val_size < 1:
            raise ValueError(f"StudyConfig: val_size must be a positive int (the learning "
                             f"rate is chosen on the validation split), got {self.val_size!r}")
        self.train_config(self.lrs[0], 0)   # validates optimizer, epochs, batch size, lrs

    def train_config(self, lr: float, seed: int) -> TrainConfig:
        """The :class:`~refnet.train.TrainConfig` of one run at rate ``lr`` and seed ``seed``."""
        return TrainConfig(optimizer=self.optimizer, lr=lr, epochs=self.epochs,
                           batch_size=self.batch_size, seed=seed)

    def to_dict(self) -> dict:
        """The settings as a JSON-able dict (``model_args`` as a dict)."""
        out = asdict(self)
        out["model_args"] = dict(self.model_args)
        return out


#: ``refnet study --full``: 3 seeds, 3 learning rates, 30 epochs.
FULL = StudyConfig()
#: ``refnet study --quick`` (the README's first command): 2 seeds, 2 learning rates,
#: 10 epochs; under 5 minutes on 2 cores.
QUICK = StudyConfig(seeds=(0, 1), lrs=(1e-3, 1e-2), epochs=10)


@dataclass(frozen=True)
class Task:
    """One training: everything it depends on, so it can run anywhere."""

    config: StudyConfig
    method: str
    density: float
    lr: float
    seed: int


def tasks_of(config: StudyConfig) -> list[Task]:
    """Every training of ``config``, in table order (methods, densities, rates, seeds).

    Density-free methods (dense, DCT only) train once, at density 1.
    """
    tasks = []
    for key in config.methods:
        densities = (1.0,) if METHODS[key].density_free else config.densities
        for density in densities:
            for lr in config.lrs:
                for seed in config.seeds:
                    tasks.append(Task(config, key, float(density), float(lr), int(seed)))
    return tasks


@lru_cache(maxsize=4)
def _split(data: str, val_size: int, split_seed: int, flatten: bool):
    return prepare(data, seed=split_seed, val_size=val_size, flatten=flatten)


def run_task(task: Task) -> dict:
    """Train one network and evaluate it on the validation and test parts.

    Returns
    -------
    dict
        ``method``, ``density`` (requested), ``lr``, ``seed``, ``val_acc``,
        ``test_acc`` and ``test_loss`` (accuracies in percent; NaN when the
        run diverged), ``train_loss`` (last epoch), ``diverged`` (bool),
        ``nnz_density`` (the trained network's density of weight matrices),
        ``trainable`` (number of trained scalars), ``seconds``.
    """
    config = task.config
    method = METHODS[task.method]
    model_args = dict(config.model_args)
    flatten = config.model in ("mlp", "lenet300")
    split = _split(config.data, config.val_size, config.split_seed, flatten)
    # children 0 and 1 are those of spawn(2): adding the offsets' stream changed nothing else
    support_seq, init_seq, offset_seq = np.random.SeedSequence(task.seed).spawn(3)
    ctx = Context(config.model, model_args, task.density, np.random.default_rng(support_seq),
                  np.random.default_rng(init_seq), split.x_train, split.y_train, task.seed,
                  offset_seed=int(np.random.default_rng(offset_seq).integers(2**63)))
    start = time.perf_counter()
    train_config = config.train_config(task.lr, task.seed)
    record = {"method": task.method, "density": task.density, "lr": task.lr,
              "seed": task.seed, "diverged": False}
    try:
        if method.run is not None:
            net, params = method.run(ctx, train_config)
            train_loss = math.nan
        else:
            net, params = method.prepare(ctx)
            result = train(net, params, (split.x_train, split.y_train), train_config,
                           quiet=True)
            net, params = result.net, result.state.params
            train_loss = result.history[-1]["train_loss"]
        val = evaluate(net, params, split.x_val, split.y_val)
        test = evaluate(net, params, split.x_test, split.y_test)
        record.update(val_acc=100 * val["accuracy"], test_acc=100 * test["accuracy"],
                      test_loss=test["loss"], train_loss=train_loss)
        if not all(math.isfinite(v) for v in (val["loss"], test["loss"])):
            raise TrainingDiverged("non-finite evaluation loss")
    except TrainingDiverged:
        net, params = None, None
        record.update(val_acc=math.nan, test_acc=math.nan, test_loss=math.nan,
                      train_loss=math.nan, diverged=True)
    if net is not None:
        record["nnz_density"] = _weight_density(net)
        record["trainable"] = tree_size(params)
    record["seconds"] = time.perf_counter() - start
    return record


def _weight_density(net) -> float:
    try:
        return float(density_of(net))
    except ValueError:          # a network with no weight matrix left (DCT only)
        return 0.0


@contextlib.contextmanager
def pinned_blas_pool(workers: int):
    """A ``spawn`` process pool whose workers run BLAS on one thread each.

    The worker processes inherit the environment at start-up, before they
    import numpy, so the thread limits are set around the pool's lifetime and
    restored afterwards.
    """
    saved = {k: os.environ.get(k) for k in _BLAS_THREAD_VARS}
    os.environ.update({k: "1" for k in _BLAS_THREAD_VARS})
    try:
        with ProcessPoolExecutor(max_workers=workers,
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class StudyResult:
    """Every run's record, in task order, and the configuration."""

    config: StudyConfig
    records: list = field(default_factory=list)
    seconds: float = 0.0


def run_study(config: StudyConfig, *, workers: int = 1, executor: Executor | None = None,
              progress: bool = True) -> StudyResult:
    """Run every task of ``config`` and return the records in task order.

    Parameters
    ----------
    config : StudyConfig
    workers : int, default 1
        Size of the default process pool (ignored when ``executor`` is given).
    executor : concurrent.futures.Executor, optional
        Where to run the tasks; default :func:`pinned_blas_pool` of ``workers``.
    progress : bool, default True
        A line per finished training on stderr.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    tasks = tasks_of(config)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        pool = executor if executor is not None else stack.enter_context(
            pinned_blas_pool(workers))
        futures = [pool.submit(run_task, task) for task in tasks]
        records = []
        for done, future in enumerate(futures, 1):
            record = future.result()
            records.append(record)
            if progress:
                elapsed = time.perf_counter() - start
                print(f"[{done}/{len(tasks)} {elapsed:5.0f}s] {record['method']} "
                      f"d={record['density']:g} lr={record['lr']:g} seed={record['seed']}: "
                      f"val {record['val_acc']:.1f}% test {record['test_acc']:.1f}% "
                      f"({record['seconds']:.1f}s)", file=sys.stderr, flush=True)
    return StudyResult(config, records, time.perf_counter() - start)


def with_overrides(config: StudyConfig, **changes) -> StudyConfig:
    """``config`` with some fields replaced (``None`` values are ignored)."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})
