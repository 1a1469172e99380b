"""Teacher outputs: on the fly and cached per training index (section 4.2)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from robustlab.ltd import SoftLabelCache, teacher_accuracy, teacher_logits


def teacher() -> nn.Module:
    """Linear teacher with BN and dropout (to see that it runs in eval mode)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Dropout(0.5)).train()


def test_teacher_logits_eval_mode_no_grad_mode_restored() -> None:
    t = teacher()
    x = torch.rand(5, 1, 2, 2)
    a = teacher_logits(t, x)
    b = teacher_logits(t, x)
    assert torch.equal(a, b)  # eval: dropout off, running statistics
    assert not a.requires_grad
    assert t.training
    assert torch.equal(t[2].running_mean, torch.zeros(3))  # statistics not moved


def test_cache_matches_on_the_fly_labels_and_checks_indices() -> None:
    t = teacher()
    x = torch.rand(7, 1, 2, 2)
    cache = SoftLabelCache.from_teacher(t, x, batch_size=3)
    assert len(cache) == 7 and cache.num_classes == 3
    idx = torch.tensor([6, 0, 3])
    assert torch.allclose(cache.logits(idx), teacher_logits(t, x[idx]), atol=1e-6)
    q = cache.soft_labels(idx, tau=5.0)
    assert torch.allclose(q.sum(-1), torch.ones(3))
    with pytest.raises(ValueError, match="out of range"):
        cache.logits(torch.tensor([7]))
    with pytest.raises(ValueError, match="out of range"):
        cache.logits(torch.tensor([-1]))
    with pytest.raises(ValueError, match="integer"):
        cache.logits(torch.tensor([0.0]))
    restored = SoftLabelCache.from_state_dict(cache.state_dict())
    assert torch.equal(restored.logits(idx), cache.logits(idx))


def test_teacher_accuracy_by_hand_and_label_checks() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [2.0, 0.0, 0.0]])
    # argmax = [0, 1, 2, 0] vs y = [0, 1, 0, 0]: 3 of 4 correct
    assert teacher_accuracy(logits, torch.tensor([0, 1, 0, 0])) == pytest.approx(75.0)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        teacher_accuracy(logits, torch.tensor([0, 1, 3, 0]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        teacher_accuracy(logits, torch.tensor([0, -1, 2, 0]))
    with pytest.raises(ValueError, match="shape"):
        teacher_accuracy(logits, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="NaN"):
        SoftLabelCache(torch.tensor([[math.nan, 0.0]]))
