"""Distribution strategies, chosen by a flag: the one place a ``tf.distribute.Strategy`` is made.

Names: ``auto`` (a configured TPU, else all GPUs mirrored when there are several, else the one GPU, else the
CPU), ``cpu``, ``gpu``, ``mirrored``, ``tpu``, ``multi_worker`` (the cluster from ``TF_CONFIG``) and ``off``
(TensorFlow's default strategy). The CPU of a machine with no GPU is TensorFlow's default strategy, not
``OneDeviceStrategy("/cpu:0")``: the same device, and the latter slows ``fit`` (the figures are in
KNOWN_ISSUES). TF Model Garden's spellings are accepted too: ``one_device``,
``multi_worker_mirrored``, ``default``. See ``../shared/docs/KNOWN_ISSUES.md`` for what Keras 3 gets wrong under
tf.distribute and how zoo works around it: ``steps_per_execution > 1`` and ``jit_compile=True`` are adjusted
under MirroredStrategy, and multi-worker training runs zoo's own loop instead of ``fit``.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from zoo.errors import DeviceUnavailableError

log = logging.getLogger("zoo")

NAMES = ("auto", "cpu", "gpu", "mirrored", "tpu", "multi_worker", "off")
ALIASES = {"one_device": "one_device", "multi_worker_mirrored": "multi_worker", "default": "off", "none": "off"}
MIXED_PRECISION = ("off", "float16", "bfloat16")
TPU_HELP = ("--tpu takes a Cloud TPU name, a grpc://host:port address, or 'local' on a TPU VM; TensorFlow 2.21 "
            "has no tensorflow-tpu wheel (2.20.0 is the last): on a TPU VM install zoo[tpu] (tensorflow-tpu 2.20)")


def canonical_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"strategy must be a name (one of {', '.join(NAMES)}), got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in NAMES and key != "one_device":
        allowed = ", ".join(NAMES) + " (or TF Model Garden's " + ", ".join(sorted(ALIASES)) + ")"
        raise ValueError(f"unknown strategy {name!r}; choose one of {allowed}")
    return key


def tf_config() -> dict[str, Any]:
    """The parsed and checked ``TF_CONFIG`` of a multi-worker job."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise DeviceUnavailableError(
            "strategy 'multi_worker' needs TF_CONFIG, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
        )
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DeviceUnavailableError(f"TF_CONFIG is not valid JSON ({e}); it was {raw[:200]!r}") from e
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise DeviceUnavailableError('TF_CONFIG needs a "cluster" object and a "task" object')
    workers = cluster.get("worker")
    if not isinstance(workers, list) or not workers or not all(isinstance(w, str) and ":" in w for w in workers):
        raise DeviceUnavailableError('TF_CONFIG\'s cluster needs "worker": a non-empty list of "host:port" strings')
    kind, index = task.get("type"), task.get("index")
    roles = [k for k in cluster if isinstance(cluster[k], list)]
    if kind not in roles or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise DeviceUnavailableError(f"TF_CONFIG's task {task!r} is not in the cluster ({', '.join(roles)})")
    return config


def is_chief(config: dict[str, Any] | None = None) -> bool:
    """The chief writes checkpoints and logs: the "chief" task, else worker 0 (and any single process)."""
    if config is None:
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            return True
        config = json.loads(raw)
    task = config.get("task", {})
    if "chief" in config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type") == "worker" and task.get("index") == 0


def _gpus(num_gpus: int | None) -> list[Any]:
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if num_gpus is not None:
        if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 0:
            raise ValueError(f"num_gpus must be a non-negative integer, got {num_gpus!r}")
        if num_gpus > len(gpus):
            raise DeviceUnavailableError(f"{num_gpus} GPU(s) asked for, {len(gpus)} visible; check CUDA_VISIBLE_DEVICES "
                                         f"and that a CUDA build of TensorFlow is installed (zoo[gpu])")
        gpus = gpus[:num_gpus]
    return gpus


