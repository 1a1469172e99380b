"""Claim verdicts: does the paper's ordering hold on our measurements, significantly?

A comparison of two measured cells "holds" when its claimed direction is significant at level
``alpha`` (default 0.05), "fails" when the opposite direction is, and is "inconclusive"
otherwise (DESIGN.md, "Profiles"). The test depends on what was measured
(:func:`compare_measurements`):

- both cells from single runs on the same test images (same dataset and n, per-example outcome
  vectors stored): McNemar's exact test (margin 0) or a paired z-test (non-zero margin);
- both cells means over seeds: a paired t-test over the seeds (Welch's t when the seed counts
  differ; a one-sample t against a single run's value when only one side has seeds);
- different test images (different n or dataset) or no stored outcomes: an unpaired
  two-proportion z-test, labelled "unpaired" in the report;
- not a proportion (counts, ...): no test; the raw ordering decides, labelled "no test".

A claim over several comparisons: "all" is an intersection-union test, "any" is Holm-corrected
(:func:`robustlab.core.repro.stats.combine_all`, :func:`~robustlab.core.repro.stats.combine_any`).
The paper's printed values carry no sampling information: their verdict is the raw ordering.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from robustlab.core.repro import stats
from robustlab.core.repro.published import CellRef
from robustlab.core.repro.spec import Claim, Comparison

Verdict = Literal["holds", "fails", "inconclusive", "not measured"]
HOLDS: Verdict = "holds"
FAILS: Verdict = "fails"
INCONCLUSIVE: Verdict = "inconclusive"
NOT_MEASURED: Verdict = "not measured"
ALPHA = 0.05
"""Default level of every verdict."""


@dataclass(frozen=True)
class Measurement:
    """What we measured for one cell.

    Attributes:
        value: Accuracy in percent [0, 100] (the mean over seeds for seeded runs), or another
            number when ``proportion`` is False; None when not measured.
        n: Test images the accuracy is over (per seed).
        dataset: Test set name; two cells are paired only on the same dataset and n.
        outcomes: Per-example outcomes (n booleans, True = correct / robust) of a single run.
        seeds: Per-seed values (percent) of a seeded run (empty for a single run).
        proportion: Whether ``value`` is an accuracy (a proportion in percent).
    """

    value: float | None
    n: int | None = None
    dataset: str | None = None
    outcomes: tuple[bool, ...] | None = None
    seeds: tuple[float, ...] = ()
    proportion: bool = True

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (None for fewer than two seeds)."""
        if len(self.seeds) < 2:
            return None
        mean = sum(self.seeds) / len(self.seeds)
        return float((sum((s - mean) ** 2 for s in self.seeds) / (len(self.seeds) - 1)) ** 0.5)

    def interval(self, confidence: float = 0.95) -> tuple[float, float] | None:
        """Wilson interval (percent) of the accuracy, pooled over seeds; None if not a proportion."""
        if self.value is None or not self.proportion or not self.n:
            return None
        total = self.n * max(len(self.seeds), 1)
        k = round(min(max(self.value, 0.0), 100.0) / 100.0 * total)
        return stats.wilson(k, total, confidence)


@dataclass(frozen=True)
class ComparisonResult:
    """One comparison evaluated on one set of values.

    Attributes:
        comparison: The ordering.
        lhs, rhs: The two values (None where the cell has no value).
        verdict: At level ``alpha`` on this comparison alone.
        test: The test used (None: no test, raw ordering or not measured).
        p: One-sided p-value of the claimed direction (None without a test).
        p_opposite: One-sided p-value of the opposite direction.
        p_adjusted: Holm-adjusted ``p`` within its claim ("any" claims; None otherwise).
    """

    comparison: Comparison
    lhs: float | None
    rhs: float | None
    verdict: Verdict
    test: stats.TestResult | None = None
    p: float | None = None
    p_opposite: float | None = None
    p_adjusted: float | None = None

    @property
    def effect(self) -> float | None:
        """lhs - rhs in points (the test's effect when tested)."""
        if self.test is not None:
            return self.test.effect
        return None if self.lhs is None or self.rhs is None else self.lhs - self.rhs


def _as_measurement(value: Measurement | float | None) -> Measurement:
    if isinstance(value, Measurement):
        return value
    return Measurement(None if value is None else float(value), proportion=False)


