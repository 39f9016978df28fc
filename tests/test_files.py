"""minigrad.files.atomic_write_bytes, the one atomic writer (draw, vae's run files, the benchmarks' reports):
the new bytes or the old file, never a torn one; no temporary file left behind; ordinary permissions."""

import os

import pytest

from minigrad import files


def test_writes_replaces_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "a.bin"
    files.atomic_write_bytes(path, b"first")
    files.atomic_write_bytes(str(path), b"second")
    assert path.read_bytes() == b"second" and os.listdir(tmp_path) == ["a.bin"]
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")

    def fail(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="No space left"):
        files.atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["a.bin"]
    assert files.temporary_prefix(path) == ".a.bin."
