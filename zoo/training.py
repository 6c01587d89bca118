"""Training and evaluation: a card's recipe, standard compile + ``model.fit``, and every artefact written.

``train`` hands one thing to the next: card -> recipe (with overrides) -> data splits -> pipelines -> model
(``zoo.get``) compiled for the recipe -> fit with callbacks -> test metrics -> ``metrics.json`` and curves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import logging
import math
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from zoo import data as zdata
from zoo import distribute, recipes, registry
from zoo._io import atomic_path, atomic_write_text, exclusive, remove_leftovers
from zoo._compat import renamed
from zoo.registry import ModelCard, Recipe

log = logging.getLogger("zoo")
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
    """zoo's, TensorFlow's (the host pipeline on every backend), the backend's and Python's versions."""
    import tensorflow as tf

    from zoo import __version__, backends

    return {"zoo": __version__, "tensorflow": tf.__version__, **backends.versions(),
            "python": platform.python_version()}


def _recipe(card: ModelCard, overrides: dict[str, Any]) -> Recipe:
    given = {k: v for k, v in overrides.items() if v is not None}
    recipe = recipes.check(recipes.with_overrides(card.recipe, given))
    if whole_training_split(recipe):
        # No validation split to choose by: the recipe and its epochs were chosen on validation before, and the
        # run keeps its last epoch (the checkpoint "monitors" the epoch).
        if recipe.early_stopping_patience:
            raise ValueError("validation_split=0 trains on the whole training split, with no validation to stop "
                             "early by: leave early_stopping unset (choose the epochs on a run with validation)")
        recipe = recipe.replace(monitor="epoch")
    return recipe


def whole_training_split(recipe: Recipe) -> bool:
    """``validation_split=0`` on a zoo dataset without a validation split of its own: the fixed recipe retrained
    on every training example (the issue-30 way to release a configuration chosen on validation)."""
    info = zdata.DATASETS.get(recipe.dataset)
    return info is not None and recipe.validation_split == 0 and "validation" not in info.splits


DATASET_KINDS = {"image-classification": "image", "text-classification": "text", "language-modeling": "corpus"}


def check_dataset(card: ModelCard, dataset: str | os.PathLike[str] | None) -> str | None:
    """A dataset to train ``card``'s model on instead of its own: a zoo dataset of the kind its task takes, or
    a folder of the user's (one subfolder per class) for a classifier. A zoo dataset's name wins over a folder
    of the same name in the working directory: write ``./mnist`` for the folder."""
    from zoo.data import folders

    if dataset is None:
        return None
    fitting = sorted(n for n, d in zdata.DATASETS.items() if d.kind == DATASET_KINDS[card.task])
    if isinstance(dataset, str) and dataset in zdata.DATASETS:
        if dataset not in fitting:
            raise ValueError(f"{card.name} is a {card.task} model and cannot train on {dataset} "
                             f"({zdata.DATASETS[dataset].kind}); it can train on: {', '.join(fitting)}")
        return dataset
    if folders.is_folder(dataset):
        if card.task == "language-modeling" or card.presets and card.input.kind != "text":
            raise ValueError(f"a folder of your own trains zoo's image and text classifiers, not {card.name}")
        return str(Path(dataset).expanduser().resolve())  # absolute: never read back as a dataset's name
    raise ValueError(f"unknown dataset {dataset!r}; {card.name} can train on: {', '.join(fitting)}, or a folder "
                     f"with one subfolder per class")


def default_model_dir(name: str) -> Path:
    return Path("runs") / name


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


@dataclasses.dataclass
class RunConfig:
    """Step 1 of a run: what to train, how, where and under which strategy (no data, no model yet)."""

    card: ModelCard
    recipe: Recipe
    hparams: dict[str, Any]
    strategy: Any
    kind: str  # distribute.kind(strategy)
    chief: bool  # only the chief's files are kept
    policy: str  # the Keras dtype policy
    compile_kwargs: dict[str, Any]
    paths: dict[str, Path]  # where this worker writes
    shared_dir: Path  # the run's folder (the chief's)
    verbose: int | str
    data_dir: Any
    source: str
    scratch: Any = None  # a non-chief worker's temporary folder
    folder: Any = None  # zoo.data.folders.Folder: the user's own data, when trained on a folder
    lora_rank: int | None = None  # LoRA adapters of this rank on the backbone (zoo.lora), the rest frozen
    lora: dict[str, int] | None = None  # what they train: zoo.lora.counts


@dataclasses.dataclass
class RunData:
    """Step 2: the splits and their pipelines; the training stream starts at the epoch the backup reached."""

    splits: dict[str, zdata.Split]
    train_ds: Any
    val_ds: Any
    test_ds: Any
    steps: int  # batches an epoch
    start_epoch: int


def configure(name: str, *, epochs: int | None, batch_size: int | None, learning_rate: float | None,
              data_dir: Any, model_dir: Any, resume: bool, seed: int | None, early_stopping: int | None,
              source: str, verbose: int | str, strategy: Any, tpu: str | None, num_gpus: int | None,
              mixed_precision: str | None, jit_compile: bool | str, steps_per_execution: int, data: Any,
              hparams: dict[str, Any], distribution: dict[str, Any] | None = None) -> RunConfig:
    """The card's recipe with the overrides, the hyper-parameters, the strategy and the run's folders."""
    from zoo import api, backends, distribute

    backends.check_supported()
    backends.keep_tensorflow_on_the_host()
    # The strategy first: a multi-worker strategy must exist before any TensorFlow op (KNOWN_ISSUES item 4).
    strat = distribute.resolve(strategy, tpu=tpu, num_gpus=num_gpus, model=name, **(distribution or {}))
    kind = distribute.kind(strat)
    chief = distribute.chief(strat)
    card = registry.get_card(name)
    # Any other field of the recipe may be given by name too (optimizer, weight_decay, augmentation, ...).
    recipe_fields = {f.name for f in dataclasses.fields(Recipe)}
    more = {k: hparams.pop(k) for k in list(hparams) if k in recipe_fields}
    if "augmentation" in more:
        more["augmentation"] = tuple(more["augmentation"])
    recipe = _recipe(card, {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
                            "early_stopping_patience": early_stopping, "dataset": check_dataset(card, data), **more})
    if jit_compile == "auto" and recipe.jit_compile is not None:
        jit_compile = recipe.jit_compile
    folder = _read_folder(card, recipe, hparams) if recipe.dataset not in zdata.DATASETS else None
    if data is not None and "num_classes" in card.hparams and "num_classes" not in hparams:  # the head fits the data
        names = folder.class_names if folder is not None else zdata.DATASETS[recipe.dataset].class_names
        hparams["num_classes"] = len(names)
    shared_dir = Path(model_dir) if model_dir is not None else default_model_dir(card.name)
    scratch = None if chief else tempfile.TemporaryDirectory(prefix="zoo-worker-")
    paths = run_paths(shared_dir if chief else Path(scratch.name))
    return RunConfig(card, recipe, api.resolve_hparams(card, hparams), strat, kind, chief,
                     distribute.mixed_precision_policy(mixed_precision, strat),
                     distribute.compile_options(strat, jit_compile=jit_compile, steps_per_execution=steps_per_execution),
                     paths, shared_dir, verbose, data_dir, source, scratch, folder)


def _read_folder(card: ModelCard, recipe: Recipe, hparams: dict[str, Any]) -> Any:
    from zoo.data import folders

    shape = hparams.get("input_shape", card.hparams.get("input_shape"))
    found = folders.load_folder(recipe.dataset, kind=card.input.kind, input_shape=shape,
                                validation_split=recipe.validation_split or 0.2)
    if found.skipped:
        log.warning("zoo: %s: skipped %s", found.root, ", ".join(f"{n} {why}" for why, n in found.skipped.items()))
    return found


LOCK = ".zoo-train.lock"


def prepare(cfg: RunConfig, resume: bool) -> None:
    """The run's folder, once this process holds its lock: started over if ``resume=False``, and the leftovers
    of a killed run's writes removed (this run is the folder's writer now)."""
    if not resume and cfg.chief:
        _forget(cfg.paths)
    cfg.paths["model_dir"].mkdir(parents=True, exist_ok=True)
    remove_leftovers(cfg.paths["model_dir"])


def run_paths(model_dir: Path) -> dict[str, Path]:
    """Every file a run writes, by role."""
    return {
        "model_dir": model_dir, "best_weights": model_dir / BEST_WEIGHTS, "final_weights": model_dir / FINAL_WEIGHTS,
        "metrics": model_dir / "metrics.json", "curves": model_dir / "curves.png", "csv_log": model_dir / "log.csv",
        "tensorboard": model_dir / "tensorboard", "backup": model_dir / "backup",
    }


def _forget(paths: dict[str, Path]) -> None:
    """``resume=False``: the backup, the logs and the best-so-far record go; the run starts over."""
    for key in ("backup", "csv_log", "tensorboard"):
        target = paths[key]
        shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
    paths["model_dir"].joinpath("best.json").unlink(missing_ok=True)


def load_data(cfg: RunConfig, start_epoch: int) -> RunData:
    """The splits, and their pipelines: the training stream from ``start_epoch`` on, each epoch seeded by
    (seed, epoch), so that a resumed run sees the batches an uninterrupted one would have seen."""
    recipe = cfg.recipe
    if cfg.folder is not None:  # a folder has no test split of its own: its validation split stands in
        splits = {**cfg.folder.splits, "test": cfg.folder.splits["validation"]}
    else:
        kwargs = {"data_dir": cfg.data_dir, "source": cfg.source, "validation_split": recipe.validation_split}
        parts = ("train", "test") if whole_training_split(recipe) else ("train", "validation", "test")
        splits = {split: zdata.load(recipe.dataset, split, **kwargs) for split in parts}
        splits.setdefault("validation", None)
    drop = distribute.whole_batches(cfg.strategy)  # static shapes on TPU; equal steps on every worker; JAX's meshes
    window, targets = corpus_window(cfg.card, cfg.hparams.get("sequence_length"))
    shape = {"batch_size": recipe.batch_size, "drop_remainder": drop, "sequence_length": window, "targets": targets}
    train_ds, steps = zdata.epoch_stream(splits["train"], epochs=recipe.epochs, first_epoch=start_epoch,
                                         seed=recipe.seed, augmentation=recipe.augmentation, **shape)
    val_ds = zdata.pipeline(splits["validation"], **shape) if splits["validation"] is not None else None
    return RunData(splits, train_ds, val_ds,
                   zdata.pipeline(splits["test"], **{**shape, "drop_remainder": False}), steps, start_epoch)


def build_model(cfg: RunConfig, steps: int, pretrained: bool | str = False) -> Any:
    """The model (from ``pretrained`` weights, its head new where the classes differ) and its optimizer, built
    inside the strategy's scope (KNOWN_ISSUES item 5), compiled with the recipe's schedule over ``steps``
    batches an epoch. A folder's class names go beside the run's weights and onto the model."""
    import keras

    from zoo import api

    keras.utils.set_random_seed(cfg.recipe.seed)
    with dtype_policy(cfg.policy), cfg.strategy.scope():
        model = api.get(cfg.card.name, compile=False, pretrained=pretrained, **cfg.hparams)
        if cfg.lora_rank is not None:
            from zoo import lora

            cfg.lora = lora.enable(model, cfg.lora_rank, cfg.card.name)
            _print(cfg.verbose and cfg.chief, f"zoo: LoRA rank {cfg.lora_rank} on {cfg.lora['adapted_layers']} "
                   f"attention projections: {cfg.lora['trainable_parameters']:,} of {cfg.lora['parameters']:,} "
                   f"parameters train ({cfg.lora['trainable_parameters'] / cfg.lora['parameters']:.2%})")
        recipes.compile_model(model, cfg.recipe, steps=steps, **cfg.compile_kwargs)
    if cfg.folder is not None:
        model.zoo_class_names = cfg.folder.class_names
        if cfg.chief:
            atomic_write_text(cfg.shared_dir / api.CLASS_NAMES, json.dumps(
                {"model": cfg.card.name, "class_names": list(cfg.folder.class_names), "data": str(cfg.folder.root)},
                indent=2) + "\n")
    return model


def _lora_files(cfg: RunConfig) -> Any:
    """What a LoRA run's best epoch writes beside its checkpoint: the adapters and the head alone (zoo.lora),
    saved from the model as it trains. Keras folds a LoRA layer's adapters into its kernel when it saves the
    weights and zeroes them when it loads them (docs/KNOWN_ISSUES.md), so they are never read back from a
    checkpoint; a resumed run therefore writes them no more (its adapters start again from the folded kernel)."""
    if cfg.lora is None or not cfg.chief:
        return None
    from zoo import lora

    return lambda model: None if cfg.lora.get("resumed") else lora.save(model, cfg.paths["model_dir"])


def make_callbacks(cfg: RunConfig, examples_per_epoch: int, extra: list[Any] | None) -> tuple[list[Any], Any, Any]:
    """(callbacks, backup, throughput): throughput first (it adds examples_per_s to the logs the others record),
    the atomic backup, the best checkpoint, TensorBoard, early stopping if the recipe asks, then the caller's."""
    import keras

    from zoo.callbacks import AtomicBestCheckpoint, Throughput, monitor_mode

    recipe, paths = cfg.recipe, cfg.paths
    throughput, backup = Throughput(examples_per_epoch), backup_callback(cfg)
    cbs = [
        throughput, backup,
        AtomicBestCheckpoint(paths["best_weights"], monitor=recipe.monitor, also=_lora_files(cfg)),
        keras.callbacks.TensorBoard(str(paths["tensorboard"]), write_graph=False, profile_batch=0),
    ]
    if recipe.early_stopping_patience:
        cbs.append(keras.callbacks.EarlyStopping(monitor=recipe.monitor, patience=recipe.early_stopping_patience,
                                                 mode=monitor_mode(recipe.monitor)))
    return cbs + list(extra or []), backup, throughput


