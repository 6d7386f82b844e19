"""Running the study: one training per (method, density, setting, learning rate, seed).

The protocol is analysis/README.md's: per (method, density) the (setting, rate) with the best
mean VALIDATION accuracy over seeds wins (:func:`choose`), a rate winning at an end of the
grid extends it (:func:`extensions`), and the table reports its TEST accuracy.  Seed ``s``
gives every method the same generators (``SeedSequence(s).spawn(3)``: supports and pruning
batches, initial values, the seed of random offsets) and ``s`` orders the batches, so two
methods' runs of one seed are paired.

Determinism: each training is a pure function of its :class:`Task`, gathered in task order.
The default pool runs BLAS on one thread per process (a multi-threaded BLAS rounds products
differently), so any number of workers gives bitwise the same records; :func:`dask_executor`
checks its workers alike, and any other ``concurrent.futures.Executor`` whose workers run BLAS
on one thread may be passed too.
"""
from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import sys
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np

from refnet.core.tree import tree_size
from refnet.data import DATASETS, prepare
from refnet.models import build_model, density_of
from refnet.train import TrainConfig, TrainingDiverged, evaluate, train
from refnet.cli.study.methods import DEFAULT_METHODS, METHODS, Context, applicable
from refnet.cli.study.store import FOLDER, load, save

__all__ = ["StudyConfig", "StudyResult", "QUICK", "FULL", "Task", "tasks_of", "run_task",
           "choose", "extensions", "MAX_EXTENSIONS", "settings_of", "groups_of",
           "run_study", "pinned_blas_pool", "dask_executor", "weight_density",
           "flat_input"]

_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                     "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


@dataclass(frozen=True)
class StudyConfig:
    """The settings of one study: ``model_args`` as pairs (say ``(("sizes", (64, 32,
    10)),)``), ``methods`` keys of :data:`~refnet.cli.study.methods.METHODS`, ``lrs`` the grid
    every method gets, ``val_size`` the validation examples it is chosen on, ``prune_epochs``
    those of each IMP round, ``rigl`` the ``(delta_t, alpha)`` pairs RigL chooses from."""

    data: str = "mnist5k"
    model: str = "lenet300"
    model_args: tuple = ()
    methods: tuple = DEFAULT_METHODS
    densities: tuple = (1e-2, 1e-3, 1e-4)
    seeds: tuple = (0, 1, 2, 3, 4)
    lrs: tuple = (1e-3, 3e-3, 1e-2)
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "adam"
    val_size: int = 400
    split_seed: int = 0
    prune_epochs: int = 10
    rigl: tuple = ((25, 0.1), (25, 0.3), (100, 0.1), (100, 0.3))

    def __post_init__(self):
        if self.data not in DATASETS:
            raise ValueError(f"StudyConfig: unknown dataset {self.data!r}; expected one of "
                             f"{', '.join(DATASETS)}")
        build_model(self.model, **dict(self.model_args))    # checks the model and its arguments
        unknown = [k for k in self.methods if k not in METHODS]
        if unknown:
            raise ValueError(f"unknown study method(s) {unknown}; known: {', '.join(METHODS)}")
        _, skipped = applicable(self.methods, self.model, dict(self.model_args))
        if skipped:
            raise ValueError(f"StudyConfig: method(s) {sorted(skipped)} cannot build model "
                             f"{self.model!r}: " + "; ".join(skipped.values())
                             + "; leave them out (--methods)")
        for name in ("methods", "densities", "seeds", "lrs"):
            values = getattr(self, name)
            if not values or len(set(values)) < len(values):
                raise ValueError(f"StudyConfig: {name} must be non-empty without repeats (a "
                                 f"repeat trains the same runs twice), got {values!r}")
        for d in self.densities:
            if not (isinstance(d, (int, float)) and 0 < d <= 1):
                raise ValueError(f"StudyConfig: densities must lie in (0, 1], got {d!r}")
        # Python ints (JSON-able); val_size >= 1: the learning rates are chosen on it
        for name, value, least in [("seeds", s, 0) for s in self.seeds] + [
                ("val_size", self.val_size, 1), ("prune_epochs", self.prune_epochs, 1)]:
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"StudyConfig: {name} must be an int >= {least}, got {value!r}")
        if not self.rigl or any(
                not isinstance(pair, tuple) or len(pair) != 2 or isinstance(pair[0], bool)
                or not isinstance(pair[0], int) or pair[0] < 1
                or not isinstance(pair[1], float) or not 0 < pair[1] < 1 for pair in self.rigl):
            raise ValueError("StudyConfig: rigl must be (delta_t, alpha) pairs, delta_t a "
                             f"positive int and alpha a float in (0, 1), got {self.rigl!r}")
        for lr in self.lrs:
            self.train_config(lr, 0)    # validates optimizer, epochs, batch size, lr

    def train_config(self, lr: float, seed: int) -> TrainConfig:
        """The :class:`~refnet.train.TrainConfig` of one run at rate ``lr`` and seed ``seed``."""
        return TrainConfig(optimizer=self.optimizer, lr=lr, epochs=self.epochs,
                           batch_size=self.batch_size, seed=seed)

    def to_dict(self) -> dict:
        """The settings as a JSON-able dict (``model_args`` as a dict)."""
        return dict(asdict(self), model_args=dict(self.model_args))


