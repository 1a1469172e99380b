"""Toy leaderboard with a known significance result (hand-made outcome vectors, n = 20)."""

from __future__ import annotations

import pytest

from robustlab.core.compare.leaderboard import (
    ModelResult,
    attack_gap,
    leaderboard,
    pareto_front,
    two_sided_mcnemar,
)

N = 20


def vec(k: int) -> list[bool]:
    """The first k of N images correct."""
    return [i < k for i in range(N)]


def model(label: str, clean: int, pgd: int, aa: int, checks: tuple[str, ...] = ()) -> ModelResult:
    outcomes = {"clean": vec(clean), "PGD-CE": vec(pgd), "AutoAttack": vec(aa)}
    return ModelResult(label, "adversarial", label.lower(), outcomes, checks)


def test_mcnemar_by_hand() -> None:
    # 15 vs 5 correct, nested: b = 10 discordant for lhs, c = 0 -> p = 2 * 0.5**10
    p, disc = two_sided_mcnemar(vec(15), vec(5))
    assert disc == (10, 0)
    assert p == pytest.approx(2 / 1024)
    # one discordant image: p = min(1, 2 * 0.5) = 1
    assert two_sided_mcnemar(vec(6), vec(5))[0] == pytest.approx(1.0)


def test_toy_leaderboard_ranks_intervals_and_significance() -> None:
    rows = leaderboard(
        [
            model("Madry-AT", 18, 6, 5),
            model("Strong", 17, 16, 15),
            model("Tie", 19, 7, 6),
            model("Masked", 20, 18, 2),
        ],
        baseline="Madry-AT",
    )
    assert [r.label for r in rows] == ["Strong", "Tie", "Madry-AT", "Masked"]
    strong, tie, base, masked = rows
    assert strong.aa == 75.0 and strong.vs_baseline == 10 / N * 100
    # Wilson 95 % for 15/20, by hand: centre 0.7097, half-width 0.1784 -> [53.13, 88.81]
    assert strong.aa_ci == pytest.approx((53.13, 88.81), abs=0.01)
    assert strong.p_value == pytest.approx(2 / 1024) and strong.p_value < 0.05
    assert tie.p_value == pytest.approx(1.0) and tie.discordant == (1, 0)
    assert base.p_value is None and base.vs_baseline is None
    # Masked: (5 - 2) = 3 images right under the baseline only -> b = 0, c = 3, p = 2/8
    assert masked.p_value == pytest.approx(0.25) and masked.discordant == (0, 3)
    assert masked.gap == 80.0 and masked.masking and masked.strongest == "AutoAttack"
    assert masked.weakest == "PGD-CE"
    assert strong.gap == 5.0 and not strong.masking  # 5 points is not above the 5-point limit


def test_failed_sanity_check_flags_masking_and_sizes_must_match() -> None:
    m = model("A", 10, 5, 5, checks=("gradients_nonzero",))
    assert attack_gap(m) == (0.0, "AutoAttack", "PGD-CE")
    assert leaderboard([m], baseline="CE")[0].masking
    short = ModelResult("B", "adversarial", "b", {"clean": [True], "AutoAttack": [True]})
    with pytest.raises(ValueError, match="same images"):
        leaderboard([m, short], baseline="A")


def test_pareto_front() -> None:
    pts = [("a", 90.0, 10.0), ("b", 80.0, 40.0), ("c", 79.0, 30.0), ("d", 90.0, 5.0)]
    assert pareto_front(pts) == ["a", "b"]
