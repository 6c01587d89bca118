"""Tests of the dataset loaders (zoo.data): each local format, the TFDS path (mocked), errors, and the pipeline.

The local copies are tiny synthetic datasets written by ``_datafiles`` into ``tmp_path``; the tests marked
``real_data`` read the real ones in place under ``$ZOO_DATA_DIR`` (see tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import pickle
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import zoo
import zoo.data
from zoo.data import sources
from _datafiles import (
    CIFAR_TRAIN_BATCHES,
    MNIST_FILES,
    TINY_SHAKESPEARE_CHARS,
    cifar10_arrays,
    cifar10_batch_bytes,
    imdb_movie,
    imdb_reviews,
    mnist_arrays,
    tiny_shakespeare_text,
    write_cifar10,
    write_cifar10_binary,
    write_idx,
    write_imdb,
    write_mnist,
    write_tiny_shakespeare,
)

load = zoo.data.load


def _index(split) -> np.ndarray:
    """The example numbers of a synthetic MNIST split (fewer than 256 examples: the pixel value is the index)."""
    return split.features[:, 0, 0, 0].astype(np.int64)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------- MNIST


@pytest.fixture
def mnist_root(tmp_path) -> Path:
    return write_mnist(tmp_path / "data", n_train=60, n_test=20)


def test_mnist_test_split_exact(mnist_root):
    split = load("mnist", "test", data_dir=mnist_root, source="local")
    images, labels = mnist_arrays(20)
    assert (split.dataset, split.split, split.source) == ("mnist", "test", "local")
    assert split.features.shape == (20, 28, 28, 1) and split.features.dtype == np.uint8
    assert split.labels.shape == (20,) and split.labels.dtype == np.int32
    np.testing.assert_array_equal(split.features[..., 0], images)
    np.testing.assert_array_equal(split.labels, labels)
    assert len(split) == 20
    assert split.files == tuple(mnist_root / "mnist" / name for name in MNIST_FILES["test"])


def test_mnist_whole_train_with_validation_split_zero(mnist_root):
    split = load("mnist", "train", data_dir=mnist_root, source="local", validation_split=0)
    images, labels = mnist_arrays(60)
    np.testing.assert_array_equal(split.features[..., 0], images)
    np.testing.assert_array_equal(split.labels, labels)


def test_mnist_validation_carve_out(mnist_root):
    train = load("mnist", "train", data_dir=mnist_root, source="local", validation_split=0.1)
    val = load("mnist", "validation", data_dir=mnist_root, source="local", validation_split=0.1)
    assert (len(train), len(val)) == (54, 6)
    assert (train.split, val.split) == ("train", "validation")
    assert train.features.shape == (54, 28, 28, 1) and val.features.shape == (6, 28, 28, 1)
    t, v = _index(train), _index(val)
    assert not set(t) & set(v), "validation overlaps train"
    assert sorted(np.concatenate([t, v]).tolist()) == list(range(60)), "train + validation != the whole train split"
    # each image keeps its own label
    np.testing.assert_array_equal(train.labels, t % 10)
    np.testing.assert_array_equal(val.labels, v % 10)
    # a shuffled carve-out, not simply the last examples
    assert sorted(v.tolist()) != list(range(54, 60))
    # fixed: the same on every load
    again = load("mnist", "validation", data_dir=mnist_root, source="local", validation_split=0.1)
    np.testing.assert_array_equal(_index(again), v)
    # another fraction: sizes follow it, and the pieces still partition train
    train25 = load("mnist", "train", data_dir=mnist_root, source="local", validation_split=0.25)
    val25 = load("mnist", "validation", data_dir=mnist_root, source="local", validation_split=0.25)
    assert (len(train25), len(val25)) == (45, 15)
    assert sorted(np.concatenate([_index(train25), _index(val25)]).tolist()) == list(range(60))


def test_mnist_validation_without_fraction_is_an_error(mnist_root):
    with pytest.raises(ValueError, match="validation"):
        load("mnist", "validation", data_dir=mnist_root, source="local", validation_split=0)


def test_mnist_files_in_data_dir_itself(mnist_root):
    split = load("mnist", "test", data_dir=mnist_root / "mnist", source="local")
    assert len(split) == 20 and split.files[0] == mnist_root / "mnist" / "t10k-images-idx3-ubyte.gz"


def test_mnist_file_hashes_and_provenance(mnist_root):
    split = load("mnist", "test", data_dir=mnist_root, source="local")
    expected = {f"mnist/{name}": _sha256(mnist_root / "mnist" / name) for name in MNIST_FILES["test"]}
    assert split.file_hashes() == expected
    assert split.provenance() == {"source": "local", "sha256": expected}


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_keeps_row_major_order(tmp_path, compress):
    pattern = (np.arange(3 * 28 * 28) % 251).astype(np.uint8).reshape(3, 28, 28)
    path = write_idx(tmp_path / "x-idx3-ubyte.gz", pattern, compress=compress)
    got = sources.read_idx(path)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, pattern)


# ------------------------------------------------------------------------------------------------ CIFAR-10


@pytest.mark.parametrize("archive", [False, True], ids=["dir", "tar.gz"])
def test_cifar10_splits_exact(tmp_path, archive):
    root = write_cifar10(tmp_path, n_per_batch=10, n_test=10, archive=archive)
    test = load("cifar10", "test", data_dir=root, source="local")
    x, y = cifar10_arrays(10)
    assert test.features.shape == (10, 32, 32, 3) and test.features.dtype == np.uint8
    assert test.labels.dtype == np.int32
    np.testing.assert_array_equal(test.features, x)
    np.testing.assert_array_equal(test.labels, y)

    whole = load("cifar10", "train", data_dir=root, source="local", validation_split=0)
    x, y = cifar10_arrays(50)  # the five batches, in order
    assert whole.features.shape == (50, 32, 32, 3) and whole.features.dtype == np.uint8
    np.testing.assert_array_equal(whole.features, x)
    np.testing.assert_array_equal(whole.labels, y)

    train = load("cifar10", "train", data_dir=root, source="local", validation_split=0.1)
    val = load("cifar10", "validation", data_dir=root, source="local", validation_split=0.1)
    assert (len(train), len(val)) == (45, 5)
    ids = lambda s: s.features[:, 0, 0, 0].astype(int)  # noqa: E731 - channel 0 at (0, 0) is the index
    assert not set(ids(train)) & set(ids(val))
    assert sorted(np.concatenate([ids(train), ids(val)]).tolist()) == list(range(50))
    np.testing.assert_array_equal(val.labels, ids(val) % 10)

    if archive:
        tar = root / "cifar10" / "cifar-10-python.tar.gz"
        assert test.files == (tar,) and test.file_hashes() == {f"cifar10/{tar.name}": _sha256(tar)}
    else:
        folder = root / "cifar10" / "cifar-10-batches-py"
        assert test.files == (folder / "test_batch",)
        assert whole.file_hashes() == {f"cifar-10-batches-py/{name}": _sha256(folder / name)
                                       for name in CIFAR_TRAIN_BATCHES}


def test_cifar10_dir_and_archive_give_the_same_validation(tmp_path):
    # the carve-out does not depend on the directory or the archive form
    a = load("cifar10", "validation", data_dir=write_cifar10(tmp_path / "a"), source="local")
    b = load("cifar10", "validation", data_dir=write_cifar10(tmp_path / "b", archive=True), source="local")
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_cifar10_python3_pickles_also_load(tmp_path):
    root = write_cifar10(tmp_path, n_per_batch=4, n_test=4, protocol=4)
    split = load("cifar10", "test", data_dir=root, source="local")
    np.testing.assert_array_equal(split.features, cifar10_arrays(4)[0])


def test_cifar10_missing_batch(tmp_path):
    root = write_cifar10(tmp_path)
    (root / "cifar10" / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(zoo.DataFormatError, match="data_batch_3"):
        load("cifar10", "train", data_dir=root, source="local")
    # the test split does not need it
    assert len(load("cifar10", "test", data_dir=root, source="local")) == 10


@pytest.mark.parametrize("archive", [False, True], ids=["dir", "tar.gz"])
def test_cifar10_binary_version_gives_the_python_versions_arrays(tmp_path, archive):
    binary = write_cifar10_binary(tmp_path / "bin", n_per_batch=6, n_test=5, archive=archive)
    python = write_cifar10(tmp_path / "py", n_per_batch=6, n_test=5)
    for split in ("train", "validation", "test"):
        a = load("cifar10", split, data_dir=binary, source="local")
        b = load("cifar10", split, data_dir=python, source="local")
        np.testing.assert_array_equal(a.features, b.features)
        np.testing.assert_array_equal(a.labels, b.labels)
        assert a.features.dtype == np.uint8 and a.labels.dtype == np.int32
    expected = "cifar-10-binary.tar.gz" if archive else "test_batch.bin"
    assert load("cifar10", "test", data_dir=binary, source="local").files[0].name == expected


def test_cifar10_binary_is_preferred_when_both_versions_are_there(tmp_path):
    root = write_cifar10_binary(tmp_path, n_per_batch=2, n_test=3)
    write_cifar10(tmp_path, n_per_batch=2, n_test=3)
    assert load("cifar10", "test", data_dir=root, source="local").files[0].parent.name == "cifar-10-batches-bin"


def test_cifar10_binary_truncated_foreign_or_oversized_files(tmp_path):
    root = write_cifar10_binary(tmp_path, n_per_batch=2, n_test=3)
    test_file = root / "cifar10" / "cifar-10-batches-bin" / "test_batch.bin"
    whole = test_file.read_bytes()
    test_file.write_bytes(whole[:-100])  # cut inside the last record
    with pytest.raises(zoo.DataFormatError, match=r"test_batch\.bin.*truncated"):
        load("cifar10", "test", data_dir=root, source="local")
    test_file.write_bytes(b"\x0c" + whole[1:])  # a label of 12: CIFAR-100's layout, say
    with pytest.raises(zoo.DataFormatError, match=r"test_batch\.bin.*label 12"):
        load("cifar10", "test", data_dir=root, source="local")
    test_file.write_bytes(whole * 3334)  # 10,002 records: more than a batch can hold, refused unread
    with pytest.raises(zoo.DataFormatError, match="larger than"):
        load("cifar10", "test", data_dir=root, source="local")
    test_file.unlink()
    with pytest.raises(zoo.DataFormatError, match="missing test_batch.bin"):
        load("cifar10", "test", data_dir=root, source="local")


def test_fashion_mnist_reads_its_own_folder_never_mnists(tmp_path):
    root = write_mnist(tmp_path, n_train=12, n_test=4)
    with pytest.raises(zoo.DataNotFoundError, match="fashion_mnist"):  # mnist/ has the same file names
        load("fashion_mnist", "test", data_dir=root, source="local")
    with pytest.raises(zoo.DataNotFoundError):  # nor MNIST's files straight under the root
        load("fashion_mnist", "test", data_dir=root / "mnist", source="local")
    (root / "mnist").rename(root / "fashion_mnist")
    split = load("fashion_mnist", "test", data_dir=root, source="local")
    assert split.features.shape == (4, 28, 28, 1) and split.dataset == "fashion_mnist"
    assert load("fashion_mnist", "test", data_dir=root / "fashion_mnist", source="local").files == split.files
    assert list(split.file_hashes()) == [f"fashion_mnist/{f.name}" for f in split.files]


# ---------------------------------------------------------------------------------------------------- IMDB


@pytest.mark.parametrize("archive", [False, True], ids=["dir", "tar.gz"])
def test_imdb_splits_exact(tmp_path, archive):
    root = write_imdb(tmp_path, n_train=6, n_test=4, archive=archive)
    for split_name, n in (("test", 4), ("train", 6)):
        split = load("imdb_reviews", split_name, data_dir=root, source="local", validation_split=0)
        assert split.features.shape == (2 * n,) and split.features.dtype == object
        assert split.labels.shape == (2 * n,) and split.labels.dtype == np.int32
        assert all(isinstance(t, str) for t in split.features)
        expected = sorted((text, label) for _, text, label in imdb_reviews(split_name, n))
        assert sorted(zip(split.features.tolist(), split.labels.tolist())) == expected  # unsup/, urls_* skipped
        assert np.bincount(split.labels).tolist() == [n, n]
    expected_files = (root / "imdb" / ("aclImdb_v1.tar.gz" if archive else "aclImdb"),)
    assert split.files == expected_files


def test_imdb_dir_and_archive_give_the_same_arrays(tmp_path):
    a = load("imdb_reviews", "train", data_dir=write_imdb(tmp_path / "a"), source="local", validation_split=0.25)
    b = load("imdb_reviews", "train", data_dir=write_imdb(tmp_path / "b", archive=True), source="local",
             validation_split=0.25)
    assert len(a) == 8  # 12 reviews of 3 movies: one movie (4 reviews) carved out for validation
    assert a.features.tolist() == b.features.tolist() and a.groups.tolist() == b.groups.tolist()
    np.testing.assert_array_equal(a.labels, b.labels)
    tar = tmp_path / "b" / "imdb" / "aclImdb_v1.tar.gz"
    assert b.file_hashes() == {"imdb/aclImdb_v1.tar.gz": _sha256(tar)}


def test_an_imdb_archive_member_too_large_for_a_review_is_refused_unread(tmp_path):
    import tarfile

    root = write_imdb(tmp_path / "plain")
    (root / "imdb" / "aclImdb" / "test" / "pos" / "0_7.txt").write_bytes(b"great " * 200_000)  # 1.2 MB
    (tmp_path / "imdb").mkdir()
    with tarfile.open(tmp_path / "imdb" / "aclImdb_v1.tar.gz", "w:gz") as tar:
        tar.add(root / "imdb" / "aclImdb", arcname="aclImdb")
    with pytest.raises(zoo.DataFormatError, match="test/pos/0_7.txt claims 1,200,000 bytes"):
        load("imdb_reviews", "test", data_dir=tmp_path, source="local")


def test_imdb_validation_carve_out(tmp_path):
    root = write_imdb(tmp_path, n_train=10, n_test=2)
    train = load("imdb_reviews", "train", data_dir=root, source="local", validation_split=0.2)
    val = load("imdb_reviews", "validation", data_dir=root, source="local", validation_split=0.2)
    assert (len(train), len(val)) == (16, 4)
    assert not set(train.features) & set(val.features)
    assert sorted([*train.features, *val.features]) == sorted(t for _, t, _ in imdb_reviews("train", 10))
    # labels stay with their texts
    for text, label in zip([*train.features, *val.features], [*train.labels, *val.labels]):
        assert (" pos " in text) == bool(label)
    again = load("imdb_reviews", "validation", data_dir=root, source="local", validation_split=0.2)
    assert again.features.tolist() == val.features.tolist()
    # carved by movie (two reviews of each sentiment to a movie here): no movie on both sides
    assert len(set(val.groups)) == 1 and not set(train.groups) & set(val.groups)
    for text, movie in zip([*train.features, *val.features], [*train.groups, *val.groups]):
        assert imdb_movie("train", int(text.split(" review ")[1].split(",")[0])) == movie


@pytest.mark.parametrize("archive", [
    pytest.param(False, id="dir"),
    pytest.param(True, id="tar.gz"),
])
def test_imdb_review_not_utf8(tmp_path, archive):
    root = write_imdb(tmp_path / "plain")
    (root / "imdb" / "aclImdb" / "test" / "pos" / "0_7.txt").write_bytes(b"caf\xe9, latin-1 not utf-8")
    if archive:
        import tarfile

        with tarfile.open(tmp_path / "aclImdb_v1.tar.gz", "w:gz") as tar:
            tar.add(root / "imdb" / "aclImdb", arcname="aclImdb")
        root = tmp_path
        (root / "imdb").mkdir()
        (tmp_path / "aclImdb_v1.tar.gz").rename(root / "imdb" / "aclImdb_v1.tar.gz")
    with pytest.raises(zoo.DataFormatError) as err:
        load("imdb_reviews", "test", data_dir=root, source="local")
    assert ("aclImdb_v1.tar.gz" if archive else "0_7.txt") in str(err.value)


# ------------------------------------------------------------------------------------------ tiny-shakespeare


def test_tiny_shakespeare_splits_exact(tmp_path):
    root = write_tiny_shakespeare(tmp_path)
    text = tiny_shakespeare_text()
    got = {s: load("tiny_shakespeare", s, data_dir=root, source="local") for s in ("train", "validation", "test")}
    assert {s: len(v) for s, v in got.items()} == {"train": 1_003_854, "validation": 55_770, "test": 55_770}
    assert got["train"].text == text[:1_003_854]
    assert got["validation"].text == text[1_003_854:1_059_624]
    assert got["test"].text == text[1_059_624:]
    assert got["train"].text + got["validation"].text + got["test"].text == text
    assert all(v.features is None and v.labels is None and v.source == "local" for v in got.values())
    path = root / "tinyshakespeare" / "input.txt"
    assert got["test"].file_hashes() == {"tinyshakespeare/input.txt": _sha256(path)}
    # validation_split does not move the published corpus splits
    half = load("tiny_shakespeare", "train", data_dir=root, source="local", validation_split=0.5)
    assert half.text == text[:1_003_854]


def test_tiny_shakespeare_not_utf8(tmp_path):
    path = tmp_path / "tinyshakespeare" / "input.txt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"First Citizen:\n\xff\xfe not utf-8\n")
    with pytest.raises(zoo.DataFormatError, match="input.txt"):
        load("tiny_shakespeare", "train", data_dir=tmp_path, source="local")


# ------------------------------------------------------------------------------------- where data is looked for


@pytest.mark.parametrize("name", ["mnist", "cifar10", "imdb_reviews", "tiny_shakespeare"])
def test_local_missing_raises_data_not_found(tmp_path, name):
    with pytest.raises(zoo.DataNotFoundError) as err:
        load(name, "test", data_dir=tmp_path, source="local")
    msg = str(err.value)
    assert name in msg and str(tmp_path) in msg, msg
    assert zoo.data.DATASETS[name].local_layout.split(" ")[0] in msg, msg  # and says what layout it wants
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, zoo.ZooError)


def test_local_missing_without_any_data_dir(monkeypatch):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    with pytest.raises(zoo.DataNotFoundError, match=r"mnist.*ZOO_DATA_DIR unset"):
        load("mnist", "test", source="local")


def test_zoo_data_dir_env_is_honoured(tmp_path, monkeypatch):
    root = write_mnist(tmp_path / "env", n_train=30, n_test=10)
    monkeypatch.setenv("ZOO_DATA_DIR", str(root))
    split = load("mnist", "test", source="local")
    assert len(split) == 10 and split.files[0].parent == root / "mnist"
    assert zoo.data.local_dir() == root


def test_data_dir_expands_user(tmp_path, monkeypatch):
    write_mnist(tmp_path / "data", n_train=10, n_test=5)
    monkeypatch.setenv("HOME", str(tmp_path))
    split = load("mnist", "test", data_dir="~/data", source="local")
    assert len(split) == 5 and split.files[0] == tmp_path / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"


def test_data_dir_argument_wins_over_env(tmp_path, monkeypatch):
    env_root = write_mnist(tmp_path / "env", n_train=30, n_test=10)
    arg_root = write_mnist(tmp_path / "arg", n_train=30, n_test=7)
    monkeypatch.setenv("ZOO_DATA_DIR", str(env_root))
    split = load("mnist", "test", data_dir=arg_root, source="local")
    assert len(split) == 7 and split.files[0].parent == arg_root / "mnist"
    # ... even where data_dir lacks the dataset: no silent fall-back to $ZOO_DATA_DIR
    with pytest.raises(zoo.DataNotFoundError, match=str(tmp_path / "empty")):
        load("mnist", "test", data_dir=tmp_path / "empty", source="local")


def test_auto_prefers_the_local_copy_even_offline(mnist_root, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    split = load("mnist", "test", data_dir=mnist_root, source="auto")
    assert split.source == "local" and len(split) == 20


def _load_with_deadline(seconds: float, **kwargs):
    """Run load() in a thread; fail (rather than hang the suite) if it has not returned after ``seconds``."""
    result: dict = {}

    def target():
        try:
            result["value"] = load(**kwargs)
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"load({kwargs}) still running after {seconds} s"
    return result, time.monotonic() - start


@pytest.mark.parametrize("source", ["auto", "tfds"])
def test_offline_without_local_copy_fails_fast(tmp_path, monkeypatch, source):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    calls = []
    monkeypatch.setattr(sources, "read_tfds", lambda *a, **k: calls.append(a) or {})
    result, elapsed = _load_with_deadline(30, name="mnist", split="train", data_dir=tmp_path, source=source)
    assert isinstance(result.get("error"), zoo.DataNotFoundError), result
    msg = str(result["error"])
    assert "mnist" in msg and "ZOO_OFFLINE" in msg, msg
    if source == "auto":
        assert str(tmp_path) in msg, msg
    assert calls == [], "TFDS was asked although ZOO_OFFLINE=1"
    assert elapsed < 10


# --------------------------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "mnist2"}, "unknown dataset"),
        ({"name": "mnist", "split": "dev"}, "split"),
        ({"name": "mnist", "split": "TRAIN"}, "split"),
        ({"name": "mnist", "source": "web"}, "source"),
        ({"name": "mnist", "validation_split": 1.0}, "validation_split"),
        ({"name": "mnist", "validation_split": -0.1}, "validation_split"),
        ({"name": "mnist", "validation_split": 1.5}, "validation_split"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load(data_dir=write_mnist(tmp_path, n_train=10, n_test=10), **kwargs)


# ------------------------------------------------------------------------------------- corrupt local files


def _truncate(path: Path, keep: float = 0.5) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])


@pytest.mark.parametrize("which", ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"])
def test_mnist_truncated_gzip(mnist_root, which):
    path = mnist_root / "mnist" / which
    _truncate(path)
    with pytest.raises(zoo.DataFormatError) as err:
        load("mnist", "train", data_dir=mnist_root, source="local")
    assert str(path) in str(err.value)


def test_mnist_corrupted_gzip(mnist_root):
    path = mnist_root / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    for i in range(12, len(raw) - 8):  # the deflate stream, between gzip header and trailer
        raw[i] ^= 0x5A
    path.write_bytes(bytes(raw))
    with pytest.raises(zoo.DataFormatError) as err:
        load("mnist", "test", data_dir=mnist_root, source="local")
    assert str(path) in str(err.value)


def test_mnist_idx_shorter_than_its_header_says(mnist_root):
    path = mnist_root / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))  # a valid gzip of a truncated IDX file
    with pytest.raises(zoo.DataFormatError, match="truncated") as err:
        load("mnist", "test", data_dir=mnist_root, source="local")
    assert str(path) in str(err.value)


def test_mnist_idx_longer_than_its_header_says(mnist_root):
    path = mnist_root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()) + b"\x00" * 5))
    with pytest.raises(zoo.DataFormatError, match="header promises") as err:
        load("mnist", "test", data_dir=mnist_root, source="local")
    assert str(path) in str(err.value)


def test_a_gzip_bomb_is_refused_without_being_decompressed(mnist_root):
    """An IDX header promising 10 labels, then 256 MiB of zeros (a 256 kB gzip): refused after reading 11 bytes
    of data, where the whole file used to be decompressed first."""
    import tracemalloc

    path = mnist_root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(b"\x00\x00\x08\x01" + (10).to_bytes(4, "big"))
        chunk = bytes(1 << 20)
        for _ in range(256):
            f.write(chunk)
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(zoo.DataFormatError, match="more than the 10 bytes of data its header promises"):
            zoo.data.sources.read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB allocated reading a bomb"


def test_an_idx_header_claiming_too_much_is_refused_before_reading(mnist_root):
    path = mnist_root / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"".join(n.to_bytes(4, "big") for n in (60_000, 2_000, 2_000))))
    with pytest.raises(zoo.DataFormatError, match="claims 240,000,000,000 bytes") as err:
        load("mnist", "test", data_dir=mnist_root, source="local")
    assert str(path) in str(err.value)


def test_labels_outside_the_datasets_classes_are_refused_naming_the_file(mnist_root):
    labels = mnist_arrays(20)[1].copy()
    labels[3] = 200
    write_idx(mnist_root / "mnist" / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(zoo.DataFormatError, match=r"labels in \[0, 200\], but mnist has 10 classes"):
        load("mnist", "test", data_dir=mnist_root, source="local")


def test_mnist_not_an_idx_file(mnist_root):
    path = mnist_root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"<html>404 Not Found</html>"))
    with pytest.raises(zoo.DataFormatError, match="IDX") as err:
        load("mnist", "test", data_dir=mnist_root, source="local")
    assert str(path) in str(err.value)


def test_mnist_images_and_labels_disagree(mnist_root):
    labels = mnist_arrays(19)[1]
    write_idx(mnist_root / "mnist" / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(zoo.DataFormatError, match="do not match"):
        load("mnist", "test", data_dir=mnist_root, source="local")


def test_mnist_missing_test_files_names_the_file(mnist_root):
    path = mnist_root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    path.unlink()
    with pytest.raises(zoo.ZooError) as err:
        load("mnist", "test", data_dir=mnist_root, source="local")
    assert str(path) in str(err.value)


@pytest.mark.parametrize("dataset, writer, tar", [
    ("imdb_reviews", write_imdb, "imdb/aclImdb_v1.tar.gz"),
    ("cifar10", write_cifar10, "cifar10/cifar-10-python.tar.gz"),
])
def test_truncated_tar_gz(tmp_path, dataset, writer, tar):
    root = writer(tmp_path, archive=True)
    path = root / tar
    _truncate(path, 0.6)
    with pytest.raises(zoo.DataFormatError) as err:
        load(dataset, "test", data_dir=root, source="local")
    assert str(path) in str(err.value)


def test_imdb_archive_without_the_split(tmp_path):
    root = write_imdb(tmp_path, archive=True)
    import tarfile

    path = root / "imdb" / "aclImdb_v1.tar.gz"
    with tarfile.open(path, "w:gz") as tar:  # an archive of something else
        info = tarfile.TarInfo("other/README")
        tar.addfile(info)
    with pytest.raises(zoo.DataFormatError, match="no reviews") as err:
        load("imdb_reviews", "test", data_dir=root, source="local")
    assert str(path) in str(err.value)


@pytest.mark.parametrize("garbage", [
    b"",
    bytes(range(256)) * 8,
    pickle.dumps({b"labels": [1, 2]}, protocol=4),  # a pickle without b"data"
    pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [1, 2]}, protocol=4),  # wrong row size
], ids=["empty", "bytes", "no-data", "bad-shape"])
def test_cifar10_garbage_batch(tmp_path, garbage):
    root = write_cifar10(tmp_path)
    path = root / "cifar10" / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(garbage)
    with pytest.raises(zoo.DataFormatError) as err:
        load("cifar10", "train", data_dir=root, source="local")
    assert str(path) in str(err.value)


def test_cifar10_labels_and_images_disagree(tmp_path):
    root = write_cifar10(tmp_path)
    x, y = cifar10_arrays(10)
    path = root / "cifar10" / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(cifar10_batch_bytes(x, y[:9]))
    with pytest.raises(zoo.DataFormatError, match="labels") as err:
        load("cifar10", "test", data_dir=root, source="local")
    assert str(path) in str(err.value)


class _Payload:
    """Unpickling this calls ``func(*args)``: the classic pickle exploit."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("archive", [False, True], ids=["dir", "tar.gz"])
