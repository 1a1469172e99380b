"""Data layer: the real Fashion-MNIST, the registry, resolution order, errors, ensure, CLI."""

from __future__ import annotations

import gzip
import pickle
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from robustlab.core.data import (
    DATASETS,
    ArrayData,
    Augment,
    DatasetInfo,
    catalog,
    ensure,
    info,
    load,
    sources,
)
from robustlab.core.data import provision as ensure_mod
from robustlab.core.errors import DataNotFoundError, UnknownNameError

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Nothing on disk anywhere robustlab looks, and no network."""
    monkeypatch.setattr(sources, "SYSTEM_DATA_DIRS", [])
    monkeypatch.delenv("ROBUSTLAB_DATA", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("ROBUSTLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ROBUSTLAB_OFFLINE", "1")
    return tmp_path


def write_fmnist(directory: Path, n: int, label: int) -> None:
    """Minimal IDX pair per split whose labels are all ``label`` (identifies the source)."""
    directory.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        images = bytes([0, 0, 8, 3]) + np.array([n, 28, 28], ">i4").tobytes() + bytes(n * 784)
        labels = bytes([0, 0, 8, 1]) + np.array([n], ">i4").tobytes() + bytes([label] * n)
        (directory / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(images))
        (directory / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))


# ------------------------------------------------------------------ the real Fashion-MNIST


@pytest.mark.skipif(not FMNIST_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist")
def test_real_fashion_mnist_from_system_package() -> None:
    train = load("fashion-mnist", "train")
    test = load("fashion-mnist", "test")
    assert train.x.shape == (60000, 1, 28, 28) and test.x.shape == (10000, 1, 28, 28)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    assert torch.bincount(train.y).tolist() == [6000] * 10
    assert torch.bincount(test.y).tolist() == [1000] * 10
    first = load("fashion-mnist", "test", n=1000)
    assert torch.equal(first.x, test.x[:1000]) and torch.equal(first.y, test.y[:1000])
    assert first.name == "fashion-mnist/test"
    first.x.zero_()  # results are private copies: the next load is unaffected
    assert float(load("fashion-mnist", "test", n=1).x.max()) > 0


# ------------------------------------------------------------------ registry-wide


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_info_is_consistent(name: str) -> None:
    meta = info(name)
    assert isinstance(meta, DatasetInfo) and meta.name == name
    assert meta.num_classes >= 2 and meta.in_channels in (1, 3)
    assert len(meta.image_size) == 2 and min(meta.image_size) >= 8
    assert meta.train_size > meta.test_size > 0
    assert meta.default_augment is None or isinstance(meta.default_augment, Augment)
    if meta.in_channels == 1:  # gray digits/clothes: no augmentation by default
        assert meta.default_augment is None
    spec = DATASETS.get(name)
    assert spec.fix and (spec.bundled_dir is not None or spec.subdirs)
    with pytest.raises(ValueError, match="split must be one of"):
        load(name, "validation")


def test_default_augmentations_follow_the_papers() -> None:
    assert info("cifar10").default_augment == Augment(4, True)
    assert info("cifar100").default_augment == Augment(4, True)
    assert info("svhn").default_augment == Augment(4, False)  # no flip for digits
    assert info("tiny-imagenet").default_augment == Augment(4, True)
    assert info("digits", size=32).image_size == (32, 32)


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="fashion-mnist") as exc:
        load("fashion_mnistt")
    assert "cifar10" in str(exc.value) and "Did you mean" in str(exc.value)
    with pytest.raises(UnknownNameError):
        info("nope")


def test_registry_build_is_load() -> None:
    data = DATASETS.build("digits", split="test", n=10)
    assert isinstance(data, ArrayData) and data.x.shape == (10, 1, 8, 8)


# ------------------------------------------------------------------ digits and bad arguments


def test_digits_split_and_upsampling() -> None:
    train, test = load("digits", "train"), load("digits", "test")
    assert (len(train), len(test)) == (1437, 360)
    assert float(train.x.max()) == 1.0 and float(train.x.min()) == 0.0
    assert set(test.y.tolist()) == set(range(10))
    again = load("digits", "test")
    assert torch.equal(test.x, again.x) and torch.equal(test.y, again.y)  # fixed split
    big = load("digits-28", "test")
    assert big.x.shape == (360, 1, 28, 28) and torch.equal(big.y, test.y)
    assert float(big.x.min()) >= 0.0 and float(big.x.max()) <= 1.0
    assert load("digits", "test", size=32).x.shape == (360, 1, 32, 32)
    # bilinear upsampling preserves the mean intensity closely
    assert abs(float(big.x.mean()) - float(test.x.mean())) < 0.01


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_n(n: object) -> None:
    with pytest.raises(ValueError, match="n must be a positive int"):
        load("digits", "test", n=n)  # type: ignore[arg-type]


def test_n_larger_than_split_names_its_size() -> None:
    with pytest.raises(ValueError, match=r"n=361 .*\(360 examples"):
        load("digits", "test", n=361)


def test_array_data_unpacks_and_pickles() -> None:
    data = load("digits", "test", n=4)
    x, y = data
    assert x is data.x and y is data.y and len(data) == 4
    back = pickle.loads(pickle.dumps(data))
    assert back.name == "digits/test" and torch.equal(back.x, data.x)
    assert "digits/test" in repr(data)


# ------------------------------------------------------------------ resolution order, errors


def test_resolution_order(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp = isolated
    write_fmnist(tmp / "torch-home" / "datasets" / "FashionMNIST" / "raw", 2, label=4)
    assert load("fashion-mnist", "test").y.tolist() == [4, 4]
    write_fmnist(tmp / "system" / "fashion-mnist", 2, label=3)
    monkeypatch.setattr(sources, "SYSTEM_DATA_DIRS", [tmp / "system"])
    assert load("fashion-mnist", "test").y.tolist() == [3, 3]
    write_fmnist(tmp / "env" / "fashion-mnist", 2, label=2)
    monkeypatch.setenv("ROBUSTLAB_DATA", str(tmp / "env"))
    assert load("fashion-mnist", "test").y.tolist() == [2, 2]
    write_fmnist(tmp / "explicit", 2, label=1)
    assert load("fashion-mnist", "test", root=tmp / "explicit").y.tolist() == [1, 1]
    # a shared root never serves IDX files that sit directly in it (mnist and fmnist share names)
    write_fmnist(tmp / "shared", 2, label=5)
    monkeypatch.setenv("ROBUSTLAB_DATA", str(tmp / "shared"))
    assert load("fashion-mnist", "test").y.tolist() == [3, 3]


def test_missing_offline_message(isolated: Path) -> None:
    with pytest.raises(DataNotFoundError) as exc:
        load("fashion-mnist", "test", root=isolated / "nowhere")
    msg = str(exc.value)
    assert "\n" not in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "ROBUSTLAB_DATA" in msg
    assert str(isolated / "nowhere") in msg
    assert str(isolated / "torch-home" / "datasets" / "FashionMNIST" / "raw") in msg
    assert "No network" in msg
    with pytest.raises(DataNotFoundError, match="download=False"):
        load("cifar10", download=False)
    with pytest.raises(DataNotFoundError, match="cannot be downloaded automatically"):
        load("imagenet", "test", n=1, download=True)


def _with_download(monkeypatch: pytest.MonkeyPatch, name: str, fn) -> None:
    spec = DATASETS.get(name)
    monkeypatch.setitem(DATASETS._entries, name, replace(spec, download=fn))


def test_download_lands_where_the_search_finds_it(isolated: Path, monkeypatch) -> None:
    calls: list[tuple[Path, str]] = []

    def fake_download(dest: Path, split: str) -> None:
        calls.append((dest, split))
        write_fmnist(dest / "MNIST" / "raw", 3, label=6)

    _with_download(monkeypatch, "mnist", fake_download)
    data = load("mnist", "train", download=True)
    assert data.y.tolist() == [6, 6, 6]
    assert calls == [(isolated / "torch-home" / "datasets", "train")]
    load("mnist", "test", download=True)
    assert len(calls) == 1  # already present: no second download


def test_download_none_probes_the_network(isolated: Path, monkeypatch) -> None:
    _with_download(monkeypatch, "mnist", lambda d, s: write_fmnist(d / "mnist", 1, label=7))
    monkeypatch.setattr(catalog.sources, "network_available", lambda url: True)
    assert load("mnist", "test", root=isolated / "r").y.tolist() == [7]
    assert (isolated / "r" / "mnist").is_dir()  # root is the download target


def test_download_failure_is_one_clear_error(isolated: Path, monkeypatch) -> None:
    from urllib.error import URLError

    def failing(dest: Path, split: str) -> None:
        raise URLError("[Errno -2] Name or service not known")

    _with_download(monkeypatch, "kmnist", failing)
    with pytest.raises(DataNotFoundError, match=r"Download into .* failed: URLError") as exc:
        load("kmnist", download=True)
    assert exc.value.__cause__ is None and exc.value.__context__ is None  # no urllib chain


def test_network_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ROBUSTLAB_OFFLINE", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sources, "_REACHABLE", {})
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert sources.network_available(f"http://127.0.0.1:{port}/x")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        free_port = closed.getsockname()[1]
    assert not sources.network_available(f"http://127.0.0.1:{free_port}/x")
    monkeypatch.setenv("ROBUSTLAB_OFFLINE", "1")
    assert not sources.network_available(f"http://127.0.0.1:{port}/x")


# ------------------------------------------------------------------ ensure and the CLI


def test_ensure_present_returns_location(isolated: Path) -> None:
    write_fmnist(isolated / "d" / "fashion-mnist", 1, label=0)
    assert ensure("fashion-mnist", root=isolated / "d") == isolated / "d" / "fashion-mnist"


def test_ensure_runs_apt_with_update_retry(isolated: Path, monkeypatch) -> None:
    system = isolated / "usr-share-datasets"
    monkeypatch.setattr(sources, "SYSTEM_DATA_DIRS", [system])
    monkeypatch.setattr(ensure_mod, "can_use_apt", lambda: True)
    commands: list[list[str]] = []

    def fake_run(cmd: list[str]) -> tuple[int, str]:
        commands.append(cmd)
        if cmd[:2] == ["apt-get", "install"] and len(commands) == 1:
            return 100, "E: Unable to locate package dataset-fashion-mnist"
        if cmd[:2] == ["apt-get", "install"]:
            write_fmnist(system / "fashion-mnist", 2, label=8)
        return 0, ""

    monkeypatch.setattr(ensure_mod, "run_command", fake_run)
    assert ensure("fashion-mnist") == system / "fashion-mnist"
    assert commands == [
        ["apt-get", "install", "-y", "dataset-fashion-mnist"],
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "dataset-fashion-mnist"],
    ]


def test_ensure_without_apt_or_network_explains_the_fix(isolated: Path, monkeypatch) -> None:
    monkeypatch.setattr(ensure_mod, "can_use_apt", lambda: False)
    with pytest.raises(DataNotFoundError) as exc:
        ensure("fashion-mnist")
    msg = str(exc.value)
    assert "apt-get install dataset-fashion-mnist" in msg and "No network" in msg


def test_cli_data_info_and_errors(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from robustlab.core.cli import main

    assert main(["data", "info", "cifar10"]) == 0
    out = capsys.readouterr().out
    assert "num_classes: 10" in out and "train files: missing" in out
    assert main(["data", "ensure", "digits"]) == 0
    assert "digits: present at" in capsys.readouterr().out
    assert main(["data", "ensure", "cifar10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("robustlab: error: dataset 'cifar10'") and err.count("\n") == 1
    assert main(["data", "info", "cifar11"]) == 2
    assert "Valid dataset names" in capsys.readouterr().err
