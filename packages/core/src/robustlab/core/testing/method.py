"""``MethodContract``: a training method builds, trains, and resumes bit-identically.

On a tiny slice of a small dataset (default: 96 ``digits-28`` training images, LeNet-5, batch 32,
fp32, CPU) a method must: build from its options; run one engine epoch that changes the weights
with a finite training loss; after a crash inside the second epoch, resume from the engine's
epoch checkpoint to exactly the weights of an uninterrupted run; reject an unknown option with a
``ConfigError`` that lists the valid ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from robustlab.core.errors import ConfigError
from robustlab.core.train import METHODS, Method, TrainConfig, train

#: Training settings of the contract's runs (a subclass or case may override any of them).
BASE_CONFIG: dict[str, Any] = {
    "dataset": "digits-28",
    "model": "lenet5",
    "n_train": 96,
    "n_test": 32,
    "batch_size": 32,
    "lr": 0.05,
    "precision": "fp32",
    "seed": 3,
}


class SimulatedCrashError(Exception):
    """Raised by the contract's wrapped method to interrupt a run."""


@dataclass
class MethodCase:
    """One training method to test.

    Attributes:
        name: Registered method name.
        opts: Its options (``TrainConfig.method_opts``); small attack budgets keep it fast.
        config: ``TrainConfig`` fields overriding :data:`BASE_CONFIG` (dataset, model, ...).
    """

    name: str
    opts: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def train_config(self, epochs: int) -> TrainConfig:
        """The run's configuration with ``epochs`` epochs."""
        fields = {**BASE_CONFIG, **self.config, "epochs": epochs}
        return TrainConfig.from_dict({**fields, "method": self.name, "method_opts": self.opts})


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class _Probe:
    """Wraps the registered factory: records the first weights and can crash at one step."""

    def __init__(self, factory: Any, crash_epoch: int | None) -> None:
        self.factory, self.crash_epoch = factory, crash_epoch
        self.initial: dict[str, torch.Tensor] | None = None

    def __call__(self, **opts: Any) -> Method:
        method = self.factory(**opts)
        inner = method.before_step

        def before_step(model: nn.Module, ctx: Any) -> None:
            if self.initial is None:
                self.initial = _state(model)
            if ctx.epoch == self.crash_epoch and ctx.iteration >= 1:
                raise SimulatedCrashError(f"simulated crash at epoch {ctx.epoch}, step {ctx.step}")
            inner(model, ctx)

        method.before_step = before_step  # type: ignore[method-assign]
        return method


class MethodContract:
    """Tests every training method passes. Subclass as ``TestX`` and set ``method_name`` and
    ``method_opts`` (and ``train_overrides``), or override the ``method_case`` fixture."""

    method_name: ClassVar[str] = ""
    method_opts: ClassVar[dict[str, Any]] = {}
    train_overrides: ClassVar[dict[str, Any]] = {}

    @pytest.fixture
    def method_case(self) -> MethodCase:
        """The method under test (override, e.g. with ``params=`` over many names)."""
        if not self.method_name:
            pytest.fail(f"{type(self).__name__}: set method_name or override method_case")
        return MethodCase(self.method_name, dict(self.method_opts), dict(self.train_overrides))

    def test_builds_with_its_options(self, method_case: MethodCase) -> None:
        method = METHODS.build(method_case.name, **method_case.opts)
        assert isinstance(method, Method)

    def test_unknown_option_rejected(self, method_case: MethodCase) -> None:
        with pytest.raises(ConfigError, match="no_such_option") as info:
            METHODS.build(method_case.name, **method_case.opts, no_such_option=1)
        message = str(info.value)
        assert "valid" in message, f"the error should list the valid options: {message}"
        for key in method_case.opts:
            assert key in message, f"valid option {key!r} missing from: {message}"

    def test_one_epoch_changes_weights(self, method_case: MethodCase, tmp_path: Path) -> None:
        probe = _Probe(METHODS.get(method_case.name), crash_epoch=None)
        with METHODS.replaced(method_case.name, probe):
            result = train(
                method_case.train_config(1), tmp_path / "run", device="cpu", progress=False
            )
        assert probe.initial is not None, "the engine never called the method's before_step"
        after = result.model.state_dict()
        changed = [k for k, v in probe.initial.items() if not torch.equal(v, after[k])]
        assert changed, "one epoch of training left every weight unchanged"
        losses = [h["train_loss"] for h in result.metrics["history"]]
        assert losses and all(math.isfinite(v) for v in losses), losses

    def test_resume_is_bit_identical(self, method_case: MethodCase, tmp_path: Path) -> None:
        config = method_case.train_config(2)
        reference = train(
            config, tmp_path / "reference", device="cpu", progress=False
        ).model.state_dict()
        crashing = _Probe(METHODS.get(method_case.name), crash_epoch=1)
        with METHODS.replaced(method_case.name, crashing), pytest.raises(SimulatedCrashError):
            train(config, tmp_path / "resumed", device="cpu", progress=False)
        resumed = train(config, tmp_path / "resumed", device="cpu", progress=False)
        assert resumed.metrics["epochs_completed"] == 2
        weights = resumed.model.state_dict()
        assert weights.keys() == reference.keys()
        different = [k for k in reference if not torch.equal(reference[k], weights[k])]
        assert not different, f"resumed weights differ from the uninterrupted run: {different}"
