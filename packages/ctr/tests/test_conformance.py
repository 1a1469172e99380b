"""CTR's attacks, training methods and paper against core's conformance contracts."""

from __future__ import annotations

from typing import Any

import pytest

from robustlab.core.attacks import ATTACKS
from robustlab.core.testing import (
    AttackCase,
    AttackContract,
    MethodCase,
    MethodContract,
    PaperContract,
)
from robustlab.core.train import METHODS
from robustlab.ctr.paper import PAPER

CTR_ATTACKS = [n for n in ATTACKS.names() if n.startswith("ctr/")]
CTR_METHODS = [n for n in METHODS.names() if n.startswith("ctr/")]
#: Small budgets: a few attack steps keep each test well under a second.
STEPS = {"fgsm": {}, "pgd": {"steps": 3}, "apgd": {"steps": 5}}
ADVERSARIAL = {"ctr/madry-at", "ctr/trades", "ctr/fast-at", "ctr/free-at"}


def test_ctr_registers_attacks_and_methods() -> None:
    assert len(CTR_ATTACKS) == 9 and CTR_METHODS


class TestCTRAttacks(AttackContract):
    @pytest.fixture(params=CTR_ATTACKS)
    def attack_case(self, request: pytest.FixtureRequest) -> AttackCase:
        name = request.param
        return AttackCase(name, dict(STEPS[name.rsplit("-", 1)[-1]]))


class TestCTRMethods(MethodContract):
    @pytest.fixture(params=CTR_METHODS)
    def method_case(self, request: pytest.FixtureRequest) -> MethodCase:
        name = request.param
        opts: dict[str, Any] = {"steps": 2} if name in {"ctr/madry-at", "ctr/trades"} else {}
        known = name in ADVERSARIAL or "mdl" in name or name == "ctr/msd"
        assert known, f"new CTR method {name}: give it fast options"
        return MethodCase(name, opts)


class TestCTRPaper(PaperContract):
    paper = PAPER
