"""Prediction on what a user has: image files (PNG, JPEG, NPY) read, converted and resized as the card says."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo import registry
from zoo.errors import InputError
from zoo.registry import ModelCard

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".npy")


def read_image(path: str | os.PathLike[str], card: ModelCard | tuple[int, int, int]) -> np.ndarray:
    """One image file as the model's input: (H, W, C) uint8, grayscale or RGB as the card's input spec (or the
    shape given) says.

    PNG/JPEG/BMP/GIF are read with Pillow, converted to the card's channels and resized (bilinear) to its
    height and width. An NPY file holds one image, (H, W) or (H, W, C), uint8 (or integer values in 0..255).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    height, width, channels = card if isinstance(card, tuple) else card.input.shape
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"{path}: expected an image ({', '.join(IMAGE_SUFFIXES)})")
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise InputError(f"{path}: not a plain NumPy array file ({e})") from e
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim != 3 or array.shape[-1] not in (1, 3):
            raise InputError(f"{path}: expected one image of shape (H, W) or (H, W, 1|3), got {array.shape}")
        if not np.issubdtype(array.dtype, np.integer) or array.min() < 0 or array.max() > 255:
            raise InputError(f"{path}: expected uint8 pixel values 0..255, got {array.dtype} in "
                             f"[{array.min()}, {array.max()}]")
        image = Image.fromarray(array.astype(np.uint8).squeeze(-1) if array.shape[-1] == 1 else array.astype(np.uint8))
    else:
        try:
            image = Image.open(path)
            image.load()
        except (UnidentifiedImageError, OSError) as e:
            raise InputError(f"{path}: cannot be read as an image ({e})") from e
    image = image.convert("L" if channels == 1 else "RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if channels == 1 else array


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