def _threshold(comp: Comparison) -> tuple[float, bool]:
    """(t, greater): the claim is ``lhs - rhs > t`` (greater) or ``lhs - rhs < t``."""
    if comp.op in (">", ">="):
        return comp.margin, True
    return -comp.margin, False


def _flip(res: stats.TestResult) -> stats.TestResult:
    disc = None if res.discordant is None else (res.discordant[1], res.discordant[0])
    return dataclasses.replace(
        res, effect=-res.effect, p_greater=res.p_less, p_less=res.p_greater, discordant=disc
    )


def _count(m: Measurement) -> int:
    assert m.value is not None and m.n is not None
    return round(min(max(m.value, 0.0), 100.0) / 100.0 * m.n)


def compare_measurements(
    lhs: Measurement, rhs: Measurement, threshold: float
) -> stats.TestResult | None:
    """Test ``lhs - rhs`` against ``threshold`` points with the test the data allows.

    Returns:
        The test result (its p-values are relative to ``threshold``), or None when the values
        are not proportions with known n (no test possible) or not measured.
    """
    if lhs.value is None or rhs.value is None:
        return None
    ls, rs = lhs.seeds, rhs.seeds
    if len(ls) >= 2 and len(rs) >= 2:
        if len(ls) == len(rs):
            return stats.paired_t(ls, rs, threshold)
        return stats.welch_t(ls, rs, threshold)
    if len(ls) >= 2:
        return stats.one_sample_t(ls, rhs.value, threshold)
    if len(rs) >= 2:
        return _flip(stats.one_sample_t(rs, lhs.value, -threshold))
    if not (lhs.proportion and rhs.proportion and lhs.n and rhs.n):
        return None
    paired = (
        lhs.outcomes is not None
        and rhs.outcomes is not None
        and len(lhs.outcomes) == len(rhs.outcomes) == lhs.n == rhs.n
        and lhs.dataset == rhs.dataset
    )
    if paired:
        assert lhs.outcomes is not None and rhs.outcomes is not None
        if threshold == 0:
            return stats.mcnemar_exact(lhs.outcomes, rhs.outcomes)
        return stats.paired_margin_z(lhs.outcomes, rhs.outcomes, threshold)
    return stats.two_proportion_z(_count(lhs), lhs.n, _count(rhs), rhs.n, threshold)


def evaluate_comparison(
    comp: Comparison,
    values: Mapping[CellRef, Measurement | float | None],
    alpha: float = ALPHA,
) -> ComparisonResult:
    """Evaluate one ordering on ``values`` ((table, row, column) -> measurement, number or None).

    Returns:
        "not measured" when either cell has no value; otherwise the verdict of the test chosen by
        :func:`compare_measurements`, or of the raw ordering when no test applies.
    """
    lm, rm = _as_measurement(values.get(comp.lhs)), _as_measurement(values.get(comp.rhs))
    if lm.value is None or rm.value is None:
        return ComparisonResult(comp, lm.value, rm.value, NOT_MEASURED)
    threshold, greater = _threshold(comp)
    res = compare_measurements(lm, rm, threshold)
    if res is None:
        raw: Verdict = HOLDS if comp.holds(lm.value, rm.value) else FAILS
        return ComparisonResult(comp, lm.value, rm.value, raw)
    p, p_opp = (res.p_greater, res.p_less) if greater else (res.p_less, res.p_greater)
    verdict: Verdict = stats.directional(p, p_opp, alpha)  # type: ignore[assignment]
    return ComparisonResult(comp, lm.value, rm.value, verdict, res, p, p_opp)


def _pvalues(d: ComparisonResult) -> tuple[float, float]:
    """(claimed, opposite) p-values; an untested comparison counts as certain either way."""
    if d.p is not None and d.p_opposite is not None:
        return d.p, d.p_opposite
    return (0.0, 1.0) if d.verdict == HOLDS else (1.0, 0.0)


