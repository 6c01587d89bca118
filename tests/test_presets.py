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


@pytest.mark.any_backend  # a preset written and read on JAX too (its Keras files are backend-neutral)
def test_a_preset_loads_back_as_the_same_compiled_model(cnn_preset):
    model = zoo.get(str(cnn_preset))
    reference = zoo.get("cnn_mnist", pretrained=True)
    np.testing.assert_array_equal(model.predict(IMAGES, verbose=0), reference.predict(IMAGES, verbose=0))
    assert model.compiled and model.zoo_name == "cnn_mnist"
    assert zoo.predict(cnn_preset, IMAGES[:1])[0]["top_k"][0]["class_id"] == int(
        reference.predict(IMAGES[:1], verbose=0).argmax())


@pytest.mark.any_backend  # a preset written and read on JAX too (its Keras files are backend-neutral)
def test_a_text_preset_is_keras_hubs_and_loads_through_both(text_preset):
    import keras_hub

    assert (text_preset / "task.json").is_file() and (text_preset / "assets").is_dir()
    assert front_matter(text_preset / "README.md")["pipeline_tag"] == "text-classification"
    reference = zoo.get("lstm_imdb", pretrained=True).predict(TEXTS, verbose=0)
    np.testing.assert_allclose(zoo.get(text_preset).predict(TEXTS, verbose=0), reference, atol=1e-6)
    by_hub = keras_hub.models.TextClassifier.from_preset(str(text_preset))
    np.testing.assert_allclose(by_hub.predict(TEXTS, verbose=0), reference, atol=1e-6)


@pytest.mark.any_backend  # a preset written and read on JAX too (its Keras files are backend-neutral)
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


# -- from a hub: a local HTTP server in the place of the Hugging Face Hub and Kaggle Models -----------------

@pytest.fixture
def hub(tmp_path, monkeypatch, zoo_home):
    from tests._hubserver import HubServer, point_clients_at

    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    with HubServer() as server:
        point_clients_at(server, monkeypatch, tmp_path / "caches")
        yield server


def republish(folder: Path) -> None:
    """Change the weights and write a record that matches them: the preset is consistent in itself, but not
    what this machine loaded the first time."""
    data = bytearray((folder / "model.weights.h5").read_bytes())
    data[-100] ^= 0xFF
    (folder / "model.weights.h5").write_bytes(bytes(data))
    record = json.loads((folder / "zoo_preset.json").read_text())
    record["files"]["model.weights.h5"] = zoo._io.sha256_file(folder / "model.weights.h5")
    (folder / "zoo_preset.json").write_text(json.dumps(record))


@pytest.mark.any_backend  # a preset written and read on JAX too (its Keras files are backend-neutral)
def test_a_preset_on_the_hugging_face_hub_loads_checked_and_a_later_change_is_refused(cnn_preset, hub, tmp_path,
                                                                                      zoo_home):
    served = copy_of(cnn_preset, tmp_path)
    hub.add_hf("zoo-org/cnn_mnist", served)
    model = zoo.get("hf://zoo-org/cnn_mnist")
    reference = zoo.get(str(cnn_preset))
    np.testing.assert_array_equal(model.predict(IMAGES, verbose=0), reference.predict(IMAGES, verbose=0))
    assert model.zoo_name == "cnn_mnist" and any("/resolve/" in r and r.endswith("model.weights.h5")
                                                  for r in hub.requests)
    first_use = presets.first_use_record("hf://zoo-org/cnn_mnist")
    assert first_use.is_file() and first_use.is_relative_to(zoo_home)
    assert zoo.get("hf://zoo-org/cnn_mnist").zoo_name == "cnn_mnist"  # unchanged: loads again
    republish(served)
    with pytest.raises(WeightsError, match="model.weights.h5 was changed.*changed since this machine first loaded"):
        zoo.get("hf://zoo-org/cnn_mnist")
    (served / "model.weights.h5").write_bytes(b"not the weights")  # and against the preset's own record
    with pytest.raises(WeightsError, match=r"zoo_preset.json\).*model.weights.h5 was changed"):
        zoo.get("hf://zoo-org/cnn_mnist")


