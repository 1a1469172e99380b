"""Image-folder datasets: Tiny ImageNet (200 classes, 64x64) and ImageNet (class folders).

Tiny ImageNet layout (the official ``tiny-imagenet-200.zip``)::

    wnids.txt                       one WordNet id per line; class index = position in sorted order
    train/<wnid>/images/*.JPEG      500 per class
    val/images/*.JPEG               10,000 images, labels in val/val_annotations.txt
    val/val_annotations.txt         "<file>\\t<wnid>\\t<bbox...>" per line

``split="test"`` reads ``val`` (the test labels are not public). Decoded splits are cached as
uint8 ``.npy`` files under :func:`~robustlab.core.data.sources.cache_dir` (decoding 100k JPEGs
takes minutes; reading the cache takes a second).

ImageNet layout (torchvision's ``ImageFolder`` style)::

    train/<wnid>/*.JPEG    val/<wnid>/*.JPEG

Class index = position of the folder name in the sorted list of ``train`` folders (``val``'s when
there is no ``train``). Images are resized so the shorter side is round(size / 0.875) (256 for
224) and centre-cropped to size x size. Training images are in class order; validation images
in file-name order (``ILSVRC2012_val_00000001`` ... is the official, class-mixed order), so
``n=1000`` gives a mixed subset. Nothing is cached; a split larger than
:data:`MAX_DECODE_BYTES` as float32 needs ``n``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from robustlab.core.data import sources
from robustlab.core.data.catalog import DATASETS, DatasetSpec
from robustlab.core.data.types import Augment, CorruptDataError, DatasetInfo
from robustlab.core.utils import atomic_write_bytes, get_logger

log = get_logger(__name__)

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
TINY_SIZE = 64
TINY_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
#: Largest ImageNet split ``load`` decodes without ``n`` (bytes of the float32 result).
MAX_DECODE_BYTES = 4 * 2**30


def _images(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def decode_image(path: Path, size: int, center_crop: bool) -> np.ndarray:
    """Decode one image to uint8 (3, size, size) RGB.

    Args:
        path: a JPEG/PNG file (gray or CMYK images are converted to RGB).
        size: output side length.
        center_crop: resize the shorter side to round(size / 0.875) and centre-crop (ImageNet
            evaluation convention); otherwise resize to size x size only if it differs.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise CorruptDataError(
            f"{path}: cannot decode image ({exc}); delete or replace the file"
        ) from None
    if center_crop:
        short = round(size / 0.875)
        w, h = rgb.size
        scale = short / min(w, h)
        rgb = rgb.resize(
            (max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR
        )
        w, h = rgb.size
        left, top = (w - size) // 2, (h - size) // 2
        rgb = rgb.crop((left, top, left + size, top + size))
    elif rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def decode_all(files: list[Path], size: int, center_crop: bool) -> np.ndarray:
    """Decode ``files`` into one uint8 array (N, 3, size, size)."""
    out = np.empty((len(files), 3, size, size), dtype=np.uint8)
    if files:
        log.info("decoding %d images from %s", len(files), files[0].parent.parent)
    for i, path in enumerate(files):
        out[i] = decode_image(path, size, center_crop)
    return out


# --------------------------------------------------------------------------- Tiny ImageNet


def _tiny_classes(directory: Path) -> list[str]:
    wnids = sorted({w.strip() for w in (directory / "wnids.txt").read_text().split() if w.strip()})
    if not wnids:
        raise CorruptDataError(f"{directory / 'wnids.txt'}: no class ids; re-extract the archive")
    return wnids


def _tiny_files(directory: Path, split: str) -> tuple[list[Path], np.ndarray]:
    classes = _tiny_classes(directory)
    index = {w: i for i, w in enumerate(classes)}
    files: list[Path] = []
    labels: list[int] = []
    if split == "train":
        for wnid in classes:
            found = _images(directory / "train" / wnid / "images")
            files += found
            labels += [index[wnid]] * len(found)
        return files, np.asarray(labels, dtype=np.int64)
    ann = directory / "val" / "val_annotations.txt"
    for lineno, line in enumerate(ann.read_text().splitlines(), 1):
        parts = line.split("\t")
        if not line.strip():
            continue
        if len(parts) < 2 or parts[1] not in index:
            raise CorruptDataError(
                f"{ann}:{lineno}: expected '<file>\\t<wnid from wnids.txt>\\t...', got {line!r}"
            )
        files.append(directory / "val" / "images" / parts[0])
        labels.append(index[parts[1]])
    return files, np.asarray(labels, dtype=np.int64)


def _cache_path(directory: Path, split: str, files: list[Path]) -> Path:
    """Cache file of a decoded split, keyed by the directory and the list of file names."""
    digest = hashlib.sha1(str(directory.resolve()).encode())
    for p in files:
        digest.update(p.name.encode())
    key = f"{split}-{len(files)}-{digest.hexdigest()[:16]}"
    return sources.cache_dir() / "tiny-imagenet" / f"{key}.npy"


def _save_npy(path: Path, array: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    atomic_write_bytes(path, buf.getvalue())


def _tiny_reader(directory: Path, split: str, n: int | None, opts: dict[str, Any]) -> Any:
    files, labels = _tiny_files(directory, split)
    x_path = _cache_path(directory, split, files)
    if x_path.is_file():
        try:
            x = np.load(x_path, mmap_mode="r")
            if x.shape == (len(files), 3, TINY_SIZE, TINY_SIZE):
                return (x if n is None else x[:n]), labels, len(files)
        except (ValueError, OSError) as exc:
            log.warning("ignoring unreadable cache %s (%s)", x_path, exc)
    x = decode_all(files if n is None else files[:n], TINY_SIZE, center_crop=False)
    if n is None:
        try:
            _save_npy(x_path, x)
        except OSError as exc:
            log.warning("could not write the decoded-array cache %s (%s)", x_path, exc)
    return x, labels, len(files)


def _tiny_has_split(directory: Path, split: str) -> bool:
    if not (directory / "wnids.txt").is_file():
        return False
    if split == "train":
        return (directory / "train").is_dir()
    return (directory / "val" / "val_annotations.txt").is_file()


def _tiny_download(dest: Path, split: str) -> None:
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(TINY_URL, str(dest), md5="90528d7ca1a48142e341f4ef8d21d0de")


DATASETS.register(
    "tiny-imagenet",
    DatasetSpec(
        # Random crop with 4-pixel padding + flip, as the AT code bases that train on 64x64 Tiny
        # ImageNet (LBGAT/D2R family) do with RandomCrop(64, padding=4).
        info=DatasetInfo(
            "tiny-imagenet", 200, 3, (64, 64), 100000, 10000, Augment(crop_padding=4, hflip=True)
        ),
        subdirs=("tiny-imagenet-200", "tiny-imagenet", "TinyImageNet/tiny-imagenet-200"),
        base_ok=True,
        has_split=_tiny_has_split,
        reader=_tiny_reader,
        fix=f"go online and run `robustlab data ensure tiny-imagenet` (downloads {TINY_URL})",
        download=_tiny_download,
        url=TINY_URL,
    ),
)


# --------------------------------------------------------------------------- ImageNet (folders)


def _class_dirs(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_dir()) if directory.is_dir() else []


def _imagenet_files(directory: Path, split: str) -> tuple[list[Path], np.ndarray]:
    classes = _class_dirs(directory / "train") or _class_dirs(directory / "val")
    index = {c: i for i, c in enumerate(classes)}
    folder = directory / ("train" if split == "train" else "val")
    pairs: list[tuple[Path, int]] = []
    for cls in _class_dirs(folder):
        if cls not in index:
            raise CorruptDataError(
                f"{folder / cls}: class folder missing from {directory / 'train'}; "
                "train and val must have the same class folders"
            )
        pairs += [(p, index[cls]) for p in _images(folder / cls)]
    if split != "train":
        pairs.sort(key=lambda pair: pair[0].name)
    return [p for p, _ in pairs], np.asarray([c for _, c in pairs], dtype=np.int64)


def _imagenet_reader(directory: Path, split: str, n: int | None, opts: dict[str, Any]) -> Any:
    size = int(opts["size"])
    if size < 8:
        raise ValueError(f"imagenet size must be an int >= 8 (default 224), got {size}")
    files, labels = _imagenet_files(directory, split)
    count = len(files) if n is None else min(n, len(files))
    need = count * 3 * size * size * 4
    if need > MAX_DECODE_BYTES:
        raise ValueError(
            f"imagenet {split} has {len(files)} images ({need / 2**30:.1f} GiB as float32 at "
            f"{size}x{size}); pass n= (e.g. n=1000) to load the first n"
        )
    return decode_all(files[:count], size, center_crop=True), labels, len(files)


def _imagenet_has_split(directory: Path, split: str) -> bool:
    return bool(_class_dirs(directory / ("train" if split == "train" else "val")))


DATASETS.register(
    "imagenet",
    DatasetSpec(
        info=DatasetInfo("imagenet", 1000, 3, (224, 224), 1281167, 50000, Augment(hflip=True)),
        subdirs=("imagenet", "ImageNet", "ILSVRC2012", "imagenet/ILSVRC2012"),
        base_ok=False,
        has_split=_imagenet_has_split,
        reader=_imagenet_reader,
        fix=(
            "download ILSVRC2012 from https://image-net.org (registration required) and arrange it "
            "as <dir>/train/<wnid>/*.JPEG and <dir>/val/<wnid>/*.JPEG, then pass root=<dir> or put "
            "it at $ROBUSTLAB_DATA/imagenet"
        ),
        options=(("size", 224),),
    ),
)
