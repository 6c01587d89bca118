"""Training and evaluation: a card's recipe, standard compile + ``model.fit``, and every artefact written.

``train`` hands one thing to the next: card -> recipe (with overrides) -> data splits -> pipelines -> model
(``zoo.get``) compiled for the recipe -> fit with callbacks -> test metrics -> ``metrics.json`` and curves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from zoo import data as zdata
from zoo import recipes, registry
from zoo._io import atomic_path, atomic_write_text
from zoo.registry import ModelCard, Recipe

BEST_WEIGHTS = "best.weights.h5"
FINAL_WEIGHTS = "final.weights.h5"


@dataclasses.dataclass
class TrainResult:
    """What ``zoo.train`` gives back."""

    model: Any  # the trained keras.Model (weights of the best epoch restored)
    history: dict[str, list[float]]  # per-epoch logs of this run and any run it resumed
    test_metrics: dict[str, float]
    paths: dict[str, Path]  # model_dir, best_weights, final_weights, metrics, curves, csv_log, tensorboard, backup
    wall_time_s: float
    epochs_run: int  # epochs run by this call (fewer than the recipe's when it resumed)


def versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    from zoo import __version__

    return {"zoo": __version__, "tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version()}


def _recipe(card: ModelCard, overrides: dict[str, Any]) -> Recipe:
    given = {k: v for k, v in overrides.items() if v is not None}
    return recipes.check(card.recipe.replace(**given))


DATASET_KINDS = {"image-classification": "image", "text-classification": "text", "language-modeling": "corpus"}


def check_dataset(card: ModelCard, dataset: str | None) -> str | None:
    """A dataset to train ``card``'s model on instead of its own: known, and of the kind its task takes."""
    if dataset is None:
        return None
    fitting = sorted(n for n, d in zdata.DATASETS.items() if d.kind == DATASET_KINDS[card.task])
    if dataset not in zdata.DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; {card.name} can train on: {', '.join(fitting)}")
    if dataset not in fitting:
        raise ValueError(f"{card.name} is a {card.task} model and cannot train on {dataset} "
                         f"({zdata.DATASETS[dataset].kind}); it can train on: {', '.join(fitting)}")
    return dataset


def default_model_dir(name: str) -> Path:
    return Path("runs") / name


def _splits(recipe: Recipe, data_dir: str | os.PathLike[str] | None, source: str) -> dict[str, zdata.Split]:
    kwargs = {"data_dir": data_dir, "source": source, "validation_split": recipe.validation_split}
    return {split: zdata.load(recipe.dataset, split, **kwargs) for split in ("train", "validation", "test")}


