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


def _probe(model_name: str, dataset: str, data_dir, n_train: int, n_test: int, learning_rate: float,
           epochs: int, **hparams) -> tuple[float, float]:
    """A logistic regression trained on ``n_train`` images of the training split, its accuracy on ``n_test`` test
    images: (on the pretrained body's pooled features, on the raw pixels). ``hparams`` go to ``zoo.get``."""
    import keras

    train = zoo.data.load(dataset, "train", data_dir=data_dir, validation_split=0)
    test = zoo.data.load(dataset, "test", data_dir=data_dir)
    xa, ya, xb, yb = train.features[:n_train], train.labels[:n_train], test.features[:n_test], test.labels[:n_test]
    body = zoo.get(model_name, pretrained=True, include_top=False, pooling="avg", **hparams)

    def linear_accuracy(fa, fb):
        keras.utils.set_random_seed(0)
        mean, std = fa.mean(0), fa.std(0) + 1e-6
        clf = keras.Sequential([keras.Input(fa.shape[1:]), keras.layers.Dense(10, activation="softmax")])
        clf.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])  # by keyword: compile's third positional parameter is loss_weights
        clf.fit((fa - mean) / std, ya, epochs=epochs, batch_size=128, verbose=0)
        return clf.evaluate((fb - mean) / std, yb, verbose=0)[1]

    pixels = linear_accuracy(xa.reshape(n_train, -1) / 255.0, xb.reshape(n_test, -1) / 255.0)
    features = linear_accuracy(body.predict(xa, verbose=0), body.predict(xb, verbose=0))
    print(f"linear probe on {n_train:,} {dataset} images: features {features:.3f}, raw pixels {pixels:.3f}")
    return features, pixels


@pytest.mark.slow
@pytest.mark.real_data
def test_mnist_features_beat_raw_pixels_for_a_linear_classifier(real_data_dir):
    """On 2,000 MNIST training images, better on 2,000 test images from cnn_mnist's features than from pixels."""
    features, pixels = _probe("cnn_mnist", "mnist", real_data_dir, 2000, 2000, learning_rate=1e-2, epochs=20)
    assert features > pixels + 0.02, (features, pixels)


@pytest.mark.slow
@pytest.mark.real_data
def test_cifar10_features_beat_raw_pixels_for_a_linear_classifier(real_data_dir):
    """On 2,000 CIFAR-10 training images, better on 1,000 test images from resnet20's features than from pixels
    (measured: 0.815 against 0.269). One view (tta_level=0): the features of the network itself, six times faster
    than the served average of six views."""
    features, pixels = _probe("resnet20_cifar10", "cifar10", real_data_dir, 2000, 1000, learning_rate=1e-3, epochs=30,
                              tta_level=0)
    assert features > pixels + 0.1, (features, pixels)
