"""Shared fixtures. Tests that need the real datasets take `real_data_dir`: it skips with a reason where
$ZOO_DATA_DIR is unset, and fails instead where ZOO_REQUIRE_DATA=1 (CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]


def _two_virtual_cpus() -> None:
    """2 logical CPUs for MirroredStrategy tests; this must happen before any TensorFlow op (KNOWN_ISSUES 4)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


_two_virtual_cpus()

# The suite runs twice (`make test`): on TensorFlow, the default, every test but those marked `jax`; then under
# KERAS_BACKEND=jax (with 8 virtual CPU devices), the backend-sensitive tests only: those marked `jax` (JAX's own)
# and those marked `any_backend` (the same test on both: training, resume, export, ...).
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def _runs_here(item) -> bool:
    if item.get_closest_marker("any_backend") is not None:
        return True
    return (item.get_closest_marker("jax") is not None) == (BACKEND == "jax")


def pytest_collection_modifyitems(config, items):
    """Each run keeps its own tests and deselects the other backend's."""
    keep = [item for item in items if _runs_here(item)]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if not _runs_here(item)])
        items[:] = keep


def own_models(**filters) -> list[str]:
    """The registered models zoo builds itself (not from a keras-hub preset, which needs the network): the ones
    tests can build by name here. ``filters`` as for zoo.list_models; ``weights=True`` keeps those with a weight
    set in zoo's manifest."""
    import zoo

    with_weights = filters.pop("weights", False)
    return [n for n in zoo.list_models(**filters)
            if not zoo.info(n).presets and (not with_weights or zoo.info(n).weights)]


def _require_data() -> bool:
    return os.environ.get("ZOO_REQUIRE_DATA") == "1"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    root = os.environ.get("ZOO_DATA_DIR")
    if not root or not (Path(root) / "mnist").is_dir():
        reason = f"real data not found: set ZOO_DATA_DIR to the shared data folder (now {root!r})"
        if _require_data():
            pytest.fail(reason + "; ZOO_REQUIRE_DATA=1 makes this a failure")
        pytest.skip(reason)
    return Path(root)


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(size)``: a folder on a filesystem of its own of ``size`` (a size-limited tmpfs, "512k"),
    unmounted at the end of the test. Skips with the reason where mounting is refused (it needs root, as CI
    has, or CAP_SYS_ADMIN)."""
    mounted = []

    def make(size: str = "512k", name: str = "disk") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a {size} tmpfs at {folder} to fill it (needs root or CAP_SYS_ADMIN): "
                        f"{done.stderr.strip() or done.returncode}")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill ``folder``'s filesystem until ``leave`` bytes are free."""
    import shutil

    free = shutil.disk_usage(folder).free - leave
    with open(folder / "filler", "wb") as f:
        while free > 0:
            chunk = min(free, 1 << 16)
            try:
                f.write(b"\0" * chunk)
                f.flush()
            except OSError:
                break
            free -= chunk


@pytest.fixture
def zoo_home(tmp_path, monkeypatch) -> Path:
    """An empty zoo cache of the test's own."""
    home = tmp_path / "zoo_home"
    monkeypatch.setenv("ZOO_HOME", str(home))
    return home


def cli_in_process(capsys, *args: str) -> subprocess.CompletedProcess:
    """Run `zoo ARGS` through zoo.cli.main in this process: what `run_cli` gives, without a new interpreter and
    TensorFlow import for each call (seconds each). For the many error cases; the tests that need a real process
    (exit status, no traceback on a crash path, a fresh import) keep `run_cli`."""
    from zoo.cli import main

    capsys.readouterr()  # drop what the test printed before
    try:
        code = main(list(args))
    except SystemExit as e:  # argparse's own exits (--help, a usage error)
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["zoo", *args], code, out.out, out.err)


@pytest.fixture
def cli(capsys):
    """`cli("predict", ...)`: cli_in_process with this test's captured output."""
    return lambda *args: cli_in_process(capsys, *args)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600):
    """Run `python -m zoo ARGS` as a real subprocess."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=ROOT)
