"""What a distribution strategy costs `fit` on a CPU-only machine: zoo's `auto` strategy (TensorFlow's default
strategy where no GPU is visible) against `OneDeviceStrategy("/cpu:0")`, which `auto` and `cpu` used to be.

    python benchmarks/strategy_overhead.py [--model resnet20_cifar10] [--steps 30] [--rounds 3]

Both sides train the same network (built in the strategy's scope, SGD with momentum, batch 128) with `fit` on
the same stream of random images, each run in a fresh process that this script starts, alternating `--rounds`
times; each run's first `--warmup` steps (tracing) are left out, and the medians of the runs' examples/s are
compared. Not in one process: after a `fit` under `OneDeviceStrategy`, a later `fit` in the same process
without it ran at two thirds of its first speed (192 examples/s, then 129 and 123), so the two would measure
each other. The CLI's default, `--strategy auto`, was `OneDeviceStrategy("/cpu:0")` on this machine until
2026-11-25: this ratio is what every `zoo train` lost (docs/KNOWN_ISSUES.md).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import save

import keras
import numpy as np
import tensorflow as tf

import zoo
from zoo import distribute


class StepClock(keras.callbacks.Callback):
    """Examples/s from the end of batch ``warmup`` to the end of the last batch."""

    def __init__(self, warmup: int, batch: int):
        super().__init__()
        self.warmup, self.batch, self.times = warmup, batch, []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())

    def rate(self) -> float:
        measured = self.times[self.warmup - 1:]
        return (len(measured) - 1) * self.batch / (measured[-1] - measured[0])


CONTENDERS = ("auto", "one_device_cpu")


def one_run(contender: str, model_name: str, steps: int, warmup: int, batch_size: int) -> float:
    """Examples/s of ``fit`` under the contender's strategy, in this process."""
    strategy = (distribute.get_strategy("auto") if contender == "auto"
                else tf.distribute.OneDeviceStrategy("/cpu:0"))
    card = zoo.info(model_name)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size * 8, *card.hparams["input_shape"])).astype("float32")
    labels = rng.integers(0, card.hparams["num_classes"], len(images))
    stream = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(batch_size).prefetch(2)
    with strategy.scope():
        model = zoo.get(model_name, pretrained=False, compile=False)
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy",
                      jit_compile=False)
    clock = StepClock(warmup, batch_size)
    model.fit(stream, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[clock])
    return clock.rate()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resnet20_cifar10")
    parser.add_argument("--steps", type=int, default=30, help="measured steps per run")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--contender", choices=CONTENDERS, help=argparse.SUPPRESS)  # one run, in this process
    args = parser.parse_args()
    if tf.config.list_logical_devices("GPU"):
        raise SystemExit("this benchmark is about CPU-only machines; hide the GPUs (CUDA_VISIBLE_DEVICES=)")
    if args.contender:
        print(one_run(args.contender, args.model, args.steps, args.warmup, args.batch_size))
        return

    rates = {c: [] for c in CONTENDERS}
    for _ in range(args.rounds):
        for contender in CONTENDERS:
            out = subprocess.run([sys.executable, __file__, "--contender", contender, "--model", args.model,
                                  "--steps", str(args.steps), "--warmup", str(args.warmup),
                                  "--batch-size", str(args.batch_size)], check=True, capture_output=True, text=True)
            rates[contender].append(round(float(out.stdout.split()[-1]), 1))
    medians = {c: statistics.median(r) for c, r in rates.items()}
    save("strategy_overhead", {
        "model": args.model,
        "zoo_auto_is": type(distribute.get_strategy("auto")).__name__,
        "examples_per_s": {"zoo auto": medians["auto"], "OneDeviceStrategy('/cpu:0')": medians["one_device_cpu"]},
        "runs": {"zoo auto": rates["auto"], "OneDeviceStrategy('/cpu:0')": rates["one_device_cpu"]},
        "one_device_over_auto": round(medians["one_device_cpu"] / medians["auto"], 3),
        "steps_measured": args.steps, "rounds": args.rounds, "batch_size": args.batch_size,
    })


if __name__ == "__main__":
    main()
