"""Cold start of `zoo list` and `zoo info cnn_mnist` against `python -c "import tensorflow"`.

    python benchmarks/cli_startup.py [--repeat 5]

Each command runs as a fresh process, `--repeat` times; the medians and their ratios are reported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import ROOT, save

COMMANDS = {
    "zoo list": [sys.executable, "-m", "zoo", "list"],
    "zoo info cnn_mnist": [sys.executable, "-m", "zoo", "info", "cnn_mnist"],
    "import tensorflow": [sys.executable, "-c", "import tensorflow"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    medians = {}
    for label, cmd in COMMANDS.items():
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
            times.append(time.perf_counter() - t0)
        medians[label] = statistics.median(times)
    base = medians["import tensorflow"]
    save("cli_startup", {
        "median_s": {k: round(v, 4) for k, v in medians.items()},
        "ratio_to_import_tensorflow": {k: round(v / base, 4) for k, v in medians.items() if k != "import tensorflow"},
        "repeat": args.repeat,
    })


if __name__ == "__main__":
    main()