#: ``refnet study --full`` and ``--quick``
FULL = StudyConfig()
QUICK = StudyConfig(seeds=(0, 1), lrs=(1e-3, 1e-2), epochs=10, prune_epochs=1,
                    rigl=((10, 0.3),))
#: How many times an end of the learning-rate grid extends at most.
MAX_EXTENSIONS = 3


@dataclass(frozen=True)
class Task:
    """One training: everything it depends on, so it can run anywhere; ``options`` one of
    its method's settings as sorted ``(name, value)`` pairs."""

    config: StudyConfig
    method: str
    density: float
    lr: float
    seed: int
    options: tuple = ()


def settings_of(config: StudyConfig, key: str) -> list[tuple]:
    """The settings of method ``key`` in ``config``, each as sorted ``(name, value)`` pairs."""
    settings = METHODS[key].settings
    return [tuple(sorted(o.items())) for o in (settings(config) if settings else [{}])]


def tasks_of(config: StudyConfig) -> list[Task]:
    """The trainings of ``config``'s own grid in table order (methods, densities, settings,
    rates, seeds): a density-free method once, at 1; no cell below the method's least density
    (:attr:`Method.needs`)."""
    tasks = []
    for key in config.methods:
        method = METHODS[key]
        for density in (1.0,) if method.density_free else config.densities:
            if method.needs is None or method.needs(config.model, dict(config.model_args),
                                                    density) is None:
                tasks += [Task(config, key, float(density), float(lr), int(seed), options)
                          for options in settings_of(config, key) for lr in config.lrs
                          for seed in config.seeds]
    return tasks


def _val(records) -> float:
    return float(np.mean([0.0 if r["diverged"] else r["val_acc"] for r in records]))


def choose(by_lr: dict) -> tuple[float, float]:
    """``(mean validation accuracy, lr)`` of the best rate of ``{lr: records}``; a diverged
    run counts as 0 and ties go to the smaller rate."""
    best = None
    for lr in sorted(by_lr):        # ascending: a strict ">" sends ties to the smaller rate
        val = _val(by_lr[lr])
        if best is None or val > best[0]:
            best = (val, lr)
    return best


def groups_of(records) -> dict:
    """``{(method, density, options): {lr: records}}``."""
    groups = {}
    for r in records:
        key = (r["method"], r["density"], tuple(sorted(r.get("options", {}).items())))
        groups.setdefault(key, {}).setdefault(r["lr"], []).append(r)
    return groups


def extensions(config: StudyConfig, records) -> list[Task]:
    """The next rates to train: for each (method, density, setting) whose best rate is an end
    of its grid and beats its neighbour there, one more rate beyond that end (the grid's
    factor on that side), unless that end has grown :data:`MAX_EXTENSIONS` times."""
    grid = sorted(float(lr) for lr in config.lrs)
    if len(grid) < 2:
        return []
    tasks = []
    for (key, density, options), by_lr in groups_of(records).items():
        lrs = sorted(by_lr)
        val, lr = choose(by_lr)
        for end, neighbour, factor, grown in (
                (lrs[-1], lrs[-2], grid[-1] / grid[-2], sum(x > grid[-1] for x in lrs)),
                (lrs[0], lrs[1], grid[0] / grid[1], sum(x < grid[0] for x in lrs))):
            if lr == end and val > _val(by_lr[neighbour]) and grown < MAX_EXTENSIONS:
                new = float(f"{end * factor:.3g}")
                if new in by_lr:        # a factor so close to 1 that rounding lands on it
                    continue
                tasks += [Task(config, key, density, new, int(seed), options)
                          for seed in config.seeds]
    return tasks


