"""Peak resident memory of `zoo train lstm_imdb --epochs 1` (real IMDB, the whole command: loading, one epoch,
the test split), for this checkout and for an earlier commit, each in its own process, in one script.

    ZOO_DATA_DIR=../shared/data python benchmarks/text_train_memory.py [--before 45af3be] [--model lstm_imdb]

The earlier commit (default 45af3be, the last whose loader turned the reviews into a fixed-width `<U` NumPy array
with `astype(str)`) is unpacked with `git archive` into a temporary folder and run with this virtual
environment. Its `zoo train` passes an argument its own `zoo.train` refuses, so for it the same training runs
through `zoo.train(name, epochs=1, model_dir=...)`. Peak RSS is `/usr/bin/time -v`'s "Maximum resident set
size". Reported: both peaks in MiB, their ratio, and each run's test accuracy (the same training, so it should
be close).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, save


def _peak(command: list[str], cwd: Path, home: Path) -> tuple[float, float, str]:
    """(peak RSS in MiB, wall seconds, output) of ``command`` under /usr/bin/time -v."""
    done = subprocess.run(["/usr/bin/time", "-v", *command], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "ZOO_HOME": str(home)})
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed in {cwd}:\n{done.stderr[-3000:]}")
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", done.stderr).group(1)
    seconds = sum(float(part) * 60 ** i for i, part in enumerate(reversed(wall.split(":"))))
    return kb / 1024, seconds, done.stdout + done.stderr


def _accuracy(output: str) -> float:
    return float(re.findall(r"test accuracy ([\d.]+)", output)[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="45af3be")
    parser.add_argument("--model", default="lstm_imdb")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "before"
        old.mkdir()
        archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        script = (f"import zoo; r = zoo.train({args.model!r}, epochs=1, model_dir={str(tmp / 'run_before')!r}, "
                  "verbose=2)")
        before = _peak([sys.executable, "-c", script], old, tmp / "home_before")
        after = _peak([sys.executable, "-m", "zoo", "train", args.model, "--epochs", "1", "--model-dir",
                       str(tmp / "run_after"), "--verbose", "2"], ROOT, tmp / "home_after")
    save("text_train_memory", {
        "command": f"zoo train {args.model} --epochs 1",
        "before": {"commit": args.before, "peak_rss_mib": round(before[0]), "wall_s": round(before[1]),
                   "test_accuracy": _accuracy(before[2])},
        "after": {"commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                           text=True).stdout.strip(),
                  "peak_rss_mib": round(after[0]), "wall_s": round(after[1]), "test_accuracy": _accuracy(after[2])},
        "after_over_before": round(after[0] / before[0], 3),
    })
    print(json.dumps({"before_mib": round(before[0]), "after_mib": round(after[0])}))


if __name__ == "__main__":
    main()
