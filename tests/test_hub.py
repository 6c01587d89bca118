"""The entries backed by keras-hub presets (BERT, GPT-2, ViT), driven through the real zoo code with tiny
backbones and tokenizers saved as local presets: the preset hub cannot be reached here, and no test needs it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import warnings

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import zoo
from tests._datafiles import write_imdb, write_tiny_shakespeare
from tests.conftest import run_cli
from zoo.models import hub

HUB_MODELS = zoo.list_models(exclude=[n for n in zoo.list_models() if not zoo.info(n).presets])
TEXTS = ["the film was good", "awful , the plot was bad", ""]
BERT_VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'") + [
    "the", "film", "good", "bad", "was", "plot", "awful", "great", "movie", "and", "##s", "##ing"]


@pytest.fixture(scope="module")
def bert_preset(tmp_path_factory):
    keras.utils.set_random_seed(0)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=BERT_VOCABULARY, lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=32)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(BERT_VOCABULARY), num_layers=2, num_heads=2,
                                             hidden_dim=16, intermediate_dim=32, max_sequence_length=64)
    folder = tmp_path_factory.mktemp("presets") / "tiny_bert"
    keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=preprocessor).save_to_preset(str(folder))
    return folder


def _gpt2_tokenizer():
    from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

    byte_tokens = list(dict.fromkeys(bytes_to_unicode()[1]))  # every byte has a token: any text tokenises
    merges = ["Ġ t", "h e", "Ġt he", "e r", "o u"]
    vocabulary = {t: i for i, t in enumerate(["<|endoftext|>", *byte_tokens, "Ġt", "he", "Ġthe", "er", "ou"])}
    return keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)


@pytest.fixture(scope="module")
def gpt2_preset(tmp_path_factory):
    keras.utils.set_random_seed(0)
    tokenizer = _gpt2_tokenizer()
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=32)
    backbone = keras_hub.models.GPT2Backbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=2, num_heads=2,
                                             hidden_dim=16, intermediate_dim=32, max_sequence_length=64)
    folder = tmp_path_factory.mktemp("presets") / "tiny_gpt2"
    keras_hub.models.GPT2CausalLM(backbone, preprocessor=preprocessor).save_to_preset(str(folder))
    return folder


@pytest.fixture(scope="module")
def vit_preset(tmp_path_factory):
    keras.utils.set_random_seed(0)
    converter = keras_hub.layers.ViTImageConverter(image_size=(16, 16), scale=1 / 127.5, offset=-1.0)
    preprocessor = keras_hub.models.ViTImageClassifierPreprocessor(image_converter=converter)
    backbone = keras_hub.models.ViTBackbone(image_shape=(16, 16, 3), patch_size=4, num_layers=2, num_heads=2,
                                            hidden_dim=16, mlp_dim=32)
    folder = tmp_path_factory.mktemp("presets") / "tiny_vit"
    keras_hub.models.ViTImageClassifier(backbone, num_classes=10, preprocessor=preprocessor).save_to_preset(str(folder))
    return folder


# -- cards -------------------------------------------------------------------------------------------------

def test_the_three_hub_entries_are_registered_with_their_presets():
    assert set(HUB_MODELS) == {"bert_classifier", "gpt2_lm", "vit_classifier"}
    assert "gpt2_lm" in zoo.list_models(pretrained=True)  # the classifiers' presets are backbones only
    assert zoo.list_models(pretrained="backbone") == ["bert_classifier", "vit_classifier"]
    assert {p.name for p in zoo.info("bert_classifier").presets} >= {"bert_tiny_en_uncased", "bert_base_en_uncased"}


@pytest.mark.parametrize("name", HUB_MODELS)
def test_cards_name_keras_hubs_presets_with_its_parameter_counts(name):
    from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS

    card = zoo.info(name)
    assert card.hparams["preset"] == card.presets[0].name
    for preset in card.presets:
        assert preset.name in BUILTIN_PRESETS, preset.name
        assert preset.num_params == BUILTIN_PRESETS[preset.name]["metadata"]["params"]
        assert preset.license and preset.source and preset.trained_on
        assert bool(preset.reported_metrics) == bool(preset.reported_source)  # a figure always names its source
    # The card's count: the default preset's backbone plus zoo's head on its outputs.
    head = {"bert_classifier": 128 * 2 + 2, "gpt2_lm": 0, "vit_classifier": 768 * 10 + 10}[name]
    assert card.num_params == card.presets[0].num_params + head
    text = str(card)
    assert "not measured by zoo" in text or not any(p.reported_metrics for p in card.presets)
    assert json.loads(card.to_json())["presets"][0]["name"] == card.presets[0].name


# -- BERT ---------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_get_loads_the_presets_weights_only_when_pretrained(bert_preset):
    saved = keras_hub.models.BertBackbone.from_preset(str(bert_preset))
    fresh = zoo.get("bert_classifier", preset=str(bert_preset))
    loaded = zoo.get("bert_classifier", preset=str(bert_preset), pretrained=True)
    assert isinstance(loaded, keras_hub.models.BertTextClassifier)
    for want, got in zip(saved.weights, loaded.backbone.weights):
        np.testing.assert_array_equal(want.numpy(), got.numpy())
    assert not all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(saved.weights, fresh.backbone.weights))
    assert loaded.optimizer is not None and isinstance(loaded.optimizer, keras.optimizers.AdamW)  # the recipe's
    three = zoo.get("bert_classifier", preset=str(bert_preset), pretrained=True, num_classes=3, sequence_length=16)
    assert three.num_classes == 3 and three.preprocessor.sequence_length == 16


@pytest.mark.slow
def test_bert_takes_raw_strings_and_answers_probabilities(bert_preset):
    model = zoo.get("bert_classifier", preset=str(bert_preset), pretrained=True, compile=False)
    texts = [t for t in TEXTS if t.strip()]  # an empty text is refused (tests/test_inputs.py)
    with pytest.warns(zoo.UntrainedHeadWarning, match="holds a backbone only.*predict gives chance-level"):
        results = zoo.predict(model, texts, top_k=2)
    assert [r["input"] for r in results] == texts
    for r in results:
        assert [c["class_name"] for c in r["top_k"]] in (["negative", "positive"], ["positive", "negative"])
        assert sum(c["probability"] for c in r["top_k"]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_a_short_fine_tune_through_zoo_train_lowers_the_loss(bert_preset, tmp_path):
    root = write_imdb(tmp_path / "data", n_train=40, n_test=10)
    result = zoo.train("bert_classifier", preset=str(bert_preset), data="imdb_reviews", data_dir=root,
                       model_dir=tmp_path / "run", epochs=4, batch_size=8, learning_rate=3e-3, verbose=0)
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert set(result.test_metrics) >= {"loss", "accuracy"}
    assert result.paths["best_weights"].is_file() and result.paths["curves"].is_file()
    # the fine-tuned weights load back into the entry (a path: weights only, built from the preset's config)
    again = zoo.get("bert_classifier", preset=str(bert_preset), pretrained=str(result.paths["best_weights"]))
    np.testing.assert_allclose(again.predict(TEXTS, verbose=0), result.model.predict(TEXTS, verbose=0), atol=1e-5)
    metrics = zoo.evaluate("bert_classifier", preset=str(bert_preset), pretrained=str(result.paths["best_weights"]),
                           data_dir=root)
    assert metrics["accuracy"] == pytest.approx(result.test_metrics["accuracy"], abs=1e-6)


@pytest.mark.slow
def test_saved_model_of_bert_takes_strings_and_agrees_in_a_fresh_process(bert_preset, tmp_path):
    model = zoo.get("bert_classifier", preset=str(bert_preset), pretrained=True, compile=False)
    path = zoo.export(model, tmp_path / "served")
    expected = model.predict(TEXTS, verbose=0)
    script = textwrap.dedent(f"""
        import json, tensorflow as tf
        import tensorflow_text  # noqa: F401  (the tokenizer's ops)
        serve = tf.saved_model.load({str(path)!r}).signatures["serving_default"]
        out = serve(text=tf.constant({TEXTS!r}))
        print(json.dumps({{"p": out["probabilities"].numpy().tolist(),
                           "names": [n.decode() for n in out["class_name"].numpy()]}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(got["p"], expected, atol=1e-5)
    assert got["names"] == [("negative", "positive")[i] for i in expected.argmax(axis=1)]


# -- GPT-2 --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gpt2_run(gpt2_preset, tmp_path_factory):
    """A short fine-tune of the tiny GPT-2 on a small corpus, through zoo.train."""
    tmp = tmp_path_factory.mktemp("gpt2_run")
    root = write_tiny_shakespeare(tmp / "data", n_chars=6_000)
    return zoo.train("gpt2_lm", preset=str(gpt2_preset), data_dir=root, model_dir=tmp / "run", epochs=3,
                     batch_size=8, learning_rate=3e-3, sequence_length=16, verbose=0)


@pytest.mark.slow
def test_gpt2_fine_tunes_on_a_corpus_and_reports_perplexity(gpt2_run):
    assert gpt2_run.history["loss"][-1] < gpt2_run.history["loss"][0]
    assert gpt2_run.test_metrics["perplexity"] == pytest.approx(np.exp(gpt2_run.test_metrics["loss"]), rel=1e-5)


@pytest.mark.slow
def test_gpt2_generation_is_deterministic_under_a_seed(gpt2_run):
    model = gpt2_run.model
    # keras-hub stops at GPT-2's end token, which this tiny model still ranks high: sampled runs may stop early.
    sampled = {seed: zoo.generate(model, "the tower", max_length=20, sampler="top_k", top_k=5, seed=seed)
               for seed in range(3)}
    assert zoo.generate(model, "the tower", max_length=20, sampler="top_k", top_k=5, seed=1) == sampled[1]
    greedy = zoo.generate(model, "the tower", max_length=20, sampler="greedy")
    for text in [*sampled.values(), greedy]:
        assert text.startswith("the tower") and len(text) <= 20  # characters, as for zoo's own models
    model.compile(sampler=keras_hub.samplers.GreedySampler())  # keras-hub's own generate, the same sampler
    tokens = len(model.preprocessor.tokenizer("the tower")) + 1 + 20 - len("the tower")  # a token: >= 1 character
    assert model.generate("the tower", max_length=tokens)[:20] == greedy
    too_short = "it must be an integer above the prompt.s 9 characters, got 2"
    with pytest.raises(ValueError, match=too_short):
        zoo.generate(model, "the tower", max_length=2)
    with pytest.raises(ValueError, match="must not be empty"):
        zoo.generate(model, "")


@pytest.mark.slow
def test_saved_model_of_gpt2_takes_strings_and_answers_its_logits(gpt2_preset, tmp_path):
    model = zoo.get("gpt2_lm", preset=str(gpt2_preset), pretrained=True, compile=False, sequence_length=16)
    path = zoo.export(model, tmp_path / "gpt2")
    texts = ["the tower", "a longer text than the other one"]
    served = tf.saved_model.load(str(path)).signatures["serving_default"](text=tf.constant(texts))
    expected = model(model.preprocessor.generate_preprocess(tf.constant(texts)), training=False)
    assert served["logits"].shape == (2, 16, model.backbone.vocabulary_size)
    np.testing.assert_allclose(served["logits"].numpy(), np.asarray(expected), atol=1e-4)


@pytest.mark.slow
def test_cli_generates_with_a_local_preset(gpt2_preset):
    done = run_cli("generate", "gpt2_lm", "the", "--preset", str(gpt2_preset), "--max-length", "12",
                   "--sampler", "top_k", "--seed", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("the")


# -- ViT ----------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_vit_takes_uint8_images_and_exports(vit_preset, tmp_path):
    model = zoo.get("vit_classifier", preset=str(vit_preset), pretrained=True, compile=False)
    images = np.random.default_rng(0).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    probs = model.predict(images.astype(np.float32), verbose=0)
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    results = zoo.predict(model, images, top_k=10)
    assert results[0]["top_k"][0]["class_name"] in zoo.info("vit_classifier").output.class_names
    path = zoo.export(model, tmp_path / "vit")
    served = tf.saved_model.load(str(path)).signatures["serving_default"](image=tf.constant(images))
    np.testing.assert_allclose(served["probabilities"].numpy(), probs, atol=1e-5)
    # zoo.predict on the uint8 pixels gives the served answer (keras-hub's own eager path rounds them)
    by_id = np.array([[t["probability"] for t in sorted(r["top_k"], key=lambda t: t["class_id"])] for r in results])
    np.testing.assert_allclose(by_id, served["probabilities"].numpy(), atol=1e-5)


def test_keras_hubs_image_converter_rounds_uint8_pixels_when_run_eagerly():
    """The keras-hub behaviour zoo.predict works round (docs/KNOWN_ISSUES.md): if this starts failing, keras-hub
    has fixed it, and zoo.predict's float cast can go."""
    converter = keras_hub.layers.ViTImageConverter(image_size=(16, 16), scale=1 / 127.5, offset=-1.0)
    images = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    as_floats = np.asarray(converter(images.astype(np.float32)))
    np.testing.assert_allclose(np.asarray(tf.function(converter)(tf.constant(images))), as_floats, atol=1e-6)
    assert np.abs(np.asarray(converter(images)) - as_floats).max() > 1e-3


# -- errors -------------------------------------------------------------------------------------------------

def test_offline_a_hub_preset_fails_at_once_with_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "empty_cache"))
    start = time.perf_counter()
    with pytest.raises(zoo.WeightsError, match="ZOO_OFFLINE=1.*preset='folder'"):
        zoo.get("bert_classifier", pretrained=True)
    assert time.perf_counter() - start < 5


def test_a_network_failure_becomes_a_weights_error(monkeypatch):
    import requests

    def unreachable(*args, **kwargs):
        raise requests.exceptions.ConnectionError("Failed to resolve 'api.kaggle.com'")

    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    monkeypatch.setattr(keras_hub.models.GPT2CausalLM, "from_preset", unreachable)
    with pytest.raises(zoo.WeightsError, match="could not fetch keras-hub preset 'gpt2_base_en'.*local preset folder"):
        zoo.get("gpt2_lm", pretrained=True)


def test_bad_presets_get_clear_errors(tmp_path, bert_preset, gpt2_preset):
    with pytest.raises(ValueError, match="unknown preset 'bert_huge'.*bert_tiny_en_uncased"):
        zoo.get("bert_classifier", preset="bert_huge")
    with pytest.raises(zoo.WeightsError, match="does not exist"):
        zoo.get("bert_classifier", preset=str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(zoo.WeightsError, match="not a keras-hub preset folder"):
        zoo.get("bert_classifier", preset=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="does not fit BertTextClassifier"):
        zoo.get("bert_classifier", preset=str(gpt2_preset))
    with pytest.raises(zoo.WeightsError, match="no weight sets trained by zoo.*preset="):
        zoo.get("bert_classifier", pretrained="imdb_v9", preset=str(bert_preset))


@pytest.mark.slow
def test_training_on_a_dataset_of_another_kind_is_refused(bert_preset):
    with pytest.raises(ValueError, match="cannot train on mnist.*imdb_reviews"):
        zoo.train("bert_classifier", preset=str(bert_preset), data="mnist", epochs=1)
    done = run_cli("train", "bert_classifier", "--data", "cifar100", "--preset", str(bert_preset))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == ("zoo: error: unknown dataset 'cifar100'; bert_classifier can "
                                                    "train on: imdb_reviews, or a folder with one subfolder per "
                                                    "class")


def test_hub_module_tells_tasks_from_zoos_own_models(bert_preset):
    assert hub.is_task(zoo.get("bert_classifier", preset=str(bert_preset), compile=False))
    assert not hub.is_task(zoo.get("cnn_mnist", compile=False))


@pytest.mark.slow
def test_an_untrained_head_is_said_plainly_and_a_users_weights_silence_it(bert_preset, tmp_path):
    model = zoo.get("bert_classifier", preset=str(bert_preset), pretrained=True, compile=False)
    with pytest.warns(zoo.UntrainedHeadWarning, match="the export"):
        zoo.export(model, tmp_path / "served")
    path = tmp_path / "mine.weights.h5"
    model.save_weights(str(path))  # weights of the user's own: their business
    mine = zoo.get("bert_classifier", preset=str(bert_preset), pretrained=str(path), compile=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", zoo.UntrainedHeadWarning)
        zoo.predict(mine, TEXTS[:1])
    done = run_cli("predict", "bert_classifier", "--preset", str(bert_preset), TEXTS[0])
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "UntrainedHead" in line or "zoo: warning" in line]
    assert len(said) == 1 and said[0].startswith("zoo: warning: bert_classifier: the preset"), done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    # BERT's compilation takes about two minutes here: with the minutes-long checks of `make test-release`
    pytest.param("bert_classifier", marks=pytest.mark.release), "gpt2_lm", "vit_classifier"])
def test_hub_entries_train_under_xla(name, bert_preset, gpt2_preset, vit_preset):
    """`zoo train NAME --jit-compile` for the preset entries: the recipe's compile with XLA takes a fit on raw
    inputs (the preprocessor runs in tf.data, outside the compiled step)."""
    from zoo import recipes

    folder = {"bert_classifier": bert_preset, "gpt2_lm": gpt2_preset, "vit_classifier": vit_preset}[name]
    model = zoo.get(name, preset=str(folder), compile=False)
    recipes.compile_model(model, zoo.info(name).recipe, steps=2, jit_compile=True)
    if name == "vit_classifier":
        data = (np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3), dtype="uint8"), np.arange(8) % 10)
    elif name == "bert_classifier":
        data = (tf.constant(TEXTS * 3), tf.constant([1, 0, 0] * 3))
    else:
        data = (tf.constant(TEXTS[:2] * 4),)
    history = model.fit(tf.data.Dataset.from_tensor_slices(data).batch(4), epochs=1, verbose=0)
    assert model.jit_compile is True and np.isfinite(history.history["loss"][-1])
