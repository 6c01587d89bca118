"""airbench_cifar10's pieces: the whitening from data, the test-time views inside the model, the triangular
schedule, the lookahead and its resumption, and the batch augmentations (flip_alternate, translate_N)."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.cards.cnn import AIRBENCH_EPOCHS


def _images(n=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def _small(**kwargs):
    from zoo.models import airbench

    return airbench.airbench_cifar(widths=(8, 16, 16), **kwargs)


def test_builder_matches_its_card_and_answers_probabilities():
    card = zoo.info("airbench_cifar10")
    model = zoo.get("airbench_cifar10", compile=False)
    assert model.count_params() == card.num_params
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)
    body = zoo.get("airbench_cifar10", include_top=False)
    assert body.output_shape == (None, *card.feature_shape)
    out = np.asarray(_small()(_images(3), training=False))
    assert out.shape == (3, 10)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"tta_level": 3}, "tta_level must be at least 0 and at most 2"),
    ({"input_shape": (8, 8, 3)}, "at least 16x16"),
    ({"bn_momentum": 0}, "bn_momentum must be in"),
    ({"widths": (64, 256)}, "widths must have 3 entries"),
])
def test_bad_hparams_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.get("airbench_cifar10", compile=False, **kwargs)


def test_whitening_is_computed_from_the_images_and_stays_frozen():
    import keras

    from zoo.models import airbench

    model = _small(tta_level=0)
    layer = model.get_layer("whiten")
    assert float(layer.adapted.numpy()) == 0 and not np.any(layer.kernel.numpy())
    images = _images(64)
    airbench.adapt(model, images)
    assert float(layer.adapted.numpy()) == 1
    # The filters whiten the images' 2x2 patches: the positive half gives them (nearly) unit covariance.
    x = (images / 255.0 - np.array(airbench.CIFAR_MEAN)) / np.array(airbench.CIFAR_STD)
    patches = np.stack([x[:, i:31 + i, j:31 + j, :] for i in range(2) for j in range(2)], axis=3).reshape(-1, 12)
    w = layer.kernel.numpy().reshape(12, 24)[:, :12]
    cov = w.T @ (patches.T @ patches / len(patches)) @ w
    eig = np.linalg.eigvalsh(patches.T @ patches / len(patches))[::-1]
    np.testing.assert_allclose(cov, np.diag(eig / (eig + airbench.WHITENING_EPS)), atol=1e-4)
    np.testing.assert_allclose(layer.kernel.numpy().reshape(12, 24)[:, 12:], -w)
    # Not trained: one step of SGD changes the bias, never the filters.
    trainable = {id(w) for w in model.trainable_weights}
    assert id(layer.kernel) not in trainable and id(layer.bias) in trainable
    before = layer.kernel.numpy().copy()
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    model.fit(images, np.arange(64) % 10, epochs=1, batch_size=32, verbose=0)
    np.testing.assert_array_equal(layer.kernel.numpy(), before)
    with pytest.raises(ValueError, match="uint8"):
        airbench.adapt(model, images.astype("float32"))


def test_zoo_train_adapts_the_whitening_on_the_training_split_only():
    from zoo import data as zdata
    from zoo.training import adapt_to_data

    from zoo.models import airbench

    train = zdata.Split("cifar10", "train", "local", features=_images(40, seed=1), labels=np.zeros(40, "int32"))
    model, reference = _small(), _small()
    adapt_to_data(model, train)
    airbench.adapt(reference, train.features)
    np.testing.assert_array_equal(model.get_layer("whiten").kernel.numpy(),
                                  reference.get_layer("whiten").kernel.numpy())


@pytest.mark.parametrize("level", [1, 2])
def test_the_served_model_averages_the_views_logits(level):
    import keras

    from zoo.models import airbench, tta

    model = _small(tta_level=level)
    airbench.adapt(model, _images(64))
    plain = _small(tta_level=0)
    plain.set_weights(model.get_weights())
    x = _images(5, seed=2)
    head = plain.get_layer("probabilities")
    features = keras.Model(plain.inputs, head.input)
    views = [x, x[:, :, ::-1]]
    if level == 2:
        padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
        for moved in (padded[:, :32, :32], padded[:, 2:, 2:]):
            views += [moved, moved[:, :, ::-1]]
    logits = [np.asarray(features([v], training=False)) @ head.kernel.numpy() + head.bias.numpy() for v in views]
    mean = sum(w * z for w, z in zip(tta.TTA_WEIGHTS[level], logits))
    expected = np.exp(mean - mean.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(np.asarray(model(x, training=False)), expected, atol=1e-5)
    assert not np.allclose(np.asarray(plain(x, training=False)), expected, atol=1e-5)  # the views matter
    # In training the batch goes through once, as it is.
    assert np.asarray(model(x, training=True)).shape == (5, 10)


def test_triangular_schedule_goes_up_then_down():
    from zoo import recipes

    recipe = zoo.info("airbench_cifar10").recipe.replace(epochs=10, warmup_epochs=2.3, learning_rate=1.0)
    schedule = recipes.learning_rate(recipe, steps=10)  # 100 steps, the peak at step 23
    rates = np.array([float(schedule(s)) for s in range(0, 111)])
    np.testing.assert_allclose(rates[[0, 23, 100, 110]], [0.2, 1.0, 0.07, 0.07], rtol=1e-5)
    assert np.all(np.diff(rates[:24]) > 0) and np.all(np.diff(rates[23:101]) < 0)
    np.testing.assert_allclose(rates[10], 0.2 + 0.8 * 10 / 23, rtol=1e-5)


def test_a_shorter_run_keeps_the_triangle_and_the_lookahead_in_proportion():
    """`zoo.train(..., epochs=2)` (the CLI's --epochs) keeps the peak at 23% of the run and lookahead's start
    inside it, where the card's absolute 2.3 warm-up epochs would be refused; given fields are kept as given."""
    from zoo import training

    card = zoo.info("airbench_cifar10")
    assert card.recipe.epochs == 10 and card.recipe.warmup_epochs == 2.3 and card.recipe.lookahead_start_epoch == 1
    short = training._recipe(card, {"epochs": 2})
    assert (short.epochs, short.warmup_epochs, short.lookahead_start_epoch) == (2, 0.46, 0)
    longer = training._recipe(card, {"epochs": 20})
    assert (longer.warmup_epochs, longer.lookahead_start_epoch) == (4.6, 2)
    assert training._recipe(card, {"epochs": 2, "warmup_epochs": 1.0}).warmup_epochs == 1.0
    with pytest.raises(ValueError, match="warmup_epochs must be in"):
        training._recipe(card, {"epochs": 2, "warmup_epochs": 3.0})
    resnet = zoo.info("resnet20_cifar10")  # a cosine schedule's warm-up stays in epochs
    assert training._recipe(resnet, {"epochs": 2}).warmup_epochs == resnet.recipe.warmup_epochs


@pytest.mark.parametrize("change, message", [
    ({"start_lr_factor": 1.5}, "start_lr_factor must be in"),
    ({"lookahead_every": -1}, "lookahead_every must be"),
    ({"lookahead_start_epoch": AIRBENCH_EPOCHS}, "lookahead_start_epoch must be an epoch"),
    ({"lookahead_decay": 1.0}, "lookahead_decay must be in"),
])
def test_bad_recipe_values_are_refused(change, message):
    from zoo import recipes

    with pytest.raises(ValueError, match=message):
        recipes.check(zoo.info("airbench_cifar10").recipe.replace(**change))


def _toy(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization(),
                              keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.5), "mse")
    return model


