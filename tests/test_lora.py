"""LoRA through keras-hub's enable_lora: zoo.train(lora_rank=) trains the adapters (and the head, and the
adapted projections' biases) alone, says how
many parameters train, writes the adapters and head alone, and zoo.get(lora=) puts them back on the pretrained
body; the entries without attention are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

import zoo
from tests.test_folders import write_text_folder


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lora")
    root = write_text_folder(tmp / "texts")
    before = zoo.get("transformer_imdb", pretrained=True, compile=False)
    result = zoo.train("transformer_imdb", data=root, model_dir=tmp / "run", epochs=2, batch_size=8,
                       validation_split=0.3, verbose=0, lora_rank=4, learning_rate=1e-2)
    return before, result


@pytest.mark.slow
@pytest.mark.any_backend
def test_only_the_adapters_and_the_head_train(lora_run):
    before, result = lora_run
    recorded = json.loads(result.paths["metrics"].read_text())["lora"]
    blocks = before.backbone.num_layers
    assert recorded["rank"] == 4 and recorded["adapted_layers"] == 2 * blocks  # each block's query and value
    assert recorded["parameters"] == result.model.count_params()
    assert 0 < recorded["trainable_parameters"] < 0.001 * recorded["parameters"]
    adapted = {layer.path for layer in result.model.backbone._flatten_layers() if getattr(layer, "lora_enabled", 0)}
    assert len(adapted) == 2 * blocks
    frozen = {w.path: np.asarray(w) for w in before.backbone.weights}
    for w in result.model.backbone.weights:  # all but the adapted projections (their adapters and biases)
        if w.path.rsplit("/", 1)[0] not in adapted:
            np.testing.assert_array_equal(np.asarray(w), frozen[w.path], err_msg=w.path)


@pytest.mark.slow
@pytest.mark.any_backend
def test_the_adapters_and_head_load_alone_onto_the_pretrained_body(lora_run, tmp_path):
    _, result = lora_run
    folder = result.paths["model_dir"]
    sizes = {p.name: p.stat().st_size for p in folder.glob("lora*")}
    assert set(sizes) == {"lora.lora.h5", "lora_trained.npz"} and sum(sizes.values()) < 200_000
    again = zoo.get("transformer_imdb", pretrained=True, num_classes=3, lora=folder, compile=False)
    adapters = [layer for layer in again.backbone._flatten_layers() if getattr(layer, "lora_enabled", False)]
    assert adapters and all(np.abs(np.asarray(layer.lora_kernel_b)).max() > 0 for layer in adapters)  # trained
    texts = ["a wonderful superb delight", "awful dreadful boring", "strange odd weird"]
    np.testing.assert_allclose(again.predict(texts, verbose=0), result.model.predict(texts, verbose=0), atol=1e-6)
    with pytest.raises(zoo.WeightsError, match="probabilities/kernel of shape .* give num_classes="):
        zoo.get("transformer_imdb", pretrained=True, lora=folder, compile=False)
    with pytest.raises(zoo.WeightsError, match="no lora.lora.h5"):
        zoo.get("transformer_imdb", pretrained=True, lora=tmp_path, compile=False)


@pytest.mark.parametrize("name", ["lstm_imdb", "cnn_mnist"])
def test_an_entry_without_attention_is_refused(name, tmp_path):
    with pytest.raises(ValueError, match=r"LoRA fine-tunes .*transformer_imdb"):
        zoo.train(name, epochs=1, model_dir=tmp_path / "run", lora_rank=4, verbose=0)


def test_the_cli_refuses_a_rank_of_zero(cli):
    result = cli("train", "transformer_imdb", "--lora-rank", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
