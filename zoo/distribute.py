"""Distribution strategies, chosen by a flag: the one place a strategy (TensorFlow) or a distribution (JAX) is made.

Names: ``auto`` (a configured TPU, else all GPUs mirrored when there are several, else the one GPU, else the
CPU), ``cpu``, ``gpu``, ``mirrored`` (``data_parallel`` is the same on TensorFlow), ``tpu``, ``multi_worker``
(the cluster from ``TF_CONFIG``) and ``off`` (TensorFlow's default strategy). The CPU of a machine with no GPU is
TensorFlow's default strategy, not ``OneDeviceStrategy("/cpu:0")``: the same device, and the latter slows ``fit``
(the figures are in KNOWN_ISSUES). TF Model Garden's spellings are accepted too: ``one_device``,
``multi_worker_mirrored``, ``default``. See ``../shared/docs/KNOWN_ISSUES.md`` for what Keras 3 gets wrong under
tf.distribute and how zoo works around it: ``steps_per_execution > 1`` and ``jit_compile=True`` are adjusted
under MirroredStrategy, and multi-worker training runs zoo's own loop instead of ``fit``.

On the JAX backend the same names make a ``keras.distribution`` object (wrapped in :class:`JaxDistribution`,
which answers what zoo asks of a strategy): ``auto`` (every local accelerator, data parallel; the CPU alone
where there is none), ``data_parallel`` (``mirrored``: ``DataParallel`` over every device, or ``devices=`` /
``num_gpus=``), ``model_parallel`` (``ModelParallel`` over a (batch, model) mesh, ``model_parallel=N`` devices on
the model axis, with the layout of the model's backbone: :func:`layout_map`), ``tpu`` (JAX's TPU devices) and
``multi_worker`` (several processes: ``keras.distribution.initialize`` with a coordinator address, a process
count and id, from arguments or the environment, then ``DataParallel`` over every process's devices). Keras'
own ``fit`` runs under each, inside the distribution's scope (:func:`fit_scope`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import Any

from zoo.errors import DeviceUnavailableError

log = logging.getLogger("zoo")

NAMES = ("auto", "cpu", "gpu", "mirrored", "data_parallel", "model_parallel", "tpu", "multi_worker", "off")
ALIASES = {"one_device": "one_device", "multi_worker_mirrored": "multi_worker", "default": "off", "none": "off"}
MIXED_PRECISION = ("off", "float16", "bfloat16")
# TensorFlow's TPUStrategy is kept as a legacy road, for a tensorflow-tpu <= 2.20 that a user installs alone
# (TensorFlow 2.21 has no TPU wheel; Keras calls 2.19.1 the last TensorFlow that supports TPUs). zoo's TPU road is
# the JAX backend: zoo[tpu] installs jax[tpu] with a CPU TensorFlow for tf.data, as Keras' own TPU CI does.
TPU_HELP = ("TPUs run zoo on the JAX backend: pip install \"zoo[tpu]\" on the TPU VM, then "
            "`zoo --backend jax train NAME --strategy tpu`; on TensorFlow, --strategy tpu is a legacy road that needs "
            "a tensorflow-tpu <= 2.20 installed alone, and --tpu takes a Cloud TPU name, a grpc://host:port "
            "address, or 'local' on a TPU VM")


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
# what tensorflow-text's "tensorflow" requirement asks for, so installing keras-hub beside a tensorflow-tpu also
# brings the CPU wheel: two distributions writing one package, the last one installed winning file by file.
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-tpu", "tensorflow-intel", "tensorflow-macos")
TPU_REPAIR = ('pip uninstall -y tensorflow && pip install --force-reinstall --no-deps "tensorflow-tpu==2.20.*"; '
              'or, zoo\'s TPU road, the JAX backend: pip install "zoo[tpu]" and zoo --backend jax')


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
    model: Any = None,
    model_parallel: int | None = None,
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> Any:
    """Make the strategy (TensorFlow) or distribution (JAX) that ``name`` asks for.

    Args:
        name: one of ``NAMES`` (or a TF Model Garden spelling).
        tpu: a Cloud TPU name, a ``grpc://`` address or ``"local"`` (strategy "tpu", or "auto" to prefer it).
        num_gpus: how many GPUs "mirrored" / "data_parallel" (and "auto") use; default all visible.
        devices: explicit devices for "mirrored" / "data_parallel" (e.g. ``["CPU:0", "CPU:1"]`` with virtual CPUs).
        model, model_parallel: JAX's "model_parallel": the model whose layout shards the variables (a zoo name
            or a backbone class, see :func:`layout_map`) and how many devices its model axis spans (default 2).
        coordinator_address, num_processes, process_id: JAX's "multi_worker": process 0's ``host:port``, the
            number of processes and this one's id (default ``$JAX_COORDINATOR_ADDRESS``, ``$JAX_NUM_PROCESSES``,
            ``$JAX_PROCESS_ID``; left unset on a Cloud TPU VM, JAX finds them).

    Raises:
        ValueError / TypeError: an unknown name or a bad argument.
        DeviceUnavailableError: a TPU or GPUs asked for and not found, TF_CONFIG missing or malformed, a cluster
            that cannot be joined, or a strategy the backend does not offer.
    """
    key = canonical_name(name)
    if devices is not None and (not isinstance(devices, (list, tuple)) or not all(isinstance(d, str) for d in devices)):
        raise TypeError(f"devices must be a list of device names, got {devices!r}")
    if devices is not None and key not in ("mirrored", "data_parallel", "model_parallel", "auto"):
        raise ValueError(f"devices= is for the 'mirrored' / 'data_parallel' strategy, not {key!r}")
    if tpu is not None and key not in ("tpu", "auto"):
        raise ValueError(f"tpu= is for the 'tpu' strategy, not {key!r}")
    cluster = {"coordinator_address": coordinator_address, "num_processes": num_processes, "process_id": process_id}
    given = [k for k, v in cluster.items() if v is not None]
    if given and key != "multi_worker":
        raise ValueError(f"{', '.join(k + '=' for k in given)} {'is' if len(given) == 1 else 'are'} for the "
                         f"'multi_worker' strategy, not {key!r}")
    if model_parallel is not None and key not in ("model_parallel", "tpu", "multi_worker"):
        raise ValueError(f"model_parallel= is for the 'model_parallel' strategy (or 'tpu' / 'multi_worker' on JAX), "
                         f"not {key!r}")
    if backend() == "jax":
        return _jax_strategy(key, tpu=tpu, num_gpus=num_gpus, devices=devices, model=model,
                             model_parallel=model_parallel, cluster=cluster)
    if key == "model_parallel" or model_parallel is not None:
        raise DeviceUnavailableError(
            "strategy 'model_parallel' runs on the JAX backend only (keras.distribution shards variables on JAX; "
            "on TensorFlow it is a prototype that shards nothing): run with KERAS_BACKEND=jax (zoo --backend jax), "
            "or use --strategy data_parallel (mirrored) here")
    if given:
        raise ValueError(f"{', '.join(k + '=' for k in given)} {'is' if len(given) == 1 else 'are'} for "
                         f"'multi_worker' on JAX; on TensorFlow the cluster comes from TF_CONFIG")
    return _tf_strategy("mirrored" if key == "data_parallel" else key, tpu=tpu, num_gpus=num_gpus, devices=devices)


def _tf_strategy(key: str, *, tpu: str | None, num_gpus: int | None, devices: list[str] | None) -> Any:
    import tensorflow as tf

    if key == "off":
        return tf.distribute.get_strategy()
    if key == "cpu":
        # Where the CPU is the only device, TensorFlow's default strategy already runs there, and
        # OneDeviceStrategy("/cpu:0") slows fit (KNOWN_ISSUES); with a GPU, it keeps work off it.
        return tf.distribute.OneDeviceStrategy("/cpu:0") if _gpus(None) else tf.distribute.get_strategy()
    if key == "one_device":
        key = "gpu" if _gpus(None) and num_gpus != 0 else "cpu"
        return _tf_strategy(key, tpu=None, num_gpus=num_gpus, devices=None)
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


def backend() -> str:
    """The Keras backend zoo runs on: "tensorflow" or "jax"."""
    from zoo import backends

    return backends.current()


def resolve(strategy: Any, **kwargs: Any) -> Any:
    """A strategy (or, on JAX, a distribution) passes through; a name (or None for "off") is made with
    :func:`get_strategy`."""
    if backend() == "jax":
        import keras

        if strategy is None:
            return JaxDistribution("default", None)
        if isinstance(strategy, JaxDistribution):
            return strategy
        if isinstance(strategy, keras.distribution.DataParallel):
            return JaxDistribution("data_parallel", strategy)
        if isinstance(strategy, keras.distribution.ModelParallel):
            return JaxDistribution("model_parallel", strategy)
        if not isinstance(strategy, str):
            raise TypeError(f"on the JAX backend a strategy is a name or a keras.distribution DataParallel / "
                            f"ModelParallel, not a {type(strategy).__module__}.{type(strategy).__name__}")
        return get_strategy(strategy, **kwargs)
    import tensorflow as tf

    if strategy is None:
        return tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    return get_strategy(strategy, **kwargs)


def kind(strategy: Any) -> str:
    if isinstance(strategy, JaxDistribution):
        return strategy.kind
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
    if kind(strategy) in ("mirrored", "multi_worker") and not isinstance(strategy, JaxDistribution):
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
    if isinstance(strategy, JaxDistribution):
        processes = strategy.num_processes
        if global_batch % processes:
            raise ValueError(f"the global batch size {global_batch} does not divide among {processes} processes; "
                             f"choose a multiple of {processes}")
        return f"zoo: {strategy.description()}; global batch {global_batch}, {global_batch // replicas} per replica"
    name = "TensorFlow's default (no distribution)" if kind(strategy) == "default" else type(strategy).__name__
    return (f"zoo: strategy {name} with {replicas} replica(s); global batch {global_batch}, "
            f"{global_batch // replicas} per replica")


def summary(strategy: Any) -> dict[str, Any]:
    """What metrics.json records of the strategy: the backend, the kind, the strategy or distribution, the
    replicas, and on JAX the mesh, the devices and the processes."""
    if isinstance(strategy, JaxDistribution):
        return strategy.summary()
    name = "default" if kind(strategy) == "default" else type(strategy).__name__
    return {"backend": "tensorflow", "kind": kind(strategy), "name": name,
            "replicas": strategy.num_replicas_in_sync}


def chief(strategy: Any) -> bool:
    """Whether this process keeps the run's files: the chief of a TensorFlow multi-worker job, process 0 of a
    JAX one, and any single process."""
    if isinstance(strategy, JaxDistribution):
        return strategy.process_id == 0
    return is_chief() if kind(strategy) == "multi_worker" else True


def own_loop(strategy: Any) -> bool:
    """Whether training runs zoo's loop (``zoo.multiworker``) instead of ``fit``: TensorFlow's multi-worker
    strategy, where Keras 3's fit fails (KNOWN_ISSUES item 1). On JAX, fit runs under every distribution."""
    return kind(strategy) == "multi_worker" and not isinstance(strategy, JaxDistribution)


