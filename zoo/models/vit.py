"""The Vision Transformer: MNIST digits as sequences of patches, built from keras-hub's TransformerEncoder."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import keras_hub
from keras import layers

from zoo.models._common import check_image_shape, check_int, check_transformer, image_input, softmax_head


def vit_mnist(
    *,
    num_classes: int = 10,
    input_shape: Sequence[int] = (28, 28, 1),
    patch_size: int = 4,
    embedding_dim: int = 64,
    num_layers: int = 4,
    num_heads: int = 4,
    intermediate_dim: int = 128,
    dropout: float = 0.1,
) -> keras.Model:
    """A Vision Transformer on MNIST: 4x4 patches, position embeddings, TransformerEncoder blocks, mean pooling.

    uint8 image -> rescale -> patch embedding (a strided convolution) -> + position embedding ->
    ``num_layers`` TransformerEncoder blocks (pre-norm) -> layer norm -> mean over patches -> softmax.
    """
    num_classes = check_int("num_classes", num_classes, minimum=2)
    height, width, channels = check_image_shape(input_shape, min_side=2)
    patch_size = check_int("patch_size", patch_size)
    if height % patch_size or width % patch_size:
        raise ValueError(f"patch_size {patch_size} must divide the image size {height}x{width}")
    embedding_dim, num_layers, num_heads, intermediate_dim, dropout = check_transformer(
        embedding_dim, num_layers, num_heads, intermediate_dim, dropout)
    num_patches = (height // patch_size) * (width // patch_size)

    inputs = image_input((height, width, channels))
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = layers.Conv2D(embedding_dim, patch_size, strides=patch_size, name="patch_embedding")(x)
    x = layers.Reshape((num_patches, embedding_dim), name="patches")(x)
    x = layers.Add(name="add_positions")([x, keras_hub.layers.PositionEmbedding(num_patches, name="position_embedding")(x)])
    for i in range(num_layers):
        x = keras_hub.layers.TransformerEncoder(intermediate_dim, num_heads, dropout=dropout, normalize_first=True,
                                                name=f"encoder{i + 1}")(x)
    x = layers.LayerNormalization(name="final_norm")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name="vit_mnist")
