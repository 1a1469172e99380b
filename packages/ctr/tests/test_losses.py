"""CTR losses against values computed by hand on small tensors.

Logits are written as ``log(p)`` so that ``softmax(logits) == p`` and every expected value below
is plain arithmetic on the probabilities.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from robustlab.ctr.losses import (
    MDLoss,
    SCEAttackLoss,
    SKLAttackLoss,
    mdl_mask,
    pairwise_diversity,
    sce_loss,
    skl_loss,
    std_attack_loss,
    std_loss,
    wrong_class_probs,
)


def logits_of(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64).log().float()


# ---------------------------------------------------------------- STD (eq. 14)


def test_wrong_class_probs_removes_the_true_class_in_order() -> None:
    p = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    w = wrong_class_probs(p, torch.tensor([2, 0]))
    assert torch.equal(w, torch.tensor([[0.1, 0.2, 0.4], [0.3, 0.2, 0.1]]))
    stacked = wrong_class_probs(torch.stack([p, p.flip(1)]), torch.tensor([2, 0]))
    assert stacked.shape == (2, 2, 3)


def test_std_is_the_sample_std_of_the_wrong_class_probabilities() -> None:
    # p = [0.5, 0.2, 0.2, 0.1], y = 0: wrong = [0.2, 0.2, 0.1], mean = 0.5 / 3
    # deviations 1/30, 1/30, -2/30 -> squares sum = 6/900; divisor C - 2 = 2
    expected = math.sqrt((6 / 900) / 2)  # 0.0577350
    got = std_loss(logits_of([0.5, 0.2, 0.2, 0.1]), torch.tensor([0]))
    assert got.shape == (1,)
    assert got.item() == pytest.approx(expected, abs=1e-6)
    assert got.item() != pytest.approx(math.sqrt((6 / 900) / 3), abs=1e-4)  # not population std


def test_std_per_example_and_true_class_ignored() -> None:
    # second row, y = 3: wrong = [0.25, 0.25, 0.25] -> std 0 whatever p_y is
    logits = logits_of([0.5, 0.2, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25])
    got = std_loss(logits, torch.tensor([0, 3]))
    assert got[0].item() == pytest.approx(math.sqrt(6 / 900 / 2), abs=1e-6)
    assert got[1].item() == 0.0


def test_std_gradient_is_finite_at_zero_std() -> None:
    logits = torch.tensor([[3.0, 0.0, 0.0, 0.0]], requires_grad=True)
    std_loss(logits, torch.tensor([0])).sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    assert torch.count_nonzero(logits.grad) == 0


def test_std_attack_loss_is_per_example_std() -> None:
    logits = logits_of([0.5, 0.2, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4])
    y = torch.tensor([0, 1])
    assert torch.equal(std_attack_loss(logits, y, logits_clean=None), std_loss(logits, y))


# ---------------------------------------------------------------- SCE (eq. 15)


def test_sce_hand_value() -> None:
    # CE = -log 0.5 = 0.693147; STD = 0.0577350; gamma = 2 -> exp(0.115470) = 1.122401
    ce = -math.log(0.5)
    std = math.sqrt(6 / 900 / 2)
    got = sce_loss(logits_of([0.5, 0.2, 0.2, 0.1]), torch.tensor([0]), gamma=2.0)
    assert got.item() == pytest.approx(math.exp(2 * std) * ce, abs=1e-6)  # 0.777985


def test_sce_mean_over_batch_and_none_reduction() -> None:
    logits = logits_of([0.5, 0.2, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25])
    y = torch.tensor([0, 3])
    per = sce_loss(logits, y, gamma=2.0, reduction="none")
    # row 2: STD 0 -> factor exp(0) = 1, CE = -log 0.25
    assert per[1].item() == pytest.approx(-math.log(0.25), abs=1e-6)
    assert sce_loss(logits, y, gamma=2.0).item() == pytest.approx(per.mean().item(), abs=1e-7)


def test_sce_gamma_zero_is_exactly_cross_entropy() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 10, generator=g)
    y = torch.randint(0, 10, (16,), generator=g)
    assert torch.equal(sce_loss(logits, y, 0.0), F.cross_entropy(logits, y))


def test_sce_attack_loss_matches_sce_per_example() -> None:
    logits = logits_of([0.5, 0.2, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4])
    y = torch.tensor([0, 1])
    got = SCEAttackLoss(gamma=5.0)(logits, y, logits_clean=None)
    assert torch.equal(got, sce_loss(logits, y, 5.0, reduction="none"))


# ---------------------------------------------------------------- SKL (eq. 16)


def test_skl_hand_value_uses_std_of_the_adversarial_output() -> None:
    # p(x) = uniform (STD 0), p(x') = [0.5, 0.2, 0.2, 0.1], y = 0
    # KL(p(x) || p(x')) = 0.25 * (log(0.25/0.5) + 2 log(0.25/0.2) + log(0.25/0.1)) = 0.167358
    kl = 0.25 * (math.log(0.5) + 2 * math.log(1.25) + math.log(2.5))
    std_adv = math.sqrt(6 / 900 / 2)
    clean = logits_of([0.25, 0.25, 0.25, 0.25])
    adv = logits_of([0.5, 0.2, 0.2, 0.1])
    got = skl_loss(adv, clean, torch.tensor([0]), gamma=3.0)
    assert got.item() == pytest.approx(math.exp(3 * std_adv) * kl, abs=1e-6)
    # a factor on the clean output would have been exp(0) = 1
    assert got.item() > kl + 0.01


def test_skl_gamma_zero_is_exactly_the_trades_kl() -> None:
    g = torch.Generator().manual_seed(1)
    adv, clean = torch.randn(8, 10, generator=g), torch.randn(8, 10, generator=g)
    y = torch.randint(0, 10, (8,), generator=g)
    trades = F.kl_div(F.log_softmax(adv, 1), F.softmax(clean, 1), reduction="batchmean")
    assert skl_loss(adv, clean, y, 0.0).item() == pytest.approx(trades.item(), rel=1e-6)
    per = skl_loss(adv, clean, y, 0.0, reduction="none")
    ref = F.kl_div(F.log_softmax(adv, 1), F.softmax(clean, 1), reduction="none").sum(1)
    assert torch.allclose(per, ref, atol=1e-6)
    # bit-identical to core's TRADES KL (training) and "kl" attack loss
    from robustlab.core.attacks.losses import kl_loss
    from robustlab.core.losses import kl_div

    assert torch.equal(skl_loss(adv, clean, y, 0.0), kl_div(clean, adv))
    assert torch.equal(per, kl_loss(adv, y, logits_clean=clean))


def test_skl_attack_loss_needs_clean_logits_and_detaches_them() -> None:
    adv = logits_of([0.5, 0.2, 0.2, 0.1])
    clean = logits_of([0.25, 0.25, 0.25, 0.25]).requires_grad_(True)
    loss = SKLAttackLoss(gamma=1.0)
    out = loss(adv, torch.tensor([0]), logits_clean=clean)
    assert not out.requires_grad
    with pytest.raises(ValueError, match="logits_clean"):
        loss(adv, torch.tensor([0]), logits_clean=None)


# ---------------------------------------------------------------- MDL (eq. 3-6, 27-28)


def test_mdl_hand_value_two_heads() -> None:
    # K = 2, B = 2, C = 3, rho = 1, eta = 100 (mask = 1)
    # ex 1, y = 0: wrong [0.3, 0.1] vs [0.1, 0.3]: cos = 0.06 / 0.1 = 0.6
    # ex 2, y = 2: wrong [0.2, 0.2] vs [0.1, 0.3]: cos = 0.08 / sqrt(0.08 * 0.1) = 0.894427
    # CE of every head = -log 0.6 = 0.510826
    head1 = logits_of([0.6, 0.3, 0.1], [0.2, 0.2, 0.6])
    head2 = logits_of([0.6, 0.1, 0.3], [0.1, 0.3, 0.6])
    logits = torch.stack([head1, head2])
    y = torch.tensor([0, 2])
    cos2 = 0.08 / math.sqrt(0.08 * 0.1)
    expected = -math.log(0.6) + (0.6 + cos2) / 2
    assert MDLoss(K=2)(logits, y).item() == pytest.approx(expected, abs=1e-6)  # 1.258040
    terms = MDLoss(K=2).terms(logits, y)
    assert terms.diversity.tolist() == pytest.approx([0.6, cos2], abs=1e-6)
    # rho scales the orthogonal term only
    expected_rho = -math.log(0.6) + 0.5 * (0.6 + cos2) / 2
    assert MDLoss(K=2, rho=0.5)(logits, y).item() == pytest.approx(expected_rho, abs=1e-6)


def test_mdl_three_heads_averages_the_three_pairs() -> None:
    # y = 0; wrong vectors [0.3, 0.1], [0.1, 0.3], [0.2, 0.2]
    # pairs: (1,2) 0.06/0.1 = 0.6; (1,3) 0.08/sqrt(0.1*0.08) = 0.894427; (2,3) same 0.894427
    logits = torch.stack(
        [logits_of([0.6, 0.3, 0.1]), logits_of([0.6, 0.1, 0.3]), logits_of([0.6, 0.2, 0.2])]
    )
    cos = 0.08 / math.sqrt(0.08 * 0.1)
    expected = -math.log(0.6) + (0.6 + 2 * cos) / 3
    assert MDLoss(K=3)(logits, torch.tensor([0])).item() == pytest.approx(expected, abs=1e-6)


def test_identical_heads_give_diversity_one_and_orthogonal_give_zero() -> None:
    p = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    y = torch.tensor([0])
    same = pairwise_diversity(torch.stack([p, p, p, p]), y)
    assert same.item() == pytest.approx(1.0, abs=1e-6)
    # wrong-class vectors [0.5, 0] and [0, 0.5] (true class 0 has 0.5)
    orth = torch.tensor([[[0.5, 0.5, 0.0]], [[0.5, 0.0, 0.5]]])
    assert pairwise_diversity(orth, y).item() == pytest.approx(0.0, abs=1e-7)
    # the same through MDLoss with logits -1e4 (softmax underflows to exact zeros)
    logits = torch.tensor([[[0.0, 0.0, -1e4]], [[0.0, -1e4, 0.0]]])
    assert MDLoss(K=2).terms(logits, y).diversity.item() == pytest.approx(0.0, abs=1e-7)
    assert MDLoss(K=2)(logits, y).item() == pytest.approx(-math.log(0.5), abs=1e-6)


def test_pearson_diversity_hand_values() -> None:
    # y = 0; wrong [0.4, 0.1, 0.1] and [0.1, 0.4, 0.1]; centred [0.2, -0.1, -0.1], [-0.1, 0.2, -0.1]
    # Pe = (-0.02 - 0.02 + 0.01) / 0.06 = -0.5 -> D2 = (Pe + 1) / 2 = 0.25; raw cosine 0.09/0.18
    probs = torch.tensor([[[0.4, 0.4, 0.1, 0.1]], [[0.4, 0.1, 0.4, 0.1]]])
    y = torch.tensor([0])
    assert pairwise_diversity(probs, y, "pearson").item() == pytest.approx(0.25, abs=1e-6)
    assert pairwise_diversity(probs, y, "cosine").item() == pytest.approx(0.5, abs=1e-6)
    # reversed order -> Pe = -1 -> D2 = 0; identical -> D2 = 1
    rev = torch.tensor([[[0.4, 0.3, 0.2, 0.1]], [[0.4, 0.1, 0.2, 0.3]]])
    assert pairwise_diversity(rev, y, "pearson").item() == pytest.approx(0.0, abs=1e-6)
    same = torch.stack([rev[0], rev[0]])
    assert pairwise_diversity(same, y, "pearson").item() == pytest.approx(1.0, abs=1e-6)
    logits = probs.log()
    ce = -math.log(0.4)
    got = MDLoss(K=2, diversity="pearson")(logits, y).item()
    assert got == pytest.approx(ce + 0.25, abs=1e-6)


def _identical_heads(p_true: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """K = 2 identical heads, C = 3, y = 0, the two wrong classes sharing 1 - p_y."""
    rows = [[p, (1 - p) * 0.75, (1 - p) * 0.25] for p in p_true]
    one = logits_of(*rows)
    return torch.stack([one, one]), torch.zeros(len(p_true), dtype=torch.long)


def test_mask_eta_50_keeps_exactly_the_two_easiest_inputs() -> None:
    # -log p_y = [0.105361, 0.356675, 0.693147, 1.203973]
    # eta = 50: position 0.5 * (4 - 1) = 1.5 -> T = (0.356675 + 0.693147) / 2 = 0.524911
    logits, y = _identical_heads([0.9, 0.7, 0.5, 0.3])
    probs = logits.softmax(-1)
    assert mdl_mask(probs, y, 50.0).tolist() == [1.0, 1.0, 0.0, 0.0]
    # eta = 75: position 2.25 -> T = 0.693147 + 0.25 * (1.203973 - 0.693147) = 0.820854
    assert mdl_mask(probs, y, 75.0).tolist() == [1.0, 1.0, 1.0, 0.0]
    assert mdl_mask(probs, y, 100.0).tolist() == [1.0, 1.0, 1.0, 1.0]
    # order of the batch does not matter
    perm = torch.tensor([3, 1, 0, 2])
    assert mdl_mask(probs[:, perm], y[perm], 50.0).tolist() == [0.0, 1.0, 1.0, 0.0]
    # loss: identical heads -> diversity 1, so L = mean(CE) + rho * (number kept) / B
    ce = [-math.log(p) for p in (0.9, 0.7, 0.5, 0.3)]
    got = MDLoss(K=2, eta=50.0, rho=2.0)(logits, y).item()
    assert got == pytest.approx(sum(ce) / 4 + 2.0 * 2 / 4, abs=1e-5)


def test_mask_is_computed_without_gradient() -> None:
    # two different heads with the same p_y: the mask is the same as above, the diversity < 1
    rows = [(0.9, 0.7, 0.5, 0.3)]
    h1 = logits_of(*[[p, (1 - p) * 0.75, (1 - p) * 0.25] for p in rows[0]])
    h2 = logits_of(*[[p, (1 - p) * 0.25, (1 - p) * 0.75] for p in rows[0]])
    logits = torch.stack([h1, h2]).requires_grad_(True)
    y = torch.zeros(4, dtype=torch.long)
    assert not mdl_mask(logits.softmax(-1), y, 50.0).requires_grad
    MDLoss(K=2, eta=50.0)(logits, y).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    # gradient of the CE term alone: (1/B) * mean_k CE
    ce_only = logits.detach().clone().requires_grad_(True)
    ce = F.cross_entropy(ce_only.reshape(-1, 3), y.repeat(2), reduction="none").view(2, 4)
    ce.mean(0).sum().div(4).backward()
    assert ce_only.grad is not None
    # masked-out inputs (3rd, 4th) get only the CE gradient; kept inputs get more
    assert torch.allclose(logits.grad[:, 2:], ce_only.grad[:, 2:], atol=1e-6)
    assert not torch.allclose(logits.grad[:, :2], ce_only.grad[:, :2], atol=1e-4)


def test_label_smoothing_and_soft_target_change_only_the_ce_term() -> None:
    head1 = logits_of([0.6, 0.3, 0.1])
    head2 = logits_of([0.6, 0.1, 0.3])
    logits, y = torch.stack([head1, head2]), torch.tensor([0])
    # LS eps = 0.3, C = 3: target [0.8, 0.1, 0.1]; CE_k = -(0.8 log .6 + 0.1 log .3 + 0.1 log .1)
    ce_ls = -(0.8 * math.log(0.6) + 0.1 * math.log(0.3) + 0.1 * math.log(0.1))
    got = MDLoss(K=2, label_smoothing=0.3)(logits, y).item()
    assert got == pytest.approx(ce_ls + 0.6, abs=1e-5)
    target = torch.tensor([[0.8, 0.1, 0.1]])
    assert MDLoss(K=2)(logits, y, target).item() == pytest.approx(ce_ls + 0.6, abs=1e-5)


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"K": 1}, "K"),
        ({"K": 0}, "K"),
        ({"K": 2.5}, "K"),
        ({"eta": 0}, "eta"),
        ({"eta": 100.5}, "eta"),
        ({"eta": -10}, "eta"),
        ({"rho": -1.0}, "rho"),
        ({"diversity": "euclid"}, "diversity"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
    ],
)
def test_mdl_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MDLoss(**kwargs)  # type: ignore[arg-type]


def test_negative_or_infinite_gamma_raises() -> None:
    logits, y = logits_of([0.5, 0.2, 0.2, 0.1]), torch.tensor([0])
    for bad in (-0.1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="gamma"):
            sce_loss(logits, y, bad)
        with pytest.raises(ValueError, match="gamma"):
            skl_loss(logits, logits, y, bad)
    with pytest.raises(ValueError, match="gamma"):
        SCEAttackLoss(-1.0)
    with pytest.raises(ValueError, match="gamma"):
        SKLAttackLoss(-1.0)


def test_shape_errors_are_clear() -> None:
    with pytest.raises(ValueError, match=r"K=4"):
        MDLoss(K=4)(torch.zeros(2, 3, 10), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="C >= 3"):
        std_loss(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="y must have shape"):
        std_loss(torch.zeros(3, 5), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="same shape"):
        skl_loss(torch.zeros(3, 5), torch.zeros(2, 5), torch.zeros(3, dtype=torch.long), 1.0)
    with pytest.raises(ValueError, match="reduction"):
        sce_loss(torch.zeros(3, 5), torch.zeros(3, dtype=torch.long), 1.0, reduction="sum")