@pytest.mark.parametrize("kind", ["os.system", "builtins.eval"])
def test_cifar10_unpickler_refuses_code(tmp_path, archive, kind):
    marker = tmp_path / "pwned"
    payload = (_Payload(os.system, f"touch {marker}") if kind == "os.system"
               else _Payload(eval, f"open({str(marker)!r}, 'w').close()"))
    evil = pickle.dumps({b"data": payload, b"labels": [0]}, protocol=2)
    assert kind.split(".")[1].encode() in evil  # the pickle really references the callable
    root = write_cifar10(tmp_path / "data")
    folder = root / "cifar10" / "cifar-10-batches-py"
    (folder / "test_batch").write_bytes(evil)
    if archive:
        import tarfile

        with tarfile.open(root / "cifar10" / "cifar-10-python.tar.gz", "w:gz") as tar:
            tar.add(folder, arcname="cifar-10-batches-py")
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    with pytest.raises(zoo.DataFormatError) as err:
        load("cifar10", "test", data_dir=root, source="local")
    assert "test_batch" in str(err.value)
    assert not marker.exists(), "the pickle's payload ran"


# ------------------------------------------------------------------------------------------------ pipeline


def _epoch(ds) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(x.numpy(), y.numpy()) for x, y in ds]


def _stack(batches) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


