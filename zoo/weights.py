"""Weight files: find them (bundled, cached, downloaded or local), check their full sha256, load them.

The sha256 is checked on every load, cache hits included, before anything touches the model. Loading is
weights-only (``.weights.h5`` through ``model.load_weights``): nothing is unpickled and no ``.keras`` file is
ever loaded with ``safe_mode=False``. Downloads go to ``$ZOO_HOME/weights`` (default
``~/.cache/zoo/weights``) through a temporary file that is renamed only once it is complete and verified.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import tempfile
import urllib.error
import warnings
import urllib.request
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from zoo import manifest
from zoo.settings import cache, home, offline  # noqa: F401 - zoo.weights.home() stays public
from zoo._io import atomic_path, exclusive, is_disk_full, remove_leftovers, sha256_file
from zoo.errors import WeightsError
from zoo.manifest import WeightsInfo
from zoo.registry import ModelCard

log = logging.getLogger("zoo")
WEIGHTS_SUFFIX = ".weights.h5"
DOWNLOAD_TIMEOUT_S = 30


def find(card: ModelCard, pretrained: bool | str) -> WeightsInfo:
    """The manifest entry that ``pretrained`` (True for the default, or a tag) names for this model."""
    available = manifest.weights_for(card.name)
    if not available and card.presets:
        raise WeightsError(
            f"{card.name} has no weight sets trained by zoo; pretrained=True loads a keras-hub preset's weights "
            f"(preset=NAME: {', '.join(p.name for p in card.presets)}, or a local preset folder)")
    if not available:
        raise WeightsError(f"{card.name} has no pretrained weights yet: {card.notes or 'none were trained'}")
    if pretrained is True:
        return available[0]
    for info in available:
        if info.tag == pretrained:
            return info
    tags = ", ".join(repr(w.tag) for w in available)
    raise WeightsError(f"{card.name} has no weights tagged {pretrained!r}; available: {tags}")


def check_sha256(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected.lower():
        raise WeightsError(
            f"{path}: sha256 mismatch: expected {expected.lower()}, got {actual}; the file is corrupt or not the "
            f"one the manifest describes, and nothing was loaded (delete it to fetch it again)"
        )


def _download(url: str, target: Path, info: WeightsInfo) -> None:
    from tqdm.auto import tqdm

    with atomic_path(target, suffix=WEIGHTS_SUFFIX, needed=info.size) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or info.size or 0)
                with tqdm(total=total or None, unit="B", unit_scale=True, desc=f"zoo: {info.file}", leave=False) as bar:
                    while chunk := response.read(1 << 16):
                        out.write(chunk)
                        bar.update(len(chunk))
            got = tmp.stat().st_size
            if got != info.size:
                raise WeightsError(f"download of {url} was cut off: got {got} of {info.size} bytes; nothing was kept")
            check_sha256(tmp, info.sha256)
        except WeightsError:
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            if is_disk_full(e):  # the cache's device, not the download: atomic_path says so
                raise
            raise WeightsError(f"could not download {url}: {e}; nothing was kept (retry, or put the file at {target})") from e


def fetch(info: WeightsInfo) -> Path:
    """The verified local path of a manifest entry's file: bundled, cached, or downloaded into the cache."""
    if info.bundled_path.exists():
        check_sha256(info.bundled_path, info.sha256)
        return info.bundled_path
    cached = home() / "weights" / info.file
    if cached.exists():
        check_sha256(cached, info.sha256)
        return cached
    if info.url is None:
        raise WeightsError(f"{info.full_name}: {info.file} should be bundled in the package but is missing: reinstall zoo")
    if offline():
        raise WeightsError(
            f"{info.full_name}: {info.file} is not in the cache and ZOO_OFFLINE=1 forbids downloading it; "
            f"fetch {info.url} elsewhere and put it at {cached}"
        )
    cache("weights")  # a ZOO_HOME that cannot hold the cache is said so before any download
    # One download per file: a second process wanting it waits for the first, then finds it in the cache.
    with exclusive(cached.parent / f".{info.file}.lock", f"zoo downloading {info.file}", wait=True, remove=True):
        if cached.exists():
            check_sha256(cached, info.sha256)
            return cached
        remove_leftovers(cached.parent, info.file)  # of a download killed midway
        _download(info.url, cached, info)
    return cached


