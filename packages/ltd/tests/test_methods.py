"""The ltd/soft-ce objective and the LTD methods against eq. 28 computed by hand.

Student logits z = [0, ln 2, ln 3] give p = [1, 2, 3] / 6; with a teacher whose logits are
[0, 0, 2 ln 4], tau = 2 gives q = [1, 1, 4] / 6, so the soft-label CE is
-(1/6 ln(1/6) + 1/6 ln(2/6) + 4/6 ln(3/6)) = ln 6 - (ln 2 + 4 ln 3) / 6.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from robustlab.core.errors import ConfigError
from robustlab.core.train import METHODS, load_run, train
from robustlab.ltd import LTDLoss
from robustlab.ltd.objectives import LTDSoftCE

LN2, LN3, LN4, LN6 = math.log(2), math.log(3), math.log(4), math.log(6)


class Fixed(nn.Module):
    """A 'teacher' returning fixed logits (B copies), with one parameter to check gradients."""

    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(logits))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w.expand(x.shape[0], -1) * 1.0


def objective(teacher_logits: list[float], tau: float) -> LTDSoftCE:
    obj = LTDSoftCE(tau=tau)
    obj.teacher = Fixed(teacher_logits)
    return obj


def test_soft_ce_hand_value() -> None:
    z = torch.tensor([[0.0, LN2, LN3]], requires_grad=True)
    out = objective([0.0, 0.0, 2 * LN4], 2.0)(z, torch.tensor([0]), x=torch.zeros(1, 1))
    assert out.shape == (1,)
    assert out.item() == pytest.approx(LN6 - (LN2 + 4 * LN3) / 6, abs=1e-6)


def test_tau_one_with_one_hot_teacher_is_ce() -> None:
    z = torch.tensor([[0.3, -1.2, 2.0], [1.0, 0.0, -1.0]])
    obj = objective([0.0, 0.0, 1e4], 1.0)  # softmax -> one-hot on class 2
    ce = nn.functional.cross_entropy(z, torch.tensor([2, 2]), reduction="none")
    assert torch.allclose(obj(z, torch.tensor([0, 0]), x=torch.zeros(2, 1)), ce, atol=1e-6)


def test_tau_infinity_gives_uniform_targets() -> None:
    z = torch.tensor([[0.0, LN2, LN3]])
    out = objective([5.0, -3.0, 9.0], math.inf)(z, torch.tensor([0]), x=torch.zeros(1, 1))
    # -(1/3)(ln 1/6 + ln 2/6 + ln 3/6) = ln 6 - ln 6 / 3
    assert out.item() == pytest.approx(LN6 - LN6 / 3, abs=1e-6)
    big = objective([5.0, -3.0, 9.0], 1e6)(z, torch.tensor([0]), x=torch.zeros(1, 1))
    assert big.item() == pytest.approx(out.item(), abs=1e-4)


def test_gradient_reaches_the_student_only() -> None:
    z = torch.tensor([[0.0, LN2, LN3]], requires_grad=True)
    obj = objective([0.0, 0.0, 2 * LN4], 2.0)
    obj(z, torch.tensor([0]), x=torch.zeros(1, 1)).sum().backward()
    assert obj.teacher is not None and obj.teacher.w.grad is None
    # d/dz = p - q = [1-1, 2-1, 3-4] / 6
    assert torch.allclose(z.grad, torch.tensor([[0.0, 1 / 6, -1 / 6]]), atol=1e-6)


def test_no_teacher_and_bad_options_name_the_fix() -> None:
    with pytest.raises(ConfigError, match="needs=\\{'teacher'"):
        LTDSoftCE()(torch.zeros(1, 3), torch.tensor([0]), x=torch.zeros(1, 1))
    with pytest.raises(ConfigError, match="labels"):
        LTDSoftCE(labels="precomputed")
    with pytest.raises(ConfigError):
        METHODS.build("ltd/trades-ltd", tau=0.0)
    with pytest.raises(ConfigError, match="set tau"):
        METHODS.build("ltd/trades-ltd", objective="ce")


def test_method_loss_is_eq28() -> None:
    """One step of ltd/trades-ltd on a given x' equals LTDLoss(z(x), z(x'), z_t(x))."""
    torch.manual_seed(0)
    student = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    teacher = Fixed([0.5, -1.0, 2.0])
    method = METHODS.build("ltd/trades-ltd", tau=2.0, beta=6.0)
    method.objective_fn("objective").teacher = teacher
    x, x_adv, y = torch.rand(5, 1, 2, 2), torch.rand(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1])
    loss, _, _ = method.trades_loss(student, x, x_adv, y)
    want = LTDLoss(tau=2.0, lam=6.0)(student(x), student(x_adv), teacher(x))
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    assert method.second_clean_forward is False and method.bn_mode == "train"


def bn_net() -> nn.Module:
    net = nn.Sequential(nn.BatchNorm1d(1, momentum=0.5), nn.Linear(1, 3))
    return net.train()


@pytest.mark.parametrize(
    ("order", "expected"),
    [("nat-adv", 3.5), ("adv-nat", 2.5), ("nat", 1.0), ("adv", 3.0)],
)
def test_each_bn_order_updates_running_mean_with_its_data(order: str, expected: float) -> None:
    """Natural batch mean 2, adversarial mean 6, momentum 0.5: nat-adv 0 -> 1 -> 3.5, adv-nat
    0 -> 3 -> 2.5, nat only 1, adv only 3 (computed by hand; the method's forwards)."""
    net = bn_net()
    method = METHODS.build("ltd/trades-ltd", bn_order=order)
    method.objective_fn("objective").teacher = Fixed([0.0, 0.0, 0.0])
    x, x_adv = torch.tensor([[1.0], [3.0]]), torch.tensor([[5.0], [7.0]])
    method.trades_loss(net, x, x_adv, torch.tensor([0, 1]))
    assert net[0].running_mean.item() == pytest.approx(expected, abs=1e-6)


def test_cached_labels_equal_on_the_fly(
    teacher_run: Path, tmp_path: Path, one_thread: None
) -> None:
    """Without augmentation, soft labels cached per training index train the same weights."""
    base = {
        "dataset": "digits-28",
        "model": "lenet5",
        "n_train": 64,
        "n_test": 32,
        "batch_size": 32,
        "epochs": 1,
        "precision": "fp32",
        "seed": 2,
        "augment": False,
        "method": "ltd/trades-ltd",
        "needs": {"teacher": str(teacher_run)},
    }
    states = []
    for labels in ("on-the-fly", "cached"):
        cfg = {**base, "method_opts": {"eps": 0.1, "alpha": 0.05, "steps": 2, "labels": labels}}
        train(cfg, tmp_path / labels, device="cpu", progress=False)
        states.append(load_run(tmp_path / labels, "cpu").model.state_dict())
    for k, v in states[0].items():
        assert torch.allclose(v, states[1][k], atol=1e-6), k
