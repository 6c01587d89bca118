"""Entries backed by keras-hub presets (BERT, GPT-2, ViT): zoo builders that return keras-hub's own task models.

The zoo does not re-implement these architectures. A builder resolves ``preset`` (a keras-hub preset name,
downloaded by keras-hub from Kaggle Models, or a local preset directory written by ``save_to_preset``), turns a
missing network or a missing preset into the zoo's clear errors, and returns the task model (with its
preprocessor, so that it takes raw strings or uint8 images) with the zoo's head settings. ``load_weights``
is what ``zoo.get(..., pretrained=True)`` sets: the preset's weights, or only its configuration.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import keras
import keras_hub

from zoo import presets, settings
from zoo.errors import WeightsError
from zoo.models._common import check_float, check_int

log = logging.getLogger("zoo")
PRESET_FILES = ("config.json", "metadata.json")


def _cached_kaggle_copy(name: str) -> str | None:
    """The folder of a preset that keras-hub (kagglehub) has already downloaded, if any."""
    from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS

    handle = BUILTIN_PRESETS.get(name, {}).get("kaggle_handle", "")
    if not handle.startswith("kaggle://"):
        return None
    try:
        from kagglehub.cache import load_from_cache
        from kagglehub.handle import parse_model_handle

        return load_from_cache(parse_model_handle(handle.removeprefix("kaggle://")))
    except Exception:  # an older or newer kagglehub: treat the preset as not cached
        return None


def resolve_preset(preset: Any, task_cls: type) -> str:
    """A preset name of ``task_cls``'s architecture, a local preset folder or an ``hf://`` / ``kaggle://`` handle
    (downloaded whole, every file checked: :mod:`zoo.presets`), checked; offline, the cached copy.

    Raises ValueError for an unknown name or a folder that is not a preset, and WeightsError for a preset that
    ZOO_OFFLINE=1 keeps from being downloaded.
    """
    if isinstance(preset, os.PathLike):
        preset = os.fspath(preset)
    if not isinstance(preset, str) or not preset:
        raise ValueError(f"preset must be a keras-hub preset name or a local preset folder, got {preset!r}")
    known = sorted(task_cls.presets)
    if presets.is_uri(preset):  # downloaded whole and every file checked before keras-hub reads any
        folder = presets.fetch(preset)
        presets.verify(folder, preset)
        return str(folder)
    looks_like_path = os.sep in preset or preset.startswith(".") or Path(preset).expanduser().exists()
    if looks_like_path:
        folder = Path(preset).expanduser()
        if not folder.is_dir():
            raise WeightsError(f"preset folder {folder} does not exist; give a folder written by save_to_preset, "
                               f"or one of the keras-hub presets: {', '.join(known)}")
        missing = [f for f in PRESET_FILES if not (folder / f).is_file()]
        if missing:
            raise WeightsError(f"{folder} is not a keras-hub preset folder (it lacks {', '.join(missing)}); "
                               f"write one with task.save_to_preset(folder)")
        presets.verify(folder, preset)  # a preset zoo wrote is checked against its record; the user's own is theirs
        return str(folder)
    if preset not in task_cls.presets:
        raise ValueError(f"unknown preset {preset!r} for {task_cls.__name__}; known: {', '.join(known)}, "
                         f"or a local preset folder")
    if settings.offline():
        cached = _cached_kaggle_copy(preset)
        if cached is None:
            raise WeightsError(
                f"preset {preset!r} is not in keras-hub's cache and ZOO_OFFLINE=1 forbids downloading it; "
                f"on a machine with network run task.save_to_preset(folder) and pass preset='folder'"
            )
        return cached
    return preset


def from_preset(task_cls: type, preset: Any, *, load_weights: bool, **kwargs: Any) -> Any:
    """``task_cls.from_preset`` with the zoo's errors: a network failure or a preset of another architecture."""
    resolved = resolve_preset(preset, task_cls)
    try:
        return task_cls.from_preset(resolved, load_weights=load_weights, **kwargs)
    except (OSError, ConnectionError, TimeoutError) as e:  # requests' errors are OSErrors
        raise WeightsError(
            f"could not fetch keras-hub preset {preset!r}: {str(e).splitlines()[0][:300]}; check the network, or "
            f"pass a local preset folder (preset='path', written by save_to_preset)"
        ) from e
    except ValueError as e:
        raise ValueError(f"preset {preset!r} does not fit {task_cls.__name__}: {str(e).splitlines()[0]}") from e


