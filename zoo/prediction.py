"""Prediction on what a user has: image files (PNG, JPEG, NPY) read, converted and resized as the card says."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data.images import IMAGE_SUFFIXES, read_image  # noqa: F401 - zoo.prediction.read_image stays
from zoo.errors import InputError

def predict(
    name_or_model: Any,
    inputs: list[str | os.PathLike[str]] | np.ndarray,
    *,
    top_k: int = 3,
    pretrained: bool | str = True,
    preset: str | None = None,
) -> list[dict[str, Any]]:
    """Classify image files (or a uint8 array batch), or raw texts for the text classifiers: for each, the
    top-k classes with their probabilities. ``name_or_model`` may also be a ``.tflite`` or ``.onnx`` export of zoo.

    Returns one dict per input: ``{"input", "top_k": [{"class_id", "class_name", "probability"}, ...]}``.
    """
    from zoo import api

    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if isinstance(name_or_model, (str, os.PathLike)) and str(name_or_model).endswith(".tflite"):
        return _predict_tflite(Path(name_or_model), inputs, top_k)
    if isinstance(name_or_model, (str, os.PathLike)) and str(name_or_model).endswith(".onnx"):
        return _predict_onnx(Path(name_or_model), inputs, top_k)
    _, model = api.resolve(name_or_model, pretrained=pretrained, preset=preset)
    card = api.card_of(model)
    if card.task == "language-modeling":
        raise InputError(f"{card.name} is a language model: use zoo generate (zoo.generate) to continue a text")
    api.warn_if_untrained_head(model, "predict")
    batch, labels = _batch(card, inputs)
    from zoo.models import hub

    if hub.is_task(model) and isinstance(batch, np.ndarray) and batch.dtype == np.uint8:
        # The same pixel values as floats: keras-hub's ImageConverter, run eagerly (as its predict does for
        # arrays once Grain is installed), resizes uint8 images in uint8, rounding every pixel; in tf.data and
        # in a SavedModel it resizes floats (docs/KNOWN_ISSUES.md).
        batch = batch.astype(np.float32)
    probabilities = np.asarray(model.predict(batch, verbose=0))
    return _top_k(labels, probabilities, api.class_names(card, model), top_k)


def _top_k(labels: list[str], probabilities: np.ndarray, names: Any, top_k: int) -> list[dict[str, Any]]:
    names = names or tuple(str(i) for i in range(probabilities.shape[1]))
    k = min(top_k, probabilities.shape[1])
    results = []
    for label, probs in zip(labels, probabilities):
        order = np.argsort(-probs)[:k]
        results.append({"input": label, "top_k": [
            {"class_id": int(i), "class_name": names[i], "probability": float(probs[i])} for i in order
        ]})
    return results


def _predict_tflite(path: Path, inputs: Any, top_k: int) -> list[dict[str, Any]]:
    """Classify with a ``.tflite`` export of zoo (its parts checked: ``zoo.exporting.load_tflite``): images as
    the card says, texts tokenised with the tokenizer and vocabulary written beside it, then the interpreter."""
    from zoo.exporting import load_tflite, tflite_sidecar

    export = load_tflite(path)
    batch, labels = _batch(export.card, inputs)
    if export.preprocessor is not None:
        batch = np.asarray(export.preprocessor(batch), np.int32)
    (name,) = export.runner.get_input_details()
    try:
        outputs = export.runner(**{name: np.asarray(batch)})
    except (RuntimeError, ValueError) as e:
        if "Flex delegate" in str(e):
            raise InputError(f"{path} uses TensorFlow ops through the Flex delegate (see {tflite_sidecar(path).name}), "
                             f"which this TensorFlow's tf.lite.Interpreter does not link; run it where the Flex "
                             f"delegate is (LiteRT with tensorflow-lite-select-tf-ops), or export a SavedModel") from e
        raise InputError(f"{path}: the TFLite interpreter failed on these inputs ({str(e).splitlines()[0][:300]})") from e
    return _top_k(labels, np.asarray(outputs["probabilities"]), export.class_names, top_k)


def _predict_onnx(path: Path, inputs: Any, top_k: int) -> list[dict[str, Any]]:
    """Classify with an ``.onnx`` export of zoo (its parts checked: ``zoo.exporting.load_onnx``), in onnxruntime."""
    from zoo.exporting import load_onnx

    export = load_onnx(path)
    batch, labels = _batch(export.card, inputs)
    if export.preprocessor is not None:
        batch = np.asarray(export.preprocessor(batch), np.int32)
    try:
        probabilities = export(batch)
    except Exception as e:  # onnxruntime's own exception types
        raise InputError(f"{path}: onnxruntime failed on these inputs ({str(e).splitlines()[0][:300]})") from e
    return _top_k(labels, np.asarray(probabilities), export.class_names, top_k)


def _batch(card: Any, inputs: Any) -> tuple[Any, list[str]]:
    """The model's input batch and a label for each input: texts, image files, or an image array."""
    if card.input.kind == "text":
        import tensorflow as tf

        texts = check_texts(card, inputs)
        return tf.constant(texts), texts
    if isinstance(inputs, np.ndarray):
        return check_images(card, inputs, "the array"), [f"[{i}]" for i in range(len(inputs))]
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not inputs:
        raise InputError("no inputs given: name one or more image files")
    return np.stack([read_image(p, card) for p in inputs]), [str(p) for p in inputs]


def check_texts(card: Any, inputs: Any) -> list[str]:
    """Raw texts for a text classifier: one string or a non-empty sequence of strings, none of them blank."""
    texts = [inputs] if isinstance(inputs, str) else list(inputs)
    if not texts:
        raise InputError("no inputs given: give one or more texts")
    bad = next((type(t).__name__ for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise InputError(f"{card.name} takes raw text: every input must be a string, got a {bad}")
    blank = [i for i, t in enumerate(texts) if not t.strip()]
    if blank:  # a classifier would answer it with a confident class all the same
        raise InputError(f"text {blank[0]} is {'empty' if not texts[blank[0]] else 'blank'}: {card.name} has "
                         f"nothing to classify; give a text with words in it")
    return texts


def check_images(card: Any, batch: np.ndarray, what: str) -> np.ndarray:
    """A batch of images for an image model, as its card says: uint8 pixels (0..255), of its shape, at least
    one. Floats, NaN and out-of-range values are refused, not guessed at."""
    shape = tuple(card.input.shape)
    if batch.ndim != len(shape) + 1 or batch.shape[1:] != shape:
        raise InputError(f"{what} has shape {batch.shape}; {card.name} takes a batch of shape (N, "
                         f"{', '.join(map(str, shape))})")
    if len(batch) == 0:
        raise InputError(f"{what} is an empty batch: give at least one image")
    if batch.dtype != np.uint8:
        if not np.issubdtype(batch.dtype, np.integer):
            raise InputError(f"{what} holds {batch.dtype} values; {card.name} takes uint8 pixels 0..255 "
                             f"(convert with np.clip(x, 0, 255).astype(np.uint8) if they are pixel values)")
        if batch.min() < 0 or batch.max() > 255:
            raise InputError(f"{what} holds values in [{batch.min()}, {batch.max()}]; pixels are 0..255")
        batch = batch.astype(np.uint8)
    return batch