def whole_batches(strategy: Any) -> bool:
    """Whether every batch must be whole (``drop_remainder``), and the test split measured on a plain copy of
    the model: static shapes on TPU, equal steps on every worker, and on JAX any batch sharded over several
    devices (a partial last batch does not divide among them: docs/KNOWN_ISSUES.md)."""
    if isinstance(strategy, JaxDistribution):
        return strategy.distribution is not None and (strategy.num_replicas_in_sync > 1 or strategy.num_processes > 1
                                                      or strategy.kind == "tpu")
    return kind(strategy) in ("tpu", "multi_worker")


def fit_scope(strategy: Any) -> Any:
    """The context ``fit`` and ``evaluate`` run in: a JAX distribution's scope (Keras reads the current
    distribution when it shards each batch and compiles the step); on TensorFlow nothing, as the model
    recorded its strategy when it was built."""
    if isinstance(strategy, JaxDistribution):
        return strategy.scope()
    return contextlib.nullcontext()


# ------------------------------------------------------------------------------------------------------ JAX

JAX_ENV = {"coordinator_address": ("JAX_COORDINATOR_ADDRESS", "KERAS_DISTRIBUTION_JOB_ADDRESSES"),
           "num_processes": ("JAX_NUM_PROCESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES"),
           "process_id": ("JAX_PROCESS_ID", "KERAS_DISTRIBUTION_PROCESS_ID")}
