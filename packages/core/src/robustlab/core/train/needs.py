"""Run dependencies: ``TrainConfig.needs`` (role -> finished run directory or checkpoint file).

The engine resolves every declared need before training (:func:`resolve_needs`) and hands the
checkpoint paths to the method as ``TrainContext.needs``; a method or objective loads one with
:func:`load_need`, e.g. LTD's teacher::

    class SoftTeacherCE(Objective):
        def setup(self, model, ctx):
            self.teacher = load_need(ctx, "teacher")   # eval mode, requires_grad False

The reproduction runner fills ``needs`` from its run specs; training a needed run first is the
runner's job, not the engine's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from robustlab.core.errors import ConfigError
from robustlab.core.train.runs import resolve_init_from


def resolve_needs(needs: dict[str, str]) -> dict[str, Path]:
    """Check every need and return role -> checkpoint file.

    Raises:
        ConfigError: naming the role and path when the path is missing, or a directory that is
            not a finished run (train that run first, or fix the path).
    """
    out: dict[str, Path] = {}
    for role, path in needs.items():
        try:
            out[role] = resolve_init_from(path)
        except ConfigError:
            p = Path(path)
            what = "is not a finished run" if p.is_dir() else "does not exist"
            raise ConfigError(
                f"needs[{role!r}] = {path!r} {what}; train the {role} run to the end first, or "
                "point needs to its run directory or a checkpoint file"
            ) from None
    return out


def load_need(ctx: Any, role: str, device: str | torch.device | None = None) -> nn.Module:
    """Load the model of need ``role`` of the run (``TrainContext`` ``ctx``), frozen.

    Args:
        ctx: The run's ``TrainContext`` (its ``needs`` maps roles to checkpoint files).
        role: A key of ``TrainConfig.needs`` (e.g. "teacher").
        device: Where to put the model; None = the run's device.

    Returns:
        The zoo model rebuilt from the checkpoint, in eval mode, every parameter with
        ``requires_grad=False``.

    Raises:
        ConfigError: the run declares no such need (lists the declared roles).
        CheckpointError: the checkpoint is unreadable or records no model.
    """
    from robustlab.core.models import load_model

    needs: dict[str, Path] = getattr(ctx, "needs", {}) or {}
    if role not in needs:
        raise ConfigError(
            f"this run declares no need {role!r} (declared: {sorted(needs) or 'none'}); add "
            f"TrainConfig(needs={{{role!r}: <finished run dir or checkpoint>}})"
        )
    model, _ = load_model(needs[role])
    model.to(device if device is not None else ctx.device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


__all__ = ["load_need", "resolve_needs"]