def flat_input(model: str) -> bool:
    """Whether ``model`` takes flattened images."""
    return model in ("mlp", "lenet300")


def weight_density(net) -> float:
    """The density of ``net``'s weight matrices; 0 when none is left (DCT only)."""
    try:
        return float(density_of(net))
    except ValueError:
        return 0.0


@lru_cache(maxsize=4)
def _split(data: str, val_size: int, split_seed: int, flatten: bool):
    return prepare(data, seed=split_seed, val_size=val_size, flatten=flatten)


def run_task(task: Task) -> dict:
    """Train one network and evaluate it on the validation and test parts.

    Returns ``{"method", "density" (requested), "lr", "seed", "options", "epochs" (trained
    in all, :attr:`Method.cost`), "diverged", "val_acc", "test_acc", "test_loss",
    "train_loss" (last epoch), "nnz_density", "trainable" (trained scalars), "seconds"}``:
    accuracies in percent, NaN (and no ``nnz_density``, ``trainable``) when the run diverged.
    """
    config, method = task.config, METHODS[task.method]
    split = _split(config.data, config.val_size, config.split_seed, flat_input(config.model))
    # children 0 and 1 are those of spawn(2): adding the offsets' stream changed nothing else
    support_seq, init_seq, offset_seq = np.random.SeedSequence(task.seed).spawn(3)
    ctx = Context(config.model, dict(config.model_args), task.density,
                  np.random.default_rng(support_seq), np.random.default_rng(init_seq),
                  split.x_train, split.y_train, task.seed,
                  offset_seed=int(np.random.default_rng(offset_seq).integers(2**63)),
                  options=dict(task.options))
    start = time.perf_counter()
    train_config = config.train_config(task.lr, task.seed)
    cost = method.cost(task.density, config.epochs, ctx.options) if method.cost \
        else config.epochs
    record = {"method": task.method, "density": task.density, "lr": task.lr,
              "seed": task.seed, "options": dict(task.options), "epochs": cost,
              "diverged": False}
    try:
        if method.run is not None:
            net, params = method.run(ctx, train_config)
            train_loss = math.nan
        else:
            result = train(*method.prepare(ctx), (split.x_train, split.y_train), train_config,
                           quiet=True)
            net, params = result.net, result.state.params
            train_loss = result.history[-1]["train_loss"]
        val = evaluate(net, params, split.x_val, split.y_val)
        test = evaluate(net, params, split.x_test, split.y_test)
        record.update(val_acc=100 * val["accuracy"], test_acc=100 * test["accuracy"],
                      test_loss=test["loss"], train_loss=train_loss)
        if not all(math.isfinite(v) for v in (val["loss"], test["loss"])):
            raise TrainingDiverged("non-finite evaluation loss")
        record.update(nnz_density=weight_density(net), trainable=tree_size(params))
    except TrainingDiverged:
        record.update(val_acc=math.nan, test_acc=math.nan, test_loss=math.nan,
                      train_loss=math.nan, diverged=True)
    record["seconds"] = time.perf_counter() - start
    return record


@contextlib.contextmanager
def _pinned_blas_env():
    """BLAS limited to one thread in the environment that new processes inherit."""
    saved = {k: os.environ.get(k) for k in _BLAS_THREAD_VARS}
    os.environ.update({k: "1" for k in _BLAS_THREAD_VARS})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def pinned_blas_pool(workers: int):
    """A ``spawn`` process pool whose workers run BLAS on one thread each and ignore Ctrl-C;
    an exception (Ctrl-C, a signal turned into one, a failed task) terminates them at once."""
    with _pinned_blas_env(), ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN)) as pool:
        try:
            yield pool
        except BaseException:
            processes = list(pool._processes.values())   # Python 3.14: pool.terminate_workers()
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
            for process in processes:
                process.join()
            raise


def _blas_pinned() -> bool:
    return os.environ.get("OMP_NUM_THREADS") == "1" and all(
        os.environ.get(k, "1") == "1" for k in _BLAS_THREAD_VARS)