@pytest.fixture
def mnist_train(mnist_root):
    return load("mnist", "train", data_dir=mnist_root, source="local")  # 54 examples


def test_pipeline_batches_in_order_when_not_training(mnist_train):
    batches = _epoch(zoo.data.pipeline(mnist_train, batch_size=16))
    assert [len(y) for _, y in batches] == [16, 16, 16, 6]
    x, y = _stack(batches)
    assert x.dtype == np.uint8 and x.shape == (54, 28, 28, 1) and y.dtype == np.int32
    np.testing.assert_array_equal(x, mnist_train.features)
    np.testing.assert_array_equal(y, mnist_train.labels)
    dropped = _epoch(zoo.data.pipeline(mnist_train, batch_size=16, drop_remainder=True))
    assert [len(y) for _, y in dropped] == [16, 16, 16]


def test_pipeline_training_shuffle_is_seeded(mnist_train):
    make = lambda seed: zoo.data.pipeline(mnist_train, batch_size=8, training=True, seed=seed)  # noqa: E731
    a, b, c = make(1), make(1), make(2)
    default = [_stack(_epoch(zoo.data.pipeline(mnist_train, batch_size=8, training=True)))[1] for _ in range(2)]
    np.testing.assert_array_equal(default[0], default[1])  # the default seed (0) is a fixed seed too
    first_a, first_b, first_c = _epoch(a), _epoch(b), _epoch(c)
    assert [len(y) for _, y in first_a] == [8] * 6 + [6]
    xa, ya = _stack(first_a)
    xb, yb = _stack(first_b)
    xc, yc = _stack(first_c)
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    ids = xa[:, 0, 0, 0].astype(int)
    assert not np.array_equal(ids, xc[:, 0, 0, 0]), "different seeds gave the same order"
    assert not np.array_equal(ids, _index(mnist_train)), "training pipeline is not shuffled"
    # one epoch is a permutation of the split, each image with its own label
    assert sorted(ids.tolist()) == sorted(_index(mnist_train).tolist())
    np.testing.assert_array_equal(ya, ids % 10)
    # and the next epoch is shuffled again
    second = _stack(_epoch(a))[0][:, 0, 0, 0]
    assert sorted(second.tolist()) == sorted(ids.tolist()) and not np.array_equal(second, ids)


