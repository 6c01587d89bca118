"""Test-time views averaged inside the model: what ``zoo.get``, ``predict`` and every export serve.

At inference (``training=False``) :class:`TTAViews` stacks each image's views along the batch (views x N) and
:class:`TTAAverage` folds them back into one row per image with a weighted mean; in training both pass the batch
through as it is, so a model trains exactly as it would without them. The views of each level are airbench94's
(``infer_mirror_translate``): 0 the image alone; 1 the image and its mirror; 2 those two and each of them moved
by one pixel up-left and down-right (with reflection), the moved ones weighted half.

Where the average sits: after the last weighted layer on the feature map and before any pooling, so that the
pooled features, the logits and the probabilities are all the views' average (global pooling and the head's
dense layer are linear) and a body cut for features (``include_top=False``) gives the averaged features too.
A builder's ``tta_level`` switches the views; :func:`without_views` is the same weights with the views off,
whose figure every card gives beside the served one.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from zoo.models._common import check_int

# The weights of each level's views, in the order views() stacks them: the levels there are.
TTA_WEIGHTS = {0: (1.0,), 1: (0.5, 0.5), 2: (0.25, 0.25, 0.125, 0.125, 0.125, 0.125)}


def check_level(value: Any) -> int:
    """A builder's ``tta_level``, checked: one of TTA_WEIGHTS' levels."""
    return check_int("tta_level", value, minimum=min(TTA_WEIGHTS), maximum=max(TTA_WEIGHTS))


def views(x: Any, level: int) -> Any:
    """The ``level``'s views of a batch of images (N, H, W, C), stacked along the batch (views x N)."""
    if level == 0:
        return x
    flipped = ops.flip(x, axis=2)
    if level == 1:
        return ops.concatenate([x, flipped], axis=0)
    h, w = x.shape[1], x.shape[2]
    padded = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
    up_left, down_right = padded[:, :h, :w, :], padded[:, 2:, 2:, :]
    return ops.concatenate([x, flipped, up_left, ops.flip(up_left, axis=2), down_right,
                            ops.flip(down_right, axis=2)], axis=0)


@keras.saving.register_keras_serializable(package="zoo")
class TTAViews(layers.Layer):
    """At inference, each image and its test-time views, stacked along the batch; in training, the batch as it
    is. :class:`TTAAverage` folds them back."""

    def __init__(self, level: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.level = level

    def call(self, x, training=None):
        return x if training else views(x, self.level)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "level": self.level}


@keras.saving.register_keras_serializable(package="zoo")
class TTAAverage(layers.Layer):
    """At inference, the weighted average over the views :class:`TTAViews` stacked (views x N -> N); in
    training, the batch as it is."""

    def __init__(self, level: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.level = level

    def call(self, x, training=None):
        if training or self.level == 0:
            return x
        weights = TTA_WEIGHTS[self.level]
        batch = ops.shape(x)[0] // len(weights)
        stacked = ops.reshape(x, (len(weights), batch, *x.shape[1:]))
        w = ops.reshape(ops.convert_to_tensor(weights, dtype=x.dtype), (len(weights),) + (1,) * (len(x.shape)))
        return ops.sum(stacked * w, axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "level": self.level}


def without_views(model: Any) -> Any:
    """A copy of ``model`` with the same weights whose test-time views are off (None if it has none at work):
    what its card gives beside the served figure (``zoo.evaluate`` reports both)."""
    if not any(isinstance(layer, TTAViews) and layer.level for layer in model.layers):
        return None
    from zoo import api

    plain = api.copy_model(model)
    for layer in plain.layers:
        if isinstance(layer, (TTAViews, TTAAverage)):
            layer.level = 0  # read at each call: the copy answers for the image alone
    return plain
