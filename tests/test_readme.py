"""The README's model table is what the registry and the manifest say."""

import subprocess
import sys

from tests.conftest import ROOT


def test_model_table_is_in_sync():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "model_table.py"), "--check"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr


def test_results_table_is_in_step_with_the_manifest():
    """benchmarks/results.csv has a measured row per weight set, agreeing with the manifest, and README's results
    table is the one it gives (python benchmarks/results.py measures and rewrites both)."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "results.py"), "--check"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
