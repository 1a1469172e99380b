"""Significance tests behind the claim verdicts (DESIGN.md, "Profiles": verdicts).

Every test here is one-sided and returns the p-values of *both* directions, so that a verdict can
say "holds" (claimed direction significant), "fails" (opposite direction significant) or
"inconclusive" (neither). Accuracies are percentages in [0, 100]; effects are differences in
accuracy points (lhs - rhs).

- :func:`mcnemar_exact`: two accuracies measured on the same test images (McNemar 1947; exact
  conditional binomial form): only the discordant examples count, ``b`` (lhs right, rhs wrong)
  and ``c`` (lhs wrong, rhs right); under H0 ``b ~ Binomial(b + c, 1/2)``.
- :func:`paired_margin_z`: the same data against a non-zero margin (non-inferiority, e.g. "clean
  accuracy within 1.5 points"), where the conditional binomial does not apply: a Wald z-test of
  the paired difference ``d = (b - c) / n`` with variance ``(b + c - (b - c)^2 / n) / n^2``.
- :func:`paired_t`: seed means, paired by seed (Student's t on the per-seed differences,
  ``t = (mean(d) - m) / (sd(d) / sqrt(k))`` with ``k - 1`` degrees of freedom).
- :func:`welch_t`, :func:`one_sample_t`: unpaired seed comparisons.
- :func:`two_proportion_z`: two accuracies on *different* test images (unpaired fallback).
- :func:`holm`: Holm's (1979) step-down adjusted p-values.
- :func:`wilson`: Wilson's (1927) score interval of a proportion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from scipy import stats as _st

_NORMAL = NormalDist()


@dataclass(frozen=True)
class TestResult:
    """One directional test of ``lhs - rhs`` against a margin.

    Attributes:
        test: Name shown in reports, e.g. "McNemar exact" or "two-proportion z (unpaired)".
        effect: lhs - rhs in accuracy points (seed means for seed tests).
        p_greater: p-value of H1 ``lhs - rhs > margin``, in [0, 1].
        p_less: p-value of H1 ``lhs - rhs < margin``, in [0, 1].
        discordant: (b, c) for McNemar-type tests: b = lhs right & rhs wrong, c = the opposite.
        n: Test images (per side for unpaired tests: the smaller one), or seeds for seed tests.
    """

    test: str
    effect: float
    p_greater: float
    p_less: float
    discordant: tuple[int, int] | None = None
    n: int | None = None


def binom_sf_half(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), exactly (integer arithmetic), in [0, 1]."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n


def discordant_counts(lhs: Sequence[bool], rhs: Sequence[bool]) -> tuple[int, int]:
    """(b, c): examples right under ``lhs`` only, and right under ``rhs`` only.

    Raises:
        ValueError: if the two outcome vectors differ in length (not the same test images).
    """
    if len(lhs) != len(rhs):
        raise ValueError(
            f"paired outcomes must cover the same images: got {len(lhs)} and {len(rhs)} examples"
        )
    b = sum(1 for a, r in zip(lhs, rhs, strict=True) if a and not r)
    c = sum(1 for a, r in zip(lhs, rhs, strict=True) if r and not a)
    return b, c


def mcnemar_exact(lhs: Sequence[bool], rhs: Sequence[bool]) -> TestResult:
    """McNemar's exact test of two per-example outcome vectors on the same images.

    Args:
        lhs, rhs: Per-example outcomes (True: correctly classified / robust), same length n >= 1.

    Returns:
        ``p_greater = P(X >= b)`` and ``p_less = P(X >= c)`` with ``X ~ Bin(b + c, 1/2)``; both 1
        when there is no discordant example. ``effect = 100 (b - c) / n``.
    """
    b, c = discordant_counts(lhs, rhs)
    n = len(lhs)
    effect = 100.0 * (b - c) / n if n else 0.0
    return TestResult(
        "McNemar exact", effect, binom_sf_half(b, b + c), binom_sf_half(c, b + c), (b, c), n
    )


def _z_pvalues(diff: float, se: float) -> tuple[float, float]:
    """(P(Z >= diff / se), P(Z <= diff / se)); a zero se gives 0/1 by the sign of diff."""
    if se <= 0:
        if diff > 0:
            return 0.0, 1.0
        if diff < 0:
            return 1.0, 0.0
        return 1.0, 1.0
    z = diff / se
    return 1.0 - _NORMAL.cdf(z), _NORMAL.cdf(z)


def paired_margin_z(lhs: Sequence[bool], rhs: Sequence[bool], margin: float) -> TestResult:
    """Paired Wald z-test of ``lhs - rhs`` (accuracy points) against ``margin`` (points).

    ``d = (b - c) / n``, ``Var(d) = (b + c - (b - c)^2 / n) / n^2`` (the variance of the mean of
    the per-example differences); z = (d - margin / 100) / sqrt(Var(d)).
    """
    b, c = discordant_counts(lhs, rhs)
    n = len(lhs)
    if n == 0:
        return TestResult("paired z (margin)", 0.0, 1.0, 1.0, (b, c), 0)
    d = (b - c) / n
    var = max(b + c - (b - c) ** 2 / n, 0.0) / n**2
    pg, pl = _z_pvalues(d - margin / 100.0, math.sqrt(var))
    return TestResult("paired z (margin)", 100.0 * d, pg, pl, (b, c), n)


def two_proportion_z(k1: int, n1: int, k2: int, n2: int, margin: float = 0.0) -> TestResult:
    """Unpaired two-proportion z-test of ``k1/n1 - k2/n2`` against ``margin`` (points).

    Pooled variance for margin 0, unpooled (Wald) otherwise. For accuracies on different test
    images (different n or dataset): the report labels it "unpaired".

    Raises:
        ValueError: for n1 or n2 < 1 or counts outside [0, n].
    """
    for k, n in ((k1, n1), (k2, n2)):
        if n < 1 or not 0 <= k <= n:
            raise ValueError(f"two_proportion_z needs 0 <= k <= n and n >= 1, got k={k}, n={n}")
    p1, p2 = k1 / n1, k2 / n2
    if margin == 0:
        pool = (k1 + k2) / (n1 + n2)
        se = math.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
    else:
        se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    pg, pl = _z_pvalues(p1 - p2 - margin / 100.0, se)
    return TestResult("two-proportion z (unpaired)", 100.0 * (p1 - p2), pg, pl, None, min(n1, n2))


def _t_pvalues(diff: float, se: float, df: float) -> tuple[float, float]:
    if se <= 0 or not math.isfinite(se) or df <= 0:
        return _z_pvalues(diff, 0.0)
    t = diff / se
    return float(_st.t.sf(t, df)), float(_st.t.cdf(t, df))


def _mean_sd(v: Sequence[float]) -> tuple[float, float]:
    mean = sum(v) / len(v)
    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return mean, sd


def paired_t(lhs: Sequence[float], rhs: Sequence[float], margin: float = 0.0) -> TestResult:
    """Paired t-test over seeds: per-seed differences ``lhs[i] - rhs[i]`` against ``margin``.

    Args:
        lhs, rhs: Per-seed accuracies (points), same length k >= 2, paired by seed.

    Returns:
        effect = mean difference; k - 1 degrees of freedom. All-equal differences (sd 0) give
        p 0 or 1 by the sign of ``mean - margin``.

    Raises:
        ValueError: for k < 2 or different lengths.
    """
    if len(lhs) != len(rhs) or len(lhs) < 2:
        raise ValueError(
            f"paired_t needs two equally long seed lists of length >= 2, got {len(lhs)}, {len(rhs)}"
        )
    diffs = [a - b for a, b in zip(lhs, rhs, strict=True)]
    mean, sd = _mean_sd(diffs)
    pg, pl = _t_pvalues(mean - margin, sd / math.sqrt(len(diffs)), len(diffs) - 1)
    return TestResult(f"paired t ({len(diffs)} seeds)", mean, pg, pl, None, len(diffs))


def welch_t(lhs: Sequence[float], rhs: Sequence[float], margin: float = 0.0) -> TestResult:
    """Welch's unpaired t-test of two seed lists (each of length >= 2) against ``margin``."""
    if len(lhs) < 2 or len(rhs) < 2:
        raise ValueError("welch_t needs at least two values per side")
    m1, s1 = _mean_sd(lhs)
    m2, s2 = _mean_sd(rhs)
    v1, v2 = s1**2 / len(lhs), s2**2 / len(rhs)
    se = math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1**2 / (len(lhs) - 1) + v2**2 / (len(rhs) - 1)) if se > 0 else 0.0
    pg, pl = _t_pvalues(m1 - m2 - margin, se, df)
    n = min(len(lhs), len(rhs))
    return TestResult("Welch t (unpaired seeds)", m1 - m2, pg, pl, None, n)


