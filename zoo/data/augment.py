"""Training-time augmentation for uint8 images, named in a recipe and run per example inside tf.data.

Names: ``random_shift_N`` / ``pad_crop_N`` (zero-pad N pixels, take a random crop of the original size: the
CIFAR ResNets' "pad 4, crop 32"), ``flip_left_right``. Stateless ops seeded from ``seed`` and the example's
position in the epoch's stream: deterministic under a seed, different in each epoch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

_SHIFT = re.compile(r"^(random_shift|pad_crop)_(\d+)$")
KNOWN = ("random_shift_N", "pad_crop_N", "flip_left_right")


def check(names: Sequence[str]) -> tuple[str, ...]:
    for name in names:
        if not (_SHIFT.match(name) or name == "flip_left_right"):
            raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(KNOWN)} (N a number of pixels)")
    return tuple(names)


def make(names: Sequence[str], *, seed: int) -> Callable[[Any, Any, Any], tuple[Any, Any]]:
    """A function ``(image, label, seed_pair) -> (image, label)`` for ``Dataset.map``."""
    import tensorflow as tf

    steps = []
    for i, name in enumerate(check(names)):
        match = _SHIFT.match(name)
        if match:
            pad = int(match.group(2))

            def shift(image, s, pad=pad):
                shape = tf.shape(image)
                padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
                return tf.image.stateless_random_crop(padded, shape, seed=s)

            steps.append((i, shift))
        else:
            steps.append((i, lambda image, s: tf.image.stateless_random_flip_left_right(image, seed=s)))

    def apply(image, label, pair):
        for i, step in steps:
            image = step(image, tf.stack([pair[0], pair[1] + i]))
        return image, label

    return apply


def attach(ds: Any, names: Sequence[str], *, seed: int) -> Any:
    """``ds`` of unbatched ``(image, label)`` -> augmented, with a per-example stateless seed stream."""
    import tensorflow as tf

    if not names:
        return ds
    fn = make(names, seed=seed)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2, drop_remainder=True)
    zipped = tf.data.Dataset.zip((ds, seeds))
    return zipped.map(lambda xy, s: fn(xy[0], xy[1], s), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
