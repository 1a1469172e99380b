"""pcloss's attack, training methods and paper against core's conformance contracts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from robustlab.core.testing import (
    AttackCase,
    AttackContract,
    MethodCase,
    MethodContract,
    PaperContract,
)
from robustlab.core.train import METHODS, train
from robustlab.pcloss.paper import PAPER

PCLOSS_METHODS = [n for n in METHODS.names() if n.startswith("pcloss/")]


@pytest.fixture(scope="module")
def substitute_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 1-epoch digits-28 LeNet-5 run, the substitute that pcloss/transfer loads."""
    run = tmp_path_factory.mktemp("substitute") / "run"
    config = {"dataset": "digits-28", "model": "lenet5", "n_train": 64, "n_test": 32}
    config.update(batch_size=32, epochs=1, precision="fp32")
    train(config, run, device="cpu", progress=False)
    return run


class TestSubstituteTransfer(AttackContract):
    @pytest.fixture
    def attack_case(self, substitute_run: Path) -> AttackCase:
        kwargs = {"source_run": str(substitute_run), "attack": "pgd", "steps": 2}
        return AttackCase("pcloss/transfer", kwargs, input_shape=(1, 28, 28), num_classes=10)


class TestPCLossMethods(MethodContract):
    @pytest.fixture(params=PCLOSS_METHODS)
    def method_case(self, request: pytest.FixtureRequest) -> MethodCase:
        opts: dict[str, Any] = {"steps": 2} if request.param.endswith("-at") else {}
        return MethodCase(request.param, opts)


class TestPCLossPaper(PaperContract):
    paper = PAPER
