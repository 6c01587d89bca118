"""Callbacks that write files atomically (the best-model checkpoint and the backup that makes runs resumable),
and the training-throughput meter."""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import keras

from zoo._io import atomic_path, atomic_write_text, remove_leftovers, sha256_file


def monitor_mode(monitor: str) -> str:
    """Whether a monitored metric is better higher ("max": accuracies, the epoch) or lower ("min": losses)."""
    return "max" if "acc" in monitor or monitor == "epoch" else "min"


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore``, with the backup committed atomically, and the epoch logs kept with it.

    Keras writes ``latest.weights.h5`` and then ``training_metadata.json`` in place, so a kill in between
    leaves a half-written file or weights that do not match the epoch recorded. Here each backup writes
    ``epoch-N.weights.h5`` (model and optimizer state) through a temporary file, then commits by atomically
    replacing ``training_metadata.json`` (epoch, file name, sha256 and the logs of every finished epoch), then
    removes older files. A restart removes stale temporary files, reads the metadata, checks the hash and
    loads; fit then continues from the last finished epoch. The CSV log is rewritten atomically from the
    committed logs, so it never holds an epoch twice or misses one across a kill.
    """

    def __init__(self, backup_dir: str | Path, *, csv_path: str | Path | None = None,
                 restore_dir: str | Path | None = None, **kwargs: Any):
        super().__init__(str(backup_dir), **kwargs)
        self.backup_path = Path(backup_dir)
        # Where a restart reads from: the backup itself, or (a non-chief worker) the chief's.
        self.restore_path = Path(restore_dir) if restore_dir is not None else self.backup_path
        self.csv_path = Path(csv_path) if csv_path else None
        self.epoch_logs: list[dict[str, float]] = []

    @property
    def metadata_path(self) -> Path:
        return self.backup_path / "training_metadata.json"

    def read_metadata(self) -> dict[str, Any] | None:
        """The backup's record (epoch, weights file, its sha256, the logs), checked: a record that is not what
        this callback writes is refused with the file's name and the fix, before anything is built or read."""
        path = self.restore_path / "training_metadata.json"
        if not path.exists():
            return None
        fix = f"delete {self.restore_path} to start over (or train with resume=False, --no-resume)"
        try:
            meta = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as e:
            raise OSError(f"{path}: not a backup record of zoo ({e}); {fix}") from e
        epoch = meta.get("epoch") if isinstance(meta, dict) else None
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise OSError(f"{path}: its epoch is {epoch!r}, not a count of finished epochs; {fix}")
        name = meta.get("weights")
        if not isinstance(name, str) or Path(name).name != name or not name.endswith(".weights.h5"):
            raise OSError(f"{path}: names {name!r}, not a weights file inside the backup folder; {fix}")
        if not isinstance(meta.get("sha256"), str) or not isinstance(meta.get("logs", []), list):
            raise OSError(f"{path}: no sha256 or logs of the form zoo writes; {fix}")
        return meta

    def on_train_begin(self, logs=None):
        remove_leftovers(self.backup_path)  # left by a kill mid-write; never committed
        super().on_train_begin(logs)

    def _load_model(self) -> None:
        meta = self.read_metadata()
        if meta is None:
            return
        weights = self.restore_path / meta["weights"]
        if not weights.exists() or sha256_file(weights) != meta["sha256"]:
            raise OSError(f"{weights}: backup missing or not matching its recorded sha256; delete {self.restore_path} to start over")
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(str(weights))
        self.model._initial_epoch = meta["epoch"]
        self.epoch_logs = list(meta.get("logs", []))

    def on_epoch_end(self, epoch, logs=None):
        entry = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        self.epoch_logs = [e for e in self.epoch_logs if e["epoch"] < epoch + 1] + [entry]
        super().on_epoch_end(epoch, logs)
        if self.csv_path is not None:
            write_csv_log(self.csv_path, self.epoch_logs)

    def _save_model(self) -> None:
        self.backup_path.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{self._current_epoch:04d}-batch-{self._last_batch_seen}.weights.h5"
        target = self.backup_path / name
        with atomic_path(target, suffix=".weights.h5") as tmp:
            self.model.save_weights(str(tmp))
        meta = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name,
                "sha256": sha256_file(target), "logs": self.epoch_logs}
        atomic_write_text(self.metadata_path, json.dumps(meta))
        for old in self.backup_path.glob("epoch-*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)


def write_csv_log(path: Path, epoch_logs: list[dict[str, float]]) -> None:
    keys = sorted({k for e in epoch_logs for k in e} - {"epoch"})
    lines = [",".join(["epoch", *keys])]
    lines += [",".join([str(e["epoch"]), *(repr(e.get(k, "")) for k in keys)]) for e in epoch_logs]
    atomic_write_text(path, "\n".join(lines) + "\n")


class AtomicBestCheckpoint(keras.callbacks.Callback):
    """Save the weights (model only, loadable by ``zoo.get(pretrained=path)``) whenever ``monitor`` improves."""

    def __init__(self, path: str | Path, monitor: str = "val_accuracy", mode: str = "auto", also: Any = None):
        super().__init__()
        self.also = also  # called with the model after each save: what else the best epoch writes (LoRA's files)
        self.path = Path(path)
        self.monitor = monitor
        self.mode = mode if mode != "auto" else monitor_mode(monitor)
        self.best = -math.inf if self.mode == "max" else math.inf
        self.best_epoch: int | None = None

    def on_train_begin(self, logs=None):
        state = self.path.with_suffix("").with_suffix(".json")
        if state.exists():  # a resumed run keeps the best so far
            saved = json.loads(state.read_text())
            self.best, self.best_epoch = saved["best"], saved["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        # "epoch": every epoch is better than the one before (a run without validation keeps its last)
        value = epoch + 1 if self.monitor == "epoch" else (logs or {}).get(self.monitor)
        if value is None:
            raise KeyError(f"the checkpoint monitors {self.monitor!r}, which the logs lack (have: {', '.join(logs or {})})")
        better = value > self.best if self.mode == "max" else value < self.best
        if better:
            self.best, self.best_epoch = float(value), epoch + 1
            with atomic_path(self.path, suffix=".weights.h5") as tmp:
                self._save_model_weights(tmp)
            if self.also is not None:
                self.also(self.model)
            state = self.path.with_suffix("").with_suffix(".json")
            atomic_write_text(state, json.dumps({"monitor": self.monitor, "best": self.best, "epoch": self.best_epoch}))

    def _save_model_weights(self, tmp: Path) -> None:
        # Model weights only: a copy of the model without its optimizer state, so the file stays small.
        optimizer = self.model.optimizer
        try:
            self.model.optimizer = None
            self.model.save_weights(str(tmp))
        finally:
            self.model.optimizer = optimizer


class Throughput(keras.callbacks.Callback):
    """Training examples a second, each epoch, added to the epoch's logs as ``examples_per_s`` (so the progress
    line, the history, the CSV log and TensorBoard all carry it). Timed from the epoch's start to the start of
    its validation (or its end): validation and the other callbacks' epoch-end work are left out. No per-batch
    hook, so it adds nothing to a step. It must come before the callbacks that record the logs.
    ``median()`` leaves the first epoch out where there are others (it includes tracing)."""

    def __init__(self, examples_per_epoch: int):
        super().__init__()
        self.examples_per_epoch = examples_per_epoch
        self.rates: list[float] = []
        self._start: float | None = None
        self._stop: float | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._stop = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        if self._start is not None and self._stop is None:
            self._stop = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self._start is None:
            return
        seconds = (self._stop or time.perf_counter()) - self._start
        self.rates.append(self.examples_per_epoch / seconds)
        self._start = None
        if logs is not None:
            logs["examples_per_s"] = round(self.rates[-1], 1)

    def median(self) -> float | None:
        rates = self.rates[1:] or self.rates
        return round(statistics.median(rates), 1) if rates else None


class Lookahead(keras.callbacks.Callback):
    """airbench94's weight averaging, as a callback: from epoch ``start_epoch`` on, at every ``every``-th step
    (counted over the whole run), an average of the model's weights (every float weight, the batch norms'
    moving statistics included) moves toward them by ``1 - rho`` with ``rho = decay * (step / total) ** power``,
    and the weights are set to it (the Lookahead optimizer's step back); at the last step of each epoch the
    weights are set to the average, so that validation, the checkpoints and the backup all see it.

    The weights equal the average at every epoch's end, so a resumed run carries the average on with them: it
    starts from the restored weights and goes on as the run never killed would have.
    """

    def __init__(self, *, steps_per_epoch: int, epochs: int, every: int = 5, start_epoch: int = 3,
                 decay: float = 0.95**5, power: float = 3.0):
        super().__init__()
        if steps_per_epoch < 1 or epochs < 1 or every < 1:
            raise ValueError(f"Lookahead needs steps_per_epoch, epochs and every >= 1, got {steps_per_epoch}, "
                             f"{epochs}, {every}")
        self.steps_per_epoch, self.epochs, self.every = steps_per_epoch, epochs, every
        self.start_epoch, self.decay, self.power = start_epoch, decay, power
        self.total_steps = steps_per_epoch * epochs
        self.average: list[Any] | None = None
        self.updates = 0
        self._epoch = 0

    def _weights(self) -> list[Any]:
        return [w for w in self.model.weights if "float" in str(w.dtype)]

    def _copy(self) -> list[Any]:
        return [keras.ops.copy(w.value) for w in self._weights()]

    def _started_before(self, epoch: int) -> bool:
        """Whether the average existed at the end of the epoch before ``epoch`` (an update step had come)."""
        first = self.start_epoch * self.steps_per_epoch + 1
        first_update = -(-first // self.every) * self.every
        return epoch > self.start_epoch and first_update <= epoch * self.steps_per_epoch

    def on_train_begin(self, logs=None):
        self.average, self.updates = None, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.average is None and self._started_before(epoch):  # a resumed run: the weights are the average
            self.average = self._copy()

    def on_train_batch_end(self, batch, logs=None):
        if self._epoch < self.start_epoch:
            return
        step = self._epoch * self.steps_per_epoch + batch + 1
        if step % self.every == 0:
            if self.average is None:
                self.average = self._copy()
            else:
                rho = self.decay * min(step / self.total_steps, 1.0) ** self.power
                self.average = [a + (1.0 - rho) * (w.value - a) for a, w in zip(self.average, self._weights())]
                self._set_weights()
            self.updates += 1
        if batch + 1 == self.steps_per_epoch and self.average is not None:
            self._set_weights()

    def _set_weights(self) -> None:
        for average, w in zip(self.average, self._weights()):
            w.assign(average)
