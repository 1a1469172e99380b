"""The model zoo: exact parameter counts, and registry-wide forward/backward/feature/head checks."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from robustlab.core.errors import ConfigError, UnknownNameError
from robustlab.core.models import (
    MODELS,
    Classifier,
    MultiSampleDropoutHead,
    build,
    model_spec,
    names,
)
from robustlab.core.models.map_drop import add_map_drop
from robustlab.core.models.wide_resnet import WideResNet

ALL = names()
LIGHT = [n for n in ALL if not model_spec(n).heavy]
HEAVY = [n for n in ALL if model_spec(n).heavy]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_build(name: str, **kw: object) -> Classifier:
    with torch.device("meta"):
        return build(name, **kw)


@pytest.mark.parametrize(
    ("name", "kw", "expected"),
    [
        ("lenet5", {"in_channels": 1}, 61_706),
        ("mnistnet", {"in_channels": 1}, 312_202),
        ("resnet32", {}, 464_154),
        ("resnet56", {}, 853_018),
        ("resnet18", {}, 11_173_962),
        ("resnet18-lbgat", {}, 11_173_962),
        ("preactresnet18", {}, 11_172_170),
        ("wrn-34-10", {}, 46_160_474),
        ("wrn-50-2", {"num_classes": 1000}, 68_883_240),
    ],
)
def test_parameter_counts(name: str, kw: dict[str, object], expected: int) -> None:
    assert n_params(meta_build(name, **kw)) == expected


def test_architecture_details() -> None:
    assert meta_build("cnn3", in_channels=1).fc1.in_features == 576
    assert meta_build("lenet5", in_channels=1).fc1.in_features == 400
    assert meta_build("mnistnet", in_channels=1).classifier.fc1.in_features == 1024
    assert meta_build("vgg13").classifier[1].in_features == 512
    assert meta_build("vgg13", image_size=64, num_classes=200).classifier[1].in_features == 2048
    sub = meta_build("wrn-34-10", sub_block1=True)
    assert n_params(sub) - 46_160_474 == n_params(sub.sub_block1)
    assert meta_build("wrn-34-20").feature_dim == 1280
    # LBGAT's variant keeps stage 2 at full resolution: 4x the maps of the standard ResNet-18
    grab: dict[str, tuple[int, ...]] = {}
    for arch in ("resnet18", "resnet18-lbgat"):
        m = meta_build(arch)
        m.layer4.register_forward_hook(lambda _m, _i, o, a=arch: grab.__setitem__(a, o.shape))
        m(torch.empty(1, 3, 32, 32, device="meta"))
    assert grab["resnet18"][-1] == 4 and grab["resnet18-lbgat"][-1] == 8


def _check_head_swap_and_map_drop(model: Classifier, x: torch.Tensor) -> None:
    with x.device:
        model.set_head(MultiSampleDropoutHead(model.feature_dim, 5, k=3))
    with torch.no_grad():
        assert model.num_classes == 5 and model(x).shape == (2, 5)
        assert model.head.forward_samples(model.features(x)).shape == (3, 2, 5)
        with pytest.raises(ValueError, match="feature_dim"):
            model.set_head(nn.Linear(model.feature_dim + 1, 5))
        # every model names a last conv stage for DropBlock/Disout on feature maps
        assert add_map_drop(model.train(), "disout", dist_prob=0.1) == [model.map_drop_stage]
        assert model(x).shape == (2, 5)


@pytest.mark.parametrize("name", LIGHT)
def test_forward_backward_features_head_swap(name: str) -> None:
    c, h, w = model_spec(name).input_size
    torch.manual_seed(0)
    model = build(name, num_classes=7, in_channels=c)
    assert isinstance(model, Classifier) and model.arch == name
    x = torch.rand(2, c, h, w)
    feats = model.features(x)
    assert feats.shape == (2, model.feature_dim)
    logits = model.head(feats)
    assert logits.shape == (2, 7) and model.num_classes == 7
    assert torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.tensor([1, 3])).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.head.weight.grad.abs().sum() > 0  # type: ignore[union-attr]
    _check_head_swap_and_map_drop(model, x)


@pytest.mark.parametrize("name", HEAVY)
def test_heavy_models_shapes_on_meta(name: str) -> None:
    c, h, w = model_spec(name).input_size
    model = meta_build(name, in_channels=c)
    x = torch.empty(2, c, h, w, device="meta")
    assert isinstance(model, Classifier) and model.arch == name
    assert model.features(x).shape == (2, model.feature_dim)
    assert model(x).shape == (2, 10)
    _check_head_swap_and_map_drop(model, x)


@pytest.mark.parametrize("name", LIGHT)
def test_other_channel_count_and_determinism(name: str) -> None:
    c, h, w = model_spec(name).input_size
    other = 3 if c == 1 else 1
    states = []
    for _ in range(2):
        torch.manual_seed(123)
        model = build(name, in_channels=other).eval()
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    with torch.no_grad():
        x = torch.rand(2, other, h, w)
        assert model(x).shape == (2, 10) and torch.equal(model(x), model(x))


@pytest.mark.slow
@pytest.mark.parametrize("name", HEAVY)
def test_heavy_models_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    model = build(name, num_classes=10)
    size = 32 if name.startswith("wrn-") and name != "wrn-50-2" else 64
    out = model(torch.rand(2, 3, size, size))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("sub_block1", [False, True])
def test_small_wide_resnet_real_forward(sub_block1: bool) -> None:
    torch.manual_seed(0)
    model = WideResNet(depth=10, widen_factor=2, sub_block1=sub_block1, dropout=0.3)
    assert ("sub_block1.layer.0.conv1.weight" in model.state_dict()) is sub_block1
    out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 10) and model.feature_dim == 128
    out.sum().backward()
    if sub_block1:  # TRADES' extra stage is never used in forward
        assert all(p.grad is None for p in model.sub_block1.parameters())
    model.eval()
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(model(x), model(x))  # dropout off in eval


def test_normalization_layer_is_first() -> None:
    torch.manual_seed(0)
    plain = build("resnet20").eval()
    normed = build("resnet20", mean=[0.4, 0.5, 0.6], std=[0.2, 0.25, 0.3]).eval()
    normed.load_state_dict(
        {**plain.state_dict(), **dict(normed.normalize.state_dict(prefix="normalize."))}
    )
    x = torch.rand(2, 3, 32, 32)
    mean = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1)
    std = torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    torch.testing.assert_close(normed(x), plain((x - mean) / std))
    torch.testing.assert_close(normed.features(x), plain.features((x - mean) / std))
    assert "normalize.mean" in normed.state_dict()
    with pytest.raises(ValueError, match="in_channels=3"):
        build("resnet20", mean=[0.1, 0.2], std=[1.0, 1.0])
    with pytest.raises(ValueError, match="std must be > 0"):
        build("resnet20", mean=[0.1], std=[0.0])
    with pytest.raises(ValueError, match="both mean= and std="):
        build("resnet20", mean=[0.1])


def test_image_size_options() -> None:
    assert build("lenet5", image_size=32)(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    vgg = build("vgg13", in_channels=1, image_size=28)
    assert vgg(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert build("resnet18", in_channels=1)(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="too small"):
        build("lenet5", image_size=8)


def test_build_options_and_heads() -> None:
    model = build("mnistnet", in_channels=1, dropout=0.2, head="msd", head_opts={"k": 4})
    assert model.classifier.drop.p == 0.2 and isinstance(model.head, MultiSampleDropoutHead)
    assert model.build_config["head_opts"] == {"k": 4}
    assert build("lenet5", head="normalized", head_opts={"scale": 8.0}).head.scale == 8.0
    emb = build("lenet5", head="embedding", head_opts={"dim": 3})
    assert emb.head.embed(emb.features(torch.rand(2, 3, 28, 28))).shape == (2, 3)
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['dropuot'\].*dropout"):
        build("mnistnet", dropuot=0.1)
    with pytest.raises(ConfigError, match="head_opts= needs head="):
        build("lenet5", head_opts={"k": 2})
    with pytest.raises(ValueError, match=r"unknown head kind 'msdd'.*msd"):
        build("lenet5", head="msdd")


def test_unknown_model_lists_names() -> None:
    with pytest.raises(UnknownNameError, match=r"Did you mean 'resnet18'.*lenet5.*wrn-34-10"):
        build("resnet-18")
    assert "lenet5" in MODELS and set(LIGHT) | set(HEAVY) == set(ALL)


def test_map_drop_keeps_state_dict_and_follows_mode() -> None:
    torch.manual_seed(0)
    plain = build("resnet20")
    spec = {"kind": "dropblock", "drop_prob": 0.3, "block_size": 3, "after": ["layer2", "layer3"]}
    dropped = build("resnet20", map_drop=spec)
    assert dropped.state_dict().keys() == plain.state_dict().keys()
    dropped.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 32, 32)
    plain.eval(), dropped.eval()
    assert torch.equal(plain(x), dropped(x))  # identity in eval
    dropped.train()
    assert not torch.allclose(dropped(x), dropped(x))
    twin = copy.deepcopy(dropped).eval()  # AWP-style proxy: the hook travels with the copy
    assert dropped.training
    hooks = [next(iter(m.layer3._forward_hooks.values())) for m in (dropped, twin)]
    assert hooks[0] is not hooks[1] and hooks[0].op is not hooks[1].op
    dropped.eval()
    assert torch.equal(twin(x), dropped(x))
    twin.train()
    assert not torch.allclose(twin(x), twin(x))
    assert dropped.build_config["map_drop"] == spec
    with pytest.raises(ValueError, match="unknown map_drop kind"):
        build("resnet20", map_drop={"kind": "zoneout"})
    with pytest.raises(ValueError, match=r"no submodule 'layer9'.*layer3"):
        build("resnet20", map_drop={"after": "layer9"})
    with pytest.raises(ValueError, match="bad options"):
        build("resnet20", map_drop={"kind": "dropout", "drop_prob": 0.1})
