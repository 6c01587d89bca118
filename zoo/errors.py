"""The exceptions of the zoo's public API.

Every error the library raises on bad input is one of these (or a plain ``ValueError`` /
``TypeError`` for a bad argument), with a message that says what was wrong and what would be right.
"""

from __future__ import annotations


class ZooError(Exception):
    """Base class of every zoo-specific error."""


class UnknownModelError(ZooError, KeyError):
    """A model name (or weight tag) that the registry does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelExistsError(ZooError, ValueError):
    """``zoo.register`` was asked to register a name that is already taken."""


class WeightsError(ZooError):
    """Weights are missing, unavailable offline, corrupt (hash mismatch) or do not fit the model."""


class DataNotFoundError(ZooError, FileNotFoundError):
    """A dataset could be found neither as a local copy nor through TFDS."""


class DataFormatError(ZooError, ValueError):
    """A local dataset file is corrupt, truncated or not in the format expected."""


class DeviceUnavailableError(ZooError, RuntimeError):
    """An accelerator (GPU, TPU) or a cluster was asked for and is not there."""


class ExportError(ZooError, ValueError):
    """An export that cannot be written as asked: a bad path, format or model; nothing is left half-written."""


class QuantizationError(ZooError, ValueError):
    """A model that cannot be quantized as asked: an unknown mode, one already quantized, or one whose body holds
    no layer Keras can quantize (the message says what would work instead)."""


class InputError(ZooError, ValueError):
    """An input to predict, generate or a served model that zoo cannot take: a missing or unreadable file, a
    wrong shape, dtype or value range, an empty batch."""


class DiskFullError(ZooError, OSError):
    """A write ran out of space (or quota) on its device: the message names the path and the space needed, and
    nothing half-written is left behind."""


class BusyError(ZooError, RuntimeError):
    """Another process is writing the same run folder, export or cache entry: a second writer would lose data."""


class UntrainedHeadWarning(UserWarning):
    """A classifier whose head no one trained (a keras-hub preset holds a backbone only, or a new head was put on
    zoo's weights for another number of classes) is asked to predict, evaluate or export: its answers mean
    nothing until it is fine-tuned (``zoo train``) or given weights of the user's."""