def backup_callback(cfg: RunConfig) -> Any:
    from zoo.callbacks import AtomicBackupAndRestore

    return AtomicBackupAndRestore(cfg.paths["backup"], csv_path=cfg.paths["csv_log"], delete_checkpoint=False,
                                  restore_dir=cfg.shared_dir / "backup")


def run(cfg: RunConfig, model: Any, data: RunData, cbs: list[Any]) -> float:
    """Fit (zoo's own loop under multi-worker, where Keras' fit fails); the wall time in seconds. Always fit:
    with a finished backup it runs no epoch but restores the backed-up weights."""
    verbose = cfg.verbose
    if data.start_epoch:
        _print(verbose, f"zoo: resuming from the backup of epoch {data.start_epoch} in {cfg.shared_dir / 'backup'}")
    t0 = time.perf_counter()
    if distribute.own_loop(cfg.strategy):
        from zoo import multiworker

        multiworker.fit(model, cfg.strategy, data.train_ds, epochs=cfg.recipe.epochs, steps_per_epoch=data.steps,
                        validation_data=data.val_ds, callbacks=cbs, verbose=bool(verbose) and cfg.chief)
    else:
        with distribute.fit_scope(cfg.strategy):  # a JAX distribution shards each batch inside its scope
            model.fit(data.train_ds, validation_data=data.val_ds, epochs=cfg.recipe.epochs,
                      steps_per_epoch=data.steps, callbacks=cbs, verbose=verbose if cfg.chief else 0, shuffle=False)
    return time.perf_counter() - t0


