"""TrainConfig validation and the learning-rate schedules against their formulas."""

from __future__ import annotations

import pytest

from robustlab.core.errors import ConfigError
from robustlab.core.train import METHODS, TrainConfig
from robustlab.core.train.schedules import WARMUPS, build_schedule


def test_roundtrip_and_int_to_float() -> None:
    cfg = TrainConfig(lr=1, epochs=3, method_opts={"eps": 0.1})
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(epochs=5).epochs == 5


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"learning_rate": 0.1}, "valid keys"),
        ({"epochs": "3"}, "epochs"),
        ({"epochs": 0}, "epochs"),
        ({"optimizer": "rmsprop"}, "'sgd', 'adam'"),
        ({"augment": 1}, "augment"),
        ({"precision": "fp8"}, "precision"),
        ({"momentum": 1.0}, "momentum"),
        ({"select_best": "val"}, "val_fraction"),
        ({"nesterov": True, "optimizer": "adam"}, "nesterov"),
        ({"method_opts": [1]}, "method_opts"),
        ({"seed": True}, "seed"),
    ],
)
def test_bad_config_rejected(bad: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        TrainConfig.from_dict(bad)


def test_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"lrr": 1})
    for key in ("lr", "epochs", "method_opts", "select_best"):
        assert key in str(info.value)


def test_unknown_method_option_rejected() -> None:
    with pytest.raises(ConfigError, match="beta"):
        METHODS.build("trades", betta=1.0)


def test_constant_and_multistep() -> None:
    assert build_schedule("constant", 0.1, 10, 5)(7, 3) == 0.1
    s = build_schedule("multistep", 0.1, 100, 5, milestones=[75, 90], gamma=0.1)
    assert s(74, 4) == pytest.approx(0.1)
    assert s(75, 0) == pytest.approx(0.01)
    assert s(90, 0) == pytest.approx(0.001)
    frac = build_schedule("multistep", 0.01, 50, 5)  # CTR: decays at 1/2 and 3/4 of the epochs
    assert frac(24, 0) == pytest.approx(0.01) and frac(25, 0) == pytest.approx(0.001)
    assert frac(37, 0) == pytest.approx(0.001) and frac(38, 0) == pytest.approx(1e-4)


def test_cyclic_triangle() -> None:
    s = build_schedule("cyclic", 0.2, 10, 100)  # 1000 steps, peak at step 500
    assert s(0, 0) == 0.0
    assert s(2, 50) == pytest.approx(0.2 * 250 / 500)
    assert s(5, 0) == pytest.approx(0.2)
    assert s(7, 50) == pytest.approx(0.2 * 250 / 500)
    assert s(9, 99) == pytest.approx(0.2 * 1 / 500)


def test_piecewise_awp() -> None:
    s = build_schedule("piecewise", 0.1, 200, 10)
    assert s(98, 9) == pytest.approx(0.1)  # t = 99/200 < 0.5
    assert s(99, 9) == pytest.approx(0.01)  # t = 100/200
    assert s(149, 8) == pytest.approx(0.01)
    assert s(149, 9) == pytest.approx(0.001)


def test_lbgat_schedule() -> None:
    s = build_schedule("lbgat", 0.1, 100, 10)
    assert s(0, 5) == pytest.approx(0.02)
    assert s(1, 0) == pytest.approx(0.1) and s(74, 9) == pytest.approx(0.1)
    assert s(75, 0) == pytest.approx(0.01) and s(89, 0) == pytest.approx(0.01)
    assert s(90, 0) == pytest.approx(0.001)


def test_warmup_registry() -> None:
    if "test/half-first" not in WARMUPS:  # a toy warm-up: half the lr in epoch 0
        WARMUPS.register("test/half-first", lambda epochs, n: lambda e, i: 0.5 if e == 0 else 1.0)
    s = build_schedule("constant", 0.2, 5, 4, warmup="test/half-first")
    assert s(0, 3) == 0.1 and s(1, 0) == 0.2
    assert build_schedule("constant", 0.2, 5, 4, warmup="none")(0, 0) == 0.2
    with pytest.raises(ConfigError, match=r"unknown warmup 'ctr'.*Valid warmup names"):
        build_schedule("constant", 0.1, 10, 10, warmup="ctr")
    with pytest.raises(ConfigError, match="warmup"):
        TrainConfig(warmup="nope")
    assert TrainConfig(warmup="test/half-first").warmup == "test/half-first"


@pytest.mark.parametrize(
    ("name", "opts"),
    [
        ("cyclic", {"up": 1.5}),
        ("multistep", {"milestone": [3]}),
        ("nope", {}),
        ("piecewise", {"factors": [1]}),
    ],
)
def test_bad_schedule(name: str, opts: dict) -> None:
    with pytest.raises(ConfigError):
        build_schedule(name, 0.1, 10, 10, **opts)