def combine(
    details: list[ComparisonResult], mode: Literal["all", "any"], alpha: float = ALPHA
) -> tuple[Verdict, list[ComparisonResult]]:
    """A claim's verdict from its comparisons (see :mod:`robustlab.core.repro.stats`).

    Not-measured comparisons: "all" cannot hold with one missing (it can still fail), "any"
    cannot fail with one missing (it can still hold).

    Returns:
        (verdict, details with Holm-adjusted p-values filled in for "any").
    """
    measured = [d for d in details if d.verdict != NOT_MEASURED]
    missing = len(measured) < len(details)
    if not measured:
        return NOT_MEASURED, details
    pc = [_pvalues(d)[0] for d in measured]
    po = [_pvalues(d)[1] for d in measured]
    if mode == "all":
        verdict = stats.combine_all(pc, po, alpha)
        if missing and verdict == HOLDS:
            verdict = NOT_MEASURED
        return verdict, details  # type: ignore[return-value]
    adjusted = iter(stats.holm(pc))
    out: list[ComparisonResult] = []
    for d in details:
        if d.verdict == NOT_MEASURED:
            out.append(d)
            continue
        a = next(adjusted)
        out.append(d if d.p is None else dataclasses.replace(d, p_adjusted=a))
    verdict = stats.combine_any(pc, po, alpha)
    if missing and verdict == FAILS:
        verdict = NOT_MEASURED
    return verdict, out  # type: ignore[return-value]


def raw_verdict(comp: Comparison, values: Mapping[CellRef, float | None]) -> ComparisonResult:
    """The ordering on plain numbers (the paper's printed values): holds / fails / not measured."""
    lhs, rhs = values.get(comp.lhs), values.get(comp.rhs)
    if lhs is None or rhs is None:
        return ComparisonResult(comp, lhs, rhs, NOT_MEASURED)
    return ComparisonResult(comp, lhs, rhs, HOLDS if comp.holds(lhs, rhs) else FAILS)


def combine_raw(verdicts: list[Verdict], mode: Literal["all", "any"]) -> Verdict:
    """Combine raw (untested) verdicts: "all" needs every one, "any" at least one."""
    if mode == "all":
        if FAILS in verdicts:
            return FAILS
        return NOT_MEASURED if NOT_MEASURED in verdicts else HOLDS
    if HOLDS in verdicts:
        return HOLDS
    return NOT_MEASURED if NOT_MEASURED in verdicts else FAILS


@dataclass(frozen=True)
class ClaimResult:
    """A claim's verdict on our measurements, on the paper's values and under AutoAttack.

    Attributes:
        claim: The claim.
        verdict: On our measurements ("holds", "fails", "inconclusive", "not measured").
        paper_verdict: The raw ordering on the paper's printed values.
        details, paper_details: Per comparison.
        alpha: The level used.
        aa_verdict: The same comparisons on AutoAttack accuracies of the same runs (robustness
            claims only; None otherwise).
        aa_details: Per AutoAttack comparison.
        notes: Sanity flags of the runs the claim rests on ("masked: CE loss", ...).
    """

    claim: Claim
    verdict: Verdict
    paper_verdict: Verdict
    details: tuple[ComparisonResult, ...]
    paper_details: tuple[ComparisonResult, ...]
    alpha: float = ALPHA
    aa_verdict: Verdict | None = None
    aa_details: tuple[ComparisonResult, ...] = ()
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """E.g. "3/4 comparisons hold (1 inconclusive) at alpha 0.05"."""
        n = len(self.details)
        held = sum(d.verdict == HOLDS for d in self.details)
        parts = [
            f"{k} {v}"
            for v in (FAILS, INCONCLUSIVE, NOT_MEASURED)
            if (k := sum(d.verdict == v for d in self.details))
        ]
        extra = f" ({', '.join(parts)})" if parts else ""
        return f"{held}/{n} comparisons hold{extra} at alpha {self.alpha:g}"

    @property
    def min_p(self) -> float | None:
        """The claim's headline p-value: largest claimed p ("all", IUT) or smallest Holm p ("any")."""
        ps = [
            (d.p_adjusted if d.p_adjusted is not None else d.p)
            for d in self.details
            if d.p is not None
        ]
        if not ps:
            return None
        return max(ps) if self.claim.mode == "all" else min(ps)


def evaluate_claim(
    claim: Claim,
    measured: Mapping[CellRef, Measurement | float | None],
    paper: Mapping[CellRef, float | None],
    alpha: float = ALPHA,
) -> ClaimResult:
    """Evaluate ``claim`` on our measurements (tested) and on the paper's values (raw ordering)."""
    ours = [evaluate_comparison(c, measured, alpha) for c in claim.comparisons]
    verdict, ours = combine(ours, claim.mode, alpha)
    theirs = tuple(raw_verdict(c, paper) for c in claim.comparisons)
    return ClaimResult(
        claim,
        verdict,
        combine_raw([d.verdict for d in theirs], claim.mode),
        tuple(ours),
        theirs,
        alpha,
    )
