"""Write the README's model table from the registry and the weights manifest (no TensorFlow needed).

    python scripts/model_table.py          # rewrite the table between the markers in README.md
    python scripts/model_table.py --check  # exit 1 if README.md is out of date (tests/test_readme.py runs this)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402

BEGIN, END = "<!-- model-table:begin -->", "<!-- model-table:end -->"


def table() -> str:
    rows = ["| name | family | task | dataset | parameters | pretrained weights | test metric (of the default weights) |",
            "| --- | --- | --- | --- | ---: | --- | --- |"]
    for name in zoo.list_models():
        card = zoo.info(name)
        weights = card.weights
        if weights:
            w = weights[0]
            metric = ", ".join(f"{k} {v:.4f}" for k, v in w.metrics.items() if not k.startswith("loss"))
            tags = ", ".join(x.tag for x in weights)
        elif card.presets:
            p = card.presets[0]
            tags = "keras-hub: " + ", ".join(x.name for x in card.presets)
            figures = ", ".join(f"{k} {v:g}" for k, v in p.reported_metrics.items())
            metric = f"{p.name}: {figures} (reported elsewhere, see `zoo info {name}`)" if figures else "-"
        else:
            metric, tags = "-", "none"
        rows.append(f"| `{name}` | {card.family} | {card.task} | {card.dataset} | {card.num_params:,} | {tags} | {metric} |")
    return "\n".join(rows)


def render(readme: str) -> str:
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    path = ROOT / "README.md"
    current = path.read_text()
    wanted = render(current)
    if args.check:
        if current != wanted:
            print("README.md's model table is out of date: run python scripts/model_table.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
