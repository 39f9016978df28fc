"""Files written atomically, and the .npz format of models and checkpoints.

Every file the package writes (model, checkpoint, config, metrics) goes to a temporary file in the same
directory first and is then moved over the target with `os.replace` (minigrad.files, the one home of
that), which is atomic on POSIX and Windows: a reader — or a run that crashes or is killed half-way —
sees either the old file or the new one, never a torn one. A failed write (a full disk, say) raises
WriteError naming the file and saying that the previous version is intact; the temporary file is removed
(and `remove_stale_temporaries` removes the ones a killed process left behind).
"""

import glob
import io
import json
import os
import zipfile

import numpy as np

from minigrad import files

from .errors import CheckpointError, WriteError

__all__ = ["atomic_write_bytes", "atomic_write_text", "remove_stale_temporaries", "numpy_file_kind", "save_npz",
           "load_npz"]


def atomic_write_bytes(path, data):
    """Write `data` to `path` atomically (minigrad.files). WriteError (naming `path`; the file as it was is
    untouched) if the disk refuses."""
    try:
        files.atomic_write_bytes(path, data)
    except OSError as e:
        previous = "the previous version is intact" if os.path.exists(path) else "nothing was written"
        raise WriteError(f"{os.fspath(path)}: could not be written ({e.strerror or e}); {previous}") from e


def remove_stale_temporaries(path):
    """Remove the temporary files of atomic writes to `path` that a killed process left behind; return
    their names. (Call it only when no other process writes `path`.)"""
    path = os.fspath(path)
    pattern = os.path.join(glob.escape(os.path.dirname(os.path.abspath(path))),
                           glob.escape(files.temporary_prefix(path)) + "*.tmp")
    removed = []
    for tmp in glob.glob(pattern):
        try:
            os.unlink(tmp)
            removed.append(tmp)
        except OSError:
            pass
    return removed


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def numpy_file_kind(path):
    """"npy", "npz" or None, from the file's first bytes (the formats' signatures), so that a file that is
    neither is reported as such instead of in NumPy's words (which suggest unpickling it)."""
    with open(path, "rb") as f:
        head = f.read(6)
    if head == b"\x93NUMPY":
        return "npy"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "npz"
    return None


def save_npz(path, arrays, meta):
    """One .npz holding `arrays` (name → ndarray) and `meta` (JSON-able dict, stored as UTF-8 bytes under
    the key "meta": a NumPy string would take 4 bytes a character), written atomically. No pickles: it
    loads with allow_pickle=False."""
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8), **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_npz(path, what):
    """(arrays, meta) from a file written by save_npz; CheckpointError naming the file otherwise.
    `what` says what the file should be ("model", "checkpoint") for the message."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such {what} file")
    try:
        kind = numpy_file_kind(path)
        if kind != "npz":
            raise CheckpointError(f"{path}: not a {what} file (" + ("a single .npy array, not an .npz archive)"
                                  if kind == "npy" else "corrupted or not an .npz archive: it does not begin "
                                  "with the zip signature)"))
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
        meta = arrays.pop("meta")                 # UTF-8 bytes; models saved before were a NumPy string
        meta = json.loads(meta.tobytes().decode("utf-8") if meta.dtype == np.uint8 else str(meta))
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: the {what} file's metadata is corrupted ({e})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the {what} file's metadata is corrupted (not a JSON object)")
    return arrays, meta