JAX_TPU_HELP = ("on a Cloud TPU VM install JAX's TPU build (pip install \"zoo[tpu]\", which brings jax[tpu] and "
                "libtpu) and run there with KERAS_BACKEND=jax (zoo --backend jax); the README's \"zoo train on a "
                "TPU VM\" goes step by step")
DEFAULT_MODEL_PARALLEL = 2


class JaxDistribution:
    """A ``keras.distribution`` object (or None: no distribution, JAX's default device) with what zoo asks of a
    strategy: ``scope()``, ``num_replicas_in_sync``, ``kind``, a description and a summary for metrics.json."""

    def __init__(self, kind: str, distribution: Any, *, layout: str | None = None, note: str = ""):
        self.kind, self.distribution, self.layout, self.note = kind, distribution, layout, note

    @contextlib.contextmanager
    def scope(self) -> Any:
        """The distribution's scope; JAX's IndivisibleError (a size the mesh does not divide) said in zoo's
        terms."""
        if self.distribution is None:
            yield
            return
        try:
            with self.distribution.scope():
                yield
        except ValueError as e:
            if type(e).__name__ != "IndivisibleError":
                raise
            first = str(e).splitlines()[0]
            if "'model'" in first:
                raise ValueError(f"the layout ({self.layout}) splits a size that model_parallel={self.mesh['model']} "
                                 f"does not divide ({first}); choose a --model-parallel that divides the sharded "
                                 f"sizes (attention heads, embedding and feed-forward widths)") from e
            raise ValueError(f"a batch does not divide among the {self.num_replicas_in_sync} replicas ({first}); "
                             f"give whole batches of a multiple of {self.num_replicas_in_sync} "
                             f"(drop_remainder=True)") from e

    @property
    def num_replicas_in_sync(self) -> int:
        return 1 if self.distribution is None else int(self.distribution.num_model_replicas)

    @property
    def num_processes(self) -> int:
        import jax

        return jax.process_count()

    @property
    def process_id(self) -> int:
        import jax

        return jax.process_index()

    @property
    def devices(self) -> list[str]:
        if self.distribution is None:
            import jax

            device = jax.devices()[0]
            return [f"{device.platform}:{device.id}"]
        return [str(d) for d in self.distribution.device_mesh.devices.flatten()]

    @property
    def mesh(self) -> dict[str, int]:
        if self.distribution is None:
            return {}
        mesh = self.distribution.device_mesh
        return dict(zip(mesh.axis_names, (int(n) for n in mesh.shape)))

    def description(self) -> str:
        devices = self.devices
        platform = devices[0].split(":")[0]
        if self.distribution is None:
            return f"no distribution (JAX's default device, {devices[0]}){self.note}"
        mesh = ", ".join(f"{k}={v}" for k, v in self.mesh.items())
        processes = self.num_processes
        where = f" in {processes} processes (this is process {self.process_id})" if processes > 1 else ""
        layout = f", variables laid out by {self.layout}" if self.layout else ""
        return (f"distribution {type(self.distribution).__name__} over {len(devices)} {platform} devices{where} "
                f"(mesh {mesh}){layout}{self.note}")

    def summary(self) -> dict[str, Any]:
        import jax

        found = {"backend": "jax", "kind": self.kind,
                 "name": type(self.distribution).__name__ if self.distribution is not None else "default",
                 "replicas": self.num_replicas_in_sync, "devices": len(self.devices),
                 "device_kind": self.devices[0].split(":")[0], "processes": self.num_processes,
                 "jax": jax.__version__}
        if self.distribution is not None:
            found["mesh"] = self.mesh
        if self.layout:
            found["layout"] = self.layout
        return found

    def __repr__(self) -> str:
        return f"<zoo JaxDistribution {self.kind}: {self.description()}>"


