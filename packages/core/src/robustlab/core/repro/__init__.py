"""Reproduction framework: published tables as data, cells/claims/runs specs, and the runner.

A paper package exposes a :class:`Paper` (``profiles`` of :class:`Profile`, the shipped CSV,
``plan(profile)`` -> the :class:`Plan` of tables and runs, runs built from :class:`Preset`
objects); :func:`reproduce` trains and evaluates what is missing under
``runs/<paper>/<profile>/`` (run dependencies first, see :mod:`robustlab.core.repro.plan`) and
evaluates the paper's claims on our values. Rendering the report is the report layer's job
(``robustlab reproduce`` does both; see ``docs/adding-a-paper.md``).
"""

from robustlab.core.repro.claims import ClaimResult, ComparisonResult, Verdict, evaluate_claim
from robustlab.core.repro.paper import Paper, Plan
from robustlab.core.repro.plan import HelperRunError, dependency_order, need_ref
from robustlab.core.repro.preset import Preset, Profile
from robustlab.core.repro.published import CellRef, PublishedCell, load_published, parse_value
from robustlab.core.repro.results import CellResult, ReproReport, TableResult, collect
from robustlab.core.repro.runner import default_profile, reproduce
from robustlab.core.repro.spec import (
    ANALYSES,
    DEFAULT_RESOURCES,
    DEFAULT_TOLERANCE,
    PROFILES,
    Cell,
    Claim,
    Comparison,
    Resources,
    RunSpec,
    TableSpec,
    check_paper,
)

__all__ = [
    "ANALYSES",
    "DEFAULT_RESOURCES",
    "DEFAULT_TOLERANCE",
    "PROFILES",
    "Cell",
    "CellRef",
    "CellResult",
    "Claim",
    "ClaimResult",
    "Comparison",
    "ComparisonResult",
    "HelperRunError",
    "Paper",
    "Plan",
    "Preset",
    "Profile",
    "PublishedCell",
    "ReproReport",
    "Resources",
    "RunSpec",
    "TableResult",
    "TableSpec",
    "Verdict",
    "check_paper",
    "collect",
    "default_profile",
    "dependency_order",
    "evaluate_claim",
    "load_published",
    "need_ref",
    "parse_value",
    "reproduce",
]