def _patterned_split(n: int, shape=(28, 28, 1)) -> zoo.data.Split:
    """Random non-zero, asymmetric images; label i = the example's index (to find its original)."""
    rng = np.random.default_rng(7)
    x = rng.integers(1, 256, size=(n, *shape), dtype=np.uint8)
    return zoo.data.Split("mnist", "train", "local", features=x, labels=np.arange(n, dtype=np.int32))


def _shifts(image: np.ndarray, pad: int) -> list[np.ndarray]:
    h, w = image.shape[:2]
    padded = np.pad(image, [(pad, pad), (pad, pad), (0, 0)])
    return [padded[dy : dy + h, dx : dx + w] for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)]


@pytest.mark.parametrize("augmentation", [("random_shift_2",), ("flip_left_right",),
                                          ("random_shift_2", "flip_left_right")])
def test_pipeline_augmentation(augmentation):
    split = _patterned_split(30)
    ds = zoo.data.pipeline(split, batch_size=10, training=True, seed=3, augmentation=augmentation)
    batches = _epoch(ds)
    assert [x.shape for x, _ in batches] == [(10, 28, 28, 1)] * 3
    assert all(x.dtype == np.uint8 for x, _ in batches)
    x, y = _stack(batches)
    assert sorted(y.tolist()) == list(range(30))
    changed = flipped = kept = 0
    for image, label in zip(x, y):
        original = split.features[label]
        candidates = _shifts(original, 2) if "random_shift_2" in augmentation else [original]
        if "flip_left_right" in augmentation:
            mirrored = [c[:, ::-1] for c in candidates]
            flipped += any(np.array_equal(image, c) for c in mirrored)
            candidates = candidates + mirrored
        assert any(np.array_equal(image, c) for c in candidates), f"example {label}: not a shift/flip of its image"
        changed += not np.array_equal(image, original)
        kept += np.array_equal(image, original)
    assert changed > 0, "augmentation changed nothing"
    if augmentation == ("flip_left_right",):
        assert flipped > 0 and kept > 0, "flip_left_right should flip some images and not others"
    # deterministic under the seed, different in the next epoch
    again = _stack(_epoch(zoo.data.pipeline(split, batch_size=10, training=True, seed=3,
                                            augmentation=augmentation)))
    np.testing.assert_array_equal(again[0], x)
    np.testing.assert_array_equal(again[1], y)
    x2, y2 = _stack(_epoch(ds))
    order = np.argsort(y2)
    assert not np.array_equal(x2[order], x[np.argsort(y)]), "the same augmentation in each epoch"


