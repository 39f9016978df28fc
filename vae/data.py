"""Data for the VAE: the bundled digits, MNIST from IDX files, any (N, D) array file; batching; checks.

Every dataset is a `Dataset` of float arrays (N, D) — a training and a test set — with labels when the
source has them (used only to colour plots) and the shape of one image (for plotting). Nothing here
downloads anything: the digits ship inside scikit-learn's wheel, MNIST is read from files the user has.
"""

import gzip
import math
import os
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import DataError
from .io import atomic_write_bytes, numpy_file_kind
from .model import LIKELIHOODS

__all__ = ["Dataset", "load_dataset", "load_digits", "load_mnist", "load_array_file", "read_idx", "write_idx",
           "validate", "binarize", "shuffled_batches", "DIGITS_SPLIT_SEED", "MNIST_FILES"]

DIGITS_SPLIT_SEED = 0            # the digits' train/test split never changes with --seed
TEST_FRACTION = 0.2
BINARIZE_SEED = 1                # static binarization (and the test set under dynamic) use this fixed draw
BINARIZE_MODES = ("none", "static", "dynamic")
MNIST_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
               "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


@dataclass
class Dataset:
    """train/test: float arrays (N, D) in the model's dtype. With binarize="dynamic", `train` holds grey
    levels in [0, 1] that are binarized afresh for every batch (`binarize(x, rng)`), while `test` was
    binarized once, with a fixed seed, so that test numbers are comparable between runs."""
    name: str
    train: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray | None
    test_labels: np.ndarray | None
    image_shape: tuple
    binarize: str = "none"

    @property
    def dim(self):
        return self.train.shape[1]


# ----------------------------------------------------------------------------------------------
# Checks and transforms

def validate(x, likelihood="bernoulli", where="data", dtype=None):
    """x after checking it is 2-D (N, D), non-empty, numeric, finite and — for the Bernoulli likelihood —
    in [0, 1]; cast to `dtype` if given, and finite after the cast too (1e300 is finite in float64 but
    infinite in float32). DataError naming `where` otherwise."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise DataError(f"{where}: expected numbers, got an array of dtype {x.dtype}")
    if x.ndim != 2:
        hint = "; flatten images with x.reshape(len(x), -1)" if x.ndim > 2 else ""
        raise DataError(f"{where}: expected a 2-D array (N examples, D features), got shape {x.shape}{hint}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(f"{where}: the array is empty (shape {x.shape})")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            (row, col), count = np.argwhere(bad)[0], int(bad.sum())
            raise DataError(f"{where}: {count} NaN or infinite value{'s' if count > 1 else ''} (the first at row "
                            f"{row}, column {col})")
    if likelihood == "bernoulli":
        lo, hi = x.min(), x.max()
        if lo < 0 or hi > 1:
            raise DataError(f"{where}: values must lie in [0, 1] for the Bernoulli likelihood, got range "
                            f"[{lo:g}, {hi:g}]; scale them (e.g. x / 255) or use the Gaussian likelihood",
                            option=("likelihood", "gaussian"))
    if dtype is not None and x.dtype != dtype:
        with np.errstate(over="ignore"):                 # reported below, naming the file and the element
            cast = x.astype(dtype)
        bad = ~np.isfinite(cast)
        if bad.any():
            (row, col), count = np.argwhere(bad)[0], int(bad.sum())
            raise DataError(f"{where}: {count} value{'s' if count > 1 else ''} beyond the range of "
                            f"{np.dtype(dtype).name} (±{np.finfo(dtype).max:.3g}), the first at row {row}, column "
                            f"{col}: {x[row, col]:g}")
        x = cast
    return x


def _validate_labels(labels, n, where):
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != n:
        raise DataError(f"{where}: expected {n} labels in a 1-D array, got shape {labels.shape}")
    if labels.dtype.kind not in "iub":
        raise DataError(f"{where}: labels must be integers, got dtype {labels.dtype}")
    return labels.astype(np.int64)


def binarize(x, rng, dtype=None):
    """A Bernoulli draw per pixel: 1 with probability x (x in [0, 1]), from the Generator `rng`."""
    return (rng.random(x.shape) < x).astype(dtype or x.dtype)


def shuffled_batches(n, batch_size, rng):
    """A random permutation of range(n) from `rng`, cut into consecutive batches (the last may be short)."""
    perm = rng.permutation(n)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def _split(x, labels, seed, where, fraction=TEST_FRACTION):
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, int(round(fraction * len(x))))
    if len(x) - n_test < 1:
        raise DataError(f"{where}: {len(x)} example{'s' if len(x) != 1 else ''}; at least 2 are needed for a "
                        "train/test split")
    test, train = order[:n_test], order[n_test:]
    return x[train], x[test], (None if labels is None else labels[train]), (None if labels is None else labels[test])


def _image_shape(d):
    side = int(round(np.sqrt(d)))
    return (side, side) if side * side == d else (1, d)


def _finish(name, train, test, train_labels, test_labels, image_shape, likelihood, binarize_mode, dtype, where=None):
    where = where or name
    train = validate(train, likelihood, f"{where} (training set)", dtype)
    test = validate(test, likelihood, f"{where} (test set)", dtype)
    if train.shape[1] != test.shape[1]:
        raise DataError(f"{name}: the training set has {train.shape[1]} features per example but the test "
                        f"set has {test.shape[1]}")
    if binarize_mode not in BINARIZE_MODES:
        raise DataError(f"binarize must be one of {BINARIZE_MODES}, got {binarize_mode!r}")
    if binarize_mode != "none":
        if likelihood != "bernoulli":
            raise DataError(f"{name}: binarization ({binarize_mode}) only makes sense with the Bernoulli likelihood")
        rng = np.random.default_rng(BINARIZE_SEED)
        test = binarize(test, rng)
        if binarize_mode == "static":
            train = binarize(train, rng)
    return Dataset(name, train, test, train_labels, test_labels, tuple(image_shape), binarize_mode)


# ----------------------------------------------------------------------------------------------
# The digits bundled with scikit-learn

def load_digits(likelihood="bernoulli", binarize="none", dtype=np.float32):
    """scikit-learn's 1,797 handwritten digits (8×8, UCI optical recognition set), pixel values 0…16
    scaled to [0, 1], split 80/20 into train/test by a fixed permutation (seed DIGITS_SPLIT_SEED)."""
    from sklearn.datasets import load_digits as sklearn_digits  # imported lazily: it takes a second

    bunch = sklearn_digits()
    x = bunch.data.astype(np.float64) / 16.0
    train, test, ytrain, ytest = _split(x, bunch.target.astype(np.int64), DIGITS_SPLIT_SEED, "digits")
    return _finish("digits", train, test, ytrain, ytest, (8, 8), likelihood, binarize, dtype)


# ----------------------------------------------------------------------------------------------
# IDX files (MNIST's format)

def _read_bytes(path):
    try:
        if str(path).endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a valid gzip file ({e})") from None
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected an IDX file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e})") from None


def read_idx(path):
    """The array stored in an IDX file (plain, or gzip-compressed when the name ends in .gz).

    Layout: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), a byte with the number of dimensions n, n big-endian uint32 sizes, then the data."""
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: malformed IDX file: {len(raw)} bytes, shorter than the 4-byte header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path}: malformed IDX file: bad magic number {raw[:4].hex()} (expected 0000 followed "
                        "by a type byte 08/09/0b/0c/0d/0e and the number of dimensions)")
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: malformed IDX file: header declares {ndim} dimensions but the file has "
                        f"{len(raw)} bytes")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path}: malformed IDX file: shape {shape} of {dtype.name} needs {expected} bytes, "
                        f"the file has {len(raw)} (truncated or not this format)")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Write an array as an IDX file (gzip-compressed when the name ends in .gz), atomically."""
    array = np.asarray(array)
    codes = {v.newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None or array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"write_idx: cannot store an array of dtype {array.dtype} and shape {array.shape}")
    payload = (bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
               + array.astype(_IDX_TYPES[code]).tobytes())
    if str(path).endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    atomic_write_bytes(path, payload)


