"""An audit of zoo against hostile or unlucky inputs: its CLI and its Python API, case by case.

Run it from the repository root (the real datasets are only read, for nothing but the environment)::

    ZOO_DATA_DIR=/work/shared/data .venv/bin/python scripts/hostile_cases.py --out /tmp/hostile.json

Options: ``--out FILE`` writes every case as JSON (default: nothing written); ``--only 3.,5.serving`` runs the
cases whose id starts with one of the given prefixes (ids start with their class number); ``--keep`` keeps the
temporary folder for a look afterwards (it is removed otherwise).

The CLI is run as real subprocesses (``python -m zoo ...``, each with a timeout, in its own session, with
``ZOO_OFFLINE=1`` and a private ``ZOO_HOME``); the API runs inside this script, or in a subprocess where a
crash could take the script down (the SavedModel serving calls, the decompression bombs). Every file is
written under one ``tempfile`` folder, removed at the end; the full-disk cases (class 9) mount small tmpfs
folders inside it (root, or CAP_SYS_ADMIN; skipped where mounting is refused), unmounted afterwards.
The classes: 1 two writers, 2 OSError paths, 3 bad values, 4 resources, 5 SavedModel serving, 6 verify,
7 pretrained listing, 8 installs, 9 a full disk (train, every export format, downloads, a read-only ZOO_HOME),
10 an export's parts (a TFLite export's vocabulary, model file and description that do not vouch for each
other), 11 names (class names with control characters, file names with escape sequences), 12 folders (a
validation/ class training lacks, a class too small to carve, the counts printed), 13 typed arguments
(strings for booleans, negative counts, huge top_k and seeds, blank texts, characters outside a vocabulary,
a huge .npy). Each case is classified:

* ``clean``: what a user should see. The API raised a zoo error (``zoo.ZooError``), or a ``ValueError`` /
  ``TypeError`` with a message of its own (not a leaked parser or container message such as "Expecting
  value", "list indices must be integers", "not supported between instances"), or an ``OSError`` naming the
  path it refused. The CLI exited non-zero with exactly one line on stderr (TensorFlow's own log lines, which
  start with a time stamp, ``I0000``/``W0000``/``E0000`` or ``WARNING: All log messages``, are ignored) and no
  ``Traceback``.
* ``traceback``: the CLI printed a Python traceback, or the API raised an untyped/internal exception (KeyError,
  AttributeError, IndexError, a leaked ``tf.errors.*``, a parser's or a container's message, ...).
* ``noisy``: the CLI refused the input without a traceback but with more than the one line on stderr.
* ``silent``: no error where the input was wrong (a silently wrong answer), or data lost.
* ``crash``: the process died by a signal, or timed out.

Peak memory (RSS) of a subprocess is measured through a small launcher (see ``LAUNCHER``). A TensorFlow process
of zoo's CLI peaks near 600-800 MB by itself, so the resource cases of the CLI compare with the peak of the
same command on a well-formed input (the baseline) and allow 500 MB more; the child that runs
``zoo.data.load`` alone (no TensorFlow) is held to 500 MB in all.
* for the cases that should succeed: ``ok``; ``failed`` when a typed error came instead (or the error was
  not the one expected, e.g. a lock conflict that does not name its holder).
* ``skipped``: the case cannot be tried here (running as root, chmod does not stop writes); not counted
  against the run. ``audit-error``: a bug of this script in that case (counted against the run).

It prints a table (case id, class, what was tried, expected, outcome, the first line of the message) and the
counts per class and per outcome. Exit status 0 when every case is ``clean``, ``ok`` or ``skipped``, else 1.
It keeps to the modest budget of a shared 2-core machine: no training longer than one epoch on 24 tiny
images, no full evaluation on real data; about 10 minutes in all.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gzip
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.dont_write_bytecode = True  # nothing written into the repository, not even __pycache__
PY = sys.executable
REPO = Path(__file__).resolve().parents[1]
GROUPS = {
    "1": "two writers",
    "2": "OSError paths",
    "3": "bad values",
    "4": "resources",
    "5": "SavedModel serving",
    "6": "verify",
    "7": "pretrained listing",
    "8": "installs",
    "9": "full disk",
    "10": "export parts",
    "11": "names",
    "12": "folders",
    "13": "typed arguments",
}
NOT_CLEAN = ("traceback", "noisy", "silent", "crash", "failed", "audit-error")
OUTCOMES = ("clean", "ok", "skipped", *NOT_CLEAN)
TF_NOISE = re.compile(r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}|[IWEF]\d{4} \d{2}:\d{2}:\d{2}|WARNING: All log messages)")
# Messages of a ValueError / TypeError that come from a parser or a container, not from zoo: leaked internals.
INTERNAL_HINTS = ("zero-size array", "not supported between instances", "object has no attribute", "unhashable type",
                  "index out of range", "list indices must be", "string indices must be", "Expecting value",
                  "Expecting property name", "invalid literal for int", "object is not subscriptable",
                  "referenced before assignment", "'NoneType'", "must be real number, not")
CLI_TIMEOUT = 240  # seconds: a TensorFlow process on a loaded 2-core machine
TRAIN_TIMEOUT = 420
FAST_TIMEOUT = 60
MB = 1 << 20
RSS_LIMIT_MB = 500


# ------------------------------------------------------------------------------------------------ records


@dataclasses.dataclass
class Case:
    id: str
    group: str
    tried: str
    expected: str  # "error" or "success" (or a phrase, for the cases with a looser expectation)
    outcome: str = "not run"
    message: str = ""
    seconds: float = 0.0
    detail: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Proc:
    """One finished subprocess."""

    args: list[str]
    rc: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool
    max_rss_mb: float

    def lines(self) -> list[str]:
        """stderr without TensorFlow's own log lines and blank lines."""
        return [line for line in self.stderr.splitlines() if line.strip() and not TF_NOISE.match(line)]

    def first_out(self) -> str:
        return next((line for line in self.stdout.splitlines() if line.strip()), "")


