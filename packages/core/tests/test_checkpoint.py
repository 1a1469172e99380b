"""Checkpoint round trips, foreign key layouts and the errors for bad files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from robustlab.core.errors import CheckpointError
from robustlab.core.models import build, load_checkpoint, load_model, save_checkpoint
from robustlab.core.models.checkpoint import meta_path
from robustlab.core.models.wide_resnet import WideResNet


def _perturbed(name: str, seed: int, **kw: object) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build(name, **kw)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_round_trip_weights_and_meta(tmp_path: Path) -> None:
    src = _perturbed("lenet5", 0, in_channels=1, mean=[0.5], std=[0.25])
    path = save_checkpoint(tmp_path / "m.safetensors", src, {"epoch": 3, "lr": 0.1})
    assert path.is_file() and meta_path(path).is_file()
    dst = build("lenet5", in_channels=1, mean=[0.0], std=[1.0])
    assert not _same(src, dst)
    loaded, meta = load_checkpoint(path, dst)
    assert loaded is dst and _same(src, dst)
    info = meta.pop("_checkpoint")
    assert meta == {"epoch": 3, "lr": 0.1}
    assert info["model"]["name"] == "lenet5" and info["environment"]["torch"] == torch.__version__
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "r.safetensors", src, {"_checkpoint": 1})
    x = torch.rand(3, 1, 28, 28)
    src.eval(), dst.eval()
    assert torch.equal(src(x), dst(x))
    sd, _ = load_checkpoint(path)
    assert set(sd) == set(src.state_dict())


def test_load_model_rebuilds_from_metadata_and_embedded_header(tmp_path: Path) -> None:
    src = _perturbed("mnistnet", 1, in_channels=1, num_classes=7)
    path = save_checkpoint(tmp_path / "m.safetensors", src, {})
    meta_path(path).unlink()  # the metadata is also embedded in the safetensors header
    model, meta = load_model(path)
    assert (
        model.num_classes == 7
        and _same(src, model)
        and meta["_checkpoint"]["model"]["num_classes"] == 7
    )


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod."])
def test_wrapper_prefix_is_stripped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, prefix: str
) -> None:
    src = _perturbed("lenet5", 2)
    sd = {f"{prefix}{k}": v for k, v in src.state_dict().items()}
    path = save_checkpoint(tmp_path / "dp.safetensors", sd)
    dst = build("lenet5")
    with caplog.at_level(logging.INFO):
        load_checkpoint(path, dst)
    assert _same(src, dst) and prefix in caplog.text


def test_reference_names_are_mapped(tmp_path: Path) -> None:
    src = _perturbed("mnistnet", 3)
    sd = {k.replace("head.", "classifier.fc3."): v for k, v in src.state_dict().items()}
    path = save_checkpoint(tmp_path / "trades.safetensors", sd)
    dst = build("mnistnet")
    load_checkpoint(path, dst)
    assert _same(src, dst)


def test_sub_block1_dropped_only_when_target_lacks_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    torch.manual_seed(0)
    trades = WideResNet(depth=10, widen_factor=1, num_classes=10, sub_block1=True)
    sd = {k.replace("head.", "fc."): v for k, v in trades.state_dict().items()}
    assert any(k.startswith("sub_block1.") for k in sd)
    path = save_checkpoint(tmp_path / "trades_wrn.pt.safetensors", sd)
    plain = WideResNet(depth=10, widen_factor=1, num_classes=10, sub_block1=False)
    with caplog.at_level(logging.INFO):
        load_checkpoint(path, plain)
    assert "sub_block1" in caplog.text
    x = torch.rand(2, 3, 32, 32)
    trades.eval(), plain.eval()
    assert torch.equal(trades(x), plain(x))
    with_sub = WideResNet(depth=10, widen_factor=1, num_classes=10, sub_block1=True)
    load_checkpoint(path, with_sub)
    assert _same(trades, with_sub)
    # the other direction: a checkpoint without sub_block1 into a model that has one
    path2 = save_checkpoint(tmp_path / "plain.safetensors", plain)
    with pytest.raises(CheckpointError, match="missing keys: sub_block1"):
        load_checkpoint(path2, WideResNet(depth=10, widen_factor=1, sub_block1=True))


def test_wrong_architecture_is_one_clear_error(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "lenet.safetensors", build("lenet5", in_channels=1))
    with pytest.raises(CheckpointError, match=r"lenet\.safetensors.*different architecture"):
        load_checkpoint(path, build("mnistnet", in_channels=1))
    # same keys, different arch name and no metadata -> key/shape checks still apply
    sd, _ = load_checkpoint(path)
    raw = save_checkpoint(tmp_path / "raw.safetensors", sd)
    with pytest.raises(CheckpointError, match="missing keys"):
        load_checkpoint(raw, build("mnistnet", in_channels=1))
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_checkpoint(raw, build("lenet5", in_channels=1, num_classes=5))


def test_unexpected_keys_and_strict_false(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sd = dict(build("lenet5").state_dict())
    sd["extra.weight"] = torch.zeros(3)
    path = save_checkpoint(tmp_path / "x.safetensors", sd)
    with pytest.raises(CheckpointError, match=r"unexpected keys: extra\.weight"):
        load_checkpoint(path, build("lenet5"))
    del sd["head.bias"], sd["extra.weight"]
    path = save_checkpoint(tmp_path / "y.safetensors", sd)
    with caplog.at_level(logging.WARNING):
        load_checkpoint(path, build("lenet5"), strict=False)
    assert "head.bias" in caplog.text


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_truncated_file_error_names_file(tmp_path: Path, cut: float) -> None:
    path = save_checkpoint(tmp_path / "t.safetensors", build("lenet5"))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(CheckpointError, match=r"t\.safetensors is truncated or corrupt"):
        load_checkpoint(path, build("lenet5"))


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "junk.safetensors"
    bad.write_bytes(b"\x00" * 5)
    with pytest.raises(CheckpointError, match=r"junk\.safetensors"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")
    legacy = tmp_path / "ok.pt"
    torch.save(build("lenet5").state_dict(), legacy)
    meta_path(legacy).write_text("{not json")
    with pytest.raises(CheckpointError, match=r"ok\.meta\.json"):
        load_checkpoint(legacy)


def test_legacy_torch_state_dicts(tmp_path: Path) -> None:
    src = _perturbed("lenet5", 4)
    plain = tmp_path / "a.pth"
    torch.save(src.state_dict(), plain)
    dst = build("lenet5")
    load_checkpoint(plain, dst)
    assert _same(src, dst)
    wrapped = tmp_path / "b.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src.state_dict().items()}}, wrapped)
    dst2 = build("lenet5")
    load_checkpoint(wrapped, dst2)
    assert _same(src, dst2)
    junk = tmp_path / "c.pt"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(CheckpointError, match=r"c\.pt"):
        load_checkpoint(junk)


def test_tied_weights_and_header_metadata_win(tmp_path: Path) -> None:
    lin = torch.nn.Linear(4, 4)
    sd = {"a": lin.weight, "b": lin.weight, "c": lin.weight.T}  # shared storage, non-contiguous
    path = save_checkpoint(tmp_path / "tied.safetensors", sd, {"v": 1})
    meta_path(path).write_text('{"v": 2}')  # a stale sidecar never overrides the weights' header
    loaded, meta = load_checkpoint(path)
    assert meta["v"] == 1
    assert torch.equal(loaded["b"], lin.weight) and torch.equal(loaded["c"], lin.weight.T)


def test_sidecar_is_valid_json_and_write_is_atomic(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "sub" / "m.safetensors", build("lenet5"), {"k": [1, 2]})
    meta = json.loads(meta_path(path).read_text())
    assert meta["_checkpoint"]["format_version"] == 1 and meta["k"] == [1, 2]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]
