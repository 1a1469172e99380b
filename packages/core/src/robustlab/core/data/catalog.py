"""The dataset registry and the two entry points :func:`load` and :func:`info`.

A dataset is a :class:`DatasetSpec`: its :class:`DatasetInfo`, where its files usually live, a
check that a directory holds a split, the reader for the real on-disk format and, where one
exists, a torchvision download. ``load`` resolves the files (see :mod:`.sources` for the order),
reads them, keeps the first ``n`` examples and scales uint8 pixels to float32 in [0, 1].
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustlab.core.data import sources
from robustlab.core.data.types import ArrayData, DatasetInfo
from robustlab.core.errors import DataNotFoundError
from robustlab.core.registry import Registry
from robustlab.core.utils import get_logger

log = get_logger(__name__)

SPLITS = ("train", "test")

#: A reader gets (directory, split, n, options) and returns (x, y, split_size): x uint8
#: (m, C, H, W) numpy array or float32 tensor in [0, 1], y int64 (m,), with m = min(n, split_size)
#: when n is given (readers may decode only the first n), split_size = examples in the split.
Reader = Callable[[Path, str, "int | None", dict[str, Any]], tuple[Any, Any, int]]


@dataclass(frozen=True)
class DatasetSpec:
    """How to find, read and fetch one dataset.

    Attributes:
        info: static description (classes, shape, published sizes, default augmentation).
        subdirs: usual directory names of the dataset below a data root, e.g. ``FashionMNIST/raw``.
        base_ok: the files may sit directly in a shared data root (their names are unique).
        has_split: ``has_split(directory, split)`` is True when the directory holds that split.
        reader: see :data:`Reader`.
        fix: how a user gets the data when it is missing (one sentence).
        download: ``download(dest_dir, split)`` fetches the split with torchvision so that it
            lands in one of ``subdirs`` below ``dest_dir``; None when it cannot be downloaded.
        url: a URL on the download server, probed to decide whether we are online.
        options: reader options and their defaults (``size`` for digits and ImageNet).
        bundled_dir: for data shipped inside a Python package (digits), a function returning
            that package's data directory, searched last.
    """

    info: DatasetInfo
    subdirs: tuple[str, ...]
    base_ok: bool
    has_split: Callable[[Path, str], bool]
    reader: Reader
    fix: str
    download: Callable[[Path, str], None] | None = None
    url: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    bundled_dir: Callable[[], Path] | None = None

    def __call__(
        self,
        split: str = "train",
        n: int | None = None,
        root: str | os.PathLike[str] | None = None,
        download: bool | None = None,
        **options: Any,
    ) -> ArrayData:
        """``DATASETS.build(name, split=...)`` is ``load(name, split=...)``."""
        return load(self.info.name, split, n, root, download, **options)

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``options``; unknown option names raise ValueError."""
        allowed = dict(self.options)
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            valid = ", ".join(allowed) or "none"
            raise ValueError(
                f"dataset {self.info.name!r} has no option(s) {', '.join(unknown)}; valid: {valid}"
            )
        return {**allowed, **options}


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _check_n(n: int | None) -> None:
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive int (first n examples) or None, got {n!r}")


def find(
    name: str, split: str, root: str | os.PathLike[str] | None = None
) -> tuple[Path | None, list[Path]]:
    """Locate ``split`` of dataset ``name`` on disk without downloading.

    Returns:
        (directory holding the split or None, every directory searched in order).
    """
    spec = DATASETS.get(name)
    _check_split(split)
    searched = sources.candidate_dirs(spec.subdirs, spec.base_ok, root)
    if spec.bundled_dir is not None:
        searched.append(spec.bundled_dir())
    for directory in searched:
        if directory.is_dir() and spec.has_split(directory, split):
            return directory, searched
    return None, searched


def not_found_error(name: str, split: str, searched: list[Path], why: str) -> DataNotFoundError:
    """The one error for missing data: where we looked, why nothing was downloaded, the fix."""
    spec = DATASETS.get(name)
    places = "; ".join(str(p) for p in searched) or "(nowhere)"
    return DataNotFoundError(
        f"dataset {name!r} ({split} split) not found. Searched: {places}. {why} "
        f"Fix: {spec.fix}; or put the files under $ROBUSTLAB_DATA/{spec.subdirs[0]} or pass root=."
    )


