"""Readers for the datasets' real on-disk formats, returning uint8 arrays.

* IDX (MNIST, KMNIST, Fashion-MNIST): big-endian header ``0 0 <type> <ndim>`` then ndim int32
  sizes, then the raw values; gzipped or not (detected from the content, not the file name).
* CIFAR-10/100 python pickles: dicts with ``data`` (N, 3072) uint8 in CHW order and ``labels``
  (CIFAR-10) or ``fine_labels`` (CIFAR-100). Unpickled with a whitelist: only numpy arrays.
* SVHN cropped digits ``.mat`` (MATLAB v5): ``X`` (32, 32, 3, N) uint8 and ``y`` (N, 1) with the
  digit 0 stored as label 10.

Every reader returns ``(x, y)`` with x uint8 (N, C, H, W) and y int64 (N,), and raises
:class:`CorruptDataError` naming the file when it cannot be parsed.
"""

from __future__ import annotations

import gzip
import pickle
import zlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from robustlab.core.data.types import CorruptDataError

_IDX_DTYPES: dict[int, Any] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_FIX = "delete it and fetch the dataset again (robustlab data ensure NAME, or download=True)"


def _corrupt(path: Path, what: str) -> CorruptDataError:
    return CorruptDataError(
        f"{path}: {what}; the file is corrupt or not in the expected format: {_FIX}"
    )


def read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it starts with the gzip magic bytes."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise _corrupt(path, f"broken gzip stream ({exc})") from None
    return raw


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (``*-idx3-ubyte[.gz]`` images or ``*-idx1-ubyte[.gz]`` labels).

    Returns:
        The array with the shape stored in the header, e.g. (N, 28, 28) uint8 or (N,) uint8.
    """
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise _corrupt(path, "no IDX header (expected bytes 0 0 <type> <ndim>)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise _corrupt(path, f"truncated IDX header (ndim={ndim})")
    shape = tuple(int(v) for v in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise _corrupt(
            path,
            f"IDX header says shape {shape} ({expected} bytes) but {len(data) - header} follow",
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def read_idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an IDX images/labels pair into x uint8 (N, 1, H, W) and y int64 (N,)."""
    x = read_idx(images)
    y = read_idx(labels)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise _corrupt(images, f"expected uint8 images of shape (N, H, W), got {x.dtype} {x.shape}")
    if y.ndim != 1:
        raise _corrupt(labels, f"expected labels of shape (N,), got {y.shape}")
    if len(x) != len(y):
        raise _corrupt(labels, f"{len(y)} labels for {len(x)} images in {images.name}")
    return x[:, None], y.astype(np.int64)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else (CIFAR batches hold only those)."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _load_pickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            obj = _NumpyOnlyUnpickler(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise _corrupt(path, f"cannot unpickle ({exc})") from None
    if not isinstance(obj, dict):
        raise _corrupt(path, f"expected a dict, got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def read_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR pickle batch.

    Args:
        path: e.g. ``cifar-10-batches-py/data_batch_1`` or ``cifar-100-python/test``.
        label_key: ``"labels"`` (CIFAR-10) or ``"fine_labels"`` (CIFAR-100's 100 classes).

    Returns:
        x uint8 (N, 3, 32, 32) and y int64 (N,).
    """
    batch = _load_pickle(path)
    if "data" not in batch or label_key not in batch:
        raise _corrupt(path, f"missing key 'data' or {label_key!r} (has {sorted(batch)})")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise _corrupt(
            path, f"expected uint8 data of shape (N, 3072), got {data.dtype} {data.shape}"
        )
    if labels.shape != (data.shape[0],):
        raise _corrupt(path, f"{labels.shape} labels for {data.shape[0]} images")
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar(paths: list[Path], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Read and concatenate CIFAR batches in the given order (data_batch_1..5 for training)."""
    parts = [read_cifar_batch(p, label_key) for p in paths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an SVHN cropped-digits file (``train_32x32.mat`` / ``test_32x32.mat``).

    Returns:
        x uint8 (N, 3, 32, 32) and y int64 (N,) in [0, 9]; the file's label 10 (digit 0) becomes 0.
    """
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path), variable_names=["X", "y"])
    except (ValueError, TypeError, OSError, NotImplementedError) as exc:
        # loadmat reports MATLAB v7.3 (HDF5) files with NotImplementedError; SVHN ships v5
        # files, so such a file is reported as unreadable like any other damaged one.
        raise _corrupt(path, f"cannot read MATLAB file ({exc})") from None
    if "X" not in mat or "y" not in mat:
        raise _corrupt(path, "missing variable 'X' or 'y'")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1).astype(np.int64)
    if x.ndim != 4 or x.shape[2] != 3 or x.shape[3] != y.shape[0]:
        raise _corrupt(path, f"expected X of shape (H, W, 3, N) with N={y.shape[0]}, got {x.shape}")
    if y.size and (y.min() < 0 or y.max() > 10):
        raise _corrupt(path, f"labels outside [0, 10]: min {y.min()}, max {y.max()}")
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1), dtype=np.uint8), y % 10