def one_line(text: Any, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------- processes


# Every command runs under this small launcher, which reports the command's exit status and its own peak RSS. On
# Linux a process fork+exec'd from this script starts its ru_maxrss at this script's peak (TensorFlow is loaded
# here: ~600 MB), so measuring the command directly would report that; the launcher's child is forked from the
# small launcher instead.
LAUNCHER = r'''
import resource, subprocess, sys
rc = subprocess.run(sys.argv[2:]).returncode
with open(sys.argv[1], "w") as f:
    f.write(f"{rc} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
'''


def spawn(args: list[str], *, env: dict[str, str], cwd: Path, tag: str, logs: Path) -> tuple[subprocess.Popen, Any]:
    """Start ``args`` (under the launcher) in its own session, its output to files (no pipe can fill up)."""
    logs.mkdir(parents=True, exist_ok=True)
    out = open(logs / f"{tag}.out", "w+b")  # noqa: SIM115 - open until reap() reads and closes it
    err = open(logs / f"{tag}.err", "w+b")  # noqa: SIM115
    status = logs / f"{tag}.status"
    p = subprocess.Popen([PY, "-c", LAUNCHER, str(status), *args], stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                         env=env, cwd=cwd, start_new_session=True)
    return p, (out, err, time.monotonic(), status, list(args))


def reap(p: subprocess.Popen, files: Any, timeout: float) -> Proc:
    """Wait for ``p``, killing its whole session (launcher and command) at the timeout."""
    out, err, t0, status_file, args = files
    timed_out = False
    try:
        p.wait(timeout=max(0.1, timeout - (time.monotonic() - t0)))
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    seconds = time.monotonic() - t0
    rc, rss_kb = p.returncode, 0
    with contextlib.suppress(OSError, ValueError):
        rc_text, rss_text = status_file.read_text().split()
        rc, rss_kb = int(rc_text), int(rss_text)
    texts = []
    for f in (out, err):
        f.seek(0)
        texts.append(f.read().decode("utf-8", "replace"))
        f.close()
    return Proc(args, rc, texts[0], texts[1], seconds, timed_out, rss_kb / 1024)


# ------------------------------------------------------------------------------------------ classifying


def error_info(e: BaseException) -> dict[str, Any]:
    import zoo

    return {"type": type(e).__name__, "module": type(e).__module__, "zoo": isinstance(e, zoo.ZooError),
            "mro": [c.__name__ for c in type(e).__mro__], "message": str(e),
            "filename": getattr(e, "filename", None)}


def classify_error(info: dict[str, Any]) -> tuple[str, str]:
    """(outcome, message) of an exception the API raised, from :func:`error_info`."""
    message = f"{info['type']}: {one_line(info['message'])}"
    if info["zoo"]:
        return "clean", message
    mro = set(info["mro"])
    if info["type"] == "JSONDecodeError":
        return "traceback", f"leaked parser error ({info['module']}) {message}"
    if mro & {"ValueError", "TypeError"}:
        if any(h in info["message"] for h in INTERNAL_HINTS) or not info["message"].strip():
            return "traceback", f"internal message: {message}"
        return "clean", message
    if "OSError" in mro and (info.get("filename") or "/" in info["message"]):
        return "clean", message
    return "traceback", f"{info['module']}.{message}"


def summarize(value: Any) -> str:
    try:
        if isinstance(value, list) and value and isinstance(value[0], dict) and "top_k" in value[0]:
            best = value[0]["top_k"][0]
            return f"{len(value)} prediction(s), the first: class {best['class_name']} p={best['probability']:.3f}"
        if hasattr(value, "test_metrics"):
            return f"a finished training run: epochs_run {value.epochs_run}, test {json.dumps(value.test_metrics)}"
        if isinstance(value, str):
            return f"the text {value[:60]!r}"
        if isinstance(value, (dict, list, tuple)):
            return one_line(json.dumps(value, default=str), 200)
        if hasattr(value, "layers"):
            return f"a model {getattr(value, 'name', '')!r}"
    except Exception:  # noqa: BLE001, S110 - a summary must never fail a case
        pass
    return one_line(repr(value), 200)


def _call(fn: Callable[[], Any]) -> tuple[Any, tuple[str, str] | None]:
    """(fn's value, None), or (None, the classified error it raised)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(), None
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # noqa: BLE001 - everything is a result here
        return None, classify_error(error_info(e))


def api_error(fn: Callable[[], Any], expect: str | None = None) -> tuple[str, str]:
    """Call ``fn``, which should fail: (outcome, message)."""
    value, error = _call(fn)
    if error is None:
        return "silent", f"no error: {summarize(value)}"
    outcome, message = error
    if outcome == "clean" and expect and not re.search(expect, message, re.IGNORECASE | re.DOTALL):
        return "failed", f"not the error expected (/{expect}/): {message}"
    return outcome, message


def api_ok(fn: Callable[[], Any], check: Callable[[Any], tuple[bool, str]] | None = None) -> tuple[str, str]:
    """Call ``fn``, which should succeed (and pass ``check``): (outcome, message)."""
    value, error = _call(fn)
    if error is not None:
        outcome, message = error
        return ("failed" if outcome == "clean" else outcome), message
    if check is not None:
        good, message = check(value)
        return ("ok" if good else "silent"), message
    return "ok", summarize(value)


def _died(p: Proc) -> tuple[str, str] | None:
    if p.timed_out:
        return "crash", f"timed out after {p.seconds:.0f} s (killed)"
    if p.rc < 0:
        return "crash", f"killed by signal {signal.Signals(-p.rc).name}"
    return None


def _traceback_line(p: Proc) -> str:
    """The exception line of a traceback; where its message goes on over more lines (TensorFlow's "Graph
    execution error:"), its last plain line too, which says what was wrong."""
    lines = p.lines()
    index = next((i for i in range(len(lines) - 1, -1, -1)
                  if re.match(r"^[\w.]+(Error|Exception|Warning|Exit)\b", lines[i])), None)
    if index is None:
        return f"Traceback: {one_line(lines[-1] if lines else '')}"
    exception = lines[index]
    if exception.rstrip().endswith(":"):
        more = [line for line in lines[index + 1 :] if not re.match(r"^(\s|File |Detected at node|\[\[)", line)]
        if more:
            exception = f"{exception} ... {more[-1]}"
    return f"Traceback: {one_line(exception)}"


def classify_cli_error(p: Proc, expect: str | None = None) -> tuple[str, str]:
    died = _died(p)
    if died:
        return died
    if "Traceback" in p.stderr:
        return "traceback", _traceback_line(p)
    lines = p.lines()
    if p.rc == 0:
        return "silent", f"exit 0; stdout: {one_line(p.first_out(), 200)}" + (
            f"; stderr: {one_line(lines[0], 200)}" if lines else "")
    if len(lines) != 1:
        return "noisy", f"exit {p.rc} with {len(lines)} stderr lines (no traceback): " + " | ".join(
            one_line(line, 150) for line in lines[:3])
    if expect and not re.search(expect, lines[0], re.IGNORECASE):
        return "failed", f"not the error expected (/{expect}/): {one_line(lines[0])}"
    return "clean", one_line(lines[0])


def classify_cli_ok(p: Proc, check: Callable[[Proc], tuple[bool, str]] | None = None) -> tuple[str, str]:
    died = _died(p)
    if died:
        return died
    if "Traceback" in p.stderr:
        return "traceback", _traceback_line(p)
    if p.rc != 0:
        lines = p.lines()
        return "failed", f"exit {p.rc}: " + (one_line(lines[0]) if lines else "(nothing on stderr)")
    if check is not None:
        good, message = check(p)
        return ("ok" if good else "silent"), message
    return "ok", one_line(p.first_out(), 200)


# --------------------------------------------------------------------------------------------- the audit


class Audit:
    """The cases run so far, and what they share: the temporary folder, the environment, the fixtures."""

    def __init__(self, tmp: Path, only: list[str] | None):
        self.tmp = tmp
        self.only = only
        self.cases: list[Case] = []
        self.group = ""
        self.logs = tmp / "logs"
        self.helpers: list[subprocess.Popen] = []
        self.restore_modes: list[Path] = []
        self.baseline_rss_mb: float | None = None
        self._fixtures: dict[str, Any] = {}
        self.env = dict(os.environ)
        for name in ("ZOO_DEBUG", "TF_CONFIG", "TPU_NAME", "COLAB_TPU_ADDR"):
            self.env.pop(name, None)
        self.env.update({"ZOO_OFFLINE": "1", "ZOO_HOME": str(tmp / "zoo_home"), "PYTHONDONTWRITEBYTECODE": "1"})
        self.work = tmp / "cwd"  # the subprocesses' working folder: a default runs/NAME lands here, never in the repo
        self.work.mkdir()
        self._n = 0

    # ----------------------------------------------------------------------------------- running cases

    def selected(self, cid: str) -> bool:
        return not self.only or any(cid.startswith(prefix) for prefix in self.only)

    def case(self, cid: str, tried: str, expected: str, fn: Callable[[], tuple[str, str] | tuple[str, str, dict]]) -> None:
        """Run one case: ``fn`` returns (outcome, message[, detail])."""
        cid = f"{self.group}.{cid}"
        if not self.selected(cid):
            return
        case = Case(cid, GROUPS[self.group], tried, expected)
        t0 = time.monotonic()
        try:
            result = fn()
            case.outcome, case.message = result[0], result[1]
            if len(result) > 2:
                case.detail.update(result[2])
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - a bug of the audit, not of zoo
            case.outcome = "audit-error"
            case.message = f"{type(e).__name__}: {one_line(e)}"
            case.detail["traceback"] = traceback.format_exc()
        case.seconds = round(time.monotonic() - t0, 1)
        self.cases.append(case)
        mark = " " if case.outcome in ("clean", "ok", "skipped") else "!"
        print(f"{mark} {case.id:<38} {case.outcome:<11} {case.seconds:6.1f}s  {one_line(case.message, 110)}",
              flush=True)

    def spawn(self, args: list[str], *, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Any]:
        self._n += 1
        return spawn([str(a) for a in args], env={**self.env, **(env or {})}, cwd=self.work, tag=f"p{self._n:03d}",
                     logs=self.logs)

    def run(self, args: list[str], *, env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT) -> Proc:
        p, files = self.spawn(args, env=env)
        return reap(p, files, timeout)

    def zoo(self, *args: Any, env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT) -> Proc:
        return self.run([PY, "-m", "zoo", *map(str, args)], env=env, timeout=timeout)

    def cli_error(self, *args: Any, expect: str | None = None, env: dict[str, str] | None = None,
                  timeout: float = CLI_TIMEOUT) -> tuple[str, str, dict]:
        p = self.zoo(*args, env=env, timeout=timeout)
        outcome, message = classify_cli_error(p, expect)
        return outcome, message, {"rc": p.rc, "max_rss_mb": round(p.max_rss_mb), "argv": p.args[2:]}

    def cli_ok(self, *args: Any, check: Callable[[Proc], tuple[bool, str]] | None = None,
               env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT) -> tuple[str, str, dict]:
        p = self.zoo(*args, env=env, timeout=timeout)
        outcome, message = classify_cli_ok(p, check)
        return outcome, message, {"rc": p.rc, "max_rss_mb": round(p.max_rss_mb), "argv": p.args[2:]}

    def api_subprocess(self, code: str, *argv: str, timeout: float = CLI_TIMEOUT,
                       env: dict[str, str] | None = None) -> tuple[dict[str, Any] | None, Proc]:
        """Run API code in a child (``result = ...`` is reported); its report, or None if it died."""
        p = self.run([PY, "-c", CHILD, code, *argv], env=env, timeout=timeout)
        report = next((json.loads(line.split(" ", 1)[1]) for line in p.stdout.splitlines()
                       if line.startswith("ZOO-HOSTILE-RESULT ")), None)
        return report, p

    def hold_lock(self, lock_file: Path) -> subprocess.Popen:
        """Another process holding ``lock_file`` as zoo's writers do (flock, its pid written in the file)."""
        marker = lock_file.with_name(lock_file.name + ".held")
        p = subprocess.Popen([PY, "-c", LOCK_HOLDER, str(lock_file), str(marker)], env=self.env, cwd=self.work,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.helpers.append(p)
        deadline = time.monotonic() + 30
        while not marker.exists():
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the lock-holder helper did not take the lock")
            time.sleep(0.05)
        return p

    def release(self, p: subprocess.Popen) -> None:
        if p.poll() is None:
            p.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=10)
        if p.poll() is None:
            p.kill()
            p.wait()

    def cleanup(self) -> None:
        for p in self.helpers:
            self.release(p)
        for path in self.restore_modes:
            with contextlib.suppress(OSError):
                path.chmod(0o700)

    # --------------------------------------------------------------------------------------- fixtures

    def fixture(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self._fixtures:
            self._fixtures[name] = make()
        return self._fixtures[name]

    def images(self) -> Path:
        """A folder of 3 classes x 10 random 28x28 grayscale PNGs, to train on."""
        return self.fixture("images", lambda: image_folder(self.tmp / "images"))

    def digit(self) -> Path:
        """One well-formed 28x28 grayscale PNG (a drawn '1')."""
        def make() -> Path:
            from PIL import Image

            path = self.tmp / "inputs" / "digit.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(digit_array()).save(path)
            return path
        return self.fixture("digit", make)

    def bundled_weights(self, name: str = "cnn_mnist") -> Path:
        from zoo import manifest

        return manifest.weights_for(name)[0].bundled_path

    def run_dir(self) -> Path:
        """A finished 1-epoch run of cnn_mnist on the image folder (its backup holds epoch 1): the train race's
        winner, else one trained here."""
        def make() -> Path:
            import zoo

            model_dir = self.tmp / "run_made_here"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                zoo.train("cnn_mnist", epochs=1, data=str(self.images()), model_dir=str(model_dir), verbose=0)
            return model_dir
        found = self._fixtures.get("run_dir")
        if found is not None and (found / "backup" / "training_metadata.json").is_file():
            return found
        self._fixtures.pop("run_dir", None)
        return self.fixture("run_dir", make)

    def fake_mnist(self, name: str, *, test_labels: np.ndarray | None = None, n: int = 10) -> Path:
        """A data_dir holding mnist/ in the publisher's IDX layout, written here (tiny, never the real data)."""
        root = self.tmp / "data" / name
        folder = root / "mnist"
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        for split, count in (("train", 20), ("t10k", n)):
            write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
            labels = np.arange(count) % 10
            if split == "t10k" and test_labels is not None:
                labels = test_labels
            write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.asarray(labels, dtype=np.uint8))
        return root


# Run in a child: the code in argv[1] (argv[2:] are its arguments), its result or exception reported as JSON.
CHILD = r'''
import json, sys
code, sys.argv = sys.argv[1], sys.argv[1:]
def _report(**kw):
    print("ZOO-HOSTILE-RESULT " + json.dumps(kw, default=str), flush=True)
scope = {}
try:
    exec(compile(code, "<case>", "exec"), scope)
except BaseException as e:
    import zoo
    _report(raised=True, type=type(e).__name__, module=type(e).__module__, zoo=isinstance(e, zoo.ZooError),
            mro=[c.__name__ for c in type(e).__mro__], message=str(e)[:3000], filename=getattr(e, "filename", None))
else:
    _report(raised=False, value=repr(scope.get("result"))[:500])
'''

LOCK_HOLDER = r'''
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.pwrite(fd, f"pid {os.getpid()} (hostile_cases lock holder)".encode(), 0)
open(sys.argv[2], "w").close()
time.sleep(900)
'''

SERVING_WORKER = r'''
import json, sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
serve = loaded.signatures["serving_default"]
for cid, shape, dtype in json.loads(sys.argv[2]):
    print("START " + cid, flush=True)
    try:
        out = serve(image=tf.constant(np.zeros(shape, dtype=dtype)))
        res = {"ok": True, "shapes": {k: list(v.shape) for k, v in out.items()},
               "dtypes": {k: v.dtype.name for k, v in out.items()}}
    except Exception as e:
        res = {"ok": False, "type": type(e).__name__, "module": type(e).__module__, "message": str(e)[:3000]}
    print("RESULT " + json.dumps([cid, res]), flush=True)
'''


def child_outcome(report: dict[str, Any] | None, p: Proc, *, expect_error: bool = True) -> tuple[str, str]:
    died = _died(p)
    if died:
        return died
    if report is None:
        return "traceback", f"the child reported nothing (exit {p.rc}): {_traceback_line(p)}"
    if report["raised"]:
        outcome, message = classify_error(report)
        if not expect_error:
            return ("failed" if outcome == "clean" else outcome), message
        return outcome, message
    return ("silent", f"no error: {report['value']}") if expect_error else ("ok", report["value"])


# -------------------------------------------------------------------------------------------- file makers


def write_idx(path: Path, array: np.ndarray, *, compress: bool = True) -> Path:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(data, compresslevel=6) if compress else data)
    return path


def digit_array() -> np.ndarray:
    a = np.zeros((28, 28), np.uint8)
    a[4:24, 13:16] = 255
    a[4:7, 10:14] = 200
    return a


def image_folder(root: Path, classes: tuple[str, ...] = ("circle", "cross", "line"), per_class: int = 10) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            a = rng.integers(0, 60, (28, 28), dtype=np.uint8)
            a[4 + k * 6 : 10 + k * 6, 4:24] = 255  # a class-dependent bar
            Image.fromarray(a).save(folder / f"{i}.png")
    return root


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` 8-bit gray pixels, with two rows of data only."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (min(width, 1 << 16) + 1) * 2)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def png_zeros(side: int) -> bytes:
    """A complete, valid PNG of side x side black 8-bit gray pixels: side**2 bytes once decoded, tiny on disk."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    z = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    parts = [z.compress(row * 64) for _ in range(side // 64)] + [z.compress(row * (side % 64)), z.flush()]
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"".join(parts)) + \
        _png_chunk(b"IEND", b"")


# ================================================================================ 1. two writers


def _race(a: Audit, args: list, timeout: float) -> tuple[list, dict, tuple | None]:
    """Two processes of ``args`` at once: (their results, a detail record, an outcome if one died or printed a
    traceback, else None)."""
    procs = [reap(p, f, timeout) for p, f in [a.spawn(args) for _ in range(2)]]
    detail = {"rc": [p.rc for p in procs], "seconds": [round(p.seconds, 1) for p in procs]}
    for p in procs:
        died = _died(p)
        if died:
            return procs, detail, (*died, detail)
    for p in procs:
        if "Traceback" in p.stderr:
            return procs, detail, ("traceback", _traceback_line(p), detail)
    return procs, detail, None


def two_writers(a: Audit) -> None:
    a.group = "1"

    def export_race() -> tuple[str, str, dict]:
        target = a.tmp / "race_export"
        target.mkdir()
        procs, detail, early = _race(a, [PY, "-m", "zoo", "export", "cnn_mnist", target], CLI_TIMEOUT)
        if early:
            return early
        winners = [p for p in procs if p.rc == 0]
        if len(winners) == 2:
            return "silent", "both exports exited 0: two writers to one target, one export lost", detail
        if not winners:
            return "failed", "neither export succeeded: " + " | ".join(one_line(" ".join(p.lines()[-1:])) for p in procs), detail
        loser = next(p for p in procs if p.rc != 0)
        outcome, message = classify_cli_error(loser, expect=r"being written by|exists already")
        if not (target / "1" / "saved_model.pb").is_file():
            return "silent", f"the winner exited 0 but {target}/1/saved_model.pb is missing", detail
        return outcome, message, detail

    a.case("export-race", "two `zoo export cnn_mnist DIR` at once, same DIR", "one ok, one clean BusyError/exists",
           export_race)

    def export_race_leftovers() -> tuple[str, str]:
        target = a.tmp / "race_export"
        if not target.is_dir():
            return "skipped", "the export race did not run"
        left = sorted(p.name for p in target.iterdir() if p.name != "1")
        return ("ok", "nothing but 1/ in the export folder") if not left else (
            "silent", f"left beside the export: {', '.join(left)}")

    a.case("export-race-leftovers", "after the race: temporary folders or lock files left?", "success",
           export_race_leftovers)

    def train_race() -> tuple[str, str, dict]:
        model_dir = a.tmp / "race_run"
        args = [PY, "-m", "zoo", "train", "cnn_mnist", "--epochs", "1", "--model-dir", model_dir, "--data",
                a.images(), "--verbose", "0"]
        procs, detail, early = _race(a, args, TRAIN_TIMEOUT)
        if early:
            return early
        winners = [p for p in procs if p.rc == 0]
        if winners and (model_dir / "backup" / "training_metadata.json").is_file():
            a._fixtures["run_dir"] = model_dir
        if len(winners) == 2:
            runs_ = []
            for p in procs:
                with contextlib.suppress(ValueError):
                    runs_.append(json.loads(p.stdout[p.stdout.index("{"):]).get("epochs_run"))
            if 0 in runs_:
                return "skipped", f"no overlap: the second ran after the first had finished (epochs_run {runs_})", detail
            return "silent", f"both trainings exited 0 into one --model-dir (epochs_run {runs_}): two writers", detail
        if not winners:
            return "failed", "neither training succeeded: " + " | ".join(one_line(" ".join(p.lines()[-1:])) for p in procs), detail
        loser = next(p for p in procs if p.rc != 0)
        winner = winners[0]
        outcome, message = classify_cli_error(loser, expect=r"being written by pid \d+")
        if outcome == "clean" and loser.seconds > winner.seconds:
            return "failed", f"the second waited ({loser.seconds:.0f} s, the first {winner.seconds:.0f} s): {message}", detail
        return outcome, message, detail

    a.case("train-race", "two `zoo train cnn_mnist --epochs 1 --data IMGS` at once, same --model-dir",
           "one ok, one fails at once naming the holder", train_race)

    def train_lock_held() -> tuple[str, str, dict]:
        model_dir = a.tmp / "locked_run"
        model_dir.mkdir()
        holder = a.hold_lock(model_dir / ".zoo-train.lock")
        try:
            return a.cli_error("train", "cnn_mnist", "--epochs", "1", "--model-dir", model_dir, "--data", a.images(),
                               "--verbose", "0", expect=rf"pid {holder.pid}", timeout=TRAIN_TIMEOUT)
        finally:
            a.release(holder)

    a.case("train-lock-held", "`zoo train` into a --model-dir whose lock another process holds",
           "error naming the holder's pid", train_lock_held)

    def export_lock_held() -> tuple[str, str]:
        import zoo

        target = a.tmp / "locked_export"
        target.mkdir()
        holder = a.hold_lock(target / ".1.lock")
        try:
            return api_error(lambda: zoo.export("cnn_mnist", target), expect=rf"pid {holder.pid}")
        finally:
            a.release(holder)

    a.case("export-lock-held-api", "zoo.export(cnn_mnist, DIR) while another process holds DIR/.1.lock",
           "BusyError naming the holder", export_lock_held)


# ============================================================================== 2. OSError paths


def os_error_paths(a: Audit) -> None:
    a.group = "2"
    import zoo

    def read_only(kind: str) -> tuple[str, str, dict] | tuple[str, str]:
        folder = a.tmp / f"read_only_{kind}"
        folder.mkdir()
        folder.chmod(0o500)
        a.restore_modes.append(folder)
        probe = folder / ".probe"
        try:
            probe.write_text("x")
            probe.unlink()
            return "skipped", f"chmod 0o500 does not stop writes here (uid {os.geteuid()}: root)"
        except PermissionError:
            pass
        if kind == "export":
            return a.cli_error("export", "cnn_mnist", folder)
        return a.cli_error("train", "cnn_mnist", "--epochs", "1", "--model-dir", folder, "--data", a.images(),
                           "--verbose", "0", timeout=TRAIN_TIMEOUT)

    a.case("export-read-only-dir", "`zoo export cnn_mnist RO` with RO chmod 0o500", "error",
           lambda: read_only("export"))
    a.case("train-read-only-model-dir", "`zoo train --model-dir RO` with RO chmod 0o500", "error",
           lambda: read_only("train"))

    def a_file(name: str, text: str = "a user's file\n") -> Path:
        path = a.tmp / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    a.case("export-path-is-file", "`zoo export cnn_mnist FILE` (a file where the export folder goes)", "error",
           lambda: a.cli_error("export", "cnn_mnist", a_file("export_here")))

    def keras_onto_dir() -> tuple[str, str, dict]:
        folder = a.tmp / "files" / "model.keras"
        folder.mkdir(parents=True)
        (folder / "precious.txt").write_text("keep me")
        result = a.cli_error("export", "cnn_mnist", folder, "--format", "keras", "--overwrite")
        if not (folder / "precious.txt").is_file():
            return "silent", f"{folder} (a folder of the user's) was replaced: data lost", result[2]
        return result

    a.case("export-keras-onto-dir", "`zoo export --format keras --overwrite D.keras`, D.keras a folder with a file",
           "error, the folder intact", keras_onto_dir)
    a.case("train-model-dir-is-file", "`zoo train --model-dir FILE`", "error",
           lambda: a.cli_error("train", "cnn_mnist", "--epochs", "1", "--model-dir", a_file("run_here"), "--data",
                               a.images(), "--verbose", "0", timeout=TRAIN_TIMEOUT))

    def train_api(data: Any, name: str, **kwargs: Any) -> Callable[[], Any]:
        return lambda: zoo.train("cnn_mnist", epochs=1, data=data, model_dir=str(a.tmp / "runs" / name), verbose=0,
                                 **kwargs)

    a.case("train-data-is-file", "zoo.train(data=FILE)", "error",
           lambda: api_error(train_api(str(a_file("data_file")), "data_file")))


    a.case("zoo-home-is-file-predict", "ZOO_HOME=FILE `zoo predict cnn_mnist digit.png` (bundled weights)",
           "success", lambda: a.cli_ok("predict", "cnn_mnist", a.digit(), env={"ZOO_HOME": str(a_file("home_file"))},
                                       check=lambda p: ("digit.png" in p.stdout, one_line(p.first_out(), 200))))

    a.case("zoo-home-is-file-download", "ZOO_HOME=FILE and weights to download (url on a closed port)", "error",
           lambda: forged_download(a, a_file("home_file2"), "home"))
    a.case("data-dir-missing-cli", "`zoo evaluate cnn_mnist --data-dir /nonexistent`", "error",
           lambda: a.cli_error("evaluate", "cnn_mnist", "--data-dir", a.tmp / "nonexistent", timeout=FAST_TIMEOUT))

    def empty_data_dir() -> tuple[str, str]:
        root = a.tmp / "empty_data"
        root.mkdir()
        return api_error(lambda: zoo.evaluate("cnn_mnist", data_dir=root), expect="no local copy")

    a.case("data-dir-empty-api", "zoo.evaluate(cnn_mnist, data_dir=EMPTY) offline", "error", empty_data_dir)

    def predict_dir() -> tuple[str, str]:
        folder = a.tmp / "inputs" / "a_folder.png"
        folder.mkdir(parents=True)
        return api_error(lambda: zoo.predict("cnn_mnist", [folder]))

    a.case("predict-input-is-dir", "zoo.predict(cnn_mnist, [a folder named x.png])", "error", predict_dir)

    def weights_dir() -> tuple[str, str]:
        folder = a.tmp / "files" / "dir.weights.h5"
        folder.mkdir(parents=True)
        return api_error(lambda: zoo.get("cnn_mnist", pretrained=str(folder)))

    a.case("weights-path-is-dir", "zoo.get(cnn_mnist, pretrained=a folder named x.weights.h5)", "error", weights_dir)

    def metadata_is_dir() -> tuple[str, str]:
        run = resume_copy(a, "meta_dir")
        meta = run / "backup" / "training_metadata.json"
        meta.unlink()
        meta.mkdir()
        return api_error(resume_train(a, run))

    a.case("resume-metadata-is-dir", "train into a run whose backup/training_metadata.json is a folder", "error",
           metadata_is_dir)


# ================================================================================= 3. bad values


def bad_values(a: Audit) -> None:
    a.group = "3"
    import zoo

    a.case("info-bogus-tag", "`zoo info cnn_mnist.bogus`", "error",
           lambda: a.cli_error("info", "cnn_mnist.bogus", timeout=FAST_TIMEOUT))
    a.case("export-empty-path", "`zoo export cnn_mnist ''`", "error",
           lambda: a.cli_error("export", "cnn_mnist", "", timeout=FAST_TIMEOUT))
    a.case("train-num-gpus-negative", "`zoo train cnn_mnist --num-gpus=-1 --epochs 1 --data IMGS`", "error",
           lambda: a.cli_error("train", "cnn_mnist", "--num-gpus=-1", "--epochs", "1", "--model-dir",
                               a.tmp / "runs" / "gpus", "--data", a.images(), "--verbose", "0", timeout=TRAIN_TIMEOUT))
    a.case("evaluate-batch-size-0-cli", "`zoo evaluate cnn_mnist --batch-size 0`", "error",
           lambda: a.cli_error("evaluate", "cnn_mnist", "--batch-size", "0", timeout=FAST_TIMEOUT))

    def train_bad(name: str, **kwargs: Any) -> tuple[str, str]:
        model_dir = a.tmp / "runs" / name
        outcome, message = api_error(lambda: zoo.train("cnn_mnist", epochs=kwargs.pop("epochs", 1), data=str(a.images()),
                                                       model_dir=str(model_dir), verbose=0, **kwargs))
        if outcome == "silent":
            message = f"trained anyway ({'metrics.json written' if (model_dir / 'metrics.json').exists() else ''}): " \
                      + message
        return outcome, message

    a.case("train-weight-decay-negative", "zoo.train(cnn_mnist, weight_decay=-1, epochs=1, data=IMGS)",
           "error before training", lambda: train_bad("wd_neg", weight_decay=-1.0))
    a.case("train-learning-rate-nan", "zoo.train(cnn_mnist, learning_rate=nan, epochs=1, data=IMGS)",
           "error before training", lambda: train_bad("lr_nan", learning_rate=float("nan")))

    # -- generate
    def generate(*extra: str) -> tuple[str, str, dict]:
        return a.cli_error("generate", "char_lstm_shakespeare", "ROMEO:", "--max-length", "40", "--seed", "1", *extra)

    for value in ("nan", "inf", "0", "-1"):
        a.case(f"generate-temperature-{value}", f"`zoo generate char_lstm_shakespeare ROMEO: --sampler top_k "
               f"--temperature={value}`", "error",
               lambda value=value: generate("--sampler", "top_k", f"--temperature={value}"))
    a.case("generate-top-k-0", "`zoo generate char_lstm_shakespeare ROMEO: --sampler top_k --top-k 0`", "error",
           lambda: a.cli_error("generate", "char_lstm_shakespeare", "ROMEO:", "--sampler", "top_k", "--top-k", "0",
                               timeout=FAST_TIMEOUT))
    a.case("generate-top-p-1.5", "`zoo generate char_lstm_shakespeare ROMEO: --sampler top_p --top-p 1.5`", "error",
           lambda: generate("--sampler", "top_p", "--top-p", "1.5"))

    # -- arrays to zoo.predict
    def predict_array(x: Any) -> Callable[[], Any]:
        return lambda: zoo.predict("cnn_mnist", x)

    arrays = {
        "empty-batch": ("np.zeros((0, 28, 28, 1), np.uint8)", np.zeros((0, 28, 28, 1), np.uint8)),
        "float-pixels": ("np.random.rand(1, 28, 28, 1) (float64 in [0, 1])", np.random.default_rng(0).random((1, 28, 28, 1))),
        "nan-pixels": ("np.full((1, 28, 28, 1), nan, float32)", np.full((1, 28, 28, 1), np.nan, np.float32)),
        "values-over-255": ("int32 pixels of 300", np.full((1, 28, 28, 1), 300, np.int32)),
        "shape-28x28": ("shape (28, 28) uint8", np.zeros((28, 28), np.uint8)),
    }
    for key, (what, x) in arrays.items():
        a.case(f"predict-array-{key}", f"zoo.predict(cnn_mnist, {what})", "error",
               lambda x=x: api_error(predict_array(x)))
    a.case("predict-array-valid", "zoo.predict(cnn_mnist, a (2, 28, 28, 1) uint8 batch)", "success",
           lambda: api_ok(predict_array(np.stack([digit_array()[..., None]] * 2)),
                          lambda r: (len(r) == 2 and len(r[0]["top_k"]) == 3, summarize(r))))

    # -- .npy files
    inputs = a.tmp / "inputs"
    inputs.mkdir(exist_ok=True)

    def npy(name: str, make: Callable[[Path], None]) -> Path:
        path = inputs / f"{name}.npy"
        make(path)
        return path

    npys = {
        "float": ("float32 pixels in [0, 1]", lambda p: np.save(p, np.random.default_rng(0).random((28, 28)).astype(np.float32))),
        "empty-array": ("an empty (0, 0) uint8 array", lambda p: np.save(p, np.zeros((0, 0), np.uint8))),
        "random-bytes": ("4 KB of random bytes", lambda p: p.write_bytes(np.random.default_rng(1).bytes(4096))),
    }
    for key, (what, make) in npys.items():
        a.case(f"npy-{key}", f"zoo.predict(cnn_mnist, [x.npy]) with {what}", "error",
               lambda key=key, make=make: api_error(lambda: zoo.predict("cnn_mnist", [npy(key, make)])))
    a.case("npy-zero-bytes-cli", "`zoo predict cnn_mnist empty.npy` (0 bytes)", "error",
           lambda: a.cli_error("predict", "cnn_mnist", npy("zero-bytes-cli", lambda p: p.write_bytes(b""))))
    a.case("npy-pickled-cli", "`zoo predict cnn_mnist obj.npy` (pickled object array)", "error",
           lambda: a.cli_error("predict", "cnn_mnist", npy("pickled-cli", lambda p: np.save(
               p, np.array([{"a": 1}], dtype=object), allow_pickle=True))))

    # -- image files
    def a_file(name: str, data: bytes) -> Path:
        path = inputs / name
        path.write_bytes(data)
        return path

    a.case("image-text-file-cli", "`zoo predict cnn_mnist notes.txt` (a text file)", "error",
           lambda: a.cli_error("predict", "cnn_mnist", a_file("notes.txt", b"hello\n")))
    a.case("image-text-as-png", "zoo.predict(cnn_mnist, [a text file named x.png])", "error",
           lambda: api_error(lambda: zoo.predict("cnn_mnist", [a_file("text.png", b"not a png\n")])))
    a.case("image-bomb-header-cli", "`zoo predict cnn_mnist bomb.png` (header claims 60000x60000)", "error",
           lambda: a.cli_error("predict", "cnn_mnist", a_file("bomb.png", png_claiming(60000, 60000))))

    def sixteen_bit() -> tuple[str, str]:
        from PIL import Image

        path = inputs / "digit16.png"
        Image.fromarray(digit_array().astype(np.uint16) * 257).save(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = zoo.predict("cnn_mnist", [a.digit()])[0]["top_k"][0]

        from zoo.data.images import read_image

        pixels = read_image(path, (28, 28, 1))[..., 0].astype(int)
        diff = int(np.max(np.abs(pixels - digit_array().astype(int))))

        def check(r: Any) -> tuple[bool, str]:
            got = r[0]["top_k"][0]
            same = got["class_id"] == want["class_id"] and abs(got["probability"] - want["probability"]) < 0.02
            message = (f"pixels read differ from the 8-bit image's by up to {diff} (of 255); 16-bit: class "
                       f"{got['class_name']} p={got['probability']:.3f}, 8-bit: class {want['class_name']} "
                       f"p={want['probability']:.3f}")
            return same and diff <= 1, message
        return api_ok(lambda: zoo.predict("cnn_mnist", [path]), check)

    a.case("image-16-bit-png", "zoo.predict on a 16-bit PNG of the digit vs the 8-bit one", "success (same answer)",
           sixteen_bit)

    # -- weights files
    weights_dir = a.tmp / "weights"
    weights_dir.mkdir(exist_ok=True)

    def weights_file(name: str, data: bytes) -> Path:
        path = weights_dir / name
        path.write_bytes(data)
        return path

    bundled = a.bundled_weights()
    a.case("weights-keras-file-cli", "`zoo predict cnn_mnist --pretrained model.keras digit.png`", "error",
           lambda: a.cli_error("predict", "cnn_mnist", "--pretrained", weights_file("model.keras", b"PK\x03\x04"),
                               a.digit()))
    a.case("weights-wrong-sha-api", "zoo.get(cnn_mnist, pretrained=copy.weights.h5, weights_sha256='0'*64)", "error",
           lambda: api_error(lambda: zoo.get("cnn_mnist", pretrained=str(weights_file("copy.weights.h5", bundled.read_bytes())),
                                             weights_sha256="0" * 64), expect="sha256"))
    a.case("weights-missing-cli", "`zoo predict cnn_mnist --pretrained missing.weights.h5 digit.png`", "error",
           lambda: a.cli_error("predict", "cnn_mnist", "--pretrained", weights_dir / "missing.weights.h5", a.digit()))
    a.case("weights-truncated-cli", "`zoo predict cnn_mnist --pretrained half.weights.h5 digit.png` (truncated)",
           "error", lambda: a.cli_error("predict", "cnn_mnist", "--pretrained", weights_file(
               "half.weights.h5", bundled.read_bytes()[: bundled.stat().st_size // 2]), a.digit()))


    # -- arguments of export and get
    a.case("export-format-bogus", "zoo.export(cnn_mnist, DIR, format='onnx')", "error",
           lambda: api_error(lambda: zoo.export("cnn_mnist", a.tmp / "exp_onnx", format="onnx")))
    for key, kwargs in {"filters-0": {"filters": (0, 0, 0)}}.items():
        a.case(f"get-{key}", f"zoo.get(cnn_mnist, {', '.join(f'{k}={v!r}' for k, v in kwargs.items())})", "error",
               lambda kwargs=kwargs: api_error(lambda: zoo.get("cnn_mnist", **kwargs)))


# ================================================================================== 4. resources


def resume_copy(a: Audit, name: str) -> Path:
    """A copy of a finished 1-epoch run folder, to be edited."""
    target = a.tmp / "resume" / name
    shutil.copytree(a.run_dir(), target)
    return target


def resume_train(a: Audit, run: Path) -> Callable[[], Any]:
    import zoo

    return lambda: zoo.train("cnn_mnist", epochs=1, data=str(a.images()), model_dir=str(run), verbose=0)


def edit_metadata(run: Path, **changes: Any) -> dict[str, Any]:
    path = run / "backup" / "training_metadata.json"
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    path.write_text(json.dumps(meta))
    return meta


def resources(a: Audit) -> None:
    a.group = "4"
    import zoo

    def evaluate_small() -> tuple[str, str, dict]:
        result = a.cli_ok("evaluate", "cnn_mnist", "--data-dir", a.fake_mnist("small"), "--json",
                          check=lambda p: ('"num_examples": 10' in p.stdout, one_line(p.stdout, 200)))
        a.baseline_rss_mb = result[2]["max_rss_mb"]
        return result[0], f"{result[1]} (peak RSS {a.baseline_rss_mb} MB: the baseline)", result[2]

    a.case("evaluate-small-valid", "`zoo evaluate cnn_mnist --data-dir D` (10 well-formed fake test images)",
           "success (baseline RSS)", evaluate_small)

    def bomb_dir() -> Path:
        def make() -> Path:
            root = a.fake_mnist("bomb")
            path = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
            with gzip.open(path, "wb", compresslevel=6) as f:
                f.write(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 10))
                chunk = bytes(MB)
                for _ in range(300):
                    f.write(chunk)
            return root
        return a.fixture("bomb_dir", make)

    def bomb_cli() -> tuple[str, str, dict]:
        root = bomb_dir()
        size = (root / "mnist" / "t10k-labels-idx1-ubyte.gz").stat().st_size
        outcome, message, detail = a.cli_error("evaluate", "cnn_mnist", "--data-dir", root)
        rss, base = detail["max_rss_mb"], a.baseline_rss_mb
        grew = rss - base if base is not None else rss
        detail.update(bomb_file_bytes=size, baseline_rss_mb=base)
        note = f" [peak RSS {rss} MB, baseline {base} MB, file {size / 1e6:.1f} MB]"
        if grew > RSS_LIMIT_MB:
            return "silent", f"used {grew:.0f} MB more than the baseline on a gzip bomb" + note, detail
        return outcome, message + note, detail

    a.case("gzip-bomb-labels-cli", "`zoo evaluate --data-dir D`, labels.gz: header 10 labels + 300 MB of zeros",
           "quick error, < 500 MB more than the baseline", bomb_cli)

    def bomb_api() -> tuple[str, str, dict]:
        report, p = a.api_subprocess(
            "import sys, zoo.data as d\nresult = len(d.load('mnist', 'test', data_dir=sys.argv[1], source='local'))",
            str(bomb_dir()))
        outcome, message = child_outcome(report, p)
        note = f" [peak RSS {p.max_rss_mb:.0f} MB, {p.seconds:.1f} s]"
        if p.max_rss_mb > RSS_LIMIT_MB:
            return "silent", f"used {p.max_rss_mb:.0f} MB on a gzip bomb" + note, {"max_rss_mb": p.max_rss_mb}
        return outcome, message + note, {"max_rss_mb": round(p.max_rss_mb)}

    a.case("gzip-bomb-labels-api", "zoo.data.load('mnist','test') on the gzip bomb (child, no TensorFlow)",
           "quick error, < 500 MB", bomb_api)

    def header_too_big() -> tuple[str, str, dict]:
        root = a.fake_mnist("huge_header")
        path = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
        path.write_bytes(gzip.compress(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 0xFFFFFFF0) + bytes(100)))
        report, p = a.api_subprocess(
            "import sys, zoo.data as d\nresult = len(d.load('mnist', 'test', data_dir=sys.argv[1], source='local'))",
            str(root))
        outcome, message = child_outcome(report, p)
        if p.max_rss_mb > RSS_LIMIT_MB:
            return "silent", f"used {p.max_rss_mb:.0f} MB", {}
        return outcome, message, {"max_rss_mb": round(p.max_rss_mb)}

    a.case("idx-header-claims-4gb", "labels.gz whose IDX header claims 4,294,967,280 labels", "error, no allocation",
           header_too_big)

    def load_fake(root: Path) -> Callable[[], Any]:
        return lambda: zoo.data.load("mnist", "test", data_dir=root, source="local")

    def truncated() -> tuple[str, str]:
        root = a.fake_mnist("truncated")
        path = root / "mnist" / "t10k-images-idx3-ubyte.gz"
        path.write_bytes(path.read_bytes()[:-40])
        return api_error(load_fake(root), expect="t10k-images")

    a.case("idx-truncated-gzip", "zoo.data.load on a t10k-images.gz cut short", "error naming the file", truncated)


    a.case("labels-out-of-range-cli", "`zoo evaluate cnn_mnist --data-dir D`, D's test labels include 200", "error",
           lambda: a.cli_error("evaluate", "cnn_mnist", "--data-dir",
                               a.fake_mnist("label200", test_labels=np.array([0, 1, 2, 3, 200, 5, 6, 7, 8, 9]))))

    # -- a hostile resume: a run folder whose backup metadata lies
    def resume_cli(name: str, expect: str | None = None, **changes: Any) -> tuple[str, str, dict]:
        run = resume_copy(a, name)
        edit_metadata(run, **changes)
        return a.cli_error("train", "cnn_mnist", "--epochs", "1", "--model-dir", run, "--data", a.images(), "--verbose",
                           "0", expect=expect, timeout=TRAIN_TIMEOUT)

    a.case("resume-epoch-beyond-recipe", "train --epochs 1 into a run whose backup metadata claims epoch 99", "error",
           lambda: resume_cli("epoch99", epoch=99))

    def outside(name: str, absolute: bool) -> tuple[str, str, dict] | tuple[str, str]:
        run = resume_copy(a, name)
        meta = json.loads((run / "backup" / "training_metadata.json").read_text())
        stolen = run.parent / f"{name}-outside.weights.h5"
        shutil.copy(run / "backup" / meta["weights"], stolen)
        pointer = str(stolen) if absolute else f"../../{stolen.name}"
        edit_metadata(run, weights=pointer)
        if absolute:
            return api_error(resume_train(a, run), expect="inside")
        return a.cli_error("train", "cnn_mnist", "--epochs", "1", "--model-dir", run, "--data", a.images(),
                           "--verbose", "0", expect="inside", timeout=TRAIN_TIMEOUT)

    a.case("resume-weights-outside-cli", "train into a run whose backup names '../../x.weights.h5' (hash matching)",
           "error", lambda: outside("outside_rel", absolute=False))
    a.case("resume-weights-absolute-api", "zoo.train into a run whose backup names an absolute path (hash matching)",
           "error", lambda: outside("outside_abs", absolute=True))

    def resume_api(name: str, edit: Callable[[Path], None], expect: str | None = None) -> tuple[str, str]:
        run = resume_copy(a, name)
        edit(run)
        return api_error(resume_train(a, run), expect=expect)

    def flip_a_byte(run: Path) -> None:
        meta = json.loads((run / "backup" / "training_metadata.json").read_text())
        path = run / "backup" / meta["weights"]
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    a.case("resume-sha-mismatch", "zoo.train into a run whose backup weights were changed after the commit", "error",
           lambda: resume_api("sha", flip_a_byte, expect="sha256"))
    a.case("resume-metadata-not-json", "zoo.train into a run whose training_metadata.json is '{garbage'", "error",
           lambda: resume_api("garbage", lambda r: (r / "backup" / "training_metadata.json").write_text("{garbage")))
    a.case("resume-metadata-no-epoch", "zoo.train into a run whose training_metadata.json lacks 'epoch'", "error",
           lambda: resume_api("no_epoch", lambda r: edit_metadata(r, epoch=None)))
    a.case("resume-epoch-negative", "zoo.train into a run whose metadata says epoch -5", "error",
           lambda: resume_api("epoch_neg", lambda r: edit_metadata(r, epoch=-5)))

    def bomb_in_folder() -> tuple[str, str]:
        root = a.tmp / "images_with_bomb"
        shutil.copytree(a.images(), root)
        (root / "circle" / "bomb.png").write_bytes(png_claiming(60000, 60000))
        return api_ok(lambda: zoo.train("cnn_mnist", epochs=1, data=str(root), model_dir=str(a.tmp / "runs" / "bomb"),
                                        verbose=0), lambda r: (True, "trained; the bomb skipped: " + summarize(r)))

    a.case("train-folder-with-bomb-png", "zoo.train(data=IMGS + one PNG claiming 60000x60000)",
           "success, the bomb skipped as unreadable", bomb_in_folder)

    def real_bomb() -> tuple[str, str, dict]:
        path = a.tmp / "inputs" / "zeros12000.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_zeros(12000))
        base = a.fixture("predict_rss", lambda: a.zoo("predict", "cnn_mnist", a.digit()).max_rss_mb)
        p = a.zoo("predict", "cnn_mnist", path)
        detail = {"rc": p.rc, "max_rss_mb": round(p.max_rss_mb), "baseline_rss_mb": round(base),
                  "png_bytes": path.stat().st_size}
        note = f" [peak RSS {p.max_rss_mb:.0f} MB, baseline (predict of a 28x28 PNG) {base:.0f} MB, file " \
               f"{path.stat().st_size / 1e3:.0f} KB]"
        died = _died(p)
        if died:
            return (died[0], died[1] + note, detail)
        if p.max_rss_mb - base > RSS_LIMIT_MB:
            return "silent", f"decoded the 144-Mpx image: {p.max_rss_mb - base:.0f} MB over the baseline" + note, detail
        if p.rc == 0:
            return "ok", "read within bounds (PIL allows up to 178 Mpx): " + one_line(p.first_out(), 120) + note, detail
        outcome, message = classify_cli_error(p)
        return outcome, message + note, detail

    a.case("png-real-bomb-12000", "`zoo predict cnn_mnist zeros.png`: a valid 12000x12000 PNG of 140 KB",
           "refused, or read within +500 MB", real_bomb)

    # -- leftovers of killed exports
    def leftovers() -> Path:
        def make() -> Path:
            parent = a.tmp / "leftovers"
            (parent / ".1.abc123.tmp" / "model").mkdir(parents=True)
            (parent / ".1.abc123.tmp" / "model" / "half.pb").write_bytes(b"x" * 1000)
            (parent / ".1.def456.tmp").write_bytes(b"x")
            outside_dir = a.tmp / "precious"
            outside_dir.mkdir()
            (outside_dir / "data.txt").write_text("a user's data")
            (parent / ".1.evil.tmp").symlink_to(outside_dir, target_is_directory=True)
            (parent / ".1.lock").write_text("pid 999999 (a killed export)")  # stale: no one holds it
            (parent / ".2.other.tmp").mkdir()  # another version's: not this export's business
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                zoo.export("cnn_mnist", parent)
            return parent
        return a.fixture("leftovers", make)

    def leftovers_removed() -> tuple[str, str]:
        parent = leftovers()
        left = sorted(p.name for p in parent.iterdir() if p.name.startswith(".1."))
        if left:
            return "silent", f"still there after the next export: {', '.join(left)}"
        if not (parent / "1" / "saved_model.pb").is_file():
            return "failed", "the export did not write 1/saved_model.pb"
        return "ok", "the .1.*.tmp leftovers and the stale lock are gone; 1/ written"

    a.case("export-leftovers-removed", "zoo.export into a folder holding .1.*.tmp leftovers and a stale .1.lock",
           "success, leftovers removed", leftovers_removed)

    def symlink_leftover() -> tuple[str, str]:
        leftovers()
        data = a.tmp / "precious" / "data.txt"
        if not data.is_file():
            return "silent", "the export's clean-up followed a .1.*.tmp symlink and deleted a user's folder"
        return "ok", "a .1.evil.tmp symlink to a user's folder was removed, the folder kept"

    a.case("export-leftover-symlink", "a leftover .1.evil.tmp that is a symlink to a user's folder",
           "success, the user's folder intact", symlink_leftover)



# ============================================================================ 5. SavedModel serving


def serving(a: Audit) -> None:
    a.group = "5"
    cases = [  # id, tried, shape, dtype, expectation
        ("rank-2", "(28, 28) uint8", [28, 28], "uint8", "shape"),
        ("rank-3", "(1, 28, 28) uint8", [1, 28, 28], "uint8", "shape"),
        ("rank-5", "(1, 1, 28, 28, 1) uint8", [1, 1, 28, 28, 1], "uint8", "shape"),
        ("channels-3", "(2, 28, 28, 3) uint8", [2, 28, 28, 3], "uint8", "shape"),
        ("size-32", "(1, 32, 32, 1) uint8", [1, 32, 32, 1], "uint8", "shape"),
        ("empty-batch", "(0, 28, 28, 1) uint8", [0, 28, 28, 1], "uint8", "empty"),
        ("float32", "(1, 28, 28, 1) float32", [1, 28, 28, 1], "float32", "dtype"),
        ("valid", "(3, 28, 28, 1) uint8", [3, 28, 28, 1], "uint8", "valid"),
    ]
    todo = [c for c in cases if a.selected(f"5.serving-{c[0]}")]
    if not todo:
        return
    export_error = None
    try:
        saved = leftovers_or_export(a)
    except Exception as e:  # noqa: BLE001
        saved, export_error = None, f"{type(e).__name__}: {one_line(e)}"
    results: dict[str, Any] = {}
    worker_seconds: list[float] = []
    pending = list(todo)
    while saved is not None and pending:
        spec = json.dumps([[c[0], c[2], c[3]] for c in pending])
        p = a.run([PY, "-c", SERVING_WORKER, str(saved), spec])
        worker_seconds.append(round(p.seconds, 1))
        started = None
        for line in p.stdout.splitlines():
            if line.startswith("START "):
                started = line[6:]
            elif line.startswith("RESULT "):
                cid, res = json.loads(line[7:])
                results[cid] = res
                started = None
        done = {c[0] for c in pending if c[0] in results}
        if started is not None:  # the worker died in this call
            died = _died(p) or ("traceback", f"the worker exited {p.rc} mid-call: {_traceback_line(p)}")
            results[started] = {"died": died}
            done.add(started)
        elif not done:
            died = _died(p) or ("traceback", f"the worker exited {p.rc} before any call: {_traceback_line(p)}")
            for c in pending:
                results[c[0]] = {"died": died}
            break
        pending = [c for c in pending if c[0] not in done]

    for cid, what, shape, dtype, kind in todo:
        def judge(cid: str = cid, kind: str = kind) -> tuple[str, str, dict]:
            return (*_judge(cid, kind), {"worker_runs_seconds": worker_seconds})

        def _judge(cid: str, kind: str) -> tuple[str, str]:
            if export_error:
                return "audit-error", f"could not export: {export_error}"
            res = results.get(cid)
            if res is None:
                return "audit-error", "no result from the worker"
            if "died" in res:
                return tuple(res["died"])
            if res["ok"]:
                rows = {k: v[0] if v else None for k, v in res["shapes"].items()}
                if kind == "empty":
                    good = set(rows.values()) == {0}
                    return ("ok" if good else "silent"), f"answered {res['shapes']}"
                if kind == "valid":
                    good = set(rows.values()) == {3} and "class_name" in res["shapes"]
                    return ("ok" if good else "silent"), f"answered {res['shapes']}"
                return "silent", f"answered a wrong input: {res['shapes']}"
            message = res["message"].replace("\\'", "'")
            line = next((ln.strip() for ln in message.splitlines() if "must have shape" in ln), None) or \
                next((ln.strip() for ln in message.splitlines() if ln.strip()), "")
            text = f"{res['type']}: {one_line(line, 300)}"
            if kind in ("valid", "empty"):
                return "failed" if res["type"] in ("InvalidArgumentError", "ValueError", "TypeError") else "traceback", text
            if kind == "shape":
                if res["type"] == "InvalidArgumentError" and "must have shape (batch, 28, 28, 1)" in message:
                    return "clean", text
                if res["type"] in ("ValueError", "TypeError") and re.search(r"shape|signature", message, re.IGNORECASE):
                    return "clean", text
                return "traceback", f"not naming the expected shape: {text}"
            if res["type"] in ("InvalidArgumentError", "ValueError", "TypeError") and re.search(
                    r"dtype|uint8|float32|signature|incompatible", message, re.IGNORECASE):
                return "clean", text
            return "traceback", text

        expected = {"shape": "InvalidArgumentError naming (batch, 28, 28, 1)", "empty": "success, 0 rows",
                    "dtype": "error", "valid": "success, 3 rows"}[kind]
        a.case(f"serving-{cid}", f"signatures['serving_default'](image=<{what}>) of a cnn_mnist export", expected,
               judge)


def leftovers_or_export(a: Audit) -> Path:
    """A cnn_mnist SavedModel version folder (the one the leftovers case wrote, or a fresh export)."""
    import zoo

    found = a._fixtures.get("leftovers")
    if found is not None and (found / "1" / "saved_model.pb").is_file():
        return found / "1"

    def make() -> Path:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return zoo.export("cnn_mnist", a.tmp / "serving_export")
    return a.fixture("serving_export", make)


# ==================================================================================== 6. verify


@contextlib.contextmanager
def forged_manifest(info: Any, bundle_dir: Path):
    """zoo's manifest answering ``info`` for its model, its files bundled in ``bundle_dir`` (as
    tests/test_weights.py does with monkeypatch), restored afterwards."""
    from zoo import manifest

    original_weights_for = manifest.weights_for
    original_property = type(info).__dict__["bundled_path"]
    manifest.weights_for = lambda name: [info] if name == info.name else original_weights_for(name)
    type(info).bundled_path = property(lambda self: bundle_dir / self.file)
    try:
        yield
    finally:
        manifest.weights_for = original_weights_for
        type(info).bundled_path = original_property


@contextlib.contextmanager
def environ(**values: str | None):
    saved = {k: os.environ.get(k) for k in values}

    def put(settings: dict[str, str | None]) -> None:  # None: unset
        for k, v in settings.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    try:
        put(values)
        yield
    finally:
        put(saved)


def verify(a: Audit) -> None:
    a.group = "6"
    import zoo

    a.case("verify-cnn-mnist", "`zoo verify cnn_mnist`", "success",
           lambda: a.cli_ok("verify", "cnn_mnist", check=lambda p: ("sha256 ok" in p.stdout, one_line(p.stdout, 200))))

    def forged(name: str, change: Callable[[Any, Path], Path], edit_hash: bool = True) -> tuple[str, str]:
        import dataclasses as dc

        from zoo import manifest
        from zoo._io import sha256_file

        default = manifest.weights_for("cnn_mnist")[0]
        folder = a.tmp / "forged" / name
        folder.mkdir(parents=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = zoo.get("cnn_mnist", pretrained=True, compile=False)
        path = change(model, folder)
        info = dc.replace(default, file=path.name, size=path.stat().st_size,
                          sha256=sha256_file(path) if edit_hash else default.sha256)
        with forged_manifest(info, folder):
            return api_error(lambda: zoo.verify("cnn_mnist"))

    def scaled_kernel(model: Any, folder: Path) -> Path:
        layer = model.get_layer("stage2_conv")
        layer.set_weights([w * 1.001 for w in layer.get_weights()])
        path = folder / "changed.weights.h5"
        model.save_weights(str(path))
        return path


    a.case("verify-kernel-x1.001", "zoo.verify with one kernel x 1.001, the manifest's sha256 edited to match",
           "WeightsError (outputs differ)", lambda: forged("kernel", scaled_kernel))
    a.case("verify-kernel-x1.001-hash-kept", "zoo.verify with one kernel x 1.001, the manifest's sha256 kept",
           "WeightsError (sha256)", lambda: forged("kernel_hash", scaled_kernel, edit_hash=False))
    bare = next((n for n in zoo.list_models() if not zoo.info(n).weights and not zoo.info(n).presets), None)
    a.case("verify-no-weights", f"`zoo verify {bare}` (a model without weights)", "error",
           lambda: a.cli_error("verify", bare, timeout=FAST_TIMEOUT) if bare else
           ("skipped", "every registered model has weights now"))
    a.case("verify-preset-model", "`zoo verify bert_classifier` (keras-hub preset, offline)", "error",
           lambda: a.cli_error("verify", "bert_classifier", timeout=FAST_TIMEOUT))


# ======================================================================== 7. "pretrained" that is not


def pretrained_listing(a: Audit) -> None:
    a.group = "7"
    backbone = ("bert_classifier", "vit_classifier")

    def names(p: Proc) -> list[str]:
        return [line.split()[0] for line in p.stdout.splitlines()[2:] if line.strip()]

    a.case("list-pretrained", "`zoo list --pretrained` leaves out the backbone-only models", "success",
           lambda: a.cli_ok("list", "--pretrained", timeout=FAST_TIMEOUT, check=lambda p: (
               not set(backbone) & set(names(p)) and "cnn_mnist" in names(p), f"listed: {', '.join(names(p))}")))
    a.case("list-backbone-only", "`zoo list --backbone-only` lists bert_classifier and vit_classifier", "success",
           lambda: a.cli_ok("list", "--backbone-only", timeout=FAST_TIMEOUT, check=lambda p: (
               set(names(p)) == set(backbone), f"listed: {', '.join(names(p))}")))
    for name in backbone:
        a.case(f"info-{name}", f"`zoo info {name}` says BACKBONE ONLY", "success",
               lambda name=name: a.cli_ok("info", name, timeout=FAST_TIMEOUT, check=lambda p: (
                   "BACKBONE ONLY" in p.stdout, next((one_line(line) for line in p.stdout.splitlines()
                                                      if "BACKBONE" in line), "no BACKBONE ONLY line"))))
    a.case("list-both-flags", "`zoo list --pretrained --backbone-only`", "error",
           lambda: a.cli_error("list", "--pretrained", "--backbone-only", timeout=FAST_TIMEOUT))


# ================================================================================= 8. installs


def installs(a: Audit) -> None:
    a.group = "8"
    from zoo import distribute

    def check_one() -> tuple[str, str, dict]:
        code = "from zoo import distribute; distribute.check_one_tensorflow(); print(distribute.tensorflow_distributions())"
        p = a.run([PY, "-c", code], timeout=FAST_TIMEOUT)
        return (*classify_cli_ok(p), {"rc": p.rc})

    a.case("check-one-tensorflow", "python -c 'distribute.check_one_tensorflow()'", "success", check_one)

    def light_import() -> tuple[str, str, dict]:
        code = ("import sys, zoo; zoo.list_models(); zoo.info('cnn_mnist'); "
                "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
        p = a.run([PY, "-c", code], timeout=FAST_TIMEOUT)
        return (*classify_cli_ok(p, lambda p: (p.stdout.strip() == "[]", f"heavy modules imported: {p.stdout.strip()}")),
                {"rc": p.rc})

    a.case("list-info-import-no-tf", "import zoo; list_models(); info(): no TensorFlow imported", "success",
           light_import)

    def tf_config(value: str | None) -> tuple[str, str]:
        with environ(TF_CONFIG=value):
            return api_error(distribute.tf_config)

    a.case("tf-config-not-json", "TF_CONFIG='{not json' then distribute.tf_config()", "error",
           lambda: tf_config("{not json"))

    def multi_worker_without_config() -> tuple[str, str, dict]:
        report, p = a.api_subprocess("from zoo import distribute\nresult = distribute.get_strategy('multi_worker')",
                                     timeout=FAST_TIMEOUT * 2)
        return (*child_outcome(report, p), {"rc": p.rc})

    a.case("multi-worker-no-tf-config", "distribute.get_strategy('multi_worker') without TF_CONFIG (child)", "error",
           multi_worker_without_config)


# ==================================================================================== 9. a full disk


@contextlib.contextmanager
def small_disk(a: Audit, name: str, size: str = "300k"):
    """A folder on a tmpfs of ``size`` (None where mounting is refused: not root, no CAP_SYS_ADMIN), unmounted
    afterwards."""
    folder = a.tmp / "disks" / name
    folder.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True,
                          text=True)
    try:
        yield folder if done.returncode == 0 else None
    finally:
        if done.returncode == 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, leave: int) -> None:
    free = shutil.disk_usage(folder).free - leave
    with open(folder / "filler", "wb") as f:
        with contextlib.suppress(OSError):
            while free > 0:
                chunk = min(free, 1 << 16)
                f.write(b"\0" * chunk)
                f.flush()
                free -= chunk


def _left(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name != "filler")


def full_disk(a: Audit) -> None:
    a.group = "9"

    def on_full_disk(name: str, args: Callable[[Path], list], leave: int = 64 << 10,
                     timeout: float = CLI_TIMEOUT) -> tuple[str, str, dict] | tuple[str, str]:
        with small_disk(a, name) as disk:
            if disk is None:
                return "skipped", "cannot mount a size-limited tmpfs here (needs root or CAP_SYS_ADMIN)"
            fill(disk, leave)
            p = a.zoo(*args(disk), timeout=timeout)
            p.stderr = "\n".join(line for line in p.stderr.splitlines()  # zoo's notes before the error are fine
                                  if not (line.startswith("zoo: ") and not line.startswith("zoo: error:")))
            outcome, message = classify_cli_error(p, expect=r"no space left on the device .*needs")
            detail = {"rc": p.rc, "argv": p.args[2:]}
            left = _left(disk)
            if outcome == "clean" and left:
                return "silent", f"{message}; but left on the disk: {', '.join(left)}", detail
            return outcome, message, detail

    a.case("train-full-disk-cli", "`zoo train cnn_mnist --data IMGS --model-dir FULL/run` on a 300 KB tmpfs",
           "one line naming the path and the space, exit 2, no signal, no folder left",
           lambda: on_full_disk("train", lambda d: ["train", "cnn_mnist", "--epochs", "1", "--data", a.images(),
                                                    "--model-dir", d / "run", "--verbose", "0"],
                                leave=200 << 10, timeout=TRAIN_TIMEOUT))
    for fmt, target in (("saved_model", "exp"), ("keras", "m.keras"), ("tflite", "m.tflite")):
        a.case(f"export-{fmt}-full-disk-cli", f"`zoo export cnn_mnist FULL/{target} --format {fmt}` (64 KB free)",
               "one line, exit 2, nothing left",
               lambda fmt=fmt, target=target: on_full_disk(f"export_{fmt}", lambda d: [
                   "export", "cnn_mnist", d / target, "--format", fmt]))

    def download() -> tuple[str, str]:
        import zoo
        from zoo import manifest

        default = manifest.weights_for("cnn_mnist")[0]
        info = dataclasses.replace(default, file=f"served-{default.file}", tag="served", default=False,
                                   url=default.bundled_path.as_uri())
        empty = a.tmp / "empty_bundle_disk"
        empty.mkdir(exist_ok=True)
        with small_disk(a, "download") as disk:
            if disk is None:
                return "skipped", "cannot mount a size-limited tmpfs here"
            fill(disk, 64 << 10)
            with forged_manifest(info, empty), environ(ZOO_HOME=str(disk), ZOO_OFFLINE=None):
                outcome, message = api_error(lambda: zoo.get("cnn_mnist", pretrained="served", compile=False),
                                             expect="no space left on the device")
            left = _left(disk)
            if outcome == "clean" and [p for p in left if p != "weights"]:
                return "silent", f"{message}; but left in the cache: {', '.join(left)}"
            return outcome, message

    a.case("download-full-disk-api", "weights downloaded (file:// URL) into a ZOO_HOME with 64 KB free",
           "DiskFullError, nothing in the cache", download)

    def read_only_home() -> tuple[str, str, dict] | tuple[str, str]:
        with small_disk(a, "ro_home", "64k") as disk:
            if disk is None:
                return "skipped", "cannot mount a tmpfs here"
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
            return forged_download(a, disk, "ro")

    a.case("zoo-home-read-only-download", "ZOO_HOME on a read-only filesystem, weights to download", "error",
           read_only_home)


def forged_download(a: Audit, home: Path, name: str) -> tuple[str, str]:
    """zoo.get of weights that must be downloaded (from a closed port) into ``home``: an error naming ZOO_HOME,
    and nothing left in the cache."""
    import zoo
    from zoo import manifest

    default = manifest.weights_for("cnn_mnist")[0]
    info = dataclasses.replace(default, file=f"cnn_mnist-{name}-00000000.weights.h5",
                               url="http://127.0.0.1:9/cnn_mnist-forged.weights.h5")
    empty = a.tmp / "empty_bundle"
    empty.mkdir(exist_ok=True)
    with forged_manifest(info, empty), environ(ZOO_HOME=str(home), ZOO_OFFLINE=None):
        outcome, message = api_error(lambda: zoo.get("cnn_mnist", pretrained=True, compile=False), expect="ZOO_HOME")
    cache = home / "weights"
    left = sorted(p.name for p in cache.iterdir()) if cache.is_dir() else []
    if left and outcome == "clean":
        return "failed", f"{message}; but left in the cache: {', '.join(left)}"
    return outcome, message


# ================================================================== 10. an export's parts vouch for each other


def text_tflite(a: Audit) -> Path:
    """A small transformer_imdb exported to TFLite (its description and vocabulary beside it)."""
    def make() -> Path:
        import zoo

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            small = zoo.get("transformer_imdb", compile=False, sequence_length=16, embedding_dim=16,
                            intermediate_dim=32)
            return zoo.export(small, a.tmp / "text_tflite" / "t.tflite", format="tflite")
    (a.tmp / "text_tflite").mkdir(exist_ok=True)
    return a.fixture("text_tflite", make)


def export_parts(a: Audit) -> None:
    a.group = "10"

    def spoiled(name: str, spoil: Callable[[Path], None], expect: str) -> tuple[str, str, dict]:
        source = text_tflite(a)
        folder = a.tmp / "spoiled" / name
        folder.mkdir(parents=True)
        for f in source.parent.glob("t.*"):
            shutil.copy(f, folder / f.name)
        spoil(folder / "t.tflite")
        return a.cli_error("predict", folder / "t.tflite", "this film was a waste of time", expect=expect)

    def vocabulary(change: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
        def spoil(path: Path) -> None:
            v = path.with_suffix(".vocab.txt")
            v.write_text("\n".join(change(v.read_text().splitlines())) + "\n")
        return spoil

    def description(change: Callable[[dict], None]) -> Callable[[Path], None]:
        def spoil(path: Path) -> None:
            d = path.with_suffix(".zoo.json")
            about = json.loads(d.read_text())
            change(about)
            d.write_text(json.dumps(about))
        return spoil

    def foreign_model(path: Path) -> None:
        import zoo

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            other = zoo.export("cnn_mnist", a.tmp / "spoiled" / "cnn.tflite", format="tflite")
        shutil.copy(other, path)

    def elsewhere(about: dict) -> None:  # as zoo writes it now, and as it did before its parts had hashes
        if "parts" in about:
            about["parts"]["vocabulary"]["file"] = "/etc/passwd"
        about["preprocessing"]["vocabulary_file"] = "/etc/passwd"

    cases = {
        "vocabulary-shuffled": ("the vocabulary's lines reversed", vocabulary(lambda v: v[:2] + v[2:][::-1]),
                                "sha256 mismatch"),
        "vocabulary-truncated": ("the vocabulary cut to half", vocabulary(lambda v: v[: len(v) // 2]),
                                 "sha256 mismatch"),
        "tflite-of-another-model": ("cnn_mnist's .tflite under the text model's name", foreign_model,
                                    "not the model file"),
        "foreign-tokenizer": ("a description naming keras>Dense as its tokenizer", description(
            lambda d: d["preprocessing"]["tokenizer"].update(registered_name="keras>Dense", class_name="Dense",
                                                             module="keras.layers")), "not one of zoo's"),
        "vocabulary-elsewhere": ("a description naming /etc/passwd as its vocabulary", description(
            elsewhere), "not a file beside it"),
        "no-recorded-hashes": ("a description without its parts' sha256 (an older export)", description(
            lambda d: d.pop("parts", None)), "sha256"),
    }
    for key, (what, spoil, expect) in cases.items():
        a.case(f"tflite-{key}", f"`zoo predict t.tflite TEXT`, {what}", "error naming the file",
               lambda key=key, spoil=spoil, expect=expect: spoiled(key, spoil, expect))

    a.case("tflite-text-valid", "`zoo predict t.tflite TEXT` of an export as written", "success",
           lambda: a.cli_ok("predict", text_tflite(a), "a fine film", check=lambda p: (
               "positive" in p.stdout or "negative" in p.stdout, one_line(p.first_out(), 200))))


# ===================================================================================== 11. names


def run_with_class_names(a: Audit, name: str, names: Any) -> Path:
    """A copy of the finished folder run with its class_names.json holding ``names``; its best weights."""
    run = resume_copy(a, f"names_{name}")
    record = run / "class_names.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "class_names": names}))
    return run / "best.weights.h5"


def names(a: Audit) -> None:
    a.group = "11"
    import zoo

    for key, value in {"escape": ["circle", "\x1b[2K\rcross: 100.0%", "line"], "newline": ["a", "b\nc", "d"],
                       "string": "abc", "repeated": ["a", "a", "b"], "empty": ["a", "", "c"]}.items():
        a.case(f"class-names-json-{key}", f"`zoo predict cnn_mnist --pretrained RUN digit.png`, class_names.json "
               f"holding {value!r}", "error naming the file",
               lambda key=key, value=value: a.cli_error("predict", "cnn_mnist", "--pretrained",
                                                        run_with_class_names(a, key, value), a.digit(),
                                                        expect="class_names.json"))

    def folder_with(key: str, name: str) -> Path:
        root = a.tmp / "named_folders" / key
        shutil.copytree(a.images(), root)
        (root / "circle").rename(root / name)
        return root

    for key, name in {"escape": "\x1b[31mred", "newline": "two\nlines", "bidi": "\u202eelcric"}.items():
        a.case(f"folder-name-{key}", f"zoo.train(data=IMGS with a class folder named {name!r})", "error naming it",
               lambda key=key, name=name: api_error(lambda: zoo.train(
                   "cnn_mnist", epochs=1, data=str(folder_with(key, name)), model_dir=str(a.tmp / "runs" / "named"),
                   verbose=0), expect="cannot be a class name"))

    def escaped(*extra: str) -> tuple[str, str, dict]:
        path = a.tmp / "inputs" / "\x1b[2K\rdigit.png: 7 100.0%\n.png"
        shutil.copy(a.digit(), path)
        p = a.zoo("predict", "cnn_mnist", path, *extra)
        outcome, message = classify_cli_ok(p, lambda p: (
            "\x1b" not in p.stdout and "\r" not in p.stdout,
            "raw escape sequence in the output" if "\x1b" in p.stdout else one_line(p.stdout.encode(
                "unicode_escape").decode(), 200)))
        return outcome, message, {"rc": p.rc}

    a.case("input-name-escape-text", "`zoo predict cnn_mnist $'\\x1b[2K\\r...png'` (text output)",
           "success, the name escaped", escaped)
    a.case("input-name-escape-json", "`zoo predict cnn_mnist $'\\x1b[2K\\r...png' --json`",
           "success, the name escaped", lambda: escaped("--json"))


# ===================================================================================== 12. folders


def folders(a: Audit) -> None:
    a.group = "12"
    import zoo

    def train_on(name: str, change: Callable[[Path], None]) -> Callable[[], Any]:
        root = a.tmp / "folder_cases" / name
        shutil.copytree(a.images(), root)
        change(root)
        return lambda: zoo.train("cnn_mnist", epochs=1, data=str(root), model_dir=str(a.tmp / "runs" / name),
                                 verbose=0)

    def validation_only(root: Path) -> None:
        for cls in ("circle", "cross", "line", "star"):
            (root / "validation" / cls).mkdir(parents=True)
            shutil.copy(root / "circle" / "0.png", root / "validation" / cls / "0.png")

    def one_file(root: Path) -> None:
        for f in sorted((root / "line").iterdir())[1:]:
            f.unlink()

    a.case("validation-only-class", "zoo.train(data=IMGS whose validation/ holds a class training lacks)",
           "error naming it", lambda: api_error(train_on("val_only", validation_only), expect="star"))
    a.case("class-too-small-to-carve", "zoo.train(data=IMGS with a class of one image, no validation/)",
           "error naming the class", lambda: api_error(train_on("one_file", one_file), expect="line"))

    def counts() -> tuple[str, str, dict]:
        p = a.zoo("train", "cnn_mnist", "--epochs", "1", "--data", a.images(), "--model-dir",
                  a.tmp / "runs" / "counts", "--verbose", "2", timeout=TRAIN_TIMEOUT)
        line = next((ln for ln in p.stdout.splitlines() if "classes; train" in ln), "")
        outcome, message = classify_cli_ok(p, lambda p: (
            bool(re.search(r"train circle \d+, cross \d+, line \d+; validation circle \d+, cross \d+, line \d+",
                           line)), line or "no line of counts per class and split"))
        return outcome, message, {"rc": p.rc}

    a.case("counts-printed", "`zoo train cnn_mnist --data IMGS` prints the files per class and split", "success",
           counts)


# ============================================================================== 13. typed arguments


def typed_arguments(a: Audit) -> None:
    a.group = "13"
    import zoo

    a.case("include-top-string", "zoo.get(cnn_mnist, include_top='False')", "error",
           lambda: api_error(lambda: zoo.get("cnn_mnist", include_top="False"), expect="True or False"))
    a.case("train-num-gpus-negative-api", "zoo.train(cnn_mnist, num_gpus=-1, data=IMGS)", "error before training",
           lambda: api_error(lambda: zoo.train("cnn_mnist", epochs=1, num_gpus=-1, data=str(a.images()),
                                               model_dir=str(a.tmp / "runs" / "gpus_api"), verbose=0)))
    a.case("train-resume-string", "zoo.train(cnn_mnist, resume='no', data=IMGS)", "error before training",
           lambda: api_error(lambda: zoo.train("cnn_mnist", epochs=1, resume="no", data=str(a.images()),
                                               model_dir=str(a.tmp / "runs" / "resume_str"), verbose=0)))

    def generate(*extra: str, prompt: str = "ROMEO:") -> tuple[str, str, dict]:
        return a.cli_error("generate", "char_lstm_shakespeare", prompt, "--max-length", "40", *extra)

    a.case("generate-top-k-huge", "`zoo generate char_lstm_shakespeare ROMEO: --sampler top_k --top-k 1000000000`",
           "error", lambda: generate("--sampler", "top_k", "--top-k", "1000000000"))
    a.case("generate-seed-huge", "`zoo generate char_lstm_shakespeare ROMEO: --sampler top_k --seed 2**64`",
           "error", lambda: generate("--sampler", "top_k", "--seed", str(2**64)))
    a.case("generate-out-of-vocabulary", "`zoo generate char_lstm_shakespeare 'ROMÉO:'` (É beyond its 128 code "
           "points)", "error naming the character", lambda: generate(prompt="ROMÉO:"))
    a.case("predict-empty-text", "`zoo predict lstm_imdb ''`", "error",
           lambda: a.cli_error("predict", "lstm_imdb", ""))
    a.case("predict-blank-text-api", "zoo.predict(transformer_imdb, ['   '])", "error",
           lambda: api_error(lambda: zoo.predict("transformer_imdb", ["   "])))

    def huge_npy() -> tuple[str, str, dict]:
        path = a.tmp / "inputs" / "huge.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(20_000, 20_000, 3)).flush()  # sparse
        t0 = time.monotonic()
        outcome, message = api_error(lambda: zoo.predict("cnn_mnist", [path]), expect="refused unread")
        seconds = time.monotonic() - t0
        path.unlink()
        if outcome == "clean" and seconds > 2:
            return "silent", f"refused, but after {seconds:.1f} s: read first? {message}", {}
        return outcome, f"{message} [{seconds:.2f} s]", {"seconds": round(seconds, 2)}

    a.case("npy-20000x20000x3", "zoo.predict(cnn_mnist, [a 20000x20000x3 uint8 .npy])", "refused by its header, at once",
           huge_npy)


# ===================================================================================== report


def table(cases: list[Case]) -> str:
    rows = [("case", "class", "tried", "expected", "outcome", "message")]
    for c in cases:
        rows.append((c.id, c.group, c.tried, c.expected, c.outcome, one_line(c.message, 400)))
    limits = (40, 18, 60, 30, 11, 110)
    out = []
    for i, row in enumerate(rows):
        cells = [textwrap.shorten(cell, width=w, placeholder="...") if len(cell) > w else cell
                 for cell, w in zip(row, limits)]
        widths = [min(w, max(len(r[k]) for r in rows)) for k, w in enumerate(limits)]
        out.append("  ".join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def summary(cases: list[Case]) -> dict[str, Any]:
    by_group: dict[str, dict[str, int]] = {}
    for c in cases:
        counts = by_group.setdefault(c.group, {})
        counts[c.outcome] = counts.get(c.outcome, 0) + 1
    by_outcome = {o: sum(1 for c in cases if c.outcome == o) for o in OUTCOMES if any(c.outcome == o for c in cases)}
    return {"cases": len(cases), "by_class": by_group, "by_outcome": by_outcome,
            "not_clean": [{"id": c.id, "outcome": c.outcome, "message": c.message} for c in cases
                          if c.outcome in NOT_CLEAN]}


def print_summary(s: dict[str, Any], seconds: float) -> None:
    print(f"\n{s['cases']} cases in {seconds:.0f} s")
    present = [o for o in OUTCOMES if o in s["by_outcome"]]
    print(f"{'class':<22}" + "".join(f"{o:>12}" for o in present) + f"{'total':>8}")
    for group in GROUPS.values():
        counts = s["by_class"].get(group)
        if counts:
            print(f"{group:<22}" + "".join(f"{counts.get(o, 0):>12}" for o in present) + f"{sum(counts.values()):>8}")
    print(f"{'all':<22}" + "".join(f"{s['by_outcome'][o]:>12}" for o in present) + f"{s['cases']:>8}")
    if s["not_clean"]:
        print("\nnot clean:")
        for c in s["not_clean"]:
            print(f"  {c['id']:<38} {c['outcome']:<11} {one_line(c['message'], 200)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--only", help="comma-separated prefixes of case ids to run (e.g. '3.,5.serving')")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    only = [p.strip() for p in args.only.split(",")] if args.only else None

    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="zoo-hostile-"))
    audit = Audit(tmp, only)
    # This process runs API cases too: the same offline, private cache, quiet TensorFlow.
    os.environ.update({"ZOO_OFFLINE": "1", "ZOO_HOME": str(tmp / "zoo_home"), "TF_CPP_MIN_LOG_LEVEL": "2"})
    for name in ("ZOO_DEBUG", "TF_CONFIG"):
        os.environ.pop(name, None)
    print(f"zoo hostile cases: temporary folder {tmp}; uid {os.geteuid()}; {PY}", flush=True)
    try:
        for group in (pretrained_listing, installs, two_writers, os_error_paths, bad_values, resources, serving,
                      verify, full_disk, export_parts, names, folders, typed_arguments):
            group(audit)
    finally:
        audit.cleanup()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.monotonic() - t0
    order = {g: i for i, g in enumerate(GROUPS.values())}
    cases = sorted(audit.cases, key=lambda c: order[c.group])
    print()
    print(table(cases))
    s = summary(cases)
    print_summary(s, seconds)
    if args.out:
        Path(args.out).write_text(json.dumps({
            "command": " ".join([Path(PY).name, *sys.argv]), "seconds": round(seconds, 1), "uid": os.geteuid(),
            "summary": s, "cases": [dataclasses.asdict(c) for c in cases]}, indent=2, default=str) + "\n")
        print(f"\nwrote {args.out}")
    return 0 if all(c.outcome not in NOT_CLEAN for c in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