def _tpu_configured(tpu: str | None) -> bool:
    return bool(tpu or os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"))


# The PyPI distributions that install the ``tensorflow`` package. pip cannot tell that tensorflow-tpu provides
# what tensorflow-text's "tensorflow" requirement asks for, so `pip install "zoo[tpu]"` also brings the CPU wheel:
# two distributions writing one package, the last one installed winning file by file (README, "Install").
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-tpu", "tensorflow-intel", "tensorflow-macos")
TPU_REPAIR = ('pip uninstall -y tensorflow && pip install --force-reinstall --no-deps "tensorflow-tpu==2.20.*" '
              '(scripts/install_tpu.sh does the whole install)')


def tensorflow_distributions() -> dict[str, str]:
    """The installed distributions that write the ``tensorflow`` package: {name: version}. One is right."""
    import importlib.metadata
    import re

    found = {}
    for dist in importlib.metadata.distributions():
        name = re.sub(r"[-_.]+", "-", (dist.metadata["Name"] or "").lower())
        if name in TENSORFLOW_DISTRIBUTIONS:
            found[name] = dist.version
    return found


def check_one_tensorflow() -> None:
    """A DeviceUnavailableError when tensorflow-tpu shares the ``tensorflow`` package with another wheel: which
    one's files are in place is a matter of install order, and the TPU may silently be missing."""
    found = tensorflow_distributions()
    if "tensorflow-tpu" in found and len(found) > 1:
        both = ", ".join(f"{n} {v}" for n, v in sorted(found.items()))
        raise DeviceUnavailableError(f"{both} are installed and write the same tensorflow package, so the TPU "
                                     f"build may be overwritten; keep tensorflow-tpu alone: {TPU_REPAIR}")


def _tpu_strategy(tpu: str | None) -> Any:
    import tensorflow as tf

    check_one_tensorflow()

    address = tpu or os.environ.get("TPU_NAME") or (
        f"grpc://{os.environ['COLAB_TPU_ADDR']}" if os.environ.get("COLAB_TPU_ADDR") else "local")
    if not isinstance(address, str) or not address:
        raise ValueError(f"tpu must be a non-empty string; {TPU_HELP}")
    try:
        # Never TPUClusterResolver() without a name: it asks the GCE metadata server (KNOWN_ISSUES item 6).
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        if address != "local":
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.NotFoundError, tf.errors.InvalidArgumentError, tf.errors.UnavailableError,
            RuntimeError) as e:
        raise DeviceUnavailableError(f"no TPU found at {address!r} ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0][:160] if str(e) else ''}); {TPU_HELP}") from e
    return tf.distribute.TPUStrategy(resolver)


def _mirrored_over(devices: list[str]) -> Any:
    import tensorflow as tf

    if all("cpu" in d.lower() for d in devices):
        # CPU replicas (virtual devices): reduce on one device. Collective all-reduce, the default there, keys its
        # ops per strategy object, and two strategies' programs in one process then collide ("Shape mismatch in
        # the collective instance").
        return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    return tf.distribute.MirroredStrategy(devices)


def get_strategy(
    name: str = "auto",
    *,
    tpu: str | None = None,
    num_gpus: int | None = None,
    devices: list[str] | None = None,
) -> Any:
    """Make the strategy that ``name`` asks for.

    Args:
        name: one of ``NAMES`` (or a TF Model Garden spelling).
        tpu: a Cloud TPU name, a ``grpc://`` address or ``"local"`` (strategy "tpu", or "auto" to prefer it).
        num_gpus: how many GPUs "mirrored" (and "auto") use; default all visible.
        devices: explicit devices for "mirrored" (e.g. ``["CPU:0", "CPU:1"]`` with virtual CPUs).

    Raises:
        ValueError / TypeError: an unknown name or a bad argument.
        DeviceUnavailableError: a TPU or GPUs asked for and not found, or TF_CONFIG missing or malformed.
    """
    import tensorflow as tf

    key = canonical_name(name)
    if devices is not None and (not isinstance(devices, (list, tuple)) or not all(isinstance(d, str) for d in devices)):
        raise TypeError(f"devices must be a list of device names, got {devices!r}")
    if devices is not None and key not in ("mirrored", "auto"):
        raise ValueError(f"devices= is for the 'mirrored' strategy, not {key!r}")
    if tpu is not None and key not in ("tpu", "auto"):
        raise ValueError(f"tpu= is for the 'tpu' strategy, not {key!r}")
    if key == "off":
        return tf.distribute.get_strategy()
    if key == "cpu":
        # Where the CPU is the only device, TensorFlow's default strategy already runs there, and
        # OneDeviceStrategy("/cpu:0") slows fit (KNOWN_ISSUES); with a GPU, it keeps work off it.
        return tf.distribute.OneDeviceStrategy("/cpu:0") if _gpus(None) else tf.distribute.get_strategy()
    if key == "one_device":
        key = "gpu" if _gpus(None) and num_gpus != 0 else "cpu"
        return get_strategy(key, num_gpus=num_gpus)
    if key == "gpu":
        if not _gpus(num_gpus or None):
            raise DeviceUnavailableError("strategy 'gpu' asked for, but no GPU is visible; use --strategy=cpu, or "
                                         "install a CUDA build of TensorFlow (zoo[gpu]) on a machine with a GPU")
        return tf.distribute.OneDeviceStrategy("/gpu:0")
    if key == "mirrored":
        if devices:
            return _mirrored_over(list(devices))
        gpus = _gpus(num_gpus)
        if not gpus:
            raise DeviceUnavailableError("strategy 'mirrored' found no GPU; pass devices=[...] (e.g. virtual CPUs "
                                         "\"CPU:0\", \"CPU:1\") or use --strategy=cpu")
        return tf.distribute.MirroredStrategy([g.name for g in gpus])
    if key == "tpu":
        return _tpu_strategy(tpu)
    if key == "multi_worker":
        tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    # auto
    if _tpu_configured(tpu):
        return _tpu_strategy(tpu)
    if devices:
        return _mirrored_over(list(devices))
    gpus = _gpus(num_gpus)
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([g.name for g in gpus])
    if gpus:
        return tf.distribute.OneDeviceStrategy("/gpu:0")
    return tf.distribute.get_strategy()  # the CPU alone: see "cpu" above