def test_metrics(cfg: RunConfig, model: Any, data: RunData, measure: bool = True) -> dict[str, float]:
    """The final weights saved, the chief's best weights loaded (every worker evaluates the same model, once
    every worker has finished: the chief's files are complete), the test split measured, every example of it:
    under the strategies that train on whole batches only (TPU, multi-worker), on a plain copy of the model.
    ``measure=False`` leaves the test split alone and returns {}."""
    paths = cfg.paths
    with atomic_path(paths["final_weights"], suffix=".weights.h5") as tmp:
        model.save_weights(str(tmp))
    if cfg.kind == "multi_worker":
        from zoo import multiworker

        multiworker.barrier(cfg.strategy)
    best = cfg.shared_dir / BEST_WEIGHTS
    if best.exists():
        with warnings.catch_warnings():  # the best checkpoint holds no optimizer state, by design
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(str(best))
    if not measure:
        return {}
    if distribute.whole_batches(cfg.strategy):
        from zoo import api

        plain = api.copy_model(model)  # outside the strategy: any batch shape, every example
        recipes.compile_model(plain, recipes.for_fit(cfg.recipe))
        return _evaluate_model(plain, data.test_ds)
    return _evaluate_model(model, data.test_ds)


def training_seconds(epoch_logs: list[dict[str, float]], examples_per_epoch: int) -> float | None:
    """The time of every finished epoch's training steps (validation left out), resumed epochs included: from
    each epoch's measured ``examples_per_s``. None where an epoch has no such figure."""
    rates = [e.get("examples_per_s") for e in epoch_logs]
    if not rates or not all(rates):
        return None
    return round(sum(examples_per_epoch / r for r in rates), 1)


