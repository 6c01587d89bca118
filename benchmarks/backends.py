"""JAX against TensorFlow: examples/s of `fit` with each entry's own recipe (optimizer, loss, metrics), on
this CPU, for cnn_mnist, resnet20_cifar10 and lstm_imdb.

    python benchmarks/backends.py [--models cnn_mnist,resnet20_cifar10,lstm_imdb] [--steps 30] [--rounds 3]

Each run is a fresh process (the backend is fixed when Keras is imported) that this script starts, the two
backends alternating `--rounds` times on the same stream: random uint8 images for the image models, and for
lstm_imdb random reviews of words from its vocabulary, tokenised in tf.data as `fit` on raw strings does. Each
run's first `--warmup` steps (tracing, XLA's compilation on JAX) are left out; the medians are compared.
TensorFlow runs with Keras' default `jit_compile="auto"` (off on a CPU); JAX always compiles the step with XLA.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from _common import previous, save

BACKENDS = ("tensorflow", "jax")
MODELS = ("cnn_mnist", "resnet20_cifar10", "lstm_imdb")


def one_run(name: str, steps: int, warmup: int) -> float:
    """Examples/s of ``fit`` of ``name`` with its recipe, in this process, on its backend."""
    import keras
    import numpy as np
    import tensorflow as tf

    import zoo
    from zoo import recipes

    class StepClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

    card = zoo.info(name)
    batch = card.recipe.batch_size
    model = zoo.get(name, pretrained=False, compile=False)
    recipes.compile_model(model, card.recipe, steps=warmup + steps)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, card.output.num_classes, batch * 8)
    if card.input.kind == "image":
        x = rng.integers(0, 256, (batch * 8, *model.input_shape[1:]), dtype=np.uint8)
        stream = tf.data.Dataset.from_tensor_slices((x, labels)).repeat().batch(batch).prefetch(2)
    else:  # raw reviews of real words, 150-400 of them: the task's fit tokenises them in tf.data
        words = [w for w in model.preprocessor.tokenizer.get_vocabulary() if w.isalpha()][:5000]
        texts = [" ".join(rng.choice(words, rng.integers(150, 400))) for _ in range(batch * 8)]
        stream = tf.data.Dataset.from_tensor_slices((texts, labels)).repeat().batch(batch)  # the task maps it
    clock = StepClock()
    model.fit(stream, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[clock])
    measured = clock.times[warmup - 1:]
    return (len(measured) - 1) * batch / (measured[-1] - measured[0])


def _alternate(name: str, args: argparse.Namespace) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {b: [] for b in BACKENDS}
    for _ in range(args.rounds):
        for backend in BACKENDS:
            env = {**os.environ, "KERAS_BACKEND": backend}
            env.pop("XLA_FLAGS", None)
            out = subprocess.run([sys.executable, __file__, "--run", name, "--steps", str(args.steps),
                                  "--warmup", str(args.warmup)], env=env, check=True, capture_output=True, text=True)
            rates[backend].append(round(float(out.stdout.split()[-1]), 1))
            print(f"{name} {backend}: {rates[backend][-1]} examples/s", file=sys.stderr, flush=True)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=30, help="measured steps per run")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--run", help=argparse.SUPPRESS)  # one run, in this process
    args = parser.parse_args()
    if args.run:
        print(one_run(args.run, args.steps, args.warmup))
        return
    result = previous("backends")
    result.setdefault("models", {})
    for name in args.models.split(","):
        rates = _alternate(name, args)
        medians = {b: statistics.median(r) for b, r in rates.items()}
        result["models"][name] = {
            "examples_per_s": medians, "runs": rates, "jax_over_tensorflow": round(medians["jax"] / medians["tensorflow"], 3),
            "steps_measured": args.steps, "rounds": args.rounds,
        }
    save("backends", result)


if __name__ == "__main__":
    main()
