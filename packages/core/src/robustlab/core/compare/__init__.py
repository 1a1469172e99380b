"""Controlled cross-paper comparison (issue 16): one budget, one threat model, one evaluation.

``compare(budget)`` builds the plan (:mod:`.plan`: every paper's headline method and its
baseline, by registered METHODS name), runs it through core's runner and run store
(:mod:`.study`), ranks each family by AutoAttack accuracy with Wilson intervals and McNemar tests
against the baseline (:mod:`.leaderboard`) and writes the report (:mod:`.render`). This package
sits above repro and report and below cli; it never imports a paper package.
"""

from robustlab.core.compare.leaderboard import ModelResult, Row, leaderboard, pareto_front
from robustlab.core.compare.plan import (
    BUDGETS,
    ENTRIES,
    Budget,
    Entry,
    PlannedRun,
    build_plan,
    eval_suite,
    plan_rows,
)
from robustlab.core.compare.run import boards, compare

__all__ = [
    "BUDGETS",
    "ENTRIES",
    "Budget",
    "Entry",
    "ModelResult",
    "PlannedRun",
    "Row",
    "boards",
    "build_plan",
    "compare",
    "eval_suite",
    "leaderboard",
    "pareto_front",
    "plan_rows",
]
