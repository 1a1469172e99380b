"""BatchNorm update orders (section 3.5, Table 5): each order moves running_mean with the data it
names, computed by hand from eq. 19 with momentum 0.5 (PyTorch: new = 0.5 * old + 0.5 * batch)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robustlab.core.errors import ConfigError
from robustlab.ltd import attack_bn_mode, frozen_bn, student_forward


def bn_net() -> nn.Module:
    """BN on a single feature followed by a fixed linear map to 2 logits."""
    net = nn.Sequential(nn.BatchNorm1d(1, momentum=0.5), nn.Linear(1, 2))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        net[1].bias.zero_()
    return net


# natural batch mean 2, adversarial batch mean 6, running_mean starts at 0
X_NAT = torch.tensor([[1.0], [3.0]])
X_ADV = torch.tensor([[5.0], [7.0]])


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("nat-adv", 3.5),  # 0 -> 0.5*0 + 0.5*2 = 1 -> 0.5*1 + 0.5*6 = 3.5
        ("adv-nat", 2.5),  # 0 -> 0.5*0 + 0.5*6 = 3 -> 0.5*3 + 0.5*2 = 2.5
        ("nat", 1.0),  # only x: 0.5*0 + 0.5*2
        ("adv", 3.0),  # only x': 0.5*0 + 0.5*6
    ],
)
@pytest.mark.parametrize("frozen", ["eval", "batch"])
def test_each_order_updates_running_mean_with_its_data(
    order: str, expected: float, frozen: str
) -> None:
    net = bn_net().eval()
    logits_nat, logits_adv = student_forward(net, X_NAT, X_ADV, order=order, frozen=frozen)
    assert net[0].running_mean.item() == pytest.approx(expected, abs=1e-6)
    assert not net.training  # mode restored
    assert logits_nat.shape == logits_adv.shape == (2, 2)
    assert logits_nat.requires_grad and logits_adv.requires_grad


def test_updating_passes_use_batch_statistics() -> None:
    # train mode normalises each batch with its own statistics: x = [1, 3] -> [-1, 1] (eps aside)
    logits_nat, logits_adv = student_forward(bn_net(), X_NAT, X_ADV, order="nat-adv")
    assert torch.allclose(logits_nat[:, 0], torch.tensor([-1.0, 1.0]), atol=1e-2)
    assert torch.allclose(logits_adv[:, 0], torch.tensor([-1.0, 1.0]), atol=1e-2)


def test_frozen_eval_pass_uses_running_statistics() -> None:
    # order "nat": after the x pass running_mean = 1, running_var = 0.5*1 + 0.5*2 = 1.5
    # (unbiased var of [1, 3] is 2); x' = [5, 7] -> (x' - 1) / sqrt(1.5) = [3.266, 4.899]
    _, logits_adv = student_forward(bn_net(), X_NAT, X_ADV, order="nat", frozen="eval")
    assert torch.allclose(logits_adv[:, 0], torch.tensor([3.2660, 4.8990]), atol=1e-3)
    # frozen "batch": x' normalised by its own statistics, running stats untouched by it
    _, logits_adv = student_forward(bn_net(), X_NAT, X_ADV, order="nat", frozen="batch")
    assert torch.allclose(logits_adv[:, 0], torch.tensor([-1.0, 1.0]), atol=1e-2)


def test_frozen_bn_restores_buffers_and_mode() -> None:
    net = bn_net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with frozen_bn(net, "batch"):
        assert net.training
        net(X_ADV)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert net.training
    with frozen_bn(net, "eval"):
        assert not net.training
    assert net.training


def test_gradient_reaches_parameters_through_both_passes() -> None:
    net = bn_net()
    logits_nat, logits_adv = student_forward(net, X_NAT, X_ADV, order="adv-nat")
    (logits_nat.sum() + 2 * logits_adv.pow(2).sum()).backward()
    assert net[0].weight.grad is not None and net[1].weight.grad is not None


def test_bad_order_and_shapes() -> None:
    with pytest.raises(ConfigError, match="nat-adv"):
        student_forward(bn_net(), X_NAT, X_ADV, order="mixed")
    with pytest.raises(ValueError, match="same shape"):
        student_forward(bn_net(), X_NAT, X_ADV[:1], order="nat-adv")
    with pytest.raises(ConfigError, match="frozen"):
        student_forward(bn_net(), X_NAT, X_ADV, order="nat", frozen="none")


def test_attack_bn_mode() -> None:
    assert attack_bn_mode(True) == "train"
    assert attack_bn_mode(False) == "eval"
