"""Real datasets, seeded stratified splits, standardisation and mini-batches, in NumPy alone.

=================  ==============================  =======  =======  ======  =====
name               what                            images   size     pixels  ships
=================  ==============================  =======  =======  ======  =====
``digits``         UCI optical digits              1,797    8 x 8    0..16   yes
``mnist5k``        MNIST, first 500 of each digit  5,000    28 x 28  0..255  yes
``fashion-mnist``  Zalando Fashion-MNIST           70,000   28 x 28  0..255  no
=================  ==============================  =======  =======  ======  =====

Images are float64 in [0, 1] (grey level divided by the dataset's maximum), shaped
``(N, 1, H, W)``, or ``(N, H * W)`` row-major with ``flatten=True``; labels are int64
in [0, 10).  Every file's MD5 is checked before it is parsed (once per process and
file), so a missing, truncated or altered file is an error naming its path, never
wrong numbers.  ``data/README.md`` gives each file's provenance, checksums and licence.
The shipped files are read from the repository's ``data/`` (or ``$REFNET_DATA``),
Fashion-MNIST from :data:`FASHION_MNIST_DIR` (or ``$REFNET_FASHION_MNIST``).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import numbers
import os
import zlib
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from ._checks import as_rng, check_positive_int

__all__ = ["DATASETS", "DATA_ENV", "FASHION_MNIST_ENV", "FASHION_MNIST_DIR",
           "DatasetInfo", "Dataset", "Standardizer", "SplitInfo", "Split", "data_dir",
           "fashion_mnist_dir", "load_dataset", "split_indices", "fit_standardizer",
           "DEFAULT_TEST_SIZE", "prepare", "batches"]

DATASETS = ("digits", "mnist5k", "fashion-mnist")
DATA_ENV = "REFNET_DATA"
FASHION_MNIST_ENV = "REFNET_FASHION_MNIST"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
#: ``test_size`` of :func:`prepare` when none is given (Fashion-MNIST has its own test set).
DEFAULT_TEST_SIZE = {"digits": 0.2, "mnist5k": 1000}


class _Shipped(NamedTuple):
    filename: str       # gzip-compressed CSV, one image a line: pixels row-major, then label
    size: int           # bytes of the file
    md5: str            # of the file
    side: int
    pixel_max: int
    licence: str


_SHIPPED = {
    "digits": _Shipped("digits.csv.gz", 57_523, "9b335364a7bfd63947c7480a5bd51f2d",
                       8, 16, "CC BY 4.0"),
    "mnist5k": _Shipped("mnist_5k.csv.gz", 1_106_785, "1edea4bd327f562974bd5a5321bbb524",
                        28, 255, "CC BY-SA 3.0"),
}
# Fashion-MNIST's (images, labels) IDX files with the MD5 of their UNCOMPRESSED payload:
# Debian recompressed the .gz files, so upstream's MD5s of the .gz form do not apply.
_FASHION = {
    "train": (("train-images-idx3-ubyte.gz", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
              ("train-labels-idx1-ubyte.gz", "9018921c3c673c538a1fc5bad174d6f9")),
    "test": (("t10k-images-idx3-ubyte.gz", "8181f5470baa50b63fa0f6fddb340f0a"),
             ("t10k-labels-idx1-ubyte.gz", "15d484375f8d13e6eb1aabb0c3f46965")),
}
_REINSTALL = "reinstall it with `apt-get install --reinstall dataset-fashion-mnist`"
_CACHE: dict[tuple, object] = {}    # (path, size, mtime, inode) -> parsed read-only arrays


class DatasetInfo(NamedTuple):
    """What a dataset is: ``name``, per-example ``image_shape`` ``(1, H, W)``, ``n_classes``,
    the grey level ``pixel_max`` that maps to 1.0, ``n_official_train`` (the leading rows
    that form a published training part, 60,000 for Fashion-MNIST; else None), the
    ``files`` read and their ``licence``."""

    name: str
    image_shape: tuple
    n_classes: int
    pixel_max: int
    n_official_train: int | None
    files: tuple
    licence: str


class Dataset(NamedTuple):
    """A whole dataset: ``x`` (float64 in [0, 1]), ``y`` (int64) and its :class:`DatasetInfo`."""

    x: np.ndarray
    y: np.ndarray
    info: DatasetInfo


def data_dir() -> Path:
    """``$REFNET_DATA`` if set and non-empty, else ``data/`` at the top of the repository."""
    override = os.environ.get(DATA_ENV)
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parents[1] / "data"


def fashion_mnist_dir() -> Path:
    """``$REFNET_FASHION_MNIST`` if set and non-empty, else :data:`FASHION_MNIST_DIR`."""
    override = os.environ.get(FASHION_MNIST_ENV)
    return Path(override).expanduser() if override else FASHION_MNIST_DIR


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _cached(path: Path, parse, *args):
    """``parse(path, *args)``, verified once per process; a changed file is read again."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key not in _CACHE:
        _CACHE[key] = parse(path, *args)
    return _CACHE[key]


