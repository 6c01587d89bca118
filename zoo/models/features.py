"""A classifier without its head, as keras.applications' ``include_top=False``: the pretrained body as a
feature extractor, its weights the classifier's own (the same variables, not copies)."""

from __future__ import annotations

from typing import Any

POOLINGS = (None, "avg", "max")


def _feature_layer(model: Any, head: str, spatial: bool) -> Any:
    """The layer whose output the body ends with: for an image model its last feature map, the last 4-D (a
    convnet's) or 3-D (a ViT's tokens) output after which only weightless layers (pooling, flattening, dropout)
    come before the head; else the head's own input (a text classifier's pooled vector, an MLP's last hidden
    layer)."""
    layers = [layer for layer in model.layers if layer.name != head]
    if spatial:
        for i in range(len(layers) - 1, 0, -1):
            if layers[i].weights and len(layers[i].output.shape) < 3:
                break  # a weighted layer on a vector: the map before it is not the body's end (an MLP)
            if len(layers[i].output.shape) >= 3:
                return layers[i]
    inbound = model.get_layer(head).input
    return next(layer for layer in layers if layer.output is inbound)


def without_top(model: Any, *, pooling: str | None, head: str, spatial: bool) -> Any:
    """The body of ``model``: up to its last feature map (``spatial``) or the head's input, then ``pooling``
    ("avg" or "max" over the map's positions, or None for the map itself). A body whose features are already
    a vector takes no pooling."""
    import keras

    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of None, 'avg', 'max', got {pooling!r}")
    layer = _feature_layer(model, head, spatial)
    x = layer.output
    rank = len(x.shape)
    if pooling is not None and rank < 3:
        raise ValueError(f"{model.name}'s features are already a vector of {x.shape[-1]}: leave pooling=None")
    if pooling is not None:
        kind = {("avg", 4): keras.layers.GlobalAveragePooling2D, ("max", 4): keras.layers.GlobalMaxPooling2D,
                ("avg", 3): keras.layers.GlobalAveragePooling1D, ("max", 3): keras.layers.GlobalMaxPooling1D}
        x = kind[(pooling, rank)](name=f"features_{pooling}_pool")(x)
    return keras.Model(model.inputs, x, name=f"{model.name}_features")
