"""Reproduction framework: published tables as data, cells/claims/runs specs, and the runner.

A paper package exposes a :class:`Paper` whose ``tables(profile)`` map printed cells to metrics of
runs and whose ``runs(profile)`` say how to train and evaluate each run; :func:`reproduce` trains
and evaluates what is missing under ``runs/<paper>/<profile>/``, evaluates the paper's claims on
our values and renders the report (see ``packages/core/README.md``, "Reproduction framework").
"""

from robustlab.core.repro.claims import ClaimResult, ComparisonResult, Verdict, evaluate_claim
from robustlab.core.repro.published import CellRef, PublishedCell, load_published, parse_value
from robustlab.core.repro.results import CellResult, ReproReport, TableResult, collect
from robustlab.core.repro.runner import default_profile, reproduce
from robustlab.core.repro.spec import (
    ANALYSES,
    DEFAULT_TOLERANCE,
    PROFILES,
    Cell,
    Claim,
    Comparison,
    Paper,
    RunSpec,
    TableSpec,
    check_paper,
)

__all__ = [
    "ANALYSES",
    "DEFAULT_TOLERANCE",
    "PROFILES",
    "Cell",
    "CellRef",
    "CellResult",
    "Claim",
    "ClaimResult",
    "Comparison",
    "ComparisonResult",
    "Paper",
    "PublishedCell",
    "ReproReport",
    "RunSpec",
    "TableResult",
    "TableSpec",
    "Verdict",
    "check_paper",
    "collect",
    "default_profile",
    "evaluate_claim",
    "load_published",
    "parse_value",
    "reproduce",
]