def try_download(
    spec: DatasetSpec, split: str, root: str | os.PathLike[str] | None, download: bool | None
) -> str:
    """Download when allowed; return why no download happened ("" if it succeeded)."""
    name = spec.info.name
    if spec.download is None:
        return f"{name} cannot be downloaded automatically."
    if download is False:
        return "Download disabled (download=False)."
    if download is None and not (spec.url and sources.network_available(spec.url)):
        return "No network (download=None and the dataset server did not answer)."
    dest = sources.download_dir(root)
    log.info("downloading %s (%s) with torchvision into %s", name, split, dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        spec.download(dest, split)
    except Exception as exc:  # any network/IO failure becomes the one DataNotFoundError
        return f"Download into {dest} failed: {type(exc).__name__}: {exc}."
    return ""


def _to_float(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(torch.float32).contiguous()
    arr = np.ascontiguousarray(x)
    if arr.dtype != np.uint8:
        raise TypeError(f"reader returned {arr.dtype} images; expected uint8 or a float tensor")
    # copy: the memoised arrays are read-only and must stay untouched
    return torch.from_numpy(np.array(arr, copy=True)).to(torch.float32).div_(255.0)


def load(
    name: str,
    split: str = "train",
    n: int | None = None,
    root: str | os.PathLike[str] | None = None,
    download: bool | None = None,
    **options: Any,
) -> ArrayData:
    """Load a dataset split into memory.

    Args:
        name: a registered dataset (``DATASETS.names()``).
        split: ``"train"`` or ``"test"`` (the validation set for Tiny ImageNet / ImageNet).
        n: keep only the first ``n`` examples in the file's order (papers evaluate on the first
            1000/2000 test images); None keeps all.
        root: a directory to search first (see :mod:`robustlab.core.data.sources`).
        download: True to download when missing, False never, None only when online.
        **options: dataset options, e.g. ``size=28`` for digits (bilinear upsampling) or
            ``size=224`` for ImageNet (resize + centre crop).

    Returns:
        ArrayData with x float32 (N, C, H, W) in [0, 1] on the CPU and y int64 (N,).

    Raises:
        UnknownNameError: unknown dataset name (the message lists the valid ones).
        ValueError: bad split, n, or n larger than the split (the message gives its size).
        DataNotFoundError: not on disk and not downloadable (the message lists where we looked).
        CorruptDataError: a file exists but cannot be parsed.
    """
    spec = DATASETS.get(name)
    _check_split(split)
    _check_n(n)
    opts = spec.resolve_options(options)
    directory, searched = find(name, split, root)
    if directory is None:
        why = try_download(spec, split, root, download)
        directory, searched = find(name, split, root)
        if directory is None:
            raise not_found_error(name, split, searched, why or "Downloaded files not found.")
    log.debug("reading %s/%s from %s", name, split, directory)
    x, y, size = spec.reader(directory, split, n, opts)
    if n is not None and n > size:
        raise ValueError(
            f"n={n} is larger than the {name} {split} split ({size} examples in {directory}); "
            f"use n <= {size} or n=None"
        )
    if n is not None:
        x, y = x[:n], y[:n]
    xt = _to_float(x)
    yt = (
        y.to(torch.int64).clone()
        if isinstance(y, torch.Tensor)
        else torch.from_numpy(np.array(y, dtype=np.int64))
    )
    return ArrayData(xt, yt, f"{name}/{split}")


def info(name: str, **options: Any) -> DatasetInfo:
    """Static description of dataset ``name`` (``size=`` changes ``image_size`` where supported)."""
    spec = DATASETS.get(name)
    opts = spec.resolve_options(options)
    if "size" in opts and opts["size"] != spec.info.image_size[0]:
        return replace(spec.info, image_size=(int(opts["size"]), int(opts["size"])))
    return spec.info
