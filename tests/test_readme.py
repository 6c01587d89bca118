"""The README's model table is what the registry and the manifest say."""

import subprocess
import sys

from tests.conftest import ROOT


def test_model_table_is_in_sync():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "model_table.py"), "--check"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