def _jax_devices(platform: str | None = None) -> list[Any]:
    import jax

    try:
        return list(jax.devices(platform))
    except RuntimeError:  # "Unknown backend tpu" / "... gpu": that platform is not installed or has no device
        return []


def _device_names(devices: list[Any]) -> list[str]:
    return [f"{d.platform}:{d.id}" for d in devices]


def _named_devices(devices: list[str]) -> list[str]:
    """``devices=`` in TensorFlow's spelling ("CPU:0", "/device:GPU:1") or Keras' ("cpu:0"), checked against
    what JAX sees."""
    import jax

    visible = _device_names(jax.devices()) + [n for n in _device_names(_jax_devices("cpu"))
                                               if n not in _device_names(jax.devices())]
    names = []
    for device in devices:
        name = device.strip().lower().removeprefix("/").removeprefix("device:").removeprefix("job:localhost/")
        name = name if ":" in name else f"{name}:0"
        if name not in visible:
            raise DeviceUnavailableError(f"device {device!r} is not among JAX's devices ({', '.join(visible)}); "
                                         f"for virtual CPUs set XLA_FLAGS=--xla_force_host_platform_device_count=N "
                                         f"before JAX starts")
        names.append(name)
    if len(set(names)) != len(names):
        raise ValueError(f"devices {devices!r} name a device twice")
    return names