def test_pipeline_augmentation_on_cifar_shapes(tmp_path):
    split = load("cifar10", "test", data_dir=write_cifar10(tmp_path), source="local")
    ds = zoo.data.pipeline(split, batch_size=4, training=True, seed=0, augmentation=("pad_crop_4", "flip_left_right"))
    batches = _epoch(ds)
    assert [x.shape for x, _ in batches] == [(4, 32, 32, 3), (4, 32, 32, 3), (2, 32, 32, 3)]
    assert all(x.dtype == np.uint8 for x, _ in batches)


@pytest.mark.parametrize("name", ["rotate_90", "random_shift_", "random_shift", "flip", "pad_crop_x"])
def test_pipeline_unknown_augmentation(mnist_train, name):
    with pytest.raises(ValueError, match="unknown augmentation"):
        zoo.data.pipeline(mnist_train, batch_size=8, training=True, augmentation=("random_shift_2", name))


def test_pipeline_unknown_augmentation_when_not_training(mnist_train):
    with pytest.raises(ValueError, match="unknown augmentation"):
        zoo.data.pipeline(mnist_train, batch_size=8, training=False, augmentation=("rotate_90",))


def test_pipeline_bad_arguments(mnist_train, tmp_path):
    for bad in (0, -1, 2.0, None):
        with pytest.raises(ValueError, match="batch_size"):
            zoo.data.pipeline(mnist_train, batch_size=bad)
    corpus = load("tiny_shakespeare", "test", data_dir=write_tiny_shakespeare(tmp_path), source="local")
    with pytest.raises(ValueError, match="corpus"):
        zoo.data.pipeline(corpus, batch_size=8)


