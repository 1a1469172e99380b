"""robustlab.core.losses: KL and soft-label CE against hand-computed values; objective resolution."""

from __future__ import annotations

import math

import pytest
import torch

from robustlab.core.errors import ConfigError, UnknownNameError
from robustlab.core.losses import (
    OBJECTIVES,
    Objective,
    call_objective,
    cross_entropy,
    get_objective,
    kl_div,
    objective_loss,
)


def _logits(*probs: list[float]) -> torch.Tensor:
    return torch.tensor(probs, dtype=torch.float32).log()  # softmax(log p) = p


P = [[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]
Q = [[0.25, 0.5, 0.25], [0.1, 0.1, 0.8]]


def _kl_rows() -> list[float]:  # by hand: sum_k P_k ln(P_k / Q_k)
    r0 = 0.5 * math.log(0.5 / 0.25) + 0.25 * math.log(0.25 / 0.5) + 0.0
    r1 = 0.0 + 0.8 * math.log(0.8 / 0.1) + 0.1 * math.log(0.1 / 0.8)
    return [r0, r1]  # 0.17329, 1.45561


@pytest.mark.parametrize(
    ("reduction", "expected"),
    [
        ("none", _kl_rows()),
        ("batchmean", sum(_kl_rows()) / 2),
        ("sum", sum(_kl_rows())),
        ("elementwise_mean", sum(_kl_rows()) / 6),
    ],
)
def test_kl_div_hand_values(reduction: str, expected: object) -> None:
    out = kl_div(_logits(*P), _logits(*Q), reduction)
    assert out.tolist() == pytest.approx(expected, rel=1e-5)


def test_kl_div_is_p_against_q_and_checks_arguments() -> None:
    p, q = _logits([0.7, 0.2, 0.1]), _logits([0.1, 0.3, 0.6])
    pq = 0.7 * math.log(7) + 0.2 * math.log(2 / 3) + 0.1 * math.log(1 / 6)
    qp = 0.1 * math.log(1 / 7) + 0.3 * math.log(3 / 2) + 0.6 * math.log(6)
    assert float(kl_div(p, q)) == pytest.approx(pq, rel=1e-5)
    assert float(kl_div(q, p)) == pytest.approx(qp, rel=1e-5)
    with pytest.raises(ConfigError, match="reduction"):
        kl_div(_logits(*P), _logits(*Q), "mean")
    with pytest.raises(ValueError, match="equal shape"):
        kl_div(_logits(*P), _logits(*P[:1]))
    half = kl_div(_logits(*P).bfloat16(), _logits(*Q).bfloat16())
    assert half.dtype == torch.float32  # computed in fp32


def test_cross_entropy_hard_and_soft_hand_values() -> None:
    z = _logits(*P)
    y = torch.tensor([0, 2])
    assert cross_entropy(z, y, "none").tolist() == pytest.approx([math.log(2), math.log(10)])
    t = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])
    rows = [-(0.5 * math.log(0.5) + 0.5 * math.log(0.25)),
            -(0.25 * math.log(0.8) + 0.75 * math.log(0.1))]  # fmt: skip
    assert cross_entropy(z, t, "none").tolist() == pytest.approx(rows, rel=1e-6)
    assert float(cross_entropy(z, t)) == pytest.approx(sum(rows) / 2, rel=1e-6)
    assert float(cross_entropy(z, t, "sum")) == pytest.approx(sum(rows), rel=1e-6)
    # one-hot soft target == integer target; label smoothing mixes with uniform
    onehot = torch.nn.functional.one_hot(y, 3).float()
    torch.testing.assert_close(cross_entropy(z, onehot), cross_entropy(z, y))
    torch.testing.assert_close(
        cross_entropy(z, onehot, label_smoothing=0.3), cross_entropy(z, y, label_smoothing=0.3)
    )
    with pytest.raises(ValueError, match="soft target"):
        cross_entropy(z, torch.ones(2, 4) / 4)


def test_objective_resolution() -> None:
    assert {"ce", "kl", "focal", "label-relaxation", "ols", "mart-bce", "mart-kl"} <= set(
        OBJECTIVES.names()
    )
    ce = get_objective({"name": "ce", "label_smoothing": 0.1})
    z, y = _logits(*P), torch.tensor([0, 2])
    torch.testing.assert_close(objective_loss(ce, z, y), cross_entropy(z, y, label_smoothing=0.1))
    with pytest.raises(UnknownNameError, match="Did you mean 'kl'"):
        get_objective("kll")
    with pytest.raises(ConfigError, match="'name'"):
        get_objective({"label_smoothing": 0.1})
    with pytest.raises(ConfigError, match="callable"):
        get_objective(3)


def test_plain_functions_get_only_the_keywords_they_name() -> None:
    z, y = _logits(*P), torch.tensor([0, 2])

    def two_args(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return cross_entropy(logits, y, "none")

    def wants_index(logits: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return index.float()

    assert call_objective(two_args, z, y, x=None, index=None).shape == (2,)
    idx = torch.tensor([7, 3])
    assert objective_loss(wants_index, z, y, "sum", x=None, index=idx).item() == 10.0
    with pytest.raises(ConfigError, match=r"per-example losses of shape \(B,\)"):
        objective_loss(lambda logits, y: logits.sum(), z, y)


def test_kl_objective_needs_clean_logits() -> None:
    kl = get_objective("kl")
    assert isinstance(kl, Objective)
    z, y = _logits(*Q), torch.tensor([0, 2])
    out = objective_loss(kl, z, y, "batchmean", logits_clean=_logits(*P))
    assert float(out) == pytest.approx(sum(_kl_rows()) / 2, rel=1e-5)
    with pytest.raises(ValueError, match="logits_clean"):
        kl(z, y)
