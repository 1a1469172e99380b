"""Claim verdicts: does the paper's ordering hold on our measured values, and on the paper's own?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from robustlab.core.repro.published import CellRef
from robustlab.core.repro.spec import Claim, Comparison

Verdict = Literal["holds", "fails", "not measured"]
HOLDS: Verdict = "holds"
FAILS: Verdict = "fails"
NOT_MEASURED: Verdict = "not measured"


@dataclass(frozen=True)
class ComparisonResult:
    """One comparison evaluated on one set of values (lhs/rhs None where the cell has no value)."""

    comparison: Comparison
    lhs: float | None
    rhs: float | None
    verdict: Verdict


def evaluate_comparison(
    comp: Comparison, values: Mapping[CellRef, float | None]
) -> ComparisonResult:
    """Evaluate one ordering on ``values`` ((table, row, column) -> value or None).

    Returns:
        A result whose verdict is "not measured" when either cell has no value.
    """
    lhs, rhs = values.get(comp.lhs), values.get(comp.rhs)
    if lhs is None or rhs is None:
        return ComparisonResult(comp, lhs, rhs, NOT_MEASURED)
    return ComparisonResult(comp, lhs, rhs, HOLDS if comp.holds(lhs, rhs) else FAILS)


def combine(verdicts: list[Verdict], mode: Literal["all", "any"]) -> Verdict:
    """Combine comparison verdicts.

    "all": fails if any comparison fails, else not measured if any is missing, else holds.
    "any": holds if any comparison holds, else not measured if any is missing, else fails.
    """
    if mode == "all":
        if FAILS in verdicts:
            return FAILS
        return NOT_MEASURED if NOT_MEASURED in verdicts else HOLDS
    if HOLDS in verdicts:
        return HOLDS
    return NOT_MEASURED if NOT_MEASURED in verdicts else FAILS


@dataclass(frozen=True)
class ClaimResult:
    """A claim's verdict on the measured values and on the paper's printed values."""

    claim: Claim
    verdict: Verdict
    paper_verdict: Verdict
    details: tuple[ComparisonResult, ...]
    paper_details: tuple[ComparisonResult, ...]

    def summary(self) -> str:
        """E.g. "3/4 comparisons hold (1 not measured)"."""
        n = len(self.details)
        held = sum(d.verdict == HOLDS for d in self.details)
        missing = sum(d.verdict == NOT_MEASURED for d in self.details)
        extra = f" ({missing} not measured)" if missing else ""
        return f"{held}/{n} comparisons hold{extra}"


def evaluate_claim(
    claim: Claim,
    measured: Mapping[CellRef, float | None],
    paper: Mapping[CellRef, float | None],
) -> ClaimResult:
    """Evaluate ``claim`` on our measured values and on the paper's values."""
    ours = tuple(evaluate_comparison(c, measured) for c in claim.comparisons)
    theirs = tuple(evaluate_comparison(c, paper) for c in claim.comparisons)
    return ClaimResult(
        claim,
        combine([d.verdict for d in ours], claim.mode),
        combine([d.verdict for d in theirs], claim.mode),
        ours,
        theirs,
    )
