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


# ------------------------------------------------------------------------------------ a full disk (issue 31)


def _one_error_line(out) -> str:
    lines = [line for line in out.stderr.splitlines() if line.startswith("zoo: error:")]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def test_every_atomic_writer_on_a_full_disk_raises_one_error_and_leaves_nothing(small_disk):
    import h5py
    import keras

    from tests.conftest import fill
    from zoo._io import atomic_dir, atomic_path, atomic_write_bytes, atomic_write_files

    disk = small_disk("256k")
    fill(disk, leave=16 << 10)
    # bytes known in advance (logs, metrics, sidecars, TFLite files): refused before a byte is written
    with pytest.raises(zoo.DiskFullError, match=rf"{disk}/a.json: no space left on the device \(.*KB free; the "
                                                r"write needs about 64.0 KB\)"):
        atomic_write_bytes(disk / "a.json", b"x" * (64 << 10))
    with pytest.raises(zoo.DiskFullError, match="needs about 48.0 KB"):
        atomic_write_files({disk / "m.tflite": b"x" * (40 << 10), disk / "m.zoo.json": b"y" * (8 << 10)})
    # a writer that cannot say how much it will write (h5py under Keras' save_weights), stopped by the device
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(20_000)])  # 400 KB of weights
    with pytest.raises(zoo.DiskFullError, match=rf"{disk}/m.weights.h5: no space left .* needs more than the"):
        with atomic_path(disk / "m.weights.h5", suffix=".weights.h5") as tmp:
            model.save_weights(str(tmp))
    open_files = [i.name for i in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE)]
    assert not [n for n in open_files if str(disk).encode() in n], "h5py still holds the torn file open"
    with pytest.raises(zoo.DiskFullError, match=rf"{disk}/d: no space left"):
        with atomic_dir(disk / "d") as tmp:
            (tmp / "x").write_bytes(b"x" * (64 << 10))
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]


@pytest.mark.parametrize("kind", ["errno", "tensorflow", "other"])
def test_a_full_disk_said_by_any_writer_is_one_disk_full_error(tmp_path, kind):
    """ENOSPC injected at the write, as each writer reports it: an OSError's errno (Python, h5py), a message only
    (TensorFlow's ResourceExhaustedError of SaveV2 and of its event writer); any other error passes unchanged."""
    import errno

    import tensorflow as tf

    from zoo._io import atomic_path

    error = {"errno": OSError(errno.ENOSPC, "No space left on device"),
             "tensorflow": tf.errors.ResourceExhaustedError(None, None, f"{tmp_path}/x/variables.data; No space left "
                                                                        f"on device [Op:SaveV2]"),
             "other": OSError(errno.EIO, "Input/output error")}[kind]
    with pytest.raises(OSError) as raised:
        with atomic_path(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"half")
            raise error
    if kind == "other":
        assert raised.value is error
    else:
        assert isinstance(raised.value, zoo.DiskFullError) and raised.value.errno == errno.ENOSPC
        assert str(raised.value).startswith(f"{tmp_path}/out.bin: no space left on the device (")
        assert "needs more than the 4 bytes it had written" in str(raised.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_training_onto_a_full_disk_exits_2_with_one_line_and_leaves_no_run_folder(small_disk, tmp_path):
    """The run's first weights file fills the device: one line naming it, exit status 2 and no signal (h5py
    closing the torn file at exit was a segmentation fault), and the folder this run made is gone again."""
    from tests.conftest import run_cli
    from tests.test_folders import write_image_folder

    images = write_image_folder(tmp_path / "images", per_class=4, extras=False)
    disk = small_disk("300k")
    out = run_cli("train", "cnn_mnist", "--epochs", "1", "--data", str(images), "--model-dir", str(disk / "run"),
                  "--verbose", "0")
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    line = _one_error_line(out)
    assert f"{disk}/run" in line and "no space left on the device" in line and "needs" in line
    assert list(disk.iterdir()) == []


def test_an_unwritable_zoo_home_is_refused_naming_it(tmp_path, monkeypatch):
    from zoo import settings

    home = tmp_path / "a_file"
    home.write_text("not a folder")
    monkeypatch.setenv("ZOO_HOME", str(home))
    with pytest.raises(ValueError, match=rf"ZOO_HOME='{home}': zoo cannot write its cache there .*set ZOO_HOME to a "
                                         "folder you can write"):
        settings.cache("weights")
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    assert settings.cache("weights") == tmp_path / "home" / "weights" and (tmp_path / "home" / "weights").is_dir()


def test_a_read_only_zoo_home_is_refused_naming_it(small_disk, monkeypatch):
    import subprocess

    from zoo import settings

    disk = small_disk("64k")
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    monkeypatch.setenv("ZOO_HOME", str(disk))
    with pytest.raises(ValueError, match=rf"ZOO_HOME='{disk}': zoo cannot write its cache there \({disk}/weights: "
                                         r"Read-only file system\)"):
        settings.cache("weights")


def test_the_curves_and_tensorboards_event_files_on_a_full_disk(small_disk):
    """The two writers that are not zoo's own atomic files: matplotlib's PNG through atomic_path, and
    TensorFlow's event writer, which says "No space left on device" in a ResourceExhaustedError only."""
    import tensorflow as tf

    from tests.conftest import fill
    from zoo._io import disk_full_as_error
    from zoo.training import plot_curves

    disk = small_disk("128k")
    fill(disk, leave=4 << 10)
    history = {"loss": [float(i) for i in range(200)], "val_loss": [float(i) for i in range(200)]}
    with pytest.raises(zoo.DiskFullError, match=rf"{disk}/curves.png: no space left on the device"):
        plot_curves(history, disk / "curves.png", "a run")
    with pytest.raises(zoo.DiskFullError, match=rf"{disk}/run: no space left on the device"):
        with disk_full_as_error(disk / "run"):
            writer = tf.summary.create_file_writer(str(disk / "run" / "tensorboard"))
            with writer.as_default():
                for step in range(2000):
                    tf.summary.scalar("x" * 200, float(step), step=step)
                writer.flush()
    assert not list(disk.glob("*.png")) and not list(disk.glob(".*tmp*"))
