"""Writers of tiny synthetic datasets in each publisher's original format, for tests.

Every writer takes a root folder (a test's ``tmp_path``), writes one dataset under it in the layout that
:func:`zoo.data.load` looks for, and returns the root, to be passed as ``data_dir=`` (or ``$ZOO_DATA_DIR``)::

    root = write_mnist(tmp_path, n_train=60, n_test=20)
    split = zoo.data.load("mnist", "test", data_dir=root, source="local")

The contents are deterministic, so tests can check exact values. The ``*_arrays`` / ``*_reviews`` / ``*_text``
functions give what each writer writes, as the loader should return it:

* MNIST: image ``i`` of a split is filled with ``i % 256`` (so with fewer than 256 examples the pixel value *is*
  the index), its label is ``i % 10``. Train and test follow the same rule.
* CIFAR-10: image ``i`` (numbered across the five training batches in order) has channel ``c`` at row ``h``,
  column ``w`` equal to ``(i + 64 * c + 2 * h + w) % 256`` (so a wrong CHW -> HWC transpose shows); label
  ``i % 10``. In the test batch, ``i`` counts from 0 again.
* IMDB: per split, ``n`` reviews of each sentiment; see :func:`imdb_reviews`.
* Tiny Shakespeare: a deterministic ASCII text; see :func:`tiny_shakespeare_text`.

Nothing here reads or copies the real data.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tarfile
import types
from pathlib import Path

import numpy as np

__all__ = [
    "MNIST_FILES", "CIFAR_TRAIN_BATCHES", "write_idx", "mnist_arrays", "write_mnist", "cifar10_arrays",
    "cifar10_batch_bytes", "write_cifar10", "imdb_reviews", "write_imdb", "tiny_shakespeare_text",
    "write_tiny_shakespeare", "TINY_SHAKESPEARE_CHARS",
]

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TINY_SHAKESPEARE_CHARS = 1_115_394  # the length of char-rnn's input.txt


def _root(root: str | os.PathLike[str]) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return root


# ---------------------------------------------------------------------------------------------- MNIST (IDX)


def write_idx(path: str | os.PathLike[str], array: np.ndarray, *, compress: bool = True) -> Path:
    """One IDX file: magic ``00 00 08 ndim`` (uint8 data), big-endian uint32 dims, then the raw bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)
    return path


