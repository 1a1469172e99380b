"""Value types of the data layer: in-memory arrays, dataset descriptions, augmentation settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from robustlab.core.errors import RobustlabError


class CorruptDataError(RobustlabError, ValueError):
    """A dataset file that exists but cannot be parsed (truncated, wrong format, wrong shape).

    The message names the file, what is wrong with it and the fix (delete it and fetch it again).
    """


class _ArrayPair(NamedTuple):
    x: torch.Tensor
    y: torch.Tensor


class ArrayData(_ArrayPair):
    """A dataset split held in memory.

    Attributes:
        x: float32 images, shape (N, C, H, W), values in [0, 1], on the CPU.
        y: int64 class labels, shape (N,), values in [0, num_classes).
        name: where the arrays came from, e.g. ``"fashion-mnist/test"``.

    It unpacks as a pair (``x, y = load("mnist")``); ``name`` is an attribute, not a tuple field.
    """

    name: str

    def __new__(cls, x: torch.Tensor, y: torch.Tensor, name: str = "") -> ArrayData:
        self = super().__new__(cls, x, y)
        self.name = name
        return self

    def __getnewargs__(self) -> tuple[Any, ...]:
        return (self.x, self.y, self.name)

    def __len__(self) -> int:  # number of examples, not the tuple's length
        return int(self.x.shape[0])

    def __repr__(self) -> str:
        return (
            f"ArrayData(name={self.name!r}, x={tuple(self.x.shape)} {self.x.dtype}, "
            f"y={tuple(self.y.shape)} {self.y.dtype})"
        )


@dataclass(frozen=True)
class Augment:
    """Training-time augmentation applied to whole batches (see :func:`augment_batch`).

    Args:
        crop_padding: zero padding p on every side before a random H x W crop (0 disables),
            i.e. torchvision's ``RandomCrop(size, padding=p)``.
        hflip: flip each image left-right with probability 1/2.
    """

    crop_padding: int = 0
    hflip: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.crop_padding, int) or self.crop_padding < 0:
            raise ValueError(f"Augment.crop_padding must be an int >= 0, got {self.crop_padding!r}")
        if not isinstance(self.hflip, bool):
            raise ValueError(f"Augment.hflip must be a bool, got {self.hflip!r}")

    @property
    def active(self) -> bool:
        """True when the augmentation changes anything."""
        return self.crop_padding > 0 or self.hflip


@dataclass(frozen=True)
class DatasetInfo:
    """Static description of a registered dataset (published split sizes, not what is on disk).

    Attributes:
        name: registry name.
        num_classes: number of classes K; labels are in [0, K).
        in_channels: C of the (N, C, H, W) images (1 gray, 3 RGB).
        image_size: (H, W) of the images ``load`` returns.
        train_size: examples in the published training split.
        test_size: examples in the published test split (the validation set for Tiny ImageNet and
            ImageNet, whose test labels are not public).
        default_augment: the augmentation the papers train with, or None for none.
    """

    name: str
    num_classes: int
    in_channels: int
    image_size: tuple[int, int]
    train_size: int
    test_size: int
    default_augment: Augment | None = None

    def size(self, split: str) -> int:
        """Published size of ``split`` ("train" or "test")."""
        return self.train_size if split == "train" else self.test_size
