"""Feature extraction (issue 17): ``zoo.get(name, include_top=False, pooling=...)`` as in keras.applications."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from tests.conftest import own_models


@pytest.mark.parametrize("name", [n for n in own_models(task="*classification") if zoo.info(n).feature_shape])
def test_the_body_answers_the_shape_on_its_card(name):
    card = zoo.info(name)
    body = zoo.get(name, include_top=False)
    assert tuple(body.output.shape[1:]) == tuple(card.feature_shape)
    assert body.zoo_name == name and not any(layer.name == card.output.name for layer in body.layers)
    if len(card.feature_shape) > 1:
        for pooling in ("avg", "max"):
            pooled = zoo.get(name, include_top=False, pooling=pooling)
            assert tuple(pooled.output.shape[1:]) == (card.feature_shape[-1],)
    elif "pooling" not in card.hparams:  # transformer_imdb's pooling= is its own hyper-parameter
        with pytest.raises(ValueError, match="already a vector"):
            zoo.get(name, include_top=False, pooling="avg")


def test_the_pretrained_body_holds_the_pretrained_weights():
    full = zoo.get("cnn_mnist", pretrained=True, compile=False)
    body = zoo.get("cnn_mnist", pretrained=True, include_top=False, pooling="avg")
    by_name = {layer.name: layer for layer in full.layers}
    compared = 0
    for layer in body.layers:
        if layer.weights:
            for a, b in zip(layer.get_weights(), by_name[layer.name].get_weights()):
                np.testing.assert_array_equal(a, b)
                compared += 1
    assert compared == len(full.get_weights()) - 2  # all but the head's kernel and bias
    x = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1), dtype=np.uint8)
    pool3 = full.get_layer("pool3").output
    import keras

    expected = keras.Model(full.inputs, pool3)(x).numpy().mean(axis=(1, 2))
    np.testing.assert_allclose(body(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_bad_feature_requests_are_refused_plainly():
    with pytest.raises(ValueError, match="pooling must be one of"):
        zoo.get("cnn_mnist", include_top=False, pooling="mean")
    with pytest.raises(ValueError, match="applies with include_top=False"):
        zoo.get("cnn_mnist", pooling="avg")
    with pytest.raises(ValueError, match="language model"):
        zoo.get("char_lstm_shakespeare", include_top=False)


@pytest.mark.slow
@pytest.mark.real_data
def test_mnist_features_beat_raw_pixels_for_a_linear_classifier(real_data_dir):
    """A logistic regression on 2,000 MNIST training images: on the pretrained body's pooled features it does
    better on 2,000 test images than on the raw pixels."""
    import keras

    train = zoo.data.load("mnist", "train", data_dir=real_data_dir, validation_split=0)
    test = zoo.data.load("mnist", "test", data_dir=real_data_dir)
    (xa, ya), (xb, yb) = (train.features[:2000], train.labels[:2000]), (test.features[:2000], test.labels[:2000])
    body = zoo.get("cnn_mnist", pretrained=True, include_top=False, pooling="avg")

    def linear_accuracy(fa, fb):
        keras.utils.set_random_seed(0)
        mean, std = fa.mean(0), fa.std(0) + 1e-6
        clf = keras.Sequential([keras.Input(fa.shape[1:]), keras.layers.Dense(10, activation="softmax")])
        clf.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        clf.fit((fa - mean) / std, ya, epochs=20, batch_size=128, verbose=0)
        return clf.evaluate((fb - mean) / std, yb, verbose=0)[1]

    pixels = linear_accuracy(xa.reshape(2000, -1) / 255.0, xb.reshape(2000, -1) / 255.0)
    features = linear_accuracy(body.predict(xa, verbose=0), body.predict(xb, verbose=0))
    assert features > pixels + 0.02, (features, pixels)


@pytest.mark.slow
@pytest.mark.real_data
def test_cifar10_features_beat_raw_pixels_for_a_linear_classifier(real_data_dir):
    """A logistic regression on 2,000 CIFAR-10 training images does better on 1,000 test images on the
    pretrained resnet20's pooled features than on the raw pixels."""
    import keras

    train = zoo.data.load("cifar10", "train", data_dir=real_data_dir, validation_split=0)
    test = zoo.data.load("cifar10", "test", data_dir=real_data_dir)
    (xa, ya), (xb, yb) = (train.features[:2000], train.labels[:2000]), (test.features[:1000], test.labels[:1000])
    body = zoo.get("resnet20_cifar10", pretrained=True, include_top=False, pooling="avg")

    def linear_accuracy(fa, fb):
        keras.utils.set_random_seed(0)
        mean, std = fa.mean(0), fa.std(0) + 1e-6
        clf = keras.Sequential([keras.Input(fa.shape[1:]), keras.layers.Dense(10, activation="softmax")])
        clf.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        clf.fit((fa - mean) / std, ya, epochs=30, batch_size=128, verbose=0)
        return clf.evaluate((fb - mean) / std, yb, verbose=0)[1]

    pixels = linear_accuracy(xa.reshape(2000, -1) / 255.0, xb.reshape(1000, -1) / 255.0)
    features = linear_accuracy(body.predict(xa, verbose=0), body.predict(xb, verbose=0))
    print(f"linear probe on 2,000 CIFAR-10 images: features {features:.3f}, raw pixels {pixels:.3f}")
    assert features > pixels + 0.1, (features, pixels)