def mnist_arrays(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 28, 28) uint8, labels (n,) uint8): image i filled with i % 256, label i % 10."""
    idx = np.arange(n)
    images = np.broadcast_to((idx % 256).astype(np.uint8)[:, None, None], (n, 28, 28)).copy()
    return images, (idx % 10).astype(np.uint8)


def write_mnist(root: str | os.PathLike[str], n_train: int = 60, n_test: int = 20) -> Path:
    """``<root>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``, as published. Returns ``root``."""
    root = _root(root)
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = mnist_arrays(n)
        images_name, labels_name = MNIST_FILES[split]
        write_idx(root / "mnist" / images_name, images)
        write_idx(root / "mnist" / labels_name, labels)
    return root


# ------------------------------------------------------------------------------------- CIFAR-10 (pickles)


class _Py2StylePickler(pickle._Pickler):  # the pure-Python pickler, whose dispatch table can be extended
    """Protocol 2 as Python 2's cPickle wrote the CIFAR batches: ``bytes`` *and* ``str`` as (SHORT_)BINSTRING
    (Python 2's str; loaded back as bytes with ``encoding="bytes"``), not through ``_codecs.encode``, and NumPy's
    array constructor under its old module name ``numpy.core.multiarray``."""

    _OLD_MODULES = {"numpy._core.multiarray": "numpy.core.multiarray"}

    def save_bytes(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    def save_str(self, obj: str) -> None:
        self.save_bytes(obj.encode("latin-1"))

    def save_global(self, obj, name=None) -> None:
        name = name or obj.__qualname__
        module = pickle.whichmodule(obj, name)
        module = self._OLD_MODULES.get(module, module)
        self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii"))
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes
    dispatch[str] = save_str
    dispatch[types.FunctionType] = save_global


def cifar10_batch_bytes(images_hwc: np.ndarray, labels, *, batch_label: str = "batch", protocol: int = 2) -> bytes:
    """One CIFAR-10 python batch: a pickled dict of b"batch_label", b"labels" (a list), b"data" ((N, 3072) uint8,
    each row the R, G and B planes of a 32x32 image) and b"filenames". Protocol 2 is written the way the
    publisher's Python 2 pickles are (loaded with ``encoding="bytes"``); other protocols with the standard pickler.
    """
    images_hwc = np.asarray(images_hwc, dtype=np.uint8)
    data = np.ascontiguousarray(images_hwc.transpose(0, 3, 1, 2).reshape(len(images_hwc), 3 * 32 * 32))
    batch = {
        b"batch_label": batch_label.encode(),
        b"labels": [int(y) for y in labels],
        b"data": data,
        b"filenames": [f"image_{i:05d}.png".encode() for i in range(len(images_hwc))],
    }
    buf = io.BytesIO()
    if protocol == 2:
        _Py2StylePickler(buf, protocol=2).dump(batch)
    else:
        pickle.dump(batch, buf, protocol=protocol)
    return buf.getvalue()


def cifar10_arrays(n: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 32, 32, 3) uint8, labels (n,) int) for examples start .. start + n - 1 (see module doc)."""
    i = np.arange(start, start + n)[:, None, None, None]
    h = np.arange(32)[None, :, None, None]
    w = np.arange(32)[None, None, :, None]
    c = np.arange(3)[None, None, None, :]
    images = ((i + 64 * c + 2 * h + w) % 256).astype(np.uint8)
    return images, np.arange(start, start + n) % 10


def write_cifar10(
    root: str | os.PathLike[str], n_per_batch: int = 10, n_test: int = 10, *, archive: bool = False,
    protocol: int = 2,
) -> Path:
    """``<root>/cifar10/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``, or (``archive=True``)
    ``<root>/cifar10/cifar-10-python.tar.gz`` holding ``cifar-10-batches-py/...``. Returns ``root``."""
    root = _root(root)
    members: dict[str, bytes] = {}
    for b, name in enumerate(CIFAR_TRAIN_BATCHES):
        x, y = cifar10_arrays(n_per_batch, start=b * n_per_batch)
        members[name] = cifar10_batch_bytes(x, y, batch_label=f"training batch {b + 1} of 5", protocol=protocol)
    x, y = cifar10_arrays(n_test)
    members["test_batch"] = cifar10_batch_bytes(x, y, batch_label="testing batch 1 of 1", protocol=protocol)
    meta = {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
                             b"ship", b"truck"], b"num_cases_per_batch": n_per_batch, b"num_vis": 3072}
    members["batches.meta"] = pickle.dumps(meta, protocol=4)
    members["readme.html"] = b"<html>synthetic CIFAR-10 for tests</html>\n"
    _write_cifar_members(root, "cifar-10-batches-py", "cifar-10-python.tar.gz", members, archive)
    return root


def _write_cifar_members(root: Path, subdir: str, archive_name: str, members: dict[str, bytes], archive: bool) -> None:
    """``<root>/cifar10/<subdir>/<member>``, or the same tree in ``<root>/cifar10/<archive_name>``."""
    folder = root / "cifar10"
    if archive:
        _write_tar_gz(folder / archive_name, {f"{subdir}/{k}": v for k, v in members.items()})
        return
    (folder / subdir).mkdir(parents=True, exist_ok=True)
    for name, raw in members.items():
        (folder / subdir / name).write_bytes(raw)


def cifar10_binary_bytes(images_hwc: np.ndarray, labels) -> bytes:
    """Records of the binary version: one label byte, then the 1,024 red, 1,024 green and 1,024 blue bytes."""
    planes = np.asarray(images_hwc, dtype=np.uint8).transpose(0, 3, 1, 2).reshape(len(images_hwc), -1)
    return np.concatenate([np.asarray(labels, dtype=np.uint8)[:, None], planes], axis=1).tobytes()


def write_cifar10_binary(root: str | os.PathLike[str], n_per_batch: int = 10, n_test: int = 10, *,
                         archive: bool = False) -> Path:
    """``<root>/cifar10/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin`` and ``batches.meta.txt``, or
    (``archive=True``) ``<root>/cifar10/cifar-10-binary.tar.gz`` holding them. Same images as write_cifar10."""
    root = _root(root)
    members: dict[str, bytes] = {}
    for b, name in enumerate(CIFAR_TRAIN_BATCHES):
        members[f"{name}.bin"] = cifar10_binary_bytes(*cifar10_arrays(n_per_batch, start=b * n_per_batch))
    members["test_batch.bin"] = cifar10_binary_bytes(*cifar10_arrays(n_test))
    members["batches.meta.txt"] = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"
    _write_cifar_members(root, "cifar-10-batches-bin", "cifar-10-binary.tar.gz", members, archive)
    return root


# ---------------------------------------------------------------------------------------- IMDB (aclImdb)