def _accelerators() -> list[Any]:
    return [d for d in _jax_devices() if d.platform != "cpu"]


def _data_parallel(devices: list[str]) -> Any:
    import keras

    return keras.distribution.DataParallel(devices=devices)


def _jax_strategy(key: str, *, tpu: str | None, num_gpus: int | None, devices: list[str] | None, model: Any,
                  model_parallel: int | None, cluster: dict[str, Any]) -> JaxDistribution:
    if tpu is not None and tpu != "local":
        raise ValueError(f"tpu={tpu!r}: on JAX zoo runs on the TPU VM itself (JAX sees its chips), so --tpu takes "
                         f"nothing but 'local'; on a pod slice run zoo on every host with --strategy multi_worker")
    if num_gpus is not None and (isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 0):
        raise ValueError(f"num_gpus must be a non-negative integer, got {num_gpus!r}")
    if key == "mirrored":
        key = "data_parallel"
    if key == "multi_worker":
        _initialize(**cluster)
    import jax

    if key in ("off", "one_device") or (key == "cpu" and not _accelerators()):
        return JaxDistribution("default", None, note=_idle_devices_note())
    if key == "cpu":  # keep the work off the accelerators: a mesh of the one CPU
        return JaxDistribution("one_device", _data_parallel(["cpu:0"]))
    if key == "gpu":
        gpus = _jax_devices("gpu")
        if not gpus:
            raise DeviceUnavailableError("strategy 'gpu' asked for, but JAX sees no GPU; use --strategy cpu, or "
                                         "install JAX's CUDA build (zoo[jax-cuda]) on a machine with a GPU")
        if jax.devices()[0] == gpus[0]:
            return JaxDistribution("default", None)
        return JaxDistribution("one_device", _data_parallel(_device_names(gpus[:1])))
    if key == "tpu":
        tpus = _jax_devices("tpu")
        if not tpus:
            found = sorted({d.platform for d in _jax_devices()})
            raise DeviceUnavailableError(f"strategy 'tpu' found no TPU: JAX sees only {', '.join(found)} devices; "
                                         f"{JAX_TPU_HELP}")
        return _mesh_distribution("tpu", _device_names(tpus), model, model_parallel)
    if key == "multi_worker":
        return _mesh_distribution("multi_worker", _device_names(jax.devices()), model, model_parallel)
    if key == "auto" and not devices:
        accelerators = _accelerators()
        if not accelerators:
            return JaxDistribution("default", None, note=_idle_devices_note())
        if accelerators[0].platform == "tpu":
            return _mesh_distribution("tpu", _device_names(accelerators), None, None)
        accelerators = accelerators[:num_gpus] if num_gpus else accelerators
        if len(accelerators) == 1:
            return JaxDistribution("default", None)
        return JaxDistribution("data_parallel", _data_parallel(_device_names(accelerators)))
    # data_parallel (and auto with devices=) or model_parallel
    if devices:
        names = _named_devices(list(devices))
    else:
        names = _device_names(jax.devices())
        if num_gpus is not None:
            gpus = _device_names(_jax_devices("gpu"))
            if num_gpus > len(gpus):
                raise DeviceUnavailableError(f"{num_gpus} GPU(s) asked for, JAX sees {len(gpus)}; check "
                                             f"CUDA_VISIBLE_DEVICES and that JAX's CUDA build is installed "
                                             f"(zoo[jax-cuda])")
            names = gpus[:num_gpus] if num_gpus else names
    if key == "model_parallel":
        return _mesh_distribution("model_parallel", names, model,
                                  DEFAULT_MODEL_PARALLEL if model_parallel is None else model_parallel)
    return JaxDistribution("data_parallel", _data_parallel(names))


