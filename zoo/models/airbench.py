"""A fast CIFAR-10 convnet after Keller Jordan's airbench94 (github.com/KellerJordan/cifar10-airbench), in Keras.

The network: a frozen 2x2 patch-whitening convolution whose filters are the eigenvectors of the training images'
2x2 patch covariance (and their negatives), GELU, three conv groups (conv, max-pool, batch norm, GELU, conv,
batch norm, GELU) of widths 64, 256 and 256, a global max-pool, and the head on features scaled by 1/9. Batch
norms have no scale, momentum 0.6 in PyTorch's sense (0.4 in Keras') and a bias whose learning rate is 64 times
the others' (a parameter times 8: the gradient and the step are both 8 times larger). The 3x3 convolutions
start as a partial identity (their first filters pass their input through).

Test-time augmentation is part of the model: at inference (``training=False``) every image is looked at in 6
views (itself, mirrored, and each of those moved by one pixel up-left and down-right, with reflection), and the
pooled features are averaged with airbench's weights (1/4 the image, 1/4 its mirror, 1/8 each moved view) before
the head. The head is linear up to its softmax, so this is the average of the 6 views' logits. ``tta_level``
0 (none) and 1 (mirror only) are the same network with fewer views (zoo.models.tta, which the CIFAR ResNets and
MobileNetV2 share).

The whitening filters are computed from training images by :func:`adapt` (``zoo.train`` calls it on the training
split, before the first step of a run from scratch); the filters are non-trainable weights, saved with the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from zoo.models._common import check_float, check_image_shape, check_int, check_ints, image_input, softmax_head
from zoo.models.tta import TTAAverage, TTAViews, check_level

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
WHITENING_EPS = 5e-4  # added to the eigenvalues before the inverse square root, as airbench
ADAPT_IMAGES = 5000  # airbench computes the patch covariance from the first 5,000 training images


@keras.saving.register_keras_serializable(package="zoo")
class PartialIdentity(keras.initializers.Initializer):
    """A 3x3 kernel initialiser: PyTorch's default uniform, with the first ``in_channels`` filters replaced by
    the identity (a 1 at the centre for their own channel), as airbench's ``dirac_`` makes an implicit residual."""

    def __init__(self, seed: int | None = None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        kh, kw, cin, cout = shape
        base = keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform", seed=self.seed)(shape, dtype="float32")
        eye = np.zeros(shape, dtype="float32")
        n = min(cin, cout)
        eye[kh // 2, kw // 2, np.arange(n), np.arange(n)] = 1.0
        mask = np.zeros(shape, dtype="float32")
        mask[:, :, :, :n] = 1.0
        out = base * (1.0 - mask) + eye
        return ops.cast(out, dtype or "float32")

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="zoo")
class PatchWhitening(layers.Layer):
    """A ``kernel_size`` x ``kernel_size`` valid convolution whose filters are set from data by :meth:`adapt` and
    never trained: the covariance's eigenvectors scaled by 1 / sqrt(eigenvalue + eps), and their negatives
    (2 x channels x kernel_size^2 filters). Its bias is trained."""

    def __init__(self, kernel_size: int = 2, eps: float = WHITENING_EPS, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.eps = eps

    def build(self, input_shape):
        k, c = self.kernel_size, input_shape[-1]
        self.filters = 2 * c * k * k
        self.kernel = self.add_weight(name="kernel", shape=(k, k, c, self.filters), initializer="zeros",
                                      trainable=False)
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        # 1 once adapt has set the filters: a model built from scratch and never adapted is refused at adapt's
        # caller, not trained on zero filters in silence.
        self.adapted = self.add_weight(name="adapted", shape=(), initializer="zeros", trainable=False)

    def adapt(self, images: Any) -> None:
        """Set the filters from ``images``: float (N, H, W, C), already normalised as this layer's input is."""
        x = np.asarray(images, dtype=np.float64)
        k = self.kernel_size
        if x.ndim != 4 or x.shape[1] < k or x.shape[2] < k or len(x) == 0:
            raise ValueError(f"adapt takes a batch of images (N, H, W, C) at least {k}x{k}, got shape {x.shape}")
        if not self.built:
            self.build(x.shape)
        n, h, w, c = x.shape
        if c * k * k * 2 != self.filters:
            raise ValueError(f"adapt: the layer was built for {self.filters // (2 * k * k)} channels, the images "
                             f"have {c}")
        # Every k x k patch, flattened in the kernel's (row, column, channel) order.
        patches = np.stack([x[:, i:h - k + 1 + i, j:w - k + 1 + j, :] for i in range(k) for j in range(k)], axis=3)
        flat = patches.reshape(-1, k * k * c)
        covariance = flat.T @ flat / len(flat)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending; airbench takes them descending
        order = np.argsort(eigenvalues)[::-1]
        eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
        scaled = eigenvectors / np.sqrt(np.maximum(eigenvalues, 0) + self.eps)  # column i: filter i
        filters = np.concatenate([scaled, -scaled], axis=1).reshape(k, k, c, self.filters)
        self.kernel.assign(filters.astype("float32"))
        self.adapted.assign(1.0)

    def call(self, x):
        y = ops.conv(x, ops.cast(self.kernel, x.dtype), strides=1, padding="valid")
        return y + ops.cast(self.bias, x.dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        k = self.kernel_size
        less = lambda n: None if n is None else n - k + 1  # noqa: E731
        return (b, less(h), less(w), 2 * c * k * k)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "eps": self.eps}


@keras.saving.register_keras_serializable(package="zoo")
class ScaledBias(layers.Layer):
    """Adds a per-channel bias kept as ``parameter x scale``: the bias then learns at ``scale**2`` times the
    optimizer's rate (its gradient and its step both ``scale`` times larger), while decoupled weight decay
    shrinks it at the same rate as every other weight: airbench's 64-times learning rate of the batch-norm
    biases, with one optimizer."""

    def __init__(self, scale: float = 8.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(input_shape[-1],), initializer="zeros")

    def call(self, x):
        return x + ops.cast(self.bias * self.scale, x.dtype)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def _bn(x, momentum: float, bias_scale: float, name: str):
    x = layers.BatchNormalization(momentum=1.0 - momentum, epsilon=1e-12, center=False, scale=False,
                                  name=f"{name}_bn")(x)
    return ScaledBias(bias_scale, name=f"{name}_bias")(x)


def _conv_group(x, width: int, momentum: float, bias_scale: float, name: str):
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=PartialIdentity(),
                      name=f"{name}_conv1")(x)
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = layers.Activation("gelu", name=f"{name}_gelu1")(_bn(x, momentum, bias_scale, f"{name}_norm1"))
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=PartialIdentity(),
                      name=f"{name}_conv2")(x)
    return layers.Activation("gelu", name=f"{name}_gelu2")(_bn(x, momentum, bias_scale, f"{name}_norm2"))