def resolve(strategy: Any, **kwargs: Any) -> Any:
    """A strategy object passes through; a name (or None for "off") is made with :func:`get_strategy`."""
    import tensorflow as tf

    if strategy is None:
        return tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    return get_strategy(strategy, **kwargs)


def kind(strategy: Any) -> str:
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "tpu"
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "multi_worker"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "mirrored"
    if isinstance(strategy, tf.distribute.OneDeviceStrategy):
        return "one_device"
    return "default"


def compile_options(strategy: Any, *, jit_compile: Any = "auto", steps_per_execution: int = 1) -> dict[str, Any]:
    """``compile()`` arguments that work under ``strategy``: the settings Keras 3 breaks are adjusted, with a
    warning (KNOWN_ISSUES items 2 and 3)."""
    if isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, int) or steps_per_execution < 1:
        raise ValueError(f"steps_per_execution must be a positive integer, got {steps_per_execution!r}")
    if jit_compile not in (True, False, "auto"):
        raise ValueError(f"jit_compile must be True, False or 'auto', got {jit_compile!r}")
    if kind(strategy) in ("mirrored", "multi_worker"):
        if steps_per_execution > 1:
            log.warning("zoo: steps_per_execution=%d fails under %s in Keras 3.15 (keras-team/keras#19246); using 1",
                        steps_per_execution, type(strategy).__name__)
            steps_per_execution = 1
        if jit_compile is True:
            log.warning("zoo: jit_compile=True fails under %s in Keras 3.15 (XLA cannot reach the other replicas' "
                        "variables); using jit_compile=False", type(strategy).__name__)
            jit_compile = False
    return {"jit_compile": jit_compile, "steps_per_execution": steps_per_execution}


def mixed_precision_policy(mixed_precision: str | None, strategy: Any) -> str:
    """The Keras dtype policy for a ``--mixed-precision`` value: bfloat16 by default on TPU, else float32."""
    if mixed_precision is None:
        return "mixed_bfloat16" if kind(strategy) == "tpu" else "float32"
    if mixed_precision not in MIXED_PRECISION:
        raise ValueError(f"mixed_precision must be one of {', '.join(MIXED_PRECISION)}, got {mixed_precision!r}")
    return {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}[mixed_precision]


def describe(strategy: Any, global_batch: int) -> str:
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise ValueError(f"the global batch size {global_batch} does not divide among {replicas} replicas; "
                         f"choose a multiple of {replicas}")
    name = "TensorFlow's default (no distribution)" if kind(strategy) == "default" else type(strategy).__name__
    return (f"zoo: strategy {name} with {replicas} replica(s); global batch {global_batch}, "
            f"{global_batch // replicas} per replica")
