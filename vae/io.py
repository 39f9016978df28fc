"""Files written atomically, and the .npz format of models and checkpoints.

Every file the package writes (model, checkpoint, config, metrics) goes to a temporary file in the same
directory first and is then moved over the target with `os.replace`, which is atomic on POSIX and
Windows: a reader — or a run that crashes or is killed half-way — sees either the old file or the new
one, never a torn one.
"""

import io
import json
import os
import tempfile
import zipfile

import numpy as np

from .errors import CheckpointError

__all__ = ["atomic_write_bytes", "atomic_write_text", "save_npz", "load_npz"]


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data):
    """Write `data` to `path` via a temporary file in the same directory and os.replace."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        os.chmod(tmp, 0o666 & ~_umask())            # mkstemp makes 0600 files; use the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def save_npz(path, arrays, meta):
    """One .npz holding `arrays` (name → ndarray) and `meta` (JSON-able dict, stored as a string under
    the key "meta"), written atomically. No pickles: it loads with allow_pickle=False."""
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_npz(path, what):
    """(arrays, meta) from a file written by save_npz; CheckpointError naming the file otherwise.
    `what` says what the file should be ("model", "checkpoint") for the message."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such {what} file")
    try:
        with open(path, "rb") as fh:              # our own handle, so it is closed when np.load fails
            f = np.load(fh, allow_pickle=False)
            if not isinstance(f, np.lib.npyio.NpzFile):
                raise CheckpointError(f"{path}: not a {what} file (a single .npy array, not an .npz archive)")
            with f:
                arrays = {k: f[k] for k in f.files}
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise CheckpointError(f"{path}: not a readable {what} file (corrupted or not an .npz: {e})") from None
    if "meta" not in arrays:
        raise CheckpointError(f"{path}: not a {what} file written by vae (no 'meta' entry)")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: the {what} file's metadata is corrupted ({e})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the {what} file's metadata is corrupted (not a JSON object)")
    return arrays, meta
