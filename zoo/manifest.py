"""The weights manifest: what pretrained weight sets exist, and how each was made.

Plain data (``zoo/weights/manifest.json``) read without TensorFlow, so ``zoo list --pretrained`` and
``zoo info`` stay instant. Loading and verifying the files themselves is :mod:`zoo.weights`' job.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

MANIFEST_PATH = Path(__file__).with_name("weights") / "manifest.json"
BUNDLE_DIR = Path(__file__).with_name("weights") / "files"
ASSETS_DIR = Path(__file__).with_name("assets")


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """One weight set of one architecture: ``name.tag``."""

    name: str  # the architecture, e.g. "cnn_mnist"
    tag: str  # e.g. "mnist_v2"
    file: str  # file name, bundled under zoo/weights/files/ or fetched from url into the cache
    sha256: str  # full hex digest of the file
    size: int  # bytes
    num_params: int
    hparams: dict[str, Any]  # the builder arguments the weights were trained with
    dataset: str
    split: str  # the split the metrics were measured on
    data_sha256: dict[str, str]  # sha256 of each data file used (train and test)
    metrics: dict[str, float]  # measured on `split` with the file as shipped
    recipe: dict[str, Any]
    versions: dict[str, str]  # tensorflow, keras, python, zoo
    date: str
    license: str  # of the weights
    data_license: str
    url: str | None = None
    default: bool = False
    check: dict[str, Any] = dataclasses.field(default_factory=dict)  # fixed input and expected output, see zoo.verify
    train_log: dict[str, Any] = dataclasses.field(default_factory=dict)  # epochs run, wall time, machine
    # Files the weights need, shipped in zoo/assets/ (a tokenizer's vocabulary): hparam -> {"file", "sha256"}.
    assets: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    sample: str = ""  # language models: a text generated with these weights (see train_log for how)
    # How the file stores the values: "float32", or "float16" (halved on disk; loaded into float32 variables,
    # the metrics measured on the file as stored).
    storage: str = "float32"
    # How the weights were chosen: the split that chose the epoch (never the test split), what it watched, and
    # how many configurations (architectures, recipes) were tried before this one was released.
    selection: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.name}.{self.tag}"

    @property
    def bundled_path(self) -> Path:
        return BUNDLE_DIR / self.file

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def _chosen_line(self) -> str:
        sel = self.selection
        if str(sel.get("split", "")).startswith("test"):  # chosen by test figures: said as such
            return (f"  chosen on    {sel.get('split')}; {sel.get('configurations_tried')} configuration(s) compared: "
                    f"its test figure is not a held-out one")
        line = (f"  chosen on    {sel.get('split')} ({sel.get('monitor')}, epoch {sel.get('epoch')}); "
                f"{sel.get('configurations_tried')} configuration(s) tried; the test split measured once, on this file")
        if sel.get("architecture"):  # where the configuration itself came from, when not from this run's split
            line += f"\n               architecture: {sel['architecture']}"
        return line

    def _training_time(self) -> str:
        """Epochs and time of the run that made these weights: the training steps of every epoch where the run
        recorded them (resumed processes included), else the wall time of its last process."""
        log = self.train_log
        if not log.get("epochs_run"):
            return ""
        head = f"{log['epochs_run']} epochs, best epoch {log.get('best_epoch')}, "
        machine = log.get("machine", "CPU")
        if log.get("dtype_policy", "float32") != "float32":  # trained under mixed precision (the file is float32)
            machine += f", under {log['dtype_policy']}"
        if log.get("training_s"):
            return head + f"{log['training_s'] / 60:.0f} minutes of training steps (validation excluded) on {machine}"
        if log.get("wall_time_s"):
            return head + f"{log['wall_time_s'] / 60:.0f} minutes on {machine}"
        return ""

    def describe(self) -> str:
        metrics = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in self.metrics.items())
        r = self.recipe
        where = f"bundled ({self.size / 1e6:.2f} MB)" if not self.url else f"{self.url} ({self.size / 1e6:.2f} MB)"
        return "\n".join(
            [
                f"{self.full_name}" + ("  [default]" if self.default else ""),
                f"  {self.split} metrics: {metrics}",
                f"  trained on   {self.dataset} with zoo's recipe: {r.get('epochs')} epochs, batch {r.get('batch_size')}, "
                f"{r.get('optimizer')} lr {r.get('learning_rate')}, seed {r.get('seed')}",
                *([f"  training     {training}"] if (training := self._training_time()) else []),
                f"  file         {self.file}, {where}" + (f", values stored as {self.storage}" if self.storage != "float32" else ""),
                f"  sha256       {self.sha256}",
                f"  made with    tensorflow {self.versions.get('tensorflow')}, keras {self.versions.get('keras')} on {self.date}",
                f"  licences     weights {self.license}; data {self.data_license}",
            ]
            + ([self._chosen_line()] if self.selection else [])
            + ([f"  sample       {line}" if i == 0 else f"               {line}"
                for i, line in enumerate(self.sample.splitlines())] if self.sample else [])
        )


@functools.lru_cache(maxsize=1)
def _load() -> tuple[WeightsInfo, ...]:
    if not MANIFEST_PATH.exists():
        return ()
    raw = json.loads(MANIFEST_PATH.read_text())
    return tuple(WeightsInfo(**entry) for entry in raw.get("weights", []))


def all_weights() -> tuple[WeightsInfo, ...]:
    return _load() + tuple(_EXTRA)


_EXTRA: list[WeightsInfo] = []


def add(info: WeightsInfo) -> None:
    """Register a weight set at run time (for users who host their own weights, and for tests)."""
    _EXTRA.append(info)


def remove(info: WeightsInfo) -> None:
    _EXTRA.remove(info)


def weights_for(name: str) -> list[WeightsInfo]:
    """The weight sets of one architecture, the default first."""
    found = [w for w in all_weights() if w.name == name]
    return sorted(found, key=lambda w: (not w.default, w.tag))


def write_entry(info: WeightsInfo) -> None:
    """Add or replace an entry in the manifest file (used by scripts/release_weights.py), atomically."""
    from zoo._io import atomic_write_text

    entries = [w.to_dict() for w in _load() if w.full_name != info.full_name]
    if info.default:
        for e in entries:
            if e["name"] == info.name:
                e["default"] = False
    entries.append(info.to_dict())
    entries.sort(key=lambda e: (e["name"], e["tag"]))
    atomic_write_text(MANIFEST_PATH, json.dumps({"format": 1, "weights": entries}, indent=2) + "\n")
    _load.cache_clear()