def _parse_csv(path: Path, spec: _Shipped) -> tuple[np.ndarray, np.ndarray]:
    blob = path.read_bytes()
    digest = _md5(blob)
    if digest != spec.md5:
        raise ValueError(
            f"dataset file {path} has md5 {digest}, expected {spec.md5} ({len(blob)} bytes, "
            f"expected {spec.size}): it is truncated, corrupt or not the file refnet ships. "
            f"Restore it with `git checkout -- data/{spec.filename}`, or rebuild it with the "
            "commands in data/README.md.")
    table = np.loadtxt(io.BytesIO(gzip.decompress(blob)), delimiter=",", dtype=np.int64)
    pixels, labels = table[:, :-1].astype(np.uint8), table[:, -1].copy()
    pixels.flags.writeable = labels.flags.writeable = False
    return pixels, labels


def _parse_idx(path: Path, md5: str) -> np.ndarray:
    try:
        payload = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"Fashion-MNIST file {path} is not a complete gzip file ({exc}): "
                         f"it is truncated or corrupt; {_REINSTALL}") from exc
    digest = _md5(payload)
    if digest != md5:
        raise ValueError(f"Fashion-MNIST file {path} decompresses to data with md5 "
                         f"{digest}, expected {md5}: it is corrupt or not the published "
                         f"file; {_REINSTALL}")
    # IDX: a big-endian int32 magic whose last byte is ndim, one big-endian int32 per
    # dimension, then the uint8 values (read-only: frombuffer on bytes).
    ndim = payload[3]
    shape = np.frombuffer(payload, dtype=">i4", count=ndim, offset=4)
    return np.frombuffer(payload, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _load_raw(name) -> tuple[np.ndarray, np.ndarray, DatasetInfo]:
    """``(pixels uint8 (N, H*W), labels int64 (N,), info)`` of a dataset, verified."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    if name == "fashion-mnist":
        return _read_fashion()
    spec = _SHIPPED[name]
    path = data_dir() / spec.filename
    if not path.is_file():
        raise FileNotFoundError(
            f"dataset file {path} not found: it ships in the repository's data/ (install refnet "
            f"editable from a clone) or in the folder named by ${DATA_ENV} (now "
            f"{os.environ.get(DATA_ENV)!r})")
    pixels, labels = _cached(path, _parse_csv, spec)
    info = DatasetInfo(name, (1, spec.side, spec.side), 10, spec.pixel_max, None,
                       (str(path),), spec.licence)
    return pixels, labels, info


def _read_fashion():
    """:func:`_load_raw` of Fashion-MNIST: its training part, then its test part."""
    folder = fashion_mnist_dir()
    files = [name for part in _FASHION.values() for name, _ in part]
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST is not installed: {', '.join(missing)} not found in {folder}. "
            "Install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or set "
            f"${FASHION_MNIST_ENV} to a folder holding the four files listed in data/README.md.")
    parts = []
    for (images, images_md5), (labels, labels_md5) in _FASHION.values():
        x = _cached(folder / images, _parse_idx, images_md5)
        y = _cached(folder / labels, _parse_idx, labels_md5)
        parts.append((x.reshape(len(x), -1), y.astype(np.int64)))
    (x_train, y_train), (x_test, y_test) = parts
    info = DatasetInfo("fashion-mnist", (1, 28, 28), 10, 255, len(y_train),
                       tuple(str(folder / name) for name in files), "MIT")
    return np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]), info


def _images(pixels: np.ndarray, pixel_max: int, image_shape: tuple, flatten: bool) -> np.ndarray:
    x = pixels.astype(np.float64) / pixel_max
    return x if flatten else x.reshape(len(x), *image_shape)


def _check_flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def load_dataset(name: str, *, flatten: bool = False) -> Dataset:
    """A dataset by name (one of :data:`DATASETS`), as new arrays ``Dataset(x, y, info)``.

    Fashion-MNIST holds its 60,000 official training images first
    (``info.n_official_train``), then its 10,000 test images.  MNIST-5k is SORTED
    by class (rows ``500 * k`` to ``500 * k + 499`` are digit ``k``): split it
    with :func:`prepare`, never a slice.  Raises FileNotFoundError for a missing
    file (for Fashion-MNIST, saying how to install it) and ValueError for a file
    that fails its MD5 check.

    Examples
    --------
    >>> ds = load_dataset("digits")
    >>> ds.x.shape, ds.y.shape, float(ds.x.max()), ds.info.pixel_max
    ((1797, 1, 8, 8), (1797,), 1.0, 16)
    """
    flatten = _check_flag("flatten", flatten)
    pixels, labels, info = _load_raw(name)
    return Dataset(_images(pixels, info.pixel_max, info.image_shape, flatten),
                   labels.copy(), info)


# -- splits ------------------------------------------------------------------------

def _count(name: str, size, n: int, *, allow_zero: bool) -> int:
    """``size`` as a number of rows out of ``n``: an int, or a fraction in (0, 1) rounded."""
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Real):
        raise TypeError(f"{name} must be an int (rows) or a float in (0, 1) (fraction), "
                        f"got {size!r}")
    if isinstance(size, numbers.Integral):
        count = int(size)
    elif 0.0 < size < 1.0:
        count = int(round(float(size) * n))
    else:
        raise ValueError(f"{name} as a fraction must lie in (0, 1), got {size!r}")
    low = 0 if allow_zero else 1
    if not low <= count <= n - 1:
        raise ValueError(f"{name}={size!r} gives {count} of {n} rows; expected between {low} "
                         f"and {n - 1} so that both parts are non-empty")
    return count


def split_indices(y, test_size, rng, *, stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A seeded partition of ``range(len(y))`` into int64 ``(train_index, test_index)``.

    ``test_size`` is an int in ``[1, N - 1]`` or a fraction in (0, 1) of ``N``,
    rounded; ``stratify`` keeps every class's share of the test part proportional
    to its share of the labels ``y``.  Both parts come in random order.

    Notes
    -----
    Stratified, class ``c`` with ``n_c`` rows gives ``k_c = floor(test * n_c / N)`` rows
    to the test part, and the rows still missing go one each to the classes with the
    largest remainders ``test * n_c mod N`` (ties to the smaller label), in exact integer
    arithmetic.  Each class's rows are permuted with ``rng`` and its first ``k_c`` go to
    test; both parts are then permuted with ``rng`` so that classes mix.

    Examples
    --------
    >>> y = np.repeat([0, 1], 5)
    >>> train, test = split_indices(y, 4, rng=0)
    >>> len(train), len(test), np.bincount(y[test]).tolist()
    (6, 4, [2, 2])
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"y must be a 1-D integer array, got shape {y.shape} dtype {y.dtype}")
    n = len(y)
    if n < 2:
        raise ValueError(f"y has {n} rows; a split needs at least 2")
    n_test = _count("test_size", test_size, n, allow_zero=False)
    rng = as_rng(rng)
    if not _check_flag("stratify", stratify):
        order = rng.permutation(n)
        return order[n_test:], order[:n_test]
    _, y_class = np.unique(y, return_inverse=True)
    counts = np.bincount(y_class)
    k = n_test * counts // n
    k[np.argsort(-(n_test * counts % n), kind="stable")[:n_test - k.sum()]] += 1
    train_parts, test_parts = [], []
    for c, k_c in enumerate(k):
        members = rng.permutation(np.flatnonzero(y_class == c))
        test_parts.append(members[:k_c])
        train_parts.append(members[k_c:])
    return rng.permutation(np.concatenate(train_parts)), rng.permutation(np.concatenate(test_parts))


# -- standardisation ------------------------------------------------------------------

class Standardizer(NamedTuple):
    """``z = (x - mean) / std``; ``mean`` and ``std`` are float64 of shape ``()`` or the
    per-example shape, ``std > 0``.  Call it on any examples: ``standardizer(x_test)``."""

    mean: np.ndarray
    std: np.ndarray

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.mean.ndim and x.shape[1:] != self.mean.shape:
            raise ValueError(f"Standardizer: x has shape {x.shape}, expected "
                             f"(N, {', '.join(map(str, self.mean.shape))}) as fitted")
        return (x - self.mean) / self.std

    def inverse(self, z) -> np.ndarray:
        """``z * std + mean`` (undoes the call up to rounding)."""
        return np.asarray(z, dtype=np.float64) * self.std + self.mean


def fit_standardizer(x_train, *, per_feature: bool = False) -> Standardizer:
    """A :class:`Standardizer` fitted on training examples only (never validation or test).

    ``per_feature=False`` fits one mean and one standard deviation over all entries,
    which keeps the images' spatial structure (like MNIST's customary ``(x - 0.1307) /
    0.3081``); ``True`` fits one per pixel, a pixel constant in training getting
    ``std = 1``.  Raises ValueError for empty, non-finite or (global) constant data.
    """
    if np.asarray(x_train).dtype.kind not in "biuf":    # complex would lose its imaginary part
        raise TypeError(f"x_train must be a real array, got dtype {np.asarray(x_train).dtype}")
    x = np.asarray(x_train, dtype=np.float64)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"x_train must hold at least one example, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x_train contains NaN or infinity")
    if _check_flag("per_feature", per_feature):
        mean, std = x.mean(axis=0), x.std(axis=0)
        return Standardizer(mean, np.where(std > 0, std, 1.0))
    mean, std = np.asarray(x.mean()), np.asarray(x.std())
    if not std > 0:
        raise ValueError("x_train is constant: its standard deviation is 0")
    return Standardizer(mean, std)


# -- prepare: from a name to the arrays a trainer uses -----------------------------------

class SplitInfo(NamedTuple):
    """How a :class:`Split` was made: the ``dataset``'s info, the int ``seed`` (None for a
    Generator), the rows of ``load_dataset(name)`` in each part (``train_index``,
    ``val_index``, ``test_index``), the ``standardizer`` fitted on ``x_train`` (or None)
    and whether it is ``stratified``."""

    dataset: DatasetInfo
    seed: int | None
    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray
    standardizer: Standardizer | None
    stratified: bool


class Split(NamedTuple):
    """Float64 ``x_*`` and int64 ``y_*`` of the three parts (validation may be empty)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: SplitInfo


