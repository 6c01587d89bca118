"""Which test-time views to serve with the CIFAR ResNets and MobileNetV2, chosen on validation.

The weights stay as released; only ``tta_level`` (zoo.models.tta) changes: 0 the image alone, 1 with its
mirror, 2 and both moved by a pixel. Each level is measured on the validation split the weights' run held out
(the recipe's fixed 10% carve of the training split, the one that chose their epoch); the test split is not
read here. Output: a table, and JSON lines in OUT if given.

    ZOO_DATA_DIR=... python scripts/experiments/tta_cifar.py [--out runs/tta_cifar.jsonl] [NAME ...]
    ZOO_DATA_DIR=... python scripts/experiments/tta_cifar.py --run runs/resnet56_cifar10_e40

--run measures a finished run's best weights instead (its model's default weight set otherwise), before release:
the level to give `release_weights.py --run ... --set tta_level=N`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

MODELS = ("resnet20_cifar10", "resnet56_cifar10", "mobilenet_v2_cifar10")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(MODELS))
    parser.add_argument("--out", help="append a JSON line per measurement to this file")
    parser.add_argument("--levels", default="0,1,2")
    parser.add_argument("--run", type=Path, help="a finished `zoo train` run: its best weights, its model")
    args = parser.parse_args()
    import zoo
    from zoo import manifest

    if args.run:
        name = json.loads((args.run / "metrics.json").read_text())["model"]
        sources = [(name, str(args.run / "best.weights.h5"), str(args.run))]
    else:
        sources = [(n, w.tag, w.full_name) for n in args.names for w in manifest.weights_for(n)[:1]]
    print(f"{'weight set':34} {'level':>5} {'val acc':>8} {'val loss':>8} {'s':>6}")
    for name, weights, label in sources:
        for level in (int(v) for v in args.levels.split(",")):
            model = zoo.get(name, pretrained=weights, tta_level=level, compile=False)
            start = time.perf_counter()
            got = zoo.evaluate(model, split="validation")
            row = {"weights": label, "tta_level": level, "split": "validation",
                   "num_examples": got["num_examples"], "accuracy": got["accuracy"], "loss": got["loss"],
                   "seconds": round(time.perf_counter() - start, 1)}
            print(f"{label:34} {level:5d} {row['accuracy']:8.4f} {row['loss']:8.4f} {row['seconds']:6.0f}",
                  flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
