"""Datasets: one loader for each, two sources each (a local copy in the publisher's format, or TFDS).

``load(name, split)`` gives a :class:`Split` of NumPy arrays (these datasets are small); ``pipeline(split, ...)``
turns it into a batched, shuffled, prefetched ``tf.data.Dataset``. The local copy is looked for under the
``data_dir`` argument, else under ``$ZOO_DATA_DIR``; ``source="auto"`` takes it when present, else TFDS.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo import settings
from zoo._io import sha256_file
from zoo.data.catalog import CHAR_VOCABULARY_SIZE, DATASETS, DatasetInfo
from zoo.errors import DataFormatError, DataNotFoundError

SOURCES = ("auto", "local", "tfds")
SPLITS = ("train", "validation", "test")
_SHUFFLE_SEED = 20240601  # fixed: the validation carve-out must not move with the training seed

__all__ = ["DATASETS", "Split", "load", "pipeline", "epoch_stream", "local_dir", "SOURCES", "SPLITS"]


@dataclasses.dataclass
class Split:
    """One split of one dataset, in memory."""

    dataset: str
    split: str
    source: str  # "local" or "tfds"
    features: np.ndarray | None = None  # images (N, H, W, C) uint8, or texts (N,) object
    labels: np.ndarray | None = None  # (N,) int32
    text: str | None = None  # a corpus (tiny_shakespeare)
    files: tuple[Path, ...] = ()  # the local files read (empty for TFDS)
    tfds_version: str | None = None
    # Each example's group (IMDB: its movie): a carved validation split takes whole groups, so that no group
    # is on both sides. None: examples are carved one by one.
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.text) if self.text is not None else len(self.labels)

    def file_hashes(self) -> dict[str, str]:
        """sha256 of every local file used, for metrics.json and the weights manifest, keyed by the file's folder
        and name ("mnist/t10k-images-idx3-ubyte.gz"): MNIST's and Fashion-MNIST's files share their names."""
        out = {}
        for f in self.files:
            out[f"{f.parent.name}/{f.name}"] = "directory (not hashed)" if f.is_dir() else sha256_file(f)
        return out

    def provenance(self) -> dict[str, Any]:
        if self.source == "tfds":
            return {"source": "tfds", "tfds_version": self.tfds_version}
        return {"source": "local", "sha256": self.file_hashes()}


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


local_dir = settings.data_dir  # where local copies are looked for: data_dir, else $ZOO_DATA_DIR, else nowhere


def _local_source(info: DatasetInfo, root: Path | None) -> Path | None:
    """The local copy's path if present (the dataset's sub-folder, or root itself holding the files)."""
    if root is None:
        return None
    bases = (root / info.local_dir, root)
    if info.name == "fashion_mnist" and root.name != info.local_dir:
        bases = (root / info.local_dir,)
    for base in bases:  # MNIST's and Fashion-MNIST's files have the same names: only the latter's folder counts
        if info.name in ("mnist", "fashion_mnist") and (base / "train-images-idx3-ubyte.gz").exists():
            return base
        if info.name == "cifar10":
            for candidate in (base / "cifar-10-batches-bin", base / "cifar-10-binary.tar.gz",
                              base / "cifar-10-batches-py", base / "cifar-10-python.tar.gz"):
                if candidate.exists():
                    return candidate
        if info.name == "imdb_reviews":
            for candidate in (base / "aclImdb", base / "aclImdb_v1.tar.gz"):
                if candidate.exists():
                    return candidate
        if info.name == "tiny_shakespeare" and (base / "input.txt").exists():
            return base / "input.txt"
    return None


def _read_local(info: DatasetInfo, path: Path, published: str) -> Split:
    from zoo.data import sources

    if info.name in ("mnist", "fashion_mnist"):
        x, y, files = sources.read_mnist(path, published)
    elif info.name == "cifar10":
        x, y, files = sources.read_cifar10(path, published)
    elif info.name == "imdb_reviews":
        x, y, files, movies = sources.read_imdb(path, published)
        return Split(info.name, published, "local", features=x, labels=y, files=tuple(files), groups=movies)
    else:
        text, files = sources.read_text(path)
        return Split(info.name, published, "local", text=text, files=tuple(files))
    return Split(info.name, published, "local", features=x, labels=y, files=tuple(files))


def _read_tfds(info: DatasetInfo, published: str, tfds_data_dir: str | None, looked: str) -> Split:
    if settings.offline():
        raise DataNotFoundError(f"{info.name}: no local copy ({looked}) and ZOO_OFFLINE=1 forbids a TFDS download; {_how(info)}")
    from zoo.data import sources

    try:
        import tensorflow_datasets as tfds

        builder = tfds.builder(info.tfds_name, data_dir=tfds_data_dir)
        got = sources.read_tfds(info.tfds_name, published, data_dir=tfds_data_dir, kind=info.kind)
        version = str(builder.info.version)
    except DataNotFoundError:
        raise
    except Exception as e:  # download refused, no network, a broken TFDS cache
        raise DataNotFoundError(
            f"{info.name}: no local copy ({looked}) and TFDS could not provide it "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}); {_how(info)}"
        ) from e
    return Split(info.name, published, "tfds", tfds_version=version, **got)


def _how(info: DatasetInfo) -> str:
    return f"put the publisher's copy at $ZOO_DATA_DIR/{info.local_layout}, or pass data_dir=, or go online for TFDS"


def _carve(split: Split, part: str, fraction: float) -> Split:
    """Train minus a fixed, shuffled tail of ``fraction`` (part="train"), or that tail (part="validation"); for
    a split with groups (IMDB's movies), whole groups: the validation split is the first groups of a seeded
    order that hold ``fraction`` of the examples (a little more: the last group is whole)."""
    if split.text is not None:
        cut = int(len(split.text) * (1 - fraction))
        return dataclasses.replace(split, split=part, text=split.text[:cut] if part == "train" else split.text[cut:])
    rng = np.random.default_rng(_SHUFFLE_SEED)
    if split.groups is not None:  # whole groups (IMDB: movies) to validation, in a seeded order, up to fraction
        names, inverse, counts = np.unique(split.groups.astype(str), return_inverse=True, return_counts=True)
        order = rng.permutation(len(names))
        taken = int(np.searchsorted(np.cumsum(counts[order]), len(split.labels) * fraction)) + 1
        validation = np.isin(inverse, order[:taken])
        keep = np.flatnonzero(~validation if part == "train" else validation)
    else:
        order = rng.permutation(len(split.labels))
        cut = int(round(len(order) * (1 - fraction)))
        keep = np.sort(order[:cut] if part == "train" else order[cut:])
    return dataclasses.replace(split, split=part, features=split.features[keep], labels=split.labels[keep],
                               groups=None if split.groups is None else split.groups[keep])


def load(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike[str] | None = None,
    source: str = "auto",
    validation_split: float = 0.1,
    tfds_data_dir: str | None = None,
) -> Split:
    """Load one split of one dataset into memory.

    Args:
        name: "mnist", "fashion_mnist", "cifar10", "imdb_reviews" or "tiny_shakespeare".
        split: "train", "validation" or "test". Where the publisher has no validation split, "validation" is a
            fixed, shuffled ``validation_split`` fraction of train and "train" is the rest (``validation_split=0``
            gives the whole train split).
        data_dir: folder holding local copies (default ``$ZOO_DATA_DIR``).
        source: "auto" (the local copy when present, else TFDS), "local" or "tfds".
        validation_split: the fraction carved from train where needed, in [0, 1).
        tfds_data_dir: TFDS's own ``data_dir`` (default: TFDS's, i.e. ``$TFDS_DATA_DIR`` or ~/tensorflow_datasets).

    Raises:
        DataNotFoundError: neither a local copy nor TFDS could provide it (says where it looked, and how to fix it).
        DataFormatError: a local file is corrupt or truncated (names the file).
    """
    info = _info(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
    has_validation = "validation" in info.splits
    if split == "validation" and not has_validation and validation_split == 0:
        raise ValueError(f"{name} has no validation split; give validation_split > 0 to carve one from train")
    published = split if (has_validation or split == "test") else "train"

    root = local_dir(data_dir)
    path = _local_source(info, root) if source != "tfds" else None
    looked = f"looked under {root}" if root else "no data_dir given and $ZOO_DATA_DIR unset"
    if path is not None:
        if info.name == "tiny_shakespeare":
            loaded = _corpus_split(_read_local(info, path, "train"), published, info)
        else:
            loaded = _read_local(info, path, published)
    elif source == "local":
        raise DataNotFoundError(f"{name}: no local copy ({looked}); {_how(info)}")
    else:
        loaded = _read_tfds(info, published, tfds_data_dir, looked)
    _check_labels(loaded, info)
    if published != split or (split == "train" and not has_validation and validation_split):
        loaded = _carve(loaded, split, validation_split)
    return loaded


def _check_labels(loaded: Split, info: DatasetInfo) -> None:
    """Labels of the dataset's classes only: a label out of range would fail deep inside training."""
    if loaded.labels is None or not info.class_names or not len(loaded.labels):
        return
    low, high = int(loaded.labels.min()), int(loaded.labels.max())
    if low < 0 or high >= len(info.class_names):
        where = ", ".join(str(f) for f in loaded.files) or f"TFDS {info.tfds_name}"
        raise DataFormatError(f"{where}: labels in [{low}, {high}], but {info.name} has {len(info.class_names)} "
                              f"classes (0..{len(info.class_names) - 1}); the file is corrupt or of another dataset")


