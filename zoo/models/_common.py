"""Shared by the builders: validation helpers (check every argument first, then build straight through), and the
pieces every classifier has: the named uint8 image input and the softmax head named ``probabilities``, kept in
float32 under mixed precision (the head that ``num_classes`` replaces)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def check_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ValueError(f"{name} must be at least {minimum}{upper}, got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """A flag that must be True or False: a string such as "False" is refused, not taken as true."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return value


def check_float(name: str, value: Any, *, minimum: float = 0.0, maximum: float = 1.0, open_max: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if value < minimum or value > maximum or (open_max and value == maximum):
        raise ValueError(f"{name} must be in [{minimum}, {maximum}{')' if open_max else ']'}, got {value}")
    return float(value)


def check_ints(name: str, value: Any, *, length: int | None = None, minimum: int = 1) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"{name} must be a non-empty sequence of integers, got {value!r}")
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(value)}: {value!r}")
    return tuple(check_int(f"{name}[{i}]", v, minimum=minimum) for i, v in enumerate(value))


def check_image_shape(
    value: Any, *, channels: int | None = None, min_side: int = 1
) -> tuple[int, int, int]:
    shape = check_ints("input_shape", value, length=3)
    height, width, chans = shape
    if channels is not None and chans != channels:
        raise ValueError(f"input_shape must have {channels} channel(s) (height, width, {channels}), got {shape}")
    if min(height, width) < min_side:
        raise ValueError(f"input_shape must be at least {min_side}x{min_side} pixels, got {height}x{width}")
    return shape


def check_transformer(
    embedding_dim: Any, num_layers: Any, num_heads: Any, intermediate_dim: Any, dropout: Any
) -> tuple[int, int, int, int, float]:
    """The hyper-parameters every Transformer builder shares, checked together."""
    embedding_dim = check_int("embedding_dim", embedding_dim)
    num_layers = check_int("num_layers", num_layers)
    num_heads = check_int("num_heads", num_heads)
    if embedding_dim % num_heads:
        raise ValueError(f"embedding_dim ({embedding_dim}) must be a multiple of num_heads ({num_heads})")
    return embedding_dim, num_layers, num_heads, check_int("intermediate_dim", intermediate_dim), check_float("dropout", dropout)


HEAD = "probabilities"


def image_input(input_shape: Sequence[int]) -> Any:
    """The raw-pixel input of the image models: uint8 of ``input_shape``, named ``image``."""
    import keras

    return keras.Input(shape=tuple(input_shape), dtype="uint8", name="image")


def softmax_head(x: Any, num_classes: int) -> Any:
    """The classifiers' last layer: a float32 softmax ``Dense`` named ``probabilities``."""
    from keras import layers

    return layers.Dense(num_classes, activation="softmax", dtype="float32", name=HEAD)(x)
