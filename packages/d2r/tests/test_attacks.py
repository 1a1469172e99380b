"""The CAG attack (eq. 4): threat model, both models' modes, objective, equivalences, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robustlab.core.attacks import ATTACKS, LOSSES
from robustlab.core.losses import kl_div
from robustlab.core.testing import AttackCase, AttackContract
from robustlab.d2r import CAG_DEFAULTS, CAGAttack, cag_kl_loss

EPS = 0.031


def tiny(k: int = 3, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(16, 12),
        nn.BatchNorm1d(12),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(12, k),
    )


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    x = torch.rand(8, 1, 4, 4, generator=g)
    x[0].fill_(0.0)  # an image on the box boundary: the clamp to [0, 1] must hold
    x[1].fill_(1.0)
    return x, torch.randint(0, 3, (8,), generator=g)


def modes(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


def test_registered_with_paper_defaults() -> None:
    attack = ATTACKS.build("d2r/cag")
    assert isinstance(attack, CAGAttack)
    assert (attack.eps, attack.alpha, attack.steps, attack.init_std) == (0.031, 0.007, 10, 0.001)
    assert CAG_DEFAULTS == {"eps": 0.031, "alpha": 0.007, "steps": 10, "init_std": 0.001}
    assert attack.random_start and attack.init == "normal" and attack.norm == "Linf"
    assert ATTACKS.build("d2r/cag", eps=0.1, steps=3).steps == 3


def test_stays_in_the_eps_ball_and_box_and_moves() -> None:
    target, guide = tiny(seed=0), tiny(seed=1)
    x, y = batch()
    x_adv = CAGAttack(seed=0)(target, x, y, guide=guide)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert float((x_adv - x).abs().max()) <= EPS + 1e-6
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    # 10 steps of 0.007 from a 0.001-noise start reach the ball's boundary somewhere.
    assert float((x_adv - x).abs().max()) > EPS - 1e-4


@pytest.mark.parametrize("setup", ["train", "eval", "mixed"])
def test_modes_restored_and_eval_during_generation(setup: str) -> None:
    target, guide = tiny(seed=0), tiny(seed=1)
    if setup == "eval":
        target.eval()
        guide.eval()
    if setup == "mixed":
        target[2].eval()  # frozen BN inside a model in train mode
        guide.eval()
        guide[4].train()
    before = (modes(target), modes(guide))
    seen: list[bool] = []
    for model in (target, guide):
        for m in model.modules():
            m.register_forward_pre_hook(lambda mod, _inp: seen.append(mod.training))
    x, y = batch()
    CAGAttack(seed=0)(target, x, y, guide=guide)
    assert seen and not any(seen)  # every module of both models ran in eval mode
    assert (modes(target), modes(guide)) == before


def test_as_is_mode_uses_the_models_as_they_are() -> None:
    target, guide = tiny(seed=0), tiny(seed=1)
    seen: list[bool] = []
    target[2].register_forward_pre_hook(lambda mod, _inp: seen.append(mod.training))
    x, y = batch()
    CAGAttack(models_mode="as-is", seed=0)(target, x, y, guide=guide)
    assert seen and all(seen)
    assert all(modes(target)) and all(modes(guide))


def test_no_parameter_gradients_and_input_untouched() -> None:
    target, guide = tiny(seed=0), tiny(seed=1)
    x, y = batch()
    x0 = x.clone()
    CAGAttack(seed=0)(target, x, y, guide=guide)
    assert torch.equal(x, x0)
    assert all(p.grad is None for model in (target, guide) for p in model.parameters())


def test_increases_the_collaborative_kl() -> None:
    target, guide = tiny(seed=0), tiny(seed=1)
    x, y = batch()
    x_adv = CAGAttack(seed=0)(target, x, y, guide=guide)
    target.eval()
    guide.eval()
    with torch.no_grad():
        z_g = guide(x)
        before = kl_div(z_g, target(x), "none")
        after = kl_div(z_g, target(x_adv), "none")
    assert float(after.sum()) > float(before.sum())
    assert int((after > before).sum()) >= 6


def test_guide_logits_form_equals_guide_model_form_and_seed_is_deterministic() -> None:
    target, guide = tiny(seed=0), tiny(seed=1)
    x, y = batch()
    a = CAGAttack(seed=5)(target, x, y, guide=guide)
    b = CAGAttack(seed=5)(target, x, y, guide=guide)
    guide.eval()
    with torch.no_grad():
        z_g = guide(x)
    guide.train()
    c = CAGAttack(seed=5)(target, x, y, guide_logits=z_g)
    assert torch.equal(a, b) and torch.equal(a, c)


def test_with_guide_equal_to_target_it_is_the_trades_kl_attack() -> None:
    target = tiny(seed=0)
    x, y = batch()
    cag = CAGAttack(seed=7)(target, x, y, guide=target)
    trades = ATTACKS.build(
        "pgd", eps=0.031, alpha=0.007, steps=10, loss="kl", init="normal", init_std=0.001, seed=7
    )
    target.eval()
    ref = trades(target, x, y)
    assert torch.allclose(cag, ref, atol=1e-7)


def test_errors_name_the_problem() -> None:
    target, guide = tiny(seed=0), tiny(seed=1)
    x, y = batch()
    attack = CAGAttack()
    with pytest.raises(ValueError, match="neither"):
        attack(target, x, y)
    with pytest.raises(ValueError, match="both"):
        attack(target, x, y, guide=guide, guide_logits=torch.zeros(8, 3))
    with pytest.raises(ValueError, match="number of classes"):
        attack(target, x, y, guide=tiny(k=5))
    with pytest.raises(ValueError, match="guide_logits"):
        attack(target, x, y, guide_logits=torch.zeros(8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        attack(target, x * 2, y, guide=guide)
    with pytest.raises(ValueError, match="fixes"):
        CAGAttack(loss="ce")
    with pytest.raises(ValueError, match="models_mode"):
        CAGAttack(models_mode="train")
    with pytest.raises(ValueError, match="eps"):
        CAGAttack(eps=-1.0)
    # A failed call leaves the modes as they were.
    assert all(modes(target)) and all(modes(guide))


def test_objective_reads_logits_ref_and_is_registered() -> None:
    assert LOSSES.get("d2r/cag-kl") is cag_kl_loss
    z_adv = torch.tensor([[float(torch.tensor(3.0).log()), 0.0]])
    z_g = torch.zeros(1, 2)
    # KL([0.5, 0.5] || [0.75, 0.25]) = 0.5 ln(0.5 / 0.75) + 0.5 ln(0.5 / 0.25) = 0.143841
    value = cag_kl_loss(z_adv, torch.tensor([0]), logits_ref=z_g, logits_clean=z_adv)
    assert value.tolist() == pytest.approx([0.143841], abs=1e-6)
    with pytest.raises(ValueError, match="logits_ref"):
        cag_kl_loss(z_adv, torch.tensor([0]), logits_clean=z_adv)


def tiny_conv_guide() -> nn.Module:
    """A guide for the contract's default test model: inputs (3, 8, 8), 5 classes."""
    torch.manual_seed(11)
    return nn.Sequential(
        nn.Conv2d(3, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(128, 5)
    )


class _BoundCAG(CAGAttack):
    """CAG with a fixed guide, so that core's attack contract can call ``attack(model, x, y)``."""

    guide = tiny_conv_guide()

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, **ctx: object):
        return super().__call__(model, x, y, guide=self.guide, **ctx)


class _BoundCase(AttackCase):
    def build(self, **overrides: object) -> CAGAttack:
        attack = super().build(**overrides)  # registry path: unknown options, eps checks
        bound = _BoundCAG.__new__(_BoundCAG)
        bound.__dict__.update(attack.__dict__)
        return bound


class TestCAGContract(AttackContract):
    """Core's attack contract (threat model, modes, determinism, errors) on d2r/cag."""

    @pytest.fixture
    def attack_case(self) -> AttackCase:
        return _BoundCase("d2r/cag", {"steps": 3})
