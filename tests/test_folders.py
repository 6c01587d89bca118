"""Training on a folder of one's own (issue 17): one subfolder per class, images or texts; the class names
travel with the run's weights into predict and export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.data import folders

COLOURS = {"red": (230, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def write_image_folder(root: Path, per_class: int = 12, *, extras: bool = True, seed: int = 0) -> Path:
    """Three classes of noisy images, each a bright patch at its own place, of mixed sizes and modes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for k, (name, colour) in enumerate(COLOURS.items()):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            size = (28, 28) if i % 3 else (40 + i, 33)  # mixed sizes: resized to the model's input
            image = rng.integers(0, 40, size=(size[1], size[0], 3), dtype=np.uint8)
            h, w = image.shape[:2]
            image[k * h // 3:(k + 1) * h // 3, : w // 2] = colour
            Image.fromarray(image).save(folder / f"{i}.{'png' if i % 2 else 'jpg'}")
    if extras:
        (root / "red" / "notes.md").write_text("not an image")
        (root / "blue" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


def test_a_folder_reads_into_splits_with_its_class_names(tmp_path):
    root = write_image_folder(tmp_path / "data")
    found = folders.load_folder(root, kind="image", input_shape=(28, 28, 1), validation_split=0.25)
    assert found.class_names == ("blue", "green", "red")
    train, val = found.splits["train"], found.splits["validation"]
    assert len(train) + len(val) == 36 and len(val) == 9
    assert train.features.shape[1:] == (28, 28, 1) and train.features.dtype == np.uint8
    assert found.skipped == {"not an image file": 1, "unreadable image": 1}
    again = folders.load_folder(root, kind="image", input_shape=(28, 28, 1), validation_split=0.25)
    np.testing.assert_array_equal(again.splits["validation"].labels, val.labels)  # a fixed carve-out


def test_a_validation_folder_is_used_as_it_is(tmp_path):
    root = write_image_folder(tmp_path / "data", per_class=6, extras=False)
    write_image_folder(root / "validation", per_class=2, extras=False, seed=1)
    found = folders.load_folder(root, kind="image", input_shape=(32, 32, 3))
    assert len(found.splits["train"]) == 18 and len(found.splits["validation"]) == 6
    assert found.splits["train"].features.shape[1:] == (32, 32, 3)


@pytest.mark.parametrize("layout, message", [
    ({}, "at least two class subfolders, found none"),
    ({"cats": ["a.png"]}, "at least two class subfolders, found cats"),
    ({"cats": ["a.txt"], "dogs": ["b.txt"]}, "no readable images"),
    ({"cats": ["ok"], "dogs": []}, "dogs: no readable files in this class"),
])
def test_bad_folders_are_refused_plainly(tmp_path, layout, message):
    from PIL import Image

    root = tmp_path / "data"
    root.mkdir()
    for name, files in layout.items():
        (root / name).mkdir()
        for f in files:
            if f == "ok":
                Image.new("RGB", (8, 8)).save(root / name / "x.png")
            else:
                (root / name / f).write_bytes(b"nothing")
    with pytest.raises(zoo.DataFormatError, match=message):
        folders.load_folder(root, kind="image", input_shape=(28, 28, 1))
    with pytest.raises(zoo.DataFormatError, match="no such folder"):
        folders.load_folder(tmp_path / "missing", kind="image", input_shape=(28, 28, 1))


@pytest.mark.slow
def test_fine_tuning_on_a_folder_and_its_class_names_in_predict_and_export(tmp_path):
    root = write_image_folder(tmp_path / "data", per_class=16)
    # the recipe's own rate, not the fine-tuning rate (x0.1): three epochs of six steps on coloured patches
    result = zoo.train("cnn_mnist", data=str(root), model_dir=tmp_path / "run", epochs=3, batch_size=8,
                       validation_split=0.25, verbose=0, learning_rate=zoo.info("cnn_mnist").recipe.learning_rate)
    assert result.model.get_layer("probabilities").units == 3  # a new head for the folder's three classes
    record = json.loads((tmp_path / "run" / "class_names.json").read_text())
    assert record == {"model": "cnn_mnist", "class_names": ["blue", "green", "red"], "data": str(root)}
    assert result.test_metrics["accuracy"] >= 0.9, result.test_metrics  # the pretrained body learns it at once
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["dataset"] == str(root)
    best = str(result.paths["best_weights"])
    got = zoo.predict("cnn_mnist", [root / "green" / "1.png", root / "red" / "2.jpg"], pretrained=best, top_k=1)
    assert [r["top_k"][0]["class_name"] for r in got] == ["green", "red"]
    exported = zoo.export("cnn_mnist", tmp_path / "export", pretrained=best)
    import tensorflow as tf

    serve = tf.saved_model.load(str(exported)).signatures["serving_default"]
    image = zoo.prediction.read_image(root / "blue" / "1.png", zoo.info("cnn_mnist"))
    out = serve(image=tf.constant(image[None]))
    assert out["class_name"].numpy()[0].decode() == "blue"
    card = json.loads((exported / "assets.extra" / "zoo_card.json").read_text())
    assert card["output"]["class_names"] == ["blue", "green", "red"]


def write_text_folder(root):
    words = {"happy": "wonderful superb great delight", "sad": "awful dreadful boring waste", "odd": "strange odd weird"}
    for label, vocab in words.items():
        (root / label).mkdir(parents=True)
        for i in range(10):
            (root / label / f"{i}.txt").write_text(" ".join(vocab.split()[j % len(vocab.split())] for j in range(i, i + 12)))
    return root


@pytest.mark.slow
def test_a_text_classifier_trains_on_a_folder_of_txt_files(tmp_path):
    root = write_text_folder(tmp_path / "texts")
    result = zoo.train("lstm_imdb", data=root, model_dir=tmp_path / "run", epochs=1, batch_size=8,
                       validation_split=0.3, verbose=0)
    assert result.model.get_layer("probabilities").units == 3
    got = zoo.predict("lstm_imdb", ["a wonderful superb film"], pretrained=str(result.paths["best_weights"]))
    assert {c["class_name"] for c in got[0]["top_k"]} == {"happy", "sad", "odd"}


@pytest.mark.slow
def test_fine_tuning_an_older_weight_set_trains_the_network_it_was_trained_with(tmp_path):
    """lstm_imdb.imdb_v2 was trained with 384 tokens and no bigrams, the card's default is now 512 and bigrams:
    fine-tuning it keeps its network (and its data settings), its body loaded and a new 3-class head."""
    root = write_text_folder(tmp_path / "texts")
    result = zoo.train("lstm_imdb", data=root, pretrained="imdb_v2", model_dir=tmp_path / "run", epochs=1,
                       batch_size=8, validation_split=0.3, verbose=0, learning_rate=1e-12)
    older = zoo.get("lstm_imdb.imdb_v2", compile=False)
    assert result.model.preprocessor.sequence_length == 384
    recorded = json.loads(result.paths["metrics"].read_text())["hparams"]
    assert (recorded["sequence_length"], recorded["truncation"], recorded["bigram_buckets"]) == (384, "head", 0)
    for layer, tuned in zip(older.layers, result.model.layers, strict=True):  # at 1e-12 the body is imdb_v2's
        if layer.weights and layer.name != "probabilities":
            for a, b in zip(layer.get_weights(), tuned.get_weights(), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=layer.name)
    assert result.model.get_layer("probabilities").units == 3
    with pytest.raises(ValueError, match="imdb_v2 was trained with sequence_length=384"):
        zoo.train("lstm_imdb", data=root, pretrained="imdb_v2", model_dir=tmp_path / "run2", epochs=1,
                  sequence_length=512, verbose=0)


def test_a_zoo_dataset_name_wins_over_a_folder_of_that_name(tmp_path, monkeypatch):
    from zoo.training import check_dataset

    write_image_folder(tmp_path / "fashion_mnist", per_class=2, extras=False)
    monkeypatch.chdir(tmp_path)
    card = zoo.info("cnn_mnist")
    assert check_dataset(card, "fashion_mnist") == "fashion_mnist"
    assert check_dataset(card, "./fashion_mnist") == str(tmp_path.resolve() / "fashion_mnist")
    with pytest.raises(ValueError, match="unknown dataset 'fashion'.*or a folder"):
        check_dataset(card, "fashion")


@pytest.mark.slow
@pytest.mark.real_data
def test_pretrained_resnet20_fine_tunes_a_real_folder_better_than_from_scratch(real_data_dir, tmp_path):
    """A folder built from CIFAR-10 test images of three classes (150 each to train, 50 each in validation/),
    saved as PNG files: the same short budget from the pretrained weights (at the recipe's fine-tuning rate,
    0.1 x 0.1) beats it from scratch (at the recipe's rate, 0.1). Measured without the test-time views, a serving
    setting: the bodies are compared, at a sixth of the inference."""
    from PIL import Image

    test = zoo.data.load("cifar10", "test", data_dir=real_data_dir)
    names = zoo.info("resnet20_cifar10").output.class_names
    root = tmp_path / "photos"
    for label in ("airplane", "frog", "truck"):
        chosen = np.flatnonzero(test.labels == names.index(label))[:200]
        for k, i in enumerate(chosen):
            folder = root / ("validation/" if k >= 150 else "") / label
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(test.features[i]).save(folder / f"{k}.png")
    budget = dict(data=root, epochs=2, batch_size=32, verbose=0, tta_level=0)  # the image alone: one pass, not six
    tuned = zoo.train("resnet20_cifar10", model_dir=tmp_path / "tuned", **budget)
    scratch = zoo.train("resnet20_cifar10", model_dir=tmp_path / "scratch", pretrained=False, **budget)
    a, b = tuned.test_metrics["accuracy"], scratch.test_metrics["accuracy"]
    print(f"3-class folder, 450 images, 2 epochs: fine-tuned {a:.3f}, from scratch {b:.3f} (150 validation images)")
    assert a > b + 0.1, (a, b)


# ---------------------------------------------------------------------------- names are data (issue 31)


@pytest.mark.parametrize("name, problem", [
    ("red\x1b[2K", r"it holds control characters \(\\x1b\)"),
    ("two\nlines", r"it holds control characters \(\\n\)"),
    ("\u202eder", r"it holds control characters \(\\u202e\)"),
    ("   ", "blank"),
])
def test_a_folder_whose_name_cannot_be_a_class_name_is_refused_naming_it(tmp_path, name, problem):
    root = write_image_folder(tmp_path / "data", per_class=2, extras=False)
    (root / "red").rename(root / name)
    shown = name.encode("unicode_escape").decode() if name.strip() else name
    with pytest.raises(zoo.DataFormatError, match=rf"{root}/{re.escape(shown)}: this folder's name "
                                                  rf"cannot be a class name \({problem}\); rename it"):
        folders.load_folder(root, kind="image", input_shape=(28, 28, 1))


@pytest.fixture(scope="module")
def three_class_weights(tmp_path_factory) -> Path:
    """A cnn_mnist of three classes saved as a run saves its best weights."""
    run = tmp_path_factory.mktemp("run")
    zoo.get("cnn_mnist", num_classes=3, compile=False, filters=(4, 4, 4)).save_weights(str(run / "best.weights.h5"))
    return run / "best.weights.h5"


@pytest.mark.parametrize("names, message", [
    ("abc", r"class names must be a list of strings, got 'abc'"),
    (["a", "b", "a"], r"class names must be distinct; repeated: 'a'"),
    (["a", "", "c"], r"class name 1 \(''\) cannot be a class name: empty"),
    (["a", 2, "c"], r"class name 1 \(2\) cannot be a class name: not a string but a int"),
    (["ok", "\x1b[31mred", "c"], r"class name 1 \('\\x1b\[31mred'\) cannot be a class name: it holds control"),
    (["a", "b"], "these weights do not fit"),  # a head of 2 where the weights have 3
])
def test_class_names_that_travel_with_weights_are_checked_where_they_enter(three_class_weights, names, message):
    (three_class_weights.parent / "class_names.json").write_text(json.dumps({"model": "cnn_mnist", "class_names": names}))
    with pytest.raises(zoo.WeightsError, match=message):
        zoo.get("cnn_mnist", pretrained=str(three_class_weights), filters=(4, 4, 4))


def test_good_class_names_travel_with_the_weights(three_class_weights):
    (three_class_weights.parent / "class_names.json").write_text(
        json.dumps({"model": "cnn_mnist", "class_names": ["chat", "chien", "oiseau"]}))
    model = zoo.get("cnn_mnist", pretrained=str(three_class_weights), filters=(4, 4, 4), compile=False)
    assert model.zoo_class_names == ("chat", "chien", "oiseau")


def test_a_cards_class_names_are_checked_too():
    with pytest.raises(ValueError, match="class names must be a list of strings, got 'ab'"):
        zoo.OutputSpec(name="probabilities", num_classes=2, class_names="ab")
    with pytest.raises(ValueError, match="3 class names for a head of 2 classes"):
        zoo.OutputSpec(name="probabilities", num_classes=2, class_names=("a", "b", "c"))


# ---------------------------------------------------------------------- folders say what they do (issue 31)


def test_the_carve_is_stratified_every_class_in_both_splits(tmp_path):
    root = write_image_folder(tmp_path / "data", per_class=3, extras=False)
    for extra in range(3, 12):  # one class much larger than the others
        (root / "red" / f"x{extra}.jpg").hardlink_to(root / "red" / "0.jpg")
    found = folders.load_folder(root, kind="image", input_shape=(28, 28, 1), validation_split=0.2)
    train, val = found.splits["train"].labels, found.splits["validation"].labels
    for label in range(3):
        assert np.sum(train == label) >= 1 and np.sum(val == label) >= 1, (train, val)
    assert np.bincount(val).tolist() == [1, 1, 2]  # round(3 x 0.2) -> at least 1; round(12 x 0.2) = 2
    assert folders.describe(found) == (f"zoo: {root}: 3 classes; train blue 2, green 2, red 10; validation blue 1, "
                                       f"green 1, red 2")


def test_a_class_too_small_for_the_carve_is_refused(tmp_path):
    root = write_image_folder(tmp_path / "data", per_class=3, extras=False)
    for f in sorted((root / "green").iterdir())[1:]:
        f.unlink()
    with pytest.raises(zoo.DataFormatError, match=rf"{root}/green: 1 readable file, too few to be in both the "
                                                  "training and the validation split"):
        folders.load_folder(root, kind="image", input_shape=(28, 28, 1))


def test_a_validation_folder_must_hold_the_training_classes(tmp_path):
    root = write_image_folder(tmp_path / "data", per_class=2, extras=False)
    write_image_folder(root / "validation", per_class=1, extras=False)
    (root / "validation" / "purple").mkdir()
    (root / "validation" / "blue" / "0.jpg").rename(root / "validation" / "purple" / "0.jpg")
    with pytest.raises(zoo.DataFormatError, match=r"class\(es\) 'purple' are in validation/ but not in training"):
        folders.load_folder(root, kind="image", input_shape=(28, 28, 1))
    (root / "validation" / "purple" / "0.jpg").rename(root / "validation" / "blue" / "0.jpg")
    (root / "validation" / "purple").rmdir()
    import shutil

    shutil.rmtree(root / "validation" / "green")
    with pytest.raises(zoo.DataFormatError, match=r"class\(es\) 'green' have no validation/ folder"):
        folders.load_folder(root, kind="image", input_shape=(28, 28, 1))


@pytest.mark.slow
def test_training_on_a_folder_prints_the_counts_per_class_and_split(tmp_path, capsys):
    root = write_image_folder(tmp_path / "data", per_class=5, extras=False)
    zoo.train("cnn_mnist", data=str(root), model_dir=tmp_path / "run", epochs=1, batch_size=8, verbose=2,
              filters=(4, 4, 4), pretrained=False)
    out = capsys.readouterr().out
    assert f"zoo: {root}: 3 classes; train blue 4, green 4, red 4; validation blue 1, green 1, red 1\n" in out


def test_class_names_set_on_a_model_by_hand_are_checked_too():
    model = zoo.get("cnn_mnist", num_classes=3, compile=False, filters=(4, 4, 4))
    model.zoo_class_names = "abc"
    with pytest.raises(ValueError, match=r"cnn_mnist.zoo_class_names: class names must be a list of strings"):
        zoo.predict(model, np.zeros((1, 28, 28, 1), np.uint8))
    model.zoo_class_names = ("a", "b")
    with pytest.raises(ValueError, match=r"2 class names for a head of 3 classes"):
        zoo.predict(model, np.zeros((1, 28, 28, 1), np.uint8))
    model.zoo_class_names = ("a", "b", "c")
    assert zoo.predict(model, np.zeros((1, 28, 28, 1), np.uint8), top_k=3)[0]["top_k"][0]["class_name"] in "abc"