def _sequence_length(value: Any) -> int | None:
    return None if value is None else check_int("sequence_length", value, minimum=8)


def _set_sequence_length(model: Any, sequence_length: int | None) -> None:
    """The preprocessor's token count, at most what the backbone's position table holds."""
    if sequence_length is None:
        return
    most = getattr(model.backbone, "max_sequence_length", None)
    if most is not None and sequence_length > most:
        log.warning("zoo: %s: sequence_length %d is longer than the preset's %d positions; using %d",
                    model.name, sequence_length, most, most)
        sequence_length = most
    model.preprocessor.sequence_length = sequence_length


def bert_text_classifier(
    *,
    preset: str = "bert_tiny_en_uncased",
    num_classes: int = 2,
    sequence_length: int | None = 256,
    dropout: float = 0.1,
    load_weights: bool = False,
) -> keras.Model:
    """keras-hub's ``BertTextClassifier`` from ``preset``, with a fresh softmax head of ``num_classes``.

    Raw strings in (the preset's WordPiece preprocessor, ``sequence_length`` tokens), class probabilities out.
    """
    num_classes = check_int("num_classes", num_classes, minimum=2)
    sequence_length = _sequence_length(sequence_length)
    dropout = check_float("dropout", dropout)
    model = from_preset(keras_hub.models.BertTextClassifier, preset, load_weights=load_weights,
                        num_classes=num_classes, activation="softmax", dropout=dropout)
    _set_sequence_length(model, sequence_length)
    return model


def gpt2_causal_lm(
    *,
    preset: str = "gpt2_base_en",
    sequence_length: int | None = 128,
    load_weights: bool = False,
) -> keras.Model:
    """keras-hub's ``GPT2CausalLM`` from ``preset``: raw strings in (byte-pair tokens), next-token logits out."""
    sequence_length = _sequence_length(sequence_length)
    model = from_preset(keras_hub.models.GPT2CausalLM, preset, load_weights=load_weights)
    # zoo's corpora are one continuous text cut into windows: a window's end is not the text's end, so no
    # <|endoftext|> is appended in training (with it the model learns to stop after sequence_length tokens).
    model.preprocessor.add_end_token = False
    _set_sequence_length(model, sequence_length)
    return model


def vit_image_classifier(
    *,
    preset: str = "vit_base_patch16_224_imagenet",
    num_classes: int = 10,
    dropout: float = 0.0,
    load_weights: bool = False,
) -> keras.Model:
    """keras-hub's ``ViTImageClassifier`` from ``preset``, with a fresh softmax head of ``num_classes``.

    uint8 RGB images in, of any size: the preset's image converter resizes them to its resolution and
    rescales them; class probabilities out.
    """
    num_classes = check_int("num_classes", num_classes, minimum=2)
    dropout = check_float("dropout", dropout)
    return from_preset(keras_hub.models.ViTImageClassifier, preset, load_weights=load_weights,
                       num_classes=num_classes, activation="softmax", dropout=dropout)


# -- what the rest of the zoo needs to know about a keras-hub task model --

def is_task(model: Any) -> bool:
    """A keras-hub task with its preprocessor: it takes raw inputs through ``preprocess`` below."""
    return isinstance(model, keras_hub.models.Task) and getattr(model, "preprocessor", None) is not None


def preprocess(model: Any, inputs: Any) -> Any:
    """Raw inputs (strings, uint8 images) to what the task's network takes, inside a graph or eagerly."""
    if isinstance(model.preprocessor, keras_hub.models.CausalLMPreprocessor):  # GPT-2's: its ids and mask
        return model.preprocessor.generate_preprocess(inputs)
    if hasattr(model.preprocessor, "token_ids"):  # zoo's: a language model's gives (x, y, sample_weight)
        return model.preprocessor.token_ids(inputs)
    return model.preprocessor(inputs)
