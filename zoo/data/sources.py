"""Readers of the publishers' original formats, and of TFDS. Each returns NumPy arrays (or text).

Local copies are read in place, never copied. A corrupt or truncated file raises :class:`DataFormatError`
naming the file; a missing one is reported by the caller (:func:`zoo.data.load`) with where it looked.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import DataFormatError

# ---------------------------------------------------------------------------------------------- MNIST (IDX)

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


# The largest IDX payload read (EMNIST's largest file holds 547 MB): a header claiming more is refused before
# anything is decompressed, and no more than the header claims (plus one byte, to notice a longer file) is ever
# decompressed, so a gzip bomb costs at most what its header admits to.
MAX_IDX_BYTES = 1 << 30


def _open_maybe_gzip(path: Path) -> Any:
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """One IDX file (``.gz`` or plain), as published at yann.lecun.com/exdb/mnist."""
    path = Path(path)
    try:
        with _open_maybe_gzip(path) as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
                raise DataFormatError(f"{path}: not an IDX file (bad magic number {magic.hex() or 'empty'})")
            raw_dims = f.read(4 * magic[3])
            if len(raw_dims) < 4 * magic[3]:
                raise DataFormatError(f"{path}: IDX header truncated")
            dims = [int.from_bytes(raw_dims[4 * i : 4 * i + 4], "big") for i in range(magic[3])]
            dtype = np.dtype(_IDX_DTYPES[magic[2]])
            size = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
            if size > MAX_IDX_BYTES:
                raise DataFormatError(f"{path}: its IDX header claims {size:,} bytes of data, more than the "
                                      f"{MAX_IDX_BYTES:,} zoo reads; not a data set zoo knows")
            payload = f.read(size + 1)
    except (EOFError, OSError, zlib.error) as e:
        raise DataFormatError(f"{path}: cannot be read as gzip ({e}); the file is corrupt or truncated") from e
    if len(payload) > size:
        raise DataFormatError(f"{path}: IDX file holds more than the {size:,} bytes of data its header promises; "
                              f"it is corrupt (or not what it claims)")
    if len(payload) < size:
        raise DataFormatError(f"{path}: IDX file has {len(payload):,} bytes of data, its header promises {size:,}; "
                              f"it is truncated or corrupt")
    return np.frombuffer(payload, dtype=dtype).reshape(dims)


def read_mnist(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    images_name, labels_name = MNIST_FILES[split]
    files = [folder / images_name, folder / labels_name]
    for f in files:
        if not f.is_file():
            raise DataFormatError(f"{f}: missing; the {split} split needs {' and '.join(MNIST_FILES[split])} in {folder}")
    images, labels = read_idx(files[0]), read_idx(files[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataFormatError(f"{folder}: images {images.shape} and labels {labels.shape} do not match")
    return images[..., None], labels.astype(np.int32), files


# ------------------------------------------------------------------------------------- CIFAR-10 (pickles)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """The CIFAR batches are pickles: allow the NumPy array constructors and nothing else."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


def _cifar_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _ArrayOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
        data, labels = batch[b"data"], batch[b"labels"]
        images = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.asarray(labels, dtype=np.int32)
    except Exception as e:  # any malformed pickle or missing key
        raise DataFormatError(f"{where}: not a CIFAR-10 python batch ({type(e).__name__}: {e})") from e
    if len(images) != len(labels):
        raise DataFormatError(f"{where}: {len(images)} images but {len(labels)} labels")
    return images, labels


CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


# The binary version: records of one label byte and 3,072 pixel bytes (1,024 red, green, blue; row-major 32x32).
CIFAR_BINARY_BATCHES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
_CIFAR_RECORD = 1 + 3 * 32 * 32
_CIFAR_RECORDS_PER_FILE = 10_000