@contextlib.contextmanager
def dask_executor(scheduler: str):
    """An executor on a ``dask.distributed`` cluster: ``"local:N"`` starts N single-threaded
    worker processes for the run, anything else is a running scheduler's address.  Every worker
    must run BLAS on one thread (``dask worker`` does by default); else a ValueError."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed, the 'cluster' extra: "
                         "pip install -e '.[cluster]'") from None
    with contextlib.ExitStack() as stack:
        if scheduler.startswith("local:"):
            # its processes inherit "ignore Ctrl-C": a terminal sends it to all, the parent
            # alone stops them (closing the cluster)
            ctrl_c = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                # dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers: glibc then
                # returns freed memory at once and every step pays page faults (1.6x slower)
                environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
                environ.pop("MALLOC_TRIM_THRESHOLD_", None)
                with _pinned_blas_env(), dask.config.set(
                        {"distributed.nanny.pre-spawn-environ": environ}):
                    cluster = stack.enter_context(LocalCluster(
                        n_workers=int(scheduler[6:]), threads_per_worker=1, processes=True,
                        dashboard_address=":0", silence_logs=logging.ERROR))
            finally:
                signal.signal(signal.SIGINT, ctrl_c)
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout="10s"))
            except OSError as err:
                raise ValueError(f"--scheduler: cannot reach {scheduler!r}: {err}") from None
        unpinned = [w for w, ok in client.run(_blas_pinned).items() if not ok]
        if unpinned:
            raise ValueError(f"--scheduler: worker(s) {unpinned} run BLAS on more than one "
                             "thread; start them with OMP_NUM_THREADS=1 (dask worker's default)")
        yield client.get_executor(pure=False)


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


@dataclass
class StudyResult:
    """Every run's record, in task order, the configuration, the wall time and how many
    records were read from the store instead of trained."""

    config: StudyConfig
    records: list = field(default_factory=list)
    seconds: float = 0.0
    reused: int = 0


def run_study(config: StudyConfig, *, workers: int = 1, executor: Executor | None = None,
              progress: bool = True, store: str | None = None) -> StudyResult:
    """Run every task of ``config`` on ``executor`` (default: :func:`pinned_blas_pool` of
    ``workers``); with ``progress`` a line per finished training on stderr, with the count,
    the time so far and an estimate of the time left.

    With ``store`` (a folder), runs already in its store (:mod:`refnet.cli.study.store`) are
    read instead of trained, and each training is saved there as soon as it finishes.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    start = time.perf_counter()
    tasks, records, reused, trained = [], [], 0, 0
    wave = tasks_of(config)
    with contextlib.ExitStack() as stack:
        pool = executor
        while wave:         # the grid, then each round of extensions it calls for
            got = [load(store, task) if store is not None else None for task in wave]
            todo = [i for i, r in enumerate(got) if r is None]
            reused += len(wave) - len(todo)
            if progress and len(todo) < len(wave):
                print(f"{len(wave) - len(todo)} of {len(wave)} runs read from "
                      f"{os.path.join(store, FOLDER)}/", file=sys.stderr, flush=True)
            if todo and store is not None:
                os.makedirs(os.path.join(store, FOLDER), exist_ok=True)
            if todo and pool is None:
                pool = stack.enter_context(pinned_blas_pool(workers))
            futures = {pool.submit(run_task, wave[i]): i for i in todo}
            for future in as_completed(futures):
                got[futures[future]] = r = future.result()
                trained += 1
                if store is not None:
                    save(store, wave[futures[future]], r)
                if progress:
                    elapsed = time.perf_counter() - start
                    total = len(tasks) + len(wave)
                    left = elapsed / trained * (total - reused - trained)
                    print(f"[{reused + trained}/{total} {_clock(elapsed)}, ~{_clock(left)} "
                          f"left] {r['method']} d={r['density']:g} lr={r['lr']:g} "
                          f"seed={r['seed']}: val {r['val_acc']:.1f}% test "
                          f"{r['test_acc']:.1f}% ({r['seconds']:.1f}s)", file=sys.stderr,
                          flush=True)
            tasks += wave
            records += got
            wave = extensions(config, records)
    return StudyResult(config, records, time.perf_counter() - start, reused)
