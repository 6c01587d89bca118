"""Image files as a model's input: read with Pillow (or NumPy), converted and resized as its card says."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import InputError
from zoo.schema import ModelCard

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".npy")


MAX_PIXELS = 50_000_000  # about 7,000 x 7,000: any photograph; a header claiming more is refused unread


def _eight_bit(image: Any) -> Any:
    """A 16-bit grayscale image (PNG "I;16", or "I") scaled to 8 bits: Pillow's convert("L") clips it instead,
    so that every value above 255 becomes white."""
    from PIL import Image

    if image.mode.startswith("I;16") or (image.mode == "I" and np.asarray(image).max() > 255):
        wide = np.asarray(image).astype(np.float64)
        return Image.fromarray(np.round(wide / 257.0).clip(0, 255).astype(np.uint8), mode="L")
    return image


def _check_npy_header(path: Path) -> None:
    """An NPY file's header read alone, before its data: an image of more than MAX_PIXELS (or more bytes than
    the largest one allowed, RGB in int64) is refused unread, as a PNG's header is; NumPy would read a 20,000 x
    20,000 x 3 file whole. A ValueError for a file that is not an NPY file of version 1 or 2."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version not in readers:
            raise ValueError(f"NPY format version {version[0]}.{version[1]}; zoo reads versions 1.0 and 2.0")
        shape, _, dtype = readers[version](f)
    pixels = int(np.prod(shape[:2], dtype=np.int64))
    if pixels > MAX_PIXELS or int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > MAX_PIXELS * 3 * 8:
        raise InputError(f"{path}: an array of shape {shape} ({dtype}), more than the {MAX_PIXELS:,} pixels zoo "
                         f"reads (refused unread)")


def read_image(path: str | os.PathLike[str], card: ModelCard | tuple[int, int, int]) -> np.ndarray:
    """One image file as the model's input: (H, W, C) uint8, grayscale or RGB as the card's input spec (or the
    shape given) says.

    PNG/JPEG/BMP/GIF are read with Pillow, converted to the card's channels and resized (bilinear) to its
    height and width. An NPY file holds one image, (H, W) or (H, W, C), uint8 (or integer values in 0..255).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    height, width, channels = card if isinstance(card, tuple) else card.input.shape
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(f"{path}: expected an image ({', '.join(IMAGE_SUFFIXES)})")
    if path.suffix.lower() == ".npy":
        try:
            _check_npy_header(path)
            array = np.load(path, allow_pickle=False)
        except InputError:
            raise
        except (ValueError, EOFError, OSError) as e:
            raise InputError(f"{path}: not a plain NumPy array file ({e or 'empty file'})") from e
        if array.size == 0:
            raise InputError(f"{path}: an empty array {array.shape}; expected one image (H, W) or (H, W, 1|3)")
        if array.ndim == 2:
            array = array[..., None]
        if array.ndim != 3 or array.shape[-1] not in (1, 3):
            raise InputError(f"{path}: expected one image of shape (H, W) or (H, W, 1|3), got {array.shape}")
        if not np.issubdtype(array.dtype, np.integer) or array.min() < 0 or array.max() > 255:
            raise InputError(f"{path}: expected uint8 pixel values 0..255, got {array.dtype} in "
                             f"[{array.min()}, {array.max()}]")
        image = Image.fromarray(array.astype(np.uint8).squeeze(-1) if array.shape[-1] == 1 else array.astype(np.uint8))
    else:
        try:
            with warnings.catch_warnings():  # PIL's own warning above 89M pixels: zoo refuses at MAX_PIXELS itself
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(path)  # reads the header only
            if image.size[0] * image.size[1] > MAX_PIXELS:
                raise InputError(f"{path}: an image of {image.size[0]} x {image.size[1]} pixels, more than the "
                                 f"{MAX_PIXELS:,} zoo reads (a decompression bomb?)")
            image.load()
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
            raise InputError(f"{path}: cannot be read as an image ({e})") from e
        image = _eight_bit(image)
    image = image.convert("L" if channels == 1 else "RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if channels == 1 else array
