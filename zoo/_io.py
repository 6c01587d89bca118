"""Atomic file writing and hashing: no half-written weights, checkpoints, logs or exports, ever."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it over ``target``, else remove it.

    The temporary name keeps ``suffix`` (Keras insists on ``.weights.h5`` and ``.keras`` endings).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    os.unlink(tmp)  # writers (h5py, Keras) create the file themselves
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if not tmp_path.exists():
            raise RuntimeError(f"nothing was written to {tmp_path}")
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; on success rename it to ``target``, else remove it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_leftovers(folder: str | os.PathLike[str], name: str = "*") -> list[Path]:
    """Remove the temporary files and folders that :func:`atomic_path` (and the exports) leave when their
    process is killed mid-write (``.NAME.*.tmp*``, never renamed into place), of ``name`` or of every name;
    returns what was removed. The caller must hold the writer's lock."""
    removed = []
    for stale in Path(folder).glob(f".{name}.*tmp*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed


@contextlib.contextmanager
def exclusive(lock_file: str | os.PathLike[str], what: str, *, remove: bool = False,
              wait: bool = False) -> Iterator[None]:
    """Hold an advisory lock (``flock``) on ``lock_file`` for the ``with`` block, or fail at once with
    :class:`~zoo.errors.BusyError` naming the process that holds it; with ``wait``, wait for it instead (saying
    so once on stderr), where waiting is what a user expects (a download another process is making). The
    kernel drops the lock when its holder dies, so a killed writer never blocks the next one. With ``remove``,
    the lock file goes at the end (an export leaves nothing beside itself); a process that locked the removed
    file then finds it is no longer the file at that path, and locks the new one instead."""
    import fcntl

    from zoo.errors import BusyError

    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            if not wait:
                os.close(fd)
                raise BusyError(f"{lock_file.parent} is being written by {holder}; wait for it to finish (or stop "
                                f"it), or write somewhere else") from None
            print(f"zoo: waiting for {holder}", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_ino == os.stat(lock_file).st_ino:
                break  # the file locked is the one at the path
        except FileNotFoundError:
            pass
        os.close(fd)  # removed by its last holder meanwhile: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({what})".encode(), 0)
        yield
    finally:
        if remove:
            with contextlib.suppress(FileNotFoundError):
                lock_file.unlink()
        os.close(fd)  # closing releases the lock
