"""Real datasets, seeded splits, standardisation and mini-batches, in NumPy alone.

Datasets (``data/README.md`` has each file's provenance, checksums and licence):

=================  ==============================  =======  =======  ======  =======
name               what                            images   size     pixels  ships
=================  ==============================  =======  =======  ======  =======
``digits``         UCI optical digits              1,797    8 x 8    0..16   yes
``mnist5k``        MNIST, first 500 of each digit  5,000    28 x 28  0..255  yes
``fashion-mnist``  Zalando Fashion-MNIST           70,000   28 x 28  0..255  no [1]
=================  ==============================  =======  =======  ======  =======

[1] read from Debian's ``dataset-fashion-mnist`` package when it is installed.

Every loader returns images as float64 scaled to ``[0, 1]`` (grey level divided by
the dataset's maximum grey level) and labels as int64 in ``[0, 10)``; images are
``(N, 1, H, W)``, or ``(N, H * W)`` with ``flatten=True`` (row-major pixels).

Nothing is ever silently wrong: each file's size and MD5 are checked before it
is parsed (once per process and file), and a missing, truncated or altered file
raises an error that names the path.

The path a training loop takes::

    split = prepare("mnist5k", seed=0, val_size=400, flatten=True)
    rng = np.random.default_rng(0)
    for epoch in range(epochs):
        for xb, yb in batches(split.x_train, split.y_train, 128, rng):
            ...

Where the files are: ``data/`` at the top of the repository (refnet is installed
editable, ``pip install -e .``), or the folder named by the environment variable
``REFNET_DATA``; Fashion-MNIST in ``/usr/share/datasets/fashion-mnist`` or the
folder named by ``REFNET_FASHION_MNIST``.
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
           "DatasetInfo", "Dataset", "TrainTest", "Standardizer", "SplitInfo", "Split",
           "data_dir", "fashion_mnist_dir", "load_digits", "load_mnist5k",
           "load_fashion_mnist", "load_dataset", "split_indices", "train_test_split",
           "fit_standardizer", "DEFAULT_TEST_SIZE", "prepare", "batches"]

#: Names accepted by :func:`load_dataset` and :func:`prepare`.
DATASETS = ("digits", "mnist5k", "fashion-mnist")
#: Environment variable naming a folder that replaces the repository's ``data/``.
DATA_ENV = "REFNET_DATA"
#: Environment variable naming a folder that replaces :data:`FASHION_MNIST_DIR`.
FASHION_MNIST_ENV = "REFNET_FASHION_MNIST"
#: Where Debian's ``dataset-fashion-mnist`` package puts its files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


class DatasetInfo(NamedTuple):
    """What a dataset is, independent of how it is split.

    Attributes
    ----------
    name : str
        One of :data:`DATASETS`.
    image_shape : tuple of int
        Per-example shape ``(1, H, W)`` (channels, height, width).
    n_classes : int
        Labels lie in ``[0, n_classes)``.
    pixel_max : int
        The grey level that maps to 1.0 (16 for digits, 255 for the MNIST family).
    n_official_train : int or None
        For a dataset published with a fixed train/test split (Fashion-MNIST:
        60,000), the number of leading rows that form the training part; the
        rest is the official test set.  ``None`` when there is no such split.
    files : tuple of str
        The files read.
    licence : str
    """

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


# ---------------------------------------------------------------------------
# Files and checksums
# ---------------------------------------------------------------------------

class _ShippedFile(NamedTuple):
    filename: str
    size: int            # bytes of the .gz file
    md5: str             # of the .gz file, as shipped
    rows: int
    side: int            # images are side x side
    pixel_max: int
    licence: str


_SHIPPED = {
    "digits": _ShippedFile("digits.csv.gz", 57_523, "9b335364a7bfd63947c7480a5bd51f2d",
                           1_797, 8, 16, "CC BY 4.0"),
    "mnist5k": _ShippedFile("mnist_5k.csv.gz", 1_106_785, "1edea4bd327f562974bd5a5321bbb524",
                            5_000, 28, 255, "CC BY-SA 3.0"),
}


class _IdxFile(NamedTuple):
    filename: str
    shape: tuple         # of the array the file holds
    md5: str             # of the UNCOMPRESSED payload: Debian recompressed the .gz files


_FASHION_FILES = {
    "train": (_IdxFile("train-images-idx3-ubyte.gz", (60_000, 28, 28),
                       "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
              _IdxFile("train-labels-idx1-ubyte.gz", (60_000,),
                       "9018921c3c673c538a1fc5bad174d6f9")),
    "test": (_IdxFile("t10k-images-idx3-ubyte.gz", (10_000, 28, 28),
                      "8181f5470baa50b63fa0f6fddb340f0a"),
             _IdxFile("t10k-labels-idx1-ubyte.gz", (10_000,),
                      "15d484375f8d13e6eb1aabb0c3f46965")),
}

_RESTORE = ("Restore it with `git checkout -- data/{name}` in the repository, or rebuild it "
            "with the commands in data/README.md.")

# (path, size, mtime, inode) -> parsed read-only arrays.  Files are verified
# once per process; a changed file has a new key and is verified again.
_CACHE: dict[tuple, tuple] = {}


def data_dir() -> Path:
    """The folder holding the shipped data files.

    ``$REFNET_DATA`` if that environment variable is set and non-empty, else
    ``data/`` at the top of the repository this module belongs to (which is
    where it is when refnet is installed editable, ``pip install -e .``).
    """
    override = os.environ.get(DATA_ENV)
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parents[1] / "data"


def fashion_mnist_dir() -> Path:
    """The folder holding Fashion-MNIST.

    ``$REFNET_FASHION_MNIST`` if set and non-empty, else :data:`FASHION_MNIST_DIR`.
    """
    override = os.environ.get(FASHION_MNIST_ENV)
    return Path(override).expanduser() if override else FASHION_MNIST_DIR


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _cache_key(path: Path) -> tuple:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)


def _missing_shipped(path: Path) -> FileNotFoundError:
    if os.environ.get(DATA_ENV):
        where = f"the folder named by ${DATA_ENV}={os.environ[DATA_ENV]!r}"
    else:
        where = ("the repository's data/ folder (refnet must be installed editable, "
                 f"`pip install -e .`, from a clone; or set ${DATA_ENV} to a folder holding it)")
    return FileNotFoundError(f"dataset file {path} not found: expected in {where}")


def _read_shipped(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Verified ``(pixels uint8 (N, side*side), labels int64 (N,))``, both read-only."""
    spec = _SHIPPED[name]
    path = data_dir() / spec.filename
    if not path.is_file():
        raise _missing_shipped(path)
    key = _cache_key(path)
    if key not in _CACHE:
        blob = path.read_bytes()
        restore = _RESTORE.format(name=spec.filename)
        if len(blob) != spec.size:
            raise ValueError(f"dataset file {path} has {len(blob)} bytes, expected {spec.size}: "
                             f"it is truncated or not the file refnet ships. {restore}")
        digest = _md5(blob)
        if digest != spec.md5:
            raise ValueError(f"dataset file {path} has md5 {digest}, expected {spec.md5}: "
                             f"it is corrupt or not the file refnet ships. {restore}")
        _CACHE[key] = _parse_csv_gz(path, blob, spec)
    return _CACHE[key]


