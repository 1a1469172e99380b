"""CTR attacks and training methods on the core registries and engine."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robustlab.core.attacks import ATTACKS, LOSSES
from robustlab.core.train import METHODS, TrainConfig, train
from robustlab.ctr import at as ctr_at
from robustlab.ctr import attacks as ctr_attacks
from robustlab.ctr import trainer as ctr_trainer
from robustlab.ctr.losses import MDLoss, std_loss


class TinyNet(nn.Module):
    """A fixed linear classifier on 1x8x8 inputs."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.fc = nn.Linear(64, 10)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(10, 64, generator=g) * 0.5)
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(32, 1, 8, 8, generator=g), torch.randint(0, 10, (32,), generator=g)


def test_every_ctr_attack_is_registered_and_stays_in_the_threat_model() -> None:
    model, (x, y) = TinyNet().eval(), _batch()
    for name in ctr_attacks.CTR_ATTACKS:
        assert name in ATTACKS.names()
        kw: dict = {"eps": 0.1, "seed": 0}
        if name.endswith("-pgd"):
            kw |= {"alpha": 0.02, "steps": 3}
        elif name.endswith("-apgd"):
            kw |= {"steps": 3}
        x_adv = ATTACKS.build(name, **kw)(model, x, y)
        assert x_adv.shape == x.shape
        assert (x_adv - x).abs().max() <= 0.1 + 1e-6
        assert x_adv.min() >= 0 and x_adv.max() <= 1
    for loss in ("ctr/std", "ctr/sce", "ctr/skl"):
        assert loss in LOSSES


def test_s_pgd_increases_the_std_loss_of_a_fixed_model() -> None:
    model, (x, y) = TinyNet().eval(), _batch()
    before = std_loss(model(x), y)
    x_adv = ATTACKS.build("ctr/s-pgd", eps=0.1, alpha=0.02, steps=10, seed=0)(model, x, y)
    after = std_loss(model(x_adv), y)
    assert after.mean() > before.mean() * 1.2
    assert (after >= before - 1e-6).float().mean() > 0.9
    # CE-PGD on the same budget raises the CE, not specifically the STD
    ce_adv = ATTACKS.build("pgd", eps=0.1, alpha=0.02, steps=10, seed=0)(model, x, y)
    assert std_loss(model(x_adv), y).mean() > std_loss(model(ce_adv), y).mean()


def test_sce_attack_with_gamma_zero_is_the_ce_attack() -> None:
    model, (x, y) = TinyNet().eval(), _batch()
    a = ATTACKS.build("ctr/sce-pgd", gamma=0.0, eps=0.1, alpha=0.02, steps=5, seed=0)(model, x, y)
    b = ATTACKS.build("pgd", eps=0.1, alpha=0.02, steps=5, seed=0)(model, x, y)
    assert torch.equal(a, b)
    k = ATTACKS.build("ctr/skl-pgd", gamma=0.0, eps=0.1, alpha=0.02, steps=5, seed=0)(model, x, y)
    kl = ATTACKS.build("pgd", loss="kl", eps=0.1, alpha=0.02, steps=5, seed=0)(model, x, y)
    assert torch.allclose(k, kl, atol=1e-6)


def test_attack_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="fixes its loss"):
        ATTACKS.build("ctr/s-pgd", loss="ce")
    with pytest.raises(ValueError, match="gamma"):
        ATTACKS.build("ctr/sce-pgd", gamma=-1.0)
    with pytest.raises(ValueError, match="no gamma"):
        ctr_attacks.ctr_attack_loss("std", gamma=1.0)


def _run(tmp_path, name: str, method: str, opts: dict, model: str = "lenet5") -> dict:
    cfg = TrainConfig(
        dataset="fashion-mnist",
        model=model,
        method=method,
        method_opts=opts,
        epochs=1,
        batch_size=32,
        n_train=64,
        n_test=32,
        lr=0.05,
        precision="fp32",
    )
    result = train(cfg, tmp_path / name, progress=False)
    return {k: v.detach().clone() for k, v in result.model.state_dict().items()}


@pytest.mark.parametrize(
    ("base", "opts"),
    [
        ("madry-at", {"eps": 0.1, "alpha": 0.025, "steps": 2}),
        ("fast-at", {"eps": 0.1}),
        ("free-at", {"eps": 0.1, "m": 2}),
        ("trades", {"eps": 0.1, "alpha": 0.025, "steps": 2, "beta": 3.0}),
    ],
)
def test_ctr_trainer_with_gamma_zero_is_the_baseline(tmp_path, base: str, opts: dict) -> None:
    ref = _run(tmp_path, "ref", base, opts)
    zero = _run(tmp_path, "zero", f"ctr/{base}", {**opts, "gamma": 0.0})
    two = _run(tmp_path, "two", f"ctr/{base}", {**opts, "gamma": 2.0})
    assert all(torch.equal(ref[k], zero[k]) for k in ref)  # bit-identical
    assert any(not torch.allclose(ref[k], two[k], atol=1e-4) for k in ref)


