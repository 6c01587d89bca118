"""zoo: a model zoo for Keras 3 on TensorFlow.

Find a model, read its card, build it (compiled, optionally with weights this project trained itself),
train it with its recipe, evaluate it::

    import zoo
    zoo.list_models("cnn_*")                  # names, from metadata alone
    print(zoo.info("cnn_mnist"))              # the model card
    model = zoo.get("cnn_mnist", pretrained=True)
    result = zoo.train("cnn_mnist", epochs=2)

Importing zoo imports no TensorFlow: listing and describing are instant. Building, training and evaluating
import Keras when they are called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zoo._version import __version__
from zoo.errors import (
    DataFormatError,
    DataNotFoundError,
    DeviceUnavailableError,
    ExportError,
    ModelExistsError,
    UnknownModelError,
    WeightsError,
    ZooError,
)
from zoo.manifest import WeightsInfo
from zoo.registry import HubPreset, InputSpec, ModelCard, OutputSpec, Recipe, list_models, unregister

if TYPE_CHECKING:
    import keras

    from zoo.training import TrainResult

__all__ = [
    "__version__", "get", "list_models", "info", "register", "unregister", "train", "evaluate", "verify", "export",
    "predict", "generate",
    "ModelCard", "HubPreset", "InputSpec", "OutputSpec", "Recipe", "WeightsInfo",
    "ZooError", "UnknownModelError", "ModelExistsError", "WeightsError", "DataNotFoundError", "DataFormatError",
    "DeviceUnavailableError", "ExportError",
]


def info(name: str) -> ModelCard:
    """The model card of ``name``: task, dataset, input spec, outputs, parameters, licence, recipe, weights.

    ``str(card)`` reads as text, ``card.to_json()`` as JSON. Raises :class:`UnknownModelError` (with
    close-match suggestions) for a name that is not registered.
    """
    from zoo.registry import get_card

    return get_card(name)


def register(card: ModelCard) -> ModelCard:
    """Register a model of your own: a :class:`ModelCard` whose ``builder`` is a callable (or ``"module:fn"``).

    The builder takes the card's ``hparams`` as keyword arguments and returns a ``keras.Model``. A name that
    is taken raises :class:`ModelExistsError`. Returns the card.
    """
    from zoo.registry import register_card

    return register_card(card)


def get(
    name: str,
    *,
    pretrained: bool | str = False,
    num_classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    compile: bool = True,
    weights_sha256: str | None = None,
    strategy: Any = None,
    **hparams: Any,
) -> keras.Model:
    """Build a registered model, compiled with its recipe, optionally with pretrained weights.

    Args:
        name: a registered name (``"cnn_mnist"``), or ``"name.tag"`` for a given weight set.
        pretrained: ``False`` for fresh weights; ``True`` for the default weights; a tag (``"mnist_v2"``) for
            a given set; or a path to a ``.weights.h5`` file of your own. The file's full sha256 is checked
            before anything is loaded.
        num_classes: the size of the classification head. With pretrained weights of another size, the body
            is loaded and a fresh head is built.
        input_shape: the input shape without the batch dimension.
        compile: compile with the card's recipe (optimizer and schedule, loss, metrics), so that
            ``zoo.get(name).fit(x, y)`` works at once.
        weights_sha256: with ``pretrained=path``, the file's expected sha256.
        strategy: a ``tf.distribute.Strategy`` or a name for ``zoo.distribute.get_strategy`` ("mirrored",
            "tpu", ...): the model is built, its weights loaded and it is compiled inside the strategy's scope.
        **hparams: any of the card's hyper-parameters (``zoo.info(name).hparams``).

    Raises:
        UnknownModelError: the name is not registered (the message suggests close matches).
        ValueError: an unknown hyper-parameter or a bad value (the message names what is allowed).
        WeightsError: no such weights, a hash mismatch, weights unavailable offline, or weights that do not fit.
    """
    from zoo import api

    return api.get(name, pretrained=pretrained, num_classes=num_classes, input_shape=input_shape, compile=compile,
                   weights_sha256=weights_sha256, strategy=strategy, **hparams)


def train(
    name: str,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    data_dir: str | None = None,
    model_dir: str | None = None,
    resume: bool = True,
    seed: int | None = None,
    early_stopping: int | None = None,
    source: str = "auto",
    verbose: int | str = "auto",
    callbacks: list[Any] | None = None,
    strategy: Any = None,
    tpu: str | None = None,
    num_gpus: int | None = None,
    mixed_precision: str | None = None,
    jit_compile: bool | str = "auto",
    steps_per_execution: int = 1,
    dataset: str | None = None,
    **hparams: Any,
) -> TrainResult:
    """Train a registered model with its recipe on its dataset: standard compile + ``model.fit``.

    Any part of the recipe given here overrides the card's. Writes into ``model_dir`` (default
    ``runs/NAME``): ``best.weights.h5`` (best validation epoch), ``final.weights.h5``, ``backup/`` (so that a
    killed run started again with the same call continues from its last finished epoch, unless
    ``resume=False``), ``log.csv``, ``tensorboard/``, ``metrics.json`` (test metrics, recipe, versions, sha256
    of the data files) and ``curves.png``. Every file is written atomically.

    Args:
        name: a registered model name.
        epochs, batch_size, learning_rate, seed: override the recipe (``batch_size`` is the global batch).
        data_dir: folder of local dataset copies (default ``$ZOO_DATA_DIR``); ``source`` "auto", "local", "tfds".
        early_stopping: stop after this many epochs without improvement of the recipe's monitored metric.
        verbose: Keras' progress output ("auto", 0, 1 or 2).
        callbacks: extra Keras callbacks.
        strategy: a ``tf.distribute.Strategy`` or a name ("auto", "cpu", "gpu", "mirrored", "tpu",
            "multi_worker", "off"; see ``zoo.distribute``), with ``tpu`` (address) and ``num_gpus``. Under
            "multi_worker" zoo runs its own loop (Keras 3's fit fails there) with the same callbacks.
        mixed_precision: "off", "float16" or "bfloat16" (default: bfloat16 on TPU, else off).
        jit_compile, steps_per_execution: passed to ``compile``; what breaks under MirroredStrategy is adjusted
            with a warning.
        dataset: train on another zoo dataset of the kind the model's task takes (e.g. fine-tune
            ``bert_classifier`` on "imdb_reviews"); the classification head is sized to its classes.
        **hparams: the model's hyper-parameters, and any other field of its recipe (``optimizer``,
            ``weight_decay``, ``schedule``, ``warmup_epochs``, ``augmentation``, ``validation_split``, ...;
            see ``zoo.info(name).recipe``).

    Returns:
        A :class:`zoo.training.TrainResult`: model (best weights), history, test metrics, paths, wall time.
    """
    from zoo import training

    return training.train(
        name, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, data_dir=data_dir,
        model_dir=model_dir, resume=resume, seed=seed, early_stopping=early_stopping, source=source,
        verbose=verbose, callbacks=callbacks, strategy=strategy, tpu=tpu, num_gpus=num_gpus,
        mixed_precision=mixed_precision, jit_compile=jit_compile, steps_per_execution=steps_per_execution,
        dataset=dataset, **hparams,
    )


def evaluate(
    name_or_model: str | keras.Model,
    *,
    weights: bool | str | None = None,
    split: str = "test",
    data_dir: str | None = None,
    source: str = "auto",
    batch_size: int | None = None,
    preset: str | None = None,
) -> dict[str, float]:
    """Evaluate a model on a split of its dataset; returns the loss, the recipe's metrics and ``num_examples``.

    Args:
        name_or_model: a registered name (evaluated with its default weights, or ``weights``: a tag or a
            ``.weights.h5`` path), or a model from ``zoo.get``.
        split: "test" (default), "validation" or "train".
        preset: for an entry backed by keras-hub, a preset name or a local preset folder.
    """
    from zoo import training

    return training.evaluate(name_or_model, weights=weights, split=split, data_dir=data_dir, source=source,
                             batch_size=batch_size, preset=preset)


def verify(name: str) -> dict[str, Any]:
    """Check a weight set end to end: its sha256, that it loads, and that a fixed input gives the outputs
    recorded in the manifest (catching dtype, layout or version drift). ``name`` may carry a tag
    (``"cnn_mnist.mnist_v2"``). Raises :class:`WeightsError` on any failure; returns what was checked."""
    from zoo import api

    return api.verify(name)


def export(
    model_or_name: str | keras.Model,
    path: str,
    *,
    format: str = "saved_model",
    pretrained: bool | str = True,
    overwrite: bool = False,
    version: int = 1,
    quantization: str | None = None,
    data_dir: str | None = None,
    preset: str | None = None,
) -> Any:
    """Export a model for serving; returns the path written.

    Args:
        model_or_name: a model from ``zoo.get``/``zoo.train``, or a registered name (built with its default
            weights, or ``pretrained``: a tag or a ``.weights.h5`` path; a model without weights as built).
        path: for ``"saved_model"`` a folder: the export goes to ``path/<version>/`` as TF Serving expects,
            with a ``serving_default`` signature taking the raw input (named as on the card, batch dimension
            open) and answering ``probabilities``, ``class_id`` and ``class_name``, the card in
            ``assets.extra/zoo_card.json``. For ``"keras"`` a ``.keras`` file; for ``"tflite"`` a ``.tflite`` file.
        format: "saved_model", "keras" or "tflite".
        overwrite: replace an existing export (otherwise an existing one is an error).
        quantization: TFLite only: None (float32), "float16", or "int8" (calibrated on the model's training
            data, read through ``data_dir`` / ``$ZOO_DATA_DIR``).

    Everything is written into a temporary place first and renamed: nothing half-written is ever left.

    Raises:
        ExportError: a missing parent folder, an existing export, an unknown format, a model without an input spec.
    """
    from zoo import exporting

    return exporting.export(model_or_name, path, format=format, pretrained=pretrained, overwrite=overwrite,
                          version=version, quantization=quantization, data_dir=data_dir, preset=preset)


def predict(name_or_model: str | keras.Model, inputs: Any, *, top_k: int = 3, pretrained: bool | str = True,
            preset: str | None = None) -> list:
    """Classify image files (PNG, JPEG, NPY; converted and resized as the card says) or a uint8 batch.

    Returns, for each input, ``{"input", "top_k": [{"class_id", "class_name", "probability"}, ...]}``.
    """
    from zoo import prediction

    return prediction.predict(name_or_model, inputs, top_k=top_k, pretrained=pretrained, preset=preset)


def generate(
    name_or_model: str | keras.Model,
    prompt: str,
    *,
    max_length: int = 200,
    sampler: str = "greedy",
    temperature: float = 1.0,
    top_k: int = 10,
    top_p: float = 0.9,
    seed: int | None = None,
    pretrained: bool | str = True,
    preset: str | None = None,
) -> str:
    """Continue ``prompt`` with a language model (``char_lstm_shakespeare``, ``gpt_shakespeare``).

    Args:
        max_length: characters of the result, the prompt included (more than the prompt's length).
        sampler: "greedy", "top_k" (``top_k``) or "top_p" (``top_p``), keras-hub's samplers; ``temperature``
            divides the logits; ``seed`` makes sampling deterministic.

    Returns:
        The prompt and its continuation, ``max_length`` characters.
    """
    from zoo import generation

    return generation.generate(name_or_model, prompt, max_length=max_length, sampler=sampler,
                               temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, pretrained=pretrained,
                               preset=preset)


_SUBMODULES = ("data", "distribute", "exporting", "training", "weights", "manifest", "registry", "recipes")


def __getattr__(name: str) -> Any:
    """``zoo.data``, ``zoo.distribute``, ... imported on first use, so that ``import zoo`` stays light."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"zoo.{name}")
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
