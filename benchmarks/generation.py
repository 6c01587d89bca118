"""Generation speed of the zoo's own language models: the sampling loop compiled into one graph (what
`zoo.generate` does) against the same loop run eagerly, in one script, on the bundled weights.

    python benchmarks/generation.py [--max-length 240] [--repeat 2]

Both give the same text (checked here); the figure is characters generated per second and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import save

import zoo
from zoo import generation

PROMPT = "ROMEO:"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-length", type=int, default=240)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    out = {}
    for name in ("char_lstm_shakespeare", "gpt_shakespeare"):
        model = zoo.get(name, pretrained=True, compile=False)
        kwargs = dict(max_length=args.max_length, sampler="top_k", top_k=5, seed=0)
        texts, rates = {}, {}
        for label, compiled in (("compiled_graph", True), ("eager", False)):
            generation.generate(model, PROMPT, compiled=compiled, **kwargs)  # warm-up (tracing)
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                texts[label] = generation.generate(model, PROMPT, compiled=compiled, **kwargs)
                times.append(time.perf_counter() - t0)
            rates[label] = round((args.max_length - len(PROMPT)) / statistics.median(times), 1)
        if texts["compiled_graph"] != texts["eager"]:
            raise SystemExit(f"{name}: the compiled loop and the eager loop gave different texts")
        out[name] = {"characters_per_s": rates, "ratio": round(rates["compiled_graph"] / rates["eager"], 1),
                     "same_text": True}
    out.update({"max_length": args.max_length, "repeat": args.repeat, "prompt": PROMPT})
    save("generation", out)


if __name__ == "__main__":
    main()
