"""Every image entry of the registry takes a training step under XLA (``jit_compile=True``: what a GPU's
``"auto"`` and a TPU compile), with its recipe's optimizer, loss and metrics, on 16 random images.

    python scripts/check_xla.py [NAME ...]

Prints each model's loss and the seconds it took (mostly XLA's compilation); exits non-zero if one fails.
The text models are checked by tests/test_text.py::test_every_text_model_trains_under_xla, and a cheap
sample of these by tests/test_training.py::test_image_models_train_under_xla.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import zoo
from zoo import recipes


def train_step_under_xla(name: str, **hparams) -> float:
    """One epoch of two batches of 8 random images, compiled with XLA; the last loss."""
    card = zoo.info(name)
    model = zoo.get(name, compile=False, **hparams)
    recipes.compile_model(model, card.recipe, steps=2, jit_compile=True)
    shape = model.input_shape[1:]
    x = np.random.default_rng(0).integers(0, 256, (16, *shape), dtype="uint8")
    y = np.arange(16) % card.output.num_classes
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    if model.jit_compile is not True:
        raise RuntimeError(f"{name}: Keras turned XLA off")
    return float(history.history["loss"][-1])


def main(names: list[str]) -> int:
    names = names or [n for n in zoo.list_models(task="image-classification") if not zoo.info(n).presets]
    failed = 0
    for name in names:
        t0 = time.perf_counter()
        try:
            loss = train_step_under_xla(name)
        except Exception as error:  # report every model, then fail
            failed += 1
            print(f"{name:<22} FAILED: {type(error).__name__}: {str(error).splitlines()[0][:200]}", flush=True)
            continue
        print(f"{name:<22} loss {loss:7.3f}  {time.perf_counter() - t0:6.1f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
