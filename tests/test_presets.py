"""Presets (issue 29, item 6): zoo's entries written as keras-hub presets with a model card, and presets read from
local folders and from hub handles (``hf://``, ``kaggle://``, served here by a local HTTP server: nothing reaches a
real hub), every file checked against a recorded sha256 before anything is loaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import zoo
from tests._datafiles import write_imdb
from tests.test_training import write_learnable_mnist
from zoo import presets
from zoo.errors import ExportError, WeightsError

IMAGES = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28, 1)).astype("uint8")
TEXTS = ["a wonderful film, truly moving", "dull, slow and far too long", ""]


@pytest.fixture(scope="module")
def cnn_preset(tmp_path_factory) -> Path:
    return zoo.export("cnn_mnist", tmp_path_factory.mktemp("presets") / "cnn_mnist", format="preset")


@pytest.fixture(scope="module")
def text_preset(tmp_path_factory) -> Path:
    return zoo.export("lstm_imdb", tmp_path_factory.mktemp("presets") / "lstm_imdb", format="preset")


def front_matter(readme: Path) -> dict:
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def copy_of(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / folder.name))


# -- writing -----------------------------------------------------------------------------------------------

def test_an_image_entry_is_written_as_a_preset_with_its_card_and_every_file_recorded(cnn_preset):
    files = {p.relative_to(cnn_preset).as_posix() for p in cnn_preset.rglob("*") if p.is_file()}
    assert files == {"config.json", "model.weights.h5", "metadata.json", "README.md", "zoo_card.json",
                     "zoo_preset.json"}
    record = json.loads((cnn_preset / "zoo_preset.json").read_text())
    assert set(record["files"]) == files - {"zoo_preset.json"} and record["model"] == "cnn_mnist"
    assert record["files"]["model.weights.h5"] == zoo._io.sha256_file(cnn_preset / "model.weights.h5")
    meta = front_matter(cnn_preset / "README.md")
    released = zoo.info("cnn_mnist").weights[0]
    assert meta["library_name"] == "keras-hub" and meta["pipeline_tag"] == "image-classification"
    assert meta["license"] == released.license.lower() and meta["datasets"] == ["mnist"]
    result = meta["model-index"][0]["results"][0]
    assert {m["type"]: m["value"] for m in result["metrics"]}["accuracy"] == released.metrics["accuracy"]
    readme = (cnn_preset / "README.md").read_text()
    assert "## Recipe" in readme and released.full_name in readme
    card = json.loads((cnn_preset / "zoo_card.json").read_text())
    assert card["name"] == "cnn_mnist" and card["weights"] == released.full_name
    assert card["built_hparams"]["filters"] == list(released.hparams.get("filters", zoo.info("cnn_mnist").hparams["filters"]))


def test_a_preset_loads_back_as_the_same_compiled_model(cnn_preset):
    model = zoo.get(str(cnn_preset))
    reference = zoo.get("cnn_mnist", pretrained=True)
    np.testing.assert_array_equal(model.predict(IMAGES, verbose=0), reference.predict(IMAGES, verbose=0))
    assert model.compiled and model.zoo_name == "cnn_mnist"
    assert zoo.predict(cnn_preset, IMAGES[:1])[0]["top_k"][0]["class_id"] == int(
        reference.predict(IMAGES[:1], verbose=0).argmax())


def test_a_text_preset_is_keras_hubs_and_loads_through_both(text_preset):
    import keras_hub

    assert (text_preset / "task.json").is_file() and (text_preset / "assets").is_dir()
    assert front_matter(text_preset / "README.md")["pipeline_tag"] == "text-classification"
    reference = zoo.get("lstm_imdb", pretrained=True).predict(TEXTS, verbose=0)
    np.testing.assert_allclose(zoo.get(text_preset).predict(TEXTS, verbose=0), reference, atol=1e-6)
    by_hub = keras_hub.models.TextClassifier.from_preset(str(text_preset))
    np.testing.assert_allclose(by_hub.predict(TEXTS, verbose=0), reference, atol=1e-6)


def test_a_preset_of_a_language_model_loads_as_a_causal_lm_and_generates(tmp_path):
    folder = zoo.export("gpt_shakespeare", tmp_path / "gpt", format="preset")
    assert front_matter(folder / "README.md")["pipeline_tag"] == "text-generation"
    model = zoo.get(str(folder))
    assert zoo.generate(model, "ROMEO:", max_length=20) == zoo.generate("gpt_shakespeare", "ROMEO:", max_length=20)


def test_export_as_a_preset_refuses_quantization_and_an_existing_folder(cnn_preset, tmp_path):
    with pytest.raises(ExportError, match="quantize where it is loaded"):
        zoo.export("cnn_mnist", tmp_path / "q", format="preset", quantization="int8")
    with pytest.raises(ExportError, match="exists"):
        zoo.export("cnn_mnist", cnn_preset, format="preset")
    assert not (tmp_path / "q").exists()


# -- verifying ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change", ["changed", "missing", "added"])
def test_a_preset_whose_files_changed_is_refused_naming_the_file(cnn_preset, tmp_path, change):
    folder = copy_of(cnn_preset, tmp_path)
    if change == "changed":
        data = bytearray((folder / "model.weights.h5").read_bytes())
        data[-100] ^= 0xFF
        (folder / "model.weights.h5").write_bytes(bytes(data))
        expected = "model.weights.h5 was changed"
    elif change == "missing":
        (folder / "metadata.json").unlink()
        expected = "metadata.json is missing"
    else:
        (folder / "extra.weights.h5").write_bytes(b"x")
        expected = "extra.weights.h5 that its record does not list"
    with pytest.raises(WeightsError, match=expected):
        zoo.get(str(folder))


def test_a_preset_can_be_pinned_whole_by_its_records_sha256(cnn_preset):
    digest = zoo._io.sha256_file(cnn_preset / "zoo_preset.json")
    assert zoo.get(str(cnn_preset), weights_sha256=digest).zoo_name == "cnn_mnist"
    with pytest.raises(WeightsError, match="not the 0+ asked for"):
        zoo.get(str(cnn_preset), weights_sha256="0" * 64)


def test_a_preset_takes_no_hyper_parameters_and_a_bad_source_is_refused(cnn_preset, tmp_path):
    with pytest.raises(ValueError, match="num_classes cannot be given"):
        zoo.get(str(cnn_preset), num_classes=3)
    with pytest.raises(WeightsError, match="not a preset folder"):
        presets.fetch(tmp_path)
    with pytest.raises(WeightsError, match="hf://org/name"):
        presets.fetch("hf://just-a-name")
    with pytest.raises(WeightsError, match="kaggle://owner/model/keras/variant"):
        presets.fetch("kaggle://owner/model")
    with pytest.raises(WeightsError, match="holds cnn_mnist, not lstm_imdb"):
        zoo.get("lstm_imdb", pretrained=str(cnn_preset))


def test_a_registered_name_wins_over_a_folder_of_that_name(cnn_preset, tmp_path, monkeypatch):
    shutil.copytree(cnn_preset, tmp_path / "mlp_mnist")
    monkeypatch.chdir(tmp_path)
    assert zoo.get("mlp_mnist").zoo_name == "mlp_mnist"


# -- starting from a preset --------------------------------------------------------------------------------

def test_an_entry_starts_from_a_preset_of_it_with_a_new_head_where_the_classes_differ(cnn_preset):
    preset = zoo.get(str(cnn_preset))
    model = zoo.get("cnn_mnist", pretrained=str(cnn_preset), num_classes=3)
    np.testing.assert_array_equal(model.get_layer("stage1_conv").get_weights()[0],
                                  preset.get_layer("stage1_conv").get_weights()[0])
    assert model.output_shape == (None, 3) and "untrained head of 3 classes" in model.zoo_untrained_head


@pytest.mark.slow
def test_training_starts_from_a_preset(cnn_preset, tmp_path):
    data = write_learnable_mnist(tmp_path / "data", n_train=64, n_test=32)
    result = zoo.train("cnn_mnist", preset=str(cnn_preset), epochs=1, batch_size=32, data_dir=data,
                       learning_rate=1e-12, model_dir=tmp_path / "run", verbose=0, test=False)
    np.testing.assert_allclose(result.model.get_layer("stage1_conv").get_weights()[0],
                               zoo.get(str(cnn_preset)).get_layer("stage1_conv").get_weights()[0], atol=1e-6)