def _command() -> str:
    """How this process was started; for ``python -c`` the code it ran (``sys.argv`` keeps only "-c")."""
    if sys.argv[:1] == ["-c"]:
        return shlex.join(["python", *sys.orig_argv[1:]])
    return " ".join(sys.argv)


def report(cfg: RunConfig, data: RunData, backup: Any, throughput: Any, test: dict[str, float],
           wall: float) -> dict[str, Any]:
    """metrics.json and curves.png; returns the history (every finished epoch, resumed runs included)."""
    recipe, paths = cfg.recipe, cfg.paths
    history = {k: [e[k] for e in backup.epoch_logs if k in e] for k in (backup.epoch_logs[-1] if backup.epoch_logs else {})
               if k != "epoch"}
    plot_curves(history, paths["curves"], f"{cfg.card.name} on {recipe.dataset}")
    metrics = {
        "model": cfg.card.name, "dataset": recipe.dataset, "split": "test" if test else None,
        "test_metrics": test or None,
        "best_epoch": _best_epoch(paths["model_dir"]), "epochs": len(history.get("loss", [])),
        "wall_time_s_this_run": round(wall, 2), "training_examples_per_s": throughput.median(),
        "training_s": training_seconds(backup.epoch_logs, throughput.examples_per_epoch),
        "recipe": dataclasses.asdict(recipe), "hparams": _jsonable(cfg.hparams),
        "strategy": {**distribute.summary(cfg.strategy), "dtype_policy": cfg.policy, **cfg.compile_kwargs},
        "data": {s: data.splits[s].provenance() for s in ("train", "test")},
        "versions": versions(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": _command(),
    }
    if cfg.lora is not None:
        from zoo import lora

        metrics["lora"] = {**cfg.lora, "adapters": lora.ADAPTERS, "trained": lora.TRAINED}
    atomic_write_text(paths["metrics"], json.dumps(metrics, indent=2, default=str) + "\n")
    measured = ("test " + ", ".join(f"{k} {v:.4f}" for k, v in test.items()) if test
                else "the test split left unmeasured (test=False)")
    _print(cfg.verbose and cfg.chief, f"zoo: {measured}; wrote {paths['metrics']}")
    return history


@renamed(dataset="data")
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
    model_parallel: int | None = None,
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    mixed_precision: str | None = None,
    jit_compile: bool | str = "auto",
    steps_per_execution: int = 1,
    data: str | os.PathLike[str] | None = None,
    pretrained: bool | str | None = None,
    preset: str | None = None,
    test: bool = True,
    lora_rank: int | None = None,
    **hparams: Any,
) -> TrainResult:
    """Train a registered model with its recipe on its dataset: standard compile + ``model.fit``.

    Any part of the recipe given here overrides the card's. Writes into ``model_dir`` (default
    ``runs/NAME``): ``best.weights.h5`` (best validation epoch), ``final.weights.h5``, ``backup/`` (so that a
    killed run started again with the same call continues from its last finished epoch, unless
    ``resume=False``), ``log.csv``, ``tensorboard/``, ``metrics.json`` (test metrics, recipe, versions, sha256
    of the data files) and ``curves.png``. Every file is written atomically.

    Args:
        name: a registered model name.
        epochs, batch_size, learning_rate, seed: override the recipe (``batch_size`` is the global batch).
        data_dir: folder of local dataset copies (default ``$ZOO_DATA_DIR``); ``source`` "auto", "local", "tfds".
        early_stopping: stop after this many epochs without improvement of the recipe's monitored metric.
        verbose: Keras' progress output ("auto", 0, 1 or 2).
        callbacks: extra Keras callbacks.
        strategy: a ``tf.distribute.Strategy`` or a name ("auto", "cpu", "gpu", "mirrored", "tpu",
            "multi_worker", "off"; see ``zoo.distribute``), with ``tpu`` (address) and ``num_gpus``. Under
            "multi_worker" zoo runs its own loop (Keras 3's fit fails there) with the same callbacks. On JAX
            a name makes a ``keras.distribution`` ("data_parallel", "model_parallel", "tpu", "multi_worker").
        model_parallel: JAX's "model_parallel": the devices of the mesh's model axis (default 2), the
            variables sharded by the model's layout (``zoo.distribute.layout_map``).
        coordinator_address, num_processes, process_id: JAX's "multi_worker": process 0's host:port, the
            number of processes, this one's id (default ``$JAX_COORDINATOR_ADDRESS``, ``$JAX_NUM_PROCESSES``,
            ``$JAX_PROCESS_ID``; found by JAX on a Cloud TPU VM).
        mixed_precision: "off", "float16" or "bfloat16" (default: bfloat16 on TPU, else off).
        jit_compile, steps_per_execution: passed to ``compile``; what breaks under MirroredStrategy is adjusted
            with a warning.
        data: train on something else than the card's dataset: another zoo dataset of the kind the model's
            task takes (e.g. fine-tune ``bert_classifier`` on "imdb_reviews"), or a folder of your own with one
            subfolder per class (images for the image models, ``.txt`` files for the text classifiers; a
            ``validation/`` folder beside the classes, or a carved ``validation_split``). The head is sized to
            its classes, and a folder's class names are written beside the run's weights (``class_names.json``)
            so that predict and export answer with them. ``dataset=`` is its old name.
        pretrained: the weights to start from: None (default) starts from the default weights when training on
            other data and the model has some (fine-tuning: the body kept, a new head), else from scratch;
            False, True, a tag or a ``.weights.h5`` path as for ``zoo.get``.
        test: measure the test split at the end (default). False leaves it alone, as a candidate run of a
            weight set should: configurations are compared on validation, and the released file alone is
            measured on the test split (``scripts/release_weights.py``); ``metrics.json`` then has no test
            metrics.
        lora_rank: fine-tune with keras-hub's LoRA adapters of this rank on the backbone's attention query and
            value projections (its other weights frozen; the head trains): the Transformer entries
            (``zoo.lora.lora_models()``). The trainable parameter count is printed and in metrics.json; the
            adapters and the other weights that train are written alone too (``lora.lora.h5``, ``lora_trained.npz``), for
            ``zoo.get(name, pretrained=True, lora=model_dir)``.
        **hparams: the model's hyper-parameters, and any other field of its recipe (``optimizer``,
            ``weight_decay``, ``schedule``, ``warmup_epochs``, ``augmentation``, ``validation_split``, ...;
            see ``zoo.info(name).recipe``).

    Returns:
        A :class:`zoo.training.TrainResult`: model (best weights), history, test metrics, paths, wall time.
    """
    _check_arguments(resume=resume, test=test, seed=seed, num_gpus=num_gpus, verbose=verbose,
                     early_stopping=early_stopping)
    card = registry.get_card(name)
    if preset is not None and card.presets:
        hparams["preset"] = preset
    elif preset is not None:  # a preset of a zoo entry (a folder, hf://, kaggle://): the weights to start from
        if pretrained not in (None, True):
            raise ValueError(f"give preset= or pretrained=, not both (got pretrained={pretrained!r})")
        pretrained = preset
    if lora_rank is not None:
        from zoo import lora

        lora.check(card.name, lora_rank)
    if pretrained is None:
        pretrained = data is not None and bool(card.weights or card.presets)
    from zoo import api
    from zoo import weights as zweights

    from zoo import presets

    if card.weights and (pretrained is True or (isinstance(pretrained, str) and not zweights.is_path(pretrained)
                                                and not presets.is_source(pretrained))):
        # Fine-tuning a weight set trains the network it was trained with: what the caller leaves to the card
        # takes the weight set's value (an older set of another configuration), in the model and the data alike.
        for key, value in api.trained_hparams(zweights.find(card, pretrained)).items():
            if key in card.hparams:
                hparams.setdefault(key, value)
    learning_rate = _fine_tuning_rate(card, pretrained, learning_rate, hparams, verbose)
    cfg = configure(name, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, data_dir=data_dir,
                    model_dir=model_dir, resume=resume, seed=seed, early_stopping=early_stopping, source=source,
                    verbose=verbose, strategy=strategy, tpu=tpu, num_gpus=num_gpus, mixed_precision=mixed_precision,
                    jit_compile=jit_compile, steps_per_execution=steps_per_execution, data=data,
                    hparams=hparams, distribution={k: v for k, v in (
                        ("model_parallel", model_parallel), ("coordinator_address", coordinator_address),
                        ("num_processes", num_processes), ("process_id", process_id)) if v is not None})
    cfg.lora_rank = lora_rank
    # One writer to a run folder: a second `zoo train` into it fails at once, naming the first (workers other
    # than the chief write elsewhere).
    lock = exclusive(cfg.shared_dir / LOCK, f"zoo train {cfg.card.name}") if cfg.chief else contextlib.nullcontext()
    with _no_litter_on_a_full_disk(cfg), lock:
        prepare(cfg, resume)
        result = _train(cfg, callbacks, pretrained, test)
    if cfg.scratch is not None:
        cfg.scratch.cleanup()
        result.paths = {k: cfg.shared_dir / v.relative_to(cfg.paths["model_dir"]) for k, v in cfg.paths.items()}
    return result


