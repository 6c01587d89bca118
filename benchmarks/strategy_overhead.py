"""What a distribution strategy and a dtype policy cost `fit` on a CPU-only machine: zoo's `auto` strategy
(TensorFlow's default strategy where no GPU is visible) against `OneDeviceStrategy("/cpu:0")`, which `auto` and
`cpu` used to be; and float32 against `--mixed-precision bfloat16` (a CPU with AVX512-BF16 runs it natively).

    python benchmarks/strategy_overhead.py [--only strategy,precision,xla] [--model resnet20_cifar10]
        [--precision-model resnet56_cifar10] [--steps 30] [--rounds 3]

Both sides train the same network (built in the strategy's scope, SGD with momentum, batch 128) with `fit` on
the same stream of random images, each run in a fresh process that this script starts, alternating `--rounds`
times; each run's first `--warmup` steps (tracing) are left out, and the medians of the runs' examples/s are
compared. Not in one process: after a `fit` under `OneDeviceStrategy`, a later `fit` in the same process
without it ran at two thirds of its first speed (192 examples/s, then 129 and 123), so the two would measure
each other. The CLI's default, `--strategy auto`, was `OneDeviceStrategy("/cpu:0")` on this machine until
2026-11-25: this ratio is what every `zoo train` lost (docs/KNOWN_ISSUES.md). The precision part runs `auto`
under the `mixed_bfloat16` policy against `auto` in float32, the same way; resnet56_cifar10's release run chose
bfloat16 from it. The xla part runs the precision model in float32 and mixed bfloat16, each with and without
`jit_compile=True`. A run of some parts keeps the others' figures, and `machine_of_part` says where each part ran.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import machine, previous, save

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


CONTENDERS = ("auto", "one_device_cpu", "auto_mixed_bfloat16", "auto_xla", "auto_mixed_bfloat16_xla")
PARTS = {"strategy": ("auto", "one_device_cpu"), "precision": ("auto", "auto_mixed_bfloat16"),
         "xla": ("auto", "auto_xla", "auto_mixed_bfloat16", "auto_mixed_bfloat16_xla")}


def one_run(contender: str, model_name: str, steps: int, warmup: int, batch_size: int) -> float:
    """Examples/s of ``fit`` under the contender's strategy, in this process."""
    strategy = (tf.distribute.OneDeviceStrategy("/cpu:0") if contender == "one_device_cpu"
                else distribute.get_strategy("auto"))
    if "mixed_bfloat16" in contender:
        keras.config.set_dtype_policy("mixed_bfloat16")
    card = zoo.info(model_name)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size * 8, *card.hparams["input_shape"])).astype("float32")
    labels = rng.integers(0, card.hparams["num_classes"], len(images))
    stream = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(batch_size).prefetch(2)
    with strategy.scope():
        model = zoo.get(model_name, pretrained=False, compile=False)
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy",
                      jit_compile=contender.endswith("_xla"))
    clock = StepClock(warmup, batch_size)
    model.fit(stream, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[clock])
    return clock.rate()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=",".join(PARTS), help="parts to run: strategy, precision, xla")
    parser.add_argument("--model", default="resnet20_cifar10", help="the strategy part's model (and --contender's)")
    parser.add_argument("--precision-model", default="resnet56_cifar10")
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

    result = previous("strategy_overhead")  # a run of one part keeps the other's figures
    for part in args.only.split(","):
        if part not in PARTS:
            raise SystemExit(f"unknown part {part!r}: strategy, precision or xla")
        model = args.model if part == "strategy" else args.precision_model
        rates = _alternate(PARTS[part], model, args)
        medians = {c: statistics.median(r) for c, r in rates.items()}
        settings = {"steps_measured": args.steps, "rounds": args.rounds, "batch_size": args.batch_size}
        result["machine_of_part"] = {**result.get("machine_of_part", {}), part: machine()}
        if part == "strategy":
            result.update({
                "model": model,
                "zoo_auto_is": type(distribute.get_strategy("auto")).__name__,
                "examples_per_s": {"zoo auto": medians["auto"],
                                   "OneDeviceStrategy('/cpu:0')": medians["one_device_cpu"]},
                "runs": {"zoo auto": rates["auto"], "OneDeviceStrategy('/cpu:0')": rates["one_device_cpu"]},
                "one_device_over_auto": round(medians["one_device_cpu"] / medians["auto"], 3), **settings,
            })
        elif part == "xla":
            result["xla"] = {
                "model": model, "examples_per_s": medians, "runs": rates,
                "over_float32": {c: round(m / medians["auto"], 3) for c, m in medians.items() if c != "auto"},
                **settings,
            }
        else:
            result["precision"] = {
                "model": model,
                "examples_per_s": {"float32": medians["auto"], "mixed_bfloat16": medians["auto_mixed_bfloat16"]},
                "runs": {"float32": rates["auto"], "mixed_bfloat16": rates["auto_mixed_bfloat16"]},
                "mixed_bfloat16_over_float32": round(medians["auto_mixed_bfloat16"] / medians["auto"], 3), **settings,
            }
    save("strategy_overhead", result)


def _alternate(contenders: tuple[str, ...], model: str, args: argparse.Namespace) -> dict[str, list[float]]:
    """Examples/s of each contender's runs, each in a fresh process, alternating ``args.rounds`` times."""
    rates: dict[str, list[float]] = {c: [] for c in contenders}
    for _ in range(args.rounds):
        for contender in contenders:
            out = subprocess.run([sys.executable, __file__, "--contender", contender, "--model", model,
                                  "--steps", str(args.steps), "--warmup", str(args.warmup),
                                  "--batch-size", str(args.batch_size)], check=True, capture_output=True, text=True)
            rates[contender].append(round(float(out.stdout.split()[-1]), 1))
    return rates


if __name__ == "__main__":
    main()
