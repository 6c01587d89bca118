"""Test-time views inside the CIFAR ResNets and MobileNetV2 (zoo.models.tta): at inference the served model is
the weighted average of its views' logits, in training it is the plain network, a body cut for features
averages them too, and an archive keeps them."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import zoo

pytestmark = pytest.mark.any_backend  # model code: the views on JAX as on TensorFlow

BUILDERS = {  # zoo.models.cnn's builders, small
    "resnet": ("resnet_cifar", {"depth": 8, "width": 4}),
    "mobilenet": ("mobilenet_v2_cifar", {"width_multiplier": 0.25, "last_channels": 16, "dropout": 0.0}),
}


def _images(n=5, seed=2):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


@functools.lru_cache(maxsize=None)
def _pair(kind: str, level: int):
    """The same weights built with ``level``'s views and without, the batch norms' moving statistics taken from
    images (at their start, the features of a fresh network hardly depend on its input)."""
    import keras

    from zoo.models import cnn

    builder, kwargs = BUILDERS[kind]
    build = getattr(cnn, builder)
    served, plain = build(tta_level=level, **kwargs), build(tta_level=0, **kwargs)
    norms = [layer for layer in served._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms
    momenta = [layer.momentum for layer in norms]
    for layer in norms:  # one call in training sets every moving statistic to the batch's own
        layer.momentum = 0.0
    served(_images(32, seed=3), training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    plain.set_weights(served.get_weights())
    return served, plain


def _views(x, level):
    views = [x, x[:, :, ::-1]]
    if level == 2:
        padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
        for moved in (padded[:, :32, :32], padded[:, 2:, 2:]):
            views += [moved, moved[:, :, ::-1]]
    return views


@pytest.mark.parametrize("kind", sorted(BUILDERS))
@pytest.mark.parametrize("level", [1, 2])
def test_the_served_model_is_the_weighted_average_of_its_views_logits(kind, level):
    import keras

    from zoo.models import tta

    served, plain = _pair(kind, level)
    x = _images()
    head = plain.get_layer("probabilities")
    features = keras.Model(plain.inputs, head.input)
    logits = [np.asarray(features([v], training=False)) @ head.kernel.numpy() + head.bias.numpy()
              for v in _views(x, level)]
    mean = sum(w * z for w, z in zip(tta.TTA_WEIGHTS[level], logits))
    expected = np.exp(mean - mean.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(np.asarray(served(x, training=False)), expected, atol=1e-5)
    assert np.abs(logits[0] - mean).max() > 1e-4  # the views matter: the image's own logits are not the average
    # In training the batch goes through once, as it is: the network trains as the plain one does.
    np.testing.assert_allclose(np.asarray(served(x, training=True)), np.asarray(plain(x, training=True)), atol=1e-5)
    copy = tta.without_views(served)
    np.testing.assert_allclose(np.asarray(copy(x, training=False)), np.asarray(plain(x, training=False)), atol=1e-6)
    assert tta.without_views(plain) is None


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_a_body_cut_for_features_gives_one_row_an_image_the_views_average(kind):
    from zoo.models.features import without_top

    served, plain = _pair(kind, 2)
    x = _images(3)
    body = without_top(served, pooling="avg", head="probabilities", spatial=True)
    plain_body = without_top(plain, pooling="avg", head="probabilities", spatial=True)
    got = np.asarray(body(x, training=False))
    assert got.shape == (3, plain_body.output_shape[-1])
    from zoo.models import tta

    want = sum(w * np.asarray(plain_body(v, training=False)) for w, v in zip(tta.TTA_WEIGHTS[2], _views(x, 2)))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_keras_archive_keeps_the_views(tmp_path):
    import keras

    served, _ = _pair("resnet", 2)
    path = tmp_path / "resnet.keras"
    served.save(path)
    again = keras.saving.load_model(path, safe_mode=True, compile=False)
    x = _images(3)
    np.testing.assert_allclose(np.asarray(again(x, training=False)), np.asarray(served(x, training=False)), atol=1e-6)


@pytest.mark.slow
def test_the_released_weights_serve_at_any_level_and_default_to_their_own():
    x = _images(4)
    served = zoo.get("resnet20_cifar10", pretrained="cifar10_v3", compile=False)
    alone = zoo.get("resnet20_cifar10", pretrained="cifar10_v3", tta_level=0, compile=False)
    before = zoo.get("resnet20_cifar10", pretrained="cifar10_v2", compile=False)  # the same file, recorded at 0
    assert [layer.level for layer in served.layers if hasattr(layer, "level")] == [2, 2]
    np.testing.assert_allclose(np.asarray(alone(x, training=False)), np.asarray(before(x, training=False)), atol=1e-6)
    assert not np.allclose(np.asarray(served(x, training=False)), np.asarray(before(x, training=False)), atol=1e-4)
    with pytest.raises(ValueError, match="was trained with width=16"):  # a setting with weights still may not change
        zoo.get("resnet20_cifar10", pretrained="cifar10_v3", width=8, compile=False)


def test_a_bad_level_is_refused_by_name():
    from zoo.models import cnn

    with pytest.raises(ValueError, match="tta_level"):
        cnn.resnet_cifar(tta_level=3)
    with pytest.raises(ValueError, match="tta_level"):
        zoo.get("mobilenet_v2_cifar10", pretrained=False, tta_level=-1, compile=False)
