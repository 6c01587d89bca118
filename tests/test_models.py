"""Every registered model builds, runs a forward pass on inputs of its declared spec and matches its card."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from tests.conftest import own_models


def _inputs(card, batch=2, shape=None):
    shape = shape or card.input.shape
    if card.input.dtype == "string":
        import tensorflow as tf

        return tf.constant(["A raw text, as a user has it.", "Another one!"][:batch])
    if card.input.dtype == "uint8":
        return np.random.default_rng(0).integers(0, 256, size=(batch, *shape), dtype=np.uint8)
    raise AssertionError(f"no test input for {card.input.dtype}")


@pytest.mark.slow
@pytest.mark.parametrize("name", own_models())
def test_builds_runs_and_matches_its_card(name):
    card = zoo.info(name)
    model = zoo.get(name, compile=False)
    assert model.count_params() == card.num_params
    x = _inputs(card)
    if card.input.kind == "text":  # a keras-hub task: the card's input is its preprocessor's, the network's ids
        assert card.input.dtype == "string" and model.preprocessor is not None
        x = model.preprocessor.token_ids(x)
        assert model.inputs[0].name == "token_ids" and model.inputs[0].dtype == "int32"
        assert model.input_shape == (None, None)  # any length, as keras-hub's backbones; the preprocessor pads
    else:
        assert model.input_shape == (None, *card.input.shape)
        assert model.inputs[0].dtype == card.input.dtype
        assert model.inputs[0].name == card.input.name
    per_position = card.task == "language-modeling"  # a logit vector per position, of any length
    assert model.output_shape == (None, *(None,) * per_position, card.output.num_classes)
    assert model.layers[-1].name == card.output.name
    out = np.asarray(model(x, training=False))
    length = (card.hparams["sequence_length"],) if per_position else ()
    assert out.shape == (2, *length, card.output.num_classes)
    assert np.all(np.isfinite(out))
    if card.output.activation == "softmax":
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_get_compiles_with_the_recipe_so_fit_works_at_once():
    model = zoo.get("cnn_mnist")
    assert model.optimizer.__class__.__name__ == "Adam"
    x = np.random.default_rng(1).integers(0, 256, size=(16, 28, 28, 1), dtype=np.uint8)
    y = np.arange(16) % 10
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert len(history.history["loss"]) == 2


def test_compile_false_leaves_the_model_uncompiled():
    assert not zoo.get("cnn_mnist", compile=False).compiled
    assert zoo.get("cnn_mnist").compiled


def test_recipe_schedule_reaches_the_optimizer():
    from zoo import recipes

    # zoo.train builds the optimizer from the recipe and the steps of an epoch it knows
    # He et al.'s CIFAR recipe: 0.1, divided by 10 at epochs 82 and 123
    paper = zoo.Recipe(dataset="cifar10", epochs=164, batch_size=128, optimizer="sgd", learning_rate=0.1,
                       momentum=0.9, weight_decay=1e-4, schedule="piecewise", boundaries=(82.0, 123.0))
    sgd = recipes.optimizer(paper, steps=352)
    assert sgd.__class__.__name__ == "SGD"
    assert float(sgd.momentum) == pytest.approx(0.9)
    schedule = sgd._learning_rate  # piecewise: 0.1, then x0.1 at epochs 82 and 123 of 352 steps each
    assert float(schedule(0)) == pytest.approx(0.1)
    assert float(schedule(82 * 352 - 1)) == pytest.approx(0.1)
    assert float(schedule(82 * 352 + 1)) == pytest.approx(0.01)
    assert float(schedule(123 * 352 + 1)) == pytest.approx(0.001)
    adam = recipes.optimizer(zoo.info("cnn_mnist").recipe, steps=844)._learning_rate  # cycles of 1, 2, 4, 8 epochs
    for start, end in ((0, 844), (844, 3 * 844), (3 * 844, 7 * 844), (7 * 844, 15 * 844)):
        assert float(adam(start)) == pytest.approx(2e-3, rel=1e-3)
        assert float(adam(end - 1)) < 1e-6


def test_nesterov_and_label_smoothing_reach_keras():
    from zoo import recipes
    from zoo.losses import SparseCategoricalCrossentropyWithSmoothing

    recipe = zoo.info("resnet20_cifar10").recipe
    assert recipe.nesterov and recipe.label_smoothing == 0.1
    assert recipes.optimizer(recipe, steps=352).nesterov is True
    loss = recipes.loss(recipe)
    assert isinstance(loss, SparseCategoricalCrossentropyWithSmoothing) and loss.label_smoothing == 0.1
    probabilities = np.array([[0.7, 0.2, 0.1]], "float32")
    # (1 - 0.1) one-hot + 0.1 / 3: Keras' categorical cross-entropy with label smoothing
    expected = -(0.9 + 0.1 / 3) * np.log(0.7) - 0.1 / 3 * (np.log(0.2) + np.log(0.1))
    assert float(loss(np.array([0]), probabilities)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        recipes.check(recipe.replace(label_smoothing=1.0))


def test_cosine_restarts_reaches_zero_at_the_end_of_each_cycle():
    from zoo import recipes

    recipe = zoo.info("cnn_mnist").recipe.replace(schedule="cosine_restarts", cycle_epochs=1.0, cycle_mult=2.0)
    lr = recipes.learning_rate(recipe, steps=100)  # cycles of 100, 200, 400 steps: ends at 100, 300, 700
    peak = recipe.learning_rate
    assert float(lr(0)) == pytest.approx(peak)
    assert float(lr(50)) == pytest.approx(peak / 2, rel=1e-3)
    for end in (100, 300, 700):
        assert float(lr(end - 1)) < peak * 1e-3
        assert float(lr(end)) == pytest.approx(peak)  # the restart
    with pytest.raises(ValueError, match="cycle_mult must be at least 1"):
        recipes.check(recipe.replace(cycle_mult=0.5))
    with pytest.raises(ValueError, match="cycle_epochs must be positive"):
        recipes.check(recipe.replace(cycle_epochs=0))
    with pytest.raises(ValueError, match="cosine_restarts has no warm-up"):
        recipes.check(recipe.replace(warmup_epochs=0.25))


@pytest.mark.slow
def test_overrides_take_effect():
    model = zoo.get("cnn_mnist", num_classes=5, input_shape=(32, 32, 3), filters=(8, 16, 32), compile=False)
    assert model.output_shape == (None, 5)
    assert model.input_shape == (None, 32, 32, 3)
    assert model.get_layer("stage1_conv").filters == 8
    deep = zoo.get("resnet20_cifar10", depth=32, compile=False)
    assert len([l for l in deep.layers if l.name.endswith("_add")]) == 15
    wide = zoo.get("mobilenet_v2_cifar10", width_multiplier=1.0, compile=False)
    assert wide.count_params() > zoo.info("mobilenet_v2_cifar10").num_params


@pytest.mark.parametrize("name", ["resnet20_cifar10", "resnet56_cifar10", "mobilenet_v2_cifar10"])
def test_cifar_models_use_the_papers_batch_norm_momentum(name):
    # Keras' default 0.99 made mobilenet's validation lag training by 30 points after two epochs of the short recipe.
    model = zoo.get(name, compile=False)
    norms = [layer for layer in model.layers if layer.__class__.__name__ == "BatchNormalization"]
    assert len(norms) >= 19
    assert {layer.momentum for layer in norms} == {0.9}


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("cnn_mnist", {"filterz": (1, 2, 3)}, r"no hyper-parameter 'filterz'; allowed: num_classes, input_shape, filters, dropout"),
        ("cnn_mnist", {"num_classes": 1}, "num_classes must be at least 2"),
        ("cnn_mnist", {"num_classes": "ten"}, "num_classes must be an integer"),
        ("cnn_mnist", {"dropout": 1.5}, r"dropout must be in \[0.0, 1.0\)"),
        ("cnn_mnist", {"filters": (8, 16)}, "filters must have 3 entries"),
        ("cnn_mnist", {"input_shape": (4, 4, 1)}, "at least 8x8"),
        ("resnet20_cifar10", {"depth": 21}, r"depth must be 6n\+2"),
        ("resnet20_cifar10", {"input_shape": (32, 32, 1)}, "must have 3 channel"),
        ("mobilenet_v2_cifar10", {"width_multiplier": 0}, "width_multiplier must be in"),
    ],
)
def test_bad_hparams_raise_value_errors_naming_what_is_allowed(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.get(name, compile=False, **kwargs)


def test_unknown_name_in_get():
    with pytest.raises(zoo.UnknownModelError, match="did you mean 'cnn_mnist'"):
        zoo.get("cnn_mnst")


def test_user_registered_builder_is_built_and_compiled():
    import keras

    def tiny(*, units=4, num_classes=2):
        inputs = keras.Input((3,), name="x")
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax", name="y")(keras.layers.Dense(units)(inputs)))

    card = zoo.ModelCard(
        name="tiny_user_model", family="mlp", task="image-classification", dataset="mnist", description="tiny",
        builder=tiny, hparams={"units": 4, "num_classes": 2}, input=zoo.InputSpec("x", (3,), "float32"),
        output=zoo.OutputSpec("y", 2), num_params=34, recipe=zoo.Recipe(dataset="mnist", epochs=1, batch_size=4),
    )
    zoo.register(card)
    try:
        model = zoo.get("tiny_user_model", units=8, num_classes=3)
        assert model.count_params() == 3 * 8 + 8 + 8 * 3 + 3
        assert model.optimizer is not None
    finally:
        zoo.unregister("tiny_user_model")
