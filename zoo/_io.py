"""Atomic file writing and hashing: no half-written weights, checkpoints, logs or exports, ever; a full disk is
one :class:`~zoo.errors.DiskFullError` naming the path and the space needed, whoever the writer (Python, h5py,
TensorFlow)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import sys
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# How each writer says that the device is full: an OSError's errno (Python, h5py), or a message only (TensorFlow's
# ResourceExhaustedError of SaveV2, its event writer's errors).
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_FULL_MESSAGES = ("No space left on device", "Disk quota exceeded")


def is_disk_full(error: BaseException | None) -> bool:
    """Whether ``error`` (or an error it was raised from) says that the device ran out of space or quota."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
            return True
        if any(m in str(error) for m in _FULL_MESSAGES):
            return True
        error = error.__cause__ or error.__context__
    return False


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """The space free for ``path``'s device (its nearest existing folder's), or None where it cannot be told."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def size_text(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def disk_full(target: str | os.PathLike[str], needed: int | None, written: int = 0) -> Exception:
    """The DiskFullError for ``target``: what is free, and ``needed`` (an estimate of the whole write) or, where
    the writer could not say, more than the ``written`` bytes it had reached."""
    from zoo.errors import DiskFullError

    free = free_bytes(target)
    need = f"about {size_text(needed)}" if needed else (f"more than the {size_text(written)} it had written"
                                                       if written else "more")
    have = f"{size_text(free)} free" if free is not None else "its free space unknown"
    error = DiskFullError(f"{target}: no space left on the device ({have}; the write needs {need}); free some "
                          f"space or write somewhere else (nothing half-written was kept)")
    error.errno = errno.ENOSPC
    return error


def check_space(target: str | os.PathLike[str], needed: int | None) -> None:
    """Refuse a write of ``needed`` bytes before it starts where the device has less free."""
    free = free_bytes(target)
    if needed and free is not None and free < needed:
        raise disk_full(target, needed)


@contextlib.contextmanager
def disk_full_as_error(target: str | os.PathLike[str], needed: int | None = None) -> Iterator[None]:
    """Turn any writer's "no space left" inside the block into a DiskFullError for ``target``; every other
    error passes unchanged."""
    try:
        yield
    except Exception as e:
        _reraise(e, target, needed)


def _reraise(error: BaseException, target: Any, needed: int | None, written: int = 0) -> None:
    """Raise ``error`` again, as a DiskFullError for ``target`` if it says the device is full."""
    from zoo.errors import DiskFullError

    if isinstance(error, Exception) and not isinstance(error, DiskFullError) and is_disk_full(error):
        raise disk_full(target, needed, written) from error
    raise error


def _size(path: Path) -> int:
    try:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
    except OSError:
        return 0


def close_hdf5(path: str | os.PathLike[str]) -> None:
    """Close whatever h5py still holds open of the file at ``path``. Keras' ``save_weights`` does not close its
    file when a write fails (no ``finally``), and h5py closing it later, at garbage collection or at exit,
    flushes again onto the full disk: an "Exception ignored" traceback, and at exit a segmentation fault."""
    h5py = sys.modules.get("h5py")
    if h5py is None:
        return
    wanted = os.fsencode(os.path.abspath(path))
    for fid in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE):
        with contextlib.suppress(Exception):
            if os.path.abspath(fid.name) == wanted:
                with contextlib.suppress(Exception):  # the flush fails again: the file is being thrown away
                    h5py.File(fid).close()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "", needed: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it over ``target``, else remove it.

    The temporary name keeps ``suffix`` (Keras insists on ``.weights.h5`` and ``.keras`` endings). ``needed``:
    the bytes the write will take, where known, checked against the free space first. A full device is a
    DiskFullError naming ``target``.
    """
    target = Path(target)
    with disk_full_as_error(target, needed):
        target.parent.mkdir(parents=True, exist_ok=True)
        check_space(target, needed)
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
    except BaseException as e:
        written = _size(tmp_path)
        close_hdf5(tmp_path)
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        _reraise(e, target, needed, written)  # its space given back first: the message tells what is free


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target, needed=len(data)) as tmp:
        tmp.write_bytes(data)


def atomic_write_files(files: dict[Path, bytes]) -> None:
    """Write files that belong together (a model, then the files that describe it) all or none: each to a
    temporary file first, the space for all of them checked before (a shortage is said of the first file);
    renamed into place only once every one is written, so a failure leaves none of them new."""
    first = next(iter(files))
    check_space(first, sum(len(data) for data in files.values()))
    with contextlib.ExitStack() as stack:
        temporary = {target: stack.enter_context(atomic_path(target, suffix=target.suffix, needed=len(data)))
                     for target, data in files.items()}
        for target, tmp in temporary.items():
            tmp.write_bytes(files[target])
    # the renames, once all are written (the last file first): a rename within a folder needs no space


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str], needed: int | None = None, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``target``; on success rename it to ``target`` (with ``replace``, over
    an existing one, which is removed), else remove it. ``needed`` as for :func:`atomic_path`."""
    target = Path(target)
    with disk_full_as_error(target, needed):
        target.parent.mkdir(parents=True, exist_ok=True)
        check_space(target, needed)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        if replace and target.exists():
            old = target.with_name(f".{target.name}.old.tmp")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException as e:
        written = _size(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        _reraise(e, target, needed, written)


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
        with disk_full_as_error(lock_file):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} ({what})".encode(), 0)
        yield
    finally:
        if remove:
            with contextlib.suppress(FileNotFoundError):
                lock_file.unlink()
        os.close(fd)  # closing releases the lock
