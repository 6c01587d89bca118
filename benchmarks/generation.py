"""Generation speed of the zoo's own language models, on the bundled weights, on TensorFlow and on JAX: decoding
over a cache (the LSTM's state, the GPT's keys and values; what `zoo.generate` does) against recomputing the whole
window for every character (`cached=False`), at two lengths, each backend in a process of its own.

    python benchmarks/generation.py [--lengths 256 2048] [--repeat 3] [--rounds 3] [--uncached-rounds 1]

Each round runs one process per backend, the order alternating from round to round (TensorFlow then JAX, then JAX
then TensorFlow, ...), so that the two backends of a round share the machine's state; the JAX/TensorFlow ratio is
the median of the rounds' ratios. In a process each figure is the median of `--repeat` timed calls after one
untimed call (which compiles the loop for that length); the uncached path (minutes at the longer length) is
measured in the first `--uncached-rounds` rounds only. Reported per backend: characters generated per second
(the median over rounds), the same per second of the process's CPU time (steadier than the wall clock on a
loaded machine), the cached/uncached ratio, and the time for the longer length over the time for the shorter
(flat cost per character: about their length ratio, 8). Checked, or the script fails without writing: greedy
cached text equals the uncached text while it fits the window, on each backend; greedy text of `GREEDY_CHECK`
characters is the same on both backends.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, save

PROMPT = "ROMEO:"
MODELS = ("char_lstm_shakespeare", "gpt_shakespeare")
BACKENDS = ("tensorflow", "jax")
GREEDY_CHECK = 400  # characters of greedy text compared across the backends (past the 128 window: refills too)


def _timed(call, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``repeat`` calls, after one untimed call (the compilation)."""
    call()
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def worker(lengths: list[int], repeat: int, uncached: bool) -> dict:
    """This process's figures, on the backend KERAS_BACKEND chose."""
    import keras

    import zoo
    from zoo import generation

    out = {"backend": keras.backend.backend()}
    for name in MODELS:
        model = zoo.get(name, pretrained=True, compile=False)
        window = zoo.info(name).hparams["sequence_length"]
        figures = {"greedy": generation.generate(model, PROMPT, max_length=GREEDY_CHECK), "wall": {}, "cpu": {}}
        if uncached:
            fits = generation.generate(model, PROMPT, max_length=window, cached=False)
            figures["same_greedy_text_within_window"] = generation.generate(model, PROMPT, max_length=window) == fits
        for label in ("cached", "uncached") if uncached else ("cached",):
            for length in lengths:
                def call():
                    return generation.generate(model, PROMPT, max_length=length, sampler="top_k", top_k=5, seed=0,
                                               cached=label == "cached")

                wall, cpu = _timed(call, repeat if label == "cached" else 1)
                figures["wall"][f"{label}_{length}"], figures["cpu"][f"{label}_{length}"] = wall, cpu
                print(f"{out['backend']:>10} {name} {label:>8} {length:>5}: {wall:7.3f} s, "
                      f"{(length - len(PROMPT)) / wall:8.1f} characters/s", file=sys.stderr, flush=True)
        out[name] = figures
    return out


def _run(backend: str, args: argparse.Namespace, uncached: bool) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--repeat", str(args.repeat),
               "--lengths", *map(str, args.lengths)] + (["--uncached"] if uncached else [])
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT / "benchmarks")
    if done.returncode:
        raise SystemExit(f"the {backend} process failed (exit {done.returncode})")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["backend"] != backend:
        raise SystemExit(f"asked for {backend}, the process ran {result['backend']}")
    return result


def _rate(length: int, seconds: float) -> float:
    return round((length - len(PROMPT)) / seconds, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs=2, default=(256, 2048))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--uncached-rounds", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--uncached", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(list(args.lengths), args.repeat, args.uncached)))
        return
    load_start = os.getloadavg()
    rounds = []  # {backend: worker result}
    for r in range(args.rounds):
        order = BACKENDS if r % 2 == 0 else BACKENDS[::-1]
        rounds.append({b: _run(b, args, uncached=r < args.uncached_rounds) for b in order})
        print(f"round {r + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    short, long = args.lengths
    out = {}
    for name in MODELS:
        texts = {b: {run[b][name]["greedy"] for run in rounds} for b in BACKENDS}
        if any(len(t) != 1 for t in texts.values()) or texts["tensorflow"] != texts["jax"]:
            raise SystemExit(f"{name}: greedy text differs between the backends or between runs")
        for b in BACKENDS:
            if not rounds[0][b][name].get("same_greedy_text_within_window", True):
                raise SystemExit(f"{name} on {b}: cached and uncached greedy decoding differ within the window")

        def median(backend, clock, key):  # over the rounds that measured it
            return statistics.median(run[backend][name][clock][key] for run in rounds
                                     if key in run[backend][name][clock])

        keys = list(rounds[0]["tensorflow"][name]["wall"])
        rates = {b: {k: _rate(int(k.split("_")[1]), median(b, "wall", k)) for k in keys} for b in BACKENDS}
        cpu_rates = {b: {k: _rate(int(k.split("_")[1]), median(b, "cpu", k)) for k in keys} for b in BACKENDS}

        def ratio(clock, key):  # JAX over TensorFlow, per round (the same round's two processes), then the median
            return round(statistics.median(run["tensorflow"][name][clock][key] / run["jax"][name][clock][key]
                                           for run in rounds if key in run["jax"][name][clock]), 2)

        by_round = {b: {n: [_rate(n, run[b][name]["wall"][f"cached_{n}"]) for run in rounds] for n in args.lengths}
                    for b in BACKENDS}
        out[name] = {
            "characters_per_s": rates,
            "characters_per_cpu_s": cpu_rates,
            "jax_over_tensorflow": {k: ratio("wall", k) for k in keys},
            "jax_over_tensorflow_cpu": {k: ratio("cpu", k) for k in keys},
            "cached_characters_per_s_by_round": by_round,
            "cached_over_uncached": {b: {n: round(rates[b][f"cached_{n}"] / rates[b][f"uncached_{n}"], 1)
                                         for n in args.lengths if f"uncached_{n}" in rates[b]} for b in BACKENDS},
            "cached_time_long_over_short": {
                b: round(median(b, "wall", f"cached_{long}") / median(b, "wall", f"cached_{short}"), 2)
                for b in BACKENDS},
            "same_greedy_text_within_window": args.uncached_rounds > 0,
            f"same_greedy_text_on_both_backends_{GREEDY_CHECK}_characters": True,
        }
    out.update({"lengths": list(args.lengths), "repeat": args.repeat, "rounds": args.rounds,
                "uncached_rounds": min(args.uncached_rounds, args.rounds), "prompt": PROMPT,
                "load_average_1min": {"start": round(load_start[0], 1), "end": round(os.getloadavg()[0], 1)}})
    save("generation", out)


if __name__ == "__main__":
    main()