def _parse_csv_gz(path: Path, blob: bytes, spec: _ShippedFile) -> tuple[np.ndarray, np.ndarray]:
    # The checksum has already matched, so these checks guard refnet's own
    # constants and parser rather than the file.
    n_pixels = spec.side * spec.side
    try:
        table = np.loadtxt(io.BytesIO(gzip.decompress(blob)), delimiter=",", dtype=np.int64,
                           ndmin=2)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise ValueError(f"dataset file {path} is not gzip-compressed CSV of integers: {exc}") \
            from exc
    if table.shape != (spec.rows, n_pixels + 1):
        raise ValueError(f"dataset file {path} holds a table of shape {table.shape}, expected "
                         f"({spec.rows}, {n_pixels + 1})")
    pixels, labels = table[:, :n_pixels], table[:, n_pixels]
    if pixels.min() < 0 or pixels.max() > spec.pixel_max or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"dataset file {path} has pixels outside [0, {spec.pixel_max}] or "
                         f"labels outside [0, 9]")
    return _frozen(pixels.astype(np.uint8)), _frozen(labels.copy())


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _read_idx(path: Path, spec: _IdxFile) -> np.ndarray:
    """A verified IDX array (uint8, read-only) from a gzip-compressed IDX file."""
    key = _cache_key(path)
    if key in _CACHE:
        return _CACHE[key]
    try:
        payload = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"Fashion-MNIST file {path} is not a complete gzip file ({exc}): "
                         "it is truncated or corrupt; reinstall the package with "
                         "`apt-get install --reinstall dataset-fashion-mnist`") from exc
    digest = _md5(payload)
    if digest != spec.md5:
        raise ValueError(f"Fashion-MNIST file {path} decompresses to data with md5 {digest}, "
                         f"expected {spec.md5}: it is corrupt or not the published file; "
                         "reinstall it with `apt-get install --reinstall dataset-fashion-mnist`")
    # IDX header: a big-endian int32 magic (0x08 = unsigned byte, then the number
    # of dimensions), then one big-endian int32 per dimension.
    ndim = len(spec.shape)
    offset = 4 + 4 * ndim
    header = np.frombuffer(payload, dtype=">i4", count=1 + ndim)
    if header[0] != 0x0800 + ndim or tuple(header[1:]) != spec.shape:
        raise ValueError(f"Fashion-MNIST file {path} has IDX header {header.tolist()}, expected "
                         f"{[0x0800 + ndim, *spec.shape]}")
    array = np.frombuffer(payload, dtype=np.uint8, offset=offset).reshape(spec.shape)
    _CACHE[key] = array        # frombuffer on bytes is already read-only
    return array


