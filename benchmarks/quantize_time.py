"""How long `zoo.get(name, quantize="int8")` takes, with zoo's single garbage collection
(`zoo.quantizing.one_collection`) against Keras' `Model.quantize` as it is, which runs a full `gc.collect()` for
every layer it quantizes (docs/KNOWN_ISSUES.md): a collection costs in proportion to the objects the process
holds, so the gap grows with the process.

    python benchmarks/quantize_time.py [--model vit_mnist] [--objects 0,2000000] [--rounds 3]

One process; for each heap size (`--objects` small Python objects kept alive beside the model, as a notebook, a
server or a test worker holds), the two ways alternate `--rounds` times, and the medians of their seconds are
compared.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

from _common import save

import zoo
from zoo import quantizing


def _seconds(model_name: str, keras_as_it_is: bool) -> float:
    real = quantizing.one_collection
    if keras_as_it_is:
        quantizing.one_collection = contextlib.nullcontext
    try:
        start = time.perf_counter()
        zoo.get(model_name, pretrained=True, compile=False, quantize="int8")
        return time.perf_counter() - start
    finally:
        quantizing.one_collection = real


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="vit_mnist")
    parser.add_argument("--objects", default="0,2000000", help="heap sizes: live objects beside the model")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    zoo.get(args.model, pretrained=True, compile=False, quantize="int8")  # imports and first builds, unmeasured
    result = {"model": args.model, "rounds": args.rounds, "by_heap": {}}
    for count in (int(c) for c in args.objects.split(",")):
        heap = [{"i": [i]} for i in range(count)]
        times: dict[str, list[float]] = {"zoo": [], "keras": []}
        for _ in range(args.rounds):
            times["zoo"].append(round(_seconds(args.model, False), 2))
            times["keras"].append(round(_seconds(args.model, True), 2))
        medians = {k: statistics.median(v) for k, v in times.items()}
        result["by_heap"][f"{count:,} objects"] = {
            "seconds": medians, "runs": times, "keras_over_zoo": round(medians["keras"] / medians["zoo"], 2)}
        print(f"{count:>12,} objects: zoo {medians['zoo']:.2f} s, Keras as it is {medians['keras']:.2f} s", flush=True)
        del heap
    save("quantize_time", result)


if __name__ == "__main__":
    main()
