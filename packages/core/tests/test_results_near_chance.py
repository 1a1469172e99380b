"""A table run whose clean accuracy ends near chance is flagged in its report (issue 12)."""

from __future__ import annotations

from robustlab.core.repro.results import NEAR_CHANCE, near_chance_flag


def test_near_chance_run_is_flagged() -> None:
    flag = near_chance_flag({"clean_acc": 12.0}, "fashion-mnist")  # chance 10 %, margin 5
    assert flag is not None and flag["passed"] is False
    assert "within 5 points of chance (10.00 %)" in flag["detail"]
    assert near_chance_flag({"clean_acc": 15.0}, "fashion-mnist") is not None  # boundary
    assert near_chance_flag({"train/clean_acc": 9.0}, "fashion-mnist") is not None


def test_trained_or_unmeasured_runs_are_not_flagged() -> None:
    assert near_chance_flag({"clean_acc": 15.1}, "fashion-mnist") is None
    assert near_chance_flag({"clean_acc": 88.0}, "fashion-mnist") is None
    assert near_chance_flag({"acc/PGD eps=0.1": 0.0}, "fashion-mnist") is None  # no clean acc


def test_flag_name() -> None:
    assert NEAR_CHANCE == "near_chance"
