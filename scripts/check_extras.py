"""Each install extra gives exactly one TensorFlow distribution, and the JAX ones the pinned JAX: resolved by pip
itself (`pip install --dry-run --ignore-installed --report`), which reaches the package index and takes about a
minute an extra, so it is a script to run before a release rather than a test of every run.

    python scripts/check_extras.py [EXTRA ...]     # default: tf gpu jax jax-cuda tpu

Prints, per extra, the TensorFlow and JAX distributions pip would install; exits 1 if any extra would install
no TensorFlow or more than one distribution that writes the ``tensorflow`` package.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from zoo.distribute import TENSORFLOW_DISTRIBUTIONS  # noqa: E402  (the distributions that write `tensorflow`)

EXTRAS = ("tf", "gpu", "jax", "jax-cuda", "tpu")


def resolve(extra: str) -> dict[str, str]:
    """{distribution: version} that `pip install ".[EXTRA]"` would install into an empty environment."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
                               "--report", str(report), f"{ROOT}[{extra}]"], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pip could not resolve zoo[{extra}]: {done.stderr.strip()[-500:]}")
        items = json.loads(report.read_text())["install"]
    return {re.sub(r"[-_.]+", "-", i["metadata"]["name"].lower()): i["metadata"]["version"] for i in items}


def main(argv: list[str]) -> int:
    extras = argv or list(EXTRAS)
    with ThreadPoolExecutor(max_workers=len(extras)) as pool:
        resolved = dict(zip(extras, pool.map(resolve, extras)))
    bad = 0
    for extra, found in resolved.items():
        tensorflows = {n: v for n, v in found.items() if n in TENSORFLOW_DISTRIBUTIONS}
        shown = {n: v for n, v in found.items() if n in TENSORFLOW_DISTRIBUTIONS or n.startswith(("jax", "libtpu"))
                 or n == "tensorflow-text"}
        ok = len(tensorflows) == 1
        bad += not ok
        print(f"zoo[{extra}]: {'ok' if ok else 'NOT ONE TENSORFLOW'}: "
              + ", ".join(f"{n} {v}" for n, v in sorted(shown.items())))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
