"""int8 through Keras' own quantize: zoo.get(quantize=), zoo.evaluate(quantize=), the int8 SavedModel and .keras
exports (reloaded, the caller's model untouched), the refusals, and the CLI."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import exporting, quantizing


def _int8_layers(model) -> list[str]:
    return [layer.path for layer in model._flatten_layers() if layer.quantization_mode == "int8"]


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(n, 28, 28, 1), dtype=np.uint8)


@pytest.fixture(scope="module")
def vit():
    return zoo.get("vit_mnist", pretrained=True, compile=False)


@pytest.mark.any_backend
def test_get_quantizes_the_dense_layers_and_says_which(vit):
    model = zoo.get("vit_mnist", pretrained=True, quantize="int8")
    account = model.zoo_quantization
    assert account["mode"] == "int8" and sorted(_int8_layers(model)) == sorted(account["quantized"])
    assert len(account["quantized"]) == 25 and 0.9 < account["quantized_share"] < 1.0
    assert "Conv2D" in account["kept"] and "LayerNormalization" in account["kept"]
    assert model.optimizer is not None  # compiled, as zoo.get's models are
    images = _images(32)
    want, got = vit.predict(images, verbose=0), model.predict(images, verbose=0)
    assert np.abs(got - want).max() < 0.05  # int8 weights and activations: close, not equal
    assert not np.array_equal(got, want)
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9


@pytest.mark.any_backend
def test_a_text_task_quantizes_its_backbone_and_reloads_from_its_archive(tmp_path):
    model = zoo.get("transformer_imdb", pretrained=True, compile=False, quantize="int8")
    in_backbone = {layer.path for layer in model.backbone._flatten_layers()}
    assert model.zoo_quantization["quantized"] and set(model.zoo_quantization["quantized"]) <= in_backbone
    assert model.get_layer("probabilities").quantization_mode is None  # a task's config keeps no head policy
    texts = ["a moving, beautifully acted film", "tedious, predictable and far too long", "it was fine"]
    before = model.predict(texts, verbose=0)
    model.save(tmp_path / "q.keras")
    again = keras.saving.load_model(tmp_path / "q.keras")
    assert sorted(_int8_layers(again)) == sorted(_int8_layers(model))
    np.testing.assert_allclose(again.predict(texts, verbose=0), before, atol=1e-6)


@pytest.mark.parametrize("name", ["cnn_mnist", "resnet20_cifar10"])
def test_a_convolutional_network_is_refused_with_the_tflite_way(name):
    with pytest.raises(zoo.QuantizationError, match=r"head only.*Conv2D.*--format tflite --quantization int8"):
        zoo.get(name, quantize="int8")


@pytest.mark.any_backend
def test_bad_modes_and_a_second_quantization_are_refused():
    with pytest.raises(zoo.QuantizationError, match="unknown quantization 'int4'; .* int8"):
        zoo.get("mlp_mnist", quantize="int4")
    model = zoo.get("mlp_mnist", compile=False, quantize="int8")
    with pytest.raises(zoo.QuantizationError, match="already quantized"):
        quantizing.quantize(model, "int8")
    with pytest.raises(zoo.ExportError, match="quantized already"):
        zoo.export(model, "unused.keras", format="keras", quantization="int8")
    with pytest.raises(zoo.ExportError, match="float16.*applies to format='tflite' only"):
        zoo.export("mlp_mnist", "unused.keras", format="keras", quantization="float16")


def test_the_int8_saved_model_serves_the_quantized_answer_and_leaves_the_model_alone(vit, tmp_path):
    path = zoo.export(vit, tmp_path / "vit", quantization="int8")
    assert _int8_layers(vit) == []  # the caller's model: quantized in a copy
    card = exporting.load_card(path)
    assert card["quantization"]["mode"] == "int8" and len(card["quantization"]["layers"]) == 25
    images = _images(16)
    served = tf.saved_model.load(str(path)).signatures["serving_default"](image=tf.constant(images))
    want = zoo.get("vit_mnist", pretrained=True, compile=False, quantize="int8").predict(images, verbose=0)
    np.testing.assert_allclose(served["probabilities"].numpy(), want, atol=1e-5)


@pytest.mark.any_backend
def test_the_int8_keras_archive_is_smaller_and_reloads(tmp_path):
    plain = zoo.export("mlp_mnist", tmp_path / "f.keras", format="keras")
    small = zoo.export("mlp_mnist", tmp_path / "q.keras", format="keras", quantization="int8")
    assert small.stat().st_size < 0.35 * plain.stat().st_size  # all Dense: int8 kernels, float scales
    model = keras.saving.load_model(small)
    assert len(_int8_layers(model)) == 4
    images = _images(8)
    want = zoo.get("mlp_mnist", pretrained=True, compile=False, quantize="int8").predict(images, verbose=0)
    np.testing.assert_allclose(model.predict(images, verbose=0), want, atol=1e-6)


@pytest.mark.slow
def test_int8_keeps_the_card_accuracy_on_the_real_test_split(real_data_dir):
    plain = zoo.evaluate("mlp_mnist", data_dir=real_data_dir)
    int8 = zoo.evaluate("mlp_mnist", data_dir=real_data_dir, quantize="int8")
    assert int8["num_examples"] == plain["num_examples"] == 10_000
    assert abs(int8["accuracy"] - plain["accuracy"]) < 0.005


def test_the_cli_quantizes_and_refuses_in_one_line(cli, tmp_path, real_data_dir):
    result = cli("export", "cnn_mnist", str(tmp_path / "c.keras"), "--format", "keras", "--quantization", "int8")
    assert result.returncode != 0 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "cannot be quantized to int8 by Keras" in result.stderr
    assert not (tmp_path / "c.keras").exists()
    result = cli("evaluate", "mlp_mnist", "--quantize", "int8", "--json", "--data-dir", str(real_data_dir))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accuracy"] > 0.97


@pytest.mark.any_backend
def test_an_int8_model_whose_quantized_layers_sit_inside_blocks_is_not_archived(vit, tmp_path):
    """vit_mnist's quantized Dense layers live inside its encoder blocks, which rebuild them in float32 from a
    .keras archive: the int8 .keras export is refused (the TensorFlow SavedModel above works)."""
    with pytest.raises(zoo.ExportError, match="cannot go through a .keras archive"):
        zoo.export(vit, tmp_path / "v.keras", format="keras", quantization="int8")
    assert list(tmp_path.iterdir()) == []
    model = zoo.get("vit_mnist", pretrained=True, compile=False, quantize="int8")
    model.save(tmp_path / "direct.keras")
    with pytest.raises(ValueError, match="expected 2 variables, but received 3"):  # what the refusal spares
        keras.saving.load_model(tmp_path / "direct.keras")


@pytest.mark.any_backend
def test_quantizing_collects_garbage_once_not_once_a_layer(monkeypatch):
    """Keras' quantize runs gc.collect() for every layer it quantizes, each as slow as the process is large
    (docs/KNOWN_ISSUES.md); zoo's quantize puts them off to one at the end."""
    import gc

    model = zoo.get("mlp_mnist", pretrained=True, compile=False)
    calls = []
    monkeypatch.setattr(gc, "collect", lambda *args, **kwargs: calls.append(args) or 0)
    account = quantizing.quantize(model, "int8")
    assert len(account["quantized"]) == 4 and len(calls) == 1
    assert gc.collect(0) == 0 and len(calls) == 2  # the caller's collect is in place again