def one_sample_t(values: Sequence[float], reference: float, margin: float = 0.0) -> TestResult:
    """t-test of seed values (length >= 2) against one fixed number: ``mean - reference`` vs margin."""
    if len(values) < 2:
        raise ValueError("one_sample_t needs at least two values")
    mean, sd = _mean_sd(values)
    pg, pl = _t_pvalues(mean - reference - margin, sd / math.sqrt(len(values)), len(values) - 1)
    return TestResult("one-sample t (unpaired)", mean - reference, pg, pl, None, len(values))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    Sorted ascending ``p_(1) <= ... <= p_(m)``: ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``.
    Rejecting where ``adj <= alpha`` controls the family-wise error rate at ``alpha``.
    """
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion k/n, as percentages in [0, 100].

    ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)`` with z the two-sided normal
    quantile of ``confidence``.

    Raises:
        ValueError: for n < 1, k outside [0, n] or confidence outside (0, 1).
    """
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"wilson needs n >= 1 and 0 <= k <= n, got k={k}, n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    z = _NORMAL.inv_cdf(0.5 + confidence / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return 100.0 * lo, 100.0 * hi


def directional(p_claimed: float, p_opposite: float, alpha: float) -> str:
    """ "holds" if ``p_claimed <= alpha``, "fails" if ``p_opposite <= alpha``, else "inconclusive"."""
    if p_claimed <= alpha:
        return "holds"
    if p_opposite <= alpha:
        return "fails"
    return "inconclusive"