def test_pipeline_text(tmp_path):
    split = load("imdb_reviews", "test", data_dir=write_imdb(tmp_path, n_test=5), source="local")
    batches = _epoch(zoo.data.pipeline(split, batch_size=4))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    x, y = _stack(batches)
    assert [s.decode("utf-8") for s in x] == split.features.tolist()
    np.testing.assert_array_equal(y, split.labels)


# ---------------------------------------------------------------------------------------------- TFDS (mocked)


@contextlib.contextmanager
def _mock_tfds(num_examples: int):
    """``tfds.testing.mock_data``, plus split sizes: zoo reads a whole split with ``batch_size=-1``, which TFDS
    turns into ``batch(info.splits.total_num_examples or sys.maxsize)``; the mock knows no split sizes (0), and
    ``batch(sys.maxsize)`` aborts the process in TensorFlow. Real prepared datasets record their sizes."""
    from unittest import mock

    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=num_examples), mock.patch.object(
        tfds.core.splits.SplitDict, "total_num_examples", new=property(lambda self: 10 * num_examples)
    ):
        yield


@pytest.fixture
def online(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    return str(tmp_path / "tfds")  # TFDS's own data_dir: never the user's ~/tensorflow_datasets


def test_tfds_mnist(online, mnist_root):
    with _mock_tfds(20):
        test = load("mnist", "test", source="tfds", data_dir=mnist_root, tfds_data_dir=online)
        val = load("mnist", "validation", source="tfds", tfds_data_dir=online)
    assert test.source == "tfds" and test.files == ()  # the local copy is not used
    assert test.features.shape == (20, 28, 28, 1) and test.features.dtype == np.uint8
    assert test.labels.shape == (20,) and test.labels.dtype == np.int32
    assert set(test.labels.tolist()) <= set(range(10))
    assert test.provenance()["source"] == "tfds" and test.tfds_version and test.tfds_version[0].isdigit()
    assert val.split == "validation" and len(val) == 2 and val.features.shape == (2, 28, 28, 1)
    assert not Path(online).exists() or not any(Path(online).rglob("*.tfrecord*"))


def test_tfds_cifar10(online):
    with _mock_tfds(12):
        split = load("cifar10", "train", source="tfds", tfds_data_dir=online, validation_split=0.25)
    assert split.features.shape == (9, 32, 32, 3) and split.features.dtype == np.uint8
    assert split.labels.dtype == np.int32


def test_tfds_imdb_reviews(online):
    with _mock_tfds(10):
        split = load("imdb_reviews", "test", source="tfds", tfds_data_dir=online)
    assert split.features.shape == (10,) and split.features.dtype == object
    assert all(isinstance(t, str) for t in split.features)
    assert split.labels.shape == (10,) and split.labels.dtype == np.int32
    assert set(split.labels.tolist()) <= {0, 1}


def test_tfds_tiny_shakespeare(online):
    with _mock_tfds(3):
        split = load("tiny_shakespeare", "test", source="tfds", tfds_data_dir=online)
    assert isinstance(split.text, str) and len(split.text) > 0 and split.labels is None


# ------------------------------------------------------------------------------------------------ real data


def _published_hashes(root: Path) -> dict[Path, str]:
    """Every SHA256SUMS under the data root (the root's own, and cifar10/'s and fashion_mnist/'s, whose paths are
    relative to their folder), keyed by the file's full path: MNIST and Fashion-MNIST share file names."""
    out = {}
    for sums in sorted(root.glob("**/SHA256SUMS")):
        for line in sums.read_text().splitlines():
            if line.strip():
                digest, name = line.split(maxsplit=1)
                out[(sums.parent / name.lstrip("*")).resolve()] = digest
    return out


def _check_published(split, root: Path) -> None:
    published = _published_hashes(root)
    for f in split.files:
        assert f.resolve() in published, f"{f} is not listed in any SHA256SUMS under {root}"
        assert split.file_hashes()[f"{f.parent.name}/{f.name}"] == published[f.resolve()], f


MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _check_idx_dataset(name: str, root: Path, counts: dict[str, list[int]], mean: tuple[float, float]) -> None:
    """An IDX dataset of 60,000 + 10,000 images read from its own folder, with its class counts, its mean pixel
    and its files' published hashes."""
    train = load(name, "train", data_dir=root, source="local", validation_split=0.1)
    val = load(name, "validation", data_dir=root, source="local", validation_split=0.1)
    test = load(name, "test", data_dir=root, source="local")
    for split, n in ((train, 54_000), (val, 6_000), (test, 10_000)):
        assert split.source == "local" and split.dataset == name
        assert split.features.shape == (n, 28, 28, 1) and split.features.dtype == np.uint8
        assert split.labels.shape == (n,) and split.labels.dtype == np.int32
        assert all(f.parent == root / name for f in split.files)  # MNIST and Fashion-MNIST share file names
    assert mean[0] < train.features.mean() < mean[1]
    assert (np.bincount(train.labels, minlength=10) + np.bincount(val.labels, minlength=10)).tolist() == counts["train"]
    assert np.bincount(test.labels, minlength=10).tolist() == counts["test"]
    assert {f.name for f in train.files + test.files} == {n for pair in MNIST_FILES.values() for n in pair}
    _check_published(train, root)
    _check_published(test, root)


MNIST_COUNTS = {"train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
                "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]}
FASHION_COUNTS = {"train": [6000] * 10, "test": [1000] * 10}


@pytest.mark.real_data
def test_real_mnist(real_data_dir):
    _check_idx_dataset("mnist", real_data_dir, MNIST_COUNTS, (30, 37))  # MNIST's mean pixel is 33.3


@pytest.mark.real_data
def test_real_fashion_mnist(real_data_dir):
    _check_idx_dataset("fashion_mnist", real_data_dir, FASHION_COUNTS, (70, 75))  # Fashion-MNIST's is 72.9
    assert zoo.data.DATASETS["fashion_mnist"].class_names[9] == "Ankle boot"


@pytest.mark.slow
@pytest.mark.real_data
def test_real_cifar10_binary(real_data_dir):
    train = load("cifar10", "train", data_dir=real_data_dir, source="local", validation_split=0)
    test = load("cifar10", "test", data_dir=real_data_dir, source="local")
    assert train.files == (real_data_dir / "cifar10" / "cifar-10-binary.tar.gz",)
    assert train.features.shape == (50_000, 32, 32, 3) and test.features.shape == (10_000, 32, 32, 3)
    assert np.bincount(train.labels).tolist() == [5000] * 10 and np.bincount(test.labels).tolist() == [1000] * 10
    means = train.features.reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(means, [125.31, 122.95, 113.87], atol=0.01)
    _check_published(train, real_data_dir)


@pytest.fixture(scope="module")
def real_imdb_test(real_data_dir):
    return load("imdb_reviews", "test", data_dir=real_data_dir, source="local")  # reads the tarball once


@pytest.mark.slow
@pytest.mark.real_data
def test_real_imdb(real_imdb_test, real_data_dir):
    split = real_imdb_test
    assert split.source == "local" and split.files == (real_data_dir / "imdb" / "aclImdb_v1.tar.gz",)
    assert split.features.shape == (25_000,) and split.features.dtype == object
    assert split.labels.dtype == np.int32
    assert np.bincount(split.labels).tolist() == [12_500, 12_500]
    assert all(isinstance(t, str) and t for t in split.features[:100])
    _check_published(split, real_data_dir)


@pytest.mark.real_data
def test_real_tiny_shakespeare(real_data_dir):
    got = {s: load("tiny_shakespeare", s, data_dir=real_data_dir, source="local")
           for s in ("train", "validation", "test")}
    assert {s: len(v) for s, v in got.items()} == {"train": 1_003_854, "validation": 55_770, "test": 55_770}
    whole = "".join(got[s].text for s in ("train", "validation", "test"))
    assert len(whole) == TINY_SHAKESPEARE_CHARS and len(set(whole)) == 65
    assert whole.startswith("First Citizen:")
    _check_published(got["test"], real_data_dir)
