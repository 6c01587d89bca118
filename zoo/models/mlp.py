"""The MLP family: a deep fully connected network on raw uint8 images (flattened inside the model)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from zoo.models._common import check_float, check_image_shape, check_int, image_input, softmax_head


def mlp_mnist(
    *,
    num_classes: int = 10,
    input_shape: Sequence[int] = (28, 28, 1),
    depth: int = 3,
    width: int = 1024,
    dropout: float = 0.3,
) -> keras.Model:
    """A deep MLP in the manner of the classic "large MLP" on MNIST: a stack of ``depth`` Dense(``width``)
    ReLU layers, each followed by dropout, then a softmax head.

    Args:
        num_classes: size of the softmax head.
        input_shape: (height, width, channels) of the uint8 input.
        depth: number of hidden Dense layers (at least 1).
        width: units of each hidden layer.
        dropout: dropout rate after each hidden layer, in [0, 1).

    Returns:
        A functional model taking ``image`` (uint8, 0..255) and answering ``probabilities``.
    """
    num_classes = check_int("num_classes", num_classes, minimum=2)
    input_shape = check_image_shape(input_shape)
    depth = check_int("depth", depth, maximum=64)
    width = check_int("width", width)
    dropout = check_float("dropout", dropout)

    inputs = image_input(input_shape)
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = layers.Flatten(name="flatten")(x)
    for i in range(depth):
        x = layers.Dense(width, activation="relu", name=f"dense{i + 1}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout{i + 1}")(x)
    outputs = softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name="mlp_mnist")
