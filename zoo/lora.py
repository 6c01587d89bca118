"""LoRA fine-tuning through keras-hub's own ``Backbone.enable_lora``: ``zoo train NAME --lora-rank R``.

keras-hub freezes every weight of the backbone and adds low-rank adapters (``lora_kernel_a`` x ``lora_kernel_b``,
rank R) to the query and value projections of its attention layers; those projections' biases (Keras leaves
them trainable) and the task's head, outside the backbone, train as well (a fine-tune on a folder has a new
head). A run's best epoch writes, beside its full checkpoints:

- ``lora.lora.h5``: the adapters alone, in keras-hub's format (``backbone.load_lora_weights``);
- ``lora_trained.npz``: the other weights that trained (the head, the adapted projections' biases), by their
  paths, read back as plain arrays.

``zoo.get(name, pretrained=True, lora=RUN_DIR)`` loads them onto the pretrained body: the entries with attention
layers (the Transformers and the keras-hub backbones). An LSTM or a convolutional network has none, and is
refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

ADAPTERS = "lora.lora.h5"  # keras-hub's save_lora_weights wants the ".lora.h5" ending
TRAINED = "lora_trained.npz"


def _backbone(model: Any, name: str) -> Any:
    from zoo.models import hub

    backbone = getattr(model, "backbone", None) if hub.is_task(model) else None
    if backbone is None or not hasattr(backbone, "enable_lora"):
        raise ValueError(f"{name} has no keras-hub backbone to put LoRA adapters on; LoRA fine-tunes the entries "
                         f"with attention layers: {', '.join(lora_models())}")
    return backbone


def lora_models() -> list[str]:
    """The registered entries whose networks have attention layers keras-hub's LoRA adapts."""
    from zoo import registry

    cards = [registry.get_card(n) for n in registry.list_models()]
    return [c.name for c in cards if c.family == "transformer" and (c.presets or c.input.kind == "text")]


def check(name: str, rank: Any) -> None:
    """Before anything is loaded: a rank keras-hub takes, for an entry with attention layers."""
    from zoo.models._common import check_int

    check_int("lora_rank", rank, minimum=1)
    if name not in lora_models():
        raise ValueError(f"{name} has no attention layers for LoRA adapters; LoRA fine-tunes the entries with "
                         f"attention layers: {', '.join(lora_models())}")


def enable(model: Any, rank: int, name: str) -> dict[str, int]:
    """Put rank-``rank`` adapters on ``model``'s backbone (its other weights frozen); returns the counts."""
    check(name, rank)
    backbone = _backbone(model, name)
    backbone.enable_lora(rank)
    if not backbone._lora_enabled_layers:
        raise ValueError(f"{name}'s backbone has no attention query or value layers for LoRA to adapt "
                         f"({', '.join(backbone.default_lora_layer_names())}); LoRA fine-tunes: "
                         f"{', '.join(lora_models())}")
    return counts(model, rank)


def counts(model: Any, rank: int) -> dict[str, int]:
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {"rank": rank, "trainable_parameters": trainable, "parameters": int(model.count_params()),
            "adapted_layers": len(model.backbone._lora_enabled_layers)}


def _trained(model: Any) -> list[Any]:
    """The trainable weights that are not adapters: the head's, the adapted projections' biases."""
    return [w for w in model.trainable_weights if not w.path.rsplit("/", 1)[-1].startswith("lora_kernel")]


def save(model: Any, folder: Path) -> dict[str, Path]:
    """The adapters and the other trained weights, each written atomically into ``folder``."""
    from zoo._io import atomic_path

    paths = {"adapters": folder / ADAPTERS, "trained": folder / TRAINED}
    with atomic_path(paths["adapters"], suffix=".lora.h5") as tmp:
        model.backbone.save_lora_weights(str(tmp))
    with atomic_path(paths["trained"], suffix=".npz") as tmp:
        with open(tmp, "wb") as f:  # "/" would make folders inside the archive: paths are stored with "|"
            np.savez(f, **{w.path.replace("/", "|"): np.asarray(w) for w in _trained(model)})
    return paths


def load(model: Any, folder: str | Path, name: str) -> dict[str, int]:
    """The adapters and trained weights a LoRA run wrote into ``folder``, onto ``model`` (its pretrained body)."""
    from zoo.errors import WeightsError

    folder = Path(folder)
    adapters, trained = folder / ADAPTERS, folder / TRAINED
    for path in (adapters, trained):
        if not path.is_file():
            raise WeightsError(f"{folder}: no {path.name} (a run of zoo train --lora-rank writes it)")
    backbone = _backbone(model, name)
    try:
        backbone.load_lora_weights(str(adapters))
    except (ValueError, KeyError, OSError) as e:
        raise WeightsError(f"{adapters}: not adapters of {name}'s backbone ({e})") from e
    with np.load(trained, allow_pickle=False) as stored:
        values = {key.replace("|", "/"): stored[key] for key in stored.files}
    weights = {w.path: w for w in _trained(model)}
    if set(values) != set(weights):
        raise WeightsError(f"{trained}: holds {sorted(set(values) - set(weights)) or sorted(values)[:3]}, not the "
                           f"weights {name} trains with LoRA ({sorted(weights)[:3]}, ...)")
    for key, value in values.items():
        if tuple(value.shape) != tuple(weights[key].shape):
            raise WeightsError(f"{trained}: {key} of shape {value.shape}, not {name}'s {tuple(weights[key].shape)}: "
                               f"give num_classes= as the run had it")
        weights[key].assign(value)
    return counts(model, backbone._lora_rank)