def asset_hparams(info: WeightsInfo) -> dict[str, str]:
    """The builder arguments naming the files the weights need (a vocabulary), each checked by sha256."""
    out = {}
    for hparam, asset in info.assets.items():
        path = manifest.ASSETS_DIR / asset["file"]
        if not path.is_file():
            raise WeightsError(f"{info.full_name} needs {path}, which is missing: reinstall zoo")
        check_sha256(path, asset["sha256"])
        out[hparam] = str(path)
    return out


def local_file(path: str | os.PathLike[str], sha256: str | None = None) -> Path:
    """A user's own weights file, checked to be a ``.weights.h5`` (and against ``sha256`` when given)."""
    path = Path(path).expanduser()
    if path.suffix == ".keras":
        raise WeightsError(
            f"{path}: zoo loads weights only (.weights.h5); a whole .keras model is loaded with "
            f"keras.saving.load_model(path), which keeps safe_mode on"
        )
    if not str(path).endswith(WEIGHTS_SUFFIX):
        raise WeightsError(f"{path}: expected a Keras weights file ending in {WEIGHTS_SUFFIX}")
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    if sha256 is not None:
        check_sha256(path, sha256)
    return path


def load_into(model: Any, path: Path) -> None:
    """Load a verified weights file into a built model; a file that does not fit raises WeightsError."""
    with warnings.catch_warnings(record=True) as caught, _nested_layout(model, path) as readable:
        warnings.simplefilter("always")
        try:
            model.load_weights(str(readable))
        except (ValueError, KeyError, OSError) as e:
            raise WeightsError(f"{path}: these weights do not fit {model.name}: {str(e).splitlines()[0]}") from e
        # Keras skips what does not match with a warning and leaves fresh weights there: refuse that.
        skipped = [str(w.message) for w in caught if "Skipping" in str(w.message) and "optimizer" not in str(w.message)]
        if skipped:
            raise WeightsError(f"{path}: these weights do not fit {model.name}: {skipped[0].splitlines()[0]}")
        # And it ignores what the file holds beyond the model (a layer the model lacks, such as the hashed
        # bigrams of another configuration), without a word: refuse that too.
        held = _arrays_in(readable)
        if held is not None and held > len(model.weights):
            raise WeightsError(f"{path}: these weights do not fit {model.name}: the file holds {held} arrays and "
                               f"the model {len(model.weights)} (weights of another configuration of it?)")


def _arrays_in(path: Path) -> int | None:
    """The arrays of a Keras ``.weights.h5`` file, its optimizer's left out (None for another format)."""
    if not str(path).endswith(WEIGHTS_SUFFIX):
        return None
    import h5py

    found: list[str] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda key, item: found.append(key)
                     if isinstance(item, h5py.Dataset) and not key.startswith("optimizer") else None)
    return len(found)


@contextlib.contextmanager
def _nested_layout(model: Any, path: Path) -> Iterator[Path]:
    """``path``, or, for a zoo text task given a file of the flat layout its model had before it had a backbone
    (all layers side by side: the weight sets and runs of zoo 0.1), a temporary copy with the body's layers
    moved under the backbone's group, where Keras looks for them now. Keras names the groups by layer class,
    so the model's own layout is read from a save of it (only for a flat file)."""
    from zoo.models.text import ZooBackbone

    if not isinstance(getattr(model, "backbone", None), ZooBackbone) or not str(path).endswith(WEIGHTS_SUFFIX):
        yield path
        return
    import h5py

    with h5py.File(path, "r") as f:
        old = set(f["layers"].keys()) if "layers" in f else set()
    if not old or any(key.endswith("backbone") for key in old):  # nested already (or not Keras'): as it is
        yield path
        return
    with tempfile.TemporaryDirectory() as tmp:
        wanted, nested = Path(tmp) / "wanted.weights.h5", Path(tmp) / "nested.weights.h5"
        model.save_weights(str(wanted))
        with h5py.File(wanted, "r") as f:
            top = set(f["layers"].keys())  # the head's group(s) and the backbone's
        (group,) = (key for key in top if key.endswith("backbone"))
        with h5py.File(path, "r") as f, h5py.File(nested, "w") as out:
            out.attrs.update(dict(f.attrs))
            for key in f:
                if key != "layers":
                    f.copy(f[key], out, key)
            for key in old:
                f.copy(f["layers"][key], out, f"layers/{key}" if key in top else f"layers/{group}/layers/{key}")
        yield nested


def is_path(pretrained: Any) -> bool:
    return isinstance(pretrained, (str, os.PathLike)) and (
        str(pretrained).endswith((WEIGHTS_SUFFIX, ".keras", ".h5")) or os.sep in str(pretrained)
    )
