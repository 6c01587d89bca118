"""float32 against int8 (Keras' own quantize, `zoo.get(name, quantize="int8")`) for every shipped default weight
set that Keras can quantize: .keras file size, the card's test metric on the real test split, and CPU latency
at batch 1 and batch 64.

    ZOO_DATA_DIR=../shared/data python benchmarks/quantization.py [--models mlp_mnist,vit_mnist,...] [--repeats 20]

One process per model (this script starts them), float32 and int8 measured in that process: the test metric by
`zoo.evaluate` (accuracy; a language model's loss in nats per character), the latency as the median of
`--repeats` calls of `predict_on_batch` on real test inputs (raw reviews or text for the text models: their
preprocessing included), the two precisions alternating call by call. TensorFlow backend; Keras' quantized
layers quantize their inputs on the fly, so int8 pays for that at every call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import previous, save

MODELS = ("mlp_mnist", "vit_mnist", "lstm_imdb", "transformer_imdb", "char_lstm_shakespeare", "gpt_shakespeare")


def _inputs(card, count: int):
    """``count`` real test inputs of the card's dataset: images, reviews, or windows of the corpus."""
    import numpy as np

    from zoo import data as zdata

    split = zdata.load(card.recipe.dataset, "test")
    if split.text is not None:
        return [split.text[i * 100: i * 100 + 101] for i in range(count)]
    features = split.features[:count]
    return list(features) if features.dtype == object else np.asarray(features)


def _latency(models: dict, batch, repeats: int) -> dict[str, float]:
    """Median seconds per ``predict_on_batch`` call of each model, the models alternating call by call."""
    times: dict[str, list[float]] = {k: [] for k in models}
    for model in models.values():  # tracing and the first call's costs, left out
        model.predict_on_batch(batch)
    for _ in range(repeats):
        for key, model in models.items():
            start = time.perf_counter()
            model.predict_on_batch(batch)
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def one_model(name: str, repeats: int) -> dict:
    import zoo

    card = zoo.info(name)
    metric = "loss" if card.task == "language-modeling" else "accuracy"
    row: dict = {"metric": "nats per character" if metric == "loss" else "accuracy"}
    models = {"float32": zoo.get(name, pretrained=True, compile=False),
              "int8": zoo.get(name, pretrained=True, compile=False, quantize="int8")}
    row["int8_layers"] = len(models["int8"].zoo_quantization["quantized"])
    row["int8_share_of_weights"] = round(models["int8"].zoo_quantization["quantized_share"], 4)
    with tempfile.TemporaryDirectory() as tmp:
        for key, model in models.items():  # Keras' own save: zoo.export refuses an int8 archive that cannot
            path = Path(tmp) / f"{key}.keras"  # reload (vit_mnist's), and its size is still what int8 takes
            model.save(str(path))
            row[f"{key}_keras_bytes"] = path.stat().st_size
    for key in models:
        result = zoo.evaluate(name, quantize=None if key == "float32" else key)
        row[f"{key}_{metric}"] = round(float(result[metric]), 5)
        row["test_examples"] = int(result["num_examples"])
    for size in (1, 64):
        seconds = _latency(models, _inputs(card, size), repeats)
        for key, value in seconds.items():
            row[f"{key}_batch{size}_ms"] = round(1000 * value, 2)
    row["size_ratio"] = round(row["int8_keras_bytes"] / row["float32_keras_bytes"], 3)
    row["batch1_speedup"] = round(row["float32_batch1_ms"] / row["int8_batch1_ms"], 3)
    row["batch64_speedup"] = round(row["float32_batch64_ms"] / row["int8_batch64_ms"], 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--run", help=argparse.SUPPRESS)  # one model, in this process
    args = parser.parse_args()
    if args.run:
        print(json.dumps(one_model(args.run, args.repeats)))
        return
    if not os.environ.get("ZOO_DATA_DIR"):
        sys.exit("set ZOO_DATA_DIR to the folder of the real datasets (../shared/data): the metrics are test figures")
    result = previous("quantization")
    result.setdefault("models", {})
    for name in args.models.split(","):
        print(f"{name} ...", file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, __file__, "--run", name, "--repeats", str(args.repeats)],
                             check=True, capture_output=True, text=True)
        result["models"][name] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name}: {result['models'][name]}", file=sys.stderr, flush=True)
        save("quantization", result)
    print(table(result["models"]))


def table(rows: dict) -> str:
    """The README's table: one line per weight set."""
    lines = ["| model | metric | float32 | int8 | .keras MB float32 / int8 | batch 1 ms float32 / int8 | "
             "batch 64 ms float32 / int8 |", "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        key = "loss" if r["metric"] != "accuracy" else "accuracy"
        lines.append(f"| {name} | {r['metric']} | {r[f'float32_{key}']:.4f} | {r[f'int8_{key}']:.4f} | "
                     f"{r['float32_keras_bytes'] / 1e6:.2f} / {r['int8_keras_bytes'] / 1e6:.2f} | "
                     f"{r['float32_batch1_ms']:.1f} / {r['int8_batch1_ms']:.1f} | "
                     f"{r['float32_batch64_ms']:.1f} / {r['int8_batch64_ms']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
