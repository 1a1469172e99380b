"""Significance tests of the claim verdicts, against values computed by hand."""

from __future__ import annotations

import math

import pytest

from robustlab.core.repro import stats


def test_mcnemar_hand_vectors() -> None:
    # b = 3 (lhs right only), c = 0: P(X >= 3 | Bin(3, 1/2)) = 1/8
    res = stats.mcnemar_exact([True, True, True, False], [False, False, False, False])
    assert res.discordant == (3, 0)
    assert res.p_greater == pytest.approx(1 / 8)
    assert res.p_less == 1.0
    assert res.effect == pytest.approx(75.0)
    # b = 1, c = 4 among 6 images: P(X >= 4 | Bin(5, 1/2)) = (5 + 1) / 32
    lhs = [True, False, False, False, False, True]
    rhs = [False, True, True, True, True, True]
    res = stats.mcnemar_exact(lhs, rhs)
    assert res.discordant == (1, 4)
    assert res.p_less == pytest.approx(6 / 32)
    assert res.p_greater == pytest.approx(31 / 32)
    assert res.effect == pytest.approx(100 * (1 - 4) / 6)


def test_mcnemar_all_equal_and_tiny_n() -> None:
    same = [True, False, True, True]
    res = stats.mcnemar_exact(same, same)
    assert res.discordant == (0, 0) and res.p_greater == 1.0 and res.p_less == 1.0
    one = stats.mcnemar_exact([True], [False])  # n = 1: p = 1/2 at best, never significant
    assert one.p_greater == pytest.approx(0.5) and one.p_less == 1.0
    with pytest.raises(ValueError, match="same images"):
        stats.mcnemar_exact([True], [True, False])


def test_binomial_tail_exact() -> None:
    assert stats.binom_sf_half(0, 4) == 1.0
    assert stats.binom_sf_half(5, 4) == 0.0
    assert stats.binom_sf_half(3, 4) == pytest.approx(5 / 16)  # (4 + 1) / 16


def test_holm_known_example() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(0.06, 1*0.04)
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []


def test_wilson_hand_values() -> None:
    z = 1.959963984540054
    lo, hi = stats.wilson(5, 10)
    half = z * math.sqrt(0.025 + z * z / 400) / (1 + z * z / 10)
    assert lo == pytest.approx(100 * (0.5 - half)) and hi == pytest.approx(100 * (0.5 + half))
    assert (lo, hi) == pytest.approx((23.66, 76.34), abs=0.01)
    lo, hi = stats.wilson(0, 10)  # upper bound z^2 / (n + z^2)
    assert lo == 0.0 and hi == pytest.approx(100 * z * z / (10 + z * z))
    assert stats.wilson(10, 10)[1] == 100.0
    with pytest.raises(ValueError, match="0 <= k <= n"):
        stats.wilson(11, 10)


def test_paired_t_hand_value() -> None:
    # differences 1.0, 1.2, 0.8: mean 1, sd 0.2, t = 1 / (0.2 / sqrt 3); df 2 has the closed form
    # P(T >= t) = (1 - t / sqrt(t^2 + 2)) / 2
    res = stats.paired_t([82.0, 82.2, 81.8], [81.0, 81.0, 81.0])
    t = 1 / (0.2 / math.sqrt(3))
    assert res.effect == pytest.approx(1.0)
    assert res.p_greater == pytest.approx((1 - t / math.sqrt(t * t + 2)) / 2)
    assert res.p_greater + res.p_less == pytest.approx(1.0)
    # against a margin of 1 point the same data show nothing
    assert stats.paired_t([82.0, 82.2, 81.8], [81.0, 81.0, 81.0], 1.0).p_greater == pytest.approx(
        0.5
    )
    with pytest.raises(ValueError, match="length >= 2"):
        stats.paired_t([1.0], [2.0])


def test_two_proportion_z_hand_value() -> None:
    # 60/100 vs 50/100: pooled 0.55, se = sqrt(.55 * .45 * 2 / 100), z = 0.1 / se
    res = stats.two_proportion_z(60, 100, 50, 100)
    z = 0.1 / math.sqrt(0.55 * 0.45 * 0.02)
    assert res.p_greater == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))
    assert "unpaired" in res.test
    both_zero = stats.two_proportion_z(0, 50, 0, 80)
    assert both_zero.p_greater == 1.0 and both_zero.p_less == 1.0


def test_combine_intersection_union_and_holm() -> None:
    assert stats.combine_all([0.01, 0.04], [0.99, 0.96], 0.05) == "holds"  # IUT: no correction
    assert stats.combine_all([0.01, 0.3], [0.99, 0.7], 0.05) == "inconclusive"
    assert stats.combine_all([0.01, 0.99], [0.99, 0.02], 0.05) == "fails"  # Holm 0.04
    assert stats.combine_all([0.5, 0.99], [0.5, 0.03], 0.05) == "inconclusive"  # Holm 0.06
    # "any" over 10 comparisons: p 0.02 alone holds without, not with, Holm's correction
    assert stats.combine_any([0.02] + [0.5] * 9, [0.98] + [0.5] * 9, 0.05) == "inconclusive"
    assert stats.combine_any([0.004] + [0.5] * 9, [0.99] + [0.5] * 9, 0.05) == "holds"
    assert stats.combine_any([0.9, 0.9], [0.01, 0.04], 0.05) == "fails"
