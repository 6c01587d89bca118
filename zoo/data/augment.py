"""Training-time augmentation for uint8 images, named in a recipe and run per example inside tf.data.

Names: ``random_shift_N`` / ``pad_crop_N`` (zero-pad N pixels, take a random crop of the original size: the
CIFAR ResNets' "pad 4, crop 32"), ``translate_N`` (the same with the padding a reflection of the image, as
airbench's translations), ``flip_left_right``, and ``flip_alternate`` (airbench's: each image is mirrored in
every other epoch, half of them from the first epoch on, the other half from the second; the half is fixed by
the seed and the image's index in the training split). Stateless ops seeded from ``seed`` and the batch's
position in the epoch's stream: deterministic under a seed, different in each epoch. ``flip_alternate`` needs
each batch's indices and epoch (``zoo.train``'s stream gives them); without them it flips at random.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

_SHIFT = re.compile(r"^(random_shift|pad_crop|translate)_(\d+)$")
KNOWN = ("random_shift_N", "pad_crop_N", "translate_N", "flip_left_right", "flip_alternate")


def check(names: Sequence[str]) -> tuple[str, ...]:
    for name in names:
        if not (_SHIFT.match(name) or name in ("flip_left_right", "flip_alternate")):
            raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(KNOWN)} (N a number of pixels)")
    return tuple(names)


def _index_bit(indices: Any, seed: int) -> Any:
    """A pseudo-random bit for each training-example index, fixed by ``seed`` (an integer hash: vectorised)."""
    import tensorflow as tf

    h = tf.cast(indices, tf.int64) * 2654435761 + (seed * 40503 + 12345)
    h = tf.math.floormod(tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 13)), 2**31)
    h = tf.math.floormod(h * 1103515245 + 12345, 2**31)
    return tf.equal(tf.bitwise.bitwise_and(tf.bitwise.right_shift(h, 16), 1), 1)


def make(names: Sequence[str], *, seed: int) -> Callable[..., tuple[Any, Any]]:
    """A function ``(images, labels, seed_pair, indices=None, epoch=None) -> (images, labels)`` over a *batch*
    for ``Dataset.map`` (``indices``: the batch's positions in the training split; ``epoch``: its epoch).

    Vectorised: one gather per axis shifts every image of the batch by its own offset, one ``where`` flips
    the chosen ones. Per-example ops in tf.data cost twice the training time here (2 cores shared with the
    model), a batch's two gathers almost nothing.
    """
    import tensorflow as tf

    steps = []
    for i, name in enumerate(check(names)):
        match = _SHIFT.match(name)
        if match:
            pad, mode = int(match.group(2)), "REFLECT" if match.group(1) == "translate" else "CONSTANT"

            def shift(images, s, indices=None, epoch=None, pad=pad, mode=mode):
                batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
                padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode=mode)
                offsets = tf.random.stateless_uniform([batch, 2], seed=s, minval=0, maxval=2 * pad + 1, dtype=tf.int32)
                rows = offsets[:, :1] + tf.range(height)[None, :]
                cols = offsets[:, 1:] + tf.range(width)[None, :]
                out = tf.gather(padded, rows, axis=1, batch_dims=1)
                return tf.gather(out, cols, axis=2, batch_dims=1)

            steps.append((i, shift))
        else:
            alternate = name == "flip_alternate"

            def flip(images, s, indices=None, epoch=None, alternate=alternate):
                if alternate and indices is not None and epoch is not None:
                    chosen = tf.not_equal(_index_bit(indices, seed), tf.equal(tf.math.floormod(epoch, 2), 1))
                else:
                    chosen = tf.random.stateless_uniform([tf.shape(images)[0]], seed=s) < 0.5
                return tf.where(chosen[:, None, None, None], tf.reverse(images, axis=[2]), images)

            steps.append((i, flip))

    def apply(images, labels, pair, indices=None, epoch=None):
        for i, step in steps:
            images = step(images, tf.stack([pair[0], pair[1] + i]), indices, epoch)
        return images, labels

    return apply


def attach(ds: Any, names: Sequence[str], *, seed: int) -> Any:
    """``ds`` of *batched* ``(images, labels)`` -> augmented, with a stateless seed stream per batch that is
    fixed by ``seed`` and new in every epoch."""
    import tensorflow as tf

    if not names:
        return ds
    fn = make(names, seed=seed)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2, drop_remainder=True)
    zipped = tf.data.Dataset.zip((ds, seeds))
    return zipped.map(lambda xy, s: fn(xy[0], xy[1], s), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
