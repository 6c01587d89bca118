"""resnet20_cifar10 training figures on real CIFAR-10 images, each against a baseline run in the same script.

    ZOO_DATA_DIR=../shared/data python benchmarks/cifar_training.py [--images 5000] [--epochs 3] [--rounds 2]

An epoch of the whole training split takes several minutes on 2 cores, so both sides train on the same
subset: the first ``--images`` / 5 images of each of the five training batches, written (in a temporary
folder, never in the repository) in the publisher's binary format that zoo reads.

1. throughput: training examples/s of `zoo.train("resnet20_cifar10")` with its recipe (SGD with Nesterov
   momentum, label smoothing, pad-4 crop and flips) against a hand-written `model.fit` of the same model on the
   same images, with the same augmentation written in plain Keras (`RandomCrop` on padded images,
   `RandomFlip`) in a tf.data pipeline. The two alternate `--rounds` times; the medians of their epochs' rates
   (each run's first epoch, which traces, left out) are compared. Goal: ratio at least 0.95.
2. pipeline: examples/s of zoo's training stream alone (the subset, shuffled and augmented per (seed, epoch))
   against the examples/s training consumed. Goal: at least 5x.
"""

from __future__ import annotations

import argparse
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

from _common import save

import keras
import tensorflow as tf

import zoo
from zoo import data as zdata
from zoo.data import sources

NAME = "resnet20_cifar10"


def write_subset(data_dir: str | None, folder: Path, images: int) -> Path:
    """The first images of each training batch and of the test batch, as cifar-10-batches-bin/ in ``folder``."""
    source = zdata.local_dir(data_dir) / "cifar10" / "cifar-10-binary.tar.gz"
    out = folder / "cifar10" / "cifar-10-batches-bin"
    out.mkdir(parents=True)
    record = 1 + 3 * 32 * 32
    names = sources.CIFAR_BINARY_BATCHES["train"] + sources.CIFAR_BINARY_BATCHES["test"]
    with tarfile.open(source, "r:gz") as tar:
        for member in tar:
            name = Path(member.name).name
            if name in names:
                keep = images // 5 if name.startswith("data") else 1000
                (out / name).write_bytes(tar.extractfile(member).read(record * keep))
    return folder


class EpochClock(keras.callbacks.Callback):
    """Training time per epoch, from its start to its last batch (validation excluded)."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.t0 is None:
            self.t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(self.last - self.t0)


def hand_written(train, recipe, epochs: int) -> list[float]:
    keras.utils.set_random_seed(0)
    model = zoo.get(NAME, compile=False)
    optimizer = keras.optimizers.SGD(recipe.learning_rate, momentum=recipe.momentum, nesterov=recipe.nesterov,
                                     weight_decay=recipe.weight_decay)
    model.compile(optimizer, keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
                  metrics=["accuracy"])
    crop, flip = keras.layers.RandomCrop(32, 32, seed=0), keras.layers.RandomFlip("horizontal", seed=0)

    def augment(x, y):
        x = tf.pad(x, [[0, 0], [4, 4], [4, 4], [0, 0]])
        x = tf.cast(flip(crop(tf.cast(x, tf.float32), training=True), training=True), tf.uint8)
        return x, tf.one_hot(y, 10)

    ds = (tf.data.Dataset.from_tensor_slices((train.features, train.labels)).shuffle(len(train))
          .batch(recipe.batch_size).map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
    clock = EpochClock()
    model.fit(ds, epochs=epochs, callbacks=[clock], verbose=2)
    return [len(train) / t for t in clock.times[1:]]


def through_zoo(data_dir: Path, epochs: int) -> list[float]:
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as run:
        zoo.train(NAME, data_dir=data_dir, model_dir=run, epochs=epochs, validation_split=0.1, callbacks=[clock],
                  verbose=2)
    train = zdata.load("cifar10", "train", data_dir=data_dir, validation_split=0.1)
    return [len(train) / t for t in clock.times[1:]]


def pipeline(train, recipe) -> float:
    ds, _ = zdata.epoch_stream(train, batch_size=recipe.batch_size, epochs=3, seed=0,
                               augmentation=recipe.augmentation)
    for _ in ds.take(3):
        pass
    t0 = time.perf_counter()
    count = sum(int(x.shape[0]) for x, _ in ds)
    return count / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    recipe = zoo.info(NAME).recipe
    with tempfile.TemporaryDirectory() as tmp:
        subset = write_subset(args.data_dir, Path(tmp), args.images)
        train = zdata.load("cifar10", "train", data_dir=subset, validation_split=0.1)
        runs: dict[str, list[float]] = {"zoo.train": [], "hand_written_fit": []}
        for _ in range(args.rounds):
            runs["hand_written_fit"] += hand_written(train, recipe, args.epochs)
            runs["zoo.train"] += through_zoo(subset, args.epochs)
        stream = pipeline(train, recipe)
    med = {k: statistics.median(v) for k, v in runs.items()}
    save("cifar_training", {
        "throughput": {"examples_per_s": {k: round(v, 1) for k, v in med.items()},
                       "epoch_rates": {k: [round(x, 1) for x in v] for k, v in runs.items()},
                       "ratio": round(med["zoo.train"] / med["hand_written_fit"], 3),
                       "ratio_of_fastest_epochs": round(max(runs["zoo.train"]) / max(runs["hand_written_fit"]), 3),
                       "train_images": len(train), "epochs_measured_per_run": args.epochs - 1, "rounds": args.rounds},
        "pipeline": {"pipeline_examples_per_s": round(stream, 1), "training_examples_per_s": round(med["zoo.train"], 1),
                     "ratio": round(stream / med["zoo.train"], 2), "augmentation": list(recipe.augmentation)},
    })


if __name__ == "__main__":
    main()
