"""From a card's recipe to Keras objects: the optimizer with its learning-rate schedule, the loss, the metrics."""

from __future__ import annotations

import math
from typing import Any

from zoo.data.catalog import DATASETS
from zoo.registry import Recipe

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "cosine_restarts", "piecewise", "triangular")


def steps_per_epoch(recipe: Recipe, num_train: int | None = None) -> int:
    """Optimizer steps in one epoch: the training examples (train minus the validation carve-out) / global batch.

    Without ``num_train``, the count comes from the dataset catalog; a corpus's windows or a folder's files are
    only known once loaded, so for those ``num_train`` is required (no guess)."""
    if num_train is None:
        info = DATASETS.get(recipe.dataset)
        if info is None or info.kind == "corpus":
            raise ValueError(f"the number of training examples of {recipe.dataset!r} is only known once it is "
                             f"loaded: pass num_train=")
        num_train = info.splits["train"]
        if "validation" not in info.splits:
            num_train = int(round(num_train * (1 - recipe.validation_split)))
    return max(1, math.ceil(num_train / recipe.batch_size))


def with_overrides(recipe: Recipe, given: dict[str, Any]) -> Recipe:
    """``recipe`` with the fields ``given`` replaced. A triangular schedule is one triangle over the whole run
    (airbench94's peak at 23% of its steps): when its epochs change, its peak (``warmup_epochs``) and the start
    of lookahead keep their share of the run, unless they are given too."""
    new = recipe.replace(**given)
    if recipe.schedule == new.schedule == "triangular" and new.epochs != recipe.epochs:
        share = new.epochs / recipe.epochs
        kept = {"warmup_epochs": round(recipe.warmup_epochs * share, 4),
                "lookahead_start_epoch": min(round(recipe.lookahead_start_epoch * share), new.epochs - 1)}
        new = new.replace(**{k: v for k, v in kept.items() if k not in given})
    return new


