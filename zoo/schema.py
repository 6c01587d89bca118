"""The plain data types of the registry: a model's card, its input and output, its recipe, a keras-hub preset.

Plain Python (no TensorFlow, nothing else of zoo's but the manifest, read lazily): the built-in cards
(``zoo.cards``) and the registry (``zoo.registry``) both import this module, and it imports neither.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any

FAMILIES = ("cnn", "lstm", "transformer", "mlp", "linear")
TASKS = ("image-classification", "text-classification", "language-modeling")


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What a model takes: one named input, raw as a user has it (uint8 pixels, text strings)."""

    name: str
    shape: tuple[int | None, ...]  # without the batch dimension; None for a variable length
    dtype: str  # "uint8", "float32", "string", "int32"
    value_range: tuple[float, float] | None = None  # (0, 255) for uint8 images; None for text
    kind: str = "image"  # "image", "text", "tokens"
    preprocessing: str = ""  # what the model does inside (rescaling, tokenising), in words


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """What a model answers: a named output over ``num_classes`` classes (or a vocabulary)."""

    name: str
    num_classes: int
    activation: str = "softmax"  # what the head ends with: "softmax" (probabilities) or "linear" (logits)
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.class_names:  # names are data: distinct, showable, one a class (zoo._names)
            from zoo._names import check_class_names

            names = check_class_names(self.class_names, count=self.num_classes, where=f"output {self.name!r}")
            object.__setattr__(self, "class_names", names)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How the model is trained: every field is the default that ``zoo.train`` uses and can override."""

    dataset: str
    epochs: int
    batch_size: int  # the global batch
    optimizer: str = "adam"  # "adam", "adamw", "sgd"
    learning_rate: float = 1e-3  # the peak rate
    schedule: str = "constant"  # "constant", "cosine" (linear warm-up then cosine to zero), "cosine_restarts", "piecewise",
    # "triangular" (linear from start_lr_factor x the peak to the peak at warmup_epochs, then linear to end_lr_factor x it)
    warmup_epochs: float = 0.0
    start_lr_factor: float = 0.2  # "triangular" only
    end_lr_factor: float = 0.07  # "triangular" only
    cycle_epochs: float = 1.0  # "cosine_restarts": the first cycle (cosine from the peak to zero), in epochs
    cycle_mult: float = 2.0  # "cosine_restarts": each cycle this many times longer than the one before
    boundaries: tuple[float, ...] = ()  # "piecewise": epochs at which the rate is multiplied by decay_factor
    decay_factor: float = 0.1
    weight_decay: float = 0.0
    momentum: float = 0.9  # "sgd" only
    nesterov: bool = False  # "sgd" only: Nesterov momentum
    label_smoothing: float = 0.0  # the classifiers' cross-entropy against (1 - e) one-hot + e / classes
    loss: str = "sparse_categorical_crossentropy"
    metrics: tuple[str, ...] = ("accuracy",)
    weighted_metrics: bool = False  # the metrics weighted by the sample weights (a causal LM's padding mask)
    augmentation: tuple[str, ...] = ()  # names understood by zoo.data.augment
    validation_split: float = 0.1  # carved from train when the dataset has no validation split
    monitor: str = "val_accuracy"  # what the best checkpoint and early stopping watch
    early_stopping_patience: int | None = None
    seed: int = 0
    # Lookahead (airbench94's weight averaging): from epoch lookahead_start_epoch on, every lookahead_every steps, an
    # average of the weights moves toward them by 1 - rho, rho = lookahead_decay x (step / total steps) **
    # lookahead_decay_power, and the weights are set to it; at each epoch's end the weights are set to the average
    # (zoo.callbacks.Lookahead). 0: none.
    lookahead_every: int = 0
    lookahead_start_epoch: int = 0
    lookahead_decay: float = 0.95**5
    lookahead_decay_power: float = 3.0
    # Training that starts from pretrained weights (fine-tuning on a folder or another dataset, or going on)
    # takes learning_rate x this unless a rate is given: a from-scratch rate on a new, random head wrecks the
    # pretrained body in its first steps. 1 for the keras-hub entries, whose recipes are fine-tuning recipes.
    fine_tune_lr_factor: float = 0.1
    # XLA for the train step where the run leaves ``jit_compile`` to the recipe ("auto"): None is Keras' own
    # choice, which is no XLA on a TensorFlow machine without an accelerator. True where XLA pays on a CPU too
    # (airbench_cifar10: 1.42x the examples/s of float32 without it on 2 AMD EPYC cores).
    jit_compile: bool | None = None

    def replace(self, **changes: Any) -> Recipe:
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            allowed = ", ".join(f.name for f in dataclasses.fields(self))
            raise ValueError(f"unknown recipe field(s) {', '.join(unknown)}; allowed: {allowed}")
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class HubPreset:
    """A keras-hub preset an entry starts from: weights trained elsewhere, downloaded by keras-hub."""

    name: str  # the keras-hub preset name, e.g. "bert_tiny_en_uncased"
    num_params: int  # of the preset's backbone, as keras-hub reports it
    license: str  # of the weights
    source: str  # where the weights come from (the Kaggle Models handle keras-hub downloads)
    trained_on: str
    # Figures reported elsewhere for these weights (not measured by zoo), and where they were reported.
    reported_metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)
    reported_source: str = ""

    def describe(self) -> str:
        lines = [f"{self.name}  (keras-hub preset; weights not trained by zoo)",
                 f"  parameters   {self.num_params:,} (backbone)",
                 f"  trained on   {self.trained_on}",
                 f"  weights from {self.source}",
                 f"  licence      {self.license}"]
        if self.reported_metrics:
            figures = ", ".join(f"{k} {v:g}" for k, v in self.reported_metrics.items())
            lines.append(f"  reported     {figures} (reported by {self.reported_source}; not measured by zoo)")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class ModelCard:
    """Everything known about a registered model, without building it."""

    name: str
    family: str
    task: str
    description: str
    builder: str | Callable[..., Any]  # "module:function", or a callable for user registrations
    hparams: Mapping[str, Any]  # the builder's keyword arguments and their defaults
    input: InputSpec
    output: OutputSpec
    num_params: int  # with the default hyper-parameters
    recipe: Recipe
    reference: str = ""
    license: str = "Apache-2.0"
    notes: str = ""
    # Entries backed by keras-hub: the presets the builder's ``preset`` takes, the default first.
    presets: tuple[HubPreset, ...] = ()
    # What ``zoo.get(name, include_top=False)`` answers, without the batch dimension (pooling="avg" or "max"
    # keeps the last entry): the body's last feature map, or its pooled vector. Empty where there is no body.
    feature_shape: tuple[int | None, ...] = ()
    # The dataset is the recipe's (one fact, one place); given here, it must agree. Kept as a field so that
    # cards written with dataset= go on working.
    dataset: str = ""

    def __post_init__(self) -> None:
        if self.dataset and self.dataset != self.recipe.dataset:
            raise ValueError(f"card {self.name!r}: dataset={self.dataset!r} disagrees with its recipe's dataset "
                             f"{self.recipe.dataset!r}; give the dataset in the recipe only")
        object.__setattr__(self, "dataset", self.recipe.dataset)

    # -- the weights this model has (read from the manifest; no TensorFlow) --
    @property
    def weights(self) -> list[Any]:
        from zoo import manifest

        return manifest.weights_for(self.name)

    @property
    def has_pretrained(self) -> bool:
        """Weights trained by zoo (the manifest), or a keras-hub preset's."""
        return bool(self.presets) or bool(self.weights)

    @property
    def pretrained_scope(self) -> str | None:
        """What ``pretrained=True`` loads: "whole model" (zoo's weights, or a keras-hub language model whose
        head is its tied embedding), "backbone only" (a keras-hub preset under a classifier head zoo puts on
        new: untrained until fine-tuned), or None (no weights)."""
        if self.weights:
            return "whole model"
        if self.presets:
            return "whole model" if self.task == "language-modeling" else "backbone only"
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "builder":
                value = value if isinstance(value, str) else f"{value.__module__}:{value.__qualname__}"
            elif dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)
            elif field.name == "presets":
                value = [dataclasses.asdict(p) for p in value]
            elif isinstance(value, Mapping):
                value = dict(value)
            out[field.name] = value
        out["weights"] = [w.to_dict() for w in self.weights]
        out["pretrained"] = self.pretrained_scope
        if not out["weights"] and not self.presets:
            out["weights_note"] = "no pretrained weights yet" + (f": {self.notes}" if self.notes else "")
        return json.loads(json.dumps(out, default=list))  # tuples -> lists, a plain JSON-able dict

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        r, i, o = self.recipe, self.input, self.output
        shape = "x".join("?" if d is None else str(d) for d in i.shape) or "one"
        rng = f", values {i.value_range[0]:g}..{i.value_range[1]:g}" if i.value_range else ""
        schedule = r.schedule
        if r.schedule == "cosine":
            schedule = f"cosine to 0 after {r.warmup_epochs:g} warm-up epoch(s)"
        elif r.schedule == "cosine_restarts":
            schedule = f"cosine to 0 in cycles of {r.cycle_epochs:g} epoch(s), each x{r.cycle_mult:g} the one before"
        elif r.schedule == "piecewise":
            schedule = f"x{r.decay_factor:g} at epochs {', '.join(f'{b:g}' for b in r.boundaries)}"
        opt = r.optimizer + (f" ({'Nesterov ' if r.nesterov else ''}momentum {r.momentum:g})"
                             if r.optimizer == "sgd" else "")
        if r.weight_decay:
            opt += f", weight decay {r.weight_decay:g} (Keras': decoupled, times the rate)"
        classes = ", ".join(o.class_names) if o.class_names else f"{o.num_classes} classes"
        lines = [
            f"{self.name}  ({self.family}, {self.task})",
            f"  {self.description}",
            "",
            f"  dataset      {self.dataset}",
            f"  input        '{i.name}': {shape} {i.dtype}{rng}" + (f"; {i.preprocessing}" if i.preprocessing else ""),
            f"  output       '{o.name}': {o.activation} over {classes}",
            f"  parameters   {self.num_params:,}",
            *([f"  features     {'x'.join(str(d) for d in self.feature_shape)} (include_top=False)"]
              if self.feature_shape else []),
            f"  reference    {self.reference}",
            f"  licence      {self.license}",
            f"  hparams      {', '.join(f'{k}={v!r}' for k, v in self.hparams.items())}",
            "  recipe",
            f"    optimizer  {opt}, learning rate {r.learning_rate:g}, {schedule}",
            f"    batch      {r.batch_size} (global), {r.epochs} epochs, seed {r.seed}",
            *([f"    fine-tune  learning rate x{r.fine_tune_lr_factor:g} when starting from pretrained weights"]
              if r.fine_tune_lr_factor != 1 else []),
            f"    loss       {r.loss}" + (f", label smoothing {r.label_smoothing:g}" if r.label_smoothing else ""),
            f"    metrics    {', '.join(r.metrics)}",
            f"    augment    {', '.join(r.augmentation) or 'none'}",
            "  weights",
        ]
        weights = self.weights
        if self.presets:
            lines.append("    keras-hub presets: pretrained=True loads the first; preset=NAME or a local folder picks one")
            if self.pretrained_scope == "backbone only":
                lines.append("    BACKBONE ONLY: the presets hold no weights for this classifier's head, which is new "
                             "and untrained; fine-tune it (zoo train) before trusting its answers")
            for preset in self.presets:
                lines.extend("    " + line for line in preset.describe().splitlines())
        if not weights and not self.presets:
            lines.append("    none: no pretrained weights yet" + (f": {self.notes}" if self.notes else ""))
        for w in weights:
            lines.extend("    " + line for line in w.describe().splitlines())
        if weights and self.notes:
            lines.append(f"  notes        {self.notes}")
        return "\n".join(lines)

    def load_builder(self) -> Callable[..., Any]:
        if callable(self.builder):
            return self.builder
        module, _, attr = self.builder.partition(":")
        return getattr(importlib.import_module(module), attr)
