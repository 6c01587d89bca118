"""The TFLite export of the text classifier against its Keras model, on real IMDB test reviews: how often they
give the same class, and how far apart their probabilities are.

    ZOO_DATA_DIR=../shared/data python benchmarks/tflite_text.py [--name transformer_imdb] [--reviews 1000]

The TFLite file takes token ids; the reviews are tokenised with the settings and the vocabulary written beside it
(what `zoo predict m.tflite TEXT` does). Reviews are taken evenly over the test split (both labels). Also
reported: the file sizes and the time for each side's predictions (the same reviews, in one process).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import save

import zoo
from zoo import data as zdata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="transformer_imdb")
    parser.add_argument("--reviews", type=int, default=1000)
    args = parser.parse_args()

    test = zdata.load("imdb_reviews", "test")
    step = max(1, len(test) // args.reviews)
    texts = [str(t) for t in test.features[::step][: args.reviews]]
    with tempfile.TemporaryDirectory() as tmp:
        path = zoo.export(args.name, Path(tmp) / "m.tflite", format="tflite")
        size = path.stat().st_size
        t0 = time.perf_counter()
        lite = zoo.predict(path, texts, top_k=2)
        lite_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    keras_side = zoo.predict(args.name, texts, top_k=2)
    keras_s = time.perf_counter() - t0

    def positive(result):
        return next(c["probability"] for c in result["top_k"] if c["class_name"] == "positive")

    p_lite = np.array([positive(r) for r in lite])
    p_keras = np.array([positive(r) for r in keras_side])
    result = {
        "model": args.name, "reviews": len(texts), "tflite_bytes": size,
        "same_class": float(np.mean((p_lite > 0.5) == (p_keras > 0.5))),
        "max_abs_probability_difference": float(np.abs(p_lite - p_keras).max()),
        "mean_abs_probability_difference": float(np.abs(p_lite - p_keras).mean()),
        "tflite_seconds": round(lite_s, 2), "keras_seconds": round(keras_s, 2),
        "tflite_over_keras_time": round(lite_s / keras_s, 3),
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    save("tflite_text", result)


if __name__ == "__main__":
    main()
