"""The built-in datasets: MNIST family (IDX), CIFAR-10/100 (pickles), SVHN (.mat), digits.

Tiny ImageNet and ImageNet (image folders) are registered in :mod:`.folders`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustlab.core.data import formats
from robustlab.core.data.catalog import DATASETS, DatasetSpec
from robustlab.core.data.types import Augment, DatasetInfo

CIFAR_AUGMENT = Augment(crop_padding=4, hflip=True)
#: SVHN: random crop only; flipping digits changes their meaning.
SVHN_AUGMENT = Augment(crop_padding=4, hflip=False)


def _stamp(paths: tuple[Path, ...]) -> tuple[tuple[str, int, int], ...]:
    """Identity of files for the in-process memo: path, size and modification time."""
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)


def _memo(fn: Callable[..., tuple[np.ndarray, np.ndarray]]) -> Callable[..., Any]:
    """Remember the last few decoded splits (read-only arrays) keyed by the files' stamps."""

    @functools.lru_cache(maxsize=6)
    def cached(stamp: tuple[tuple[str, int, int], ...], *args: Any) -> tuple[np.ndarray, ...]:
        x, y = fn(tuple(Path(s[0]) for s in stamp), *args)
        x.flags.writeable = False
        y.flags.writeable = False
        return x, y

    def run(paths: tuple[Path, ...], *args: Any) -> tuple[np.ndarray, ...]:
        return cached(_stamp(paths), *args)

    return run


# --------------------------------------------------------------------------- IDX (MNIST family)

_IDX_PREFIX = {"train": "train", "test": "t10k"}


def _idx_file(directory: Path, split: str, kind: str) -> Path | None:
    ndim = 3 if kind == "images" else 1
    stem = f"{_IDX_PREFIX[split]}-{kind}-idx{ndim}-ubyte"
    for candidate in (stem + ".gz", stem):
        if (directory / candidate).is_file():
            return directory / candidate
    return None


def _idx_has_split(directory: Path, split: str) -> bool:
    return all(_idx_file(directory, split, k) is not None for k in ("images", "labels"))


@_memo
def _read_idx_files(paths: tuple[Path, ...]) -> tuple[np.ndarray, np.ndarray]:
    return formats.read_idx_pair(paths[0], paths[1])


def _idx_reader(
    directory: Path, split: str, n: int | None, opts: dict[str, Any]
) -> tuple[Any, Any, int]:
    images = _idx_file(directory, split, "images")
    labels = _idx_file(directory, split, "labels")
    assert images is not None and labels is not None  # has_split checked them
    x, y = _read_idx_files((images, labels))
    return x, y, len(y)


def _tv_download(cls_name: str, **kw: Any) -> Callable[[Path, str], None]:
    def download(dest: Path, split: str) -> None:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        if cls_name == "SVHN":
            cls(str(dest / "svhn"), split=split, download=True)
        else:
            cls(str(dest), train=split == "train", download=True, **kw)

    return download


def _register_idx(name: str, tv_name: str, subdirs: tuple[str, ...], fix: str, url: str) -> None:
    DATASETS.register(
        name,
        DatasetSpec(
            info=DatasetInfo(name, 10, 1, (28, 28), 60000, 10000, None),
            subdirs=subdirs,
            base_ok=False,
            has_split=_idx_has_split,
            reader=_idx_reader,
            fix=fix,
            download=_tv_download(tv_name),
            url=url,
        ),
    )


