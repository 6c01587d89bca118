"""Losses Keras lacks in the form zoo's pipelines need.

Keras' ``SparseCategoricalCrossentropy`` has no label smoothing, and zoo's pipelines give integer labels (as
TFDS and every local copy do). This one turns them into one-hot rows and calls Keras' own
``categorical_crossentropy`` with its ``label_smoothing``: no cross-entropy of our own.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="zoo")
class SparseCategoricalCrossentropyWithSmoothing(keras.losses.Loss):
    """Cross-entropy of integer labels against probabilities (or logits), with label smoothing (Szegedy et al.
    2016): the target is (1 - label_smoothing) one-hot + label_smoothing / classes."""

    def __init__(self, label_smoothing: float = 0.1, from_logits: bool = False,
                 name: str = "sparse_categorical_crossentropy_smoothed", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = label_smoothing
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        ops = keras.ops
        labels = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:-1]), "int32")
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, from_logits=self.from_logits,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "from_logits": self.from_logits}