def airbench_cifar(
    *,
    num_classes: int = 10,
    input_shape: Sequence[int] = (32, 32, 3),
    widths: Sequence[int] = (64, 256, 256),
    whitening_kernel: int = 2,
    bn_momentum: float = 0.6,
    bias_lr_scale: float = 64.0,
    scaling_factor: float = 1 / 9,
    tta_level: int = 2,
) -> keras.Model:
    """airbench94's network for 32x32 images (see the module's docstring).

    Args:
        num_classes: size of the softmax head.
        input_shape: (height, width, 3) of the uint8 input; at least 16x16.
        widths: of the three conv groups (airbench94: 64, 256, 256).
        whitening_kernel: side of the whitening patches (2: 24 filters on RGB).
        bn_momentum: the batch norms' momentum in PyTorch's sense (the weight of the new batch: 0.6).
        bias_lr_scale: how many times the optimizer's learning rate the batch-norm biases learn at (64).
        scaling_factor: the pooled features' scale before the head (1/9).
        tta_level: test-time views averaged at inference: 0 none, 1 with the mirror, 2 and moved by a pixel.

    Returns:
        A functional model taking ``image`` (uint8, 0..255) and answering ``probabilities``. Its whitening
        filters are zeros until :func:`adapt` sets them from training images.
    """
    num_classes = check_int("num_classes", num_classes, minimum=2)
    shape = check_image_shape(input_shape, channels=3, min_side=16)
    widths = check_ints("widths", widths, length=3)
    whitening_kernel = check_int("whitening_kernel", whitening_kernel, minimum=1, maximum=4)
    bn_momentum = check_float("bn_momentum", bn_momentum, open_max=False)
    if bn_momentum == 0:
        raise ValueError("bn_momentum must be in (0, 1] (the weight of each new batch), got 0")
    bias_lr_scale = check_float("bias_lr_scale", bias_lr_scale, minimum=1.0, maximum=1e4)
    scaling_factor = check_float("scaling_factor", scaling_factor, minimum=1e-6, maximum=1e3)
    tta_level = check_level(tta_level)

    inputs = image_input(shape)
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = layers.Normalization(mean=list(CIFAR_MEAN), variance=[s * s for s in CIFAR_STD], name="normalize")(x)
    x = TTAViews(tta_level, name="tta_views")(x)
    x = PatchWhitening(whitening_kernel, name="whiten")(x)
    x = layers.Activation("gelu", name="whiten_gelu")(x)
    scale = float(np.sqrt(bias_lr_scale))
    for i, width in enumerate(widths, start=1):
        x = _conv_group(x, width, bn_momentum, scale, name=f"group{i}")
    x = layers.GlobalMaxPooling2D(keepdims=True, name="pool")(x)
    x = TTAAverage(tta_level, name="tta_average")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Rescaling(scaling_factor, name="scale")(x)
    return keras.Model(inputs, softmax_head(x, num_classes), name="airbench_cifar")


def whitening_layers(model: Any) -> list[PatchWhitening]:
    return [layer for layer in model.layers if isinstance(layer, PatchWhitening)]


def adapt(model: Any, images: Any, *, count: int = ADAPT_IMAGES) -> Any:
    """Set ``model``'s whitening filters from the first ``count`` of ``images`` (uint8 (N, H, W, 3), training
    images: never the validation or test split's). Returns the model."""
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8 or len(images) == 0:
        raise ValueError(f"adapt takes training images as uint8 (N, H, W, C), got {images.dtype} {images.shape}")
    found = whitening_layers(model)
    if not found:
        raise ValueError(f"{model.name} has no whitening layer to adapt")
    normalized = keras.Model(model.inputs, model.get_layer("normalize").output)([images[:count]], training=False)
    for layer in found:
        layer.adapt(ops.convert_to_numpy(normalized))
    return model