def _read_fashion(subsets: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Verified ``(pixels uint8 (N, 784), labels int64 (N,))`` of the subsets, in order."""
    folder = fashion_mnist_dir()
    specs = [spec for subset in subsets for spec in _FASHION_FILES[subset]]
    missing = [s.filename for s in specs if not (folder / s.filename).is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST is not installed: {', '.join(missing)} not found in {folder}. "
            "Install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or set "
            f"${FASHION_MNIST_ENV} to a folder holding the four files listed in data/README.md.")
    pixels, labels = [], []
    for subset in subsets:
        images_spec, labels_spec = _FASHION_FILES[subset]
        images = _read_idx(folder / images_spec.filename, images_spec)
        pixels.append(images.reshape(len(images), -1))
        labels.append(_read_idx(folder / labels_spec.filename, labels_spec).astype(np.int64))
    labels = np.concatenate(labels)
    if labels.max() > 9:
        raise ValueError(f"Fashion-MNIST labels in {folder} exceed 9")
    return np.concatenate(pixels), labels


# ---------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------

def _images(pixels: np.ndarray, side: int, pixel_max: int, flatten: bool) -> np.ndarray:
    x = pixels.astype(np.float64) / pixel_max
    return x if flatten else x.reshape(len(x), 1, side, side)


def _check_flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def load_digits(*, flatten: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The UCI optical digits: 1,797 images of 8x8, labels 0..9.

    Parameters
    ----------
    flatten : bool, default False
        Return images as ``(1797, 64)`` (row-major pixels) instead of ``(1797, 1, 8, 8)``.

    Returns
    -------
    x : ndarray of float64, shape (1797, 1, 8, 8) or (1797, 64)
        Pixel counts 0..16 divided by 16, so values are multiples of 1/16 in [0, 1].
    y : ndarray of int64, shape (1797,)
        Digit labels; class sizes 178, 182, 177, 183, 181, 182, 181, 179, 174, 180.

    Raises
    ------
    FileNotFoundError
        If ``digits.csv.gz`` is not in :func:`data_dir`.
    ValueError
        If the file's size or MD5 is not that of the shipped file.

    Examples
    --------
    >>> x, y = load_digits()
    >>> x.shape, y.shape, float(x.max())
    ((1797, 1, 8, 8), (1797,), 1.0)
    """
    return load_dataset("digits", flatten=flatten)[:2]


def load_mnist5k(*, flatten: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-5k: the first 500 training images of each digit, 28x28, labels 0..9.

    Parameters
    ----------
    flatten : bool, default False
        Return images as ``(5000, 784)`` (row-major pixels) instead of ``(5000, 1, 28, 28)``.

    Returns
    -------
    x : ndarray of float64, shape (5000, 1, 28, 28) or (5000, 784)
        Grey levels 0..255 divided by 255, in [0, 1] (0 is background).
    y : ndarray of int64, shape (5000,)
        Exactly 500 of each digit, SORTED by class as in the file (rows
        ``500 * k`` to ``500 * k + 499`` are digit ``k``): never take a slice as a
        split; use :func:`train_test_split` or :func:`prepare`.

    Raises
    ------
    FileNotFoundError
        If ``mnist_5k.csv.gz`` is not in :func:`data_dir`.
    ValueError
        If the file's size or MD5 is not that of the shipped file.
    """
    return load_dataset("mnist5k", flatten=flatten)[:2]


def load_fashion_mnist(subset: str = "all", *,
                       flatten: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (optional).

    Parameters
    ----------
    subset : {"all", "train", "test"}, default "all"
        The official 60,000 training images, the 10,000 test images, or both
        (training first).
    flatten : bool, default False
        Return images as ``(N, 784)`` instead of ``(N, 1, 28, 28)``.

    Returns
    -------
    x : ndarray of float64, shape (N, 1, 28, 28) or (N, 784)
        Grey levels 0..255 divided by 255, in [0, 1].
    y : ndarray of int64, shape (N,)
        Labels 0..9 (T-shirt/top, trouser, pullover, dress, coat, sandal,
        shirt, sneaker, bag, ankle boot).

    Raises
    ------
    FileNotFoundError
        If the files are not in :func:`fashion_mnist_dir`; the message says
        how to install them (``apt-get install dataset-fashion-mnist``).
    ValueError
        For an unknown ``subset``, or a file that is truncated or whose
        uncompressed MD5 differs from the published data.
    """
    if subset not in ("all", "train", "test"):
        raise ValueError(f"subset must be 'all', 'train' or 'test', got {subset!r}")
    flatten = _check_flag("flatten", flatten)
    pixels, labels = _read_fashion(("train", "test") if subset == "all" else (subset,))
    return _images(pixels, 28, 255, flatten), labels


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return name


def _load_raw(name: str) -> tuple[np.ndarray, np.ndarray, DatasetInfo]:
    """``(pixels uint8 (N, H*W), labels int64 (N,), info)`` of a dataset, verified."""
    name = _check_name(name)
    if name == "fashion-mnist":
        pixels, labels = _read_fashion(("train", "test"))
        files = tuple(str(fashion_mnist_dir() / s.filename)
                      for part in _FASHION_FILES.values() for s in part)
        n_train = _FASHION_FILES["train"][1].shape[0]
        info = DatasetInfo(name, (1, 28, 28), 10, 255, n_train, files, "MIT")
        return pixels, labels, info
    spec = _SHIPPED[name]
    pixels, labels = _read_shipped(name)
    info = DatasetInfo(name, (1, spec.side, spec.side), 10, spec.pixel_max, None,
                       (str(data_dir() / spec.filename),), spec.licence)
    return pixels, labels, info


def load_dataset(name: str, *, flatten: bool = False) -> Dataset:
    """A dataset by name, as ``Dataset(x, y, info)``.

    Parameters
    ----------
    name : {"digits", "mnist5k", "fashion-mnist"}
    flatten : bool, default False
        Images as ``(N, H * W)`` instead of ``(N, 1, H, W)``.

    Returns
    -------
    Dataset
        ``x`` float64 in [0, 1], ``y`` int64 in [0, 10), and a
        :class:`DatasetInfo`.  Fashion-MNIST holds its 60,000 training images
        first, then its 10,000 test images (``info.n_official_train == 60000``).

    Raises
    ------
    TypeError
        If ``name`` is not a str.
    ValueError
        For an unknown name, or a data file that fails its checks.
    FileNotFoundError
        If the data file is missing (for Fashion-MNIST, with how to install it).
    """
    flatten = _check_flag("flatten", flatten)
    pixels, labels, info = _load_raw(name)
    return Dataset(_images(pixels, info.image_shape[1], info.pixel_max, flatten),
                   labels.copy(), info)


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------

class TrainTest(NamedTuple):
    """The result of :func:`train_test_split`."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _count(name: str, size, n: int, *, allow_zero: bool) -> int:
    """``size`` as a number of rows out of ``n``: an int, or a fraction in (0, 1) rounded."""
    low = 0 if allow_zero else 1
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Real):
        raise TypeError(f"{name} must be an int (rows) or a float in (0, 1) (fraction), "
                        f"got {size!r}")
    if isinstance(size, numbers.Integral):
        count = int(size)
    elif 0.0 < size < 1.0:
        count = int(round(float(size) * n))
    else:
        raise ValueError(f"{name} as a fraction must lie in (0, 1), got {size!r}")
    if not low <= count <= n - 1:
        raise ValueError(f"{name}={size!r} gives {count} of {n} rows; expected between {low} "
                         f"and {n - 1} so that both parts are non-empty")
    return count


def split_indices(y, test_size, rng, *, stratify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A seeded partition of ``range(len(y))`` into train and test row indices.

    Parameters
    ----------
    y : array_like of int, shape (N,)
        Labels (used only when ``stratify``).
    test_size : int or float
        Rows in the test part: an int in ``[1, N - 1]``, or a fraction in
        ``(0, 1)`` of ``N`` rounded to the nearest int.
    rng : numpy.random.Generator or int
        The randomness; an int seed gives bitwise the same split every time.
    stratify : bool, default True
        Keep every class's share of the test part proportional to its share
        of ``y``.

    Returns
    -------
    train_index, test_index : ndarray of int64
        Disjoint, together ``range(N)``, each in random order.

    Notes
    -----
    Stratified: class ``c`` with ``n_c`` rows gives ``floor(test * n_c / N)`` rows
    to the test part; the rows still missing go one each to the classes with
    the largest remainders ``test * n_c mod N`` (ties to the smaller label), so
    the total is exact.  Each class's rows are permuted with ``rng`` and the
    first ``k_c`` go to test; both parts are then permuted with ``rng`` so that
    classes are mixed.  MNIST-5k with ``test_size=1000`` gets 100 of each digit.

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
    stratify = _check_flag("stratify", stratify)
    if not stratify:
        order = rng.permutation(n)
        return order[n_test:], order[:n_test]
    _, y_class = np.unique(y, return_inverse=True)
    counts = np.bincount(y_class)
    # Exact integer arithmetic: no float rounding decides who gets a row.
    k = n_test * counts // n
    remainder = n_test * counts % n
    extra = np.argsort(-remainder, kind="stable")[:n_test - k.sum()]
    k[extra] += 1
    train_parts, test_parts = [], []
    for c, k_c in enumerate(k):
        members = rng.permutation(np.flatnonzero(y_class == c))
        test_parts.append(members[:k_c])
        train_parts.append(members[k_c:])
    return rng.permutation(np.concatenate(train_parts)), rng.permutation(np.concatenate(test_parts))


def _check_xy(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 1 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"x and y must have the same number of rows (y 1-D), got x {x.shape} "
                         f"and y {y.shape}")
    return x, y


def train_test_split(x, y, test_size, rng, *, stratify: bool = True) -> TrainTest:
    """Split ``(x, y)`` into a training and a test part, seeded.

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    y : ndarray of int, shape (N,)
    test_size : int or float
        Rows in the test part (int) or their fraction of ``N`` (float in (0, 1)).
    rng : numpy.random.Generator or int
        An int seed gives bitwise the same split every time.
    stratify : bool, default True
        Keep class proportions (see :func:`split_indices`).

    Returns
    -------
    TrainTest
        ``(x_train, y_train, x_test, y_test)``, new arrays (the inputs are not
        modified), rows in random order.

    Examples
    --------
    >>> x, y = np.arange(20.0).reshape(10, 2), np.repeat(np.arange(2), 5)
    >>> parts = train_test_split(x, y, 0.2, rng=0)
    >>> parts.x_train.shape, parts.y_test.shape
    ((8, 2), (2,))
    """
    x, y = _check_xy(x, y)
    train, test = split_indices(y, test_size, rng, stratify=stratify)
    return TrainTest(x[train], y[train], x[test], y[test])


# ---------------------------------------------------------------------------
# Standardisation
# ---------------------------------------------------------------------------

class Standardizer(NamedTuple):
    """``z = (x - mean) / std`` with statistics fitted on training data.

    Attributes
    ----------
    mean, std : ndarray of float64
        Shape ``()`` (one scalar for all pixels) or the per-example shape
        (one value per pixel); ``std > 0`` everywhere.

    Call it on any array of examples: ``standardizer(x_test)``.
    """

    mean: np.ndarray
    std: np.ndarray

    def __call__(self, x) -> np.ndarray:
        """``(x - mean) / std`` as a new float64 array; ``x`` has shape (N, ...)."""
        x = np.asarray(x, dtype=np.float64)
        if self.mean.ndim and x.shape[1:] != self.mean.shape:
            raise ValueError(f"Standardizer: x has shape {x.shape}, expected "
                             f"(N, {', '.join(map(str, self.mean.shape))}) as fitted")
        return (x - self.mean) / self.std

    def inverse(self, z) -> np.ndarray:
        """``z * std + mean``: undo :meth:`__call__` (up to rounding)."""
        return np.asarray(z, dtype=np.float64) * self.std + self.mean


def fit_standardizer(x_train, *, per_feature: bool = False) -> Standardizer:
    """Fit a :class:`Standardizer` on training examples only.

    Parameters
    ----------
    x_train : ndarray, shape (N, ...)
        The training examples; never the validation or test ones, whose
        statistics must not leak into the model.
    per_feature : bool, default False
        False: one mean and one standard deviation over all entries (keeps
        the images' spatial structure, as MNIST's customary ``(x - 0.1307) /
        0.3081`` does).  True: one per pixel (axis 0 statistics), with a
        pixel that is constant in training given ``std = 1`` (it becomes 0).

    Returns
    -------
    Standardizer

    Raises
    ------
    ValueError
        If ``x_train`` is empty, not finite, or (global mode) constant.
    """
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


# ---------------------------------------------------------------------------
# prepare: the whole path from a name to the arrays a trainer uses
# ---------------------------------------------------------------------------

#: ``test_size`` used by :func:`prepare` when none is given.
DEFAULT_TEST_SIZE = {"digits": 0.2, "mnist5k": 1000}


class SplitInfo(NamedTuple):
    """How a :class:`Split` was made, enough to reproduce or audit it.

    Attributes
    ----------
    dataset : DatasetInfo
    seed : int or None
        The int seed given to :func:`prepare` (None if a Generator was given).
    train_index, val_index, test_index : ndarray of int64
        Rows of ``load_dataset(name)`` in each part, in the order of the
        split's arrays.
    standardizer : Standardizer or None
        Fitted on ``x_train`` only; None without standardisation.
    stratified : bool
    """

    dataset: DatasetInfo
    seed: int | None
    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray
    standardizer: Standardizer | None
    stratified: bool


class Split(NamedTuple):
    """Training, validation and test arrays made by :func:`prepare`.

    ``x_*`` are float64 with shape ``(n, 1, H, W)`` or ``(n, H * W)``; ``y_*``
    int64 of shape ``(n,)``.  The validation part may be empty (``n == 0``).
    """

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

    Parameters
    ----------
    name : {"digits", "mnist5k", "fashion-mnist"}
    seed : int or numpy.random.Generator
        An int gives bitwise the same split every call.
    test_size : int or float, optional
        Test rows (int) or fraction (float in (0, 1)) of the whole dataset.
        Default: 1,000 for mnist5k (a 4,000 / 1,000 split), 0.2 for digits
        (1,438 / 359).  Fashion-MNIST always uses its official 10,000-image
        test set, so ``test_size`` must be left out for it.
    val_size : int or float, default 0
        Validation rows (int) or fraction of the TRAINING part, carved out of
        it (mnist5k with ``val_size=400``: 3,600 / 400 / 1,000).  0 gives an
        empty validation part.
    flatten : bool, default False
        Images as ``(n, H * W)`` instead of ``(n, 1, H, W)``.
    standardize : bool, default True
        Apply :func:`fit_standardizer` fitted on ``x_train`` alone to all
        three parts; otherwise pixels stay in [0, 1].
    per_feature : bool, default False
        Passed to :func:`fit_standardizer`.
    stratify : bool, default True
        Stratify both splits by class (see :func:`split_indices`).

    Returns
    -------
    Split

    Notes
    -----
    The test part is drawn first from ``rng = as_rng(seed)`` and the
    validation part second, so the test set depends only on ``(seed,
    test_size)``: trying validation sizes never changes what is tested on.

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
    seed_int = None if isinstance(seed, np.random.Generator) else int(seed)
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
    n_val = _count("val_size", val_size, len(train), allow_zero=True)
    if n_val:
        keep, val = split_indices(labels[train], n_val, rng, stratify=stratify)
        train, val = train[keep], train[val]
    else:
        val = np.zeros(0, dtype=np.int64)

    side, pixel_max = info.image_shape[1], info.pixel_max
    x_train, x_val, x_test = (_images(pixels[rows], side, pixel_max, flatten)
                              for rows in (train, val, test))
    standardizer = None
    if standardize:
        standardizer = fit_standardizer(x_train, per_feature=per_feature)
        x_train, x_val, x_test = standardizer(x_train), standardizer(x_val), standardizer(x_test)
    split_info = SplitInfo(info, seed_int, train, val, test, standardizer, stratify)
    return Split(x_train, labels[train], x_val, labels[val], x_test, labels[test], split_info)


# ---------------------------------------------------------------------------
# Mini-batches
# ---------------------------------------------------------------------------

def batches(x, y, batch_size: int, rng) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of shuffled mini-batches ``(x_batch, y_batch)``.

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    y : ndarray, shape (N,)
    batch_size : int
        Rows per batch (>= 1).  The last batch keeps the ``N % batch_size``
        leftover rows when there are any, so every row is seen once per epoch.
    rng : numpy.random.Generator or int
        Draws the epoch's permutation.  Pass the SAME Generator every epoch
        to get a fresh order each epoch; an int seed gives the same order on
        every call.

    Returns
    -------
    iterator of (ndarray, ndarray)
        ``ceil(N / batch_size)`` pairs of new arrays (copies).

    Notes
    -----
    The permutation is drawn when ``batches`` is called, not when iteration
    starts, so the ``rng`` stream (and hence a run) does not depend on how
    far a caller iterates.

    Examples
    --------
    >>> x, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> [len(yb) for _, yb in batches(x, y, 2, np.random.default_rng(0))]
    [2, 2, 1]
    """
    x, y = _check_xy(x, y)
    batch_size = check_positive_int("batch_size", batch_size, "batches")
    order = as_rng(rng).permutation(len(y))

    def epoch():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            yield x[rows], y[rows]

    return epoch()
