"""airbench_cifar10 training figures on real CIFAR-10 images, each against a baseline run in the same script.

    ZOO_DATA_DIR=../shared/data python benchmarks/airbench_training.py [--images 2560] [--epochs 3] [--rounds 2]

Both sides train on the same subset (the first ``--images`` / 5 images of each training batch, written in a
temporary folder as cifar_training.py does), the card's batch size.

1. throughput: training examples/s of `zoo.train("airbench_cifar10")` with its recipe (its lookahead callback,
   flip_alternate and translate_2 in zoo's stream) against a hand-written `model.fit` of the same model (its
   whitening adapted on the same images) with the same optimizer and loss, random flips and reflected
   2-pixel translations written in plain TensorFlow in a tf.data pipeline, and no lookahead. The two alternate
   `--rounds` times; the medians of their epochs' rates (each run's first epoch, which traces, left out) are
   compared. Goal: ratio at least 0.95.
2. epoch time: the same zoo.train rates against `zoo.train("resnet20_cifar10")` on the same subset, in the same
   rounds; the epoch times on the 45,000 training images follow from the rates.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _common import save
from cifar_training import EpochClock, write_subset

import keras
import tensorflow as tf

import zoo
from zoo import data as zdata
from zoo import recipes
from zoo.models import airbench

NAME = "airbench_cifar10"
FULL_TRAIN = 45_000  # CIFAR-10's training split less the 10% validation carve-out


def hand_written(train, recipe, epochs: int) -> list[float]:
    keras.utils.set_random_seed(0)
    model = zoo.get(NAME, compile=False)
    airbench.adapt(model, train.features)
    steps = -(-len(train) // recipe.batch_size)
    optimizer = keras.optimizers.SGD(recipes.learning_rate(recipe.replace(epochs=epochs), steps),
                                     momentum=recipe.momentum, nesterov=recipe.nesterov,
                                     weight_decay=recipe.weight_decay)
    model.compile(optimizer, keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
                  metrics=["accuracy"])

    def augment(x, y):
        n = tf.shape(x)[0]
        x = tf.where(tf.random.uniform([n, 1, 1, 1]) < 0.5, tf.reverse(x, axis=[2]), x)
        padded = tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT")
        offsets = tf.random.uniform([n, 2], 0, 5, dtype=tf.int32)
        rows = offsets[:, :1] + tf.range(32)[None, :]
        cols = offsets[:, 1:] + tf.range(32)[None, :]
        x = tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)
        return x, tf.one_hot(y, 10)

    ds = (tf.data.Dataset.from_tensor_slices((train.features, train.labels)).shuffle(len(train))
          .batch(recipe.batch_size).map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
    clock = EpochClock()
    model.fit(ds, epochs=epochs, callbacks=[clock], verbose=2)
    return [len(train) / t for t in clock.times[1:]]


def through_zoo(name: str, data_dir: Path, epochs: int) -> list[float]:
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as run:
        zoo.train(name, data_dir=data_dir, model_dir=run, epochs=epochs, validation_split=0.1, callbacks=[clock],
                  verbose=2, test=False, pretrained=False)
    train = zdata.load("cifar10", "train", data_dir=data_dir, validation_split=0.1)
    return [len(train) / t for t in clock.times[1:]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir")
    parser.add_argument("--images", type=int, default=2560)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    recipe = zoo.info(NAME).recipe
    with tempfile.TemporaryDirectory() as tmp:
        subset = write_subset(args.data_dir, Path(tmp), args.images)
        train = zdata.load("cifar10", "train", data_dir=subset, validation_split=0.1)
        runs: dict[str, list[float]] = {"zoo.train": [], "hand_written_fit": [], "resnet20 zoo.train": []}
        for _ in range(args.rounds):
            runs["hand_written_fit"] += hand_written(train, recipe, args.epochs)
            runs["zoo.train"] += through_zoo(NAME, subset, args.epochs)
            runs["resnet20 zoo.train"] += through_zoo("resnet20_cifar10", subset, args.epochs)
    med = {k: statistics.median(v) for k, v in runs.items()}
    epoch_s = {NAME: FULL_TRAIN / med["zoo.train"], "resnet20_cifar10": FULL_TRAIN / med["resnet20 zoo.train"]}
    save("airbench_training", {
        "throughput": {"examples_per_s": {k: round(med[k], 1) for k in ("zoo.train", "hand_written_fit")},
                       "epoch_rates": {k: [round(x, 1) for x in v] for k, v in runs.items()},
                       "ratio": round(med["zoo.train"] / med["hand_written_fit"], 3),
                       "train_images": len(train), "batch_size": recipe.batch_size,
                       "epochs_measured_per_run": args.epochs - 1, "rounds": args.rounds},
        "epoch_time": {"examples_per_s": {NAME: round(med["zoo.train"], 1),
                                          "resnet20_cifar10": round(med["resnet20 zoo.train"], 1)},
                       "seconds_per_epoch_of_45000": {k: round(v) for k, v in epoch_s.items()},
                       "ratio": round(epoch_s[NAME] / epoch_s["resnet20_cifar10"], 2),
                       "batch_sizes": {NAME: recipe.batch_size,
                                       "resnet20_cifar10": zoo.info("resnet20_cifar10").recipe.batch_size}},
    })


if __name__ == "__main__":
    main()
