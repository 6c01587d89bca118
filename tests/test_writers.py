"""One writer at a time (issue 18): a run folder and an export target are locked, a second writer fails at once
naming the first, a killed writer's lock and leftovers never block or litter the next one; hostile backups are
refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import zoo
from tests.conftest import ROOT
from zoo._io import exclusive

HOLD = """
import sys, time
sys.path.insert(0, {root!r})
from zoo._io import exclusive
with exclusive({lock!r}, "the test's other writer"):
    print("locked", flush=True)
    time.sleep(60)
"""


def _holder(lock) -> subprocess.Popen:
    """Another process (plain Python, no TensorFlow) holding ``lock`` until killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(root=str(ROOT), lock=str(lock))],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_writer_fails_at_once_and_a_killed_ones_lock_is_gone(tmp_path):
    lock = tmp_path / "run" / ".zoo-train.lock"
    proc = _holder(lock)
    try:
        t0 = time.perf_counter()
        with pytest.raises(zoo.BusyError, match=rf"pid {proc.pid} \(the test's other writer\)"):
            with exclusive(lock, "me"):
                pass
        assert time.perf_counter() - t0 < 2  # at once, not after a wait
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with exclusive(lock, "me"):  # the kernel dropped the killed holder's lock
        assert lock.read_text() == f"pid {os.getpid()} (me)"


def test_train_into_a_folder_another_run_is_writing_is_refused(tmp_path):
    run = tmp_path / "run"
    proc = _holder(run / ".zoo-train.lock")
    try:
        with pytest.raises(zoo.BusyError, match=f"{run} is being written by pid {proc.pid}"):
            zoo.train("cnn_mnist", model_dir=run, epochs=1, data_dir=tmp_path)
    finally:
        proc.kill()
        proc.wait()
    assert not (run / "metrics.json").exists()


def test_export_to_a_target_another_export_is_writing_is_refused_and_leftovers_go(tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    (out / ".1.abc123.tmp").mkdir()  # what a killed export leaves
    (out / ".1.abc123.tmp" / "saved_model.pb").write_bytes(b"half")
    proc = _holder(out / ".1.lock")
    try:
        with pytest.raises(zoo.BusyError, match="being written by pid"):
            zoo.export("mlp_mnist", out, pretrained=False)
    finally:
        proc.kill()
        proc.wait()
    assert not (out / "1").exists()
    written = zoo.export("mlp_mnist", out, pretrained=False)
    assert written == out / "1" and (written / "saved_model.pb").is_file()
    assert not list(out.glob(".*.tmp*")), "the killed export's leftovers were not removed"
    with pytest.raises(zoo.ExportError, match="exists already"):
        zoo.export("mlp_mnist", out, pretrained=False)


def test_bad_paths_and_names_get_clear_errors(tmp_path):
    with pytest.raises(zoo.ExportError, match="export path is empty"):
        zoo.export("mlp_mnist", "", pretrained=False)
    with pytest.raises(zoo.UnknownModelError, match="no weights tagged 'bogus'; its weight sets: 'mnist_v2'"):
        zoo.info("cnn_mnist.bogus")
    assert zoo.info("cnn_mnist.mnist_v2").name == "cnn_mnist"


def _backup(run, meta: dict) -> None:
    (run / "backup").mkdir(parents=True)
    (run / "backup" / "training_metadata.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("weights", ["../../outside.weights.h5", "/etc/passwd", "sub/x.weights.h5", "x.txt"])
def test_a_backup_naming_a_file_outside_its_folder_is_refused(tmp_path, weights):
    from tests.test_training import write_learnable_mnist

    data = write_learnable_mnist(tmp_path / "data", n_train=40, n_test=10)
    (tmp_path / "outside.weights.h5").write_bytes(b"not read")
    run = tmp_path / "a" / "b"
    _backup(run, {"epoch": 1, "batch": 0, "weights": weights, "sha256": "0" * 64, "logs": []})
    with pytest.raises(OSError, match="not a weights file inside the backup folder"):
        zoo.train("cnn_mnist", model_dir=run, epochs=2, batch_size=8, data_dir=data, verbose=0, filters=(4, 4, 4))


def test_a_backup_beyond_the_recipes_epochs_is_refused(tmp_path):
    from tests.test_training import write_learnable_mnist

    data = write_learnable_mnist(tmp_path / "data", n_train=40, n_test=10)
    run = tmp_path / "run"
    _backup(run, {"epoch": 9, "batch": 0, "weights": "epoch-0009-batch-0.weights.h5", "sha256": "0" * 64,
                  "logs": []})
    with pytest.raises(ValueError, match="finished epoch 9, beyond this run's 2 epochs"):
        zoo.train("cnn_mnist", model_dir=run, epochs=2, batch_size=8, data_dir=data, verbose=0, filters=(4, 4, 4))