def _find_idx(directory, stem):
    candidates = [stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"]
    for name in candidates:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    raise DataError(f"mnist: {os.path.join(directory, stem)}[.gz] not found; put the four MNIST IDX files "
                    f"({', '.join(MNIST_FILES.values())}, plain or .gz) in {directory} (nothing is downloaded)")


def load_mnist(directory, likelihood="bernoulli", binarize="dynamic", dtype=np.float32):
    """MNIST from its four IDX files in `directory` (plain or .gz): 60,000 training and 10,000 test images
    of 28×28, grey levels 0…255 scaled to [0, 1], binarized statically or dynamically (or not)."""
    if not os.path.isdir(directory):
        raise DataError(f"mnist: {directory} is not a directory; it should hold the four MNIST IDX files "
                        f"({', '.join(MNIST_FILES.values())}, plain or .gz)")
    arrays = {}
    for key, stem in MNIST_FILES.items():
        path = _find_idx(directory, stem)
        a = read_idx(path)
        want = 3 if key.endswith("images") else 1
        if a.ndim != want:
            raise DataError(f"{path}: expected {'images (N, rows, cols)' if want == 3 else 'labels (N,)'} but the "
                            f"IDX file holds an array of shape {a.shape}")
        if a.dtype != np.uint8:
            raise DataError(f"{path}: expected unsigned bytes (type 0x08), got {a.dtype}")
        arrays[key] = (a, path)
    for part in ("train", "test"):
        (images, ipath), (labels, lpath) = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if len(images) != len(labels):
            raise DataError(f"{lpath}: {len(labels)} labels for the {len(images)} images in {ipath}")
    (train, _), (test, tpath) = arrays["train_images"], arrays["test_images"]
    if train.shape[1:] != test.shape[1:]:
        raise DataError(f"{tpath}: test images are {test.shape[1:]}, training images {train.shape[1:]}")
    image_shape = train.shape[1:]
    flat = lambda a: a.reshape(len(a), -1).astype(np.float64) / 255.0      # noqa: E731
    return _finish("mnist", flat(train), flat(test), arrays["train_labels"][0].astype(np.int64),
                   arrays["test_labels"][0].astype(np.int64), image_shape, likelihood, binarize, dtype)


# ----------------------------------------------------------------------------------------------
# .npy / .npz files

def _load_arrays(path):
    try:
        kind = numpy_file_kind(path)
        if kind is None:
            raise DataError(f"{path}: not a NumPy .npy or .npz file (it does not begin with either format's "
                            "signature)")
        with open(path, "rb") as fh:             # our own handle, so it is closed when np.load fails
            f = np.load(fh, allow_pickle=False)
            if isinstance(f, np.ndarray):
                return {"": f}
            with f:
                return {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory") from None
    except ValueError as e:
        if "object" in str(e).lower() or "pickle" in str(e).lower():      # never advise unpickling a file
            raise DataError(f"{path}: holds Python objects (dtype object), not numbers; files are never "
                            "unpickled: save a numeric array") from None
        raise DataError(f"{path}: a damaged or truncated {kind} file ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise DataError(f"{path}: a damaged or truncated {kind} file ({e})") from None


def load_array_file(path, likelihood="bernoulli", binarize="none", dtype=np.float32):
    """Data from a .npy file holding one array (N, D), or an .npz holding either `train` (and optionally
    `test`, `train_labels`, `test_labels`) or one data array (optionally with `labels`). Without a test
    set, a fixed 20% of the rows is held out (seed DIGITS_SPLIT_SEED)."""
    name = os.path.basename(path)
    if not path.endswith((".npy", ".npz")):
        raise DataError(f"{path}: expected a .npy or .npz file")
    arrays = _load_arrays(path)
    if not path.endswith(".npz") or "" in arrays:
        x, labels, test, test_labels = arrays[""], None, None, None
    elif "train" in arrays:
        x, labels = arrays["train"], arrays.get("train_labels")
        test, test_labels = arrays.get("test"), arrays.get("test_labels")
    else:
        data_keys = [k for k in arrays if k not in ("labels", "y")]
        if len(data_keys) != 1:
            raise DataError(f"{path}: expected an array named 'train' (and 'test') or exactly one data array, "
                            f"found {sorted(arrays)}")
        x, labels, test, test_labels = arrays[data_keys[0]], arrays.get("labels", arrays.get("y")), None, None
    x = validate(x, likelihood, path, dtype)
    if labels is not None:
        labels = _validate_labels(labels, len(x), f"{path} (labels)")
    if test is None:
        train, test, labels, test_labels = _split(x, labels, DIGITS_SPLIT_SEED, path)
    else:
        train, test = x, validate(test, likelihood, f"{path} (test)")
        if test_labels is not None:
            test_labels = _validate_labels(test_labels, len(test), f"{path} (test_labels)")
        if (labels is None) != (test_labels is None):
            labels = test_labels = None
    return _finish(name, train, test, labels, test_labels, _image_shape(train.shape[1]), likelihood, binarize,
                   dtype, path)


# ----------------------------------------------------------------------------------------------

def default_binarize(spec):
    """MNIST is binarized dynamically by default (the setting of the published log-likelihoods);
    the digits and array files are used as grey levels."""
    return "dynamic" if spec == "mnist" or os.path.isdir(spec) else "none"


def load_dataset(spec="digits", likelihood="bernoulli", binarize=None, dtype=np.float32, mnist_dir="data/mnist"):
    """`spec` is "digits", "mnist" (IDX files in `mnist_dir`), a directory holding the MNIST IDX files,
    or a .npy/.npz file. binarize: "none" | "static" | "dynamic" | None (the default for the source)."""
    if likelihood not in LIKELIHOODS:
        raise DataError(f"load_dataset: likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    if binarize is None:
        binarize = default_binarize(spec) if likelihood == "bernoulli" else "none"
    if binarize not in BINARIZE_MODES:
        raise DataError(f"binarize must be one of {BINARIZE_MODES}, got {binarize!r}")
    if likelihood != "bernoulli" and binarize != "none":
        raise DataError(f"binarization ({binarize}) needs the Bernoulli likelihood, not {likelihood!r}")
    if spec == "digits":
        return load_digits(likelihood, binarize, dtype)
    if spec == "mnist":
        if not os.path.isdir(mnist_dir):
            raise DataError(f"mnist: {mnist_dir} is not a directory; name the directory holding the four MNIST IDX "
                            f"files ({', '.join(MNIST_FILES.values())}, plain or .gz)", option=("mnist_dir", "DIR"))
        return load_mnist(mnist_dir, likelihood, binarize, dtype)
    if os.path.isdir(spec):
        return load_mnist(spec, likelihood, binarize, dtype)
    if spec.endswith((".npy", ".npz")):
        return load_array_file(spec, likelihood, binarize, dtype)
    if not os.path.exists(spec):
        raise DataError(f"{spec}: not 'digits' or 'mnist', and no such file or directory", option=("data", None))
    raise DataError(f"{spec}: expected 'digits', 'mnist', a directory of MNIST IDX files, or a .npy/.npz "
                    "file")