def test_a_preset_on_kaggle_loads_by_its_handle_and_a_changed_version_is_refused(cnn_preset, hub, tmp_path):
    served = copy_of(cnn_preset, tmp_path)
    hub.add_kaggle("zoo-org/cnn-mnist/keras/default", served)
    assert zoo.get("kaggle://zoo-org/cnn-mnist/keras/default/1").zoo_name == "cnn_mnist"
    assert any("DownloadModelInstanceVersion" in r for r in hub.requests)
    changed = copy_of(served, tmp_path / "v2")
    (changed / "config.json").write_text((changed / "config.json").read_text().replace('"cnn_mnist"', '"other"'))
    hub.add_kaggle("zoo-org/cnn-mnist/keras/default", changed, version=2)
    with pytest.raises(WeightsError, match="config.json was changed"):
        zoo.get("kaggle://zoo-org/cnn-mnist/keras/default/2")


def test_an_unknown_hub_repository_is_a_clear_error(hub):
    with pytest.raises(WeightsError, match="no such model repository"):
        zoo.get("hf://zoo-org/no-such-model")
    with pytest.raises(WeightsError, match="could not fetch kaggle://zoo-org/none/keras/default"):
        zoo.get("kaggle://zoo-org/none/keras/default")


def test_a_keras_hub_entry_takes_a_hub_preset_recorded_at_first_use(hub, tmp_path):
    import keras_hub

    folder = tmp_path / "tiny_bert"
    _write_tiny_bert(folder)
    hub.add_hf("keras-org/tiny_bert", folder)
    model = zoo.get("bert_classifier", pretrained=True, preset="hf://keras-org/tiny_bert", num_classes=2)
    expected = keras_hub.models.BertTextClassifier.from_preset(str(folder), num_classes=2)
    assert model.backbone.count_params() == expected.backbone.count_params()
    assert presets.first_use_record("hf://keras-org/tiny_bert").is_file()
    (folder / "tokenizer.json").write_text((folder / "tokenizer.json").read_text().replace("true", "false", 1))
    with pytest.raises(WeightsError, match="tokenizer.json was changed"):
        zoo.get("bert_classifier", pretrained=True, preset="hf://keras-org/tiny_bert", num_classes=2)


def _write_tiny_bert(folder: Path) -> None:
    import keras
    import keras_hub

    from tests.test_hub import BERT_VOCABULARY

    keras.utils.set_random_seed(0)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=BERT_VOCABULARY, lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=16)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(BERT_VOCABULARY), num_layers=1, num_heads=2,
                                             hidden_dim=8, intermediate_dim=16, max_sequence_length=32)
    keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=preprocessor).save_to_preset(str(folder))


def test_the_cli_exports_a_preset_and_predicts_from_the_hub(cnn_preset, hub, tmp_path, cli):
    out = cli("export", "cnn_mnist", str(tmp_path / "exported"), "--format", "preset")
    assert out.returncode == 0 and "sha256 of zoo_preset.json" in out.stdout and "upload_preset" in out.stdout
    hub.add_hf("zoo-org/cnn", tmp_path / "exported")
    np.save(tmp_path / "digit.npy", IMAGES[0])
    out = cli("predict", "hf://zoo-org/cnn", str(tmp_path / "digit.npy"), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["top_k"][0]["class_name"] in [str(d) for d in range(10)]
    republish(tmp_path / "exported")
    out = cli("predict", "hf://zoo-org/cnn", str(tmp_path / "digit.npy"))
    last = out.stderr.strip().splitlines()[-1]  # after huggingface_hub's progress bar
    assert out.returncode != 0 and last.startswith("zoo: error") and "was changed" in last
    assert "Traceback" not in out.stderr
