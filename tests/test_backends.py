"""The backend-sensitive tests of issue 28, run under KERAS_BACKEND=jax (the second run of `make test`): one set
of weights gives one answer on both backends, `zoo verify` and `zoo evaluate` agree with the cards, and the
backend is chosen before Keras is imported."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from tests import _parity
from tests.conftest import ROOT, own_models

pytestmark = pytest.mark.jax

ATOL = 1e-4  # the bound on any probability (a classifier's) or logit (a language model's) between the backends


def _tensorflow(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    env.pop("XLA_FLAGS", None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def on_tensorflow(real_data_dir, tmp_path_factory):
    """Every shipped weight set's outputs on real test inputs, computed by TensorFlow in a process of its own."""
    out = tmp_path_factory.mktemp("parity") / "tensorflow.npz"
    done = _tensorflow("-m", "tests._parity", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(out, allow_pickle=False)


def test_this_run_is_on_jax():
    import keras

    assert keras.backend.backend() == "jax"


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("full", _parity.weight_sets())
def test_every_weight_set_gives_tensorflows_outputs_on_jax(on_tensorflow, full):
    import zoo

    name, tag = full.split(".")
    model = zoo.get(name, pretrained=tag, compile=False)
    x, want = on_tensorflow[f"{full}/x"], on_tensorflow[f"{full}/y"]
    got = _parity.outputs(model, x)
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
    if f"{full}/texts" in on_tensorflow:  # raw reviews through the preprocessor, as predict takes them
        texts = on_tensorflow[f"{full}/texts"]
        lengths = (x != 0).sum(axis=1)
        assert lengths.max() == x.shape[1] and lengths.min() < x.shape[1] // 8  # truncated ones and padded ones
        np.testing.assert_allclose(model.predict(texts.tolist(), batch_size=50, verbose=0), want,
                                   rtol=0, atol=ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("name", own_models(weights=True))
def test_every_weight_set_verifies_on_jax(name):
    import zoo

    assert zoo.verify(name)["outputs_ok"]


# Full test splits, as tests/test_weights.py measures them on TensorFlow: the slowest take minutes each on 2 cores
# (the IMDB classifiers' 25,000 reviews, the CIFAR ResNets), so they run with `make test-release` (JAX included).
_FAST_TO_MEASURE = {"cnn_mnist", "mlp_mnist", "cnn_fashion_mnist", "char_lstm_shakespeare"}


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("name", [
    # a full test split: transformer_imdb's 25,000 reviews take about 10 minutes alone on 2 cores, over the
    # suite's 600 s per test
    pytest.param(n, marks=[] if n in _FAST_TO_MEASURE else [pytest.mark.release, pytest.mark.timeout(2400)])
    for n in own_models(weights=True)])
def test_every_card_figure_is_what_evaluate_reproduces_on_jax(real_data_dir, name):
    import zoo
    from zoo import manifest

    info = manifest.weights_for(name)[0]
    got = zoo.evaluate(name, data_dir=real_data_dir)
    assert f"({got['num_examples']} " in info.split
    for metric, value in info.metrics.items():
        if metric in ("accuracy", "sparse_categorical_accuracy"):
            assert got[metric] == pytest.approx(value, abs=5e-4), metric  # 0.05 points
        else:
            assert got[metric] == pytest.approx(value, rel=1e-3), metric


# ------------------------------------------------------------------------------- exports and archives

_SERVE = """
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the tokenizer's ops)
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
key, kind = sys.argv[2], sys.argv[3]
x = np.load(sys.argv[4])
x = tf.constant(x.astype(str).tolist() if kind == "text" else x)
out = serve(**{key: x})
np.save(sys.argv[5], out["probabilities"].numpy())
print(json.dumps(sorted(out)))
"""


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.parametrize("name, key, kind", [("lstm_imdb", "text", "text"), ("cnn_mnist", "image", "image")])
def test_a_savedmodel_exported_on_jax_serves_the_jax_models_outputs_in_a_tensorflow_only_process(
        real_data_dir, tmp_path, name, key, kind):
    """The export runs TensorFlow's own writer (a process of its own): the same signature, raw inputs in."""
    import zoo

    model = zoo.get(name, pretrained=True, compile=False)
    if kind == "text":
        x = _parity.test_reviews(real_data_dir)[::3]  # 32 of them: long, short and others
        want = model.predict(x.tolist(), batch_size=10, verbose=0)
    else:
        from zoo import data

        x = data.load("mnist", "test", data_dir=real_data_dir).features[:64]
        want = _parity.outputs(model, x)
    exported = zoo.export(model, tmp_path / "export")
    np.save(tmp_path / "x.npy", x.astype(str) if kind == "text" else x)
    # a process with TensorFlow only: neither zoo nor Keras is imported there
    done = _tensorflow("-c", _SERVE, str(exported), key, kind, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "probabilities" in done.stdout and "class_id" in done.stdout
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=0, atol=ATOL)


@pytest.mark.slow
def test_a_tflite_file_exported_on_jax_runs(tmp_path):
    import zoo

    model = zoo.get("cnn_mnist", pretrained=True, compile=False)
    target = zoo.export(model, tmp_path / "m.tflite", format="tflite")
    x = np.random.default_rng(0).integers(0, 256, size=(3, 28, 28, 1), dtype=np.uint8)
    got = zoo.predict(str(target), x, top_k=10)
    want = _parity.outputs(model, x)
    probabilities = [[c["probability"] for c in sorted(r["top_k"], key=lambda c: c["class_id"])] for r in got]
    np.testing.assert_allclose(probabilities, want, rtol=0, atol=ATOL)


_ROUND_TRIP = """
import sys
import numpy as np
import keras
import zoo
x = np.load(sys.argv[2])
if sys.argv[1] == "save":
    model = zoo.get(sys.argv[3], pretrained=True, compile=False)
    model.save(sys.argv[4])
else:
    model = keras.saving.load_model(sys.argv[4], safe_mode=True)
np.save(sys.argv[5], keras.ops.convert_to_numpy(model(x, training=False)))
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", ["transformer_imdb", "cnn_mnist"])
def test_a_keras_archive_saved_on_one_backend_loads_on_the_other(tmp_path, name):
    import keras

    import zoo

    model = zoo.get(name, pretrained=True, compile=False)
    if model.input.dtype.startswith("int"):
        x = np.random.default_rng(0).integers(1, 100, size=(4, model.preprocessor.sequence_length)).astype("int32")
    else:
        x = np.random.default_rng(0).integers(0, 256, size=(4, *model.input.shape[1:])).astype("uint8")
    np.save(tmp_path / "x.npy", x)
    want = _parity.outputs(model, x)
    # saved on JAX, loaded on TensorFlow
    model.save(tmp_path / "from_jax.keras")
    done = _tensorflow("-c", _ROUND_TRIP, "load", str(tmp_path / "x.npy"), name, str(tmp_path / "from_jax.keras"),
                       str(tmp_path / "tf.npy"))
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "tf.npy"), want, rtol=0, atol=ATOL)
    # saved on TensorFlow, loaded on JAX
    done = _tensorflow("-c", _ROUND_TRIP, "save", str(tmp_path / "x.npy"), name, str(tmp_path / "from_tf.keras"),
                       str(tmp_path / "tf2.npy"))
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = keras.saving.load_model(tmp_path / "from_tf.keras", safe_mode=True)
    np.testing.assert_allclose(_parity.outputs(loaded, x), want, rtol=0, atol=ATOL)


_PRESET = """
import sys
import keras_hub
import numpy as np
import zoo  # noqa: F401  (registers zoo's classes)
task = keras_hub.models.TextClassifier.from_preset(sys.argv[1])
print(repr(task.predict([sys.argv[2]], verbose=0).tolist()))
"""


@pytest.mark.slow
def test_a_preset_folder_saved_on_jax_loads_on_tensorflow(tmp_path):
    import zoo

    model = zoo.get("transformer_imdb", pretrained=True, compile=False)
    model.save_to_preset(str(tmp_path / "preset"))
    text = "A slow start, then a wonderful, moving film."
    done = _tensorflow("-c", _PRESET, str(tmp_path / "preset"), text)
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(eval(done.stdout.strip().splitlines()[-1]), model.predict([text], verbose=0),
                               rtol=0, atol=ATOL)


# ------------------------------------------------------------------------------------------ training on JAX

_SMALL_TEXT = {"lstm_imdb": dict(embedding_dim=8, lstm_units=8),
               "transformer_imdb": dict(embedding_dim=16, intermediate_dim=32),
               "char_lstm_shakespeare": dict(embedding_dim=8, lstm_units=16),
               "gpt_shakespeare": dict(embedding_dim=16, intermediate_dim=32, num_layers=1),
               "nbsvm_imdb": dict(buckets=101)}


# The largest networks take a minute or two each of XLA compilation on 2 cores: with `make test-release`.
_SLOW_TO_COMPILE = {"mobilenet_v2_cifar10", "resnet56_cifar10", "airbench_cifar10", "vit_mnist"}


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.release] if n in _SLOW_TO_COMPILE else [])
                                  for n in own_models()])
def test_every_entry_trains_with_its_recipe_on_jax(name):
    """Two steps of the card's optimizer, schedule, loss and metrics, compiled by XLA as JAX always is: images
    as uint8 pixels, texts as raw strings through the preprocessor in tf.data."""
    import tensorflow as tf

    import zoo
    from zoo import recipes

    card = zoo.info(name)
    if card.input.kind == "image":
        sys.path.insert(0, str(ROOT / "scripts"))
        from check_xla import train_step_under_xla

        assert np.isfinite(train_step_under_xla(name))
        return
    model = zoo.get(name, compile=False, sequence_length=16, **_SMALL_TEXT[name])
    recipes.compile_model(model, card.recipe, steps=2)
    texts = tf.constant(["a fine film with a sad end", "ROMEO: what light", "", "dull"] * 4)
    if card.task == "text-classification":
        labels = tf.constant([1, 0, 0, 0] * 4)
    else:
        labels = tf.random.uniform((16, 16), 0, card.output.num_classes, dtype=tf.int32, seed=1)
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(tf.data.Dataset.from_tensor_slices((texts, labels)).batch(8), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert any(not np.array_equal(a, np.array(b)) for a, b in zip(before, model.trainable_weights))


@pytest.mark.slow
def test_mixed_bfloat16_trains_on_jax_and_keeps_float32_weights(tmp_path):
    import json

    import zoo
    from tests.test_training import write_learnable_mnist

    data_dir = write_learnable_mnist(tmp_path / "data", n_train=200, n_test=50)
    result = zoo.train("cnn_mnist", epochs=2, batch_size=32, data_dir=data_dir, model_dir=tmp_path / "run",
                       filters=(8, 16, 16), verbose=0, learning_rate=3e-3, mixed_precision="bfloat16")
    assert np.isfinite(result.history["loss"]).all() and result.history["loss"][1] < result.history["loss"][0]
    assert {w.dtype for w in result.model.weights} == {"float32"}
    assert "bfloat16" in {layer.compute_dtype for layer in result.model.layers}  # the convolutions compute in it
    report = json.loads(result.paths["metrics"].read_text())
    assert report["strategy"]["dtype_policy"] == "mixed_bfloat16" and report["versions"]["backend"] == "jax"
