"""Multi-worker training that works with Keras 3, where ``model.fit`` under MultiWorkerMirroredStrategy fails
(KNOWN_ISSUES item 1: ``strategy.reduce`` on a PerReplica batch in ``_maybe_symbolic_build``, then "Invalid
reduction dimension 0" on scalar logs).

This is the loop ``fit`` would run, without those two lines: the model is built symbolically from one local
batch, then each step is the compiled model's own ``train_step`` (its optimizer, loss and metrics) inside
``strategy.run``; the logs are the metrics read in cross-replica context. The same Keras callbacks that ``fit``
drives (backup and restore, best checkpoint, TensorBoard, early stopping) are driven here, with a progress bar
on the chief. Every worker takes part in every collective; only the chief's files are kept.
"""

from __future__ import annotations

from typing import Any


def fit(
    model: Any,
    strategy: Any,
    train_ds: Any,
    *,
    epochs: int,
    validation_data: Any = None,
    callbacks: list[Any] = (),
    verbose: bool = True,
) -> dict[str, list[float]]:
    """Train ``model`` (built and compiled inside ``strategy.scope()``) on batched, global-batch datasets."""
    import keras
    import tensorflow as tf

    first = next(iter(train_ds))
    with strategy.scope():
        model._symbolic_build(data_batch=first)  # builds metrics and the optimizer outside any replica context
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)

    dist_train = strategy.experimental_distribute_dataset(train_ds)
    dist_val = strategy.experimental_distribute_dataset(validation_data) if validation_data is not None else None

    @tf.function
    def train_step(batch):
        strategy.run(model.train_step, args=(batch,))

    @tf.function
    def test_step(batch):
        strategy.run(model.test_step, args=(batch,))

    @tf.function
    def results():
        return model.get_metrics_result()

    def logs() -> dict[str, float]:
        return {k: float(v) for k, v in results().items()}

    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model, epochs=epochs, verbose=0)
    model.stop_training = False
    model._initial_epoch = 0
    callback_list.on_train_begin()
    start = getattr(model, "_initial_epoch", 0) or 0
    history: dict[str, list[float]] = {}
    steps = int(train_ds.cardinality()) if int(train_ds.cardinality()) > 0 else None
    for epoch in range(start, epochs):
        if model.stop_training:
            break
        callback_list.on_epoch_begin(epoch)
        model.reset_metrics()
        bar = keras.utils.Progbar(steps, stateful_metrics=None) if verbose else None
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        for step, batch in enumerate(dist_train):
            callback_list.on_train_batch_begin(step)
            train_step(batch)
            callback_list.on_train_batch_end(step)
            if bar is not None:
                bar.update(step + 1)
        epoch_logs = logs()
        if dist_val is not None:
            callback_list.on_test_begin()
            model.reset_metrics()
            for batch in dist_val:
                test_step(batch)
            callback_list.on_test_end()
            epoch_logs.update({f"val_{k}": v for k, v in logs().items()})
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in epoch_logs.items()), flush=True)
        callback_list.on_epoch_end(epoch, epoch_logs)
        for key, value in epoch_logs.items():
            history.setdefault(key, []).append(value)
    callback_list.on_train_end()
    return history


def evaluate(model: Any, strategy: Any, dataset: Any) -> dict[str, float]:
    """``model.evaluate`` for a multi-worker strategy: the compiled ``test_step`` inside ``strategy.run``."""
    import tensorflow as tf

    @tf.function
    def test_step(batch):
        strategy.run(model.test_step, args=(batch,))

    model.reset_metrics()
    for batch in strategy.experimental_distribute_dataset(dataset):
        test_step(batch)
    from zoo.training import with_bits_per_character

    return with_bits_per_character(model, {k: float(v) for k, v in tf.function(model.get_metrics_result)().items()})