def test_lookahead_averages_and_a_resumed_run_ends_where_one_run_does():
    from zoo.callbacks import Lookahead

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = np.random.default_rng(1).normal(size=(64, 2)).astype("float32")
    kwargs = {"steps_per_epoch": 8, "epochs": 4, "every": 3, "start_epoch": 1, "decay": 0.9, "power": 1.0}

    whole = _toy()
    lookahead = Lookahead(**kwargs)
    whole.fit(x, y, batch_size=8, epochs=4, shuffle=False, callbacks=[lookahead], verbose=0)
    assert lookahead.updates == len([s for s in range(9, 33) if s % 3 == 0])
    for w, a in zip([w for w in whole.weights if "float" in str(w.dtype)], lookahead.average):
        np.testing.assert_allclose(w.numpy(), np.asarray(a))  # the weights end as the average

    resumed = _toy()
    resumed.fit(x, y, batch_size=8, epochs=2, shuffle=False, callbacks=[Lookahead(**kwargs)], verbose=0)
    resumed.fit(x, y, batch_size=8, epochs=4, initial_epoch=2, shuffle=False, callbacks=[Lookahead(**kwargs)],
                verbose=0)
    for a, b in zip(whole.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    plain = _toy()
    plain.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    assert not all(np.allclose(a, b) for a, b in zip(whole.get_weights(), plain.get_weights()))


def test_recipe_gives_the_lookahead_callback():
    from zoo import recipes
    from zoo.callbacks import Lookahead

    recipe = zoo.info("airbench_cifar10").recipe
    (callback,) = recipes.callbacks(recipe, steps=88)
    assert isinstance(callback, Lookahead) and callback.every == 5 and callback.total_steps == 88 * recipe.epochs
    assert recipes.callbacks(zoo.info("resnet20_cifar10").recipe, steps=88) == []


def test_flip_alternate_mirrors_each_image_in_every_other_epoch_deterministically():
    import tensorflow as tf

    from zoo.data import augment

    images = tf.constant(_images(64))
    indices = tf.range(64, dtype=tf.int64)
    fn = augment.make(("flip_alternate",), seed=3)
    flipped = []
    for epoch in range(3):
        out, _ = fn(images, tf.zeros(64), tf.constant([epoch, 0], tf.int64), indices, tf.constant(epoch, tf.int64))
        again, _ = fn(images, tf.zeros(64), tf.constant([epoch, 0], tf.int64), indices, tf.constant(epoch, tf.int64))
        np.testing.assert_array_equal(out.numpy(), again.numpy())
        mirrored = np.all(out.numpy() == images.numpy()[:, :, ::-1], axis=(1, 2, 3))
        assert np.all(mirrored | np.all(out.numpy() == images.numpy(), axis=(1, 2, 3)))
        flipped.append(mirrored)
    assert 16 < flipped[0].sum() < 48  # about half in the first epoch
    np.testing.assert_array_equal(flipped[1], ~flipped[0])  # the others in the next
    np.testing.assert_array_equal(flipped[2], flipped[0])
    other_seed, _ = augment.make(("flip_alternate",), seed=4)(images, tf.zeros(64), tf.constant([0, 0], tf.int64),
                                                              indices, tf.constant(0, tf.int64))
    assert not np.array_equal(other_seed.numpy(), fn(images, tf.zeros(64), tf.constant([0, 0], tf.int64), indices,
                                                     tf.constant(0, tf.int64))[0].numpy())


def test_translate_moves_each_image_within_its_reflection():
    import tensorflow as tf

    from zoo.data import augment

    images = _images(16)
    fn = augment.make(("translate_2",), seed=0)
    out, _ = fn(tf.constant(images), tf.zeros(16), tf.constant([5, 1], tf.int64))
    again, _ = fn(tf.constant(images), tf.zeros(16), tf.constant([5, 1], tf.int64))
    np.testing.assert_array_equal(out.numpy(), again.numpy())
    padded = np.pad(images, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect")
    offsets = []
    for i in range(16):
        found = [(r, c) for r in range(5) for c in range(5)
                 if np.array_equal(padded[i, r:r + 32, c:c + 32], out.numpy()[i])]
        assert found, f"image {i} is not a crop of its reflected padding"
        offsets.append(found[0])
    assert len(set(offsets)) > 3  # each image its own offset
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment.check(("translate",))
