"""Real on-disk formats written into tmp_path and read back by the real loaders."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from robustlab.core.data import CorruptDataError, load, sources
from robustlab.core.data.formats import read_idx

PIL = pytest.importorskip("PIL.Image")
scipy_io = pytest.importorskip("scipy.io")


@pytest.fixture(autouse=True)
def offline_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No system data, no env dir, an empty torch cache, no network, a private array cache."""
    monkeypatch.setattr(sources, "SYSTEM_DATA_DIRS", [])
    monkeypatch.delenv("ROBUSTLAB_DATA", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("ROBUSTLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ROBUSTLAB_OFFLINE", "1")


# ------------------------------------------------------------------ writers (the real formats)


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    """IDX: 0 0 0x08 ndim, big-endian int32 dims, raw uint8 values."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def write_mnist_like(directory: Path, n_train: int, n_test: int, seed: int = 0, gz: bool = True):
    rng = np.random.default_rng(seed)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", x, gz)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", y, gz)
        out[prefix] = (x, y)
    return out


def write_cifar_batch(path: Path, x: np.ndarray, labels: list[int], key: str, byte_keys: bool):
    d = {"data": x.reshape(len(x), -1), key: labels, "batch_label": "testing batch"}
    if byte_keys:  # what Python 2 pickles look like after unpickling with encoding="bytes"
        d = {k.encode(): v for k, v in d.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(d, protocol=2))


def solid_jpeg(path: Path, color: tuple[int, int, int], size=(64, 64), mode="RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = PIL.new("RGB", size, color)
    (img.convert("L") if mode == "L" else img).save(path, "JPEG", quality=95)


# ------------------------------------------------------------------ IDX


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "kmnist", "fashion-mnist"])
def test_idx_datasets_read_back(tmp_path: Path, name: str, gz: bool) -> None:
    ref = write_mnist_like(tmp_path / "d", 12, 7, gz=gz)
    train = load(name, "train", root=tmp_path / "d")
    test = load(name, "test", root=tmp_path / "d", n=5)
    assert train.x.shape == (12, 1, 28, 28) and train.x.dtype == torch.float32
    assert test.x.shape == (5, 1, 28, 28) and test.y.dtype == torch.int64
    assert torch.equal(train.x, torch.from_numpy(ref["train"][0]).float().unsqueeze(1) / 255)
    assert train.y.tolist() == ref["train"][1].tolist()
    assert test.y.tolist() == ref["t10k"][1][:5].tolist()
    assert float(train.x.min()) >= 0.0 and float(train.x.max()) <= 1.0


def test_idx_torchvision_layout_under_root(tmp_path: Path) -> None:
    write_mnist_like(tmp_path / "FashionMNIST" / "raw", 3, 2)
    assert load("fashion-mnist", "test", root=tmp_path).x.shape == (2, 1, 28, 28)


def test_read_idx_other_dtype_big_endian(tmp_path: Path) -> None:
    values = np.array([[1, -2, 70000]], dtype=">i4")
    raw = bytes([0, 0, 0x0C, 2]) + np.array([1, 3], ">i4").tobytes() + values.tobytes()
    (tmp_path / "a.idx").write_bytes(raw)
    out = read_idx(tmp_path / "a.idx")
    assert out.shape == (1, 3) and out.tolist() == [[1, -2, 70000]]


@pytest.mark.parametrize(
    "damage",
    ["truncated_gzip", "short_payload", "bad_magic", "label_count"],
)
def test_corrupt_idx_files(tmp_path: Path, damage: str) -> None:
    d = tmp_path / "d"
    write_mnist_like(d, 4, 4)
    images = d / "t10k-images-idx3-ubyte.gz"
    if damage == "truncated_gzip":
        images.write_bytes(images.read_bytes()[:-20])
    elif damage == "short_payload":
        write_idx(images, np.zeros((4, 28, 28), np.uint8))
        raw = gzip.decompress(images.read_bytes())[:-5]
        images.write_bytes(gzip.compress(raw))
    elif damage == "bad_magic":
        images.write_bytes(gzip.compress(b"\x12\x34\x08\x03" + bytes(100)))
    else:
        write_idx(d / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(CorruptDataError, match=r"t10k-(images|labels)"):
        load("mnist", "test", root=d)


# ------------------------------------------------------------------ CIFAR


@pytest.mark.parametrize("byte_keys", [False, True])
def test_cifar10_batches(tmp_path: Path, byte_keys: bool) -> None:
    rng = np.random.default_rng(1)
    d = tmp_path / "cifar-10-batches-py"
    xs = [rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8) for _ in range(6)]
    for i in range(5):
        write_cifar_batch(d / f"data_batch_{i + 1}", xs[i], [i, i, 9], "labels", byte_keys)
    write_cifar_batch(d / "test_batch", xs[5], [7, 8, 9], "labels", byte_keys)
    train = load("cifar10", "train", root=tmp_path)
    assert train.x.shape == (15, 3, 32, 32)
    assert train.y.tolist() == [0, 0, 9, 1, 1, 9, 2, 2, 9, 3, 3, 9, 4, 4, 9]
    assert torch.equal(train.x[3:6], torch.from_numpy(xs[1]).float() / 255)  # batch order kept
    test = load("cifar10", "test", root=d)  # the batches directory itself also works
    assert test.y.tolist() == [7, 8, 9]


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    d = tmp_path / "cifar-100-python"
    x = np.random.default_rng(2).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    for split, fine in (("train", [5, 99, 0, 42]), ("test", [1, 2, 3, 4])):
        path = d / split
        payload = {"data": x.reshape(4, -1), "fine_labels": fine, "coarse_labels": [0, 1, 2, 3]}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(payload, protocol=2))
    train = load("cifar100", "train", root=tmp_path)
    assert train.y.tolist() == [5, 99, 0, 42]
    assert torch.equal(train.x, torch.from_numpy(x).float() / 255)


def test_cifar_pickle_with_foreign_object_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    (d / "train").write_bytes(pickle.dumps({"data": Path("x"), "fine_labels": [0]}))
    (d / "test").write_bytes(b"not a pickle at all")
    with pytest.raises(CorruptDataError, match="refusing to load"):
        load("cifar100", "train", root=tmp_path)
    with pytest.raises(CorruptDataError, match=r"cifar-100-python/test"):
        load("cifar100", "test", root=tmp_path)


def test_cifar_wrong_shape(tmp_path: Path) -> None:
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    (d / "test").write_bytes(
        pickle.dumps({"data": np.zeros((2, 100), np.uint8), "fine_labels": [0, 1]})
    )
    with pytest.raises(CorruptDataError, match=r"\(N, 3072\)"):
        load("cifar100", "test", root=tmp_path)


# ------------------------------------------------------------------ SVHN


def test_svhn_mat_label_10_is_zero(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (32, 32, 3, 5), dtype=np.uint8)  # the files' (H, W, C, N) layout
    y = np.array([[10], [1], [2], [10], [9]], dtype=np.uint8)
    scipy_io.savemat(tmp_path / "test_32x32.mat", {"X": x, "y": y})
    data = load("svhn", "test", root=tmp_path)
    assert data.y.tolist() == [0, 1, 2, 0, 9]
    assert data.x.shape == (5, 3, 32, 32)
    expected = torch.from_numpy(x.transpose(3, 2, 0, 1).copy()).float() / 255
    assert torch.equal(data.x, expected)


def test_svhn_corrupt(tmp_path: Path) -> None:
    (tmp_path / "train_32x32.mat").write_bytes(b"MATLAB 5.0 garbage" * 10)
    with pytest.raises(CorruptDataError, match=r"train_32x32\.mat"):
        load("svhn", "train", root=tmp_path)


# ------------------------------------------------------------------ Tiny ImageNet

TINY_COLORS = {"n01": (250, 10, 10), "n02": (10, 250, 10), "n03": (10, 10, 250)}


def write_tiny(root: Path) -> Path:
    d = root / "tiny-imagenet-200"
    d.mkdir(parents=True)
    (d / "wnids.txt").write_text("n03\nn01\nn02\n")  # not sorted on purpose
    for wnid, color in TINY_COLORS.items():
        for i in range(2):
            solid_jpeg(d / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", color)
    solid_jpeg(d / "train" / "n01" / "images" / "n01_2.JPEG", (128, 128, 128), mode="L")
    lines = []
    for i, wnid in enumerate(["n02", "n03", "n01", "n02"]):
        solid_jpeg(d / "val" / "images" / f"val_{i}.JPEG", TINY_COLORS[wnid])
        lines.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t63\t63")
    (d / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return d


def test_tiny_imagenet_folders_and_cache(tmp_path: Path) -> None:
    write_tiny(tmp_path)
    train = load("tiny-imagenet", "train", root=tmp_path)
    assert train.x.shape == (7, 3, 64, 64)
    assert train.y.tolist() == [0, 0, 0, 1, 1, 2, 2]  # class = index in sorted wnids
    means = train.x.mean(dim=(2, 3))
    assert torch.allclose(means[0], torch.tensor([250, 10, 10]) / 255, atol=0.03)
    assert torch.allclose(means[2], torch.full((3,), 128 / 255), atol=0.03)  # gray -> RGB
    val = load("tiny-imagenet", "test", root=tmp_path)
    assert val.y.tolist() == [1, 2, 0, 1]
    cached = list((tmp_path / "cache" / "tiny-imagenet").glob("*.npy"))
    assert len(cached) == 2  # one decoded array per split
    again = load("tiny-imagenet", "train", root=tmp_path, n=3)  # served from the cache
    assert torch.equal(again.x, train.x[:3]) and again.y.tolist() == [0, 0, 0]


def test_tiny_imagenet_bad_annotation_and_image(tmp_path: Path) -> None:
    d = write_tiny(tmp_path)
    (d / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn99\t0\t0\t1\t1\n")
    with pytest.raises(CorruptDataError, match=r"val_annotations.txt:1"):
        load("tiny-imagenet", "test", root=tmp_path)
    (d / "train" / "n02" / "images" / "n02_0.JPEG").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(CorruptDataError, match=r"n02_0\.JPEG"):
        load("tiny-imagenet", "train", root=tmp_path)


# ------------------------------------------------------------------ ImageNet folders


def test_imagenet_folder_resize_crop_and_order(tmp_path: Path) -> None:
    root = tmp_path / "imagenet"
    colors = {"n100": (200, 0, 0), "n200": (0, 200, 0)}
    for wnid, color in colors.items():
        solid_jpeg(root / "train" / wnid / "a.JPEG", color, size=(80, 60))
        solid_jpeg(root / "train" / wnid / "b.JPEG", color, size=(40, 90))
    solid_jpeg(root / "val" / "n200" / "ILSVRC2012_val_00000001.JPEG", colors["n200"], (50, 50))
    solid_jpeg(root / "val" / "n100" / "ILSVRC2012_val_00000002.JPEG", colors["n100"], (70, 50))
    train = load("imagenet", "train", root=tmp_path, size=32)
    assert train.x.shape == (4, 3, 32, 32) and train.y.tolist() == [0, 0, 1, 1]
    val = load("imagenet", "test", root=root, size=32)
    assert val.y.tolist() == [1, 0]  # file-name order across classes
    assert torch.allclose(val.x[1].mean(dim=(1, 2)), torch.tensor([200, 0, 0]) / 255, atol=0.03)
    assert load("imagenet", "test", root=root, size=16, n=1).x.shape == (1, 3, 16, 16)


def test_imagenet_memory_guard_and_bad_option(tmp_path: Path, monkeypatch) -> None:
    from robustlab.core.data import folders

    solid_jpeg(tmp_path / "val" / "n1" / "x.JPEG", (1, 2, 3))
    solid_jpeg(tmp_path / "val" / "n1" / "y.JPEG", (1, 2, 3))
    monkeypatch.setattr(folders, "MAX_DECODE_BYTES", 3 * 224 * 224 * 4)
    with pytest.raises(ValueError, match="pass n="):
        load("imagenet", "test", root=tmp_path)
    assert load("imagenet", "test", root=tmp_path, n=1).x.shape == (1, 3, 224, 224)
    with pytest.raises(ValueError, match="no option"):
        load("imagenet", "test", root=tmp_path, n=1, colour=True)
