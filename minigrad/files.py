"""Files written atomically: the one way every part of the project saves a file.

The data goes to a temporary file in the same folder ("." + the file's name + ".…tmp"), is flushed to the
disk, and is then moved over the target with `os.replace`, which is atomic on POSIX and Windows: a reader,
or a run that crashes or is killed half-way, sees the old file or the new one, never a torn one. If
anything fails the temporary file is removed and the error propagates; the target is as it was.
"""

import io
import os
import tempfile

__all__ = ["atomic_write_bytes", "temporary_prefix", "png_bytes"]


def temporary_prefix(path):
    """The name every temporary file of an atomic write to `path` starts with."""
    return "." + os.path.basename(path) + "."


def atomic_write_bytes(path, data):
    """Write the bytes `data` to `path` atomically, with the permissions a new file gets (umask)."""
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=temporary_prefix(path), suffix=".tmp",
                               dir=os.path.dirname(os.path.abspath(path)))
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)               # mkstemp makes 0600 files; use the usual permissions
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


def png_bytes(fig, dpi):
    """A matplotlib Figure as PNG bytes, to be written with atomic_write_bytes (never half a PNG on disk)."""
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi)
    return png.getvalue()
