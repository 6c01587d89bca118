"""Generation speed of the zoo's own language models, on the bundled weights, in one script: decoding over a
cache (the LSTM's state, the GPT's keys and values; what `zoo.generate` does) against recomputing the whole
window for every character (`cached=False`, what it did before), at two lengths.

    python benchmarks/generation.py [--lengths 256 2048] [--repeat 3]

Each figure is the median of `--repeat` timed calls after one untimed call (which compiles the loop for that
length). Both paths give the same text while it fits the window (checked here, greedy); past it the cached path
refills its cache from the last half window while the other slides the window, so the texts may part. Reported:
characters generated per second, the cached/uncached ratio, and the time for the longer length over the time for
the shorter (flat cost per character: about their length ratio, 8).
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import save

import zoo
from zoo import generation

PROMPT = "ROMEO:"


def _median_time(model, length: int, repeat: int, **kwargs) -> tuple[float, str]:
    text = generation.generate(model, PROMPT, max_length=length, **kwargs)  # compiles this length
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        text = generation.generate(model, PROMPT, max_length=length, **kwargs)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs=2, default=(256, 2048))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out = {}
    for name in ("char_lstm_shakespeare", "gpt_shakespeare"):
        model = zoo.get(name, pretrained=True, compile=False)
        window = zoo.info(name).hparams["sequence_length"]
        fits = generation.generate(model, PROMPT, max_length=window, cached=False)
        if generation.generate(model, PROMPT, max_length=window) != fits:
            raise SystemExit(f"{name}: cached and uncached greedy decoding differ within the window")
        rates, seconds = {}, {}
        for label, cached in (("cached", True), ("uncached", False)):
            for length in args.lengths:
                t, _ = _median_time(model, length, args.repeat, sampler="top_k", top_k=5, seed=0, cached=cached)
                seconds[f"{label}_{length}"] = round(t, 3)
                rates[f"{label}_{length}"] = round((length - len(PROMPT)) / t, 1)
                print(f"{name} {label:>8} {length:>5}: {t:7.3f} s, {rates[f'{label}_{length}']:8.1f} characters/s",
                      flush=True)
        short, long = args.lengths
        out[name] = {
            "characters_per_s": rates, "seconds": seconds,
            "cached_over_uncached": {n: round(rates[f"cached_{n}"] / rates[f"uncached_{n}"], 1) for n in args.lengths},
            "cached_time_long_over_short": round(seconds[f"cached_{long}"] / seconds[f"cached_{short}"], 2),
            "same_greedy_text_within_window": True,
        }
    out.update({"lengths": list(args.lengths), "repeat": args.repeat, "prompt": PROMPT})
    save("generation", out)


if __name__ == "__main__":
    main()
