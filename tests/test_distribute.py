"""Strategies chosen by a flag: the factory and its errors, the Keras 3 workarounds, mirrored correctness on
2 virtual CPU replicas, TPU (error path and call order), and multi-worker training with 2 local processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests.conftest import ROOT, run_cli
from tests.test_training import write_learnable_mnist
from zoo import distribute


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory):
    # 70 test images: not a whole number of batches of 32, so that a dropped last batch would show
    return write_learnable_mnist(tmp_path_factory.mktemp("data"), n_train=320, n_test=70)


def test_names_and_aliases():
    assert distribute.get_strategy("off") is tf.distribute.get_strategy()
    # No TPU and no GPU here: the CPU alone is TensorFlow's default strategy, whatever the spelling
    # (OneDeviceStrategy("/cpu:0") slows fit, KNOWN_ISSUES) ...
    for name in ("cpu", "auto", "one_device"):
        assert distribute.get_strategy(name) is tf.distribute.get_strategy(), name
    assert distribute.kind(distribute.get_strategy("auto")) == "default"
    # ... and with a GPU visible, "cpu" keeps the work off it.
    with mock.patch.object(distribute, "_gpus", return_value=["/device:GPU:0"]):
        cpu = distribute.get_strategy("cpu")
    assert isinstance(cpu, tf.distribute.OneDeviceStrategy) and cpu.num_replicas_in_sync == 1
    assert "TensorFlow's default (no distribution) with 1 replica(s)" in distribute.describe(tf.distribute.get_strategy(), 32)
    assert distribute.canonical_name("Multi-Worker-Mirrored") == "multi_worker"
    mirrored = distribute.get_strategy("mirrored", devices=["CPU:0", "CPU:1"])
    assert isinstance(mirrored, tf.distribute.MirroredStrategy) and mirrored.num_replicas_in_sync == 2
    # JAX's name for the same on TensorFlow
    data_parallel = distribute.get_strategy("data_parallel", devices=["CPU:0", "CPU:1"])
    assert isinstance(data_parallel, tf.distribute.MirroredStrategy) and data_parallel.num_replicas_in_sync == 2
    assert distribute.summary(data_parallel) == {"backend": "tensorflow", "kind": "mirrored",
                                                 "name": "MirroredStrategy", "replicas": 2}
    assert distribute.summary(tf.distribute.get_strategy())["name"] == "default"
    assert not distribute.whole_batches(data_parallel) and distribute.chief(data_parallel)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"name": "parameter_server"}, ValueError, "unknown strategy 'parameter_server'; choose one of auto, cpu"),
        ({"name": 3}, TypeError, "strategy must be a name"),
        ({"name": "gpu"}, zoo.DeviceUnavailableError, "no GPU is visible"),
        ({"name": "mirrored"}, zoo.DeviceUnavailableError, "found no GPU; pass devices="),
        ({"name": "mirrored", "num_gpus": 2}, zoo.DeviceUnavailableError, "2 GPU\\(s\\) asked for, 0 visible"),
        ({"name": "mirrored", "num_gpus": -1}, ValueError, "num_gpus must be a non-negative integer"),
        ({"name": "cpu", "devices": ["CPU:0"]}, ValueError,
         "devices= is for the 'mirrored' / 'data_parallel' strategy"),
        # JAX's names and arguments, on TensorFlow
        ({"name": "model_parallel"}, zoo.DeviceUnavailableError, "runs on the JAX backend only.*KERAS_BACKEND=jax"),
        ({"name": "multi_worker", "coordinator_address": "localhost:1234"}, ValueError,
         "coordinator_address= is for 'multi_worker' on JAX; on TensorFlow the cluster comes from TF_CONFIG"),
        ({"name": "mirrored", "num_processes": 2}, ValueError, "num_processes= is for the 'multi_worker' strategy"),
        ({"name": "mirrored", "model_parallel": 2}, ValueError, "model_parallel= is for the 'model_parallel'"),
        ({"name": "cpu", "tpu": "local"}, ValueError, "tpu= is for the 'tpu' strategy"),
        ({"name": "mirrored", "devices": "CPU:0"}, TypeError, "devices must be a list"),
    ],
)
def test_bad_requests_fail_clearly(kwargs, error, message):
    with pytest.raises(error, match=message):
        distribute.get_strategy(**kwargs)


def test_jaxs_flags_on_tensorflow_say_so(cli):
    out = cli("train", "cnn_mnist", "--epochs", "1", "--strategy", "model_parallel", "--model-parallel", "2")
    assert out.returncode == 2 and "runs on the JAX backend only" in out.stderr and "Traceback" not in out.stderr
    out = cli("train", "cnn_mnist", "--epochs", "1", "--strategy", "multi_worker", "--process-id", "1")
    assert out.returncode == 2 and "on TensorFlow the cluster comes from TF_CONFIG" in out.stderr


@pytest.mark.parametrize(
    "tf_config, message",
    [
        (None, "needs TF_CONFIG"),
        ("{not json", "not valid JSON"),
        (json.dumps({"cluster": {}}), 'needs a "cluster" object and a "task" object'),
        (json.dumps({"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}), "non-empty list"),
        (json.dumps({"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}), "is not in the cluster"),
    ],
)
def test_multi_worker_needs_a_good_tf_config(monkeypatch, tf_config, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(zoo.DeviceUnavailableError, match=message):
        distribute.get_strategy("multi_worker")


def test_chief_is_worker_0_or_the_chief_task():
    assert distribute.is_chief({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}})
    assert not distribute.is_chief({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}})
    assert distribute.is_chief({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}})
    assert not distribute.is_chief({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}})


@pytest.mark.slow
def test_a_tpu_asked_for_and_absent_fails_fast():
    t0 = time.monotonic()
    with pytest.raises(zoo.DeviceUnavailableError, match="no TPU found at 'local'.*--tpu takes a Cloud TPU name"):
        distribute.get_strategy("tpu")
    assert time.monotonic() - t0 < 30
    out = run_cli("train", "cnn_mnist", "--strategy", "tpu", "--epochs", "1")
    assert out.returncode == 2 and "no TPU found" in out.stderr and "Traceback" not in out.stderr


def test_tpu_call_order_with_the_resolver_mocked():
    calls = []
    resolver = mock.Mock(name="resolver")
    with mock.patch.object(tf.distribute.cluster_resolver, "TPUClusterResolver",
                           side_effect=lambda tpu: calls.append(("resolver", tpu)) or resolver), \
         mock.patch.object(tf.config, "experimental_connect_to_cluster",
                           side_effect=lambda r: calls.append(("connect", r))), \
         mock.patch.object(tf.tpu.experimental, "initialize_tpu_system",
                           side_effect=lambda r: calls.append(("initialize", r))), \
         mock.patch.object(tf.distribute, "TPUStrategy", side_effect=lambda r: calls.append(("strategy", r)) or "S"):
        assert distribute.get_strategy("tpu", tpu="grpc://10.0.0.2:8470") == "S"
        assert calls == [("resolver", "grpc://10.0.0.2:8470"), ("connect", resolver), ("initialize", resolver),
                         ("strategy", resolver)]
        calls.clear()
        distribute.get_strategy("tpu", tpu="local")  # on a TPU VM: no remote cluster to connect to
        assert [c[0] for c in calls] == ["resolver", "initialize", "strategy"]


def test_mixed_precision_defaults_and_values():
    cpu = distribute.get_strategy("cpu")
    assert distribute.mixed_precision_policy(None, cpu) == "float32"
    assert distribute.mixed_precision_policy("bfloat16", cpu) == "mixed_bfloat16"
    with mock.patch.object(distribute, "kind", return_value="tpu"):
        assert distribute.mixed_precision_policy(None, cpu) == "mixed_bfloat16"
    with pytest.raises(ValueError, match="mixed_precision must be one of off, float16, bfloat16"):
        distribute.mixed_precision_policy("int8", cpu)


def test_settings_that_break_under_mirrored_are_adjusted_with_a_warning(caplog):
    mirrored = distribute.get_strategy("mirrored", devices=["CPU:0", "CPU:1"])
    with caplog.at_level("WARNING", logger="zoo"):
        options = distribute.compile_options(mirrored, jit_compile=True, steps_per_execution=4)
    assert options == {"jit_compile": False, "steps_per_execution": 1}
    assert any("steps_per_execution=4" in r.getMessage() for r in caplog.records)
    assert any("jit_compile=True" in r.getMessage() for r in caplog.records)
    assert distribute.compile_options(distribute.get_strategy("cpu"), jit_compile=True, steps_per_execution=4) == \
        {"jit_compile": True, "steps_per_execution": 4}
    with pytest.raises(ValueError, match="the global batch size 33 does not divide among 2 replicas"):
        distribute.describe(mirrored, 33)


def test_get_builds_compiles_and_loads_inside_the_scope():
    mirrored = distribute.get_strategy("mirrored", devices=["CPU:0", "CPU:1"])
    model = zoo.get("cnn_mnist", pretrained=True, strategy=mirrored)
    assert isinstance(model.weights[0].value, tf.distribute.DistributedValues)
    assert model.distribute_strategy is mirrored
    reference = zoo.get("cnn_mnist", pretrained=True, compile=False)
    np.testing.assert_array_equal(model.get_weights()[0], reference.get_weights()[0])
    assert any(isinstance(v.value, tf.distribute.DistributedValues) for v in model.optimizer.variables)


@pytest.mark.slow
def test_mirrored_training_matches_one_device(small_mnist, tmp_path, capsys):
    """Same global batch (32) and seed on 1 device and on 2 virtual CPU replicas. Without batch norm and dropout
    the two compute the same steps, so the loss trajectories agree to float32 round-off (stated: rtol 1e-4);
    cnn_mnist's batch norm normalises each replica's half batch on its own (Keras' default, not synchronised),
    so its trajectory agrees more loosely (stated: rtol 5e-2)."""
    import keras

    def mlp(*, num_classes=10, input_shape=(28, 28, 1), units=32):
        inputs = keras.Input(input_shape, dtype="uint8", name="image")
        x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
        x = keras.layers.Dense(units, activation="relu")(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x))

    card = zoo.info("cnn_mnist")
    zoo.register(zoo.ModelCard(
        name="mirror_test_mlp", family="mlp", task="image-classification", dataset="mnist", description="test",
        builder=mlp, hparams={"num_classes": 10, "input_shape": (28, 28, 1), "units": 32}, input=card.input,
        output=card.output, num_params=0, recipe=card.recipe.replace(augmentation=()),
    ))
    try:
        for name, rtol, extra in (("mirror_test_mlp", 1e-4, {}), ("cnn_mnist", 5e-2, {"dropout": 0.0, "filters": (8, 8, 8)})):
            runs = {}
            for label, strategy in (("one", distribute.get_strategy("cpu")),
                                    ("two", distribute.get_strategy("mirrored", devices=["CPU:0", "CPU:1"]))):
                result = zoo.train(name, strategy=strategy, epochs=3, batch_size=32, data_dir=small_mnist,
                                   model_dir=tmp_path / f"{name}-{label}", verbose=0, seed=7, **extra)
                runs[label] = result.history["loss"]
            np.testing.assert_allclose(runs["two"], runs["one"], rtol=rtol, err_msg=name)
            assert runs["one"][-1] < runs["one"][0]
    finally:
        zoo.unregister("mirror_test_mlp")


# ------------------------------------------------------------------------------------------- multi-worker


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(data, model_dir, out_dir, epochs, ports):
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config), "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
               "CUDA_VISIBLE_DEVICES": ""}
        cmd = [sys.executable, str(ROOT / "tests" / "_mw_worker.py"), str(data), str(model_dir),
               str(out_dir / f"worker{index}.npz"), str(epochs)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
    return procs


def _wait(procs, timeout=300):
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=timeout)[0])
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
    return outputs


@pytest.mark.slow
def test_two_workers_train_as_one_device_does_and_measure_every_test_example(small_mnist, tmp_path):
    """Two workers on localhost (explicit per-worker sharding of each global batch of 32) against one device with
    the same global batch and seed: the loss trajectories agree within the tolerance of per-replica batch norm
    (stated: rtol 5e-2, as for two mirrored replicas); the workers end with identical weights; the test metrics
    count all 70 test images (the last batch is partial), as zoo.evaluate of the best weights does."""
    model_dir, out = tmp_path / "run", tmp_path / "out"
    out.mkdir()
    procs = _start_workers(small_mnist, model_dir, out, epochs=3, ports=_free_ports(2))
    outputs = _wait(procs)
    for proc, text in zip(procs, outputs):
        assert proc.returncode == 0, text[-3000:]
    w0, w1 = np.load(out / "worker0.npz"), np.load(out / "worker1.npz")
    assert len(w0.files) == len(w1.files) > 0
    for key in w0.files:
        np.testing.assert_array_equal(w0[key], w1[key])
    report = json.loads((out / "worker0.json").read_text())
    history = report["history"]
    assert len(history["loss"]) == 3 and history["loss"][-1] < history["loss"][0]

    one = zoo.train("cnn_mnist", strategy="cpu", data_dir=small_mnist, model_dir=tmp_path / "one", epochs=3,
                    batch_size=32, filters=(8, 16, 16), dropout=0.0, learning_rate=3e-3, verbose=0)
    np.testing.assert_allclose(history["loss"], one.history["loss"], rtol=5e-2)

    best = zoo.get("cnn_mnist", filters=(8, 16, 16), dropout=0.0, pretrained=str(model_dir / "best.weights.h5"))
    measured = zoo.evaluate(best, data_dir=small_mnist)
    assert measured["num_examples"] == 70
    assert report["test"]["accuracy"] == pytest.approx(measured["accuracy"], abs=1e-6)
    assert report["test"]["loss"] == pytest.approx(measured["loss"], rel=1e-5)
    assert (model_dir / "best.weights.h5").exists() and (model_dir / "metrics.json").exists()
    assert json.loads((model_dir / "metrics.json").read_text())["strategy"]["replicas"] == 2
    assert "Epoch 1/3" in outputs[0] and "Epoch 1/3" not in outputs[1]  # progress on the chief only


@pytest.mark.slow
def test_a_killed_worker_job_restarted_resumes(small_mnist, tmp_path):
    model_dir, out = tmp_path / "run", tmp_path / "out"
    out.mkdir()
    epochs = 8
    procs = _start_workers(small_mnist, model_dir, out, epochs=epochs, ports=_free_ports(2))
    meta = model_dir / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 300
    killed_at = 0
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        if meta.exists():
            killed_at = json.loads(meta.read_text())["epoch"]
            if killed_at >= 2:
                break
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)  # a worker dies; the scheduler then restarts the whole job
    procs[0].send_signal(signal.SIGKILL)
    first = [p.communicate()[0] for p in procs]
    assert 2 <= killed_at < epochs, first[0][-2000:]
    killed_at = json.loads(meta.read_text())["epoch"]

    procs = _start_workers(small_mnist, model_dir, out, epochs=epochs, ports=_free_ports(2))
    outputs = _wait(procs)
    for proc, text in zip(procs, outputs):
        assert proc.returncode == 0, text[-3000:]
    assert f"resuming from the backup of epoch {killed_at}" in outputs[0]
    assert f"resuming from the backup of epoch {killed_at}" in outputs[1]
    runs = [json.loads((out / f"worker{i}.json").read_text()) for i in range(2)]
    assert runs[0]["epochs_run"] == runs[1]["epochs_run"] == epochs - killed_at
    assert len(runs[0]["history"]["loss"]) == epochs
    w0, w1 = np.load(out / "worker0.npz"), np.load(out / "worker1.npz")
    for key in w0.files:
        np.testing.assert_array_equal(w0[key], w1[key])


# ------------------------------------------------------------------------------------------- TPU installs


class _Dist:
    def __init__(self, name, version):
        self.metadata, self.version = {"Name": name}, version


@pytest.mark.parametrize("installed, refused", [
    ([("tensorflow_tpu", "2.20.0"), ("tensorflow", "2.20.0")], True),  # what `pip install "zoo[tpu]"` gives
    ([("tensorflow-tpu", "2.20.0"), ("tensorflow-cpu", "2.20.0")], True),
    ([("tensorflow-tpu", "2.20.0"), ("tensorflow-text", "2.20.1")], False),  # tensorflow-tpu repaired, alone
    ([("tensorflow", "2.21.0"), ("tensorflow-text", "2.21.1")], False),
])
def test_two_tensorflows_beside_tensorflow_tpu_are_refused_for_a_tpu(monkeypatch, installed, refused):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "distributions", lambda: [_Dist(*d) for d in installed])
    assert set(distribute.tensorflow_distributions()) == {n.replace("_", "-") for n, _ in installed} - {"tensorflow-text"}
    if refused:
        with pytest.raises(zoo.DeviceUnavailableError, match="write the same tensorflow package.*zoo\\[tpu\\]"):
            distribute.get_strategy("tpu", tpu="local")
    else:
        distribute.check_one_tensorflow()


def test_this_environment_has_one_tensorflow():
    assert list(distribute.tensorflow_distributions()) == ["tensorflow"]


def test_the_tpu_extra_is_jax_with_one_cpu_tensorflow():
    """zoo[tpu] is Keras' own TPU set: jax[tpu] at the pinned JAX, the CPU TensorFlow and its TensorFlow Text for
    tf.data; no tensorflow-tpu (scripts/check_extras.py resolves it with pip: one TensorFlow distribution)."""
    import re
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = {extra: dict(re.match(r"([a-z-]+(?:\[[a-z0-9]+\])?)==([\d.*]+)$", spec).groups() for spec in extras[extra])
            for extra in ("jax", "jax-cuda", "tpu")}
    assert pins["tpu"]["jax[tpu]"] == pins["jax"]["jax[cpu]"] == pins["jax-cuda"]["jax[cuda12]"]
    for extra in pins.values():
        assert extra["tensorflow"] == extra["tensorflow-text"] == "2.21.*"
        assert not any(name.startswith("tensorflow-tpu") for name in extra)
    assert not (ROOT / "scripts" / "install_tpu.sh").exists()
