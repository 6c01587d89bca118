"""The registry and the cards: listing, describing, registering, and the errors, all without TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import zoo
from tests.conftest import run_cli
from zoo.registry import InputSpec, ModelCard, OutputSpec, Recipe

CNNS = ["cnn_mnist", "mobilenet_v2_cifar10", "resnet20_cifar10", "resnet56_cifar10"]


def test_list_models_sorted_and_filtered():
    names = zoo.list_models()
    assert names == sorted(names)
    assert set(CNNS) <= set(names)
    assert zoo.list_models("cnn_*") == ["cnn_fashion_mnist", "cnn_mnist"]
    assert zoo.list_models("resnet*") == ["resnet20_cifar10", "resnet56_cifar10"]
    assert zoo.list_models(["cnn_m*", "resnet20*"]) == ["cnn_mnist", "resnet20_cifar10"]
    assert zoo.list_models(family="cnn") == sorted(n for n in names if zoo.info(n).family == "cnn")
    assert zoo.list_models(dataset="cifar10") == ["airbench_cifar10", "mobilenet_v2_cifar10", "resnet20_cifar10",
                                                  "resnet56_cifar10", "vit_classifier"]
    assert zoo.list_models(task="image-*", exclude="resnet*") == [
        "airbench_cifar10", "cnn_fashion_mnist", "cnn_mnist", "mlp_mnist", "mobilenet_v2_cifar10", "vit_classifier",
        "vit_mnist"]
    assert zoo.list_models(family="lstm") == ["char_lstm_shakespeare", "lstm_imdb"]
    assert zoo.list_models(family="mlp") == ["mlp_mnist"]
    assert zoo.list_models(family="transformer") == ["bert_classifier", "gpt2_lm", "gpt_shakespeare", "transformer_imdb",
                                                     "vit_classifier", "vit_mnist"]
    assert zoo.list_models(task="language-modeling") == ["char_lstm_shakespeare", "gpt2_lm", "gpt_shakespeare"]
    assert zoo.list_models("nothing_*") == []


def test_list_models_pretrained_filter_follows_manifest():
    whole = zoo.list_models(pretrained=True)
    backbone = zoo.list_models(pretrained="backbone")
    without = zoo.list_models(pretrained=False)
    assert not set(whole) & set(backbone) and not set(whole) & set(without) and not set(backbone) & set(without)
    assert set(whole) | set(backbone) | set(without) == set(zoo.list_models())
    for name in whole:  # zoo's own weight sets, or a keras-hub language model (its head is its embedding)
        assert zoo.info(name).weights or zoo.info(name).task == "language-modeling" and zoo.info(name).presets
    # keras-hub presets under a classifier head zoo puts on new: a backbone, not a pretrained classifier
    assert backbone == ["bert_classifier", "vit_classifier"]
    for name in backbone:
        card = zoo.info(name)
        assert card.pretrained_scope == "backbone only" and card.to_dict()["pretrained"] == "backbone only"
        assert "BACKBONE ONLY" in str(card)
    for name in without:
        assert not zoo.info(name).weights and not zoo.info(name).presets
    assert "resnet20_cifar10" in whole and "mobilenet_v2_cifar10" in whole and "gpt2_lm" in whole
    zoo.register(_card("my_bare_model"))  # a card with no weights at all
    try:
        assert "my_bare_model" in zoo.list_models(pretrained=False)
        assert "my_bare_model" not in zoo.list_models(pretrained=True)
    finally:
        zoo.unregister("my_bare_model")
    with pytest.raises(ValueError, match="pretrained must be True, False, 'backbone' or None"):
        zoo.list_models(pretrained="yes")


def test_cli_list_says_backbone_only():
    out = run_cli("list", "--backbone-only")
    assert out.returncode == 0, out.stderr
    rows = out.stdout.splitlines()[2:]
    assert [r.split()[0] for r in rows] == ["bert_classifier", "vit_classifier"]
    assert all(r.endswith("backbone only") for r in rows)
    assert "bert_classifier" not in run_cli("list", "--pretrained").stdout


def test_unknown_family_is_a_value_error():
    with pytest.raises(ValueError, match="family 'rnn' is not one of cnn, lstm, transformer"):
        zoo.list_models(family="rnn")


def test_info_card_fields_and_text():
    card = zoo.info("cnn_mnist")
    assert card.family == "cnn" and card.task == "image-classification" and card.dataset == "mnist"
    assert card.input.shape == (28, 28, 1) and card.input.dtype == "uint8" and card.input.value_range == (0, 255)
    assert card.output.num_classes == 10 and card.output.class_names == tuple("0123456789")
    assert card.recipe.optimizer == "adam" and card.recipe.batch_size == 64
    text = str(card)
    for needle in ("cnn_mnist", "28x28x1 uint8", "values 0..255", "parameters   104,874", "licence",
                   "optimizer  adam", "batch      64 (global)", "in cycles of 1 epoch(s), each x2", "weights"):
        assert needle in text, needle


def test_info_json_round_trips():
    data = json.loads(zoo.info("resnet20_cifar10").to_json())
    assert data["name"] == "resnet20_cifar10"
    assert data["input"]["shape"] == [32, 32, 3]
    assert data["recipe"]["optimizer"] == "sgd" and data["recipe"]["augmentation"] == ["pad_crop_4", "flip_left_right"]
    assert data["builder"] == "zoo.models.cnn:resnet_cifar"
    assert [w["tag"] for w in data["weights"]][:1] == ["cifar10_v3"]
    bare = _card("my_bare_model", recipe=Recipe(dataset="mnist", epochs=9, batch_size=2, schedule="piecewise",
                                                boundaries=(3.0, 6.0)))
    data = json.loads(bare.to_json())
    assert data["recipe"]["boundaries"] == [3.0, 6.0]
    assert data["weights"] == [] and "no pretrained weights yet" in data["weights_note"]


def test_cards_without_weights_say_so_plainly():
    bare = [n for n in zoo.list_models() if not zoo.info(n).weights and not zoo.info(n).presets]
    for name in bare:
        assert "none: no pretrained weights yet" in str(zoo.info(name))
    assert "none: no pretrained weights yet" in str(_card("my_bare_model"))
    assert "none: no pretrained weights yet" not in str(zoo.info("mobilenet_v2_cifar10"))


def test_unknown_model_suggests_close_matches():
    with pytest.raises(zoo.UnknownModelError, match=r"did you mean 'cnn_mnist'"):
        zoo.info("cnn_mnst")
    with pytest.raises(zoo.UnknownModelError, match="unknown model 'zzz'") as excinfo:
        zoo.info("zzz")
    assert "did you mean" not in str(excinfo.value)
    assert isinstance(excinfo.value, KeyError)  # and catchable as a KeyError


def _card(name: str, builder=lambda **kw: None, **changes) -> ModelCard:
    fields = dict(
        name=name, family="cnn", task="image-classification", dataset="mnist", description="a test model",
        builder=builder, hparams={"units": 4},
        input=InputSpec(name="x", shape=(3,), dtype="float32"), output=OutputSpec(name="y", num_classes=2),
        num_params=0, recipe=Recipe(dataset="mnist", epochs=1, batch_size=2),
    )
    fields.update(changes)
    return ModelCard(**fields)


def test_register_a_user_model_and_refuse_a_taken_name():
    card = zoo.register(_card("my_test_model"))
    try:
        assert "my_test_model" in zoo.list_models()
        assert zoo.info("my_test_model") is card
        with pytest.raises(zoo.ModelExistsError, match="'my_test_model' is already registered"):
            zoo.register(_card("my_test_model"))
        with pytest.raises(zoo.ModelExistsError, match="'cnn_mnist' is already registered"):
            zoo.register(_card("cnn_mnist"))
    finally:
        zoo.unregister("my_test_model")
    assert "my_test_model" not in zoo.list_models()


@pytest.mark.parametrize(
    "changes, error, message",
    [
        ({"name": "bad name"}, ValueError, "letters, digits and underscores"),
        ({"family": "rnn"}, ValueError, "family 'rnn'"),
        ({"task": "segmentation"}, ValueError, "task 'segmentation'"),
        ({"builder": "no_colon"}, TypeError, "module:function"),
    ],
)
def test_register_validates_the_card(changes, error, message):
    with pytest.raises(error, match=message):
        zoo.register(_card(changes.pop("name", "ok_name"), **changes))
    assert "ok_name" not in zoo.list_models()


def test_register_rejects_a_non_card():
    with pytest.raises(TypeError, match="must be a zoo.ModelCard"):
        zoo.register({"name": "x"})


def test_import_and_listing_leave_tensorflow_out():
    code = (
        "import sys, zoo; zoo.list_models(); zoo.list_models(pretrained=True); str(zoo.info('cnn_mnist'));"
        "zoo.info('cnn_mnist').to_json();"
        "heavy = [m for m in ('tensorflow', 'keras', 'tensorflow_datasets', 'keras_hub') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
