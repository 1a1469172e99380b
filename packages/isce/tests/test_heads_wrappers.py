"""ISCEHead normalisations, the inference-softmax wrapper and the random resize-pad defence."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from robustlab.core import models
from robustlab.core.attacks import ATTACKS
from robustlab.core.errors import ConfigError
from robustlab.isce import InferenceSoftmax, ISCEHead, ISCELoss, RandomResizePad, random_resize_pad


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _head(normalize: str) -> ISCEHead:
    head = ISCEHead(2, 3, normalize=normalize)
    with torch.no_grad():
        head.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        head.fc.bias.zero_()
    return head


def test_isce_head_normalisations_by_hand() -> None:
    f = torch.tensor([[3.0, 4.0]])
    # features: f / 5 = (0.6, 0.8) -> W: (0.6, 0.8, 1.4)
    assert _head("features")(f).tolist()[0] == pytest.approx([0.6, 0.8, 1.4], abs=1e-6)
    # logits: W f = (3, 4, 7) divided by sqrt(9 + 16 + 49)
    r = math.sqrt(74.0)
    assert _head("logits")(f).tolist()[0] == pytest.approx([3 / r, 4 / r, 7 / r], abs=1e-6)
    assert _head("none")(f).tolist()[0] == pytest.approx([3.0, 4.0, 7.0], abs=1e-6)
    # the feature normalisation makes the logits scale-invariant in f
    assert torch.allclose(_head("features")(10 * f), _head("features")(f))
    with pytest.raises(ConfigError, match="normalize"):
        ISCEHead(2, 3, normalize="weights")


def test_isce_head_on_core_lenet_with_3d_embedding() -> None:
    torch.manual_seed(0)
    model = models.build("lenet5", num_classes=10, in_channels=1)
    model.set_head(ISCEHead(model.feature_dim, 10, normalize="features", embed_dim=3))
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    logits = model(x)
    assert logits.shape == (4, 10)
    assert model.head.embed(model.features(x)).shape == (4, 3)  # Fig. 9's 3-D points
    ISCELoss()(logits, y).backward()
    assert model.conv1.weight.grad is not None and model.conv1.weight.grad.abs().sum() > 0
    assert model.head.embedding.weight.grad is not None


def test_inference_softmax_wrapper() -> None:
    base = nn.Linear(4, 3)
    x = torch.rand(6, 4)
    wrapped = InferenceSoftmax(base, s=1.0, m=0.1)
    out = wrapped(x)
    assert torch.allclose(out.exp().sum(1), torch.ones(6), atol=1e-6)
    assert torch.equal(out.argmax(1), base(x).argmax(1))
    # by hand on one example: logits (1, 0, 0) -> P_I(0) = e^1.1 / (e^1.1 + 2)
    fixed = InferenceSoftmax(lambda t: t, s=1.0, m=0.1)  # type: ignore[arg-type]
    p0 = fixed(torch.tensor([[1.0, 0.0, 0.0]])).exp()[0, 0].item()
    assert p0 == pytest.approx(math.exp(1.1) / (math.exp(1.1) + 2), abs=1e-6)


def test_pgd_l2_on_wrappers_respects_threat_model() -> None:
    torch.manual_seed(0)
    model = models.build("lenet5", num_classes=10, in_channels=1).eval()
    model.set_head(ISCEHead(model.feature_dim, 10, normalize="logits"))
    x, y = torch.rand(3, 1, 28, 28), torch.tensor([1, 2, 3])
    for victim in (InferenceSoftmax(model, 1.0, 0.1).eval(), RandomResizePad(model).eval()):
        for targeted in (False, True):
            attack = ATTACKS.build(
                "pgd-l2", eps=0.5, alpha=0.1, steps=3, targeted=targeted, target="least-likely"
            )
            x_adv = attack(victim, x, y)
            assert x_adv.shape == x.shape and not victim.training
            assert float((x_adv - x).flatten(1).norm(dim=1).max()) <= 0.5 + 1e-5
            assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


def test_random_resize_pad_geometry() -> None:
    x = torch.ones(8, 1, 28, 28)
    gen = torch.Generator().manual_seed(0)
    out = random_resize_pad(x, 31, generator=gen)
    assert out.shape == (8, 1, 31, 31)
    for img in out[:, 0]:
        rows = img.sum(1).nonzero().flatten()
        cols = img.sum(0).nonzero().flatten()
        side = len(rows)
        assert 28 <= side < 31 and len(cols) == side  # a square of the random size rnd
        assert (
            img.sum().item() == side * side
        )  # nearest resize of ones: rnd^2 ones, zeros elsewhere
        assert rows.max() - rows.min() + 1 == side  # contiguous
    again = random_resize_pad(x, 31, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_random_resize_pad_module_modes_and_gradient() -> None:
    base = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    wrapper = RandomResizePad(base)
    assert wrapper.target_size(28, 28) == 31 and wrapper.target_size(32, 32) == 35
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    assert torch.equal(wrapper.train()(x), base(x))  # test-time defence: identity in training
    out = wrapper.eval()(x)
    assert out.shape == (2, 10)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # white-box attacks see through it
    with pytest.raises(ConfigError, match="mode"):
        RandomResizePad(base, mode="bicubic")