def test_ctr_trainers_are_the_core_methods_with_ctr_objectives() -> None:
    from robustlab.core.train.methods import adversarial, free, trades
    from robustlab.ctr.losses import SCE, SKL

    for name, cls in [("ctr/madry-at", adversarial.MadryAT), ("ctr/fast-at", adversarial.FastAT),
                      ("ctr/free-at", free.FreeAT), ("ctr/trades", trades.TRADES)]:  # fmt: skip
        method = METHODS.build(name, gamma=3.0)
        assert type(method) is cls and method.name == name
        assert method.options()["gamma"] == 3.0
        assert isinstance(method.objective_fn("objective"), SCE)
    assert isinstance(METHODS.build("ctr/trades").objective_fn("robust_objective"), SKL)
    assert set(ctr_at.CTR_AT_METHODS) <= set(METHODS.names())


def test_ctr_trainer_rejects_negative_gamma_and_objectives() -> None:
    from robustlab.core.errors import ConfigError

    with pytest.raises(ValueError, match="gamma"):
        METHODS.build("ctr/madry-at", gamma=-0.5)
    with pytest.raises(ConfigError, match="fixes"):
        METHODS.build("ctr/trades", objective="ce")


def test_eq29_warmup_is_registered_by_ctr() -> None:
    from robustlab.core.train.schedules import WARMUPS, build_schedule

    assert "ctr/eq29" in WARMUPS.names()
    k = ctr_trainer.ctr_warmup_factors(50)  # I = 5
    assert len(k) == 5 and k[0] == 0.001
    for i in range(1, 5):  # kappa_{i+1} = kappa_i (1 - i/I) + i/I
        assert k[i] == pytest.approx(k[i - 1] * (1 - i / 5) + i / 5)
    s = build_schedule("multistep", 0.1, 50, 4, warmup="ctr/eq29", milestones=[2 / 3, 5 / 6])
    assert s(0, 3) == pytest.approx(0.1 * 0.001)
    assert s(2, 0) == pytest.approx(0.1 * k[2])
    assert s(5, 0) == pytest.approx(0.1)  # epoch I+1 (1-based 6): factor 1
    assert s(33, 0) == pytest.approx(0.01)
    assert ctr_trainer.ctr_warmup_factors(5) == [0.001]
    assert TrainConfig(warmup="ctr/eq29").warmup == "ctr/eq29"


def test_mdl_method_trains_with_a_multi_sample_head(tmp_path) -> None:
    state = _run(tmp_path, "mdl", "ctr/mdl", {"eta": 90.0, "K": 3}, model="lenet5")
    assert "head.fc.weight" in state
    for name in ("ctr/mdl-pcc", "ctr/dc-mdl", "ctr/ls-mdl", "ctr/ols-mdl"):
        method = METHODS.build(name)
        assert isinstance(method, ctr_trainer.MDLMethod) and method.name == name
    assert METHODS.build("ctr/mdl-pcc").criterion.diversity == "pearson"
    with pytest.raises(ValueError, match="unknown option"):
        METHODS.build("ctr/mdl-pcc", diversity="cosine")
    with pytest.raises(ValueError, match="K"):
        METHODS.build("ctr/mdl", K=1)


def test_mdl_method_loss_is_mdloss_on_the_head_samples() -> None:
    from robustlab.core.models import build

    model = build("lenet5", 10, 1, head="msd", head_opts={"k": 4, "p": 0.5})
    method = METHODS.build("ctr/mdl", eta=90.0)
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    torch.manual_seed(0)
    out = method.loss(model, x, y, None)  # type: ignore[arg-type]
    torch.manual_seed(0)
    expected = MDLoss(K=4, eta=90.0)(model.head.forward_samples(model.features(x)), y)
    assert out.loss.item() == pytest.approx(expected.item(), abs=1e-6)
    assert out.logits is not None and out.logits.shape == (16, 10)


def test_ols_mdl_resumes_its_soft_labels(tmp_path) -> None:
    method = METHODS.build("ctr/ols-mdl")
    from robustlab.core.models import build

    model = build("lenet5", 10, 1, **method.model_overrides())

    class Ctx:
        num_classes = 10

    method.setup(model, Ctx())  # type: ignore[arg-type]
    method._ols.soft[0] = torch.linspace(0, 1, 10)
    state = method.state_dict()
    assert set(state) == {"ols_soft", "ols_sums", "ols_counts"}
    other = METHODS.build("ctr/ols-mdl")
    other.setup(model, Ctx())  # type: ignore[arg-type]
    other.load_state_dict(state)
    assert torch.equal(other._ols.soft, method._ols.soft)


def test_online_label_smoothing_targets() -> None:
    from robustlab.core.train.objectives import OnlineLabelSmoothing

    assert ctr_trainer.OnlineLabelSmoothing is OnlineLabelSmoothing  # one class, core's
    ols = OnlineLabelSmoothing(alpha=0.5, smoothing=0.3, num_classes=3)
    # first epoch: LS targets [0.7, 0.15, 0.15] mixed half with one-hot -> [0.85, 0.075, 0.075]
    t = ols.target(torch.tensor([0]))
    assert t[0].tolist() == pytest.approx([0.85, 0.075, 0.075])
    # two correct class-1 predictions and one wrong one
    probs = torch.tensor([[0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.7, 0.2, 0.1]])
    ols.update(probs, torch.tensor([1, 1, 1]))
    ols.next_epoch()
    # class 1's soft label = mean of the two correct rows = [0.2, 0.7, 0.1]
    assert ols.target(torch.tensor([1]))[0].tolist() == pytest.approx([0.1, 0.85, 0.05])
    # class 0 was never predicted correctly: keeps its previous soft label
    assert ols.target(torch.tensor([0]))[0].tolist() == pytest.approx([0.85, 0.075, 0.075])
