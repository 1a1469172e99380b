"""ltd's methods, attacks and paper against core's conformance contracts (robustlab.core.testing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustlab.core.testing import (
    AttackCase,
    AttackContract,
    MethodCase,
    MethodContract,
    PaperContract,
)
from robustlab.ltd.attacks import STAGES
from robustlab.ltd.paper import PAPER


class TestLTDMethods(MethodContract):
    @pytest.fixture(params=["ltd/trades-ltd", "ltd/awp-ltd"])
    def method_case(self, request: pytest.FixtureRequest, teacher_run: Path) -> MethodCase:
        opts = {"eps": 0.1, "alpha": 0.05, "steps": 2, "tau": 3.0}
        if request.param == "ltd/awp-ltd":
            opts["warmup"] = 1  # AWP active in the contract's second epoch (crash + resume)
        return MethodCase(request.param, opts, {"needs": {"teacher": str(teacher_run)}})


class TestAAStages(AttackContract):
    @pytest.fixture(params=sorted(STAGES))
    def attack_case(self, request: pytest.FixtureRequest) -> AttackCase:
        return AttackCase(
            f"ltd/aa-{request.param}", {"eps": 0.05}, input_shape=(1, 8, 8), num_classes=10
        )


class TestLTDPaper(PaperContract):
    paper = PAPER
