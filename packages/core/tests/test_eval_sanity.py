"""The "masked: CE loss" sanity flag: attack losses from options/attributes, and the gap check."""

from __future__ import annotations

import torch
from torch import nn

from robustlab.core.eval import AttackSpec, Suite, evaluate
from robustlab.core.eval.checks import attack_kind, attack_loss, loss_gap_flag

GROUPS = [["FGSM", "PGD-40", "CW-Linf", "APGD-DLR"]]
LOSS = {"FGSM": "ce", "PGD-40": "ce", "CW-Linf": "margin", "APGD-DLR": "margin"}


def test_attack_loss_from_options_and_attack_attributes() -> None:
    assert attack_loss(AttackSpec("PGD", "pgd", {"eps": 0.1, "steps": 2})) == "ce"
    assert attack_loss(AttackSpec("FGSM", "fgsm", {"eps": 0.1})) == "ce"
    assert attack_loss(AttackSpec("CW", "cw-linf", {"eps": 0.1})) == "margin"
    assert attack_loss(AttackSpec("DLR", "apgd-dlr", {"eps": 0.1})) == "margin"
    # the label says nothing: a PGD with the DLR loss option is a margin attack
    assert attack_loss(AttackSpec("PGD-40", "pgd", {"eps": 0.1, "loss": "dlr"})) == "margin"
    assert attack_loss(AttackSpec("CW-Linf", "pgd", {"eps": 0.1})) == "ce"
    assert attack_loss(AttackSpec("Square", "square", {"eps": 0.1})) is None
    assert attack_kind(AttackSpec("Square", "square", {"eps": 0.1})) == "black-box"


def test_masked_ce_flag_trips_on_the_fmnist_ce_model() -> None:
    # issue 11: PGD-40 34.1 %, FGSM 49.0 % vs CW-Linf 0.2 %, APGD-DLR 0.2 % at eps 0.1
    acc = {"FGSM": 49.0, "PGD-40": 34.1, "CW-Linf": 0.2, "APGD-DLR": 0.2}
    f = loss_gap_flag(acc, LOSS, GROUPS, 5.0)
    assert f["passed"] is False and f["detail"].startswith("masked: CE loss")
    assert sorted(f["ce_labels"]) == ["FGSM", "PGD-40"]


def test_masked_ce_flag_passes_when_losses_agree_and_respects_gap() -> None:
    agree = {"FGSM": 3.0, "PGD-40": 0.5, "CW-Linf": 0.2, "APGD-DLR": 0.1}
    assert loss_gap_flag(agree, LOSS, GROUPS, 5.0)["passed"] is True
    near = {"FGSM": 5.0, "PGD-40": 4.0, "CW-Linf": 0.2, "APGD-DLR": 1.0}
    assert loss_gap_flag(near, LOSS, GROUPS, 5.0)["passed"] is True
    assert loss_gap_flag(near, LOSS, GROUPS, 4.0)["passed"] is False
    # different budgets are never compared
    split = loss_gap_flag(near, LOSS, [["FGSM", "PGD-40"], ["CW-Linf", "APGD-DLR"]], 1.0)
    assert split["passed"] is None


def test_evaluation_records_the_flag() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x, y = torch.rand(24, 1, 4, 4), torch.randint(0, 3, (24,))
    suite = [
        AttackSpec("PGD", "pgd", {"eps": 0.05, "steps": 2, "alpha": 0.02}),
        AttackSpec("CW", "cw-linf", {"eps": 0.05, "steps": 2, "alpha": 0.02}),
    ]
    res = evaluate(model, (x, y), Suite("t", suite, worst_case=False), progress=False)
    assert res.flags["masked_ce_loss"]["passed"] is not None  # both losses at eps 0.05
    worst = evaluate(model, (x, y), Suite("t", suite, worst_case=True), progress=False)
    assert worst.flags["masked_ce_loss"]["passed"] is None


class _State:
    """The part of EvalState the suite comparisons read: per-attack robust flags."""

    def __init__(self, flags: dict[str, list[bool]]) -> None:
        self.flags, self.n = flags, len(next(iter(flags.values())))

    def done(self, label: str) -> torch.Tensor:
        return torch.tensor(self.flags[label])


def test_targeted_attacks_take_no_part_in_the_strength_checks() -> None:
    from robustlab.core.eval.sanity import _iterative_flag

    suite = Suite(
        "s",
        [
            AttackSpec("FGSM", "fgsm", {"eps": 0.1}),
            AttackSpec("PGD-T", "pgd", {"eps": 0.1, "steps": 2, "targeted": True}),
            AttackSpec("PGD", "pgd", {"eps": 0.1, "steps": 2}),
        ],
        worst_case=False,
    )
    # targeted PGD keeps 3/4 robust, FGSM 1/4: legitimate (one target class), not masking
    state = _State(
        {
            "FGSM": [True, False, False, False],
            "PGD-T": [True, True, True, False],
            "PGD": [True, False, False, False],
        }
    )
    assert _iterative_flag(suite, state, 10.0, 5.0, 1.0)["passed"] is True  # type: ignore[arg-type]
    state.flags["PGD"] = [True, True, False, False]  # untargeted PGD weaker than FGSM: flagged
    assert _iterative_flag(suite, state, 10.0, 5.0, 1.0)["passed"] is False  # type: ignore[arg-type]