def prepare(name: str, *, seed, test_size=None, val_size=0, flatten: bool = False,
            standardize: bool = True, per_feature: bool = False,
            stratify: bool = True) -> Split:
    """Load a dataset and split it into train, validation and test, seeded.

    ``test_size`` (rows or fraction of the dataset) defaults to
    :data:`DEFAULT_TEST_SIZE` (mnist5k 4,000 / 1,000, digits 1,438 / 359);
    Fashion-MNIST has its official 10,000-image test set, so leave it out there.
    ``val_size`` (rows or fraction of the TRAINING part) is carved out of it.
    ``standardize`` applies :func:`fit_standardizer` (with ``per_feature``),
    fitted on ``x_train`` alone, to all three parts; otherwise pixels stay in
    [0, 1].  ``stratify`` as in :func:`split_indices`.  The test part is drawn
    first from ``as_rng(seed)`` and the validation part second, so the test set
    depends only on ``(seed, test_size)``, never on ``val_size``.

    Examples
    --------
    >>> s = prepare("mnist5k", seed=0, flatten=True)
    >>> s.x_train.shape, s.x_val.shape, s.x_test.shape
    ((4000, 784), (0, 784), (1000, 784))
    """
    flatten = _check_flag("flatten", flatten)
    standardize = _check_flag("standardize", standardize)
    stratify = _check_flag("stratify", stratify)
    pixels, labels, info = _load_raw(name)
    rng = as_rng(seed)
    if info.n_official_train is not None:
        if test_size is not None:
            raise ValueError(f"{name} has an official test set of "
                             f"{len(labels) - info.n_official_train} images; leave test_size "
                             f"unset (got {test_size!r})")
        train = np.arange(info.n_official_train)
        test = np.arange(info.n_official_train, len(labels))
    else:
        test_size = DEFAULT_TEST_SIZE[name] if test_size is None else test_size
        train, test = split_indices(labels, test_size, rng, stratify=stratify)
    val = np.zeros(0, dtype=np.int64)
    n_val = _count("val_size", val_size, len(train), allow_zero=True)
    if n_val:
        keep, val = split_indices(labels[train], n_val, rng, stratify=stratify)
        train, val = train[keep], train[val]
    x_train, x_val, x_test = (_images(pixels[rows], info.pixel_max, info.image_shape, flatten)
                              for rows in (train, val, test))
    standardizer = None
    if standardize:
        standardizer = fit_standardizer(x_train, per_feature=per_feature)
        x_train, x_val, x_test = standardizer(x_train), standardizer(x_val), standardizer(x_test)
    seed_int = None if isinstance(seed, np.random.Generator) else int(seed)
    split_info = SplitInfo(info, seed_int, train, val, test, standardizer, stratify)
    return Split(x_train, labels[train], x_val, labels[val], x_test, labels[test], split_info)


def batches(x, y, batch_size: int, rng) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of shuffled mini-batches ``(x_batch, y_batch)`` (copies).

    ``ceil(N / batch_size)`` batches; the last keeps the ``N % batch_size`` leftover rows,
    so every row is seen once.  The epoch's permutation is drawn from ``rng`` when
    ``batches`` is called, not when iteration starts, so a run's random stream does not
    depend on how far a caller iterates.  Pass the same Generator every epoch for a fresh
    order each epoch; an int seed gives the same order on every call.

    Examples
    --------
    >>> x, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> [len(yb) for _, yb in batches(x, y, 2, np.random.default_rng(0))]
    [2, 2, 1]
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 1 or y.ndim < 1 or len(x) != len(y):
        raise ValueError(f"x and y must have the same number of rows, got x {x.shape} and "
                         f"y {y.shape}")
    batch_size = check_positive_int("batch_size", batch_size, "batches")
    order = as_rng(rng).permutation(len(y))
    chunks = (order[start:start + batch_size] for start in range(0, len(order), batch_size))
    return ((x[rows], y[rows]) for rows in chunks)
