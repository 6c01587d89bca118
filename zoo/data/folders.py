"""A user's own data: a folder with one subfolder per class, as ``keras.utils.image_dataset_from_directory``
reads it, of images (for the image models) or ``.txt`` files (for the text classifiers).

    my_data/
      cats/  a.jpg  b.png ...
      dogs/  ...
      validation/          optional: the same classes, held out; else a fixed share is carved from the rest
        cats/ ...  dogs/ ...

Images are converted to the model's channels and resized to its input (bilinear), as ``zoo predict`` does;
files that are not images, or cannot be read, are skipped and counted. The class names are the subfolders'
names, sorted.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo._names import class_name_problem, shown
from zoo.errors import DataFormatError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
VALIDATION = "validation"
_SEED = 20240601  # the carve-out is fixed: it must not move with the training seed


@dataclasses.dataclass
class Folder:
    """What a folder held: the class names and the splits (``zoo.data.Split``), and what was skipped."""

    root: Path
    class_names: tuple[str, ...]
    splits: dict[str, Any]  # "train", "validation"
    skipped: dict[str, int]  # reason -> count


def is_folder(value: Any) -> bool:
    """Whether ``dataset=`` names a folder of the user's rather than a zoo dataset."""
    return isinstance(value, os.PathLike) or (isinstance(value, str) and (os.sep in value or Path(value).is_dir()))


def _classes(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DataFormatError(f"{root}: no such folder; give a folder with one subfolder per class")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and p.name != VALIDATION and not p.name.startswith("."))
    for folder in classes:  # a name from outside is shown to the user: it must be one a terminal shows as it is
        problem = class_name_problem(folder.name)
        if problem is not None:
            raise DataFormatError(f"{shown(folder)}: this folder's name cannot be a class name ({problem}); "
                                  f"rename it")
    if len(classes) < 2:
        found = ", ".join(p.name for p in classes) or "none"
        raise DataFormatError(f"{root}: a classifier needs at least two class subfolders, found {found}")
    return classes


def _read_images(files: list[Path], shape: tuple[int, int, int], skipped: dict[str, int]) -> list[np.ndarray]:
    from zoo.data.images import read_image
    from zoo.errors import InputError

    out = []
    for f in files:
        if f.suffix.lower() not in IMAGE_SUFFIXES:
            skipped["not an image file"] = skipped.get("not an image file", 0) + 1
            continue
        try:
            out.append(read_image(f, shape))
        except InputError:
            skipped["unreadable image"] = skipped.get("unreadable image", 0) + 1
    return out


def _read_texts(files: list[Path], skipped: dict[str, int]) -> list[str]:
    out = []
    for f in files:
        if f.suffix.lower() != ".txt":
            skipped["not a .txt file"] = skipped.get("not a .txt file", 0) + 1
            continue
        try:
            out.append(f.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            skipped["unreadable text"] = skipped.get("unreadable text", 0) + 1
    return out


def _read(root: Path, names: list[str], kind: str, shape: Any, skipped: dict[str, int]) -> tuple[Any, np.ndarray]:
    features: list[Any] = []
    labels: list[int] = []
    for label, name in enumerate(names):
        folder = root / name
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []
        items = _read_images(files, shape, skipped) if kind == "image" else _read_texts(files, skipped)
        features.extend(items)
        labels.extend([label] * len(items))
    if not features:
        raise DataFormatError(f"{root}: no readable {'images' if kind == 'image' else '.txt files'} in the class "
                              f"subfolders ({', '.join(names)})")
    if kind == "image":
        return np.stack(features), np.asarray(labels, np.int32)
    return np.array(features, dtype=object), np.asarray(labels, np.int32)


def load_folder(path: str | os.PathLike[str], *, kind: str, input_shape: Any = None,
                validation_split: float = 0.2) -> Folder:
    """Read a class-per-subfolder folder into train and validation splits: ``validation/`` if there (its
    classes must be the training classes), else a fixed, shuffled ``validation_split`` of each class's files
    (stratified: every class is in both splits, and a class of fewer than two readable files is refused)."""
    from zoo.data import Split

    if kind not in ("image", "text"):
        raise ValueError(f"a folder of your own trains image or text classifiers, not {kind} models")
    root = Path(path).expanduser()
    names = [p.name for p in _classes(root)]
    skipped: dict[str, int] = {}
    shape = tuple(input_shape) if input_shape else None
    x, y = _read(root, names, kind, shape, skipped)
    _every_class_has_files(root, names, y)
    if (root / VALIDATION).is_dir():
        _same_classes(root, names)
        vx, vy = _read(root / VALIDATION, names, kind, shape, skipped)
        _every_class_has_files(root / VALIDATION, names, vy)
    else:
        if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) \
                or not 0 < validation_split < 1:
            raise ValueError(f"{root} has no validation/ folder: validation_split must be a number in (0, 1), got "
                             f"{validation_split!r}")
        held, kept = _carve(root, names, y, validation_split)
        x, y, vx, vy = x[kept], y[kept], x[held], y[held]
    split = lambda name, a, b: Split(str(root), name, "folder", features=a, labels=b, files=(root,))  # noqa: E731
    return Folder(root, tuple(names), {"train": split("train", x, y), "validation": split(VALIDATION, vx, vy)},
                  skipped)


def _every_class_has_files(root: Path, names: list[str], y: np.ndarray) -> None:
    for label, name in enumerate(names):
        if not np.any(y == label):
            raise DataFormatError(f"{shown(root / name)}: no readable files in this class; remove the folder or add "
                                  f"files")


def _same_classes(root: Path, names: list[str]) -> None:
    """``validation/`` holds the training classes, no more (a class it alone has would be ignored)."""
    held = {p.name for p in (root / VALIDATION).iterdir() if p.is_dir() and not p.name.startswith(".")}
    extra, missing = sorted(held - set(names)), sorted(set(names) - held)
    if extra:
        raise DataFormatError(f"{shown(root / VALIDATION)}: class(es) {', '.join(map(repr, extra))} are in "
                              f"validation/ but not in training ({', '.join(names)}); add them to training or remove "
                              f"them from validation/")
    if missing:
        raise DataFormatError(f"{shown(root / VALIDATION)}: class(es) {', '.join(map(repr, missing))} have no "
                              f"validation/ folder; every class must be in both splits")


def _carve(root: Path, names: list[str], y: np.ndarray, validation_split: float) -> tuple[np.ndarray, np.ndarray]:
    """(held, kept) indices: ``validation_split`` of each class's files held out (at least one, and at least one
    kept), drawn by a fixed seed."""
    rng = np.random.default_rng(_SEED)
    held, kept = [], []
    for label, name in enumerate(names):
        files = rng.permutation(np.flatnonzero(y == label))
        if len(files) < 2:
            raise DataFormatError(f"{shown(root / name)}: {len(files)} readable file, too few to be in both the "
                                  f"training and the validation split; add files, or give a validation/ folder")
        cut = min(len(files) - 1, max(1, int(round(len(files) * validation_split))))
        held.append(files[:cut])
        kept.append(files[cut:])
    return np.sort(np.concatenate(held)), np.sort(np.concatenate(kept))


def describe(folder: Folder) -> str:
    """The files of each class in each split, as training prints them at its start."""
    counts = []
    for split in ("train", "validation"):
        labels = folder.splits[split].labels
        counts.append(f"{split} " + ", ".join(f"{shown(n)} {int(np.sum(labels == i))}"
                                              for i, n in enumerate(folder.class_names)))
    return f"zoo: {shown(folder.root)}: {len(folder.class_names)} classes; " + "; ".join(counts)
