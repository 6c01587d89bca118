"""The CNN family: builders returning functional ``keras.Model``s that take raw uint8 images.

Each builder validates its arguments first, then builds straight through. The rescaling to [0, 1] (and any
normalisation) lives inside the model, so an exported model takes the pixels a user has. The final layer is
always named ``probabilities`` (a softmax ``Dense``, kept in float32 under mixed precision): that is the head
that ``num_classes`` replaces.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from zoo.models._common import check_float, check_image_shape, check_int, check_ints, image_input, softmax_head
from zoo.models.tta import TTAAverage, TTAViews, check_level

# Every batch norm of the CIFAR models: PyTorch's default (0.1 there), as in the papers; at Keras' 0.99 the moving
# statistics trail the weights early in training (docs/EXPERIMENTS.md, mobilenet_v2_cifar10).
BN_MOMENTUM = 0.9


def _conv_bn_relu(x, filters: int, kernel: int = 3, strides: int = 1, name: str = "") -> keras.KerasTensor:
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _views(x, tta_level: int) -> keras.KerasTensor:
    """The test-time views of the normalised images, at inference (zoo.models.tta); none at level 0."""
    return TTAViews(tta_level, name="tta_views")(x) if tta_level else x


def _head(x, num_classes: int, dropout: float, tta_level: int = 0) -> keras.KerasTensor:
    if tta_level:  # the views' average feature map: pooled, it is the average of their pooled features
        x = TTAAverage(tta_level, name="tta_average")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return softmax_head(x, num_classes)


def cnn_mnist(
    *,
    num_classes: int = 10,
    input_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (32, 64, 128),
    dropout: float = 0.0,
    convs_per_stage: int = 1,
    model_name: str = "cnn_mnist",
) -> keras.Model:
    """A compact VGG-style convnet for 28x28 digits: quick on a CPU, above 99.4% on MNIST.

    Three stages of 3x3 conv + batch norm + ReLU + 2x2 max-pooling (28 -> 14 -> 7 -> 3), then flatten,
    optional dropout (none in the card: the shift augmentation regularises enough) and a softmax head. The
    flattened head converges much faster than global average pooling here.

    Args:
        num_classes: size of the softmax head.
        input_shape: (height, width, channels) of the uint8 input; at least 8x8.
        filters: widths of the three stages.
        dropout: dropout rate before the head, in [0, 1).
        convs_per_stage: 3x3 conv + BN + ReLU layers before each pooling (1 for MNIST; 2 for Fashion-MNIST).
        model_name: the Keras model's name.

    Returns:
        A functional model taking ``image`` (uint8, 0..255) and answering ``probabilities``.
    """
    num_classes = check_int("num_classes", num_classes, minimum=2)
    shape = check_image_shape(input_shape, min_side=8)
    filters = check_ints("filters", filters, length=3)
    dropout = check_float("dropout", dropout)
    convs_per_stage = check_int("convs_per_stage", convs_per_stage, minimum=1)

    inputs = image_input(shape)
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for stage, width in enumerate(filters, start=1):
        for conv in range(convs_per_stage):  # the first keeps the names of the one-conv (MNIST) weights
            x = _conv_bn_relu(x, width, name=f"stage{stage}" + (f"_{conv + 1}" if conv else ""))
        x = layers.MaxPooling2D(name=f"pool{stage}")(x)
    x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = softmax_head(x, num_classes)
    return keras.Model(inputs, outputs, name=model_name)


# --- ResNets for CIFAR (He et al. 2016, section 4.2) -------------------------------------------------------


@keras.saving.register_keras_serializable(package="zoo")
class ZeroPadShortcut(layers.Layer):
    """The parameter-free "option A" shortcut: subsample by 2 and zero-pad the new channels."""

    def __init__(self, out_channels: int, **kwargs):
        super().__init__(**kwargs)
        self.out_channels = out_channels

    def call(self, x):
        x = x[:, ::2, ::2, :]
        extra = self.out_channels - x.shape[-1]
        return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        half = lambda n: None if n is None else (n + 1) // 2  # noqa: E731
        return (b, half(h), half(w), self.out_channels)

    def get_config(self):
        return {**super().get_config(), "out_channels": self.out_channels}


def resnet_cifar(
    *,
    depth: int = 20,
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    width: int = 16,
    mean: Sequence[float] = (0.4914, 0.4822, 0.4465),
    std: Sequence[float] = (0.2470, 0.2435, 0.2616),
    tta_level: int = 0,
) -> keras.Model:
    """The CIFAR ResNet of He et al. 2016: depth 6n+2, three stages of n basic blocks (16, 32, 64 filters).

    Args:
        depth: 6n+2 layers: 20, 32, 44, 56, 110, ...
        num_classes: size of the softmax head.
        input_shape: (height, width, 3) of the uint8 input; at least 8x8.
        width: filters of the first stage (the paper's 16); the stages use width, 2*width, 4*width.
        mean, std: per-channel normalisation applied inside the model after rescaling to [0, 1].
        tta_level: test-time views averaged at inference (zoo.models.tta): 0 none, 1 with the mirror, 2 and
            moved by a pixel.

    Returns:
        A functional model taking ``image`` (uint8, 0..255) and answering ``probabilities``.
    """
    depth = check_int("depth", depth, minimum=8)
    if (depth - 2) % 6:
        raise ValueError(f"depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}")
    num_classes = check_int("num_classes", num_classes, minimum=2)
    shape = check_image_shape(input_shape, channels=3, min_side=8)
    width = check_int("width", width, minimum=2)
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ValueError(f"mean and std must have 3 entries and std must be positive, got {mean!r}, {std!r}")
    tta_level = check_level(tta_level)
    blocks = (depth - 2) // 6

    inputs = image_input(shape)
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = layers.Normalization(mean=list(mean), variance=[s * s for s in std], name="normalize")(x)
    x = _conv_bn_relu(_views(x, tta_level), width, name="stem")
    for stage in range(3):
        filters = width * 2**stage
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            prefix = f"stage{stage + 1}_block{block + 1}"
            shortcut = x if strides == 1 else ZeroPadShortcut(filters, name=f"{prefix}_shortcut")(x)
            y = _conv_bn_relu(x, filters, strides=strides, name=f"{prefix}_a")
            y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{prefix}_b_conv")(y)
            y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_b_bn")(y)
            x = layers.ReLU(name=f"{prefix}_out")(layers.Add(name=f"{prefix}_add")([shortcut, y]))
    return keras.Model(inputs, _head(x, num_classes, 0.0, tta_level), name=f"resnet{depth}_cifar")


# --- MobileNetV2 for 32x32 images (Sandler et al. 2018) ---------------------------------------------------

# (expansion t, output channels c, repeats n, first stride s), the paper's table 2 with the first two
# stride-2 stages set to stride 1, as is usual for 32x32 inputs.
_MOBILENET_V2_CIFAR = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _make_divisible(value: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def mobilenet_v2_cifar(
    *,
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    width_multiplier: float = 0.5,
    last_channels: int = 1280,
    dropout: float = 0.2,
    tta_level: int = 0,
) -> keras.Model:
    """MobileNetV2 (inverted residuals, linear bottlenecks) adapted to 32x32 inputs.

    Args:
        num_classes: size of the softmax head.
        input_shape: (height, width, 3) of the uint8 input; at least 8x8.
        width_multiplier: scales every layer's channels (the paper's alpha), in (0, 2].
        last_channels: channels of the final 1x1 convolution (the paper's 1280; not scaled down).
        dropout: dropout rate before the head, in [0, 1).
        tta_level: test-time views averaged at inference (zoo.models.tta): 0 none, 1 with the mirror, 2 and
            moved by a pixel.

    Returns:
        A functional model taking ``image`` (uint8, 0..255) and answering ``probabilities``.
    """
    num_classes = check_int("num_classes", num_classes, minimum=2)
    shape = check_image_shape(input_shape, channels=3, min_side=8)
    tta_level = check_level(tta_level)
    alpha = check_float("width_multiplier", width_multiplier, minimum=0.1, maximum=2.0, open_max=False)
    last_channels = check_int("last_channels", last_channels, minimum=8)
    dropout = check_float("dropout", dropout)

    inputs = image_input(shape)
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = _conv_bn_relu(_views(x, tta_level), _make_divisible(32 * alpha), name="stem")
    channels = x.shape[-1]
    index = 0
    for t, c, n, s in _MOBILENET_V2_CIFAR:
        out = _make_divisible(c * alpha)
        for i in range(n):
            index += 1
            prefix, strides = f"block{index}", (s if i == 0 else 1)
            y = x
            if t != 1:
                y = layers.Conv2D(channels * t, 1, use_bias=False, name=f"{prefix}_expand")(y)
                y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_expand_bn")(y)
                y = layers.ReLU(6.0, name=f"{prefix}_expand_relu")(y)
            y = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False, name=f"{prefix}_dw")(y)
            y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_dw_bn")(y)
            y = layers.ReLU(6.0, name=f"{prefix}_dw_relu")(y)
            y = layers.Conv2D(out, 1, use_bias=False, name=f"{prefix}_project")(y)
            y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{prefix}_project_bn")(y)
            x = layers.Add(name=f"{prefix}_add")([x, y]) if strides == 1 and channels == out else y
            channels = out
    x = layers.Conv2D(last_channels, 1, use_bias=False, name="top_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="top_bn")(x)
    x = layers.ReLU(6.0, name="top_relu")(x)
    return keras.Model(inputs, _head(x, num_classes, dropout, tta_level), name="mobilenet_v2_cifar")
