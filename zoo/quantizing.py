"""int8 weights through Keras' own ``Model.quantize``: ``zoo.get(name, quantize="int8")`` and the int8
SavedModel and ``.keras`` exports.

Keras quantizes its ``Dense``, ``EinsumDense`` and ``Embedding`` layers (and keras-hub's, built on them): their
kernels become int8 with a float scale per output channel, and their inputs are quantized on the fly. The other
layers (convolutions, LSTM cells, normalizations, zoo's hashed bigram table) stay as they were, and so does a
keras-hub task's head (see :func:`_in_scope`). A model whose
body holds no layer Keras can quantize (zoo's convolutional networks: only the head would change) is refused,
with the way to an int8 image model (TFLite's full-integer export).
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any

import numpy as np

from zoo.errors import QuantizationError

QUANTIZE_MODES = ("int8",)


def _leaves(model: Any) -> list[Any]:
    """The layers that hold weights and no layers of their own (what ``Model.quantize`` visits)."""
    return [layer for layer in model._flatten_layers()
            if len(list(layer._flatten_layers())) == 1 and layer.weights]


def _can_quantize(layer: Any) -> bool:
    import keras

    return type(layer).quantize is not keras.layers.Layer.quantize


def _size(layer: Any) -> int:
    return sum(int(np.prod(w.shape)) for w in layer.weights)


def _in_scope(model: Any) -> Any:
    """Which layers may be quantized: a keras-hub task's backbone only (its config carries the quantized layers'
    policies, as a ``DTypePolicyMap``; a task's own config does not, so a quantized head would not reload from a
    ``.keras`` archive or a preset); every layer of a plain Keras model (its config is per layer)."""
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        return lambda layer: True
    ids = {id(layer) for layer in backbone._flatten_layers()}
    return lambda layer: id(layer) in ids


def plan(model: Any, head: str | None = None) -> dict[str, Any]:
    """What ``quantize`` would change: the layers Keras quantizes, those it leaves, their shares of the weights."""
    leaves = _leaves(model)
    scope = _in_scope(model)
    chosen = [layer for layer in leaves if _can_quantize(layer) and scope(layer)]
    kept = [layer for layer in leaves if layer not in chosen]
    total = sum(_size(layer) for layer in leaves) or 1
    return {
        "quantized": [layer.path for layer in chosen],
        "kept": sorted({type(layer).__name__ for layer in kept}),
        "quantized_share": sum(_size(layer) for layer in chosen) / total,
        "body_quantized": [layer.path for layer in chosen if layer.name != head],
    }


def quantize(model: Any, mode: str = "int8", *, name: str | None = None, head: str | None = None) -> dict[str, Any]:
    """Quantize ``model`` in place with Keras' ``Model.quantize(mode)``; returns :func:`plan`'s account.

    Raises:
        QuantizationError: an unknown mode, a model already quantized, or one whose body holds no layer Keras
            can quantize (only its head ``head`` would change).
    """
    if mode not in QUANTIZE_MODES:
        raise QuantizationError(f"unknown quantization {mode!r}; Keras' quantize here: {', '.join(QUANTIZE_MODES)}")
    label = name or model.name
    if any("int8" in str(getattr(layer.dtype_policy, "name", "")) for layer in model._flatten_layers()):
        raise QuantizationError(f"{label} is already quantized; quantize the float32 model once")
    account = plan(model, head)
    if not account["body_quantized"]:
        raise QuantizationError(
            f"{label} cannot be quantized to {mode} by Keras: its quantize covers Dense, EinsumDense and Embedding "
            f"layers, and here those hold {account['quantized_share']:.1%} of the weights (the head only); its "
            f"{', '.join(account['kept'])} layers stay float32, so the file would be as large and no faster. For an "
            f"int8 image model export TFLite: zoo export {label} {label}.tflite --format tflite --quantization int8"
        )
    # The planned layers only: the preprocessor's tokenizer is a leaf too, never built, and Keras refuses to
    # quantize an unbuilt layer even where it would change nothing.
    chosen = set(account["quantized"])
    with one_collection():
        model.quantize(mode, filters=lambda layer: layer.path in chosen)
    model.zoo_quantization = {"mode": mode, **account}
    return model.zoo_quantization


@contextlib.contextmanager
def one_collection():
    """Keras' ``Layer.__delattr__`` runs a full ``gc.collect()`` for every variable a layer drops, and
    ``quantize`` drops each layer's float kernel: a collection a layer, each as slow as the process is large
    (0.23 s in a fresh process, seconds in a long-lived one; docs/KNOWN_ISSUES.md). Inside this block those
    collections are put off, and one runs at its end."""
    collect = gc.collect
    gc.collect = lambda *args, **kwargs: 0
    try:
        yield
    finally:
        gc.collect = collect
        collect()


def reloads_from_archive(model: Any) -> bool:
    """Whether a ``.keras`` archive of ``model`` comes back quantized as it is: a keras-hub task's backbone
    records its quantized layers' policies (a ``DTypePolicyMap``), and a plain Keras model records each of its
    own layers' policy; but a layer built inside another (a keras-hub encoder block's Dense layers) is rebuilt
    with its parent's policy, float32, and the archive fails to load (docs/KNOWN_ISSUES.md)."""
    account = getattr(model, "zoo_quantization", None)
    if not account or getattr(model, "backbone", None) is not None:
        return True
    own = {layer.path for layer in model.layers}
    return set(account["quantized"]) <= own

