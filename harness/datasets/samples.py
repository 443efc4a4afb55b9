"""Samples made elsewhere, read into the harness's image layout: uint8 (n, C, H, W).

`harness score` reads a diffusion model's outputs, a published checkpoint's samples or a folder
of PNGs with this module, then scores them exactly like a trained run's samples. Everything is
checked before anything is written: shape against the dataset's images, values (no NaN, a range
of [0, 1] or [0, 255], or the stated one), readability of every file. Nothing is resized or
converted between colour spaces: that would change what is measured.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.core.errors import HarnessError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
RANGES = {"0,1": (0.0, 1.0), "0,255": (0.0, 255.0), "-1,1": (-1.0, 1.0)}  # what `--range` may state
ARRAY_KEYS = ("samples", "images", "x", "arr_0")  # looked for, in this order, in an .npz


class SamplesError(HarnessError):
    """Samples that cannot be scored: the message names the file and what to do (exit 2, nothing written)."""

    exit_code = 2


@dataclass(frozen=True)
class ExternalSamples:
    """Images read from `source`, as uint8 (n, C, H, W), with how they were read (recorded with their scores)."""

    images: np.ndarray
    source: Path
    sha256: str  # of the files as read: the entry's identity
    layout: str  # "NCHW", "NHWC", "NHW" or "image files"
    value_range: str  # "0,1", "0,255" or "-1,1"
    range_source: str  # "stated" or "inferred"
    dtype: str

    def record(self) -> dict[str, object]:
        return {"samples": str(self.source), "sha256": self.sha256, "images": len(self.images), "layout": self.layout,
                "range": self.value_range, "range_source": self.range_source, "dtype": self.dtype}


def read_samples(source: str | Path, image_shape: tuple[int, int, int], value_range: str | None = None) -> ExternalSamples:
    """`source` (.npz, .npy or a folder of PNG/JPEG files) as images of `image_shape` (C, H, W)."""
    source = Path(source)
    if value_range is not None and value_range not in RANGES:
        raise SamplesError(f"--range {value_range!r}: expected one of {', '.join(RANGES)}")
    if source.is_dir():
        return _read_folder(source, image_shape, value_range)
    if not source.is_file():
        raise SamplesError(f"{source}: no such file or folder; give an .npz/.npy array or a folder of PNG/JPEG images")
    if source.suffix not in (".npz", ".npy"):
        raise SamplesError(f"{source}: expected an .npz or .npy array, or a folder of PNG/JPEG images")
    array = _load_array(source)
    images, layout = _to_nchw(array, image_shape, source)
    value_range, how = _value_range(images, value_range, source)
    return ExternalSamples(_to_uint8(images, value_range), source.resolve(), _file_sha256([source]), layout,
                           value_range, how, str(array.dtype))


def _load_array(path: Path) -> np.ndarray:
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as archive:
            key = next((k for k in ARRAY_KEYS if k in archive.files), None)
            if key is None:
                if len(archive.files) != 1:
                    raise SamplesError(f"{path}: holds arrays {', '.join(archive.files) or '(none)'}; name the samples "
                                       f"array one of {', '.join(ARRAY_KEYS)}, or save only that array")
                key = archive.files[0]
            return archive[key]
    except SamplesError:
        raise
    except (OSError, ValueError, EOFError) as err:
        raise SamplesError(f"{path}: cannot be read as a numpy array ({err}); save it with numpy.save or "
                           "numpy.savez") from None


def _to_nchw(array: np.ndarray, image_shape: tuple[int, int, int], path: Path) -> tuple[np.ndarray, str]:
    channels, height, width = image_shape
    expected = f"(N, {height}, {width})" if channels == 1 else ""
    expected += f"{' or ' if expected else ''}(N, {height}, {width}, {channels}) or (N, {channels}, {height}, {width})"
    if array.dtype.kind not in "uif" or array.dtype.kind == "f" and array.dtype.itemsize > 8:
        raise SamplesError(f"{path}: holds {array.dtype} values; expected uint8 or floating-point images")
    if array.ndim == 3 and channels == 1 and array.shape[1:] == (height, width):
        return array[:, None], "NHW"
    if array.ndim == 4 and array.shape[1:] == (channels, height, width):
        return array, "NCHW"
    if array.ndim == 4 and array.shape[1:] == (height, width, channels):
        return array.transpose(0, 3, 1, 2), "NHWC"
    raise SamplesError(f"{path}: shape {tuple(array.shape)} is not a stack of the dataset's images: expected "
                       f"{expected}; resize them to {height}x{width} with {channels} channel(s) first (the harness "
                       "never resizes: it would change what is measured)")


def _value_range(images: np.ndarray, stated: str | None, path: Path) -> tuple[str, str]:
    if images.dtype.kind == "f" and not np.isfinite(images).all():
        bad = int((~np.isfinite(images)).reshape(len(images), -1).any(1).sum())
        raise SamplesError(f"{path}: {bad} image(s) hold NaN or infinite values; fix or drop them")
    low, high = float(images.min()), float(images.max())
    if stated is not None:
        lowest, highest = RANGES[stated]
        if low < lowest or high > highest:
            raise SamplesError(f"{path}: values span [{low:g}, {high:g}], outside the stated --range {stated}")
        return stated, "stated"
    if images.dtype == np.uint8:  # grey levels, even when every value is 0 or 1
        return "0,255", "inferred"
    if 0 <= low and high <= 1:
        return "0,1", "inferred"
    if 0 <= low and high <= 255:
        return "0,255", "inferred"
    raise SamplesError(f"{path}: values span [{low:g}, {high:g}], neither [0, 1] nor [0, 255]; rescale them, or "
                       "state the range with --range -1,1 if they are a tanh's outputs")


def _to_uint8(images: np.ndarray, value_range: str) -> np.ndarray:
    """Grey levels 0..255, as the dataset's images are stored (floats rounded to the nearest level)."""
    low, high = RANGES[value_range]
    if value_range == "0,255" and images.dtype == np.uint8:
        return np.ascontiguousarray(images)
    scaled = (images.astype(np.float64) - low) / (high - low) * 255
    return np.ascontiguousarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def _read_folder(folder: Path, image_shape: tuple[int, int, int], stated: str | None) -> ExternalSamples:
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise SamplesError(f"{folder}: no PNG or JPEG images in it")
    if stated not in (None, "0,255"):
        raise SamplesError(f"--range {stated}: image files hold 0..255 grey levels; leave --range out")
    channels, height, width = image_shape
    images = np.empty((len(files), channels, height, width), dtype=np.uint8)
    for index, path in enumerate(files):
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB") if channels == 3 else _grey(image, path))
        except (OSError, UnidentifiedImageError) as err:
            raise SamplesError(f"{path}: cannot be read as an image ({err}); remove or replace it") from None
        if pixels.shape[:2] != (height, width):
            raise SamplesError(f"{path}: {pixels.shape[1]}x{pixels.shape[0]} pixels; the dataset's images are "
                               f"{width}x{height} (resize them first: the harness never resizes)")
        images[index] = pixels.transpose(2, 0, 1) if pixels.ndim == 3 else pixels[None]
    return ExternalSamples(images, folder.resolve(), _file_sha256(files), "image files", "0,255",
                           "image files (8-bit)", "uint8")


def _grey(image, path: Path):
    """A grey image as it is; a colour one only if its channels agree (else it is not a grey sample)."""
    if image.mode in ("L", "1"):
        return image.convert("L")
    rgb = np.asarray(image.convert("RGB"))
    if not (rgb[..., 0] == rgb[..., 1]).all() or not (rgb[..., 1] == rgb[..., 2]).all():
        raise SamplesError(f"{path}: a colour image, and the dataset's images are grey; convert the samples to grey "
                           "scale first")
    return image.convert("L")


def _file_sha256(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
