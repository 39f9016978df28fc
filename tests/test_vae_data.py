"""Data loading: the bundled digits, MNIST IDX files (written here by hand), array files, checks, batches."""

import gzip
import struct

import numpy as np
import pytest

from vae.data import (
    DataError,
    binarize,
    load_array_file,
    load_dataset,
    load_digits,
    load_mnist,
    read_idx,
    shuffled_batches,
    validate,
    write_idx,
)


def idx_bytes(array, type_code=0x08):
    """An IDX file assembled by hand: 0, 0, type, ndim, big-endian uint32 sizes, big-endian data."""
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[type_code]
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.asarray(array, dtype).tobytes()


def write_mnist(directory, n_train=12, n_test=5, rows=4, cols=3, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, rows, cols), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8)}
    for name, a in arrays.items():
        data = idx_bytes(a)
        (directory / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)
    return arrays


# ----------------------------------------------------------------------------------------------
# IDX

@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip_by_hand_and_with_write_idx(tmp_path, gz):
    rng = np.random.default_rng(0)
    cases = [(rng.integers(0, 256, (3, 4, 5), dtype=np.uint8), 0x08),
             (rng.integers(-300, 300, (7,), dtype=np.int16), 0x0B),
             (rng.normal(size=(2, 3)).astype(np.float32), 0x0D)]
    for i, (a, code) in enumerate(cases):
        path = tmp_path / (f"a{i}.idx" + (".gz" if gz else ""))
        data = idx_bytes(a, code)
        path.write_bytes(gzip.compress(data) if gz else data)
        got = read_idx(path)
        assert got.shape == a.shape and got.dtype == a.dtype.newbyteorder("=")
        np.testing.assert_array_equal(got, a)
        path2 = tmp_path / (f"b{i}.idx" + (".gz" if gz else ""))
        write_idx(path2, a)
        raw = gzip.decompress(path2.read_bytes()) if gz else path2.read_bytes()
        assert raw == data                       # write_idx writes exactly the hand-made bytes
        np.testing.assert_array_equal(read_idx(path2), a)


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_from_idx_files(tmp_path, gz):
    arrays = write_mnist(tmp_path, gz=gz)
    data = load_mnist(str(tmp_path), binarize="none")
    assert data.train.shape == (12, 12) and data.test.shape == (5, 12) and data.image_shape == (4, 3)
    assert data.train.dtype == np.float32
    np.testing.assert_allclose(data.train, arrays["train-images-idx3-ubyte"].reshape(12, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.test_labels, arrays["t10k-labels-idx1-ubyte"])
    # static: both sets binarized once (the same every time); dynamic: the test set only
    static = load_mnist(str(tmp_path), binarize="static")
    assert set(np.unique(static.train)) <= {0.0, 1.0} and set(np.unique(static.test)) <= {0.0, 1.0}
    np.testing.assert_array_equal(static.train, load_mnist(str(tmp_path), binarize="static").train)
    dynamic = load_dataset(str(tmp_path))                  # a directory of IDX files: MNIST, dynamic by default
    assert dynamic.binarize == "dynamic"
    np.testing.assert_array_equal(dynamic.train, data.train)
    np.testing.assert_array_equal(dynamic.test, static.test)


def test_mnist_by_name_reads_mnist_dir(tmp_path):
    write_mnist(tmp_path)
    assert load_dataset("mnist", mnist_dir=str(tmp_path)).train.shape == (12, 12)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\[\.gz\] not found.*nothing is downloaded"):
        load_dataset("mnist", mnist_dir=str(tmp_path / "empty"))


def test_missing_mnist_files_are_named(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        load_mnist(str(tmp_path))
    with pytest.raises(DataError, match="is not a directory"):
        load_mnist(str(tmp_path / "nope"))


@pytest.mark.parametrize("corrupt, message", [
    (lambda b: b[:3], "shorter than the 4-byte header"),
    (lambda b: b"\x01\x00" + b[2:], "bad magic number"),
    (lambda b: b[:2] + b"\x07" + b[3:], "bad magic number"),
    (lambda b: b[:6], "header declares 3 dimensions"),
    (lambda b: b[:-1], "truncated or not this format"),
    (lambda b: b + b"\x00", "truncated or not this format"),
])
def test_malformed_idx_files_give_errors_naming_the_file(tmp_path, corrupt, message):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(DataError, match=message) as info:
        load_mnist(str(tmp_path))
    assert str(path) in str(info.value)


def test_idx_with_wrong_shapes_or_counts(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((12, 12), np.uint8)))
    with pytest.raises(DataError, match=r"expected images \(N, rows, cols\).*shape \(12, 12\)"):
        load_mnist(str(tmp_path))
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(11, np.uint8)))
    with pytest.raises(DataError, match="11 labels for the 12 images"):
        load_mnist(str(tmp_path))


def test_bad_gzip_is_reported(tmp_path):
    path = tmp_path / "x.idx.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match=f"{path}: not a valid gzip file"):
        read_idx(path)


# ----------------------------------------------------------------------------------------------
# Array files and validation