def _cifar_binary_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    if not raw or len(raw) % _CIFAR_RECORD:
        raise DataFormatError(f"{where}: {len(raw)} bytes is not a whole number of CIFAR-10 records of "
                              f"{_CIFAR_RECORD} bytes; the file is truncated or not a CIFAR-10 binary batch")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    labels = records[:, 0].astype(np.int32)
    if labels.max() > 9:
        raise DataFormatError(f"{where}: label {int(labels.max())} found where CIFAR-10 has labels 0-9; "
                              "not a CIFAR-10 binary batch (CIFAR-100's has two label bytes)")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _read_bounded(fileobj: Any, limit: int, where: str) -> bytes:
    """At most ``limit`` bytes of a member (what its format allows): a larger one is refused unread."""
    raw = fileobj.read(limit + 1)
    if len(raw) > limit:
        raise DataFormatError(f"{where}: larger than the {limit:,} bytes its format allows; not a CIFAR-10 batch")
    return raw


def read_cifar10(source: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """The python version (``cifar-10-batches-py/`` or ``cifar-10-python.tar.gz``) or the binary version
    (``cifar-10-batches-bin/`` or ``cifar-10-binary.tar.gz``), as published by A. Krizhevsky."""
    binary = "bin" in source.name or "binary" in source.name
    names = (CIFAR_BINARY_BATCHES if binary else CIFAR_BATCHES)[split]
    parse = _cifar_binary_batch if binary else _cifar_batch
    limit = _CIFAR_RECORD * _CIFAR_RECORDS_PER_FILE if binary else 64 * 2**20
    parts = []
    if source.is_dir():
        files = [source / name for name in names]
        for f in files:
            if not f.exists():
                raise DataFormatError(f"{source}: missing {f.name}; expected {', '.join(names)}")
            with open(f, "rb") as fh:
                parts.append(parse(_read_bounded(fh, limit, str(f)), str(f)))
    else:
        files = [source]
        try:
            with tarfile.open(source, "r:*") as tar:
                members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
                for name in names:
                    if name not in members:
                        raise DataFormatError(f"{source}: the archive has no {name}")
                    where = f"{source}:{name}"
                    parts.append(parse(_read_bounded(tar.extractfile(members[name]), limit, where), where))
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise DataFormatError(f"{source}: cannot be read as a tar archive ({e}); it is corrupt or truncated") from e
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), files


# ---------------------------------------------------------------------------------------- IMDB (aclImdb)


def _rating(name: str) -> int:
    return int(name.rsplit("_", 1)[1].split(".")[0])


MAX_REVIEW_BYTES = 1 << 20  # the longest aclImdb review has 13,704 bytes
MAX_URLS_BYTES = 16 << 20  # urls_pos.txt has 12,500 lines of about 50 bytes


def _movie(url: str) -> str:
    """The IMDb title of a review's URL (``http://www.imdb.com/title/tt0453418/usercomments`` -> ``tt0453418``)."""
    parts = url.strip().split("/title/")
    return parts[1].split("/")[0] if len(parts) == 2 else url.strip()


