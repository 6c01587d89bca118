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


def sharded(ds: Any) -> Any:
    """``ds`` (global batches) with explicit per-worker sharding: each worker keeps its own slice of every global
    batch (``AutoShardPolicy.DATA``), so that together the workers see each global batch once, as one device
    would. Left to ``AUTO``, TensorFlow tries to shard by file, finds none in an in-memory dataset and falls back
    to the same with a warning: the behaviour would rest on a fallback."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def barrier(strategy: Any) -> None:
    """Wait until every worker reaches this point: an all-reduce every replica takes part in. After ``fit``, the
    chief has written its files (its best checkpoint at its last epoch's end) before it gets here. On JAX, every
    process's devices in one ``sync_global_devices``."""
    from zoo import distribute

    if isinstance(strategy, distribute.JaxDistribution):
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices("zoo: the chief's files are written")
        return
    import tensorflow as tf

    total = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(tf.function(lambda: tf.constant(1.0))),
                            axis=None)
    if int(total) != strategy.num_replicas_in_sync:
        raise RuntimeError(f"barrier: {int(total)} of {strategy.num_replicas_in_sync} replicas answered")


def _steps(model: Any, strategy: Any) -> tuple[Any, Any, Any]:
    """(train_step, test_step, results): the compiled model's own steps inside ``strategy.run``, as graphs."""
    import tensorflow as tf

    @tf.function
    def train_step(batch):
        strategy.run(model.train_step, args=(batch,))

    @tf.function
    def test_step(batch):
        strategy.run(model.test_step, args=(batch,))

    return train_step, test_step, tf.function(model.get_metrics_result)


def preprocessed(model: Any, ds: Any) -> Any:
    """A keras-hub task's preprocessor mapped over ``ds`` in tf.data, as its own ``fit`` does (this loop
    calls the train step itself); other models' data as it is."""
    from zoo.models import hub

    if ds is None or not hub.is_task(model):
        return ds
    import tensorflow as tf

    return ds.map(model.preprocess_samples, num_parallel_calls=tf.data.AUTOTUNE)


def _build(model: Any, strategy: Any, train_ds: Any) -> None:
    """Build the metrics and the optimizer outside any replica context, from a batch of a separate iterator."""
    first = next(iter(train_ds))
    with strategy.scope():
        model._symbolic_build(data_batch=first)
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)


def _train_epoch(model, iterator, steps, train_step, callback_list, bar) -> None:
    for step in range(steps):
        callback_list.on_train_batch_begin(step)
        train_step(next(iterator))
        callback_list.on_train_batch_end(step)
        if bar is not None:
            bar.update(step + 1)


def _validate(model, dist_val, test_step, results, callback_list) -> dict[str, float]:
    callback_list.on_test_begin()
    model.reset_metrics()
    for batch in dist_val:
        test_step(batch)
    callback_list.on_test_end()
    return {f"val_{k}": float(v) for k, v in results().items()}


def fit(
    model: Any,
    strategy: Any,
    train_ds: Any,
    *,
    epochs: int,
    steps_per_epoch: int,
    validation_data: Any = None,
    callbacks: list[Any] = (),
    verbose: bool = True,
) -> dict[str, list[float]]:
    """Train ``model`` (built and compiled inside ``strategy.scope()``) on a stream of global batches holding
    the epochs from the backup's on (``zoo.data.epoch_stream``), ``steps_per_epoch`` batches each."""
    import keras

    train_ds, validation_data = (preprocessed(model, ds) for ds in (train_ds, validation_data))
    _build(model, strategy, train_ds)
    train_step, test_step, results = _steps(model, strategy)
    iterator = iter(strategy.experimental_distribute_dataset(sharded(train_ds)))
    dist_val = (strategy.experimental_distribute_dataset(sharded(validation_data)) if validation_data is not None
                else None)
    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model, epochs=epochs, verbose=0)
    model.stop_training = False
    model._initial_epoch = 0
    callback_list.on_train_begin()  # the backup sets _initial_epoch
    history: dict[str, list[float]] = {}
    for epoch in range(getattr(model, "_initial_epoch", 0) or 0, epochs):
        if model.stop_training:
            break
        callback_list.on_epoch_begin(epoch)
        model.reset_metrics()
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        bar = keras.utils.Progbar(steps_per_epoch) if verbose else None
        _train_epoch(model, iterator, steps_per_epoch, train_step, callback_list, bar)
        epoch_logs = {k: float(v) for k, v in results().items()}
        if dist_val is not None:
            epoch_logs.update(_validate(model, dist_val, test_step, results, callback_list))
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in epoch_logs.items()), flush=True)
        callback_list.on_epoch_end(epoch, epoch_logs)
        for key, value in epoch_logs.items():
            history.setdefault(key, []).append(value)
    callback_list.on_train_end()
    return history

