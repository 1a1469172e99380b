"""The paper's section-3 analyses as core ``ANALYSES`` (registered on import).

- ``pcloss/adv-rank`` — Fig. 2, the motivation study: on a fine grid of perturbation sizes
  ``eps_1 < eps_2 < ...`` the examples an attack newly fools at ``eps_m`` (fooled there, at no
  smaller grid value) are binned by the rank, in the model's *clean* prediction, of the class the
  adversarial example lands in (rank 1 is the most probable class, the true class of a correctly
  classified example, so a successful attack lands at rank >= 2). The paper (CIFAR-10/100, FGSM
  and MIM) finds most newly fooled examples in the 2nd most probable class.
- ``pcloss/prob-gap`` — the probability-gap statistics of section 1/3: the mean over test
  examples of ``p_y - max_{j != y} p_j`` (the quantity PC loss enlarges, eq. 6; the paper quotes
  0.527 CE vs 0.558 PC on CIFAR-100 and 0.131 vs 0.231 on Tiny ImageNet) and of the logit gap
  ``z_y - max_{j != y} z_j`` (what the logit constraint of eqs. 15-16 keeps small).

Both take the run's evaluation images (N, C, H, W) in [0, 1] and labels (N,) and return flat
metrics (percentages for shares, raw values for gaps).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch
from torch import Tensor, nn

from robustlab.core.attacks import ATTACKS
from robustlab.core.repro import ANALYSES

__all__ = ["RANKS", "adv_rank", "landing_ranks", "prob_gap"]

#: Rank bins of Fig. 2: the 2nd, 3rd, 4th most probable class, and 5th or lower.
RANKS = ("2nd", "3rd", "4th", "5th+")
#: Fig. 2's attacks as core attacks; MIM runs 10 iterations of step eps/10 at each grid value.
_ATTACKS = {"FGSM": "fgsm", "MIM": "mifgsm"}


def landing_ranks(clean_logits: Tensor, adv_pred: Tensor) -> Tensor:
    """Rank (1 = most probable) of each adversarial prediction in the clean prediction.

    Args:
        clean_logits: (N, K) logits of the clean images.
        adv_pred: (N,) classes predicted on the adversarial images.

    Returns:
        (N,) int64 ranks in [1, K]: 1 + the number of classes with a larger clean logit.
    """
    landed = clean_logits.gather(1, adv_pred[:, None])
    return (clean_logits > landed).sum(1) + 1


def _predict(model: nn.Module, x: Tensor, batch: int) -> Tensor:
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch]).float() for i in range(0, len(x), batch)])


def _attack(model: nn.Module, name: str, eps: float, x: Tensor, y: Tensor, batch: int) -> Tensor:
    kw: dict[str, Any] = {"eps": eps, "seed": 0}
    if name == "MIM":
        kw |= {"alpha": eps / 10, "steps": 10, "decay": 1.0}
    attack = ATTACKS.build(_ATTACKS[name], **kw)
    out = [attack(model, x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)]
    return torch.cat(out)


@ANALYSES.register("pcloss/adv-rank")
def adv_rank(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps_grid: tuple[float, ...] = (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1),
    attacks: tuple[str, ...] = ("FGSM", "MIM"),
    batch_size: int = 500,
) -> dict[str, float]:
    """Fig. 2: where newly successful adversarial examples land, by clean-probability rank.

    Args:
        model: The classifier (eval mode).
        x: (N, C, H, W) images in [0, 1]; y: (N,) labels.
        eps_grid: Increasing Linf radii (the paper's "fine grid").
        attacks: "FGSM" and/or "MIM" (10 iterations, step eps/10, momentum 1.0).
        batch_size: Attack batch size.

    Returns:
        ``rank/<attack>/<bin>``: percent of the newly fooled examples (summed over the grid)
        landing in the 2nd / 3rd / 4th / 5th+ most probable clean class; ``rank/<attack>/n``:
        how many were newly fooled (among the correctly classified clean examples).

    Raises:
        ValueError: for an unknown attack or a grid that is not increasing and positive.
    """
    grid = [float(e) for e in eps_grid]
    if not grid or grid[0] <= 0 or any(b <= a for a, b in pairwise(grid)):
        raise ValueError(f"eps_grid must be increasing positive radii; got {eps_grid!r}")
    unknown = [a for a in attacks if a not in _ATTACKS]
    if unknown:
        raise ValueError(f"attacks must be among {sorted(_ATTACKS)}; got {unknown}")
    clean = _predict(model, x, batch_size)
    correct = clean.argmax(1) == y
    out: dict[str, float] = {}
    for name in attacks:
        fooled = ~correct  # only correctly classified examples can be newly fooled
        counts = torch.zeros(len(RANKS), dtype=torch.long)
        for eps in grid:
            pred = _predict(model, _attack(model, name, eps, x, y, batch_size), batch_size).argmax(
                1
            )
            new = (pred != y) & ~fooled
            ranks = landing_ranks(clean, pred)[new].clamp(max=len(RANKS) + 1) - 2
            counts += torch.bincount(ranks.cpu(), minlength=len(RANKS))[: len(RANKS)]
            fooled |= new
        total = int(counts.sum())
        for label, c in zip(RANKS, counts.tolist(), strict=True):
            out[f"rank/{name}/{label}"] = 100.0 * c / total if total else 0.0
        out[f"rank/{name}/n"] = float(total)
    return out


@ANALYSES.register("pcloss/prob-gap")
def prob_gap(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> dict[str, float]:
    """Mean probability and logit gaps between the true class and the most probable wrong class.

    Args:
        model: The classifier (eval mode).
        x: (N, C, H, W) images in [0, 1]; y: (N,) labels.
        batch_size: Forward batch size.

    Returns:
        ``gap/prob``: mean of ``p_y - max_{j != y} p_j`` in [-1, 1] (eq. 6's gap);
        ``gap/logit``: mean of ``z_y - max_{j != y} z_j`` (eq. 16's ``d_yj`` before the hinge).
    """
    logits = _predict(model, x, batch_size)
    wrong = torch.ones_like(logits, dtype=torch.bool).scatter_(1, y[:, None], False)
    p = logits.softmax(1)
    p_gap = p.gather(1, y[:, None])[:, 0] - p.masked_fill(~wrong, -1.0).amax(1)
    z_gap = logits.gather(1, y[:, None])[:, 0] - logits.masked_fill(~wrong, -torch.inf).amax(1)
    return {"gap/prob": float(p_gap.mean()), "gap/logit": float(z_gap.mean())}
