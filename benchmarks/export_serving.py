"""Serving figures for the exported cnn_mnist, each against the Keras model in the same script.

    ZOO_DATA_DIR=../shared/data python benchmarks/export_serving.py

1. latency: median wall time of one call at batch 1 and 64 of the reloaded SavedModel's serving signature,
   of `model.predict`, and of calling the model directly (`model(x, training=False)`); ratios to the signature.
2. size: the SavedModel's variables on disk against parameters x 4 bytes.
3. TFLite: test accuracy on the real MNIST test split of the float32, float16 and int8 files against the
   Keras model's, with each file's size.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from _common import save

import numpy as np
import tensorflow as tf

import zoo
from zoo import data as zdata


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm up (tracing)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def _tflite_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    runner = zoo.exporting.tflite_interpreter(path).get_signature_runner("serving_default")
    correct = 0
    for start in range(0, len(x), 500):  # the signature runner resizes its input to each batch
        correct += int((runner(image=x[start : start + 500])["class_id"] == y[start : start + 500]).sum())
    return correct / len(x)


def main() -> None:
    model = zoo.get("cnn_mnist", pretrained=True)
    test = zdata.load("mnist", "test")
    result = {"latency_ms": {}, "ratios_to_signature": {}}
    with tempfile.TemporaryDirectory() as tmp:
        exported = zoo.export(model, Path(tmp) / "cnn_mnist")
        serve = tf.saved_model.load(str(exported)).signatures["serving_default"]
        for batch in (1, 64):
            x = test.features[:batch]
            xt = tf.constant(x)
            repeat = 200 if batch == 1 else 50
            timings = {
                "saved_model_signature": _median_ms(lambda: serve(image=xt), repeat),
                "model.predict": _median_ms(lambda: model.predict(x, verbose=0), repeat),
                "model_call": _median_ms(lambda: model(xt, training=False), repeat),
            }
            result["latency_ms"][f"batch_{batch}"] = {k: round(v, 3) for k, v in timings.items()}
            base = timings["saved_model_signature"]
            result["ratios_to_signature"][f"batch_{batch}"] = {k: round(v / base, 3) for k, v in timings.items()}
        size = sum(f.stat().st_size for f in (exported / "variables").iterdir())
        params_bytes = model.count_params() * 4
        result["saved_model_size"] = {"variables_bytes": size, "params_x4_bytes": params_bytes,
                                      "ratio": round(size / params_bytes, 4)}

        keras_acc = float(model.evaluate(test.features, test.labels, batch_size=500, verbose=0, return_dict=True)["accuracy"])
        tflite = {"keras": {"accuracy": round(keras_acc, 4)}}
        for q in (None, "float16", "int8"):
            path = zoo.export(model, Path(tmp) / f"cnn_{q}.tflite", format="tflite", quantization=q)
            tflite[q or "float32"] = {"accuracy": round(_tflite_accuracy(path, test.features, test.labels), 4),
                                      "bytes": path.stat().st_size}
        result["tflite_test_accuracy"] = tflite
    save("export_serving", result)


if __name__ == "__main__":
    main()