def imdb_reviews(split: str, n_per_label: int) -> list[tuple[str, str, int]]:
    """``(file name, text, label)`` of each review written for ``split``: ids 0 .. n-1 per sentiment; negative
    reviews (label 0) rated 1-4, positive (label 1) rated 7-10, as in aclImdb. Texts are unique and not ASCII."""
    out = []
    for label, sentiment, ratings in ((0, "neg", (1, 2, 3, 4)), (1, "pos", (7, 8, 9, 10))):
        for i in range(n_per_label):
            rating = ratings[i % 4]
            text = (f"{split} {sentiment} review {i}, rated {rating}/10. "
                    "Caf\u00e9 na\u00efve \u2014 ok.<br /><br />The end.")
            out.append((f"{sentiment}/{i}_{rating}.txt", text, label))
    return out


def imdb_movie(split: str, i: int) -> str:
    """The movie of review ``i`` (of either sentiment) in the synthetic tree: two ids to a movie."""
    return f"tt{(1_000_000 if split == 'train' else 2_000_000) + i // 2:07d}"


def write_imdb(
    root: str | os.PathLike[str], n_train: int = 6, n_test: int = 4, *, archive: bool = False
) -> Path:
    """``<root>/imdb/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`` (``n_train`` / ``n_test`` reviews *per
    sentiment*), plus what the publisher's tree also holds and a loader must skip (README, imdb.vocab,
    ``train/unsup/``, ``urls_*.txt``, ``labeledBow.feat``); or (``archive=True``) ``<root>/imdb/aclImdb_v1.tar.gz``
    holding ``aclImdb/...``. Returns ``root``."""
    root = _root(root)
    members: dict[str, bytes] = {
        "aclImdb/README": b"Large Movie Review Dataset v1.0 (synthetic, for tests)\n",
        "aclImdb/imdb.vocab": b"the\nand\na\n",
        "aclImdb/imdbEr.txt": b"0.1\n0.2\n0.3\n",
        "aclImdb/train/unsup/0_0.txt": b"an unlabelled review that must not be read",
        "aclImdb/train/urls_unsup.txt": b"http://www.imdb.com/title/tt0000000/usercomments\n",
    }
    for split, n in (("train", n_train), ("test", n_test)):
        members[f"aclImdb/{split}/labeledBow.feat"] = b"0 0:1\n"
        for sentiment in ("neg", "pos"):
            # line i is review i's page; two reviews to a movie, as aclImdb has up to 30
            members[f"aclImdb/{split}/urls_{sentiment}.txt"] = "".join(
                f"http://www.imdb.com/title/{imdb_movie(split, i)}/usercomments\n" for i in range(n)).encode()
        for name, text, _ in imdb_reviews(split, n):
            members[f"aclImdb/{split}/{name}"] = text.encode("utf-8")
    folder = root / "imdb"
    if archive:
        _write_tar_gz(folder / "aclImdb_v1.tar.gz", members)
    else:
        for name, raw in members.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(raw)
    return root


# ------------------------------------------------------------------------------- tiny-shakespeare (text)

_VERSE = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak.\n\n"
    "ROMEO:\nBut, soft! what light through yonder window breaks?\n"
    "It is the east, and Juliet is the sun.\n\n"
)


def tiny_shakespeare_text(n_chars: int = TINY_SHAKESPEARE_CHARS) -> str:
    """A deterministic ASCII text of exactly ``n_chars`` characters: numbered copies of a short passage, so
    that every stretch of it is unique."""
    parts, total, k = [], 0, 0
    while total < n_chars:
        part = f"[{k}]\n{_VERSE}"
        parts.append(part)
        total += len(part)
        k += 1
    return "".join(parts)[:n_chars]


def write_tiny_shakespeare(root: str | os.PathLike[str], n_chars: int = TINY_SHAKESPEARE_CHARS) -> Path:
    """``<root>/tinyshakespeare/input.txt``. The loader splits the file by the published character counts
    (train 1,003,854, validation and test 55,770 each), so the default writes a file of the real length (1.1 MB);
    a shorter one leaves validation and test short or empty. Returns ``root``."""
    root = _root(root)
    path = root / "tinyshakespeare" / "input.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tiny_shakespeare_text(n_chars).encode("ascii"))
    return root


# ---------------------------------------------------------------------------------------------- helpers


def _write_tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    """A .tar.gz of ``members`` (name -> bytes), with fixed metadata so that it is byte-for-byte reproducible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs: set[str] = set()
        for name, raw in members.items():
            parts = name.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                d = "/".join(parts[:depth])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_300_000_000
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(raw), 0o644, 1_300_000_000
            tar.addfile(info, io.BytesIO(raw))
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(buf.getvalue())
    return path
