"""Which Keras backend zoo runs on: TensorFlow (the default) or JAX, chosen before Keras is imported.

Keras reads ``KERAS_BACKEND`` once, when it is first imported; :func:`select` sets it (the CLI's ``--backend``)
and refuses a change once Keras is loaded with another backend, where it could no longer take effect. On every
backend TensorFlow is the host pipeline (``tf.data``, keras-hub's tokenizers); under JAX it is kept off the
accelerators (:func:`keep_tensorflow_on_the_host`), as keras-hub's JAX examples do, so that it never takes a
GPU's memory or a TPU from JAX. This module imports nothing heavy.
"""

from __future__ import annotations

import os
import sys

from zoo.errors import InputError

BACKENDS = ("tensorflow", "jax")
DEFAULT = "tensorflow"


def _check(name: object) -> str:
    if not isinstance(name, str) or name.strip().lower() not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    return name.strip().lower()


def current() -> str:
    """The backend Keras runs on (or will, once imported): ``"tensorflow"`` or ``"jax"``."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", DEFAULT).strip().lower() or DEFAULT


def select(name: str) -> str:
    """Run on backend ``name``: sets ``KERAS_BACKEND`` for the Keras import to come. Raises :class:`InputError`
    for a name zoo does not run on, or when Keras is already imported with another backend."""
    name = _check(name)
    if "keras" in sys.modules and current() != name:
        raise InputError(f"Keras is already imported with the {current()} backend; choose the backend before "
                         f"importing Keras (KERAS_BACKEND={name}, or `zoo --backend {name}`)")
    os.environ["KERAS_BACKEND"] = name
    return name


def check_supported() -> str:
    """The current backend, refused with :class:`InputError` when zoo does not run on it (e.g. torch)."""
    name = current()
    if name not in BACKENDS:
        raise InputError(f"zoo runs on Keras' {' and '.join(BACKENDS)} backends, not {name!r}: "
                         f"set KERAS_BACKEND to one of them")
    return name


def keep_tensorflow_on_the_host() -> None:
    """Under JAX, hide the GPUs from TensorFlow (tf.data and the tokenizers run on the CPU): JAX owns the
    accelerators. A no-op on TensorFlow, and once TensorFlow's devices are fixed (it only warns then)."""
    if current() != "jax":
        return
    import tensorflow as tf

    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # the runtime has started: the devices can no longer change
        pass


def versions() -> dict[str, str]:
    """The backend and the versions of what it runs on, for metrics.json and manifests."""
    import keras

    found = {"backend": keras.backend.backend(), "keras": keras.__version__}
    if found["backend"] == "jax":
        import jax

        found["jax"] = jax.__version__
        found["jax_devices"] = f"{jax.device_count()} {jax.devices()[0].platform}"
    return found
