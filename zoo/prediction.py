"""Prediction on what a user has: image files (PNG, JPEG, NPY) read, converted and resized as the card says."""

from __future__ import annotations

import os
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
    top-k classes with their probabilities.

    Returns one dict per input: ``{"input", "top_k": [{"class_id", "class_name", "probability"}, ...]}``.
    """
    from zoo import api

    card = api.card_of(name_or_model)
    _, model = api.resolve(name_or_model, pretrained=pretrained, preset=preset)
    if card.task == "language-modeling":
        raise InputError(f"{card.name} is a language model: use zoo generate (zoo.generate) to continue a text")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    if card.input.kind == "text":
        import tensorflow as tf

        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        if not texts:
            raise InputError("no inputs given: give one or more texts")
        if not all(isinstance(t, str) for t in texts):
            bad = next(type(t).__name__ for t in texts if not isinstance(t, str))
            raise InputError(f"{card.name} takes raw text: every input must be a string, got a {bad}")
        batch, labels = tf.constant(texts), texts
    elif isinstance(inputs, np.ndarray):
        batch, labels = inputs, [f"[{i}]" for i in range(len(inputs))]
    else:
        if not inputs:
            raise InputError("no inputs given: name one or more image files")
        batch = np.stack([read_image(p, card) for p in inputs])
        labels = [str(p) for p in inputs]
    if card.input.kind == "image" and batch.shape[1:] != tuple(card.input.shape):
        raise InputError(f"inputs of shape {batch.shape[1:]}; {card.name} takes {tuple(card.input.shape)}")
    probabilities = np.asarray(model.predict(batch, verbose=0))
    names = api.class_names(card, model) or tuple(str(i) for i in range(probabilities.shape[1]))
    k = min(top_k, probabilities.shape[1])
    results = []
    for label, probs in zip(labels, probabilities):
        order = np.argsort(-probs)[:k]
        results.append({"input": label, "top_k": [
            {"class_id": int(i), "class_name": names[i], "probability": float(probs[i])} for i in order
        ]})
    return results