def _idle_devices_note() -> str:
    cpus = _jax_devices("cpu")
    if len(cpus) > 1 and not _accelerators():
        return f"; {len(cpus)} cpu devices visible: --strategy data_parallel uses them all"
    return ""


def _mesh_distribution(kind_: str, names: list[str], model: Any, model_parallel: int | None) -> JaxDistribution:
    """DataParallel over ``names``, or with ``model_parallel`` devices on a model axis, ModelParallel over a
    (batch, model) mesh with ``model``'s layout."""
    import keras

    if model_parallel is None:
        return JaxDistribution(kind_, _data_parallel(names))
    if isinstance(model_parallel, bool) or not isinstance(model_parallel, int) or model_parallel < 1:
        raise ValueError(f"model_parallel must be a positive integer (the devices of the model axis), "
                         f"got {model_parallel!r}")
    if len(names) % model_parallel:
        raise DeviceUnavailableError(f"model_parallel={model_parallel} does not divide the {len(names)} devices; "
                                     f"choose a divisor of {len(names)}")
    mesh = keras.distribution.DeviceMesh((len(names) // model_parallel, model_parallel), ("batch", "model"),
                                         devices=names)
    layout, source = layout_map(model, mesh)
    return JaxDistribution(kind_, keras.distribution.ModelParallel(layout_map=layout, batch_dim_name="batch"),
                           layout=source)


def _initialize(coordinator_address: str | None, num_processes: int | None, process_id: int | None) -> None:
    """Join the job (``keras.distribution.initialize``): the arguments, else the environment's JAX_* (or
    Keras' KERAS_DISTRIBUTION_*) variables; on a Cloud TPU VM what is unset JAX finds itself."""
    import jax

    found = {"coordinator_address": coordinator_address, "num_processes": num_processes, "process_id": process_id}
    for key, names in JAX_ENV.items():
        for env in names:
            if found[key] is None and os.environ.get(env, "").strip():
                found[key] = os.environ[env].strip()
    for key in ("num_processes", "process_id"):
        value = found[key]
        if isinstance(value, str):
            if not value.isdigit():
                raise ValueError(f"{key} must be a non-negative integer, got {value!r} (from {JAX_ENV[key][0]})")
            found[key] = int(value)
        elif value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{key} must be a non-negative integer, got {value!r}")
    address, count, index = found["coordinator_address"], found["num_processes"], found["process_id"]
    if address is not None and (not isinstance(address, str) or ":" not in address.split(",")[0]):
        raise ValueError(f"coordinator_address must be process 0's host:port, got {address!r}")
    if count is not None and count < 1:
        raise ValueError(f"num_processes must be at least 1, got {count}")
    if count is not None and index is not None and index >= count:
        raise ValueError(f"process_id {index} is not below num_processes {count}: ids run 0..{count - 1}")
    if jax.distributed.is_initialized():
        if (count is not None and count != jax.process_count()) or (index is not None and index != jax.process_index()):
            raise DeviceUnavailableError(f"this process already joined a job as process {jax.process_index()} of "
                                         f"{jax.process_count()}; a process joins one job")
        return
    missing = [f"--{k.replace('_', '-')} (or ${JAX_ENV[k][0]})" for k, v in found.items() if v is None]
    if missing and not _on_cloud_tpu():
        raise DeviceUnavailableError(
            f"strategy 'multi_worker' on JAX needs {', '.join(missing)}: process 0's host:port, the number of "
            f"processes and this process's id, the same address and count on every process (on a Cloud TPU VM "
            f"JAX finds them itself)")
    import keras

    try:
        keras.distribution.initialize(address, count, index)
    except RuntimeError as e:
        if "before" in str(e) or "initialized" in str(e):
            raise DeviceUnavailableError(
                f"JAX was already running when 'multi_worker' asked to join the job ({str(e).splitlines()[0]}); "
                f"make the strategy first, before any JAX computation (zoo.train does)") from e
        raise DeviceUnavailableError(f"could not join the job at {address!r} as process {index} of {count}: "
                                     f"{str(e).splitlines()[0][:300]}") from e
    except ValueError as e:
        raise DeviceUnavailableError(f"could not join the job ({str(e).splitlines()[0][:300]}); pass "
                                     f"--coordinator-address, --num-processes and --process-id") from e


def _on_cloud_tpu() -> bool:
    """A Cloud TPU VM (TPU chips on the PCI bus, or GKE's TPU worker variables), where JAX finds the job."""
    import glob

    return bool(os.environ.get("TPU_WORKER_HOSTNAMES") or os.environ.get("TPU_PROCESS_ADDRESSES")
                or glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"))


# The zoo layouts of keras-hub backbones that have no get_layout_map of their own (GPT-2, BERT in keras-hub
# 0.32): regexes over variable paths -> the axes of each dimension ("model": split over the mesh's model axis).
# Megatron's split: attention heads and the feed-forward's inner dimension over the model axis, so that each
# device holds whole heads and a slice of the inner layer; embeddings split along their features.
def block_layout(block: str, attention: str, embedding: str = "token_embedding/embeddings") -> dict[str, tuple]:
    """Megatron's split of the Transformer blocks matching ``block`` (a path regex), with their self-attention
    layer named ``attention``: each block's attention heads and feed-forward inner dimension over the model axis,
    the token embedding (``embedding``, its path) along its features; the rest replicated."""
    return {
        embedding: (None, "model"),
        rf"{block}/{attention}/(query|key|value)/kernel": (None, "model", None),
        rf"{block}/{attention}/(query|key|value)/bias": ("model", None),
        rf"{block}/{attention}/attention_output/kernel": ("model", None, None),
        rf"{block}/feedforward_intermediate_dense/kernel": (None, "model"),
        rf"{block}/feedforward_intermediate_dense/bias": ("model",),
        rf"{block}/feedforward_output_dense/kernel": ("model", None),
    }


HUB_BLOCK_LAYOUT = block_layout(r"transformer_layer_\d+", "self_attention(_layer)?")
HUB_LAYOUTS = {"GPT2Backbone": HUB_BLOCK_LAYOUT, "BertBackbone": HUB_BLOCK_LAYOUT}
# Which backbone each Transformer entry's builder makes (its layout is that class's).
BACKBONES = {
    "zoo.models.text:gpt_shakespeare": "zoo.models.text:DecoderBackbone",
    "zoo.models.text:transformer_imdb": "zoo.models.text:EncoderBackbone",
    "zoo.models.hub:gpt2_causal_lm": "keras_hub.models:GPT2Backbone",
    "zoo.models.hub:bert_text_classifier": "keras_hub.models:BertBackbone",
}


def layout_from(table: dict[str, tuple], device_mesh: Any, model_dim: str = "model") -> Any:
    """A ``keras.distribution.LayoutMap`` from a table of path regexes and axes ("model" stands for
    ``model_dim``)."""
    import keras

    layout = keras.distribution.LayoutMap(device_mesh)
    for pattern, axes in table.items():
        layout[pattern] = tuple(model_dim if a == "model" else a for a in axes)
    return layout


def backbone_class(model: Any) -> Any:
    """The backbone class whose layout shards ``model``: a class given, or the one a zoo entry's builder makes."""
    import importlib

    if isinstance(model, type):
        return model
    from zoo import registry

    if not isinstance(model, str):
        raise TypeError(f"model must be a zoo name or a backbone class, got {type(model).__name__}")
    card = registry.get_card(registry.split_name(model)[0])
    builder = card.builder if isinstance(card.builder, str) else f"{card.builder.__module__}:{card.builder.__name__}"
    if builder not in BACKBONES:
        raise DeviceUnavailableError(
            f"strategy 'model_parallel' has no layout for {card.name} (a {card.family}); it shards "
            f"{', '.join(sorted(_names_with_layouts()))}: use --strategy data_parallel for {card.name}")
    module, name = BACKBONES[builder].split(":")
    return getattr(importlib.import_module(module), name)


def _names_with_layouts() -> list[str]:
    from zoo import registry

    found = []
    for name in registry.list_models():
        builder = registry.get_card(name).builder
        builder = builder if isinstance(builder, str) else f"{builder.__module__}:{builder.__name__}"
        if builder in BACKBONES:
            found.append(name)
    return found


def layout_map(model: Any, device_mesh: Any) -> tuple[Any, str]:
    """(the LayoutMap of ``model`` over ``device_mesh``, where it came from). ``model``: a zoo name (its
    backbone's layout) or a backbone class: its own ``get_layout_map`` where it has one (zoo's Transformers,
    keras-hub's Gemma, Llama, ...), else zoo's layout of it (``HUB_LAYOUTS``)."""
    if model is None:
        raise ValueError("strategy 'model_parallel' shards a model's variables by its layout: give the model "
                         "(zoo.train / zoo.get pass theirs; get_strategy(..., model=NAME or a backbone class))")
    cls = backbone_class(model)
    if hasattr(cls, "get_layout_map"):
        return cls.get_layout_map(device_mesh), f"{cls.__name__}.get_layout_map"
    if cls.__name__ in HUB_LAYOUTS:
        return layout_from(HUB_LAYOUTS[cls.__name__], device_mesh), f"zoo's layout of {cls.__name__}"
    raise DeviceUnavailableError(f"{cls.__name__} has no get_layout_map and zoo has no layout of it; "
                                 f"use --strategy data_parallel")
