"""The results table, as timm publishes one: a row per weight set of the manifest.

    python benchmarks/results.py [--models cnn_mnist.mnist_v2,...] [--backends tensorflow,jax] [--repeats 20]
    python benchmarks/results.py --check      # results.csv and README's table in step with the manifest

Writes ``benchmarks/results.csv`` and ``benchmarks/results/results.json``, and the README's table of the default
weights (between its ``results-table`` markers). Per weight set:

- the test metric, as released: measured once, on the file as shipped, on the real test split (the manifest's
  figure; ``scripts/release_weights.py`` measured it), its split and how many configurations were tried;
- parameters, and multiply-accumulates per example of the network as served (test-time views included): the
  floating-point operations TensorFlow's profiler counts in its frozen graph, halved, plus the LSTMs' steps
  counted by hand (4 x units x (inputs + units) a step: the profiler does not see inside a loop);
- the weight file's size and the run's training time (training steps only where the run recorded them apart,
  else its wall time, validation included), both from the manifest;
- CPU latency at batch 1 (median milliseconds per ``predict_on_batch``) and throughput at batch 64 (examples per
  second, from the median call), preprocessing included (raw reviews for the text classifiers, text windows for
  the language models), each backend measured in a process of its own per row.

The inputs are synthetic (uint8 images, fixed English reviews of 230 words, text of the model's window): speed
does not depend on what the pixels or words are, so the table needs no dataset.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time

from _common import RESULTS, ROOT, save

CSV = ROOT / "benchmarks" / "results.csv"
COLUMNS = ("model", "tag", "default", "dataset", "metric", "value", "split", "configurations_tried", "params",
           "macs_per_example", "file_mb", "storage", "training_s", "training_time_kind", "tf_batch1_ms",
           "tf_batch64_per_s", "jax_batch1_ms", "jax_batch64_per_s")
REVIEW = ("I went in expecting little and came out moved: the acting is superb, the script sharp and the score "
          "lovely, though the middle drags a little and one subplot goes nowhere. ") * 7


def _inputs(card, batch: int):
    import numpy as np

    if card.input.kind == "image":
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, size=(batch, *card.input.shape), dtype=np.uint8)
    if card.task == "language-modeling":
        return [(REVIEW * 3)[: card.hparams.get("sequence_length", 128)]] * batch
    return [REVIEW] * batch


def _lstm_macs(model, steps: int) -> int:
    """What the profiler misses: every LSTM's steps (its kernels' sizes are (inputs + units) x 4 units)."""
    import keras

    total = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.LSTM):
            total += (int(layer.cell.kernel.shape[0]) + layer.units) * 4 * layer.units * steps
    return total


def macs(model, card) -> int:
    """Multiply-accumulates of one example through the network (the model on its own input: pixels, or the
    token ids a text model's preprocessor gives)."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from zoo.models import hub

    if hub.is_task(model):
        x = np.asarray(model.preprocessor.token_ids(tf.constant(_inputs(card, 1))))
    else:
        x = _inputs(card, 1)
    spec = tf.TensorSpec(x.shape, tf.as_dtype(x.dtype))
    concrete = tf.function(lambda t: model(t, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    flops = tf.compat.v1.profiler.profile(graph=frozen.graph, options=options).total_float_ops
    return int(flops // 2) + _lstm_macs(model, int(x.shape[1]) if x.ndim == 2 else 0)


def _median_call(model, batch, repeats: int) -> float:
    model.predict_on_batch(batch)  # tracing and the first call's costs, left out
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def one_row(full_name: str, repeats: int) -> dict:
    """This process's backend: the speed of one weight set (and, on TensorFlow, its parameters and MACs)."""
    import keras

    import zoo

    name, tag = full_name.split(".", 1)
    card = zoo.info(name)
    model = zoo.get(name, pretrained=tag, compile=False)
    row = {"params": int(model.count_params()), "backend": keras.backend.backend()}
    row["batch1_ms"] = round(1000 * _median_call(model, _inputs(card, 1), repeats), 2)
    row["batch64_per_s"] = round(64 / _median_call(model, _inputs(card, 64), max(3, repeats // 4)), 1)
    if row["backend"] == "tensorflow":
        row["macs_per_example"] = macs(model, card)
    return row


def manifest_row(info) -> dict:
    import zoo

    metric = "loss" if zoo.info(info.name).task == "language-modeling" else "accuracy"  # the card's figure
    log = info.train_log
    kind = "training steps" if log.get("training_s") else "wall (validation included)"
    return {"model": info.name, "tag": info.tag, "default": bool(info.default), "dataset": info.dataset,
            "metric": "nats per character" if metric == "loss" else metric, "value": info.metrics[metric],
            "split": info.split, "configurations_tried": info.selection.get("configurations_tried", ""),
            "file_mb": round(info.size / 1e6, 2), "storage": info.storage,
            "training_s": round(log.get("training_s") or log.get("wall_time_s") or 0), "training_time_kind": kind}


def _measure(full_name: str, backend: str, repeats: int) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, __file__, "--run", full_name, "--repeats", str(repeats)], env=env,
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from zoo import manifest

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="name.tag,... (default: every weight set of the manifest)")
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless results.csv has a measured row per weight set that agrees with the "
                             "manifest, and the README's table is the one it gives")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # one weight set, in this process
    args = parser.parse_args()
    if args.run:
        print(json.dumps(one_row(args.run, args.repeats)))
        return
    if args.check:
        problems = check()
        print("\n".join(problems) or "results.csv and the README table are in step with the manifest")
        sys.exit(1 if problems else 0)
    infos = {i.full_name: i for i in manifest.all_weights()}
    wanted = args.models.split(",") if args.models else sorted(infos)
    rows = {r["model"] + "." + r["tag"]: r for r in read_csv()} if CSV.exists() else {}
    # a weight set gone from the manifest leaves the table; the others take the manifest's facts as they are now
    rows = {k: {**v, **manifest_row(infos[k])} for k, v in rows.items() if k in infos}
    for full_name in wanted:
        row = {**dict.fromkeys(COLUMNS, ""), **rows.get(full_name, {}), **manifest_row(infos[full_name])}
        for backend in args.backends.split(","):
            print(f"{full_name} on {backend} ...", file=sys.stderr, flush=True)
            measured = _measure(full_name, backend, args.repeats)
            prefix = "tf" if backend == "tensorflow" else "jax"
            row.update({"params": measured["params"], f"{prefix}_batch1_ms": measured["batch1_ms"],
                        f"{prefix}_batch64_per_s": measured["batch64_per_s"]})
            if "macs_per_example" in measured:
                row["macs_per_example"] = measured["macs_per_example"]
        rows[full_name] = row
        write_csv(rows)
    save("results", {"rows": [rows[k] for k in sorted(rows)]})
    write_readme(table(list(rows.values())))
    print(table(list(rows.values())))


BEGIN, END = "<!-- results-table:begin -->", "<!-- results-table:end -->"
README = ROOT / "README.md"


def write_readme(text: str) -> None:
    from zoo._io import atomic_write_text

    readme = README.read_text(encoding="utf-8")
    head, rest = readme.split(BEGIN, 1)
    atomic_write_text(README, f"{head}{BEGIN}\n{text}\n{END}{rest.split(END, 1)[1]}")


def check() -> list[str]:
    """What is out of step: a weight set without a measured row, a row that disagrees with the manifest, a
    README table that is not the CSV's."""
    from zoo import manifest

    if not CSV.exists():
        return [f"{CSV} is missing: run python benchmarks/results.py"]
    rows = {r["model"] + "." + r["tag"]: r for r in read_csv()}
    problems = []
    for info in manifest.all_weights():
        row = rows.pop(info.full_name, None)
        if row is None:
            problems.append(f"{info.full_name}: no row (python benchmarks/results.py --models {info.full_name})")
            continue
        expected = {k: str(v) for k, v in manifest_row(info).items()}
        changed = [k for k, v in expected.items() if row[k] != v]
        unmeasured = [c for c in COLUMNS if row[c] in ("", None) and c != "configurations_tried"]
        if changed or unmeasured:
            problems.append(f"{info.full_name}: " + "; ".join(
                [f"{k} {row[k]!r} where the manifest says {expected[k]!r}" for k in changed]
                + [f"{', '.join(unmeasured)} unmeasured"] * bool(unmeasured)))
    problems += [f"{k}: a row for a weight set the manifest lacks" for k in rows]
    readme = README.read_text(encoding="utf-8")
    if BEGIN not in readme or END not in readme:
        problems.append(f"README.md lacks the {BEGIN} ... {END} markers")
    elif readme.split(BEGIN, 1)[1].split(END, 1)[0].strip() != table(read_csv()).strip():
        problems.append("README.md's results table is not results.csv's (python benchmarks/results.py --models X "
                        "rewrites it)")
    return problems


def read_csv() -> list[dict]:
    with open(CSV, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(rows: dict) -> None:
    import io

    from zoo._io import atomic_write_text

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for key in sorted(rows):
        writer.writerow({c: rows[key].get(c, "") for c in COLUMNS})
    atomic_write_text(CSV, out.getvalue())


def _number(value, digits: int = 0) -> str:
    if value in ("", None):
        return "-"
    return f"{float(value):,.{digits}f}"


def _macs(value) -> str:
    if value in ("", None):
        return "-"
    value = float(value)
    return f"{value / 1e6:,.1f} M" if value >= 1e5 else f"{value / 1e3:,.1f} k"


def table(rows: list[dict]) -> str:
    """The README's table: the default weight set of each model."""
    lines = ["| model | weights | test metric | params | MACs / example | file MB | training | TF batch 1 ms | "
             "TF batch 64 ex/s | JAX batch 1 ms | JAX batch 64 ex/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["model"]):
        if str(r["default"]) not in ("True", "true", "1"):
            continue
        hours = float(r["training_s"] or 0) / 3600
        lines.append(
            f"| {r['model']} | {r['tag']} | {r['metric']} {float(r['value']):.4f} | {_number(r['params'])} | "
            f"{_macs(r['macs_per_example'])} | "
            f"{float(r['file_mb']):.2f} | {hours:.2f} h | {_number(r['tf_batch1_ms'], 1)} | "
            f"{_number(r['tf_batch64_per_s'])} | {_number(r['jax_batch1_ms'], 1)} | {_number(r['jax_batch64_per_s'])} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