def combine_all(p_claimed: Sequence[float], p_opposite: Sequence[float], alpha: float) -> str:
    """Verdict of "every comparison holds" (intersection-union test, Berger 1982).

    Holds when every comparison is significant in its claimed direction at ``alpha`` (no
    correction: the IUT is a level-alpha test of the intersection). Fails when at least one is
    significant in the opposite direction after Holm's correction over the comparisons (a union
    of opposite hypotheses). Otherwise inconclusive.
    """
    if p_claimed and all(p <= alpha for p in p_claimed):
        return "holds"
    if p_opposite and min(holm(p_opposite)) <= alpha:
        return "fails"
    return "inconclusive"


def combine_any(p_claimed: Sequence[float], p_opposite: Sequence[float], alpha: float) -> str:
    """Verdict of "at least one comparison holds": Holm-corrected claimed-direction p-values.

    Holds when the smallest Holm-adjusted claimed p-value is <= ``alpha``; fails when every
    comparison is significant in the opposite direction (intersection-union); else inconclusive.
    """
    if p_claimed and min(holm(p_claimed)) <= alpha:
        return "holds"
    if p_opposite and all(p <= alpha for p in p_opposite):
        return "fails"
    return "inconclusive"


__all__ = [
    "TestResult",
    "binom_sf_half",
    "combine_all",
    "combine_any",
    "directional",
    "discordant_counts",
    "holm",
    "mcnemar_exact",
    "one_sample_t",
    "paired_margin_z",
    "paired_t",
    "two_proportion_z",
    "welch_t",
    "wilson",
]
