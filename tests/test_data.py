"""refnet.data: the shipped files, their checks, splits, standardisation and batches."""
import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from refnet import data

REPO_DATA = Path(data.__file__).resolve().parents[1] / "data"
SHIPPED = {"digits": ("digits.csv.gz", 1797, 8, 16), "mnist5k": ("mnist_5k.csv.gz", 5000, 28, 255)}


@pytest.fixture(autouse=True)
def _default_folders(monkeypatch):
    # A developer's own overrides must not change what these tests read.
    monkeypatch.delenv(data.DATA_ENV, raising=False)


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of data/ that REFNET_DATA points at, for tests that damage files."""
    for filename, *_ in SHIPPED.values():
        shutil.copyfile(REPO_DATA / filename, tmp_path / filename)
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    return tmp_path


# -- the shipped files ------------------------------------------------------------

@pytest.mark.parametrize("name", ["digits", "mnist5k"])
@pytest.mark.parametrize("flatten", [False, True])
def test_loader_shapes_dtypes_and_ranges(name, flatten):
    _, n, side, pixel_max = SHIPPED[name]
    x, y, _ = data.load_dataset(name, flatten=flatten)
    assert x.shape == ((n, side * side) if flatten else (n, 1, side, side))
    assert x.dtype == np.float64 and y.dtype == np.int64 and y.shape == (n,)
    assert x.min() == 0.0 and x.max() == 1.0
    # Exactly grey level / pixel_max: rescaling gives back integers 0..pixel_max.
    levels = x * pixel_max
    np.testing.assert_allclose(levels, np.round(levels), rtol=0, atol=1e-9)
    assert set(np.unique(y).tolist()) == set(range(10))


def test_flat_and_image_layouts_hold_the_same_pixels():
    x_img, y_img = data.load_dataset("mnist5k")[:2]
    x_flat, y_flat = data.load_dataset("mnist5k", flatten=True)[:2]
    np.testing.assert_array_equal(x_img.reshape(5000, 784), x_flat)
    np.testing.assert_array_equal(y_img, y_flat)


def test_digits_label_counts():
    y = data.load_dataset("digits").y
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_mnist5k_has_500_of_each_digit_sorted_by_class():
    x, y = data.load_dataset("mnist5k")[:2]
    np.testing.assert_array_equal(y, np.repeat(np.arange(10), 500))
    assert len(np.unique(x.reshape(5000, -1), axis=0)) == 5000


def test_mnist5k_first_five_is_mnist_training_image_0():
    # data/README.md's evidence that the subset comes from MNIST's training set in order.
    x, _ = data.load_dataset("mnist5k")[:2]
    row5 = np.round(x[2500, 0, 5] * 255).astype(int)
    expected = [0] * 12 + [3, 18, 18, 18, 126, 136, 175, 26, 166, 255, 247, 127] + [0] * 4
    assert row5.tolist() == expected


def test_load_dataset_returns_fresh_arrays():
    ds = data.load_dataset("digits", flatten=True)
    x, y = data.load_dataset("digits", flatten=True)[:2]
    np.testing.assert_array_equal(ds.x, x)
    np.testing.assert_array_equal(ds.y, y)
    assert ds.info.name == "digits" and ds.info.image_shape == (1, 8, 8)
    assert ds.info.n_classes == 10 and ds.info.pixel_max == 16
    assert ds.info.n_official_train is None and ds.info.licence == "CC BY 4.0"
    ds.x[:] = -1.0           # a caller may scribble on what it got ...
    ds.y[:] = -1
    again = data.load_dataset("digits", flatten=True)   # ... without reaching the cache
    np.testing.assert_array_equal(again.x, x)
    np.testing.assert_array_equal(again.y, y)


def test_provenance_note_lists_every_checksum_and_size():
    readme = (REPO_DATA / "README.md").read_text()
    for name, (filename, *_rest) in SHIPPED.items():
        blob = (REPO_DATA / filename).read_bytes()
        spec = data._SHIPPED[name]
        assert hashlib.md5(blob).hexdigest() == spec.md5 and len(blob) == spec.size
        assert spec.md5 in readme and hashlib.sha256(blob).hexdigest() in readme
        assert f"{spec.size:,}" in readme


def test_unknown_or_mistyped_name():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*digits, mnist5k, fashion-mnist"):
        data.load_dataset("mnist")
    with pytest.raises(TypeError, match="must be a str"):
        data.load_dataset(5)
    with pytest.raises(ValueError, match="unknown dataset"):
        data.prepare("cifar10", seed=0)
    with pytest.raises(TypeError, match="flatten must be True or False"):
        data.load_dataset("digits", flatten="yes")


# -- damaged and missing files ------------------------------------------------------

def test_missing_file_names_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "mnist_5k.csv.gz")) as err:
        data.load_dataset("mnist5k")[:2]
    assert data.DATA_ENV in str(err.value)


def test_data_env_override_is_used(data_copy):
    assert data.data_dir() == data_copy
    ds = data.load_dataset("digits")
    assert ds.info.files == (str(data_copy / "digits.csv.gz"),)


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_truncated_file_is_an_error(name, data_copy):
    path = data_copy / SHIPPED[name][0]
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=rf"{path}.*bytes, expected {len(blob)}.*truncated"):
        data.load_dataset(name)


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_altered_byte_is_a_checksum_error(name, data_copy):
    path = data_copy / SHIPPED[name][0]
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF          # same size, different content
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=rf"{path} has md5 [0-9a-f]{{32}}, expected"):
        data.load_dataset(name)


def test_valid_gzip_with_other_content_is_a_checksum_error(data_copy):
    path = data_copy / "digits.csv.gz"
    # Well-formed gzip CSV of the right shape, padded to the right size: only the md5 catches it.
    fake = gzip.compress(b"\n".join([b",".join([b"0"] * 65)] * 1797) + b"\n")
    path.write_bytes(fake + b"\0" * (data._SHIPPED["digits"].size - len(fake)))
    with pytest.raises(ValueError, match="md5"):
        data.load_dataset("digits")


def test_file_damaged_after_a_good_load_is_caught(data_copy):
    data.load_dataset("digits")                    # verified and cached
    path = data_copy / "digits.csv.gz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        data.load_dataset("digits")


# -- Fashion-MNIST (optional) -------------------------------------------------------

def test_fashion_mnist_absent_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(tmp_path))
    for call in (lambda: data.load_dataset("fashion-mnist"),
                 lambda: data.prepare("fashion-mnist", seed=0)):
        with pytest.raises(FileNotFoundError,
                           match=r"apt-get install dataset-fashion-mnist") as err:
            call()
        assert str(tmp_path) in str(err.value) and "t10k-images-idx3-ubyte.gz" in str(err.value)


def _idx_gz(array: np.ndarray) -> bytes:
    header = np.array([0x0800 + array.ndim, *array.shape], dtype=">i4").tobytes()
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def _write_fake_fashion(folder: Path, n_train=6, n_test=4) -> None:
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
            _idx_gz(rng.integers(0, 256, (n, 28, 28))))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(_idx_gz(np.arange(n) % 10))


def test_fashion_mnist_wrong_content_is_a_checksum_error(tmp_path, monkeypatch):
    _write_fake_fashion(tmp_path)
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="md5 .* expected .*apt-get install --reinstall"):
        data.load_dataset("fashion-mnist")


def test_fashion_mnist_truncated_gzip_is_an_error(tmp_path, monkeypatch):
    _write_fake_fashion(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"     # read first
    path.write_bytes(path.read_bytes()[:-12])
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="not a complete gzip file"):
        data.load_dataset("fashion-mnist")


def test_fashion_mnist_reader_on_files_with_their_own_checksums(tmp_path, monkeypatch):
    # The real files are optional; fakes whose MD5s are patched in exercise the same path.
    _write_fake_fashion(tmp_path, n_train=6, n_test=4)
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(tmp_path))
    monkeypatch.setattr(data, "_FASHION", {
        part: tuple((name, hashlib.md5(gzip.decompress((tmp_path / name).read_bytes())).hexdigest())
                    for name, _ in files)
        for part, files in data._FASHION.items()})
    x, y, _ = data.load_dataset("fashion-mnist")
    assert x.shape == (10, 1, 28, 28) and x.dtype == np.float64
    ds = data.load_dataset("fashion-mnist", flatten=True)
    assert ds.x.shape == (10, 784) and ds.y.tolist() == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3]
    assert ds.info.n_official_train == 6 and len(ds.info.files) == 4
    np.testing.assert_array_equal(ds.x, x.reshape(10, 784))
    levels = ds.x * 255
    np.testing.assert_array_equal(levels, np.round(levels))
    split = data.prepare("fashion-mnist", seed=0, val_size=2, standardize=False)
    np.testing.assert_array_equal(split.info.test_index, np.arange(6, 10))
    assert sorted(np.concatenate([split.info.train_index, split.info.val_index])) == list(range(6))


def _fashion_installed() -> bool:
    folder = data.fashion_mnist_dir()
    return all((folder / filename).is_file()
               for part in data._FASHION.values() for filename, _ in part)


@pytest.mark.skipif(not _fashion_installed(),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist, "
                           "or set REFNET_FASHION_MNIST)")
def test_fashion_mnist_present():
    x, y, _ = data.load_dataset("fashion-mnist", flatten=True)
    x, y = x[60_000:], y[60_000:]
    assert x.shape == (10_000, 784) and x.dtype == np.float64 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert np.bincount(y).tolist() == [1000] * 10
    split = data.prepare("fashion-mnist", seed=0, val_size=5000, flatten=True)
    assert (len(split.y_train), len(split.y_val), len(split.y_test)) == (55_000, 5_000, 10_000)
    np.testing.assert_array_equal(split.info.test_index, np.arange(60_000, 70_000))
    np.testing.assert_array_equal(split.y_test, y)
    with pytest.raises(ValueError, match="official test set"):
        data.prepare("fashion-mnist", seed=0, test_size=100)


# -- splits -------------------------------------------------------------------------

def test_stratified_split_of_mnist5k_is_100_per_class_and_a_partition():
    _, y = data.load_dataset("mnist5k")[:2]
    train, test = data.split_indices(y, 1000, rng=0)
    assert len(train) == 4000 and len(test) == 1000
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(5000))
    assert np.bincount(y[test]).tolist() == [100] * 10
    assert np.bincount(y[train]).tolist() == [400] * 10
    assert not np.all(np.diff(y[train]) >= 0), "training rows should be shuffled, not by class"


def test_split_is_deterministic_for_a_seed_and_changes_with_it():
    y = np.repeat(np.arange(10), 50)
    a = data.split_indices(y, 0.3, rng=7)
    b = data.split_indices(y, 0.3, rng=np.random.default_rng(7))
    c = data.split_indices(y, 0.3, rng=8)
    for part_a, part_b in zip(a, b):
        np.testing.assert_array_equal(part_a, part_b)
    assert not np.array_equal(np.sort(a[1]), np.sort(c[1]))


def test_plain_split_sizes_and_partition():
    y = np.zeros(37, dtype=int)
    train, test = data.split_indices(y, 0.25, rng=1, stratify=False)
    assert len(test) == 9 and len(train) == 28     # round(0.25 * 37) = 9
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(37))


@given(counts=st.lists(st.integers(1, 30), min_size=1, max_size=6),
       frac=st.floats(0.05, 0.95), seed=st.integers(0, 2**32 - 1))
def test_stratified_quotas_are_proportional(counts, frac, seed):
    y = np.repeat(np.arange(len(counts)) * 3, counts)      # labels need not be 0..K-1
    n = len(y)
    n_test = int(round(frac * n))
    if not 1 <= n_test <= n - 1:
        with pytest.raises(ValueError, match="test_size|at least 2"):
            data.split_indices(y, frac, rng=seed)
        return
    train, test = data.split_indices(y, frac, rng=seed)
    assert len(test) == n_test
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(n))
    for label, n_c in zip(np.arange(len(counts)) * 3, counts):
        k_c = np.sum(y[test] == label)
        assert n_test * n_c // n <= k_c <= -(-n_test * n_c // n)   # floor <= k_c <= ceil


@pytest.mark.parametrize("size, error", [(0, ValueError), (10, ValueError), (1.0, ValueError),
                                         (0.0, ValueError), (-3, ValueError), (True, TypeError),
                                         ("0.2", TypeError)])
def test_split_rejects_bad_sizes(size, error):
    with pytest.raises(error, match="test_size"):
        data.split_indices(np.arange(10), size, rng=0)


def test_split_rejects_bad_labels_and_rng():
    with pytest.raises(ValueError, match="1-D integer"):
        data.split_indices(np.zeros(10), 2, rng=0)
    with pytest.raises(TypeError, match="Generator or an int seed"):
        data.split_indices(np.arange(10), 2, rng=None)


# -- standardisation ----------------------------------------------------------------

def test_standardizer_global_and_per_feature():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(50, 4))
    x[:, 1] = 5.0                                            # a constant feature
    glob = data.fit_standardizer(x)
    assert glob.mean.shape == () and glob.std.shape == ()
    z = glob(x)
    np.testing.assert_allclose([z.mean(), z.std()], [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(glob.inverse(z), x, rtol=1e-12)
    per = data.fit_standardizer(x, per_feature=True)
    z = per(x)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), [1.0, 0.0, 1.0, 1.0], atol=1e-12)
    with pytest.raises(ValueError, match=r"expected \(N, 4\)"):
        per(np.zeros((3, 5)))


def test_standardizer_rejects_degenerate_training_data():
    with pytest.raises(ValueError, match="constant"):
        data.fit_standardizer(np.ones((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        data.fit_standardizer(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="at least one example"):
        data.fit_standardizer(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="x_train must be a real array, got dtype complex128"):
        data.fit_standardizer(np.ones((5, 3)) * 1j)


def test_a_negative_seed_names_the_seed():
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        data.prepare("digits", seed=-1)


# -- prepare ------------------------------------------------------------------------

def test_prepare_mnist5k_default_is_4000_train_1000_test():
    split = data.prepare("mnist5k", seed=0, flatten=True)
    assert split.x_train.shape == (4000, 784) and split.x_test.shape == (1000, 784)
    assert split.x_val.shape == (0, 784) and split.y_val.shape == (0,)
    assert np.bincount(split.y_test).tolist() == [100] * 10
    assert split.info.seed == 0 and split.info.stratified
    assert split.y_train.dtype == np.int64 and split.x_train.dtype == np.float64


def test_prepare_with_validation_carves_it_from_train():
    full = data.load_dataset("mnist5k", flatten=True)
    split = data.prepare("mnist5k", seed=1, val_size=400, flatten=True, standardize=False)
    info = split.info
    assert (len(info.train_index), len(info.val_index), len(info.test_index)) == (3600, 400, 1000)
    rows = np.concatenate([info.train_index, info.val_index, info.test_index])
    np.testing.assert_array_equal(np.sort(rows), np.arange(5000))
    for x, y, index in ((split.x_train, split.y_train, info.train_index),
                        (split.x_val, split.y_val, info.val_index),
                        (split.x_test, split.y_test, info.test_index)):
        np.testing.assert_array_equal(x, full.x[index])
        np.testing.assert_array_equal(y, full.y[index])
    assert np.bincount(split.y_val).tolist() == [40] * 10
    # Validation size never changes what is tested on.
    no_val = data.prepare("mnist5k", seed=1, flatten=True, standardize=False)
    np.testing.assert_array_equal(no_val.info.test_index, info.test_index)


def test_prepare_is_bitwise_deterministic_for_a_seed():
    a = data.prepare("digits", seed=5, val_size=0.1)
    b = data.prepare("digits", seed=5, val_size=0.1)
    for left, right in zip(a[:6], b[:6]):
        assert left.dtype == right.dtype and left.tobytes() == right.tobytes()
    assert a.info.standardizer.mean.tobytes() == b.info.standardizer.mean.tobytes()
    c = data.prepare("digits", seed=6, val_size=0.1)
    assert not np.array_equal(a.info.test_index, c.info.test_index)


def test_prepare_digits_default_sizes_and_image_layout():
    split = data.prepare("digits", seed=0)
    assert split.x_train.shape == (1438, 1, 8, 8) and split.x_test.shape == (359, 1, 8, 8)


def test_prepare_standardizes_with_training_statistics_only():
    raw = data.prepare("mnist5k", seed=2, val_size=500, flatten=True, standardize=False)
    split = data.prepare("mnist5k", seed=2, val_size=500, flatten=True)
    mean, std = raw.x_train.mean(), raw.x_train.std()
    assert split.info.standardizer.mean == mean and split.info.standardizer.std == std
    np.testing.assert_allclose(split.x_test, (raw.x_test - mean) / std, rtol=1e-13)
    np.testing.assert_allclose(split.x_val, (raw.x_val - mean) / std, rtol=1e-13)
    # The test and validation rows' own statistics differ from the training ones,
    # so using them would have shown up above.
    assert raw.x_test.mean() != mean and raw.x_val.std() != std
    np.testing.assert_allclose([split.x_train.mean(), split.x_train.std()], [0.0, 1.0],
                               atol=1e-12)
    per = data.prepare("mnist5k", seed=2, flatten=True, per_feature=True)
    assert per.info.standardizer.mean.shape == (784,)
    assert np.all(np.isfinite(per.x_test))


def test_prepare_rejects_bad_arguments():
    with pytest.raises(ValueError, match="val_size"):
        data.prepare("digits", seed=0, val_size=1438)
    with pytest.raises(ValueError, match="test_size"):
        data.prepare("mnist5k", seed=0, test_size=5000)
    with pytest.raises(TypeError, match="int seed"):
        data.prepare("digits", seed=None)


# -- batches ------------------------------------------------------------------------

def test_batches_cover_every_row_once_and_keep_the_last_partial_batch():
    x = np.arange(10.0)[:, None] * np.ones((1, 3))
    y = np.arange(10)
    got = list(data.batches(x, y, 4, np.random.default_rng(0)))
    assert [len(yb) for _, yb in got] == [4, 4, 2]
    seen = np.concatenate([yb for _, yb in got])
    np.testing.assert_array_equal(np.sort(seen), y)
    for xb, yb in got:
        np.testing.assert_array_equal(xb[:, 0], yb)                 # pairs stay together
    targets = np.stack([y, -y], axis=1)                             # per-row targets, (N, 2)
    for xb, tb in data.batches(x, targets, 4, np.random.default_rng(0)):
        np.testing.assert_array_equal(tb, np.stack([xb[:, 0], -xb[:, 0]], axis=1))


def test_batches_fresh_order_each_epoch_from_one_generator():
    y = np.arange(100)
    rng = np.random.default_rng(0)
    first = np.concatenate([yb for _, yb in data.batches(y, y, 32, rng)])
    second = np.concatenate([yb for _, yb in data.batches(y, y, 32, rng)])
    assert not np.array_equal(first, second)
    replay = np.random.default_rng(0)
    np.testing.assert_array_equal(
        np.concatenate([yb for _, yb in data.batches(y, y, 32, replay)]), first)
    # An int seed gives the same order on every call.
    a = np.concatenate([yb for _, yb in data.batches(y, y, 32, 3)])
    b = np.concatenate([yb for _, yb in data.batches(y, y, 32, 3)])
    np.testing.assert_array_equal(a, b)


def test_batches_draw_the_permutation_when_called():
    y = np.arange(20)
    rng, twin = np.random.default_rng(4), np.random.default_rng(4)
    data.batches(y, y, 5, rng)              # never iterated
    twin.permutation(20)
    assert rng.integers(1 << 30) == twin.integers(1 << 30)


def test_batches_reject_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        data.batches(np.zeros((4, 2)), np.zeros(4), 0, 0)
    with pytest.raises(ValueError, match="same number of rows"):
        data.batches(np.zeros((4, 2)), np.zeros(3), 2, 0)