def test_npy_and_npz_layouts(tmp_path):
    x = np.random.default_rng(0).random((50, 9))
    np.save(tmp_path / "x.npy", x)
    data = load_array_file(str(tmp_path / "x.npy"))
    assert data.train.shape == (40, 9) and data.test.shape == (10, 9) and data.image_shape == (3, 3)
    np.testing.assert_allclose(np.sort(np.concatenate([data.train, data.test]), axis=0),
                               np.sort(x, axis=0).astype(np.float32))
    labels = np.arange(50) % 3
    np.savez(tmp_path / "xy.npz", pixels=x, labels=labels)
    with_labels = load_array_file(str(tmp_path / "xy.npz"))
    np.testing.assert_array_equal(with_labels.train, data.train)          # the same fixed split
    assert with_labels.test_labels is not None and len(with_labels.test_labels) == 10
    np.savez(tmp_path / "split.npz", train=x[:30, :5], test=x[30:, :5])
    split = load_array_file(str(tmp_path / "split.npz"))
    assert split.train.shape == (30, 5) and split.test.shape == (20, 5) and split.image_shape == (1, 5)
    np.savez(tmp_path / "two.npz", a=x, b=x)
    with pytest.raises(DataError, match=r"exactly one data array, found \['a', 'b'\]"):
        load_array_file(str(tmp_path / "two.npz"))


@pytest.mark.parametrize("array, message", [
    (np.zeros(10), "expected a 2-D array"),
    (np.zeros((4, 3, 3)), r"got shape \(4, 3, 3\); flatten images"),
    (np.zeros((0, 5)), "the array is empty"),
    (np.zeros((5, 0)), r"the array is empty \(shape \(5, 0\)\)"),
    (np.array([[0.5, np.nan], [0.1, 0.2]]), r"1 NaN or infinite value \(the first at row 0, column 1\)"),
    (np.array([[0.5, np.inf], [0.1, 0.2]]), "NaN or infinite"),
    (np.array([[0.5, 1.5], [0.1, 0.2]]), r"must lie in \[0, 1\] for the Bernoulli likelihood, got range \[0.1, 1.5\]"),
    (np.array([[0.5, -0.5], [0.1, 0.2]]), r"must lie in \[0, 1\] for the Bernoulli likelihood, got range \[-0.5, 0.5"),
    (np.array([[0, 255], [3, 4]], np.uint8), r"got range \[0, 255\]; scale them"),
    (np.array([["a", "b"]]), "expected numbers"),
])
def test_bad_arrays_are_rejected(tmp_path, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(DataError, match=message) as info:
        load_dataset(str(path))
    assert str(path) in str(info.value)


def test_range_depends_on_the_likelihood():
    x = np.array([[-3.0, 2.0], [0.5, 7.0]])
    assert validate(x, "gaussian") is not None
    with pytest.raises(DataError, match="Bernoulli"):
        validate(x, "bernoulli")


def test_unreadable_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="junk.npz"):
        load_dataset(str(tmp_path / "junk.npz"))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"holds Python objects \(dtype object\), not numbers; files are never"):
        load_dataset(str(tmp_path / "obj.npy"))
    with pytest.raises(DataError, match="no such file or directory"):
        load_dataset(str(tmp_path / "absent"))
    with pytest.raises(DataError, match="no such file"):
        load_dataset(str(tmp_path / "absent.npy"))


# ----------------------------------------------------------------------------------------------
# The digits, batches, binarization

def test_digits_are_the_sklearn_digits_scaled_with_a_fixed_split():
    from sklearn.datasets import load_digits as sk

    bunch = sk()
    a, b = load_digits(), load_digits(dtype=np.float64)
    assert a.train.shape == (1438, 64) and a.test.shape == (359, 64) and a.image_shape == (8, 8)
    assert a.train.min() == 0 and a.train.max() == 1
    np.testing.assert_array_equal(a.train, b.train.astype(np.float32))       # the split never changes
    # every test image is one of sklearn's, with its label
    lookup = {row.tobytes(): label for row, label in zip(bunch.data / 16.0, bunch.target)}
    assert all(lookup[row.tobytes()] == label for row, label in zip(b.test, b.test_labels))
    assert len(set(b.test_labels)) == 10


def test_shuffled_batches_cover_every_index_once_and_repeat_with_the_seed():
    batches = shuffled_batches(23, 5, np.random.default_rng(0))
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert sorted(np.concatenate(batches).tolist()) == list(range(23))
    again = shuffled_batches(23, 5, np.random.default_rng(0))
    assert all(np.array_equal(p, q) for p, q in zip(batches, again))
    assert not np.array_equal(np.concatenate(batches), np.arange(23))


def test_binarize_draws_bernoulli_pixels():
    x = np.full((200, 50), 0.3, np.float32)
    b = binarize(x, np.random.default_rng(0))
    assert b.dtype == np.float32 and set(np.unique(b)) == {0.0, 1.0}
    assert abs(b.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / b.size)        # 4 standard errors
    np.testing.assert_array_equal(b, binarize(x, np.random.default_rng(0)))