def plot_curves(history: dict[str, list[float]], path: Path, title: str) -> Path:
    """A PNG with the loss and each metric per epoch, training against validation."""
    from matplotlib.figure import Figure  # not pyplot: a notebook's backend stays as it is
    from matplotlib.ticker import MaxNLocator

    keys = [k for k in history if not k.startswith("val_") and k not in ("learning_rate", "examples_per_s")]
    fig = Figure(figsize=(5 * len(keys), 3.6))
    axes = fig.subplots(1, len(keys), squeeze=False)
    for ax, key in zip(axes[0], keys):
        epochs = range(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], "o-", label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def train(
    name: str,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    model_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    seed: int | None = None,
    early_stopping: int | None = None,
    source: str = "auto",
    verbose: int | str = "auto",
    callbacks: list[Any] | None = None,
    strategy: Any = None,
    tpu: str | None = None,
    num_gpus: int | None = None,
    mixed_precision: str | None = None,
    jit_compile: bool | str = "auto",
    steps_per_execution: int = 1,
    dataset: str | None = None,
    **hparams: Any,
) -> TrainResult:
    """See :func:`zoo.train`."""
    from zoo import distribute

    # The strategy first: a multi-worker strategy must exist before any TensorFlow op (KNOWN_ISSUES item 4).
    strat = distribute.resolve(strategy, tpu=tpu, num_gpus=num_gpus)
    kind = distribute.kind(strat)
    chief = distribute.is_chief() if kind == "multi_worker" else True

    import keras

    from zoo import api
    from zoo.callbacks import AtomicBackupAndRestore, AtomicBestCheckpoint, Throughput

    card = registry.get_card(name)
    # Any other field of the recipe may be given by name too (optimizer, weight_decay, augmentation, ...).
    recipe_fields = {f.name for f in dataclasses.fields(Recipe)}
    more = {k: hparams.pop(k) for k in list(hparams) if k in recipe_fields}
    if "augmentation" in more:
        more["augmentation"] = tuple(more["augmentation"])
    recipe = _recipe(card, {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
                            "early_stopping_patience": early_stopping, "dataset": check_dataset(card, dataset), **more})
    if dataset is not None and "num_classes" in card.hparams and "num_classes" not in hparams:
        hparams["num_classes"] = len(zdata.DATASETS[dataset].class_names)  # the head fits the dataset
    hp = api.resolve_hparams(card, hparams)
    policy = distribute.mixed_precision_policy(mixed_precision, strat)
    compile_kwargs = distribute.compile_options(strat, jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    shared_dir = Path(model_dir) if model_dir is not None else default_model_dir(card.name)
    # Only the chief's files are kept; the other workers write theirs into a folder that is removed at the end.
    scratch = None if chief else tempfile.TemporaryDirectory(prefix="zoo-worker-")
    model_dir = shared_dir if chief else Path(scratch.name)
    paths = {
        "model_dir": model_dir, "best_weights": model_dir / BEST_WEIGHTS, "final_weights": model_dir / FINAL_WEIGHTS,
        "metrics": model_dir / "metrics.json", "curves": model_dir / "curves.png", "csv_log": model_dir / "log.csv",
        "tensorboard": model_dir / "tensorboard", "backup": model_dir / "backup",
    }
    if not resume and chief:
        for key in ("backup", "csv_log", "tensorboard"):
            target = paths[key]
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
        model_dir.joinpath("best.json").unlink(missing_ok=True)
    model_dir.mkdir(parents=True, exist_ok=True)

    splits = _splits(recipe, data_dir, source)
    keras.utils.set_random_seed(recipe.seed)
    drop = kind in ("tpu", "multi_worker")  # static shapes on TPU; equal steps on every worker
    window, targets = corpus_window(card, hp.get("sequence_length"))
    train_ds = zdata.pipeline(splits["train"], batch_size=recipe.batch_size, training=True, seed=recipe.seed,
                              augmentation=recipe.augmentation, drop_remainder=drop, sequence_length=window,
                              targets=targets)
    val_ds = zdata.pipeline(splits["validation"], batch_size=recipe.batch_size, drop_remainder=drop,
                            sequence_length=window, targets=targets)
    test_ds = zdata.pipeline(splits["test"], batch_size=recipe.batch_size, drop_remainder=drop,
                             sequence_length=window, targets=targets)

    steps = int(train_ds.cardinality())  # batches an epoch, known for these in-memory pipelines
    with dtype_policy(policy), strat.scope():  # model *and* optimizer inside the scope (KNOWN_ISSUES item 5)
        model = api.get(card.name, compile=False, **hp)
        recipes.compile_model(model, recipe, steps=steps, **compile_kwargs)
    _print(verbose and chief, f"zoo: training {card.name} on {recipe.dataset} ({len(splits['train'])} train, "
           f"{len(splits['validation'])} validation, {len(splits['test'])} test; source {splits['train'].source}), "
           f"{recipe.epochs} epochs of {steps} steps; writing to {shared_dir}")
    _print(verbose and chief, distribute.describe(strat, recipe.batch_size) + f"; dtype policy {policy}")

    throughput = Throughput(len(splits["train"]) if card.task != "language-modeling" else steps * recipe.batch_size)
    backup = AtomicBackupAndRestore(paths["backup"], csv_path=paths["csv_log"], delete_checkpoint=False,
                                    restore_dir=shared_dir / "backup")
    cbs = [
        throughput,  # first: it adds examples_per_s to the logs that the others record
        backup,
        AtomicBestCheckpoint(paths["best_weights"], monitor=recipe.monitor),
        keras.callbacks.TensorBoard(str(paths["tensorboard"]), write_graph=False, profile_batch=0),
    ]
    if recipe.early_stopping_patience:
        cbs.append(keras.callbacks.EarlyStopping(monitor=recipe.monitor, patience=recipe.early_stopping_patience,
                                                 mode="max" if "acc" in recipe.monitor else "min"))
    cbs.extend(callbacks or [])

    meta = backup.read_metadata()
    start_epoch = meta["epoch"] if meta else 0
    if start_epoch:
        _print(verbose, f"zoo: resuming from the backup of epoch {start_epoch} in {shared_dir / 'backup'}")
    t0 = time.perf_counter()
    # Always fit: with a finished backup it runs no epoch but restores the backed-up weights.
    if kind == "multi_worker":
        from zoo import multiworker

        multiworker.fit(model, strat, train_ds, epochs=recipe.epochs, validation_data=val_ds, callbacks=cbs,
                        verbose=bool(verbose) and chief)
    else:
        model.fit(train_ds, validation_data=val_ds, epochs=recipe.epochs, callbacks=cbs, verbose=verbose,
                  shuffle=False)
    wall = time.perf_counter() - t0

    with atomic_path(paths["final_weights"], suffix=".weights.h5") as tmp:
        model.save_weights(str(tmp))
    best = shared_dir / BEST_WEIGHTS  # every worker loads the chief's best weights, so all evaluate the same model
    if best.exists():
        with warnings.catch_warnings():  # the best checkpoint holds no optimizer state, by design
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(str(best))
    if kind == "multi_worker":
        from zoo import multiworker

        test = multiworker.evaluate(model, strat, test_ds)
    else:
        test = _evaluate_model(model, test_ds)
    history = {k: [e[k] for e in backup.epoch_logs if k in e] for k in (backup.epoch_logs[-1] if backup.epoch_logs else {})
               if k != "epoch"}
    plot_curves(history, paths["curves"], f"{card.name} on {recipe.dataset}")
    report = {
        "model": card.name, "dataset": recipe.dataset, "split": "test", "test_metrics": test,
        "best_epoch": _best_epoch(model_dir), "epochs": len(history.get("loss", [])),
        "wall_time_s_this_run": round(wall, 2), "training_examples_per_s": throughput.median(),
        "recipe": dataclasses.asdict(recipe), "hparams": _jsonable(hp),
        "strategy": {"kind": kind, "replicas": strat.num_replicas_in_sync, "dtype_policy": policy, **compile_kwargs},
        "data": {s: splits[s].provenance() for s in ("train", "test")},
        "versions": versions(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }
    atomic_write_text(paths["metrics"], json.dumps(report, indent=2, default=str) + "\n")
    _print(verbose and chief, "zoo: test " + ", ".join(f"{k} {v:.4f}" for k, v in test.items()) +
           f"; wrote {paths['metrics']}")
    result = TrainResult(model, history, test, paths, wall, max(0, recipe.epochs - start_epoch))
    if scratch is not None:
        scratch.cleanup()
        result.paths = {k: shared_dir / v.relative_to(model_dir) for k, v in paths.items()}
    return result


@contextlib.contextmanager
def dtype_policy(policy: str):
    """Build under a Keras dtype policy ("mixed_float16", ...) and restore the previous one afterwards."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _best_epoch(model_dir: Path) -> int | None:
    state = model_dir / "best.json"
    return json.loads(state.read_text())["epoch"] if state.exists() else None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=list))


def _print(verbose: int | str, message: str) -> None:
    if verbose:
        print(message, flush=True)


def _evaluate_model(model: Any, ds: Any) -> dict[str, float]:
    result = model.evaluate(ds, verbose=0, return_dict=True)
    return with_bits_per_character(model, {k: float(v) for k, v in result.items()})


CHARACTERS_PER_TOKEN = 4  # a keras-hub LM's windows: about this many characters to a byte-pair token


def corpus_window(card: ModelCard, sequence_length: int | None) -> tuple[int | None, bool]:
    """A language model's training windows, in characters, and whether the pipeline gives the targets: zoo's
    character models take ``sequence_length`` characters and their next code points; a keras-hub causal LM
    takes text alone (its preprocessor tokenises and shifts) of about ``sequence_length`` tokens."""
    if card.task != "language-modeling":
        return None, True
    if card.presets:
        return sequence_length * CHARACTERS_PER_TOKEN, False
    return sequence_length, True


def with_bits_per_character(model: Any, result: dict[str, float]) -> dict[str, float]:
    """A character model's loss is in nats a character: the card reports bits a character as well. A keras-hub
    LM's loss is in nats a token: its perplexity is reported instead."""
    card = registry.get_card(getattr(model, "zoo_name", None) or model.name)
    if card.task == "language-modeling" and card.presets:
        result["perplexity"] = math.exp(min(result["loss"], 50.0))
    elif card.task == "language-modeling":
        result["bits_per_character"] = result["loss"] / math.log(2)
    return result


def evaluate(
    name_or_model: Any,
    *,
    weights: bool | str | None = None,
    split: str = "test",
    data_dir: str | os.PathLike[str] | None = None,
    source: str = "auto",
    batch_size: int | None = None,
    preset: str | None = None,
) -> dict[str, float]:
    """See :func:`zoo.evaluate`."""
    from zoo import api

    if isinstance(name_or_model, str):
        card = registry.get_card(name_or_model)
        _, tag = registry.split_name(name_or_model)
        pretrained = weights if weights is not None else (tag or True)
        model = api.get(name_or_model if tag and weights is None else card.name, pretrained=pretrained, compile=False,
                        **({"preset": preset} if preset is not None else {}))
    else:
        model = name_or_model
        card = registry.get_card(getattr(model, "zoo_name", None) or model.name)
        if weights is not None:
            raise ValueError("weights= is for a model name; load weights into your model yourself")
    recipe = card.recipe
    if split not in zdata.SPLITS:
        raise ValueError(f"split must be one of {', '.join(zdata.SPLITS)}, got {split!r}")
    loaded = zdata.load(recipe.dataset, split, data_dir=data_dir, source=source, validation_split=recipe.validation_split)
    recipes.compile_model(model, recipe)
    from zoo.models import hub

    if card.task != "language-modeling":
        window, targets = None, True
    elif hub.is_task(model):
        window, targets = corpus_window(card, model.preprocessor.sequence_length)
    else:
        window, targets = corpus_window(card, model.get_layer("tokenizer").sequence_length)
    result = _evaluate_model(model, zdata.pipeline(loaded, batch_size=batch_size or 256, sequence_length=window,
                                                   targets=targets))
    result["num_examples"] = len(loaded)
    return result