_TV_FIX = "go online and run `robustlab data ensure {}` (torchvision download, or download=True)"
_register_idx(
    "mnist",
    "MNIST",
    ("mnist", "MNIST/raw", "MNIST", "mnist/raw"),
    _TV_FIX.format("mnist"),
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
_register_idx(
    "kmnist",
    "KMNIST",
    ("kmnist", "KMNIST/raw", "KMNIST", "kmnist/raw"),
    _TV_FIX.format("kmnist"),
    "http://codh.rois.ac.jp/kmnist/",
)
_register_idx(
    "fashion-mnist",
    "FashionMNIST",
    ("fashion-mnist", "FashionMNIST/raw", "FashionMNIST", "fashion_mnist", "fashion-mnist/raw"),
    "`apt-get install dataset-fashion-mnist` (Debian, as root), or go online and run "
    "`robustlab data ensure fashion-mnist` (torchvision download)",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)


# --------------------------------------------------------------------------- CIFAR-10 / CIFAR-100

_CIFAR_FILES = {
    "cifar10": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
    "cifar100": {"train": ["train"], "test": ["test"]},
}
_CIFAR_LABEL = {"cifar10": "labels", "cifar100": "fine_labels"}


@_memo
def _read_cifar_files(paths: tuple[Path, ...], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    return formats.read_cifar(list(paths), label_key)


def _register_cifar(name: str, k: int, tv_name: str, subdirs: tuple[str, ...], url: str) -> None:
    files = _CIFAR_FILES[name]

    def has_split(directory: Path, split: str) -> bool:
        return all((directory / f).is_file() for f in files[split])

    def reader(directory: Path, split: str, n: int | None, opts: dict[str, Any]) -> Any:
        x, y = _read_cifar_files(tuple(directory / f for f in files[split]), _CIFAR_LABEL[name])
        return x, y, len(y)

    DATASETS.register(
        name,
        DatasetSpec(
            info=DatasetInfo(name, k, 3, (32, 32), 50000, 10000, CIFAR_AUGMENT),
            subdirs=subdirs,
            base_ok=False,
            has_split=has_split,
            reader=reader,
            fix=_TV_FIX.format(name),
            download=_tv_download(tv_name),
            url=url,
        ),
    )


_register_cifar(
    "cifar10",
    10,
    "CIFAR10",
    (
        "cifar-10-batches-py",
        "cifar10/cifar-10-batches-py",
        "cifar10",
        "CIFAR10/cifar-10-batches-py",
    ),
    "https://www.cs.toronto.edu/~kriz/",
)
_register_cifar(
    "cifar100",
    100,
    "CIFAR100",
    ("cifar-100-python", "cifar100/cifar-100-python", "cifar100", "CIFAR100/cifar-100-python"),
    "https://www.cs.toronto.edu/~kriz/",
)


# --------------------------------------------------------------------------- SVHN


@_memo
def _read_svhn_file(paths: tuple[Path, ...]) -> tuple[np.ndarray, np.ndarray]:
    return formats.read_svhn_mat(paths[0])


def _svhn_reader(directory: Path, split: str, n: int | None, opts: dict[str, Any]) -> Any:
    x, y = _read_svhn_file((directory / f"{split}_32x32.mat",))
    return x, y, len(y)


DATASETS.register(
    "svhn",
    DatasetSpec(
        info=DatasetInfo("svhn", 10, 3, (32, 32), 73257, 26032, SVHN_AUGMENT),
        subdirs=("svhn", "SVHN"),
        base_ok=True,
        has_split=lambda d, split: (d / f"{split}_32x32.mat").is_file(),
        reader=_svhn_reader,
        fix=_TV_FIX.format("svhn"),
        download=_tv_download("SVHN"),
        url="http://ufldl.stanford.edu/housenumbers/",
    ),
)


# --------------------------------------------------------------------------- digits (scikit-learn)

DIGITS_TEST_SIZE = 360
DIGITS_SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 1797 8x8 digits (values 0..16) and a fixed permutation for the split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(bunch.target))
    return bunch.images.astype(np.float32), bunch.target.astype(np.int64), order


def _digits_reader(directory: Path, split: str, n: int | None, opts: dict[str, Any]) -> Any:
    """Digits split: a seeded permutation (seed 0); the last 360 are the test split.

    Pixels are scaled by 1/16 into [0, 1] and, for ``size`` != 8, bilinearly resized
    (``F.interpolate(..., mode="bilinear", align_corners=False)``) and clamped to [0, 1].
    """
    images, target, order = _digits_arrays()
    idx = order[:-DIGITS_TEST_SIZE] if split == "train" else order[-DIGITS_TEST_SIZE:]
    x = torch.from_numpy(images[idx] / 16.0).float().unsqueeze(1)
    size = int(opts["size"])
    if size < 1:
        raise ValueError(f"digits size must be a positive int (8 = native), got {size}")
    if size != 8:
        x = torch.nn.functional.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False
        )
        x = x.clamp_(0.0, 1.0)
    return x, target[idx], len(idx)


def _sklearn_data_dir() -> Path:
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "data"


def _register_digits(name: str, size: int) -> None:
    DATASETS.register(
        name,
        DatasetSpec(
            info=DatasetInfo(name, 10, 1, (size, size), 1797 - DIGITS_TEST_SIZE, DIGITS_TEST_SIZE),
            subdirs=(),
            base_ok=False,
            has_split=lambda d, split: (d / "digits.csv.gz").is_file(),
            reader=_digits_reader,
            fix="install scikit-learn (it bundles the digits)",
            options=(("size", size),),
            bundled_dir=_sklearn_data_dir,
        ),
    )


_register_digits("digits", 8)
_register_digits("digits-28", 28)
_register_digits("digits-32", 32)
