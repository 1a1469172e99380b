"""The ``Method`` interface: what a training method supplies to the one training loop.

A method is a loss step plus optional extra modules and state. The engine calls, per run::

    overrides = method.model_overrides()          # e.g. a multi-sample dropout head
    method.setup(model, train_ctx)                 # build guide / proxy; objectives' setup
    for epoch: method.on_epoch_start(epoch, ctx)
        for batch (x, y, index), for replay in range(method.replays):
            method.before_step(model, step_ctx)
            out = method.loss(model, x, y, step_ctx)   # under the run's autocast
            backward(out.loss); optimiser step
            method.after_step(model, step_ctx)         # AWP restores weights, Free-AT updates delta
        method.on_epoch_end(epoch, ctx)
    checkpoint: method.state_dict(), extra_modules() weights

Objectives: a method lists the options that hold objectives in ``OBJECTIVE_OPTIONS`` (e.g.
``objective``, ``robust_objective``, ``attack_objective``); :meth:`Method.resolve_objectives`
turns each option (name, ``{"name": ...}`` dict or callable, see ``robustlab.core.losses``) into a
callable, and the base class forwards ``setup``, the epoch hooks, modules and state to every
:class:`~robustlab.core.losses.Objective` among them (modules as ``objective.<option>.<name>``,
state keys as ``objective.<option>.<key>``). Subclasses that override those hooks call ``super()``.

Paper packages register their own methods in :data:`METHODS` (``ctr/...``, ``pcloss/...``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from robustlab.core.losses import Objective, ObjectiveFn, cross_entropy, describe, get_objective
from robustlab.core.registry import Registry

METHODS: Registry[Callable[..., Method]] = Registry("method")


@dataclass
class StepOutput:
    """What :meth:`Method.loss` returns.

    Attributes:
        loss: Scalar tensor to minimise (graph attached).
        logits: (B, C) logits used for the running training accuracy (clean or adversarial, as
            the method reports), or None.
        metrics: Extra scalars to average over the epoch (e.g. ``{"kl": 0.3}``).
    """

    loss: Tensor
    logits: Tensor | None = None
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainContext:
    """Run-level facts a method may need (set once by the engine).

    Attributes:
        config: The run's :class:`~robustlab.core.train.config.TrainConfig`.
        device: Device the model lives on.
        num_classes / in_channels / image_size: From the dataset's info.
        epochs: Total epochs; steps_per_epoch: optimiser steps per epoch (batches x replays).
        precision: "fp32", "bf16" or "fp16" (resolved).
        autocast: Zero-argument callable returning the run's autocast context manager.
        train_size: Number of training examples.
        needs: Role -> checkpoint file of a run this run depends on (``TrainConfig.needs``,
            resolved and checked by the engine); load one with ``load_need(ctx, role)``.
    """

    config: Any
    device: torch.device
    num_classes: int
    in_channels: int
    image_size: tuple[int, int]
    epochs: int
    steps_per_epoch: int
    precision: str
    autocast: Callable[[], contextlib.AbstractContextManager[Any]]
    train_size: int = 0
    needs: dict[str, Path] = field(default_factory=dict)


@dataclass
class StepContext:
    """Per-step facts: ``epoch`` (0-based), ``iteration`` (batch index in the epoch), ``step``
    (global optimiser step), ``replay`` (0..replays-1), ``lr``, the run's ``train`` context and
    ``index``: (B,) int64 positions of the batch's examples in the training split (after the
    validation hold-out), or None when the caller does not know them."""

    epoch: int
    iteration: int
    step: int
    replay: int
    lr: float
    train: TrainContext
    index: Tensor | None = None

    @property
    def device(self) -> torch.device:
        return self.train.device


class Method:
    """Base class of training methods (natural training by default: CE on clean inputs).

    Attributes:
        name: Registered name (set by the factory).
        replays: How many optimiser steps the engine takes on each minibatch (Free-AT: m).
        adversarial: True for methods whose model is meant to be robust (robust validation).
        stop_training: A method may set this in ``on_epoch_end`` to end the run early
            (Fast-AT's catastrophic-overfitting check).
    """

    name: str = "method"
    replays: int = 1
    adversarial: bool = False
    stop_training: bool = False
    OBJECTIVE_OPTIONS: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ objectives
    def resolve_objectives(self) -> None:
        """Resolve every option in ``OBJECTIVE_OPTIONS`` (call at the end of ``__init__``).

        A name of ``robustlab.core.attacks.LOSSES`` given as ``attack_objective`` stays a name
        (the attack resolves it); anything else goes through ``losses.get_objective``.
        """
        self._objectives: dict[str, ObjectiveFn | str] = {}
        for role in self.OBJECTIVE_OPTIONS:
            self._objectives[role] = self.resolve_objective(role, getattr(self, role))

    def resolve_objective(self, role: str, spec: Any) -> ObjectiveFn | str:
        """One option's objective; a method with an objective of its own signature (LBGAT's
        eq. 7) overrides this for that role and defers to it for the others."""
        from robustlab.core.attacks.losses import LOSSES

        if role == "attack_objective" and isinstance(spec, str) and spec in LOSSES:
            return spec
        return get_objective(spec, f"{self.name}: {role}")

    def objective_fn(self, role: str) -> Any:
        """The resolved objective of option ``role`` (a callable, or an attack-loss name)."""
        if "_objectives" not in self.__dict__:
            self.resolve_objectives()
        return self._objectives[role]

    def _stateful(self) -> list[tuple[str, Objective]]:
        if "_objectives" not in self.__dict__:
            self.resolve_objectives()
        seen: set[int] = set()
        out = []
        for role, fn in self._objectives.items():
            if isinstance(fn, Objective) and id(fn) not in seen:
                seen.add(id(fn))
                out.append((role, fn))
        return out

    def objective_metrics(self) -> dict[str, float]:
        """The ``metrics()`` of every stateful objective (merged into ``StepOutput.metrics``)."""
        out: dict[str, float] = {}
        for _, obj in self._stateful():
            out.update(obj.metrics())
        return out

    def model_overrides(self) -> dict[str, Any]:
        """Keyword options merged into ``models.build`` (e.g. ``head``, ``head_opts``, ``map_drop``)."""
        return {}

    def setup(self, model: nn.Module, ctx: TrainContext) -> None:
        """Create extra modules / state once the model exists (before the optimiser).

        The base implementation sets up the method's stateful objectives.
        """
        for _, obj in self._stateful():
            obj.setup(model, ctx)

    def extra_modules(self) -> dict[str, nn.Module]:
        """Modules saved in the checkpoint besides the model (teacher, guide...)."""
        out = dict(self.trainable_modules())
        for role, obj in self._stateful():
            out.update({f"objective.{role}.{k}": m for k, m in obj.modules().items()})
        return out

    def trainable_modules(self) -> dict[str, nn.Module]:
        """Extra modules optimised together with the model by the run's optimiser (LBGAT guide)."""
        out: dict[str, nn.Module] = {}
        for role, obj in self._stateful():
            out.update({f"objective.{role}.{k}": m for k, m in obj.trainable_modules().items()})
        return out

    def on_epoch_start(self, epoch: int, ctx: TrainContext) -> None:
        """Called before the first batch of every epoch (0-based)."""
        for _, obj in self._stateful():
            obj.on_epoch_start(epoch, ctx)

    def on_epoch_end(self, epoch: int, ctx: TrainContext, model: nn.Module) -> None:
        """Called after the last step of every epoch, before validation and the checkpoint."""
        for _, obj in self._stateful():
            obj.on_epoch_end(epoch, ctx, model)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> StepOutput:
        """One step's objective for the batch ``x`` (B, C, H, W) in [0, 1], ``y`` (B,) int64."""
        logits = model(x)
        return StepOutput(cross_entropy(logits, y), logits.detach())

    def before_step(self, model: nn.Module, ctx: StepContext) -> None:
        """Called before ``loss`` on every step."""

    def after_step(self, model: nn.Module, ctx: StepContext) -> None:
        """Called after the optimiser step (AWP restores the weights here)."""

    def val_attack(self) -> Any | None:
        """The attack (``robustlab.core.attacks`` object) for robust validation, or None."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """Extra state for exact resume: tensors and JSON-serialisable values only (flat dict).

        The base implementation returns the stateful objectives' state (``objective.<role>.*``).
        """
        out: dict[str, Any] = {}
        for role, obj in self._stateful():
            out.update({f"objective.{role}.{k}": v for k, v in obj.state_dict().items()})
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        for role, obj in self._stateful():
            prefix = f"objective.{role}."
            part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            if part:
                obj.load_state_dict(part)

    def options(self) -> dict[str, Any]:
        """The method's resolved options (recorded in the run metadata)."""
        out = {k: v for k, v in vars(self).items() if not k.startswith("_") and _jsonable(v)}
        for role in self.OBJECTIVE_OPTIONS:
            out[role] = describe(getattr(self, role, None))
        return out


def _jsonable(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool, type(None))) or (
        isinstance(v, (list, tuple)) and all(_jsonable(i) for i in v)
    )


@contextlib.contextmanager
def bn_mode(model: nn.Module, mode: str) -> Iterator[None]:
    """Temporarily put ``model`` in "eval" or "train" mode (restored afterwards).

    Used around attack generation: TRADES/LBGAT/MART generate in eval mode, Fast-AT/Free-AT/
    Madry-AT (locuslab) and AT-AWP in train mode (running statistics then update during the attack).
    """
    if mode not in ("eval", "train"):
        raise ValueError(f"bn_mode must be 'eval' or 'train', got {mode!r}")
    was = model.training
    model.train(mode == "train")
    try:
        yield
    finally:
        model.train(was)


def check_options(name: str, given: dict[str, Any], valid: dict[str, Any]) -> None:
    """Raise ConfigError for method options not in ``valid`` (listing the valid ones)."""
    from robustlab.core.errors import ConfigError

    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {unknown} for method {name!r}; valid options: "
            f"{', '.join(f'{k}={v!r}' for k, v in valid.items()) or 'none'}"
        )