def _check_arguments(*, resume: Any, test: Any, seed: Any, num_gpus: Any, verbose: Any, early_stopping: Any) -> None:
    """train's own arguments of a type or range Keras would take as they are, or fail on deep inside."""
    from zoo.models._common import check_bool, check_int

    check_bool("resume", resume)
    check_bool("test", test)
    if seed is not None:
        check_int("seed", seed, minimum=0, maximum=2**32 - 1)  # NumPy's seeds, which Keras sets from it
    if num_gpus is not None:
        check_int("num_gpus", num_gpus, minimum=0)
    if early_stopping is not None:
        check_int("early_stopping", early_stopping, minimum=1)
    if isinstance(verbose, bool) or verbose not in ("auto", 0, 1, 2):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2 (Keras' progress output), got {verbose!r}")


@contextlib.contextmanager
def _no_litter_on_a_full_disk(cfg: RunConfig):
    """Any writer's full disk (the weights files, the CSV and metrics, TensorBoard's event files) as one
    DiskFullError naming the run's folder; a folder this run made is removed again when no epoch of it was
    committed (a backup that was is kept: the run resumes from it once there is space)."""
    from zoo._io import disk_full_as_error
    from zoo.errors import DiskFullError

    made = cfg.chief and not cfg.shared_dir.exists()
    try:
        with disk_full_as_error(cfg.shared_dir):
            yield
    except DiskFullError:
        if made and not (cfg.paths["backup"] / "training_metadata.json").exists():
            shutil.rmtree(cfg.shared_dir, ignore_errors=True)
        raise


def _fine_tuning_rate(card: ModelCard, pretrained: Any, learning_rate: float | None, hparams: dict[str, Any],
                      verbose: int | str) -> float | None:
    """The learning rate of a run that starts from pretrained weights, unless one is given: the recipe's times
    its ``fine_tune_lr_factor``."""
    factor = hparams.get("fine_tune_lr_factor", card.recipe.fine_tune_lr_factor)
    if pretrained is False or learning_rate is not None or "learning_rate" in hparams or factor == 1:
        return learning_rate
    rate = card.recipe.learning_rate * factor
    _print(verbose, f"zoo: starting from pretrained weights: learning rate {rate:g} (the recipe's "
                    f"{card.recipe.learning_rate:g} x {factor:g}; learning_rate= sets another)")
    return rate


def _train(cfg: RunConfig, callbacks: list[Any] | None, pretrained: bool | str, measure_test: bool) -> TrainResult:
    """The run itself: data from the backup's epoch on, the model, the callbacks, fit, the test, the report."""
    meta = backup_callback(cfg).read_metadata()
    if meta and meta["epoch"] > cfg.recipe.epochs:
        raise ValueError(f"the backup in {cfg.shared_dir / 'backup'} has finished epoch {meta['epoch']}, beyond "
                         f"this run's {cfg.recipe.epochs} epochs: give epochs >= {meta['epoch']}, or resume=False "
                         f"(--no-resume) to start over")
    run_data = load_data(cfg, start_epoch=meta["epoch"] if meta else 0)
    model = build_model(cfg, run_data.steps, pretrained)
    if cfg.lora is not None and meta:
        cfg.lora["resumed"] = True
        warnings.warn(f"zoo: {cfg.card.name}: a resumed LoRA run trains on and checkpoints as before, but writes "
                      f"its adapters alone no more (Keras folds them into the kernels of its checkpoints); those "
                      f"of its first part, if any, stay in {cfg.shared_dir}", UserWarning, stacklevel=3)
    if pretrained is False:
        adapt_to_data(model, run_data.splits["train"])
    examples = (len(run_data.splits["train"]) if cfg.card.task != "language-modeling"
                else run_data.steps * cfg.recipe.batch_size)
    cbs, backup, throughput = make_callbacks(
        cfg, examples, recipes.callbacks(cfg.recipe, run_data.steps) + list(callbacks or []))
    _describe(cfg, run_data)
    wall = run(cfg, model, run_data, cbs)
    model.zoo_untrained_head = None  # trained now, head included
    test = test_metrics(cfg, model, run_data, measure_test)
    history = report(cfg, run_data, backup, throughput, test, wall)
    return TrainResult(model, history, test, cfg.paths, wall, len(history.get("loss", [])) - run_data.start_epoch)


def adapt_to_data(model: Any, train: zdata.Split) -> None:
    """Set what a model computes from its training data before its first step (airbench's whitening filters,
    NBSVM's naive-Bayes ratios), from the training split alone. A resumed run's backup then restores them."""
    from zoo.models import airbench, nbsvm

    if airbench.whitening_layers(model):
        airbench.adapt(model, train.features)
    if nbsvm.feature_layers(model):  # NBSVM's log-count ratios
        nbsvm.adapt(model, train.features, train.labels)


def _describe(cfg: RunConfig, data: RunData) -> None:
    from zoo import distribute

    splits, recipe = data.splits, cfg.recipe
    validation = (f"{len(splits['validation'])} validation" if splits["validation"] is not None else
                  "no validation: the whole training split, the last epoch kept")
    _print(cfg.verbose and cfg.chief, f"zoo: training {cfg.card.name} on {recipe.dataset} ({len(splits['train'])} train, "
           f"{validation}, {len(splits['test'])} test; source {splits['train'].source}), "
           f"{recipe.epochs} epochs of {data.steps} steps; writing to {cfg.shared_dir}")
    if cfg.folder is not None:  # a folder of the user's: what each class has in each split
        from zoo.data.folders import describe

        _print(cfg.verbose and cfg.chief, describe(cfg.folder))
    _print(cfg.verbose and cfg.chief, distribute.describe(cfg.strategy, recipe.batch_size) +
           f"; dtype policy {cfg.policy}")


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


def corpus_window(card: ModelCard, sequence_length: int | None) -> tuple[int | None, bool | str]:
    """A language model's training windows, in characters, and the pipeline's ``targets``
    (:func:`zoo.data.pipeline`): both kinds take text alone and their preprocessor makes the next-token targets;
    zoo's character models ``sequence_length`` characters and the one after them (``"in_window"``), a keras-hub
    causal LM about ``sequence_length`` tokens' worth."""
    if card.task != "language-modeling":
        return None, True
    if card.presets:
        return sequence_length * CHARACTERS_PER_TOKEN, False
    return sequence_length, zdata.IN_WINDOW


def with_bits_per_character(model: Any, result: dict[str, float]) -> dict[str, float]:
    """A character model's loss is in nats a character: the card reports bits a character as well. A keras-hub
    LM's loss is in nats a token: its perplexity is reported instead."""
    card = registry.get_card(getattr(model, "zoo_name", None) or model.name)
    if card.task == "language-modeling" and card.presets:
        result["perplexity"] = math.exp(min(result["loss"], 50.0))
    elif card.task == "language-modeling":
        result["bits_per_character"] = result["loss"] / math.log(2)
    return result


@renamed(weights="pretrained")
def evaluate(
    name_or_model: Any,
    *,
    pretrained: bool | str | None = None,
    split: str = "test",
    data_dir: str | os.PathLike[str] | None = None,
    source: str = "auto",
    batch_size: int | None = None,
    preset: str | None = None,
    quantize: str | None = None,
) -> dict[str, float]:
    """Evaluate a model on a split of its dataset; returns the loss, the recipe's metrics and ``num_examples``.

    Args:
        name_or_model: a registered name (evaluated with its default weights, or ``pretrained``: a tag or a
            ``.weights.h5`` path), or a model from ``zoo.get`` / ``zoo.train``. A model given is left as it
            was: it is measured through a copy compiled with the card's loss and metrics, so its own
            compilation (optimizer, its state, its schedule's position) is untouched.
        pretrained: for a name, the weights (default: the default weights). ``weights=`` is its old name.
        split: "test" (default), "validation" or "train".
        data_dir, source: where the data comes from (default ``$ZOO_DATA_DIR``, then TFDS).
        batch_size: of the evaluation (default 256).
        preset: for an entry backed by keras-hub, a preset name or a local preset folder.
        quantize: ``"int8"``: measure the model quantized by Keras (as ``zoo.get(name, quantize="int8")``; a
            model given is quantized in its measuring copy).
    """
    from zoo import api

    if split not in zdata.SPLITS:
        raise ValueError(f"split must be one of {', '.join(zdata.SPLITS)}, got {split!r}")
    if batch_size is not None:
        zdata.check_batch_size(batch_size)
    if not isinstance(name_or_model, str) and pretrained is not None:
        raise ValueError("pretrained= is for a model name; load weights into your model yourself")
    card, model = api.resolve(name_or_model, pretrained=True if pretrained is None else pretrained, preset=preset)
    card = card or api.card_of(model)  # a model zoo did not build is refused plainly
    api.warn_if_untrained_head(model, "evaluate")
    if model is name_or_model:
        model = _measuring_copy(model)
    if quantize is not None:
        from zoo import quantizing

        quantizing.quantize(model, quantize, name=card.name, head=card.output.name)
    recipe = card.recipe
    loaded = zdata.load(recipe.dataset, split, data_dir=data_dir, source=source, validation_split=recipe.validation_split)
    recipes.compile_model(model, recipes.for_fit(recipe))  # the loss and metrics; the optimizer is not used
    window, targets = _evaluation_window(card, model)
    result = _evaluate_model(model, zdata.pipeline(loaded, batch_size=batch_size or 256, sequence_length=window,
                                                   targets=targets))
    from zoo.models.tta import without_views

    plain = without_views(model)  # a model that averages test-time views: the figure without them too
    if plain is not None:
        recipes.compile_model(plain, recipes.for_fit(recipe))
        alone = _evaluate_model(plain, zdata.pipeline(loaded, batch_size=batch_size or 256))
        result.update({f"{k}_without_tta": v for k, v in alone.items()})
    result["num_examples"] = len(loaded)
    return result


def _measuring_copy(model: Any) -> Any:
    """A copy of the caller's model with the same weights, to compile for measuring without touching theirs."""
    from zoo import api

    copy = api.copy_model(model)
    copy.zoo_name = getattr(model, "zoo_name", model.name)
    return copy


def _evaluation_window(card: ModelCard, model: Any) -> tuple[int | None, bool]:
    from zoo.models import hub

    if card.task != "language-modeling":
        return None, True
    if not hub.is_task(model):
        raise ValueError(f"{card.name}: a language model must be a keras-hub task with its preprocessor")
    return corpus_window(card, model.preprocessor.sequence_length)
