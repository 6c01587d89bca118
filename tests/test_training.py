"""Training: a short run on small data whose loss falls and which writes every artefact; evaluation; and a
training subprocess killed with SIGKILL mid-run that resumes from its last finished epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import zoo
from tests._datafiles import MNIST_FILES, write_idx
from tests.conftest import ROOT, run_cli
from zoo._io import sha256_file


def write_learnable_mnist(root: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """MNIST-format IDX files where class k is a bright 7x7 block at one of 10 places, over noise."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
        for i, k in enumerate(labels):
            r, c = divmod(int(k), 5)
            images[i, 3 + 12 * r : 10 + 12 * r, 1 + 5 * c : 6 + 5 * c] = 255
        images_name, labels_name = MNIST_FILES[split]
        write_idx(root / "mnist" / images_name, images)
        write_idx(root / "mnist" / labels_name, labels)
    return root


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory) -> Path:
    return write_learnable_mnist(tmp_path_factory.mktemp("data"), n_train=400, n_test=100)


@pytest.fixture(scope="module")
def trained(small_mnist, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("run") / "cnn_mnist"
    result = zoo.train("cnn_mnist", epochs=3, batch_size=32, data_dir=small_mnist, model_dir=model_dir,
                       filters=(8, 16, 16), verbose=0, learning_rate=3e-3)
    return result


@pytest.mark.any_backend
@pytest.mark.slow
def test_short_training_run_learns_and_writes_every_artefact(trained):
    result = trained
    assert result.epochs_run == 3
    assert len(result.history["loss"]) == 3
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert set(result.test_metrics) == {"loss", "accuracy"}
    assert result.test_metrics["accuracy"] > 0.5  # 10 classes: chance is 0.1
    for key in ("best_weights", "final_weights", "metrics", "curves", "csv_log", "tensorboard", "backup"):
        assert result.paths[key].exists(), key
    assert result.paths["curves"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(result.paths["tensorboard"].rglob("events.out.tfevents.*"))
    rows = result.paths["csv_log"].read_text().splitlines()
    assert rows[0].split(",")[0] == "epoch" and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    assert not list(result.paths["model_dir"].rglob(".*.tmp*")), "a temporary file was left behind"


@pytest.mark.any_backend
def test_metrics_json_records_recipe_versions_and_data_hashes(trained, small_mnist):
    report = json.loads(trained.paths["metrics"].read_text())
    assert report["model"] == "cnn_mnist" and report["epochs"] == 3
    assert report["recipe"]["epochs"] == 3 and report["recipe"]["batch_size"] == 32
    assert report["recipe"]["learning_rate"] == 3e-3 and report["recipe"]["optimizer"] == "adam"
    assert report["hparams"]["filters"] == [8, 16, 16]
    assert report["versions"]["keras"].startswith("3.") and report["versions"]["tensorflow"].startswith("2.")
    import keras

    assert report["versions"]["backend"] == keras.backend.backend()  # the run says what it ran on
    train_hashes = report["data"]["train"]["sha256"]
    image_file = small_mnist / "mnist" / "train-images-idx3-ubyte.gz"
    assert train_hashes["mnist/train-images-idx3-ubyte.gz"] == sha256_file(image_file)
    assert report["test_metrics"]["accuracy"] == pytest.approx(trained.test_metrics["accuracy"])


def test_metrics_json_records_the_code_of_a_python_c_run():
    """sys.argv of `python -c CODE` is just ["-c"]: metrics.json (and so the manifest) would not say what ran."""
    code = "from zoo.training import _command; print(_command())"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    assert out.stdout.strip().splitlines()[-1] == f"python -c '{code}'"


def test_throughput_is_recorded_per_epoch_without_validation(trained, monkeypatch):
    report = json.loads(trained.paths["metrics"].read_text())
    rate = report["training_examples_per_s"]
    # 360 training examples an epoch (400 less the validation tenth); an epoch's training fits in the wall time
    assert isinstance(rate, float) and rate >= 360 / report["wall_time_s_this_run"]
    assert len(trained.history["examples_per_s"]) == 3 and "examples_per_s" in trained.paths["csv_log"].read_text()

    from zoo.callbacks import Throughput

    clock = iter([0.0, 2.0, 10.0, 14.0, 20.0, 21.0])  # epoch 1: 2 s then validation; 2: 4 s; 3: 1 s, no validation
    monkeypatch.setattr("zoo.callbacks.time.perf_counter", lambda: next(clock))
    meter = Throughput(100)
    for epoch, validates in ((0, True), (1, True), (2, False)):
        logs = {"loss": 1.0}
        meter.on_epoch_begin(epoch)
        if validates:
            meter.on_test_begin()
        meter.on_epoch_end(epoch, logs)
    assert meter.rates == [50.0, 25.0, 100.0] and logs["examples_per_s"] == 100.0
    assert meter.median() == 62.5  # the first epoch (tracing) left out


@pytest.mark.any_backend
def test_evaluate_reproduces_the_test_metrics_from_the_best_weights(trained, small_mnist):
    model = zoo.get("cnn_mnist", pretrained=str(trained.paths["best_weights"]), filters=(8, 16, 16))
    got = zoo.evaluate(model, data_dir=small_mnist)
    assert got["num_examples"] == 100
    assert got["accuracy"] == pytest.approx(trained.test_metrics["accuracy"], abs=1e-6)
    assert got["loss"] == pytest.approx(trained.test_metrics["loss"], rel=1e-4)


def test_a_finished_run_started_again_trains_no_more(trained, small_mnist):
    again = zoo.train("cnn_mnist", epochs=3, batch_size=32, data_dir=small_mnist, model_dir=trained.paths["model_dir"],
                      filters=(8, 16, 16), verbose=0, learning_rate=3e-3)
    assert again.epochs_run == 0
    assert len(again.history["loss"]) == 3
    assert again.test_metrics["accuracy"] == pytest.approx(trained.test_metrics["accuracy"], abs=1e-6)


def test_overrides_are_validated(small_mnist, tmp_path):
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        zoo.train("cnn_mnist", epochs=0, data_dir=small_mnist, model_dir=tmp_path)
    with pytest.raises(ValueError, match="no hyper-parameter 'widht'"):
        zoo.train("cnn_mnist", widht=3, data_dir=small_mnist, model_dir=tmp_path)
    with pytest.raises(zoo.DataNotFoundError, match="cifar10"):
        zoo.train("resnet20_cifar10", data_dir=small_mnist, model_dir=tmp_path, source="local")


@pytest.mark.slow
def test_a_candidate_run_can_leave_the_test_split_unmeasured(small_mnist, tmp_path, cli, monkeypatch):
    """`zoo train --no-test` (test=False): what a run compared with others on validation should do."""
    import zoo.training

    def no_test(*args, **kwargs):
        raise AssertionError("the test split was measured")

    monkeypatch.setattr(zoo.training, "_evaluate_model", no_test)
    out = cli("train", "cnn_mnist", "--epochs", "1", "--batch-size", "64", "--data-dir", str(small_mnist),
              "--model-dir", str(tmp_path / "run"), "--verbose", "0", "--no-test")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["test_metrics"] == {}
    recorded = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert recorded["test_metrics"] is None and recorded["split"] is None and recorded["best_epoch"] == 1
    assert (tmp_path / "run" / "best.weights.h5").is_file()
    # The CLI's --strategy auto on this CPU-only machine is what zoo.train does from Python: no strategy
    # (OneDeviceStrategy("/cpu:0") made every CLI run half as fast, docs/KNOWN_ISSUES.md).
    assert recorded["strategy"]["kind"] == "default"


@pytest.mark.slow
def test_every_part_of_the_recipe_can_be_overridden(small_mnist, tmp_path):
    import keras

    result = zoo.train("cnn_mnist", epochs=1, batch_size=16, data_dir=small_mnist, model_dir=tmp_path, verbose=0,
                       optimizer="sgd", momentum=0.8, weight_decay=1e-4, schedule="constant", augmentation=[],
                       filters=(4, 4, 8))
    assert isinstance(result.model.optimizer, keras.optimizers.SGD)
    recorded = json.loads(result.paths["metrics"].read_text())["recipe"]
    assert (recorded["optimizer"], recorded["momentum"], recorded["weight_decay"]) == ("sgd", 0.8, 1e-4)
    assert recorded["schedule"] == "constant" and recorded["augmentation"] == []
    with pytest.raises(ValueError, match="optimizer must be one of adam, adamw, sgd"):
        zoo.train("cnn_mnist", optimizer="rmsprop", data_dir=small_mnist, model_dir=tmp_path / "bad")


def _committed_backup_is_whole(backup: Path) -> int:
    """Check the committed backup (metadata and the file it names); return its epoch (0 if none yet)."""
    meta_path = backup / "training_metadata.json"
    for _ in range(20):
        if not meta_path.exists():
            return 0
        meta = json.loads(meta_path.read_text())  # an atomic replace: never half-written JSON
        weights = backup / meta["weights"]
        try:
            assert sha256_file(weights) == meta["sha256"], "a committed backup does not match its hash"
            return meta["epoch"]
        except FileNotFoundError:  # replaced between our two reads: read the new metadata
            continue
    raise AssertionError("the backup kept changing under the reader")


@pytest.mark.slow
def test_killed_training_resumes_from_its_last_finished_epoch(tmp_path):
    data = write_learnable_mnist(tmp_path / "data", n_train=1500, n_test=100)
    model_dir = tmp_path / "run"
    epochs = 8
    cmd = [sys.executable, "-m", "zoo", "train", "cnn_mnist", "--data-dir", str(data), "--model-dir", str(model_dir),
           "--epochs", str(epochs), "--batch-size", "32", "--verbose", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    killed_at = 0
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            killed_at = _committed_backup_is_whole(model_dir / "backup")
            if killed_at >= 2:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        proc.kill()
        first_output = proc.communicate()[0]
    assert proc.returncode == -signal.SIGKILL, f"the run ended before it could be killed:\n{first_output[-2000:]}"
    assert 2 <= killed_at < epochs
    killed_at = _committed_backup_is_whole(model_dir / "backup")  # what survived the kill is whole
    for best in model_dir.glob("best.weights.h5"):
        zoo.get("cnn_mnist", pretrained=str(best), compile=False)

    second = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"resuming from the backup of epoch {killed_at}" in second.stdout
    assert f"Epoch {killed_at + 1}/{epochs}" in second.stdout and "Epoch 1/" not in second.stdout
    rows = (model_dir / "log.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, epochs + 1))
    report = json.loads((model_dir / "metrics.json").read_text())
    assert report["epochs"] == epochs
    assert _committed_backup_is_whole(model_dir / "backup") == epochs
    assert not list(model_dir.rglob(".*.tmp*"))


class _Killed(Exception):
    pass


class _KillAtEpoch:
    """A callback that ends the process's run at the start of epoch ``epoch`` (0-based), as a kill would after
    the backup of the epoch before was committed."""

    def __new__(cls, epoch: int):
        import keras

        class Kill(keras.callbacks.Callback):
            def on_epoch_begin(self, e, logs=None):
                if e == epoch:
                    raise _Killed(f"killed at the start of epoch {e + 1}")

        return Kill()


@pytest.mark.any_backend
@pytest.mark.slow
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(small_mnist, tmp_path):
    """Each epoch's shuffle and augmentation are seeded from (seed, epoch): a run killed after epoch 1 and
    started again with the same call is the same run, bit for bit (before the fix the resumed epoch replayed
    epoch 1's order and ended elsewhere)."""
    kwargs = dict(epochs=3, batch_size=32, data_dir=small_mnist, filters=(8, 16, 16), verbose=0, learning_rate=3e-3,
                  augmentation=("random_shift_2", "flip_left_right"))
    whole = zoo.train("cnn_mnist", model_dir=tmp_path / "whole", **kwargs)
    with pytest.raises(_Killed):
        zoo.train("cnn_mnist", model_dir=tmp_path / "killed", callbacks=[_KillAtEpoch(1)], **kwargs)
    resumed = zoo.train("cnn_mnist", model_dir=tmp_path / "killed", **kwargs)
    assert resumed.epochs_run == 2 and len(resumed.history["loss"]) == 3
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.history["loss"] == whole.history["loss"]
    # the run's training time covers its three epochs, the one of the killed process included
    rates = resumed.history["examples_per_s"]
    assert len(rates) == 3
    recorded = json.loads(resumed.paths["metrics"].read_text())["training_s"]
    assert recorded == pytest.approx(sum(360 / r for r in rates), rel=1e-3, abs=0.1)
    assert recorded > 360 / rates[1] + 360 / rates[2]  # more than this process's two epochs


@pytest.mark.any_backend
@pytest.mark.slow
def test_epochs_run_counts_the_epochs_early_stopping_let_run(small_mnist, tmp_path):
    import keras

    class Stop(keras.callbacks.Callback):  # early stopping's effect, at a known epoch
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    result = zoo.train("cnn_mnist", epochs=5, batch_size=32, data_dir=small_mnist, model_dir=tmp_path,
                       filters=(8, 16, 16), verbose=0, callbacks=[Stop()])
    assert result.epochs_run == 2 and len(result.history["loss"]) == 2


def test_steps_per_epoch_counts_from_the_catalog_and_asks_when_it_cannot_know():
    from zoo import recipes

    recipe = zoo.info("cnn_mnist").recipe
    assert recipes.steps_per_epoch(recipe) == -(-54_000 // recipe.batch_size)
    assert recipes.steps_per_epoch(recipe, num_train=1000) == -(-1000 // recipe.batch_size)
    with pytest.raises(ValueError, match="num_train="):
        recipes.steps_per_epoch(zoo.info("char_lstm_shakespeare").recipe)


@pytest.mark.parametrize("bad, message", [
    ({"weight_decay": -1.0}, r"weight_decay must be in \[0, 1\)"),
    ({"weight_decay": float("nan")}, r"weight_decay must be in \[0, 1\)"),
    ({"momentum": 1.5}, r"momentum must be in \[0, 1\)"),
    ({"learning_rate": float("inf")}, "learning_rate must be positive and finite"),
    ({"warmup_epochs": -1.0}, "warmup_epochs must be in"),
])
def test_bad_recipe_values_are_refused_before_training(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        zoo.train("cnn_mnist", model_dir=tmp_path / "run", **bad)
    assert not (tmp_path / "run").exists() or not list((tmp_path / "run").iterdir())


@pytest.mark.parametrize("record, message", [
    ("{not json", "not a backup record of zoo"),
    ('{"weights": "w.weights.h5", "sha256": "00"}', "its epoch is None"),
    ('{"epoch": -5, "weights": "w.weights.h5", "sha256": "00"}', "its epoch is -5"),
    ('{"epoch": 1, "weights": "../../x.weights.h5", "sha256": "00"}', "not a weights file inside the backup"),
    ('{"epoch": 1, "weights": "w.weights.h5"}', "no sha256 or logs"),
])
def test_a_hostile_backup_record_is_refused_naming_it_before_anything_is_built(tmp_path, record, message):
    backup = tmp_path / "run" / "backup"
    backup.mkdir(parents=True)
    (backup / "training_metadata.json").write_text(record)
    with pytest.raises(OSError, match=message) as err:
        zoo.train("cnn_mnist", model_dir=tmp_path / "run", verbose=0)
    assert "training_metadata.json" in str(err.value) and "--no-resume" in str(err.value)
    out = run_cli("train", "cnn_mnist", "--model-dir", str(tmp_path / "run"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert [line for line in out.stderr.splitlines() if line.startswith("zoo")] == [out.stderr.strip().splitlines()[-1]]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cnn_mnist", "mlp_mnist", "resnet20_cifar10"])
def test_image_models_train_under_xla(name):
    """A cheap sample of scripts/check_xla.py (which takes every image entry, about 3 minutes here): the
    recipe's compile with jit_compile=True trains (ResNet's parameter-free shortcut included)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from check_xla import train_step_under_xla

    assert np.isfinite(train_step_under_xla(name))


@pytest.mark.slow
def test_validation_split_zero_trains_on_the_whole_training_split_and_keeps_the_last_epoch(small_mnist, tmp_path):
    """The fixed recipe retrained on every training example (a configuration chosen on validation before)."""
    result = zoo.train("cnn_mnist", epochs=2, batch_size=32, data_dir=small_mnist, model_dir=tmp_path / "whole",
                       validation_split=0.0, filters=(8, 16, 16), verbose=0, test=False)
    metrics = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert metrics["best_epoch"] == 2 and metrics["recipe"]["monitor"] == "epoch"
    assert not any(k.startswith("val_") for k in result.history)
    assert len(result.history["loss"]) == 2  # 400 training images, none carved out
    np.testing.assert_array_equal(zoo.get("cnn_mnist", pretrained=str(tmp_path / "whole" / "best.weights.h5"),
                                          filters=(8, 16, 16)).get_weights()[2], result.model.get_weights()[2])
    with pytest.raises(ValueError, match="no validation to stop early by"):
        zoo.train("cnn_mnist", epochs=2, data_dir=small_mnist, model_dir=tmp_path / "es", validation_split=0.0,
                  early_stopping=1)