def check(recipe: Recipe) -> Recipe:
    if recipe.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {recipe.optimizer!r}")
    if recipe.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {recipe.schedule!r}")
    for field in ("epochs", "batch_size"):
        value = getattr(recipe, field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{field} must be a positive integer, got {value!r}")
    if not 0 < recipe.fine_tune_lr_factor <= 1:
        raise ValueError(f"fine_tune_lr_factor must be in (0, 1], got {recipe.fine_tune_lr_factor!r}")
    if not 0 <= recipe.label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {recipe.label_smoothing!r}")
    if recipe.label_smoothing and recipe.loss != "sparse_categorical_crossentropy":
        raise ValueError(f"label_smoothing is for the classifiers' sparse_categorical_crossentropy, not {recipe.loss}")
    if not recipe.learning_rate > 0 or not math.isfinite(recipe.learning_rate):
        raise ValueError(f"learning_rate must be positive and finite, got {recipe.learning_rate!r}")
    if not 0 <= recipe.weight_decay < 1:  # NaN fails the comparison too
        raise ValueError(f"weight_decay must be in [0, 1), got {recipe.weight_decay!r}")
    if not 0 <= recipe.momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {recipe.momentum!r}")
    if not 0 <= recipe.warmup_epochs <= recipe.epochs:
        raise ValueError(f"warmup_epochs must be in [0, epochs={recipe.epochs}], got {recipe.warmup_epochs!r}")
    if recipe.schedule == "cosine_restarts":
        if not recipe.cycle_epochs > 0:
            raise ValueError(f"cycle_epochs must be positive, got {recipe.cycle_epochs!r}")
        if not recipe.cycle_mult >= 1:
            raise ValueError(f"cycle_mult must be at least 1, got {recipe.cycle_mult!r}")
        if recipe.warmup_epochs:
            raise ValueError("cosine_restarts has no warm-up (each cycle starts at the peak): set warmup_epochs=0, "
                             f"got {recipe.warmup_epochs!r}")
    if recipe.schedule == "triangular":
        for field in ("start_lr_factor", "end_lr_factor"):
            value = getattr(recipe, field)
            if not 0 <= value <= 1:  # NaN fails too
                raise ValueError(f"{field} must be in [0, 1], got {value!r}")
    if isinstance(recipe.lookahead_every, bool) or not isinstance(recipe.lookahead_every, int) \
            or recipe.lookahead_every < 0:
        raise ValueError(f"lookahead_every must be a count of steps (0: no lookahead), got {recipe.lookahead_every!r}")
    if recipe.lookahead_every:
        if isinstance(recipe.lookahead_start_epoch, bool) or not isinstance(recipe.lookahead_start_epoch, int) \
                or not 0 <= recipe.lookahead_start_epoch < recipe.epochs:
            raise ValueError(f"lookahead_start_epoch must be an epoch in [0, epochs={recipe.epochs}), got "
                             f"{recipe.lookahead_start_epoch!r}")
        if not 0 <= recipe.lookahead_decay < 1:
            raise ValueError(f"lookahead_decay must be in [0, 1), got {recipe.lookahead_decay!r}")
        if not 0 <= recipe.lookahead_decay_power < 100:
            raise ValueError(f"lookahead_decay_power must be in [0, 100), got {recipe.lookahead_decay_power!r}")
    return recipe


def learning_rate(recipe: Recipe, steps: int) -> Any:
    """The recipe's schedule over ``recipe.epochs`` epochs of ``steps`` steps."""
    import keras

    total = recipe.epochs * steps
    peak = recipe.learning_rate
    if recipe.schedule == "constant":
        return peak
    if recipe.schedule == "piecewise":
        boundaries = [int(b * steps) for b in recipe.boundaries]
        values = [peak * recipe.decay_factor**i for i in range(len(boundaries) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    if recipe.schedule == "triangular":  # airbench94's: up from a fraction of the peak, then down to another
        from zoo.schedules import Triangular

        return Triangular(peak, total_steps=total, peak_step=int(recipe.warmup_epochs * steps),
                          start_factor=recipe.start_lr_factor, end_factor=recipe.end_lr_factor)
    if recipe.schedule == "cosine_restarts":  # SGDR (Loshchilov and Hutter 2017): a good model at each cycle's end
        return keras.optimizers.schedules.CosineDecayRestarts(
            peak, first_decay_steps=max(1, int(round(recipe.cycle_epochs * steps))), t_mul=recipe.cycle_mult, m_mul=1.0)
    warmup = min(int(recipe.warmup_epochs * steps), total - 1)
    if warmup > 0:
        return keras.optimizers.schedules.CosineDecay(
            peak / 10, decay_steps=max(1, total - warmup), warmup_target=peak, warmup_steps=warmup
        )
    return keras.optimizers.schedules.CosineDecay(peak, decay_steps=total)


def optimizer(recipe: Recipe, steps: int) -> Any:
    import keras

    lr = learning_rate(check(recipe), steps)
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
                                    weight_decay=recipe.weight_decay or None)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay)
    return keras.optimizers.Adam(lr, weight_decay=recipe.weight_decay or None)


def callbacks(recipe: Recipe, steps: int) -> list[Any]:
    """The callbacks the recipe itself asks for (its lookahead), for ``steps`` batches an epoch."""
    if not recipe.lookahead_every:
        return []
    from zoo.callbacks import Lookahead

    return [Lookahead(steps_per_epoch=steps, epochs=recipe.epochs, every=recipe.lookahead_every,
                      start_epoch=recipe.lookahead_start_epoch, decay=recipe.lookahead_decay,
                      power=recipe.lookahead_decay_power)]


def loss(recipe: Recipe) -> Any:
    import keras

    if recipe.loss == "sparse_categorical_crossentropy_from_logits":  # the language models answer logits
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if recipe.label_smoothing:
        from zoo.losses import SparseCategoricalCrossentropyWithSmoothing

        return SparseCategoricalCrossentropyWithSmoothing(label_smoothing=recipe.label_smoothing)
    return keras.losses.get(recipe.loss)


def for_fit(recipe: Recipe) -> Recipe:
    """The recipe as ``zoo.get`` compiles it: a constant learning rate at the recipe's peak, which a user's own
    ``fit`` of any length can use as it is (``zoo.train``, which knows the steps, follows the schedule)."""
    return recipe.replace(schedule="constant", warmup_epochs=0.0)


def compile_model(model: Any, recipe: Recipe, *, steps: int | None = None, **compile_kwargs: Any) -> Any:
    """Compile ``model`` with the recipe's optimizer, loss and metrics; returns the model."""
    if steps is None and recipe.schedule != "constant":
        raise ValueError(f"the {recipe.schedule!r} schedule needs steps= (batches an epoch); "
                         "or compile with for_fit(recipe), a constant rate")
    steps = steps or 1
    metrics = {"weighted_metrics" if recipe.weighted_metrics else "metrics": list(recipe.metrics)}
    model.compile(optimizer=optimizer(recipe, steps), loss=loss(recipe), **metrics, **compile_kwargs)
    return model
