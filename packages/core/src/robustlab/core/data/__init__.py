"""Datasets as in-memory tensors: registry, offline-first loading, batching and augmentation.

>>> from robustlab.core.data import load, info, BatchIterator
>>> train = load("fashion-mnist", "train")          # x (60000, 1, 28, 28) float32 in [0, 1]
>>> test = load("fashion-mnist", "test", n=1000)    # the first 1000 test images
>>> it = BatchIterator(train.x, train.y, 128, seed=0, augment=info("cifar10").default_augment)
>>> it.set_epoch(3); xb, yb = next(iter(it))

Modules: :mod:`.sources` (search order: ``root`` -> ``$ROBUSTLAB_DATA`` -> system dataset
packages such as Debian's ``/usr/share/datasets/fashion-mnist`` -> torchvision cache ->
torchvision download when allowed/online), :mod:`.formats` (IDX, CIFAR pickles, SVHN .mat),
:mod:`.folders` (Tiny ImageNet, ImageNet), :mod:`.builtin` (the registered datasets),
:mod:`.batches` (BatchIterator, batched crop/flip, split_holdout), :mod:`.provision` (ensure).

Caching: decoded Tiny ImageNet splits are stored as uint8 ``.npy`` under ``$ROBUSTLAB_CACHE``
(default ``~/.cache/robustlab``); IDX/CIFAR/SVHN files are fast to decode (Fashion-MNIST train:
~0.5 s) and are only memoised in-process (last few splits, read-only uint8 arrays).
"""

from robustlab.core.data import builtin as _builtin  # noqa: F401  (registers the datasets)
from robustlab.core.data import folders as _folders  # noqa: F401  (Tiny ImageNet, ImageNet)
from robustlab.core.data.batches import BatchIterator, augment_batch, split_holdout
from robustlab.core.data.catalog import DATASETS, DatasetSpec, find, info, load
from robustlab.core.data.provision import ensure
from robustlab.core.data.types import ArrayData, Augment, CorruptDataError, DatasetInfo

__all__ = [
    "DATASETS",
    "ArrayData",
    "Augment",
    "BatchIterator",
    "CorruptDataError",
    "DatasetInfo",
    "DatasetSpec",
    "augment_batch",
    "ensure",
    "find",
    "info",
    "load",
    "split_holdout",
]
