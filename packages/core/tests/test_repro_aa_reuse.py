"""AutoAttack read from a suite that already is AutoAttack, and within-run claims."""

from __future__ import annotations

import pytest

from robustlab.core.eval import EvalResult
from robustlab.core.repro.autoattack import AA_LABEL, reuse_suite_outcomes


def _result() -> EvalResult:
    per = {
        "clean": [True, True, True, False],
        "APGD-CE": [True, False, True, False],
        "worst_case": [True, False, False, False],
    }
    return EvalResult(
        suite="trace",
        attacks=[],
        worst_case=True,
        n=4,
        clean_acc=75.0,
        robust_acc={"APGD-CE": 50.0},
        worst_case_acc=25.0,
        per_example=per,
        times={},
        flags={},
        eps=0.1,
        norm="Linf",
        seed=0,
        batch_size=4,
        device="cpu",
        dtype="float32",
        dataset=None,
        architecture=None,
        versions={},
        config_hash="",
        wall_time=0.0,
    )


def test_suite_outcomes_become_the_autoattack_result() -> None:
    aa = reuse_suite_outcomes(_result(), "worst_case", None)
    assert aa.robust_acc == {AA_LABEL: 25.0}
    assert aa.per_example[AA_LABEL] == [True, False, False, False]
    assert aa.meta["autoattack_from"] == "worst_case"
    first_two = reuse_suite_outcomes(_result(), "worst_case", 2)
    assert first_two.n == 2 and first_two.robust_acc[AA_LABEL] == 50.0


def test_unknown_label_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid: APGD-CE, clean, worst_case"):
        reuse_suite_outcomes(_result(), "AutoAttack", None)