def read_imdb(source: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[Path], np.ndarray | None]:
    """The ``aclImdb/`` tree (a directory) or ``aclImdb_v1.tar.gz``: reviews as strings, labels 0 (neg) / 1 (pos),
    and each review's movie (from ``urls_pos.txt`` / ``urls_neg.txt``, whose line i is review i's page), so that
    a validation split can be carved by movie; None when the URL lists are absent."""
    texts: list[tuple[str, str, int]] = []  # (sort key "pos/123_9.txt", text, label)
    urls: dict[str, list[str]] = {}  # sentiment -> its URL lines
    if source.is_dir():
        for label, sentiment in ((0, "neg"), (1, "pos")):
            folder = source / split / sentiment
            if not folder.is_dir():
                raise DataFormatError(f"{source}: missing folder {split}/{sentiment}/ of the aclImdb tree")
            for f in folder.glob("*.txt"):
                try:
                    texts.append((f"{sentiment}/{f.name}", f.read_text(encoding="utf-8"), label))
                except UnicodeDecodeError as e:
                    raise DataFormatError(f"{f}: not UTF-8 text ({e})") from e
            listing = source / split / f"urls_{sentiment}.txt"
            if listing.is_file():
                urls[sentiment] = listing.read_text(encoding="utf-8", errors="replace").splitlines()
        files = [source]
    else:
        files = [source]
        prefix = f"aclImdb/{split}/"
        try:
            with tarfile.open(source, "r:*") as tar:
                for member in tar:
                    if not (member.isfile() and member.name.startswith(prefix) and member.name.endswith(".txt")):
                        continue
                    rest = member.name[len(prefix) :]
                    sentiment = rest.split("/")[0]
                    if rest in ("urls_pos.txt", "urls_neg.txt"):
                        if member.size > MAX_URLS_BYTES:
                            raise DataFormatError(f"{source}: {member.name} claims {member.size:,} bytes; not the "
                                                  f"aclImdb archive")
                        raw = tar.extractfile(member).read().decode("utf-8", "replace")
                        urls[rest[len("urls_") : -len(".txt")]] = raw.splitlines()
                        continue
                    if sentiment not in ("pos", "neg"):
                        continue
                    if member.size > MAX_REVIEW_BYTES:  # checked on the tar header, before reading
                        raise DataFormatError(f"{source}: {member.name} claims {member.size:,} bytes, more than "
                                              f"the {MAX_REVIEW_BYTES:,} a review may have; not the aclImdb archive")
                    text = tar.extractfile(member).read().decode("utf-8")
                    texts.append((rest, text, int(sentiment == "pos")))
        except (tarfile.TarError, EOFError, OSError, zlib.error, UnicodeDecodeError) as e:
            raise DataFormatError(f"{source}: cannot be read as the aclImdb archive ({e}); it is corrupt or truncated") from e
    if not texts:
        raise DataFormatError(f"{source}: no reviews found under {split}/pos and {split}/neg")
    texts.sort()  # a fixed order whatever the file system or archive order
    movies = _movies([key for key, _, _ in texts], urls, source)
    return (np.array([t for _, t, _ in texts], dtype=object), np.array([y for *_, y in texts], dtype=np.int32),
            files, movies)


def _movies(keys: list[str], urls: dict[str, list[str]], source: Path) -> np.ndarray | None:
    """Each review's movie, from its id (``pos/123_9.txt`` is line 123 of ``urls_pos.txt``)."""
    if set(urls) != {"pos", "neg"}:
        return None
    out = []
    for key in keys:
        sentiment, name = key.split("/")
        index = int(name.split("_")[0])
        if index >= len(urls[sentiment]):
            raise DataFormatError(f"{source}: review {key} has no line in urls_{sentiment}.txt "
                                  f"({len(urls[sentiment])} lines); the archive is inconsistent")
        out.append(_movie(urls[sentiment][index]))
    return np.array(out, dtype=object)


# ------------------------------------------------------------------------------- tiny-shakespeare (text)


def read_text(path: Path) -> tuple[str, list[Path]]:
    try:
        return path.read_text(encoding="utf-8"), [path]
    except UnicodeDecodeError as e:
        raise DataFormatError(f"{path}: not UTF-8 text ({e})") from e


# --------------------------------------------------------------------------------------------------- TFDS


def read_tfds(tfds_name: str, split: str, *, data_dir: str | None, kind: str) -> dict[str, Any]:
    """Read one TFDS split fully into memory (these datasets are small). Raises whatever TFDS raises."""
    import tensorflow_datasets as tfds

    if kind == "corpus":
        ds = tfds.load(tfds_name, split=split, data_dir=data_dir)
        text = "".join(ex["text"].decode("utf-8") for ex in tfds.as_numpy(ds))
        return {"text": text}
    # Not batch_size=-1: TFDS then batches by the recorded split size, which can be unknown (and TF aborts).
    ds = tfds.load(tfds_name, split=split, data_dir=data_dir, as_supervised=True).batch(10_000)
    parts = list(tfds.as_numpy(ds))
    x = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0,))
    y = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0,), np.int32)
    if kind == "text":
        x = np.array([s.decode("utf-8") if isinstance(s, bytes) else s for s in x], dtype=object)
    return {"features": x, "labels": np.asarray(y, dtype=np.int32)}
