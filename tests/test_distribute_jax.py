"""Distribution by flag on JAX (keras.distribution), on 8 virtual CPU devices: the names and their errors, a
data-parallel fit against one device, model-parallel fits of gpt_shakespeare and of a small GPT-2 whose variables
are sharded as their layouts say, and two processes of 4 devices that train as one process of 8.

Run as `make test`'s second part does: KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=8
python -m pytest -m jax tests/test_distribute_jax.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import zoo
from tests.conftest import ROOT
from tests.test_training import write_learnable_mnist
from zoo import distribute

pytestmark = [
    pytest.mark.jax,
    pytest.mark.skipif(keras.backend.backend() != "jax",
                       reason=f"keras.distribution runs on JAX; Keras is on {keras.backend.backend()} "
                              f"(run with KERAS_BACKEND=jax)"),
]

EIGHT = "XLA_FLAGS=--xla_force_host_platform_device_count=8"


@pytest.fixture(scope="module", autouse=True)
def eight_devices():
    import jax

    if jax.device_count() < 8 or jax.default_backend() != "cpu":
        pytest.skip(f"needs 8 virtual CPU devices ({EIGHT} before JAX starts); JAX sees {jax.device_count()} "
                    f"{jax.default_backend()} device(s)")


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory):
    # 288 training images (9 whole batches of 32), 32 for validation, 70 test images: not a whole number of
    # batches, so that a test split measured in whole batches only would show
    return write_learnable_mnist(tmp_path_factory.mktemp("data"), n_train=320, n_test=70)


SMALL_CNN = dict(epochs=2, batch_size=32, filters=(8, 8, 8), dropout=0.0, learning_rate=3e-3, seed=5, verbose=0)


@pytest.fixture(scope="module")
def eight_device_run(small_mnist, tmp_path_factory):
    """cnn_mnist trained data-parallel over the 8 devices: the reference of the one-device and the two-process
    tests (the workers of tests/_jax_mw_worker.py train with SMALL_CNN too)."""
    model_dir = tmp_path_factory.mktemp("eight") / "run"
    return zoo.train("cnn_mnist", strategy="data_parallel", data_dir=small_mnist, model_dir=model_dir, **SMALL_CNN)


# ------------------------------------------------------------------------------------------- names and errors


def test_the_names_make_keras_distributions():
    auto = distribute.get_strategy("auto")  # no accelerator here: the CPU alone, as on TensorFlow
    assert auto.kind == "default" and auto.distribution is None and auto.num_replicas_in_sync == 1
    assert "8 cpu devices visible: --strategy data_parallel uses them all" in auto.description()
    assert distribute.resolve(None).kind == "default" and distribute.get_strategy("off").kind == "default"

    data = distribute.get_strategy("data_parallel")
    assert isinstance(data.distribution, keras.distribution.DataParallel)
    assert data.kind == distribute.kind(data) == "data_parallel" and data.num_replicas_in_sync == 8
    assert data.devices == [f"cpu:{i}" for i in range(8)] and data.mesh == {"batch": 8}
    assert distribute.describe(data, 32) == ("zoo: distribution DataParallel over 8 cpu devices (mesh batch=8); "
                                             "global batch 32, 4 per replica")
    assert distribute.get_strategy("mirrored").kind == "data_parallel"  # TensorFlow's name for the same
    two = distribute.get_strategy("data_parallel", devices=["CPU:0", "cpu:1"])  # either spelling
    assert two.devices == ["cpu:0", "cpu:1"] and two.num_replicas_in_sync == 2

    model = distribute.get_strategy("model_parallel", model="gpt_shakespeare", model_parallel=4)
    assert isinstance(model.distribution, keras.distribution.ModelParallel)
    assert model.mesh == {"batch": 2, "model": 4} and model.num_replicas_in_sync == 2
    assert "ModelParallel over 8 cpu devices (mesh batch=2, model=4), variables laid out by " \
           "DecoderBackbone.get_layout_map" in distribute.describe(model, 32)
    assert distribute.get_strategy("model_parallel", model="gpt_shakespeare").mesh == {"batch": 4, "model": 2}

    # what zoo does with each: whole batches over a mesh, fit inside the scope, the chief, metrics.json
    assert distribute.whole_batches(data) and not distribute.whole_batches(auto)
    assert not distribute.own_loop(data) and distribute.chief(data)
    with distribute.fit_scope(data):
        assert keras.distribution.distribution() is data.distribution
    assert keras.distribution.distribution() is None
    assert distribute.summary(model) == {"backend": "jax", "kind": "model_parallel", "name": "ModelParallel",
                                         "replicas": 2, "devices": 8, "device_kind": "cpu", "processes": 1,
                                         "jax": __import__("jax").__version__, "mesh": {"batch": 2, "model": 4},
                                         "layout": "DecoderBackbone.get_layout_map"}
    assert distribute.mixed_precision_policy(None, data) == "float32"
    assert distribute.compile_options(data, jit_compile="auto", steps_per_execution=4) == \
        {"jit_compile": "auto", "steps_per_execution": 4}


def test_the_layouts_come_from_the_backbones():
    import keras_hub

    mesh = keras.distribution.DeviceMesh((4, 2), ("batch", "model"), keras.distribution.list_devices())
    assert distribute.layout_map("gpt_shakespeare", mesh)[1] == "DecoderBackbone.get_layout_map"
    assert distribute.layout_map("transformer_imdb", mesh)[1] == "EncoderBackbone.get_layout_map"
    # keras-hub 0.32's GPT-2 and BERT have no get_layout_map: zoo's layout of them
    assert distribute.layout_map("gpt2_lm", mesh)[1] == "zoo's layout of GPT2Backbone"
    assert distribute.layout_map(keras_hub.models.BertBackbone, mesh)[1] == "zoo's layout of BertBackbone"
    # a keras-hub backbone that has one: its own
    layout, source = distribute.layout_map(keras_hub.models.GemmaBackbone, mesh)
    assert source == "GemmaBackbone.get_layout_map" and isinstance(layout, keras.distribution.LayoutMap)
    decoder, _ = distribute.layout_map("gpt_shakespeare", mesh)
    assert decoder["decoder3/self_attention/query/kernel"].axes == (None, "model", None)
    assert decoder["decoder1/feedforward_output_dense/kernel"].axes == ("model", None)
    assert decoder["decoder1/self_attention_layer_norm/gamma"] is None  # replicated


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": "tpu"}, zoo.DeviceUnavailableError, "strategy 'tpu' found no TPU: JAX sees only cpu devices; on a "
                                                   "Cloud TPU VM install JAX's TPU build"),
    ({"name": "gpu"}, zoo.DeviceUnavailableError, "JAX sees no GPU"),
    ({"name": "tpu", "tpu": "my-tpu"}, ValueError, "on JAX zoo runs on the TPU VM itself"),
    ({"name": "model_parallel", "model": "cnn_mnist"}, zoo.DeviceUnavailableError,
     "no layout for cnn_mnist \\(a cnn\\); it shards bert_classifier, gpt2_lm, gpt_shakespeare, transformer_imdb: "
     "use --strategy data_parallel"),
    ({"name": "model_parallel"}, ValueError, "shards a model's variables by its layout: give the model"),
    ({"name": "model_parallel", "model": "gpt_shakespeare", "model_parallel": 3}, zoo.DeviceUnavailableError,
     "model_parallel=3 does not divide the 8 devices"),
    ({"name": "model_parallel", "model": "gpt_shakespeare", "model_parallel": 0}, ValueError,
     "model_parallel must be a positive integer"),
    ({"name": "data_parallel", "model_parallel": 2}, ValueError, "model_parallel= is for the 'model_parallel'"),
    ({"name": "data_parallel", "devices": ["cpu:9"]}, zoo.DeviceUnavailableError,
     "device 'cpu:9' is not among JAX's devices \\(cpu:0, .*cpu:7\\)"),
    ({"name": "data_parallel", "devices": ["cpu:1", "CPU:1"]}, ValueError, "name a device twice"),
    ({"name": "data_parallel", "num_gpus": 1}, zoo.DeviceUnavailableError, "1 GPU\\(s\\) asked for, JAX sees 0"),
    ({"name": "data_parallel", "process_id": 0}, ValueError, "process_id= is for the 'multi_worker' strategy"),
])
def test_what_cannot_run_says_what_is_missing(kwargs, error, message):
    with pytest.raises(error, match=message):
        distribute.get_strategy(**kwargs)


@pytest.mark.parametrize("kwargs, env, error, message", [
    ({}, {}, zoo.DeviceUnavailableError,
     "needs --coordinator-address \\(or \\$JAX_COORDINATOR_ADDRESS\\), --num-processes \\(or \\$JAX_NUM_PROCESSES\\), "
     "--process-id \\(or \\$JAX_PROCESS_ID\\)"),
    ({"coordinator_address": "localhost:1"}, {"JAX_NUM_PROCESSES": "2"}, zoo.DeviceUnavailableError,
     "needs --process-id \\(or \\$JAX_PROCESS_ID\\)"),
    ({}, {"JAX_COORDINATOR_ADDRESS": "h:1", "JAX_NUM_PROCESSES": "two", "JAX_PROCESS_ID": "0"}, ValueError,
     "num_processes must be a non-negative integer, got 'two' \\(from JAX_NUM_PROCESSES\\)"),
    ({"coordinator_address": "localhost", "num_processes": 2, "process_id": 0}, {}, ValueError,
     "coordinator_address must be process 0's host:port"),
    ({"coordinator_address": "localhost:1", "num_processes": 2, "process_id": 2}, {}, ValueError,
     "process_id 2 is not below num_processes 2"),
])
def test_multi_worker_needs_its_job(monkeypatch, kwargs, env, error, message):
    for names in distribute.JAX_ENV.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(error, match=message):
        distribute.get_strategy("multi_worker", **kwargs)


def test_bad_batches_and_objects_are_refused():
    import tensorflow as tf

    data = distribute.get_strategy("data_parallel")
    with pytest.raises(ValueError, match="the global batch size 33 does not divide among 8 replicas"):
        distribute.describe(data, 33)
    with pytest.raises(TypeError, match="on the JAX backend a strategy is a name or a keras.distribution"):
        distribute.resolve(tf.distribute.get_strategy())
    # no setting is adjusted on JAX: jit_compile=False runs each op eagerly on the sharded arrays, and does train
    assert distribute.compile_options(data, jit_compile=False, steps_per_execution=2) == \
        {"jit_compile": False, "steps_per_execution": 2}
    assert distribute.resolve(data.distribution).kind == "data_parallel"  # a keras.distribution object is taken
    eight = distribute.get_strategy("model_parallel", model="gpt_shakespeare", model_parallel=8)
    with pytest.raises(ValueError, match="splits a size that model_parallel=8 does not divide .*dimension size is 4"):
        zoo.get("gpt_shakespeare", strategy=eight, num_layers=1, num_heads=4, compile=False)
    with pytest.raises(ValueError, match="a batch does not divide among the 8 replicas .*drop_remainder=True"):
        with data.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
            model.compile("sgd", "mse")
            model.predict(np.ones((6, 4), "float32"), verbose=0)


@pytest.mark.parametrize("args, message", [
    (("--strategy", "model_parallel"), "no layout for cnn_mnist"),
    (("--strategy", "tpu"), "strategy 'tpu' found no TPU: JAX sees only cpu devices"),
    (("--strategy", "multi_worker", "--coordinator-address", "localhost:1", "--num-processes", "2"),
     "needs --process-id \\(or \\$JAX_PROCESS_ID\\)"),
    (("--strategy", "data_parallel", "--process-id", "0"), "process_id= is for the 'multi_worker' strategy"),
    (("--strategy", "model_parallel", "--model-parallel", "0"), "--model-parallel: expected a positive integer"),
])
def test_the_cli_flags_reach_the_factory(cli, monkeypatch, args, message):
    import re

    for names in distribute.JAX_ENV.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    out = cli("train", "cnn_mnist", "--epochs", "1", *args)
    assert out.returncode == 2 and re.search(message, out.stderr), out.stderr
    assert "Traceback" not in out.stderr


# ------------------------------------------------------------------------------------------- training


def test_a_data_parallel_fit_over_8_devices_matches_one_device(eight_device_run, small_mnist, tmp_path):
    """The same global batch (32) and seed on one device and over 8 (4 examples each). On JAX the step is one
    program over the global batch, sharded by XLA (GSPMD), so batch norm normalises over the whole batch, as on
    one device: cnn_mnist's trajectory agrees to float32 round-off (rtol 1e-4, the mirrored test's tolerance for
    a model without batch norm), and so do its final weights. The test split's 70 images (not whole batches) are
    all measured: the same test metrics as one device."""
    one = zoo.train("cnn_mnist", strategy="off", data_dir=small_mnist, model_dir=tmp_path / "one", **SMALL_CNN)
    eight = eight_device_run
    np.testing.assert_allclose(eight.history["loss"], one.history["loss"], rtol=1e-4)
    assert one.history["loss"][-1] < one.history["loss"][0]
    for a, b in zip(eight.model.weights, one.model.weights):
        np.testing.assert_allclose(np.asarray(a.value), np.asarray(b.value), rtol=1e-4, atol=1e-5, err_msg=a.path)
    assert eight.test_metrics["accuracy"] == pytest.approx(one.test_metrics["accuracy"], abs=1e-6)
    assert eight.test_metrics["loss"] == pytest.approx(one.test_metrics["loss"], rel=1e-4)
    kernel = eight.model.weights[0].value  # replicated over the 8 devices
    assert len(kernel.sharding.device_set) == 8 and kernel.sharding.is_fully_replicated
    recorded = json.loads((eight.paths["metrics"]).read_text())["strategy"]
    assert {k: recorded[k] for k in ("backend", "kind", "name", "replicas", "devices", "mesh")} == \
        {"backend": "jax", "kind": "data_parallel", "name": "DataParallel", "replicas": 8, "devices": 8,
         "mesh": {"batch": 8}}
    assert json.loads((one.paths["metrics"]).read_text())["strategy"]["name"] == "default"


def _expected_spec(layout, variable):
    found = layout[variable.path]
    return tuple(found.axes) if found is not None else (None,) * len(variable.shape)


def _check_sharded_as_laid_out(model, layout, expected_sharded):
    """Every variable's sharding is its layout's (replicated where the layout has none), each device holding
    1/2 of a sharded dimension; and the variables expected sharded are."""
    sharded = []
    for v in model.weights:
        spec = _expected_spec(layout, v)
        got = tuple(v.value.sharding.spec) + (None,) * (len(v.shape) - len(v.value.sharding.spec))
        assert got == spec, (v.path, got, spec)
        if "model" in spec:
            sharded.append(v.path)
            axis = spec.index("model")
            local = v.value.addressable_shards[0].data.shape
            assert local[axis] == v.shape[axis] // 2, (v.path, local, v.shape)
    assert set(expected_sharded) <= set(sharded), set(expected_sharded) - set(sharded)
    return sharded


def _fit_twice(make, fit):
    """(one device's model and losses, the model-parallel one's): the same seed, data and steps."""
    runs = []
    for strategy in (None, distribute.get_strategy("model_parallel", model=make.layout_model, model_parallel=2)):
        keras.utils.set_random_seed(11)
        with distribute.fit_scope(strategy) if strategy is not None else distribute.fit_scope(None):
            model = make()
            runs.append((model, fit(model), strategy))
    return runs


def test_a_model_parallel_fit_of_gpt_shakespeare_shards_as_laid_out_and_matches_one_device():
    import tensorflow as tf

    small = dict(sequence_length=16, embedding_dim=32, num_layers=1, num_heads=4, intermediate_dim=64, dropout=0.0)
    rng = np.random.default_rng(0)
    texts = tf.constant(["".join(chr(c) for c in rng.integers(97, 123, 20)) for _ in range(32)])
    targets = tf.constant(rng.integers(97, 123, (32, 16)).astype("int32"))
    data = tf.data.Dataset.from_tensor_slices((texts, targets)).batch(8)

    def make():
        return zoo.get("gpt_shakespeare", **small)  # built and compiled in the current scope

    make.layout_model = "gpt_shakespeare"
    (one, one_loss, _), (two, two_loss, strategy) = _fit_twice(
        make, lambda m: m.fit(data, epochs=2, verbose=0).history["loss"])
    assert strategy.mesh == {"batch": 4, "model": 2}
    layout = strategy.distribution._layout_map
    sharded = _check_sharded_as_laid_out(two, layout, [
        "embedding/token_embedding/embeddings", "decoder1/self_attention/query/kernel",
        "decoder1/self_attention/key/kernel", "decoder1/self_attention/value/kernel",
        "decoder1/self_attention/attention_output/kernel", "decoder1/feedforward_intermediate_dense/kernel",
        "decoder1/feedforward_output_dense/kernel"])
    assert len(sharded) == 11  # the token embedding, 6 kernels and 4 biases (q, k, v, the inner layer)
    moments = [v for v in two.optimizer.variables if "self_attention_query_kernel" in v.path]  # Adam's two
    assert len(moments) == 2 and all(tuple(v.value.sharding.spec) == (None, "model", None) for v in moments)
    np.testing.assert_allclose(two_loss, one_loss, rtol=1e-4)
    assert one_loss[-1] < one_loss[0]
    for a, b in zip(two.weights, one.weights):
        np.testing.assert_allclose(np.asarray(a.value), np.asarray(b.value), rtol=1e-4, atol=2e-5, err_msg=a.path)


def test_a_model_parallel_fit_of_a_small_gpt2_shards_as_laid_out_and_matches_one_device():
    import keras_hub

    vocabulary, length = 64, 16

    def make():
        backbone = keras_hub.models.GPT2Backbone(vocabulary_size=vocabulary, num_layers=2, num_heads=2, hidden_dim=32,
                                                 intermediate_dim=64, max_sequence_length=length, dropout=0.0)
        model = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
        model.compile(optimizer=keras.optimizers.Adam(3e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    make.layout_model = keras_hub.models.GPT2Backbone
    rng = np.random.default_rng(1)
    ids = rng.integers(1, vocabulary, (32, length + 1)).astype("int32")
    x = {"token_ids": ids[:, :-1], "padding_mask": np.ones((32, length), "int32")}
    (one, one_loss, _), (two, two_loss, strategy) = _fit_twice(
        make, lambda m: m.fit(x, ids[:, 1:], batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"])
    assert strategy.layout == "zoo's layout of GPT2Backbone"
    sharded = _check_sharded_as_laid_out(two, strategy.distribution._layout_map, [
        "token_embedding/embeddings", "transformer_layer_0/self_attention/query/kernel",
        "transformer_layer_1/self_attention/attention_output/kernel",
        "transformer_layer_1/feedforward_intermediate_dense/kernel",
        "transformer_layer_0/feedforward_output_dense/kernel"])
    assert len(sharded) == 2 * 10 + 1  # per layer 6 kernels and 4 biases, and the (tied) token embedding
    np.testing.assert_allclose(two_loss, one_loss, rtol=1e-4)
    assert one_loss[-1] < one_loss[0]
    for a, b in zip(two.weights, one.weights):
        np.testing.assert_allclose(np.asarray(a.value), np.asarray(b.value), rtol=1e-4, atol=2e-5, err_msg=a.path)


# ------------------------------------------------------------------------------------------- two processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_of_4_devices_train_as_one_process_of_8(eight_device_run, small_mnist, tmp_path):
    """Two processes on localhost (keras.distribution.initialize, gloo collectives on CPU), 4 virtual devices each,
    cnn_mnist with strategy "multi_worker": Keras shards each global batch of 32 between them (16 each) and the
    step runs over the 8 devices of both. They end with the same weights, those of one process over 8 devices
    (float32 round-off: atol 1e-5), and only process 0 writes the run's folder."""
    model_dir, out = tmp_path / "run", tmp_path / "out"
    out.mkdir()
    coordinator = f"localhost:{_free_port()}"
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    logs = [(out / f"p{i}.log").open("w") for i in range(2)]
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests" / "_jax_mw_worker.py"), str(small_mnist),
                               str(model_dir), str(out / f"p{i}.npz"), str(SMALL_CNN["epochs"]), coordinator, str(i)],
                              stdout=logs[i], stderr=subprocess.STDOUT, env=env)
             for i in range(2)]
    deadline = time.monotonic() + 420
    try:  # a process that fails ends the job at once (the other would wait for it in a collective)
        while any(p.poll() is None for p in procs) and not any(p.poll() for p in procs):
            assert time.monotonic() < deadline, "the two processes did not finish in 420 s"
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.kill()
    for proc, log in zip(procs, logs):
        proc.wait()
        log.close()
    outputs = [(out / f"p{i}.log").read_text() for i in range(2)]
    for proc, text in zip(procs, outputs):
        assert proc.returncode == 0, text[-3000:]
    reports = [json.loads((out / f"p{i}.json").read_text()) for i in range(2)]
    assert [r["process"] for r in reports] == [[0, 2], [1, 2]]
    assert all(r["local_devices"] == 4 and r["devices"] == 8 for r in reports)
    w0, w1 = np.load(out / "p0.npz"), np.load(out / "p1.npz")
    eight = eight_device_run.model.get_weights()
    assert len(w0.files) == len(w1.files) == len(eight)
    for i, key in enumerate(sorted(w0.files, key=lambda k: int(k[1:]))):
        np.testing.assert_array_equal(w0[key], w1[key])
        np.testing.assert_allclose(w0[key], eight[i], rtol=1e-4, atol=1e-5, err_msg=key)
    np.testing.assert_allclose(reports[0]["history"]["loss"], eight_device_run.history["loss"], rtol=1e-4)
    assert reports[0]["test"]["accuracy"] == pytest.approx(eight_device_run.test_metrics["accuracy"], abs=1e-6)
    recorded = json.loads((model_dir / "metrics.json").read_text())["strategy"]
    assert {k: recorded[k] for k in ("backend", "kind", "replicas", "devices", "processes")} == \
        {"backend": "jax", "kind": "multi_worker", "replicas": 8, "devices": 8, "processes": 2}
    assert "in 2 processes (this is process 0)" in outputs[0]
    assert "Epoch 1/2" in outputs[0] and "Epoch 1/2" not in outputs[1]  # progress on process 0 only