def _corpus_split(whole: Split, split: str, info: DatasetInfo) -> Split:
    """The local tiny-shakespeare file holds the whole text; TFDS splits it train / validation / test in order,
    at the published sizes (a text of another length is split in the same proportions)."""
    n_train, n_val = info.splits["train"], info.splits["validation"]
    total = sum(info.splits.values())
    if len(whole.text) != total:
        n_train, n_val = len(whole.text) * n_train // total, len(whole.text) * n_val // total
    bounds = {"train": (0, n_train), "validation": (n_train, n_train + n_val), "test": (n_train + n_val, None)}
    lo, hi = bounds[split]
    return dataclasses.replace(whole, split=split, text=whole.text[lo:hi])




def corpus_examples(split: Split, sequence_length: int, *, training: bool, in_window: bool = False
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A corpus as language-model examples: ``sequence_length`` characters of text (as strings, tokenised inside
    the model) and the code points of the characters that follow each (the targets). Training windows overlap
    by half; evaluation windows tile the text. ``in_window``: each text is ``sequence_length + 1`` characters,
    its window and the character after it, at the same places: what a causal-LM preprocessor that makes its own
    next-token targets takes (zoo's language models), giving the same examples."""
    if split.text is None:
        raise ValueError(f"{split.dataset} is not a corpus")
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or sequence_length < 2:
        raise ValueError(f"sequence_length must be an integer of at least 2, got {sequence_length!r}")
    text = split.text
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.int64)
    codes = np.where(codes < CHAR_VOCABULARY_SIZE, codes, ord("?")).astype(np.int32)
    stride = sequence_length // 2 if training else sequence_length
    starts = np.arange(0, len(text) - sequence_length, stride)
    if not len(starts):
        raise ValueError(f"the {split.split} text ({len(text)} characters) is shorter than sequence_length {sequence_length}")
    width = sequence_length + 1 if in_window else sequence_length
    inputs = np.array([text[i : i + width] for i in starts], dtype=object)
    targets = np.stack([codes[i + 1 : i + 1 + sequence_length] for i in starts])
    return inputs, targets


def _examples(split: Split, sequence_length: int | None, training: bool, targets: Any = True
              ) -> tuple[Any, np.ndarray]:
    """(features, labels) of an in-memory split, texts as a ``tf.string`` tensor of variable-length strings
    (never a fixed-width ``<U`` array: 30 MB of reviews would become 1.2 GB)."""
    import tensorflow as tf

    if split.labels is None:
        if sequence_length is None:
            raise ValueError(f"{split.dataset} is a corpus: give sequence_length (the language model's window)")
        features, labels = corpus_examples(split, sequence_length, training=training,
                                           in_window=targets == IN_WINDOW)
    else:
        features, labels = split.features, split.labels
    if features.dtype == object:
        features = tf.constant(features.tolist(), dtype=tf.string)
    return features, labels


def check_batch_size(batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


def _finish(ds: Any) -> Any:
    import tensorflow as tf

    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


# ``targets`` of pipeline and epoch_stream for a corpus: True, (window, the code points that follow it); False,
# the windows alone (a keras-hub LM's preprocessor tokenises and shifts); IN_WINDOW, each window with the character
# after it, alone (zoo's language models: their preprocessor makes the next-token targets and their mask).
IN_WINDOW = "in_window"


def _check_targets(targets: Any) -> None:
    if targets not in (True, False, IN_WINDOW):
        raise ValueError(f"targets must be True, False or {IN_WINDOW!r}, got {targets!r}")


def pipeline(
    split: Split,
    *,
    batch_size: int,
    training: bool = False,
    seed: int = 0,
    augmentation: tuple[str, ...] = (),
    drop_remainder: bool = False,
    sequence_length: int | None = None,
    targets: bool | str = True,
) -> Any:
    """A batched ``tf.data.Dataset`` of ``(features, labels)`` from an in-memory split, for ``model.fit`` and
    ``model.evaluate``.

    A corpus gives windows of ``sequence_length`` characters and the code points that follow each; with
    ``targets=False`` the windows alone (a keras-hub causal LM's preprocessor makes its own targets), with
    ``targets="in_window"`` each window and the character after it (zoo's language models').

    Training: a seeded shuffle of the whole split, reshuffled each time the dataset is iterated, then the
    recipe's augmentation, vectorised over each batch. (``zoo.train`` uses :func:`epoch_stream` instead, whose
    epochs depend on the epoch's number, not on how many came before in the process.) Always: batches of the
    *global* ``batch_size`` and ``prefetch(AUTOTUNE)``. The arrays are in memory, so no ``cache()`` is needed.
    """
    import tensorflow as tf

    from zoo.data import augment

    check_batch_size(batch_size)
    augment.check(augmentation)
    _check_targets(targets)
    features, labels = _examples(split, sequence_length, training, targets)
    ds = tf.data.Dataset.from_tensor_slices((features, labels) if targets is True else features)
    if training:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if training:
        ds = augment.attach(ds, augmentation, seed=seed)
    return _finish(ds)


def epoch_stream(
    split: Split,
    *,
    batch_size: int,
    epochs: int,
    first_epoch: int = 0,
    seed: int = 0,
    augmentation: tuple[str, ...] = (),
    drop_remainder: bool = False,
    sequence_length: int | None = None,
    targets: bool | str = True,
) -> tuple[Any, int]:
    """The training batches of epochs ``first_epoch`` .. ``epochs - 1``, one after the other, and the number of
    batches an epoch (for ``fit(steps_per_epoch=...)``).

    Epoch ``e``'s order and augmentation are a function of ``(seed, e)`` alone: a run killed after epoch 3 and
    resumed from its backup (``first_epoch=3``) sees exactly the batches the run never killed saw, and ends
    with the same weights. (Keras' ``fit`` under a strategy draws a batch to build the model, then starts a
    fresh iterator: the stream is trained on from its first batch.)
    """
    import tensorflow as tf

    from zoo.data import augment

    check_batch_size(batch_size)
    _check_targets(targets)
    features, labels = _examples(split, sequence_length, True, targets)
    count = len(labels)
    steps = count // batch_size if drop_remainder else -(-count // batch_size)
    if steps < 1:
        raise ValueError(f"{count} training examples make no batch of {batch_size} (drop_remainder)")
    x, y = tf.constant(features), tf.constant(labels)
    apply = augment.make(augmentation, seed=seed) if augmentation else None

    def one_epoch(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64),
                                                         seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=drop_remainder)

        def gather(step, indices):
            xb, yb = tf.gather(x, indices), tf.gather(y, indices)
            if apply is not None:
                xb, yb = apply(xb, yb, tf.stack([tf.constant(seed, tf.int64) * 1_000_003 + epoch, step]),
                               indices, epoch)
            return (xb, yb) if targets is True else xb

        return batches.enumerate().map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    # A finished run's stream still holds its last epoch: fit draws a batch to build the model before the backup
    # tells it that no epoch is left.
    ds = tf.data.Dataset.range(min(first_epoch, epochs - 1), epochs).flat_map(one_epoch)
    return _finish(ds), steps
