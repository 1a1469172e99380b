"""The paper's training methods as loss steps of the core engine."""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch import nn

from robustlab.core.errors import ConfigError
from robustlab.core.train import METHODS, StepContext, TrainContext
from robustlab.pcloss import trainer  # noqa: F401 - registers the methods
from robustlab.pcloss.losses import GCELoss, PCLoss

NAMES = ("pcloss/pc", "pcloss/gce", "pcloss/ce-at", "pcloss/pc-at", "pcloss/gce-at")


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))


def step_ctx() -> StepContext:
    train_ctx = TrainContext(
        config=None,
        device=torch.device("cpu"),
        num_classes=3,
        in_channels=1,
        image_size=(4, 4),
        epochs=1,
        steps_per_epoch=1,
        precision="fp32",
        autocast=contextlib.nullcontext,
    )
    return StepContext(epoch=0, iteration=0, step=0, replay=0, lr=0.01, train=train_ctx)


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(6, 1, 4, 4, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])


def test_methods_are_registered() -> None:
    for name in NAMES:
        assert name in METHODS.names()
        assert METHODS.build(name).name == name


def test_pc_step_is_the_pc_loss_of_the_logits() -> None:
    model, (x, y) = tiny_model(), batch()
    out = METHODS.build("pcloss/pc", xi=0.9, lam=0.1).loss(model, x, y, step_ctx())
    expected = PCLoss(xi=0.9, lam=0.1)(model(x), y)
    torch.testing.assert_close(out.loss, expected)
    assert out.logits.shape == (6, 3) and not out.logits.requires_grad
    with torch.no_grad():
        pc, lc = PCLoss(xi=0.9).terms(model(x), y)
    assert out.metrics == pytest.approx({"pc": float(pc), "lc": float(lc)})
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_gce_step() -> None:
    model, (x, y) = tiny_model(), batch()
    out = METHODS.build("pcloss/gce", alpha=0.5).loss(model, x, y, step_ctx())
    torch.testing.assert_close(out.loss, GCELoss(0.5)(model(x), y))


@pytest.mark.parametrize(
    ("name", "opts"), [("pcloss/pc", {"margin": 0.8}), ("pcloss/ce-at", {"xi": 0.9})]
)
def test_unknown_options_are_config_errors(name: str, opts: dict) -> None:
    with pytest.raises(ConfigError, match="valid options"):
        METHODS.build(name, **opts)


def test_bad_option_values() -> None:
    with pytest.raises(ValueError, match="xi"):
        METHODS.build("pcloss/pc", xi=0)
    with pytest.raises(ValueError, match="eps_range"):
        METHODS.build("pcloss/ce-at", eps_range=(0.3, 0.1))
    with pytest.raises(ValueError, match="attack_mode"):
        METHODS.build("pcloss/pc-at", attack_mode="frozen")


def test_adversarial_step_mixes_clean_and_adversarial_one_to_one() -> None:
    model, (x, y) = tiny_model(), batch()
    model.train()
    method = METHODS.build("pcloss/pc-at", eps_range=(0.1, 0.3), seed=3)
    seen: list[torch.Tensor] = []
    model.register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
    out = method.loss(model, x, y, step_ctx())
    assert model.training  # mode restored after crafting in eval mode
    mixed = seen[-1]
    assert mixed.shape[0] == 12  # B clean + B adversarial
    torch.testing.assert_close(mixed[:6], x)
    delta = (mixed[6:] - x).abs().amax()
    assert 0.1 - 1e-6 <= out.metrics["eps"] <= 0.3 and delta <= out.metrics["eps"] + 1e-6
    assert delta > 0
    assert out.logits.shape == (6, 3)
    assert set(out.metrics) >= {"eps", "adv_acc", "pc", "lc"}


def test_eps_draws_resume_exactly() -> None:
    a = METHODS.build("pcloss/ce-at", seed=7)
    a.draw_eps()
    state = a.state_dict()
    expected = [a.draw_eps() for _ in range(3)]
    b = METHODS.build("pcloss/ce-at", seed=7)
    b.load_state_dict(state)
    assert [b.draw_eps() for _ in range(3)] == expected


def test_pgd_variant_for_color_data() -> None:
    model, (x, y) = tiny_model(), batch()
    method = METHODS.build("pcloss/ce-at", attack="pgd", eps_range=(0.0, 0.1), steps=5)
    eps = 0.08
    x_adv = method.craft(model, x, y, eps)
    assert (x_adv - x).abs().amax() <= eps + 1e-6
    assert torch.equal(method.craft(model, x, y, 0.0), x)  # eps 0: clean copy
